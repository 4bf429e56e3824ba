// The consistency room: the rows `incidentctl check-db` compares, read as stored on the store's
// connection (the ConsistencyRows port, incidentd/consistency_rows.hpp). Internal to
// daemon/store: made by SqliteStore::consistency_rows().
#pragma once

#include <optional>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include "incidentd/consistency_rows.hpp"

namespace incidentd {

class Database;

class ConsistencyReader final : public ConsistencyRows {
 public:
  explicit ConsistencyReader(Database& database) : database_(database) {}
  ConsistencyReader(const ConsistencyReader&) = delete;
  ConsistencyReader& operator=(const ConsistencyReader&) = delete;

  void in_snapshot(const std::function<void()>& read) override;
  void scan_lifecycle_entries(const std::function<void(const LifecycleEntry&)>& visit) override;
  void scan_incidents(const std::function<void(const StoredIncident&)>& visit) override;
  bool has_incident(const std::string& incident_key) override;
  std::size_t count_outbox() override;
  void scan_orphan_notifications(
      const std::function<void(const OrphanNotification&)>& visit) override;
  void scan_unlinked_notifications(
      const std::function<void(const UnlinkedNotification&)>& visit) override;
  std::size_t count_deadlines() override;
  void scan_stale_deadlines(const std::function<void(const StaleDeadline&)>& visit) override;
  void scan_processed_blocks(const std::function<void(const ProcessedBlock&)>& visit) override;

 private:
  Database& database_;
  std::optional<SQLite::Statement> exists_;  // has_incident's, prepared once: it runs per key
};

}  // namespace incidentd
