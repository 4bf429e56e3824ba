#include "service/watchdog.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <chrono>
#include <cstdlib>
#include <string_view>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "service/notifier.hpp"

namespace incidentd {

struct WatchdogPinger::Impl {
  Impl(boost::asio::io_context& io, Notifier& n) : timer(io), notifier(n) {}

  // Until READY=1 the ping also extends the start (start_keepalive.hpp): the start waits for the
  // Kafka subscription, while the loop already runs the clocks. Three intervals: one late ping
  // does not end the start, a loop that stopped turning does.
  void ping() {
    notifier.watchdog();
    notifier.extend_start(3 * *notifier.watchdog_interval(),
                          "starting: the incident clocks run; waiting for Kafka before "
                          "consuming (the log says why)");
  }

  void arm() {
    timer.expires_after(*notifier.watchdog_interval());
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec || !running) return;  // cancelled by stop() or the destructor
      ping();
      arm();
    });
  }

  boost::asio::steady_timer timer;
  Notifier& notifier;
  bool running = false;
};

WatchdogPinger::WatchdogPinger(boost::asio::io_context& io, Notifier& notifier)
    : impl_(std::make_unique<Impl>(io, notifier)) {}

WatchdogPinger::~WatchdogPinger() {
  stop();
}

void WatchdogPinger::start() {
  if (impl_->running || !impl_->notifier.watchdog_interval()) return;
  impl_->running = true;
  spdlog::info(
      "systemd: watchdog on, pinging every {} ms from the loop",
      std::chrono::duration_cast<std::chrono::milliseconds>(*impl_->notifier.watchdog_interval())
          .count());
  impl_->ping();
  impl_->arm();
}

void WatchdogPinger::stop() {
  impl_->running = false;
  impl_->timer.cancel();
}

bool WatchdogPinger::active() const {
  return impl_->running;
}

struct LoopHangHookForTest::Impl {
  explicit Impl(boost::asio::io_context& io) : signals(io, SIGUSR2) {}

  void wait() {
    signals.async_wait([](const boost::system::error_code& ec, int) {
      if (ec) return;
      spdlog::warn(
          "test hook: SIGUSR2 received, blocking the event loop until the watchdog "
          "kills the process ({}=1)",
          kHangEnvForTest);
      spdlog::default_logger()->flush();
      // Sleeping, not spinning: only the watchdog (SIGABRT) or SIGKILL ends this.
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    });
  }

  boost::asio::signal_set signals;
};

std::unique_ptr<LoopHangHookForTest> LoopHangHookForTest::install_if_requested(
    boost::asio::io_context& io) {
  const char* value = std::getenv(kHangEnvForTest);
  if (value == nullptr || std::string_view(value) != "1") return nullptr;
  spdlog::warn(
      "test hook installed: SIGUSR2 will hang the event loop ({}=1); never set this in "
      "production",
      kHangEnvForTest);
  return std::make_unique<LoopHangHookForTest>(io);
}

LoopHangHookForTest::LoopHangHookForTest(boost::asio::io_context& io)
    : impl_(std::make_unique<Impl>(io)) {
  impl_->wait();
}

LoopHangHookForTest::~LoopHangHookForTest() = default;

}  // namespace incidentd
