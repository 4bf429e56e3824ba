// The hash-chain room: appends timeline rows, each hashed over its predecessor (chain_hash.hpp),
// for every writer of the store (the engine's commits, the dispatcher's delivery records, the
// outage at a start), inside the writer's transaction. stage() at the start of a transaction,
// append() for each row, committed() once the transaction committed. Internal to daemon/store.
#pragma once

#include <cstdint>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include "incidentd/domain.hpp"
#include "incidentd/timeline_queries.hpp"

namespace incidentd {

class Database;

// Migration 2 (and 8, after rewriting rows): chains every row of the timeline as it stands.
void chain_existing_rows(SQLite::Database& db);

class HashChain {
 public:
  // read_write: continues the chain from the file's last row.
  explicit HashChain(Database& database);
  HashChain(const HashChain&) = delete;
  HashChain& operator=(const HashChain&) = delete;

  // A write transaction begins: chain from our head, or from a row another writer appended.
  void stage();
  // Appends the action after the staged head; returns its body (the action as JSON).
  std::string append(const Action& a);
  // The seq of the last row staged (what a snapshot written in this transaction reflects).
  std::int64_t staged_seq() const { return staged_.seq; }
  // The transaction committed: the staged rows are the chain now.
  void committed();

 private:
  void load_head();

  SQLite::Statement insert_;
  SQLite::Statement last_row_;
  ChainHead head_;    // the last committed row
  ChainHead staged_;  // the last row written by the transaction in progress
};

}  // namespace incidentd
