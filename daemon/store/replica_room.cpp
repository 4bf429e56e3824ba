#include "store/replica_room.hpp"

#include <utility>

#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "store/commit_journal.hpp"
#include "store/database.hpp"
#include "store/engine_store.hpp"
#include "store/hash_chain.hpp"
#include "store/outbox.hpp"
#include "store/sql.hpp"

namespace incidentd {

using sql::Use;

ReplicaRoom::ReplicaRoom(Database& database, HashChain& chain, OutboxRoom& outbox,
                         EngineStore& engine, CommitJournal& journal, std::string instance_id)
    : database_(database),
      chain_(chain),
      outbox_(outbox),
      journal_(journal),
      engine_(engine),
      instance_id_(std::move(instance_id)),
      select_position_(database.db(),
                       "SELECT next_offset FROM replica_positions WHERE topic = ? AND "
                       "partition = ?"),
      upsert_position_(database.db(),
                       "INSERT OR ROLLBACK INTO replica_positions(topic, partition, next_offset) "
                       "VALUES (?, ?, ?) ON CONFLICT(topic, partition) DO UPDATE SET "
                       "next_offset = excluded.next_offset"),
      select_positions_(database.db(),
                        "SELECT partition, next_offset FROM replica_positions WHERE topic = ?") {}

std::map<std::int32_t, std::int64_t> ReplicaRoom::replica_positions(const std::string& topic) {
  return guarded(database_, "replica_positions", [&] {
    std::map<std::int32_t, std::int64_t> out;
    Use s(select_positions_);
    s.text(1, topic);
    while (s->executeStep()) out[s->getColumn(0).getInt()] = s->getColumn(1).getInt64();
    return out;
  });
}

ReplicaResult ReplicaRoom::apply_replica(const std::vector<ReplicaInput>& inputs) {
  ReplicaResult result;
  if (inputs.empty()) return result;
  std::vector<const ReplicaInput*> all;
  all.reserve(inputs.size());
  for (const auto& in : inputs) all.push_back(&in);
  std::string why;
  if (try_apply(all, result, why)) return result;
  // Some record contradicts this database. One transaction per input now, so that only that
  // one is passed over.
  result = {};
  for (const ReplicaInput* in : all) {
    ReplicaResult one;
    if (!try_apply({in}, one, why)) {
      result.refused.push_back({in->topic, in->partition, in->offset,
                                in->record ? in->record->incident_key : std::string(), why});
      // Its offset counts all the same (the record stays on the topic, to be looked at).
      const Partition p{in->topic, in->partition};
      guarded(database_, "apply_replica", [&] {
        SQLite::Transaction tx(database_.db(), SQLite::TransactionBehavior::IMMEDIATE);
        if (stored_position(p) <= in->offset) store_position(p, in->offset + 1);
        tx.commit();
      });
      one = {};
      one.positions[p] = in->offset + 1;
    }
    auto& applied = result.applied;
    for (auto& st : one.applied.incidents) applied.incidents.push_back(std::move(st));
    for (auto& id : one.applied.processed) applied.processed.push_back(std::move(id));
    result.own += one.own;
    result.below += one.below;
    for (const auto& [p, next] : one.positions) result.positions[p] = next;
  }
  return result;
}

// False, with the reason, when a record cannot be written as it is (a constraint of the
// database, a snapshot that does not encode): nothing was written. Any other failure (a full
// disk, a busy or broken file) is the store's, and throws as everywhere else.
bool ReplicaRoom::try_apply(const std::vector<const ReplicaInput*>& inputs, ReplicaResult& result,
                            std::string& why) {
  try {
    apply_in_one(inputs, result);
    return true;
  } catch (const SQLite::Exception& e) {
    if ((e.getErrorCode() & 0xff) != SQLITE_CONSTRAINT) database_.raise("apply_replica", e);
    why = e.what();
  } catch (const nlohmann::json::exception& e) {
    why = e.what();
  }
  return false;
}

void ReplicaRoom::apply_in_one(const std::vector<const ReplicaInput*>& inputs,
                               ReplicaResult& result) {
  if (inputs.empty()) return;
  // IMMEDIATE: the write lock up front, as the engine's commit takes it.
  SQLite::Transaction tx(database_.db(), SQLite::TransactionBehavior::IMMEDIATE);
  chain_.stage();
  engine_.begin_replicated();
  std::map<Partition, std::int64_t> next;
  for (const ReplicaInput* in : inputs) {
    const Partition p{in->topic, in->partition};
    auto at = next.find(p);
    if (at == next.end()) at = next.emplace(p, stored_position(p)).first;
    if (in->offset < at->second) {
      ++result.below;  // applied before: delivered again after a restart or a seek
      continue;
    }
    at->second = in->offset + 1;
    if (!in->record) continue;
    if (!instance_id_.empty() && in->record->by == instance_id_) {
      // Ours: durable here before it went to Kafka.
      ++result.own;
      continue;
    }
    apply_record(*in->record, result.applied);
  }
  for (const auto& [p, offset] : next) {
    store_position(p, offset);
    result.positions[p] = offset;
  }
  tx.commit();
  chain_.committed();
  engine_.replicated_committed();
}

void ReplicaRoom::apply_record(const StateRecord& record, ReplicaApplied& applied) {
  // The dispatcher's records carry deliveries; its timeline entries are chained as
  // record_outbox chains them, which leaves the statistics' figures alone. Everything else is
  // the engine's commit.
  const bool dispatcher = !record.deliveries.empty();
  Changeset c;
  if (record.state) c.incidents.push_back(*record.state);
  if (!dispatcher) c.actions = record.actions;
  c.processed = record.processed;
  c.confirmations = record.confirmations;
  c.acknowledgements = record.acknowledgements;
  engine_.write_replicated(c);
  if (dispatcher) {
    for (const Action& a : record.actions) outbox_.chain_action(a);
  }
  // The rows of the notifications above exist now, and are left as they are: the others are
  // the dispatcher's own (the operator desk's alerts).
  for (const OutboxRow& row : record.outbox) outbox_.insert_row(row);
  // A row missing here (compacted away before this replica read it) has nothing to update.
  for (const DeliveryChange& d : record.deliveries) (void)outbox_.apply_delivery(d);
  if (record.state) applied.incidents.push_back(*record.state);
  applied.processed.insert(applied.processed.end(), record.processed.begin(),
                           record.processed.end());
}

std::int64_t ReplicaRoom::stored_position(const Partition& partition) {
  Use s(select_position_);
  s.text(1, partition.first);
  s.integer(2, partition.second);
  return s->executeStep() ? s->getColumn(0).getInt64() : 0;
}

void ReplicaRoom::store_position(const Partition& partition, std::int64_t next_offset) {
  Use s(upsert_position_);
  s.text(1, partition.first);
  s.integer(2, partition.second);
  s.integer(3, next_offset);
  s->exec();
}

void ReplicaRoom::own_records_published(std::int64_t seq) {
  guarded_write(database_, "own_records_published", [&] { journal_.forget_through(seq); });
}

}  // namespace incidentd
