// The hash-chain room: appends timeline rows, each hashed over the row before it in its incident
// (chain_hash.hpp), for every writer of the store (the engine's commits, the dispatcher's
// delivery records, the outage at a start), inside the writer's transaction. stage() at the start
// of a transaction, append() for each row, committed() once the transaction committed. Internal
// to daemon/store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include <SQLiteCpp/SQLiteCpp.h>

#include "incidentd/domain.hpp"
#include "incidentd/timeline_queries.hpp"
#include "incidentd/timeline_rows.hpp"

namespace incidentd {

class Database;

// Migration 2 (and 8, after rewriting rows): chains every row of the timeline as it stands, in
// the one global chain of schemas 2 to 10 (chain_hash_v1).
void chain_existing_rows(SQLite::Database& db);

class HashChain {
 public:
  // read_write: continues the file's seqs from its last row.
  explicit HashChain(Database& database);
  HashChain(const HashChain&) = delete;
  HashChain& operator=(const HashChain&) = delete;

  // A write transaction begins: number rows from our last seq, or from a row another writer
  // appended.
  void stage();
  // Appends the action after the head of its incident's chain; returns the row's seq.
  std::int64_t append(const Action& a);
  // Appends a drafted row (incidentd/timeline_rows.hpp): one action, or a step's notifications.
  std::int64_t append(const TimelineRowDraft& row);
  // The seq of the last row staged (what a snapshot written in this transaction reflects).
  std::int64_t staged_seq() const { return staged_seq_; }
  // The transaction committed: the staged rows are the chains now.
  void committed();

 private:
  // The last row of an incident's chain: its place in the chain and its hash.
  struct IncidentHead {
    std::int64_t incident_seq = 0;
    std::string hash;
  };
  // The row of `a` (its incident, instant, action and milestone) with this body.
  std::int64_t append(const Action& a, const std::string& body);
  IncidentHead& head_of(const std::string& incident_key);
  std::int64_t last_row_seq();
  std::int64_t read_data_version();

  // Heads kept between transactions, at most this many (then forgotten and read again).
  static constexpr std::size_t kMaxKeptHeads = 1 << 18;

  SQLite::Statement insert_;
  SQLite::Statement last_row_;
  SQLite::Statement incident_head_;
  SQLite::Statement data_version_;
  std::int64_t seq_ = 0;         // the last seq committed
  std::int64_t staged_seq_ = 0;  // the last seq written by the transaction in progress
  // The heads of the incidents the transaction in progress appended to, then of those committed:
  // a head not known is read from the (incident_key, seq) index, inside the write lock. The
  // committed ones are forgotten when another connection committed (PRAGMA data_version), so
  // its rows are seen; a rolled-back transaction's never become committed.
  std::unordered_map<std::string, IncidentHead> staged_heads_;
  std::unordered_map<std::string, IncidentHead> heads_;
  std::int64_t seen_version_ = 0;
};

}  // namespace incidentd
