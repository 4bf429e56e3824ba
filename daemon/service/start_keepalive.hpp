// Keeps systemd's start timeout (TimeoutStartSec=, 120 s in the shipped unit) from ending a start
// that is still working. Before the loop runs, the start is one long call on the main thread: the
// database file's check, the store's open with any schema migration after an upgrade (minutes on
// a large archive: several rewrite or replay the whole timeline), the engine's load. Killed
// at the timeout, such a start rolls its migration back and begins again at the restart, and
// never comes up. So until it is destroyed, a StartKeepAlive asks systemd from a thread of its
// own for `extension` more every `tick` (EXTEND_TIMEOUT_USEC), with a STATUS= line saying what
// the start is doing; for `limit` in all at most, so that a start that hangs is still ended.
// Once the loop runs, WatchdogPinger's pings extend the start until READY=1 instead: they come
// from the loop, so they prove it turns. A no-op without NOTIFY_SOCKET.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace incidentd {

class StartKeepAlive {
 public:
  struct Timing {
    std::chrono::milliseconds tick{std::chrono::seconds(10)};
    std::chrono::milliseconds extension{std::chrono::seconds(30)};
    std::chrono::milliseconds limit{std::chrono::hours(1)};
  };

  explicit StartKeepAlive(std::string status) : StartKeepAlive(std::move(status), Timing{}) {}
  StartKeepAlive(std::string status, Timing timing);
  ~StartKeepAlive();
  StartKeepAlive(const StartKeepAlive&) = delete;
  StartKeepAlive& operator=(const StartKeepAlive&) = delete;

 private:
  void run();

  const std::string status_;
  const Timing timing_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace incidentd
