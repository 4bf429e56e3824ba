#include "service/status.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <fmt/format.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "service/notifier.hpp"

namespace incidentd {

namespace {

const char* plural(std::size_t n, const char* one, const char* many) {
  return n == 1 ? one : many;
}

}  // namespace

std::string format_status(const ServiceStatus& status) {
  std::string text =
      fmt::format("{} open {}, {} pending {}", status.open_incidents,
                  plural(status.open_incidents, "incident", "incidents"), status.pending_deadlines,
                  plural(status.pending_deadlines, "deadline", "deadlines"));
  if (status.consumer_lag) text += fmt::format(", lag {}", *status.consumer_lag);
  if (status.paused) text = "PAUSED, " + *status.paused + "; " + text;
  return text;
}

struct StatusReporter::Impl {
  Impl(boost::asio::io_context& io, Notifier& n, std::function<ServiceStatus()> s,
       std::chrono::milliseconds p)
      : timer(io), notifier(n), sample(std::move(s)), period(p) {}

  void arm() {
    timer.expires_after(period);
    timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec || !running) return;
      send();
      arm();
    });
  }

  void send() { notifier.status(format_status(sample())); }

  boost::asio::steady_timer timer;
  Notifier& notifier;
  std::function<ServiceStatus()> sample;
  std::chrono::milliseconds period;
  bool running = false;
};

StatusReporter::StatusReporter(boost::asio::io_context& io, Notifier& notifier,
                               std::function<ServiceStatus()> sample,
                               std::chrono::milliseconds period)
    : impl_(std::make_unique<Impl>(io, notifier, std::move(sample), period)) {}

StatusReporter::~StatusReporter() {
  stop();
}

void StatusReporter::start() {
  if (impl_->running) return;
  impl_->running = true;
  impl_->send();
  impl_->arm();
}

void StatusReporter::stop() {
  impl_->running = false;
  impl_->timer.cancel();
}

void StatusReporter::refresh() {
  impl_->send();
}

}  // namespace incidentd
