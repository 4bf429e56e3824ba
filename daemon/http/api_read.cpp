// The API's reads (docs/http-api.md): GET /v1/incidents and /v1/incidents/{key}, each within
// the token's scope, the list again on GET /v1/stream, and /readyz and /metrics.
#include "http/api_routes.hpp"

#include <chrono>
#include <sstream>

#include "incidentd/codec.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/incident_history.hpp"
#include "incidentd/incident_view.hpp"
#include "incidentd/store.hpp"

namespace incidentd::http::routes {

json Api::incident_json(const IncidentState& s) const {
  if (c_.history == nullptr) return incident_view(s, *config(), c_.time->now(), nullptr);
  const std::vector<Action> timeline = c_.history->timeline(s.key);
  return incident_view(s, *config(), c_.time->now(), &timeline);
}

// The body of GET /v1/incidents for a token of `unit` ("" = operator): the open incidents
// that unit is responsible for. Also each `incidents` event of GET /v1/stream.
std::string Api::list_body(const std::string& unit, bool all) const {
  json incidents = json::array();
  for (const IncidentState& s : all&& c_.history != nullptr ? c_.history->load_all_incidents()
                                                            : c_.store->load_open_incidents()) {
    const IncidentState* live = c_.engine->find(s.key);
    const IncidentState& state = live != nullptr ? *live : s;
    if (!in_scope(state, unit)) continue;
    incidents.push_back(incident_json(state));
  }
  return dump_line({{"incidents", std::move(incidents)}});
}

bool Api::in_scope(const IncidentState& s, const std::string& unit) {
  return Principal{"", unit}.may_read(s);
}

Response Api::list(const Request& request) const {
  const auto who = authenticate(request);
  if (auto denied = std::get_if<Response>(&who)) return *denied;
  const auto all = request.query.find("all");
  const bool everything = all != request.query.end() && all->second != "0";
  return Response::json_text(200, list_body(std::get<Principal>(who).unit, everything));
}

// Server-sent events: the list now, then again after every change in scope (EventHub).
Response Api::stream(const Request& request, const std::shared_ptr<EventHub>& hub) const {
  const auto who = authenticate(request);
  if (auto denied = std::get_if<Response>(&who)) return *denied;
  std::string unit = std::get<Principal>(who).unit;
  std::weak_ptr<EventHub> weak = hub;
  return Response::stream("text/event-stream",
                          [weak, unit = std::move(unit)](std::shared_ptr<StreamSink> sink) {
                            if (auto h = weak.lock()) h->add(std::move(sink), unit);
                          });
}

Response Api::show(const Request& request) const {
  const auto who = authenticate(request);
  if (auto denied = std::get_if<Response>(&who)) return *denied;
  const std::string& key = request.params.at("key");
  std::optional<IncidentState> state;
  if (const IncidentState* live = c_.engine->find(key)) {
    state = *live;
  } else {
    state = c_.store->load_incident(key);
  }
  if (!state || !std::get<Principal>(who).may_read(*state)) return unknown_incident(key);
  json j = incident_json(*state);
  if (c_.history != nullptr) {
    json timeline = json::array();
    for (const Action& a : c_.history->timeline(key)) {
      timeline.push_back(to_json(a, config()->utc_offset));
    }
    j["timeline"] = std::move(timeline);
  }
  return json_response(200, j);
}

Response Api::ready(const SourceStatus& source) const {
  // "ready" and "reason" for probes and scripts; "error" and "detail" as every other error.
  const auto not_ready = [](const std::string& reason) {
    return json_response(
        503, {{"ready", false}, {"reason", reason}, {"error", "not_ready"}, {"detail", reason}});
  };
  if (c_.unready_reason) {
    if (auto reason = c_.unready_reason()) return not_ready(*reason);
  }
  if (c_.ready && !c_.ready()) {
    return not_ready("the consumer is not subscribed or the store is not open");
  }
  json body = {{"status", "ready"}, {"ready", true}};
  // A silent source does not make the daemon unready (a restart would not bring events back):
  // it is said beside, as on the stream, when the heartbeat is on.
  if (config()->ingest.source_silence > Duration{0}) {
    body["source"] = json::parse(source_status_json(source, config()->utc_offset));
  }
  return json_response(200, body);
}

Response Api::metrics(std::size_t requests, std::size_t refused, std::size_t streams) const {
  const MetricsSample sample = c_.sample ? c_.sample() : MetricsSample{};
  std::ostringstream out;
  const auto metric = [&out](std::string_view name, std::string_view type, std::string_view help) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  const auto label = [](std::string_view value) {
    std::string escaped;
    for (char ch : value) {
      if (ch == '\\' || ch == '"') escaped += '\\';
      if (ch == '\n') {
        escaped += "\\n";
        continue;
      }
      escaped += ch;
    }
    return escaped;
  };
  const auto seconds = [](Duration d) { return std::chrono::duration<double>(d).count(); };
  metric("incidentd_incidents_open", "gauge", "Open incidents.");
  out << "incidentd_incidents_open " << c_.engine->open_incidents() << '\n';
  metric("incidentd_deadlines_pending", "gauge", "Incidents with a pending ladder step.");
  out << "incidentd_deadlines_pending " << c_.engine->pending_deadlines() << '\n';
  metric("incidentd_step_lateness_seconds", "histogram",
         "How late the clock acted on an incident that fell due (catch-up after downtime "
         "included).");
  const Engine::StepLateness& late = c_.engine->step_lateness();
  for (std::size_t i = 0; i < late.kBounds.size(); ++i) {
    out << "incidentd_step_lateness_seconds_bucket{le=\"" << seconds(late.kBounds[i]) << "\"} "
        << late.within[i] << '\n';
  }
  out << "incidentd_step_lateness_seconds_bucket{le=\"+Inf\"} " << late.count << '\n';
  out << "incidentd_step_lateness_seconds_sum " << seconds(late.sum) << '\n';
  out << "incidentd_step_lateness_seconds_count " << late.count << '\n';
  metric("incidentd_deadline_breaches_total", "counter", "Deadlines breached.");
  out << "incidentd_deadline_breaches_total " << sample.deadline_breaches << '\n';
  metric("incidentd_notifications_total", "counter", "Notifications by channel and outcome.");
  for (const auto& [key, count] : sample.notifications) {
    out << "incidentd_notifications_total{channel=\"" << label(key.first) << "\",outcome=\""
        << label(key.second) << "\"} " << count << '\n';
  }
  metric("incidentd_notification_attempts_total", "counter",
         "Delivery attempts since start by channel and outcome.");
  for (const auto& [key, count] : sample.attempts) {
    out << "incidentd_notification_attempts_total{channel=\"" << label(key.first) << "\",outcome=\""
        << label(key.second) << "\"} " << count << '\n';
  }
  metric("incidentd_consumer_lag", "gauge", "Kafka messages not yet consumed.");
  if (sample.consumer_lag) out << "incidentd_consumer_lag " << *sample.consumer_lag << '\n';
  metric("incidentd_dead_letters_total", "counter", "Events sent to the dead-letter topic.");
  out << "incidentd_dead_letters_total " << sample.dead_letters << '\n';
  if (sample.source_silent) {
    metric("incidentd_source_silent", "gauge",
           "1 while no message has arrived on the events topic for [ingest] source_silence.");
    out << "incidentd_source_silent " << (*sample.source_silent ? 1 : 0) << '\n';
    metric("incidentd_source_last_event_timestamp_seconds", "gauge",
           "When the last message arrived on the events topic (this run).");
    if (sample.source_last_event) {
      out << "incidentd_source_last_event_timestamp_seconds "
          << std::chrono::duration_cast<std::chrono::seconds>(
                 sample.source_last_event->time_since_epoch())
                 .count()
          << '\n';
    }
  }
  metric("incidentd_disk_full", "gauge",
         "1 while paused on a full database disk (consuming stopped, see /readyz).");
  out << "incidentd_disk_full " << (sample.disk_full.paused ? 1 : 0) << '\n';
  metric("incidentd_disk_full_pauses_total", "counter", "Pauses on a full database disk.");
  out << "incidentd_disk_full_pauses_total " << sample.disk_full.pauses << '\n';
  metric("incidentd_disk_full_seconds_total", "counter",
         "Seconds paused on a full database disk, the current pause included.");
  out << "incidentd_disk_full_seconds_total "
      << std::chrono::duration<double>(sample.disk_full.paused_for).count() << '\n';
  metric("incidentd_disk_full_retries_total", "counter",
         "Commits retried during a pause that found the disk still full.");
  out << "incidentd_disk_full_retries_total " << sample.disk_full.retries << '\n';
  metric("incidentd_http_requests_total", "counter", "HTTP requests answered.");
  out << "incidentd_http_requests_total " << requests << '\n';
  metric("incidentd_http_connections_refused_total", "counter",
         "HTTP connections closed unanswered: a connection limit was reached.");
  out << "incidentd_http_connections_refused_total " << refused << '\n';
  metric("incidentd_http_streams_open", "gauge", "Clients of GET /v1/stream.");
  out << "incidentd_http_streams_open " << streams << '\n';
  return Response::text(200, out.str(), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace incidentd::http::routes
