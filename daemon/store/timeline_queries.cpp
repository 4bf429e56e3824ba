#include "store/timeline_queries.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include "store/chain_hash.hpp"
#include "store/database.hpp"
#include "store/sql.hpp"

namespace incidentd {
namespace {

using sql::instant_of;

constexpr const char* kTimelineColumns =
    "t.seq, t.incident_key, t.at, t.action, t.milestone, t.body, t.prev_hash, t.hash, "
    "t.incident_seq";

// Into `row`, reusing its strings' buffers: verify reads millions of rows through one.
// Through SQLite's C API, for the scan of the whole chain (verify): SQLiteCpp's
// getColumn() copies a shared pointer per column, a third of the reading thread's time.
std::string_view text_of(sqlite3_stmt* s, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, column));
  return text == nullptr
             ? std::string_view()
             : std::string_view(text, static_cast<std::size_t>(sqlite3_column_bytes(s, column)));
}

void read_timeline_row(sqlite3_stmt* s, TimelineRow& row) {
  row.seq = sqlite3_column_int64(s, 0);
  row.incident_key.assign(text_of(s, 1));
  row.at_ms = sqlite3_column_int64(s, 2);
  row.action.assign(text_of(s, 3));
  if (sqlite3_column_type(s, 4) == SQLITE_NULL) {
    row.milestone.reset();
  } else {
    row.milestone.emplace().assign(text_of(s, 4));
  }
  row.body.assign(text_of(s, 5));
  row.prev_hash.assign(text_of(s, 6));
  row.hash.assign(text_of(s, 7));
  row.incident_seq = sqlite3_column_int64(s, 8);
}

}  // namespace

void TimelineReader::scan_timeline(const std::string& incident_key,
                                   const std::function<bool(const TimelineRow&)>& visit,
                                   std::int64_t after_seq) {
  guarded(database_, "scan_timeline", [&] {
    SQLite::Transaction tx(database_.db(), SQLite::TransactionBehavior::DEFERRED);
    const std::string query =
        std::string("SELECT ") + kTimelineColumns + " FROM timeline t WHERE t.seq > ?" +
        (incident_key.empty() ? "" : " AND t.incident_key = ?") + " ORDER BY t.seq";
    sqlite3* db = database_.db().getHandle();
    sqlite3_stmt* prepared = nullptr;
    if (const int rc = sqlite3_prepare_v2(db, query.c_str(), -1, &prepared, nullptr);
        rc != SQLITE_OK) {
      throw SQLite::Exception(db, rc);
    }
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> s(prepared, sqlite3_finalize);
    sqlite3_bind_int64(s.get(), 1, after_seq);
    if (!incident_key.empty()) {
      sqlite3_bind_text(s.get(), 2, incident_key.data(), static_cast<int>(incident_key.size()),
                        SQLITE_STATIC);
    }
    TimelineRow row;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      read_timeline_row(s.get(), row);
      if (!visit(row)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw SQLite::Exception(db, rc);
  });
}

std::vector<ChainRewrite> TimelineReader::chain_rewrites() {
  return guarded(database_, "chain_rewrites", [&] {
    std::vector<ChainRewrite> out;
    SQLite::Statement s(database_.db(),
                        "SELECT at, reason, rows_changed, old_head_seq, old_head_hash, "
                        "new_head_hash FROM chain_rewrites ORDER BY seq");
    while (s.executeStep()) {
      ChainRewrite r;
      r.at = instant_of(s.getColumn(0).getInt64());
      r.reason = s.getColumn(1).getString();
      r.rows_changed = s.getColumn(2).getInt64();
      r.old_head = {s.getColumn(3).getInt64(), s.getColumn(4).getString()};
      r.new_head_hash = s.getColumn(5).getString();
      out.push_back(std::move(r));
    }
    return out;
  });
}

std::optional<ChainHead> TimelineReader::chain_head(const std::string& incident_key) {
  return guarded(database_, "chain_head", [&]() -> std::optional<ChainHead> {
    SQLite::Statement s(database_.db(),
                        incident_key.empty()
                            ? "SELECT seq, hash FROM timeline ORDER BY seq DESC LIMIT 1"
                            : "SELECT incident_seq, hash FROM timeline WHERE incident_key = ? "
                              "ORDER BY seq DESC LIMIT 1");
    if (!incident_key.empty()) s.bind(1, incident_key);
    if (!s.executeStep()) return std::nullopt;
    return ChainHead{s.getColumn(0).getInt64(), s.getColumn(1).getString()};
  });
}

std::string TimelineReader::chain_heads_digest() {
  return guarded(database_, "chain_heads_digest", [&] {
    // One step down the timeline_incident index per incident for its last row.
    SQLite::Statement s(database_.db(),
                        "SELECT t.incident_key, t.incident_seq, t.hash FROM incidents i "
                        "JOIN timeline t ON t.seq = (SELECT MAX(seq) FROM timeline "
                        "WHERE incident_key = i.incident_key)");
    std::vector<IncidentChainHead> heads;
    while (s.executeStep()) {
      heads.push_back(
          {s.getColumn(0).getString(), s.getColumn(1).getInt64(), s.getColumn(2).getString()});
    }
    if (heads.empty()) return std::string();
    return incidentd::chain_heads_digest(std::move(heads));
  });
}

std::int64_t TimelineReader::last_seq_issued() {
  return guarded(database_, "last_seq_issued", [&] {
    SQLite::Statement s(database_.db(),
                        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence "
                        "WHERE name = 'timeline'), 0), COALESCE((SELECT MAX(seq) FROM timeline), "
                        "0))");
    s.executeStep();
    return s.getColumn(0).getInt64();
  });
}

}  // namespace incidentd
