#include "store/wal_checkpointer.hpp"

#include <utility>

namespace incidentd {

WalCheckpointer::WalCheckpointer(const std::string& path, int busy_timeout_ms)
    : db_(path, SQLite::OPEN_READWRITE, busy_timeout_ms) {
  // A connection learns that the database is in WAL mode when it first reads it; until then a
  // checkpoint through it does nothing.
  db_.execAndGet("SELECT count(*) FROM sqlite_schema");
  thread_ = std::thread([this] { run(); });
}

WalCheckpointer::~WalCheckpointer() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void WalCheckpointer::request() {
  {
    const std::lock_guard lock(mutex_);
    requested_ = true;
  }
  wake_.notify_one();
}

void WalCheckpointer::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return !requested_ && !running_; });
}

void WalCheckpointer::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return requested_ || stopping_; });
    if (stopping_) return;
    requested_ = false;
    running_ = true;
    lock.unlock();
    int wal_pages = -1;  // stays -1 when the connection does not see the WAL
    const int rc = sqlite3_wal_checkpoint_v2(db_.getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                             &wal_pages, nullptr);
    if (rc == SQLITE_OK && wal_pages >= 0) ++done_;
    lock.lock();
    running_ = false;
    idle_.notify_all();
  }
}

WalSyncer::WalSyncer(const Database& database) : database_(database), thread_([this] { run(); }) {}

WalSyncer::~WalSyncer() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void WalSyncer::request() {
  {
    const std::lock_guard lock(mutex_);
    requested_ = true;
  }
  wake_.notify_one();
}

void WalSyncer::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return !requested_ && !running_; });
}

std::optional<std::string> WalSyncer::take_failure() {
  const std::lock_guard lock(mutex_);
  return std::exchange(failure_, std::nullopt);
}

// Requests that come while a sync runs are served by one more sync: every commit made before a
// request is in the WAL file's pages when the sync that follows it starts. A request made before
// the store closes is served before the thread ends.
void WalSyncer::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return requested_ || stopping_; });
    if (!requested_) return;  // stopping, nothing asked
    requested_ = false;
    running_ = true;
    lock.unlock();
    std::optional<std::string> failed;
    try {
      database_.sync_wal();
      ++syncs_;
    } catch (const StoreError& e) {
      failed = e.what();
    }
    lock.lock();
    if (failed) failure_ = std::move(failed);
    running_ = false;
    idle_.notify_all();
  }
}

WalCommitHook::WalCommitHook(SQLite::Database& db, WalCheckpoints when,
                             WalCheckpointer* checkpointer)
    : when_(when), checkpointer_(checkpointer) {
  // Replaces SQLite's automatic checkpoint (wal_autocheckpoint is this same hook).
  sqlite3_wal_hook(db.getHandle(), &WalCommitHook::after_commit, this);
}

int WalCommitHook::after_commit(void* self, sqlite3* handle, const char* schema, int pages) {
  auto& hook = *static_cast<WalCommitHook*>(self);
  if (pages >= hook.when_.foreground_after) {
    // The thread has fallen behind, or there is none: the WAL does not grow on unchecked.
    const int rc =
        sqlite3_wal_checkpoint_v2(handle, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc == SQLITE_OK) ++hook.foreground_;
  } else if (pages >= hook.when_.background_after && hook.checkpointer_ != nullptr) {
    hook.checkpointer_->request();
  }
  return SQLITE_OK;  // an error here would fail a COMMIT that has already happened
}

}  // namespace incidentd
