// The webhook receiver of the benchmarks that time notifications on the wire: a plain-socket
// HTTP/1.1 server on 127.0.0.1 (a free port), one thread, one connection at a time (each request
// is a few hundred bytes and the daemon opens a connection per notification). It answers 204,
// closes, and records when each request had been read whole, on both clocks, with its body.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace incidentd::bench {

struct Arrival {
  std::chrono::steady_clock::time_point at;    // the whole request read
  std::chrono::system_clock::time_point wall;  // the same instant, to compare with due instants
  std::string incident_key;
  std::string notification_id;
  nlohmann::json body;  // the generic webhook body (docs/notifications.md)
};

class WebhookReceiver {
 public:
  // Throws std::runtime_error when it cannot listen.
  WebhookReceiver();
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  int port() const { return port_; }

  // Every request with a generic JSON body naming an incident, in the order they came.
  std::vector<Arrival> arrivals();
  // The first of those per incident key.
  std::map<std::string, Arrival> first_by_incident();
  std::size_t requests();
  // Requests whose body was not generic JSON with an incident_key.
  std::size_t bad();

 private:
  void run();
  void serve(int c);

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<Arrival> arrivals_;
  std::map<std::string, Arrival> first_;
  std::size_t requests_ = 0;
  std::size_t bad_ = 0;
  std::thread thread_;  // last: it runs on the members above
};

}  // namespace incidentd::bench
