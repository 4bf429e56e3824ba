// What the daemon tells `systemctl status` it is doing (STATUS=): open incidents, pending
// deadlines and consumer lag, refreshed from the loop. The wording is fixed here so operators,
// scripts and the systemd integration test read one format.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace boost::asio {
class io_context;
}

namespace incidentd {

class Notifier;

struct ServiceStatus {
  std::size_t open_incidents = 0;
  std::size_t pending_deadlines = 0;
  std::optional<std::int64_t> consumer_lag;          // messages behind, when the consumer knows it
  std::optional<std::string> paused = std::nullopt;  // why it is paused ("disk full: FILE")
};

// "3 open incidents, 12 pending deadlines, lag 0" (lag left out when unknown); while paused
// "PAUSED, disk full: /var/lib/incidentd/incidentd.db; 3 open incidents, ...".

std::string format_status(const ServiceStatus& status);

// Sends STATUS= now and then every `period` from the loop, from what `sample` returns.
class StatusReporter {
 public:
  StatusReporter(boost::asio::io_context& io, Notifier& notifier,
                 std::function<ServiceStatus()> sample,
                 std::chrono::milliseconds period = std::chrono::seconds(5));
  ~StatusReporter();
  StatusReporter(const StatusReporter&) = delete;
  StatusReporter& operator=(const StatusReporter&) = delete;

  void start();
  void stop();
  // Sends the current status at once (after a reload, a batch, a state change).
  void refresh();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace incidentd
