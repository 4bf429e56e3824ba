// Test-only: turns what a current build wrote back into what older schemas stored, for migration
// tests that take a file back to an older schema: the timeline of schemas 2 to 10 (no
// incident_seq, one global chain over the seqs, chain_hash_v1), the outbox of schemas 1 to 14
// (every row with its own body).
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

// Schema 15 took the copies of the notifications' timeline rows out of the outbox: put them back
// and drop the column that names the rows instead.
inline void inline_outbox_bodies_for_test(SQLite::Database& db) {
  db.exec(
      "UPDATE outbox SET body = (SELECT t.body FROM timeline t WHERE t.seq = outbox.timeline_seq) "
      "WHERE timeline_seq IS NOT NULL; "
      "ALTER TABLE outbox DROP COLUMN timeline_seq");
}

}  // namespace incidentd::testing
