// The daemon's side of systemd's notification protocol (sd_notify(3)): READY=1, STATUS=,
// RELOADING=1, STOPPING=1, WATCHDOG=1 and EXTEND_TIMEOUT_USEC= over $NOTIFY_SOCKET. Every call is a
// no-op when systemd did not set NOTIFY_SOCKET (run by hand, or another supervisor), so callers
// never check.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace incidentd {

class Notifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID once; the environment is left as it is.
  Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // True when systemd is listening; false makes every call below a no-op.
  bool enabled() const { return enabled_; }

  // Start-up is complete: the unit becomes active only now (Type=notify).
  void ready();
  // The start is still working: systemd gives it `by` more before it counts the start as timed
  // out (EXTEND_TIMEOUT_USEC, systemd >= 236), and shows `status` when given. For a start that
  // outlasts TimeoutStartSec= while making progress: a schema migration of a large archive, a
  // broker not reachable yet (start_keepalive.hpp). Nothing once READY=1 went out, where it
  // would stretch the running service's limits instead.
  void extend_start(std::chrono::microseconds by, std::string_view status = {});
  bool ready_sent() const { return ready_sent_; }
  // One line shown by `systemctl status`; newlines are folded so it cannot forge other fields.
  void status(std::string_view text);
  // A reload began. systemd 252 understands RELOADING=1 and leaves "reloading" at the next
  // ready(); MONOTONIC_USEC is what systemd >= 253 (Type=notify-reload) also requires.
  void reloading();
  // Shutdown began: the unit shows "deactivating" while the daemon finishes its batch.
  void stopping();
  // "Still alive": must come at least every WATCHDOG_USEC or systemd kills the daemon.
  void watchdog();

  // How often watchdog() should be called (half of WATCHDOG_USEC, as sd_watchdog_enabled(3)
  // advises), or nullopt when systemd set no watchdog for this process.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_interval_; }

 private:
  void send(const std::string& message);

  bool enabled_ = false;
  bool ready_sent_ = false;
  std::optional<std::chrono::microseconds> watchdog_interval_;
  int last_error_ = 0;  // errno of the last failed send, so a dead socket is logged once
};

}  // namespace incidentd
