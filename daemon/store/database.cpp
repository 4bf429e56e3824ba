#include "store/database.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <sqlite3.h>

#include "store/schema.hpp"

namespace incidentd {

Database::Database(const std::string& path, Mode mode)
    : path_(path),
      mode_(mode),
      db_(path,
          // A read-only connection belongs to one thread (the tools' reads): SQLite's lock
          // per call was a fifth of verify's reading.
          mode == Mode::read_only ? SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX
                                  : SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
          kBusyTimeoutMs) {
  if (mode == Mode::read_only) {
    check_readable_version();
    map_for_reading();
    return;
  }
  const std::string journal = db_.execAndGet("PRAGMA journal_mode = WAL").getString();
  if (journal != "wal" && journal != "memory") {
    throw StoreError("open (" + path_ + "): cannot enable WAL (journal_mode is " + journal + ")");
  }
  // FULL syncs the WAL on every commit. With NORMAL a power loss can undo the last commits even
  // though commit() returned: an acknowledgement answered, a step that was sent. Only a caller
  // that makes its commits durable itself before it promises anything turns it off for its own
  // commits (defer_durability: the Kafka consumer, sync_wal before its offsets go to Kafka).
  db_.exec("PRAGMA synchronous = FULL");
  db_.exec("PRAGMA foreign_keys = ON");
  // A batch of hundreds of events writes megabytes: the default cache is 2 MB. Temporary
  // b-trees stay in memory rather than in files under /var/tmp.
  db_.exec("PRAGMA cache_size = -65536");
  db_.exec("PRAGMA temp_store = MEMORY");
  migrate();
}

void Database::defer_durability(bool on) {
  if (on == durability_deferred_ || mode_ == Mode::read_only) return;
  // Not a prepared statement: SQLite prepares a PRAGMA again at every run of it anyway.
  guarded(*this, "defer_durability",
          [&] { db_.exec(on ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL"); });
  durability_deferred_ = on;
}

void Database::sync_wal() const {
  const std::string wal = path_ + "-wal";
  const int fd = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return;  // no WAL: every commit is in the database file, synced
    throw StoreError("sync (" + path_ + "): cannot open " + wal + ": " + std::strerror(errno));
  }
  const int rc = ::fdatasync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0)
    throw StoreError("sync (" + path_ + "): fdatasync of " + wal + ": " + std::strerror(err));
}

void Database::map_for_reading() {
  // The tools read a whole table at a time (verify reads every timeline row): through read()
  // each page is a system call and a copy out of the page cache, a fifth of verify's time.
  // Memory-mapped, SQLite reads the page cache in place. SQLite caps the size at its build's
  // limit (Debian's: 2 GB, the front of a larger file; the rest is read as before). Only on
  // read-only connections, which the incidentctl commands alone open: a file truncated under a
  // mapping faults (SIGBUS) instead of failing a read, not a risk the daemon takes.
  db_.exec("PRAGMA mmap_size = " + std::to_string(kReadOnlyMapBytes));
}

int Database::user_version() {
  return db_.execAndGet("PRAGMA user_version").getInt();
}

void Database::migrate() {
  const int found = user_version();
  if (found > kSchemaVersion) throw newer_schema(found);
  for (const auto& migration : schema::migrations()) {
    if (migration.version <= found) continue;
    SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
    // Another process may have migrated between our read and taking the write lock.
    if (user_version() >= migration.version) continue;
    db_.exec(migration.sql);
    if (migration.after != nullptr) migration.after(db_);
    db_.exec("PRAGMA user_version = " + std::to_string(migration.version));
    tx.commit();
  }
}

void Database::check_readable_version() {
  const int found = user_version();
  if (found > kSchemaVersion) throw newer_schema(found);
  if (found < kSchemaVersion) {
    throw StoreError("open (" + path_ + "): schema version " + std::to_string(found) +
                     " is older than version " + std::to_string(kSchemaVersion) +
                     " that this build reads; start incidentd once on it to migrate it" +
                     (found == 0 ? " (or it is not an incidentd database)" : ""));
  }
}

StoreError Database::newer_schema(int found) const {
  return StoreError("open (" + path_ + "): schema version " + std::to_string(found) +
                    " is newer than version " + std::to_string(kSchemaVersion) +
                    " that this build knows; use a newer incidentd");
}

StoreError Database::error(std::string_view operation, const std::exception& e) const {
  return StoreError(std::string(operation) + " (" + path_ + "): " + e.what());
}

// SQLite's unix VFS reports ENOSPC on a write as SQLITE_FULL; growing the WAL index (-shm) or
// syncing on a full disk comes back as an SQLITE_IOERR_* whose errno says ENOSPC.
void Database::raise(std::string_view operation, const std::exception& e) {
  if (const auto* failure = dynamic_cast<const SQLite::Exception*>(&e)) {
    const int primary = failure->getErrorCode() & 0xff;
    if (primary == SQLITE_FULL ||
        (primary == SQLITE_IOERR && sqlite3_system_errno(db_.getHandle()) == ENOSPC)) {
      throw StoreFullError(std::string(operation) + " (" + path_ + "): disk full: " + e.what(),
                           path_);
    }
  }
  throw error(operation, e);
}

}  // namespace incidentd
