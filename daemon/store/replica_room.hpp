// The replica's room: the ReplicaLog port (incidentd/replica_log.hpp) on a connection of its
// own (the replica applier's thread). A change record is written as its owner wrote it: an
// engine's record through the engine room's own writes (snapshot and deadlines, the timeline on
// the incident's hash chain, incident_figures, the outbox rows of its notifications, processed
// ids, confirmations, acknowledgements); a dispatcher's record (one with deliveries) as
// record_outbox writes it (its entries chained, without figures). Then the record's outbox rows
// (left alone when they exist) and its deliveries. replica_positions keeps the next offset per
// partition, in the same transaction. Internal to daemon/store.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "incidentd/replica_log.hpp"

namespace incidentd {

class Database;
class EngineStore;
class CommitJournal;
class HashChain;
class OutboxRoom;

class ReplicaRoom final : public ReplicaLog {
 public:
  // `instance_id`: this instance's (cluster.instance_id); its own records are not applied.
  ReplicaRoom(Database& database, HashChain& chain, OutboxRoom& outbox, EngineStore& engine,
              CommitJournal& journal, std::string instance_id);
  ReplicaRoom(const ReplicaRoom&) = delete;
  ReplicaRoom& operator=(const ReplicaRoom&) = delete;

  std::map<std::int32_t, std::int64_t> replica_positions(const std::string& topic) override;
  ReplicaResult apply_replica(const std::vector<ReplicaInput>& inputs) override;
  void own_records_published(std::int64_t seq) override;

 private:
  using Partition = std::pair<std::string, std::int32_t>;

  bool try_apply(const std::vector<const ReplicaInput*>& inputs, ReplicaResult& result,
                 std::string& why);
  // One transaction over `inputs`; throws (and writes nothing) when one record cannot be
  // written.
  void apply_in_one(const std::vector<const ReplicaInput*>& inputs, ReplicaResult& result);
  void apply_record(const StateRecord& record, ReplicaApplied& applied);
  std::int64_t stored_position(const Partition& partition);
  void store_position(const Partition& partition, std::int64_t next_offset);

  Database& database_;
  HashChain& chain_;
  OutboxRoom& outbox_;
  CommitJournal& journal_;
  EngineStore& engine_;
  const std::string instance_id_;
  SQLite::Statement select_position_;
  SQLite::Statement upsert_position_;
  SQLite::Statement select_positions_;
};

}  // namespace incidentd
