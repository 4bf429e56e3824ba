// The consistency room's queries: check-db's rows, read as stored, with the store's errors.
#include "store/consistency_rows.hpp"

#include <string_view>

#include "store/database.hpp"
#include "store/processed_ids.hpp"
#include "store/sql.hpp"

namespace incidentd {
namespace {

// Every failure names the command: "check-db (<path>): <what>".
constexpr std::string_view kOperation = "check-db";

}  // namespace

void ConsistencyReader::in_snapshot(const std::function<void()>& read) {
  guarded(database_, kOperation, [&] {
    SQLite::Transaction snapshot(database_.db(), SQLite::TransactionBehavior::DEFERRED);
    read();
  });
}

void ConsistencyReader::scan_lifecycle_entries(
    const std::function<void(const LifecycleEntry&)>& visit) {
  guarded(database_, kOperation, [&] {
    SQLite::Statement rows(database_.db(),
                           "SELECT seq, incident_key, at, action, milestone, body FROM timeline "
                           "WHERE action IN ('incident_opened', 'level_changed', "
                           "'incident_closed', 'milestone_met') ORDER BY seq");
    while (rows.executeStep()) {
      LifecycleEntry entry;
      entry.seq = rows.getColumn(0).getInt64();
      entry.columns = sql::timeline_columns(rows, 1);
      entry.body = rows.getColumn(5).getString();
      visit(entry);
    }
  });
}

void ConsistencyReader::scan_incidents(const std::function<void(const StoredIncident&)>& visit) {
  guarded(database_, kOperation, [&] {
    SQLite::Statement rows(database_.db(),
                           "SELECT incident_key, level, closed, state FROM incidents");
    while (rows.executeStep()) {
      visit({rows.getColumn(0).getString(), rows.getColumn(1).getString(),
             rows.getColumn(2).getInt() != 0, rows.getColumn(3).getString()});
    }
  });
}

bool ConsistencyReader::has_incident(const std::string& incident_key) {
  return guarded(database_, kOperation, [&] {
    if (!exists_) exists_.emplace(database_.db(), "SELECT 1 FROM incidents WHERE incident_key = ?");
    sql::Use exists(*exists_);
    exists.text(1, incident_key);
    return exists->executeStep();
  });
}

std::size_t ConsistencyReader::count_outbox() {
  return guarded(database_, kOperation, [&] {
    return static_cast<std::size_t>(
        database_.db().execAndGet("SELECT COUNT(*) FROM outbox").getInt64());
  });
}

void ConsistencyReader::scan_orphan_notifications(
    const std::function<void(const OrphanNotification&)>& visit) {
  guarded(database_, kOperation, [&] {
    SQLite::Statement orphans(database_.db(),
                              "SELECT notification_id, incident_key FROM outbox o WHERE NOT EXISTS "
                              "(SELECT 1 FROM incidents i WHERE i.incident_key = o.incident_key)");
    while (orphans.executeStep()) {
      visit({orphans.getColumn(0).getString(), orphans.getColumn(1).getString()});
    }
  });
}

void ConsistencyReader::scan_unlinked_notifications(
    const std::function<void(const UnlinkedNotification&)>& visit) {
  guarded(database_, kOperation, [&] {
    SQLite::Statement unlinked(
        database_.db(),
        "SELECT notification_id, incident_key, timeline_seq FROM outbox o WHERE timeline_seq IS "
        "NOT NULL AND NOT EXISTS (SELECT 1 FROM timeline t WHERE t.seq = o.timeline_seq AND "
        "t.action = 'notification' AND t.incident_key = o.incident_key)");
    while (unlinked.executeStep()) {
      visit({unlinked.getColumn(0).getString(), unlinked.getColumn(1).getString(),
             unlinked.getColumn(2).getInt64()});
    }
  });
}

std::size_t ConsistencyReader::count_deadlines() {
  return guarded(database_, kOperation, [&] {
    return static_cast<std::size_t>(
        database_.db().execAndGet("SELECT COUNT(*) FROM deadlines").getInt64());
  });
}

void ConsistencyReader::scan_stale_deadlines(
    const std::function<void(const StaleDeadline&)>& visit) {
  guarded(database_, kOperation, [&] {
    SQLite::Statement stale(database_.db(),
                            "SELECT d.incident_key, d.milestone, d.action, i.incident_key IS NULL "
                            "FROM deadlines d LEFT JOIN incidents i ON i.incident_key = "
                            "d.incident_key WHERE i.incident_key IS NULL OR i.closed != 0");
    while (stale.executeStep()) {
      visit({stale.getColumn(0).getString(), stale.getColumn(1).getString(),
             stale.getColumn(2).getString(), stale.getColumn(3).getInt() != 0});
    }
  });
}

void ConsistencyReader::scan_processed_blocks(
    const std::function<void(const ProcessedBlock&)>& visit) {
  guarded(database_, kOperation, [&] {
    SQLite::Statement blocks(database_.db(), "SELECT seq, ids, block FROM processed ORDER BY seq");
    ProcessedBlock b;
    while (blocks.executeStep()) {
      b.seq = blocks.getColumn(0).getInt64();
      b.declared = blocks.getColumn(1).getInt64();
      b.ids.clear();
      const SQLite::Column block = blocks.getColumn(2);
      b.whole = decode_processed_block(
          std::string_view(static_cast<const char*>(block.getBlob()),
                           static_cast<std::size_t>(block.getBytes())),
          [&](std::string_view id, std::string_view, TimePoint) { b.ids.push_back(id); });
      visit(b);
    }
  });
}

}  // namespace incidentd
