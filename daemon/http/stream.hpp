// The live stream behind GET /v1/stream (server-sent events, docs/http-api.md): each subscriber
// gets its scope's open incidents at once, again after any commit that changed an incident in its
// scope (coalesced: at most one such event per `min_interval`), a keepalive comment every
// `keepalive`, and the source-heartbeat status when it changes. Runs on the loop thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "incidentd/time.hpp"

namespace boost::asio {
class io_context;
}

namespace incidentd::http {

class StreamSink;

// Whether the monitoring source has gone quiet ([ingest] source_silence), and since when.
struct SourceStatus {
  bool silent = false;
  std::optional<TimePoint> since;  // the last event before the silence, or the return
};

class EventHub {
 public:
  struct Options {
    std::chrono::milliseconds min_interval{250};
    std::chrono::milliseconds keepalive{15000};
    std::chrono::minutes utc_offset{8 * 60};
  };
  // `incidents(unit)`: the body of GET /v1/incidents for a token of that unit ("" = operator).
  EventHub(boost::asio::io_context& io, std::function<std::string(const std::string&)> incidents,
           Options options);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // A new subscriber with its token's unit (""= every incident): its first event goes out now.
  void add(std::shared_ptr<StreamSink> sink, std::string unit);
  // After a commit: the units of each incident it changed.
  void changed(const std::vector<std::vector<std::string>>& units_of_changed);
  // The source heartbeat changed state: every subscriber hears it.
  void status(SourceStatus now);
  const SourceStatus& current_status() const { return status_; }
  std::size_t subscribers() const;
  // Ends every stream (shutdown).
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
  SourceStatus status_;
};

// "event: NAME\ndata: JSON\n\n"; JSON must be one line.
std::string sse_event(std::string_view name, std::string_view data);
// {"source_silent": bool, "since": RFC 3339 or null}
std::string source_status_json(const SourceStatus& status, std::chrono::minutes utc_offset);

}  // namespace incidentd::http
