// Is an existing database file whole enough to run on? Asked in two steps, so that reading a
// large file whole never stands between a restart and a running clock
// (docs/reliability.md, "A damaged database file"):
// - check_database_file(), before anything opens the file for writing, in milliseconds: SQLite
//   alone would open a zero-length file as a new, empty database (a truncated database would
//   become a silent fresh start that has forgotten every open incident). A missing file is a
//   new database; an empty one is refused unless the operator asks for an empty start (--init);
//   the header must be SQLite's and its page count must fit the file (when no WAL holds later
//   pages); a damage mark left by an earlier run's whole-file check refuses it; and
//   `PRAGMA quick_check` of the tables a start reads (the snapshots, the processed ids, the
//   runs) must answer "ok".
// - FullFileCheck, once the daemon runs: `PRAGMA quick_check` of the whole file (every page of
//   the timeline and the outbox too: about 0.65 s of CPU per GB warm, minutes cold) on a thread
//   and a read-only connection of its own, at the lowest CPU priority. The daemon stops on a
//   failure and leaves the damage mark (mark_database_damaged), which the next start refuses.
// Read-only: nothing here writes to the database. A lock held by another process past a 5 s
// wait is not damage: the check passes and the store's open decides.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

struct sqlite3;

namespace incidentd {

struct DatabaseFileProblem {
  // One sentence naming the file, what is wrong and what to do.
  std::string message;
};

// nullopt: the file is absent (a new database is made) or looks whole. `allow_empty`: a
// zero-length file is a new database too.
std::optional<DatabaseFileProblem> check_database_file(const std::string& path, bool allow_empty);

// The damage mark beside the database: PATH-damaged, holding the problem's message.
std::string damage_mark_path(const std::string& path);
// Leaves the mark; false when it could not be written (the caller says so in its log line).
bool mark_database_damaged(const std::string& path, const DatabaseFileProblem& problem);

// `PRAGMA quick_check` of the whole file on a thread of its own, started by the constructor;
// `done` is called once on that thread with what it found, unless the check was stopped. The
// destructor stops a check still running (sqlite3_interrupt) and joins the thread.
class FullFileCheck {
 public:
  using Done = std::function<void(std::optional<DatabaseFileProblem> problem, double seconds)>;
  FullFileCheck(std::string path, Done done);
  ~FullFileCheck();
  FullFileCheck(const FullFileCheck&) = delete;
  FullFileCheck& operator=(const FullFileCheck&) = delete;

 private:
  void run();

  const std::string path_;
  const Done done_;
  std::mutex mutex_;
  sqlite3* running_ = nullptr;  // the check's connection while it runs, for interrupting
  bool stopping_ = false;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace incidentd
