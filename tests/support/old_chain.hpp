// Test-only: turns the timeline a current build wrote back into what schemas 2 to 10 stored (no
// incident_seq, one global chain over the seqs, chain_hash_v1), for migration tests that take a
// file back to an older schema.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/chain_hash.hpp"

namespace incidentd::testing {

inline void rechain_globally_for_test(SQLite::Database& db) {
  db.exec("ALTER TABLE timeline DROP COLUMN incident_seq");
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

}  // namespace incidentd::testing
