#include "service/start_keepalive.hpp"

#include <utility>

#include <spdlog/spdlog.h>

#include "service/notifier.hpp"
#include "service/thread_name.hpp"

namespace incidentd {

StartKeepAlive::StartKeepAlive(std::string status, Timing timing)
    : status_(std::move(status)), timing_(timing), thread_([this] { run(); }) {}

StartKeepAlive::~StartKeepAlive() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void StartKeepAlive::run() {
  name_this_thread("start-keepalive");
  Notifier notifier;  // its own: a Notifier is not shared between threads
  if (!notifier.enabled()) return;
  const auto started = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  // Each extension reaches `extension` past the moment it is sent; the last one reaches `limit`.
  for (;;) {
    const auto elapsed = std::chrono::steady_clock::now() - started;
    if (elapsed + timing_.extension > timing_.limit) {
      spdlog::warn(
          "systemd: the start has gone on for {} s; no longer extending its timeout "
          "(TimeoutStartSec=)",
          std::chrono::duration_cast<std::chrono::seconds>(elapsed).count());
      return;
    }
    notifier.extend_start(timing_.extension, status_);
    if (wake_.wait_for(lock, timing_.tick, [this] { return stopping_; })) return;
  }
}

}  // namespace incidentd
