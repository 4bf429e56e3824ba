#include "store/hash_chain.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include "incidentd/codec.hpp"
#include "store/chain_hash.hpp"
#include "store/database.hpp"
#include "store/sql.hpp"

namespace incidentd {

void chain_existing_rows(SQLite::Database& db) {
  SQLite::Statement select(db,
                           "SELECT seq, incident_key, at, action, milestone, body FROM timeline "
                           "ORDER BY seq");
  SQLite::Statement update(db, "UPDATE timeline SET prev_hash = ?, hash = ? WHERE seq = ?");
  std::string prev(kGlobalGenesisHashV1);
  while (select.executeStep()) {
    const std::int64_t seq = select.getColumn(0).getInt64();
    const std::string milestone = select.getColumn(4).getString();
    std::string hash = chain_hash_v1(
        prev, seq, select.getColumn(1).getString(), select.getColumn(2).getInt64(),
        select.getColumn(3).getString(), select.getColumn(4).isNull() ? nullptr : &milestone,
        select.getColumn(5).getString());
    update.reset();
    update.bind(1, prev);
    update.bind(2, hash);
    update.bind(3, seq);
    update.exec();
    prev = std::move(hash);
  }
}

// Every write says OR ROLLBACK: a failure ends the whole transaction, which is what a writer
// wants anyway, and SQLite needs no statement journal (docs in engine_store.cpp).
HashChain::HashChain(Database& database)
    : insert_(database.db(),
              "INSERT OR ROLLBACK INTO timeline(seq, incident_key, at, action, milestone, body, "
              "prev_hash, hash, incident_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      last_row_(database.db(), "SELECT seq FROM timeline ORDER BY seq DESC LIMIT 1"),
      // The (incident_key, seq) index finds an incident's last row without a scan.
      incident_head_(database.db(),
                     "SELECT incident_seq, hash FROM timeline WHERE incident_key = ? "
                     "ORDER BY seq DESC LIMIT 1"),
      data_version_(database.db(), "PRAGMA data_version") {
  if (database.mode() == Database::Mode::read_write) {
    seen_version_ = read_data_version();
    seq_ = last_row_seq();
    // A seq above the last row that AUTOINCREMENT already handed out means rows were removed
    // from the end while we were not running: the next row takes the next seq anyway, so verify
    // shows the gap instead of the file's seqs silently closing over it.
    SQLite::Statement handed_out(database.db(),
                                 "SELECT seq FROM sqlite_sequence WHERE name = 'timeline'");
    if (handed_out.executeStep()) seq_ = std::max(seq_, handed_out.getColumn(0).getInt64());
  }
}

std::int64_t HashChain::last_row_seq() {
  sql::Use s(last_row_);
  return s->executeStep() ? s->getColumn(0).getInt64() : 0;
}

std::int64_t HashChain::read_data_version() {
  sql::Use s(data_version_);
  s->executeStep();
  return s->getColumn(0).getInt64();
}

void HashChain::stage() {
  if (const std::int64_t version = read_data_version(); version != seen_version_) {
    heads_.clear();  // another connection committed: its rows may have moved any head
    seen_version_ = version;
  }
  // Another writer on the file (a test, a migration tool) may have appended since: number after
  // its last row. A last row below ours means rows were removed from the end while we ran: keep
  // numbering after what we wrote, so verify sees the gap.
  staged_seq_ = std::max(seq_, last_row_seq());
  staged_heads_.clear();
}

HashChain::IncidentHead& HashChain::head_of(const std::string& incident_key) {
  const auto found = staged_heads_.find(incident_key);
  if (found != staged_heads_.end()) return found->second;
  if (const auto kept = heads_.find(incident_key); kept != heads_.end()) {
    return staged_heads_.emplace(incident_key, kept->second).first->second;
  }
  IncidentHead head;
  sql::Use s(incident_head_);
  s.text(1, incident_key);
  if (s->executeStep()) {
    head = {s->getColumn(0).getInt64(), s->getColumn(1).getString()};
  } else {
    head = {0, chain_genesis(incident_key)};
  }
  return staged_heads_.emplace(incident_key, std::move(head)).first->second;
}

std::int64_t HashChain::append(const Action& a) {
  return append(a, sql::dump(timeline_body(a)));
}

std::int64_t HashChain::append(const TimelineRowDraft& row) {
  return append(*row.actions.front(), sql::dump(row.body));
}

std::int64_t HashChain::append(const Action& a, const std::string& body) {
  const std::int64_t seq = staged_seq_ + 1;
  IncidentHead& head = head_of(a.incident_key);
  const std::int64_t incident_seq = head.incident_seq + 1;
  const std::string* milestone = a.milestone ? &sql::name(*a.milestone) : nullptr;
  std::string hash = chain_hash(head.hash, incident_seq, a.incident_key, sql::millis(a.at),
                                sql::name(a.kind), milestone, body);
  sql::Use s(insert_);
  s.integer(1, seq);
  s.text(2, a.incident_key);
  s.instant(3, a.at);
  s.text(4, sql::name(a.kind));
  if (milestone != nullptr) {
    s.text(5, *milestone);
  } else {
    s->bind(5);
  }
  s.text(6, body);
  s.text(7, head.hash);
  s.text(8, hash);
  s.integer(9, incident_seq);
  s->exec();
  staged_seq_ = seq;
  head = {incident_seq, std::move(hash)};
  return seq;
}

void HashChain::committed() {
  seq_ = staged_seq_;
  if (heads_.size() + staged_heads_.size() > kMaxKeptHeads) heads_.clear();
  for (auto& [key, head] : staged_heads_) heads_.insert_or_assign(key, std::move(head));
  staged_heads_.clear();
}

}  // namespace incidentd
