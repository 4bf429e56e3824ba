// Test-only: turns the timeline a current build wrote back into what schemas 2 to 10 stored (no
// incident_seq, one global chain over the seqs, chain_hash_v1), for migration tests that take a
// file back to an older schema.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/hash_chain.hpp"

namespace incidentd::testing {

// The store's own migration 2 chains every row in one global chain (chain_hash_v1), as schemas
// 2 to 10 did.
inline void rechain_globally_for_test(SQLite::Database& db) {
  db.exec("ALTER TABLE timeline DROP COLUMN incident_seq");
  chain_existing_rows(db);
}

}  // namespace incidentd::testing
