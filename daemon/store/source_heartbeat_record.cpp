#include "store/source_heartbeat_record.hpp"

#include "store/database.hpp"
#include "store/outbox.hpp"
#include "store/sql.hpp"

namespace incidentd {

// Failures here are StoreError, never StoreFullError: the heartbeat logs them and retries
// (SourceHeartbeat::record), it does not pause the daemon.
std::optional<SourceHeartbeatRecord> SourceHeartbeatRoom::source_heartbeat() {
  try {
    SQLite::Statement s(database_.db(),
                        "SELECT silent, since, changed_at FROM source_heartbeat WHERE id = 1");
    if (!s.executeStep()) return std::nullopt;
    SourceHeartbeatRecord r;
    r.silent = s.getColumn(0).getInt() != 0;
    r.since = sql::instant_of(s.getColumn(1).getInt64());
    r.changed_at = sql::instant_of(s.getColumn(2).getInt64());
    return r;
  } catch (const SQLite::Exception& e) {
    throw database_.error("source_heartbeat", e);
  }
}

void SourceHeartbeatRoom::record_source_heartbeat(const SourceHeartbeatRecord& record,
                                                  const std::vector<OutboxRow>& rows) {
  try {
    SQLite::Transaction tx(database_.db(), SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement upsert(database_.db(),
                             "INSERT INTO source_heartbeat(id, silent, since, changed_at) "
                             "VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                             "silent = excluded.silent, since = excluded.since, "
                             "changed_at = excluded.changed_at");
    upsert.bind(1, record.silent ? 1 : 0);
    upsert.bind(2, static_cast<std::int64_t>(sql::millis(record.since)));
    upsert.bind(3, static_cast<std::int64_t>(sql::millis(record.changed_at)));
    upsert.exec();
    for (const OutboxRow& row : rows) outbox_.insert_row(row);
    tx.commit();
  } catch (const SQLite::Exception& e) {
    throw database_.error("record_source_heartbeat", e);
  }
}

}  // namespace incidentd
