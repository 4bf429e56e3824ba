// The systemd watchdog, pinged from the daemon's event loop: a timer on the loop sends WATCHDOG=1
// every Notifier::watchdog_interval(), so a loop that stops turning stops pinging and systemd
// kills and restarts the daemon (WatchdogSec= in the unit). Until READY=1 each ping also extends
// the start's timeout (EXTEND_TIMEOUT_USEC, start_keepalive.hpp), so a daemon whose loop runs
// while it waits for the broker is not ended by TimeoutStartSec=. Also the test hook that hangs
// it.
#pragma once

#include <memory>

namespace boost::asio {
class io_context;
}

namespace incidentd {

class Notifier;

class WatchdogPinger {
 public:
  // Both must outlive the pinger. Nothing happens until start().
  WatchdogPinger(boost::asio::io_context& io, Notifier& notifier);
  ~WatchdogPinger();
  WatchdogPinger(const WatchdogPinger&) = delete;
  WatchdogPinger& operator=(const WatchdogPinger&) = delete;

  // Pings once now, then from the loop at every interval. Does nothing when systemd set no
  // watchdog for this process. systemd enforces the watchdog only once start-up is over (after
  // READY=1; before it TimeoutStartSec= is the limit), so starting early costs nothing.
  void start();
  // Cancels the timer; the loop may keep running (a clean shutdown after STOPPING=1).
  void stop();
  // True after start() when systemd asked for a watchdog.
  bool active() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Test hook, reachable only by setting the environment variable named by kHangEnvForTest to "1":
// then SIGUSR2 makes the loop thread block forever, as a deadlock would, so the integration test
// can watch the watchdog kill the daemon and systemd restart it. Without the variable SIGUSR2
// keeps its default action and nothing is installed.
class LoopHangHookForTest {
 public:
  static constexpr const char* kHangEnvForTest = "INCIDENTD_HANG_ON_SIGUSR2_FOR_TEST";

  // nullptr unless the variable is "1"; logs a warning when it installs the hook.
  static std::unique_ptr<LoopHangHookForTest> install_if_requested(boost::asio::io_context& io);

  explicit LoopHangHookForTest(boost::asio::io_context& io);
  ~LoopHangHookForTest();
  LoopHangHookForTest(const LoopHangHookForTest&) = delete;
  LoopHangHookForTest& operator=(const LoopHangHookForTest&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace incidentd
