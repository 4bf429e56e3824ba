// The WAL checkpoint room: copies the write-ahead log back into the database file on a thread
// and a connection of its own (the one connection the store has besides the loop thread's), so
// the writer's commits do not stop for it; a commit checkpoints itself only when the thread has
// fallen far behind. Internal to daemon/store.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include "store/database.hpp"
#include "store/wal_checkpoints.hpp"

namespace incidentd {

// A thread of its own that runs one piece of work whenever it is asked. Requests made while the
// work runs are served by one more run after it (so whatever preceded a request is covered by a
// run that starts after it), and a request made before the object is destroyed is served before
// its thread ends.
class RequestedWork {
 public:
  // `name`: the thread's (service/thread_name.hpp).
  RequestedWork(std::string name, std::function<void()> work);
  ~RequestedWork();
  RequestedWork(const RequestedWork&) = delete;
  RequestedWork& operator=(const RequestedWork&) = delete;

  void request();
  // Waits until every run asked for so far is done.
  void wait_idle();

 private:
  void run();

  std::function<void()> work_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  bool requested_ = false;
  bool running_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest exists
};

// Copies the WAL back into the database file on a thread and a connection of its own, when a
// commit asks. SQLite's automatic checkpoint runs inside the COMMIT that crosses
// wal_autocheckpoint: under a backlog that stalled the loop thread (timers, the API, ingestion)
// for 125-160 ms every 64 MB of WAL, about a tenth of its time in ingest_loop_bench. SQLite's
// documentation proposes this split for applications that cannot take that pause
// (https://sqlite.org/wal.html, "Application-Initiated Checkpoints"). A PASSIVE checkpoint never
// waits for the writer or for readers, and the writer restarts the WAL from its beginning at its
// next transaction once every frame is back in the database file. As with SQLite's own automatic
// checkpoint, one that fails is retried at the next request and the WAL grows meanwhile.
class WalCheckpointer {
 public:
  WalCheckpointer(const std::string& path, int busy_timeout_ms);

  void request() { worker_.request(); }
  // Waits until the thread has done what was asked of it.
  void wait_idle() { worker_.wait_idle(); }
  std::uint64_t done() const { return done_.load(); }

 private:
  void checkpoint();

  SQLite::Database db_;
  std::atomic<std::uint64_t> done_{0};
  RequestedWork worker_{"wal-checkpoint", [this] { checkpoint(); }};  // last: uses the above
};

// Makes deferred commits durable in the background (SqliteStore::defer_durability): after such a
// commit the writer asks, and this thread syncs the WAL file (Database::sync_wal, through a
// descriptor of its own), so a commit that did not wait for the disk is on it a few milliseconds
// later and the thread that committed never waited. A sync that fails is kept and thrown at the
// writer's next commit (take_failure): an I/O error on the disk is not passed over in silence.
class WalSyncer {
 public:
  explicit WalSyncer(const Database& database) : database_(database) {}

  void request() { worker_.request(); }
  // Waits until every sync asked for so far is done.
  void wait_idle() { worker_.wait_idle(); }
  std::uint64_t syncs() const { return syncs_.load(); }
  // The failure of a sync since the last call, if any.
  std::optional<std::string> take_failure();

 private:
  void sync();

  const Database& database_;
  std::mutex failure_mutex_;
  std::optional<std::string> failure_;
  std::atomic<std::uint64_t> syncs_{0};
  RequestedWork worker_{"wal-sync", [this] { sync(); }};  // last: uses the members above
};

// Installs the hook that runs after every commit of `db` with the WAL's length in pages: it asks
// `checkpointer` (may be null) or checkpoints in the commit itself, as `when` says, and counts
// the latter. `db` and `checkpointer` must outlive the hook.
class WalCommitHook {
 public:
  WalCommitHook(SQLite::Database& db, WalCheckpoints when, WalCheckpointer* checkpointer);
  WalCommitHook(const WalCommitHook&) = delete;
  WalCommitHook& operator=(const WalCommitHook&) = delete;
  std::uint64_t foreground() const { return foreground_; }

 private:
  static int after_commit(void* self, sqlite3* handle, const char* schema, int pages);
  WalCheckpoints when_;
  WalCheckpointer* checkpointer_;
  std::uint64_t foreground_ = 0;
};

}  // namespace incidentd
