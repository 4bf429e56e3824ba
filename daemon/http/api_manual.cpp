// Incidents entered by hand (docs/http-api.md): POST /v1/incidents, .../close and .../level, for
// an operator token only. The event is published to the events topic and answered 202 once the
// broker has it; the engine acts on it when it is consumed, like any other.
#include "http/api_routes.hpp"

#include <algorithm>
#include <functional>

#include "incidentd/codec.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/store.hpp"

namespace incidentd::http::routes {

// A unit reports to the duty office, which enters the incident: only an operator token may.
std::variant<Principal, Response> Api::operator_only(const Request& request) const {
  auto who = authenticate(request);
  if (const auto* p = std::get_if<Principal>(&who); p != nullptr && !p->unit.empty()) {
    return Response::error(403, "operator_only",
                           "token \"" + p->name + "\" acts for unit \"" + p->unit +
                               "\"; only an operator token enters incidents by hand");
  }
  return who;
}

// The body's fields into `e`. A field not in `allowed` is refused, so a misspelt one is not
// silently left out of the event. nullopt: read.
std::optional<std::string> Api::read_manual_body(const json& body,
                                                 std::initializer_list<std::string_view> allowed,
                                                 std::initializer_list<std::string_view> required,
                                                 ManualEvent& e,
                                                 std::optional<TimePoint>& detected_at) {
  std::string names;
  for (auto name : allowed) {
    if (!names.empty()) names += ", ";
    names += name;
  }
  for (const auto& [name, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string error = "unknown field \"";
      error += name;
      error += "\" (this request takes ";
      error += names;
      error += ")";
      return error;
    }
    if (value.is_null()) continue;
    const std::string field = "field \"" + name + "\"";
    if (name == "drill") {
      if (!value.is_boolean()) return field + " must be a boolean";
      e.drill = value.get<bool>();
      continue;
    }
    if (name == "units") {
      if (!value.is_array()) return field + " must be an array of unit ids";
      e.units.clear();
      for (const json& u : value) {
        if (!u.is_string()) return field + " must be an array of unit ids";
        e.units.push_back(u.get<std::string>());
      }
      continue;
    }
    if (!value.is_string()) return field + " must be a string";
    const std::string text = value.get<std::string>();
    if (name == "level") {
      const auto level = parse_level(text);
      if (!level)
        return field + " must be one of I, II, III, IV (got " + dump_line(json(text)) + ")";
      e.level = *level;
    } else if (name == "detected_at") {
      detected_at = parse_rfc3339(text);
      if (!detected_at) {
        return field + " must be an RFC 3339 timestamp with an offset (got " +
               dump_line(json(text)) + ")";
      }
    } else if (name == "incident_key") {
      e.incident_key = text;
    } else if (name == "event_id") {
      e.event_id = text;
    } else if (name == "title") {
      e.title = text;
    } else if (name == "category") {
      e.category = text;
    } else if (name == "region") {
      e.region = text;
    } else if (name == "lead_unit") {
      e.lead_unit = text;
    } else if (name == "by") {
      e.by = text;
    }
  }
  for (auto name : required) {
    const auto it = body.find(std::string(name));
    if (it == body.end() || it->is_null()) {
      return "field \"" + std::string(name) + "\" is required";
    }
  }
  return std::nullopt;
}

// Publishes the event and answers once the broker has it (202), or could not take it (503).
Response Api::publish_manual(ManualEvent e, const Principal& principal) const {
  if (!c_.publish_event) {
    return Response::error(503, "publishing_off", "this daemon has no producer for events");
  }
  if (e.by.empty()) e.by = principal.name;
  e.via = "http";
  e.token = principal.name;
  if (e.event_id.empty()) e.event_id = manual_event_id(e.incident_key, random_suffix(8));
  Parsed<std::string> text = manual_event_json(e, *config(), config()->utc_offset);
  if (!text) return Response::error(422, "invalid_event", text.error);
  return Response::later([publish = c_.publish_event, key = e.incident_key,
                          value = std::move(*text.value), event_id = e.event_id,
                          kind = std::string(to_string(e.kind))](
                             const std::function<void(Response)>& answer) {
    publish(key, value, [answer, key, event_id, kind](const PublishOutcome& o) {
      if (!o.ok) {
        answer(Response::error(503, "publish_failed", "the event was not published: " + o.error));
        return;
      }
      answer(json_response(202, {{"status", "published"},
                                 {"event_id", event_id},
                                 {"incident_key", key},
                                 {"kind", kind},
                                 {"topic", o.topic},
                                 {"partition", o.partition},
                                 {"offset", o.offset}}));
    });
  });
}

Response Api::open_manual(const Request& request) const {
  const auto who = operator_only(request);
  if (auto denied = std::get_if<Response>(&who)) return *denied;
  json body;
  if (auto bad = parse_object(request, body)) return *bad;
  ManualEvent e;
  e.kind = EventKind::detected;
  std::optional<TimePoint> detected_at;
  if (auto error = read_manual_body(body,
                                    {"incident_key", "event_id", "level", "title", "category",
                                     "region", "lead_unit", "units", "drill", "detected_at", "by"},
                                    {"level", "title", "lead_unit"}, e, detected_at)) {
    return Response::error(422, "invalid_event", *error);
  }
  const TimePoint now = c_.time->now();
  e.detected_at = detected_at.value_or(now);
  if (e.incident_key.empty()) {
    e.incident_key = manual_incident_key(now, config()->utc_offset, random_suffix(4));
  } else if (c_.engine->find(e.incident_key) != nullptr ||
             c_.store->load_incident(e.incident_key)) {
    return Response::error(
        409, "incident_exists",
        "incident \"" + e.incident_key + "\" exists already; change its level or close it instead");
  }
  return publish_manual(std::move(e), std::get<Principal>(who));
}

// close and level: the event carries the incident's units and lead unit as they stand.
Response Api::change_manual(const Request& request, EventKind kind) const {
  const auto who = operator_only(request);
  if (auto denied = std::get_if<Response>(&who)) return *denied;
  const std::string& key = request.params.at("key");
  if (auto missing = require_open(key)) return *missing;
  json body;
  if (auto bad = parse_object(request, body)) return *bad;
  // The engine's, or the replica's copy of an incident another instance owns (require_open).
  const IncidentState* live = c_.engine->find(key);
  const std::optional<IncidentState> replica =
      live != nullptr ? std::nullopt : c_.store->load_incident(key);
  const IncidentState& s = live != nullptr ? *live : *replica;
  ManualEvent e;
  e.kind = kind;
  e.incident_key = key;
  e.level = s.level;
  e.lead_unit = s.lead_unit;
  e.units = s.units;
  e.drill = s.drill;
  std::optional<TimePoint> detected_at;
  const auto error =
      kind == EventKind::closed
          ? read_manual_body(body, {"event_id", "detected_at", "by"}, {}, e, detected_at)
          : read_manual_body(body, {"level", "event_id", "detected_at", "by"}, {"level"}, e,
                             detected_at);
  if (error) return Response::error(422, "invalid_event", *error);
  if (kind == EventKind::updated && e.level == s.level) {
    return Response::error(
        409, "same_level",
        "incident \"" + key + "\" is level " + std::string(to_string(s.level)) + " already");
  }
  e.detected_at = detected_at.value_or(c_.time->now());
  return publish_manual(std::move(e), std::get<Principal>(who));
}

}  // namespace incidentd::http::routes
