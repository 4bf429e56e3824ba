#include "service/notifier.hpp"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

namespace incidentd {

namespace {

std::uint64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000U +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1'000U;
}

// A STATUS= field whose text cannot forge another field: newlines are folded.
std::string status_field(std::string_view text) {
  std::string field = "STATUS=";
  field += text;
  std::replace(field.begin(), field.end(), '\n', ' ');
  return field;
}

}  // namespace

Notifier::Notifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && *socket != '\0';
  std::uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) names this process, so a
  // child that inherited the environment does not ping on its parent's behalf.
  int r = sd_watchdog_enabled(0, &usec);
  if (r < 0) {
    spdlog::warn("systemd: ignoring the watchdog settings in the environment: {}",
                 std::strerror(-r));
  } else if (r > 0 && enabled_ && usec > 0) {
    watchdog_interval_ = std::chrono::microseconds(std::max<std::uint64_t>(usec / 2, 1));
  }
}

void Notifier::ready() {
  if (!enabled_) return;
  spdlog::info("systemd: notified READY=1");
  ready_sent_ = true;
  send("READY=1");
}

void Notifier::extend_start(std::chrono::microseconds by, std::string_view status) {
  if (!enabled_ || ready_sent_) return;
  std::string message = "EXTEND_TIMEOUT_USEC=" + std::to_string(by.count());
  if (!status.empty()) message += "\n" + status_field(status);
  send(message);
}

void Notifier::status(std::string_view text) {
  if (!enabled_) return;
  send(status_field(text));
}

void Notifier::reloading() {
  if (!enabled_) return;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()));
}

void Notifier::stopping() {
  if (!enabled_) return;
  spdlog::info("systemd: notified STOPPING=1");
  send("STOPPING=1");
}

void Notifier::watchdog() {
  if (!enabled_) return;
  send("WATCHDOG=1");
}

void Notifier::send(const std::string& message) {
  int r = sd_notify(0, message.c_str());
  if (r > 0) {
    if (last_error_ != 0) spdlog::info("systemd: notifications reach systemd again");
    last_error_ = 0;
    return;
  }
  // r == 0 cannot happen with NOTIFY_SOCKET set; treat it like a failure to deliver.
  int error = r < 0 ? -r : ENOTCONN;
  if (error != last_error_) {
    auto first_line = std::string_view(message).substr(0, message.find('\n'));
    spdlog::warn("systemd: could not send {} to NOTIFY_SOCKET: {}", first_line,
                 std::strerror(error));
  }
  last_error_ = error;
}

}  // namespace incidentd
