// The durable store on one SQLite file in WAL mode: per-incident state snapshots, the append-only
// timeline, the notification outbox, the idempotence set and derived indexes (pending deadlines).
// commit() writes a whole Changeset in one transaction; every SQLite failure becomes a StoreError
// naming the operation. A read-only instance can read while the daemon writes (reports).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/store.hpp"

namespace incidentd {

class SqliteStore final : public Store {
 public:
  enum class Mode { read_write, read_only };

  // The schema version this build writes and reads (PRAGMA user_version).
  static constexpr int kSchemaVersion = 1;

  // read_write creates the file if needed and migrates it to kSchemaVersion; read_only needs a
  // database at exactly kSchemaVersion. Both refuse a newer schema. Throws StoreError.
  explicit SqliteStore(const std::string& path, Mode mode = Mode::read_write);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void commit(const Changeset& changes) override;
  std::vector<IncidentState> load_open_incidents() override;
  std::optional<IncidentState> load_incident(const std::string& key) override;
  bool is_processed(const std::string& id) override;

  // The timeline in commit order, of one incident or (empty key) of all.
  std::vector<Action> timeline(const std::string& incident_key = "");
  // Rows in one of the store's tables: incidents, deadlines, confirmations, acknowledgements,
  // processed, timeline, outbox. Any other name is a StoreError.
  std::size_t count(std::string_view table);
  int schema_version();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace incidentd
