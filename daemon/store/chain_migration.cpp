#include "store/chain_migration.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include "incidentd/store.hpp"
#include "store/chain_hash.hpp"

namespace incidentd {
namespace {

// A row as schema 10 stored it.
struct OldRow {
  std::int64_t seq = 0;
  std::string incident_key;
  std::int64_t at_ms = 0;
  std::string action;
  bool has_milestone = false;
  std::string milestone;
  std::string body;
  std::string prev_hash;
  std::string hash;
};

void read_old_row(SQLite::Statement& s, OldRow& row) {
  row.seq = s.getColumn(0).getInt64();
  row.incident_key = s.getColumn(1).getString();
  row.at_ms = s.getColumn(2).getInt64();
  row.action = s.getColumn(3).getString();
  row.has_milestone = !s.getColumn(4).isNull();
  row.milestone = s.getColumn(4).getString();
  row.body = s.getColumn(5).getString();
  row.prev_hash = s.getColumn(6).getString();
  row.hash = s.getColumn(7).getString();
}

[[noreturn]] void refuse(SQLite::Database& db, std::int64_t seq, const std::string& what) {
  throw StoreError("migrate to schema 11 (" + db.getFilename() +
                   "): the timeline's hash chain is broken at seq " + std::to_string(seq) + " (" +
                   what +
                   "); re-chaining it per incident would hide that, so the file stays at schema "
                   "10. Run `incidentctl verify` of the previous build on it, and restore the "
                   "file from a backup (or keep it as evidence)");
}

// The global chain of schema 2 to 10 at this row: what is wrong with it, or empty.
std::string old_chain_fault(const OldRow& row, std::int64_t prev_seq,
                            const std::string& prev_hash) {
  if (row.seq != prev_seq + 1) {
    return "seq " + std::to_string(prev_seq + 1) + " to " + std::to_string(row.seq - 1) +
           " missing";
  }
  if (row.hash.empty() || row.prev_hash.empty()) return "a row without a hash";
  if (row.prev_hash != prev_hash) return "it does not link to the row before it";
  const std::string hash =
      chain_hash_v1(row.prev_hash, row.seq, row.incident_key, row.at_ms, row.action,
                    row.has_milestone ? &row.milestone : nullptr, row.body);
  if (hash != row.hash) return "its content does not match its hash";
  return {};
}

struct Rechained {
  std::int64_t rows = 0;
  std::int64_t last_seq = 0;
  std::string old_head_hash;
  std::string new_head_hash;
};

// One pass in seq order: each row is checked against the old chain, then re-hashed in its
// incident's chain (a broken row throws, and the transaction undoes the rows already done).
Rechained check_and_rechain(SQLite::Database& db) {
  SQLite::Statement select(db,
                           "SELECT seq, incident_key, at, action, milestone, body, prev_hash, "
                           "hash FROM timeline ORDER BY seq");
  SQLite::Statement update(
      db, "UPDATE timeline SET prev_hash = ?, hash = ?, incident_seq = ? WHERE seq = ?");
  struct Head {
    std::int64_t incident_seq = 0;
    std::string hash;
  };
  std::unordered_map<std::string, Head> heads;
  Rechained done;
  std::string old_prev(kGlobalGenesisHashV1);
  OldRow row;
  while (select.executeStep()) {
    read_old_row(select, row);
    if (const std::string fault = old_chain_fault(row, done.last_seq, old_prev); !fault.empty()) {
      refuse(db, row.seq, fault);
    }
    auto [at, fresh] = heads.try_emplace(row.incident_key);
    Head& head = at->second;
    if (fresh) head.hash = chain_genesis(row.incident_key);
    std::string hash =
        chain_hash(head.hash, head.incident_seq + 1, row.incident_key, row.at_ms, row.action,
                   row.has_milestone ? &row.milestone : nullptr, row.body);
    update.reset();
    update.bind(1, head.hash);
    update.bind(2, hash);
    update.bind(3, head.incident_seq + 1);
    update.bind(4, row.seq);
    update.exec();
    head = {head.incident_seq + 1, hash};
    old_prev = row.hash;
    done.last_seq = row.seq;
    done.old_head_hash = row.hash;
    done.new_head_hash = std::move(hash);
    ++done.rows;
  }
  return done;
}

}  // namespace

void rechain_per_incident(SQLite::Database& db) {
  const Rechained done = check_and_rechain(db);
  // Rows cut from the end leave AUTOINCREMENT's record above the last row.
  SQLite::Statement issued(db, "SELECT seq FROM sqlite_sequence WHERE name = 'timeline'");
  if (issued.executeStep() && issued.getColumn(0).getInt64() > done.last_seq) {
    refuse(db, done.last_seq + 1,
           "seq " + std::to_string(done.last_seq + 1) + " to " +
               std::to_string(issued.getColumn(0).getInt64()) +
               " removed from the end of the timeline");
  }
  if (done.rows == 0) return;
  SQLite::Statement record(db,
                           "INSERT INTO chain_rewrites(at, reason, rows_changed, old_head_seq, "
                           "old_head_hash, new_head_hash) VALUES (?, ?, ?, ?, ?, ?)");
  // As in schema 8: a migration runs before any clock is wired, and this instant only says when
  // the rewrite happened.
  record.bind(1, static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count()));
  record.bind(2, "schema 11: one hash chain per incident (the replicas of a cluster agree)");
  record.bind(3, done.rows);
  record.bind(4, done.last_seq);
  record.bind(5, done.old_head_hash);
  record.bind(6, done.new_head_hash);
  record.exec();
}

}  // namespace incidentd
