// What the daemon does while the database's disk is full (docs/reliability.md, "A full disk").
// A commit that finds the disk full (StoreFullError) does not end the daemon: it pauses. The
// engine keeps what it could not write pending (a timer's warning, a batch's events, an API
// acknowledgement) and keeps its clocks running in memory; this object retries the commit with
// a bounded back-off on the wait clock and ends the pause by itself once everything pending is
// written. Meanwhile the Kafka consumer is paused (Ingest: store_writable) and stores no offset
// of anything not durable, and the notification dispatcher sends only rows it could claim in the
// database, so nothing is sent whose outbox row is not durable.
//
// One log line when the pause starts, one when it ends; /readyz, STATUS= and /metrics read the
// state from here. Any other StoreError stays fatal: a retry that fails otherwise throws it out
// of the retry timer, which ends the loop as every other store failure does.
//
// Used on the loop thread, except paused(), which any thread may read.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "incidentd/store.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

class Engine;

struct DiskFullOptions {
  Duration first_retry = std::chrono::milliseconds(500);
  Duration max_retry = std::chrono::seconds(10);  // the back-off doubles up to this
};

class DiskFullPause {
 public:
  // `waits` is a real-time clock (not a drill's scaled one): the back-off is about the disk.
  // `probe`, when set, is a small write tried after the engine's flush (the daemon's heartbeat):
  // with nothing pending, the flush writes nothing and proves nothing.
  DiskFullPause(Engine& engine, TimeSystem& waits, std::function<void()> probe = {},
                DiskFullOptions options = {});
  ~DiskFullPause();
  DiskFullPause(const DiskFullPause&) = delete;
  DiskFullPause& operator=(const DiskFullPause&) = delete;

  // A commit found the disk full. The first call of a pause logs it and arms the retry; later
  // ones (other writers failing meanwhile) change nothing.
  void on_full(const StoreFullError& error);

  // Any thread: true from the first on_full() until everything pending is written.
  bool paused() const { return paused_.load(); }
  // "disk full: /var/lib/incidentd/incidentd.db" while paused.
  std::optional<std::string> reason() const;

  struct Figures {
    bool paused = false;
    std::uint64_t pauses = 0;   // pauses begun since the start
    std::uint64_t retries = 0;  // commits retried that found the disk still full
    Duration paused_for{};      // in all since the start, the current pause included
  };
  Figures figures() const;

  // Called when a pause starts (true) and ends (false): STATUS=, the dispatcher.
  void on_change(std::function<void(bool paused)> listener) { listener_ = std::move(listener); }

 private:
  void arm();
  void retry();

  Engine& engine_;
  TimeSystem& waits_;
  std::function<void()> probe_;
  DiskFullOptions options_;
  std::unique_ptr<Timer> timer_;
  std::atomic<bool> paused_{false};
  std::string path_;
  TimePoint since_{};
  Duration backoff_{};
  std::uint64_t retries_now_ = 0;  // in the current pause
  Figures figures_;
  std::function<void(bool)> listener_;
};

}  // namespace incidentd
