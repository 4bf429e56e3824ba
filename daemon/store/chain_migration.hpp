// Schema 11: the timeline's one global hash chain becomes a chain per incident (chain_hash.hpp),
// so that the replicas of a cluster, which apply incidents in different interleavings, compute
// the same hashes. Internal to daemon/store; schema.cpp runs it.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

namespace incidentd {

// Checks the global chain as schema 10 left it and refuses (StoreError naming the first bad
// row; the migration's transaction rolls back and the file stays at schema 10) when it is
// broken: re-chaining would otherwise launder the change. Then numbers every row in its
// incident's chain (incident_seq), re-hashes it per incident, and records the rewrite in
// chain_rewrites (the old head, and the new hash of the same last row).
void rechain_per_incident(SQLite::Database& db);

}  // namespace incidentd
