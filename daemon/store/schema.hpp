// The whole schema of the daemon's database, as the migrations that build it: every table of
// the file (the store's, the ack links', the reply codes', the runs') is defined here and
// nowhere else. Internal to daemon/store; Database runs them.
#pragma once

#include <array>
#include <span>
#include <string_view>

#include <SQLiteCpp/SQLiteCpp.h>

namespace incidentd::schema {

// Each migration takes the schema from version - 1 to version, in one transaction together with
// the PRAGMA user_version that records it, then runs `after` (data the SQL cannot compute) in the
// same transaction. Add a version as one more entry; never edit one that has shipped.
struct Migration {
  int version;
  const char* sql;
  void (*after)(SQLite::Database&) = nullptr;
};

std::span<const Migration> migrations();

// The tables SqliteStore::count() may be asked about.
inline constexpr std::array<std::string_view, 12> kTables = {
    "incidents",   "deadlines",        "confirmations",    "acknowledgements",
    "processed",   "timeline",         "outbox",           "chain_rewrites",
    "daemon_runs", "source_heartbeat", "incident_figures", "replica_positions"};

}  // namespace incidentd::schema
