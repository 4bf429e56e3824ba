// One daemon per database file. The daemon takes an exclusive flock(2) on `<database>.lock`
// before it opens the database for writing and holds it for its whole life; the kernel drops
// it when the process ends in any way (SIGKILL and a crash included), so a stale lock cannot
// outlive its holder and nothing ever has to be cleaned up by hand. The holder writes its pid
// into the file so that a second daemon can say whose it is. Readers (incidentctl, reports, a
// backup) never take it: SQLite's own locking covers them.
#pragma once

#include <stdexcept>
#include <string>

namespace incidentd {

// A second daemon on the same file: the message names the database, the lock file and, when
// the holder has written it, the holder's pid.
class DatabaseLocked : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The lock file of a database: `<database>.lock`, beside it.
std::string database_lock_path(const std::string& database);

class DatabaseLock {
 public:
  // Takes the lock without waiting. Throws DatabaseLocked when another process (or another
  // DatabaseLock in this one) holds it, and std::runtime_error when the lock file cannot be
  // created or locked at all (its directory missing or not writable).
  explicit DatabaseLock(const std::string& database);
  ~DatabaseLock();
  DatabaseLock(const DatabaseLock&) = delete;
  DatabaseLock& operator=(const DatabaseLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace incidentd
