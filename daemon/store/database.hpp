// The database room: the one SQLite connection the store's rooms share on the daemon's loop
// thread, its pragmas (WAL, synchronous=FULL), and the schema with its migrations (schema.cpp:
// the only place any table of the file is defined, the reply codes' included). Every room turns
// SQLite's failures into StoreError through raise(), which knows a full disk. Internal to
// daemon/store.
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include <SQLiteCpp/SQLiteCpp.h>

#include <nlohmann/json.hpp>

#include "incidentd/store.hpp"

namespace incidentd {

class Database {
 public:
  enum class Mode { read_write, read_only };

  // The schema version this build writes and reads (PRAGMA user_version).
  static constexpr int kSchemaVersion = 17;
  static constexpr int kBusyTimeoutMs = 5000;
  // What a read-only connection asks SQLite to memory-map (it caps it at its build's limit).
  static constexpr long long kReadOnlyMapBytes = 64LL << 30;

  // read_write creates the file if needed and migrates it to kSchemaVersion; read_only needs a
  // database at exactly kSchemaVersion. Both refuse a newer schema. Throws StoreError or
  // SQLite::Exception.
  Database(const std::string& path, Mode mode);
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  SQLite::Database& db() { return db_; }
  // synchronous=NORMAL while on, FULL otherwise (outside a transaction: SQLite refuses the
  // change inside one). See SqliteStore::defer_durability.
  void defer_durability(bool on);
  bool durability_deferred() const { return durability_deferred_; }
  // fdatasync of the WAL file through a descriptor of its own, so any thread may call it. A WAL
  // that does not exist holds nothing to sync. Throws StoreError.
  void sync_wal() const;
  const std::string& path() const { return path_; }
  Mode mode() const { return mode_; }
  int user_version();

  // "<operation> (<path>): <what>".
  StoreError error(std::string_view operation, const std::exception& e) const;
  // Throws what `e` means for the caller: StoreFullError when the disk is full, which the daemon
  // waits out (the transaction was rolled back, so the same commit can be tried again), else
  // StoreError.
  [[noreturn]] void raise(std::string_view operation, const std::exception& e);

 private:
  void migrate();
  void check_readable_version();
  void map_for_reading();
  StoreError newer_schema(int found) const;

  std::string path_;
  Mode mode_;
  SQLite::Database db_;
  bool durability_deferred_ = false;
};

// Runs `body` and turns SQLite's failures into StoreError naming `operation`.
template <typename Body>
auto guarded(Database& database, std::string_view operation, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const SQLite::Exception& e) {
    database.raise(operation, e);
  }
}

// The same for a write that encodes JSON: a failure to encode is a StoreError too.
template <typename Body>
auto guarded_write(Database& database, std::string_view operation, Body&& body)
    -> decltype(body()) {
  try {
    return body();
  } catch (const SQLite::Exception& e) {
    database.raise(operation, e);
  } catch (const nlohmann::json::exception& e) {
    database.raise(operation, e);
  }
}

}  // namespace incidentd
