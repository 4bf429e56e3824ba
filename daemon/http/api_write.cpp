// The API's writes onto the engine (docs/http-api.md): POST .../ack and .../releases, checked
// against the token's unit, flushed before they are answered; and what the other writes share:
// the JSON body, the incident that must be open, a full disk.
#include "http/api_routes.hpp"

#include <exception>

#include "incidentd/codec.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/store.hpp"

namespace incidentd::http::routes {

Response Api::unknown_incident(const std::string& key) {
  return Response::error(404, "unknown_incident", "no incident \"" + key + "\"");
}

// Another unit's incident is answered exactly as one that does not exist, before the body is
// looked at, so that no answer hints that it exists.
std::optional<Response> Api::hidden(const Principal& principal, const std::string& key) const {
  if (const IncidentState* live = c_.engine->find(key)) {
    if (principal.may_read(*live)) return std::nullopt;
  } else if (const auto stored = c_.store->load_incident(key);
             stored && principal.may_read(*stored)) {
    return std::nullopt;
  }
  return unknown_incident(key);
}

// 404 for an unknown incident, 409 for a closed one; nullopt when it is open: in the engine,
// or, for an incident another instance owns, in this instance's replica of it.
std::optional<Response> Api::require_open(const std::string& key) const {
  if (c_.engine->find(key) != nullptr) return std::nullopt;
  const auto stored = c_.store->load_incident(key);
  if (stored && stored->closed) {
    return Response::error(409, "incident_closed", "incident \"" + key + "\" is closed");
  }
  if (stored && !owned(key)) return std::nullopt;
  return Response::error(404, "unknown_incident", "no open incident \"" + key + "\"");
}

// Not applied here: the owner applies it when it consumes it, by the engine's own rules (a
// repeat is a duplicate there; a refusal goes to the dead-letter topic with its reason).
Response Api::forward(ForwardedInput input, json answer) const {
  const std::string key = input.incident_key();
  if (!c_.forward_input) {
    return Response::error(503, "not_owner",
                           "incident \"" + key +
                               "\" belongs to a partition this instance does not own, and this "
                               "instance cannot forward inputs to its owner");
  }
  input.from = c_.instance_id;
  answer["status"] = "forwarded";
  answer["kind"] = std::string(input.kind());
  answer["incident_key"] = key;
  std::string outcome = "/v1/incidents/";
  outcome.append(key);
  answer["outcome"] = outcome;
  std::string detail =
      "this instance does not own the incident: the input was published for the instance that "
      "does, which applies it; GET ";
  detail.append(outcome).append(
      " on any instance shows it in the timeline once applied (a refusal goes to the "
      "dead-letter topic with its reason)");
  answer["detail"] = detail;
  return Response::later(
      [publish = c_.forward_input, key, value = encode_forwarded_input(input),
       answer = std::move(answer)](const std::function<void(Response)>& respond) {
        publish(key, value, [respond, answer](const PublishOutcome& o) {
          if (!o.ok) {
            respond(Response::error(503, "forward_failed",
                                    "not forwarded to the incident's owner: " + o.error +
                                        "; send it again (a repeat changes nothing)"));
            return;
          }
          json done = answer;
          done["topic"] = o.topic;
          done["partition"] = o.partition;
          done["offset"] = o.offset;
          respond(json_response(202, done));
        });
      });
}

// The engine keeps the change and writes it when there is room (docs/reliability.md).
Response Api::disk_full(const StoreFullError& e) const {
  if (c_.on_store_failure) c_.on_store_failure(e);
  return Response::error(503, "disk_full",
                         std::string("not stored yet: ") + e.what() +
                             "; the change is kept and written when there is room again; "
                             "send it again later (a repeat changes nothing)");
}

// Flushes what the engine just did; nullopt when it is durable.
std::optional<Response> Api::flush() const {
  try {
    c_.engine->flush();
    return std::nullopt;
  } catch (const StoreFullError& e) {
    return disk_full(e);
  } catch (const std::exception& e) {
    if (c_.on_store_failure) c_.on_store_failure(e);
    return Response::error(503, "store_failed",
                           std::string("the change could not be stored: ") + e.what());
  }
}

std::optional<Response> Api::parse_object(const Request& request, json& out) {
  // With the bearer token in a header, this is what keeps other sites out: an HTML form can
  // send neither, and a cross-site script cannot without a CORS preflight, which this server
  // never grants (docs/http-api.md).
  if (!is_json_media_type(request.header("content-type"))) {
    return Response::error(415, "unsupported_media_type",
                           "send the body with \"Content-Type: application/json\"");
  }
  // nlohmann stops at a NUL byte; a body is one JSON value with nothing after it (codec.cpp).
  if (request.body.find('\0') != std::string::npos) {
    return Response::error(400, "malformed_json", "the request body holds a NUL byte");
  }
  out = json::parse(request.body, nullptr, false);
  if (out.is_discarded()) {
    return Response::error(400, "malformed_json", "the request body is not valid JSON");
  }
  if (!out.is_object()) {
    return Response::error(400, "malformed_json", "the request body must be a JSON object");
  }
  return std::nullopt;
}

Response Api::acknowledge(const std::string& key, const std::string& recipient, const char* via) {
  Acknowledgement ack;
  ack.incident_key = key;
  ack.recipient = recipient;
  ack.at = c_.time->now();
  ack.via = via;
  Outcome outcome;
  try {
    outcome = c_.engine->handle(ack);  // a step that acted is committed at once
  } catch (const StoreFullError& e) {
    return disk_full(e);
  }
  if (outcome.status == Outcome::Status::rejected) {
    return Response::error(422, "ack_rejected", outcome.reason);
  }
  if (auto failed = flush()) return *failed;
  const bool duplicate = outcome.status == Outcome::Status::duplicate;
  return json_response(200, {{"status", duplicate ? "already_acknowledged" : "acknowledged"},
                             {"incident_key", key},
                             {"recipient", recipient}});
}

Response Api::ack(const Request& request) {
  const auto who = authenticate(request);
  if (auto denied = std::get_if<Response>(&who)) return *denied;
  const Principal& principal = std::get<Principal>(who);
  if (auto missing = hidden(principal, request.params.at("key"))) return *missing;
  json body;
  if (auto bad = parse_object(request, body)) return *bad;
  if (!body.contains("recipient") || !body["recipient"].is_string() ||
      body["recipient"].get<std::string>().empty()) {
    return Response::error(422, "invalid_ack",
                           "field \"recipient\" (a person id from the roster) is required");
  }
  const std::string recipient = body["recipient"].get<std::string>();
  const auto roster = config();  // held while `unit` points into it
  const Unit* unit = roster->unit_of_person(recipient);
  if (unit == nullptr) {
    return Response::error(422, "invalid_ack", "unknown person \"" + recipient + "\"");
  }
  if (!principal.may_act_for(unit->id)) {
    return Response::error(403, "wrong_unit",
                           "token \"" + principal.name + "\" acts for unit \"" + principal.unit +
                               "\", not for \"" + unit->id + "\" (" + recipient + "'s unit)");
  }
  const std::string& key = request.params.at("key");
  if (auto missing = require_open(key)) return *missing;
  if (!owned(key)) {
    return forward({Acknowledgement{key, recipient, c_.time->now(), "http"}, {}},
                   {{"recipient", recipient}});
  }
  return acknowledge(key, recipient, "http");
}

Response Api::confirm(const Request& request) {
  const auto who = authenticate(request);
  if (auto denied = std::get_if<Response>(&who)) return *denied;
  const Principal& principal = std::get<Principal>(who);
  const std::string& key = request.params.at("key");
  if (auto missing = hidden(principal, key)) return *missing;
  json body;
  if (auto bad = parse_object(request, body)) return *bad;
  if (body.contains("incident_key") && body["incident_key"] != key) {
    return Response::error(
        422, "invalid_confirmation",
        "field \"incident_key\" differs from the incident in the path (\"" + key + "\")");
  }
  body["incident_key"] = key;
  if (!body.contains("schema")) body["schema"] = 1;
  Parsed<Confirmation> parsed = parse_confirmation(dump_line(body), *config());
  if (!parsed) return Response::error(422, "invalid_confirmation", parsed.error);
  Confirmation& confirmation = *parsed.value;
  if (!principal.may_act_for(confirmation.unit)) {
    return Response::error(403, "wrong_unit",
                           "token \"" + principal.name + "\" confirms for unit \"" +
                               principal.unit + "\" only, not for \"" + confirmation.unit + "\"");
  }
  if (auto missing = require_open(key)) return *missing;
  confirmation.via = "http";
  if (!owned(key)) {
    json answer = {{"confirmation_id", confirmation.confirmation_id},
                   {"milestone", to_string(confirmation.milestone)}};
    return forward({std::move(confirmation), {}}, std::move(answer));
  }
  const int round_before = c_.engine->find(key)->milestone(confirmation.milestone).round;
  Outcome outcome;
  try {
    outcome = c_.engine->handle(confirmation);  // a step that acted is committed at once
  } catch (const StoreFullError& e) {
    return disk_full(e);
  }
  if (outcome.status == Outcome::Status::rejected) {
    if (outcome.conflict) return Response::error(409, "confirmation_conflict", outcome.reason);
    return Response::error(422, "confirmation_rejected", outcome.reason);
  }
  if (auto failed = flush()) return *failed;
  json j = {{"status", outcome.status == Outcome::Status::duplicate ? "duplicate" : "accepted"},
            {"confirmation_id", confirmation.confirmation_id},
            {"incident_key", key},
            {"milestone", to_string(confirmation.milestone)}};
  if (const IncidentState* s = c_.engine->find(key)) {
    const MilestoneState& m = s->milestone(confirmation.milestone);
    // A met follow_up re-arms at once for its next round, so a new round also means met.
    j["milestone_met"] = m.met_at.has_value() || m.round > round_before;
  } else {
    j["milestone_met"] = false;
  }
  return json_response(outcome.status == Outcome::Status::duplicate ? 200 : 201, j);
}

}  // namespace incidentd::http::routes
