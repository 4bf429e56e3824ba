#include "store/wal_checkpointer.hpp"

#include <utility>

#include "service/thread_name.hpp"

namespace incidentd {

RequestedWork::RequestedWork(std::string name, std::function<void()> work)
    : work_(std::move(work)), thread_([this, name = std::move(name)] {
        name_this_thread(name);
        run();
      }) {}

RequestedWork::~RequestedWork() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void RequestedWork::request() {
  {
    const std::lock_guard lock(mutex_);
    requested_ = true;
  }
  wake_.notify_one();
}

void RequestedWork::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return !requested_ && !running_; });
}

void RequestedWork::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return requested_ || stopping_; });
    if (!requested_) return;  // stopping, nothing asked
    requested_ = false;
    running_ = true;
    lock.unlock();
    work_();
    lock.lock();
    running_ = false;
    idle_.notify_all();
  }
}

WalCheckpointer::WalCheckpointer(const std::string& path, int busy_timeout_ms)
    : db_(path, SQLite::OPEN_READWRITE, busy_timeout_ms) {
  // A connection learns that the database is in WAL mode when it first reads it; until then a
  // checkpoint through it does nothing. No request comes before the store is built.
  db_.execAndGet("SELECT count(*) FROM sqlite_schema");
}

void WalCheckpointer::checkpoint() {
  int wal_pages = -1;  // stays -1 when the connection does not see the WAL
  const int rc = sqlite3_wal_checkpoint_v2(db_.getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                           &wal_pages, nullptr);
  if (rc == SQLITE_OK && wal_pages >= 0) ++done_;
}

std::optional<std::string> WalSyncer::take_failure() {
  const std::lock_guard lock(failure_mutex_);
  return std::exchange(failure_, std::nullopt);
}

void WalSyncer::sync() {
  try {
    database_.sync_wal();
    ++syncs_;
  } catch (const StoreError& e) {
    const std::lock_guard lock(failure_mutex_);
    failure_ = e.what();
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
