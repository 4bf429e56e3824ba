#include "http/api.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <variant>

#include "core/html_escape.hpp"
#include "crypto/crypto.hpp"
#include "http/ack_link.hpp"
#include "http/server.hpp"
#include "http/stream.hpp"
#include "incidentd/ack_link_log.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/incident_history.hpp"
#include "incidentd/incident_view.hpp"
#include "incidentd/manual_event.hpp"
#include "incidentd/store.hpp"

namespace incidentd::http {

using nlohmann::json;

std::string token_sha256(std::string_view token) {
  return to_hex(crypto::sha256(token));
}

namespace {

// Who a request acts for.
struct Principal {
  std::string name;
  std::string unit;  // empty: operator scope, any unit
  bool may_act_for(const std::string& u) const { return unit.empty() || unit == u; }
  // A unit reads the incidents it is responsible for; an operator reads all.
  bool may_read(const IncidentState& s) const {
    return unit.empty() || s.lead_unit == unit ||
           std::find(s.units.begin(), s.units.end(), unit) != s.units.end();
  }
};

// "application/json", optionally with parameters ("; charset=utf-8"), in any letter case.
bool is_json_media_type(std::string_view value) {
  const std::string_view type = value.substr(0, value.find(';'));
  const auto first = type.find_first_not_of(" \t");
  const auto last = type.find_last_not_of(" \t");
  if (first == std::string_view::npos) return false;
  const std::string_view trimmed = type.substr(first, last - first + 1);
  constexpr std::string_view kJson = "application/json";
  if (trimmed.size() != kJson.size()) return false;
  for (std::size_t i = 0; i < kJson.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(trimmed[i])) != kJson[i]) return false;
  }
  return true;
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Response json_response(int status, const json& j) {
  return Response::json_text(status, dump(j));
}

class Api {
 public:
  Api(ApiContext context, std::shared_ptr<const std::vector<HttpToken>> tokens)
      : c_(std::move(context)), tokens_(std::move(tokens)) {}

  std::variant<Principal, Response> authenticate(const Request& request) const {
    const std::string& header = request.header("authorization");
    if (header.empty()) {
      return Response::error(401, "unauthorized",
                             "no bearer token: send \"Authorization: Bearer <token>\"");
    }
    constexpr std::string_view kScheme = "Bearer ";
    if (header.size() <= kScheme.size() || header.compare(0, kScheme.size(), kScheme) != 0) {
      return Response::error(401, "unauthorized",
                             "the Authorization header is not \"Bearer <token>\"");
    }
    const std::string presented = token_sha256(std::string_view(header).substr(kScheme.size()));
    // Every configured hash is compared, each in constant time, so the timing says nothing about
    // which token was close.
    const HttpToken* found = nullptr;
    for (const HttpToken& token : *tokens_) {
      if (crypto::equal_in_constant_time(token.sha256, presented)) {
        found = &token;
      }
    }
    if (found == nullptr) {
      return Response::error(401, "unauthorized", "the bearer token is not recognised");
    }
    return Principal{found->name, found->unit};
  }

  // ---- reads ------------------------------------------------------------------------------

  json incident_json(const IncidentState& s) const {
    if (c_.history == nullptr) return incident_view(s, *config(), c_.time->now(), nullptr);
    const std::vector<Action> timeline = c_.history->timeline(s.key);
    return incident_view(s, *config(), c_.time->now(), &timeline);
  }

  // The body of GET /v1/incidents for a token of `unit` ("" = operator): the open incidents
  // that unit is responsible for. Also each `incidents` event of GET /v1/stream.
  std::string list_body(const std::string& unit, bool all = false) const {
    json incidents = json::array();
    for (const IncidentState& s : all&& c_.history != nullptr ? c_.history->load_all_incidents()
                                                              : c_.store->load_open_incidents()) {
      const IncidentState* live = c_.engine->find(s.key);
      const IncidentState& state = live != nullptr ? *live : s;
      if (!in_scope(state, unit)) continue;
      incidents.push_back(incident_json(state));
    }
    return dump({{"incidents", std::move(incidents)}});
  }

  static bool in_scope(const IncidentState& s, const std::string& unit) {
    return Principal{"", unit}.may_read(s);
  }

  Response list(const Request& request) const {
    const auto who = authenticate(request);
    if (auto denied = std::get_if<Response>(&who)) return *denied;
    const auto all = request.query.find("all");
    const bool everything = all != request.query.end() && all->second != "0";
    return Response::json_text(200, list_body(std::get<Principal>(who).unit, everything));
  }

  // Server-sent events: the list now, then again after every change in scope (EventHub).
  Response stream(const Request& request, const std::shared_ptr<EventHub>& hub) const {
    const auto who = authenticate(request);
    if (auto denied = std::get_if<Response>(&who)) return *denied;
    std::string unit = std::get<Principal>(who).unit;
    std::weak_ptr<EventHub> weak = hub;
    return Response::stream("text/event-stream",
                            [weak, unit = std::move(unit)](std::shared_ptr<StreamSink> sink) {
                              if (auto h = weak.lock()) h->add(std::move(sink), unit);
                            });
  }

  Response show(const Request& request) const {
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

  // ---- writes -----------------------------------------------------------------------------

  static Response unknown_incident(const std::string& key) {
    return Response::error(404, "unknown_incident", "no incident \"" + key + "\"");
  }

  // Another unit's incident is answered exactly as one that does not exist, before the body is
  // looked at, so that no answer hints that it exists.
  std::optional<Response> hidden(const Principal& principal, const std::string& key) const {
    if (const IncidentState* live = c_.engine->find(key)) {
      if (principal.may_read(*live)) return std::nullopt;
    } else if (const auto stored = c_.store->load_incident(key);
               stored && principal.may_read(*stored)) {
      return std::nullopt;
    }
    return unknown_incident(key);
  }

  // 404 for an unknown incident, 409 for a closed one; nullopt when it is open.
  std::optional<Response> require_open(const std::string& key) const {
    if (c_.engine->find(key) != nullptr) return std::nullopt;
    const auto stored = c_.store->load_incident(key);
    if (stored && stored->closed) {
      return Response::error(409, "incident_closed", "incident \"" + key + "\" is closed");
    }
    return Response::error(404, "unknown_incident", "no open incident \"" + key + "\"");
  }

  // The engine keeps the change and writes it when there is room (docs/reliability.md).
  Response disk_full(const StoreFullError& e) const {
    if (c_.on_store_failure) c_.on_store_failure(e);
    return Response::error(503, "disk_full",
                           std::string("not stored yet: ") + e.what() +
                               "; the change is kept and written when there is room again; "
                               "send it again later (a repeat changes nothing)");
  }

  // Flushes what the engine just did; nullopt when it is durable.
  std::optional<Response> flush() const {
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

  static std::optional<Response> parse_object(const Request& request, json& out) {
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

  Response acknowledge(const std::string& key, const std::string& recipient, const char* via) {
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

  Response ack(const Request& request) {
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
    return acknowledge(key, recipient, "http");
  }

  Response confirm(const Request& request) {
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
    Parsed<Confirmation> parsed = parse_confirmation(dump(body), *config());
    if (!parsed) return Response::error(422, "invalid_confirmation", parsed.error);
    Confirmation& confirmation = *parsed.value;
    if (!principal.may_act_for(confirmation.unit)) {
      return Response::error(403, "wrong_unit",
                             "token \"" + principal.name + "\" confirms for unit \"" +
                                 principal.unit + "\" only, not for \"" + confirmation.unit + "\"");
    }
    if (auto missing = require_open(key)) return *missing;
    confirmation.via = "http";
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

  // ---- incidents entered by hand ------------------------------------------------------------

  // A unit reports to the duty office, which enters the incident: only an operator token may.
  std::variant<Principal, Response> operator_only(const Request& request) const {
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
  static std::optional<std::string> read_manual_body(
      const json& body, std::initializer_list<std::string_view> allowed,
      std::initializer_list<std::string_view> required, ManualEvent& e,
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
        if (!level) return field + " must be one of I, II, III, IV (got " + dump(json(text)) + ")";
        e.level = *level;
      } else if (name == "detected_at") {
        detected_at = parse_rfc3339(text);
        if (!detected_at) {
          return field + " must be an RFC 3339 timestamp with an offset (got " + dump(json(text)) +
                 ")";
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
  Response publish_manual(ManualEvent e, const Principal& principal) const {
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

  Response open_manual(const Request& request) const {
    const auto who = operator_only(request);
    if (auto denied = std::get_if<Response>(&who)) return *denied;
    json body;
    if (auto bad = parse_object(request, body)) return *bad;
    ManualEvent e;
    e.kind = EventKind::detected;
    std::optional<TimePoint> detected_at;
    if (auto error =
            read_manual_body(body,
                             {"incident_key", "event_id", "level", "title", "category", "region",
                              "lead_unit", "units", "drill", "detected_at", "by"},
                             {"level", "title", "lead_unit"}, e, detected_at)) {
      return Response::error(422, "invalid_event", *error);
    }
    const TimePoint now = c_.time->now();
    e.detected_at = detected_at.value_or(now);
    if (e.incident_key.empty()) {
      e.incident_key = manual_incident_key(now, config()->utc_offset, random_suffix(4));
    } else if (c_.engine->find(e.incident_key) != nullptr ||
               c_.store->load_incident(e.incident_key)) {
      return Response::error(409, "incident_exists",
                             "incident \"" + e.incident_key +
                                 "\" exists already; change its level or close it instead");
    }
    return publish_manual(std::move(e), std::get<Principal>(who));
  }

  // close and level: the event carries the incident's units and lead unit as they stand.
  Response change_manual(const Request& request, EventKind kind) const {
    const auto who = operator_only(request);
    if (auto denied = std::get_if<Response>(&who)) return *denied;
    const std::string& key = request.params.at("key");
    if (auto missing = require_open(key)) return *missing;
    json body;
    if (auto bad = parse_object(request, body)) return *bad;
    const IncidentState& s = *c_.engine->find(key);
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

  // ---- one-click ack links ---------------------------------------------------------------
  //
  // GET (and HEAD) of a link shows who and what it is about and a button; only the POST that
  // button sends acknowledges, so a chat app's link preview or a mail scanner that opens the URL
  // acknowledges nothing. The token in the path is the capability: no further CSRF token, but a
  // POST whose Origin is present and not ours is refused.

  // The page for a link, or the page that says why it does not work.
  Response ack_link_page(const Request& request) const {
    const bool english = english_only(request);
    auto opened = open_link(request, english);
    if (auto* refused = std::get_if<Response>(&opened)) return *refused;
    const AckLink& link = std::get<AckLink>(opened);
    const LinkFacts facts = link_facts(link);
    const std::string action =
        "./" + html_escape(request.params.at("token")) + (english ? "?lang=en" : "");
    const std::string button = english ? "Acknowledge" : "确认收到 / Acknowledge";
    const std::string form = "<form method=\"post\" action=\"" + action +
                             "\"><button type=\"submit\">" + button + "</button></form>\n";
    const std::string zh =
        "<h1>确认收到预警</h1>\n" + facts.zh + form +
        "<p>点击上面的按钮，即表示您本人已看到这条预警。仅打开本页面不会确认。</p>\n";
    const std::string en = "<h1>Acknowledge an alert</h1>\n" + facts.en +
                           (english ? form : std::string()) + "<p>Pressing the button " +
                           (english ? "" : "above ") +
                           "says that you yourself have seen this alert. Opening this page alone "
                           "acknowledges nothing.</p>\n";
    return html_page(200, english, "确认收到预警", zh, "Acknowledge an alert", en);
  }

  Response ack_link_post(const Request& request) {
    const bool english = english_only(request);
    if (const std::string& origin = request.header("origin");
        !origin.empty() && !own_origin(origin, request.header("host"))) {
      return message_page(403, english, "请求被拒绝",
                          "此确认不是从本系统的页面提交的，未予处理。请直接打开通知中的链接。",
                          "Request refused",
                          "This acknowledgement was not sent from this service's own page and "
                          "was not recorded. Open the link in the notification itself.");
    }
    auto opened = open_link(request, english);
    if (auto* refused = std::get_if<Response>(&opened)) return *refused;
    const AckLink& link = std::get<AckLink>(opened);
    const Response done = acknowledge(link.incident_key, link.recipient, "link");
    if (done.status != 200) return failure_page(done, english);
    if (c_.used_links != nullptr) {
      try {
        // Recorded after the acknowledgement is durable: a crash in between lets the link work
        // once more, which acknowledges again and changes nothing.
        if (!c_.used_links->record_used_link(link.notification_id, link.incident_key,
                                             c_.time->now())) {
          return used_page(english);
        }
      } catch (const std::exception& e) {
        if (c_.on_store_failure) c_.on_store_failure(e);
        return failure_page(Response::error(503, "store_failed", e.what()), english);
      }
    }
    const LinkFacts facts = link_facts(link);
    return html_page(
        200, english, "已确认收到",
        "<h1>已确认收到</h1>\n" + facts.zh + "<p>已记录您的确认，不再重复提醒您。</p>\n",
        "Acknowledged",
        "<h1>Acknowledged</h1>\n" + facts.en +
            "<p>Your acknowledgement is recorded; you will not be reminded of this "
            "alert again.</p>\n");
  }

 private:
  static bool english_only(const Request& request) {
    const auto lang = request.query.find("lang");
    return lang != request.query.end() && lang->second == "en";
  }

  // The link if it may be used now, else the page that says why not.
  std::variant<AckLink, Response> open_link(const Request& request, bool english) const {
    if (c_.links == nullptr) {
      return message_page(404, english, "链接不可用",
                          "本系统未启用一键确认链接。请按短信提示回复，或联系值班台。",
                          "Link not available",
                          "One-click acknowledgement links are off on this service. Reply to "
                          "the SMS as it says, or call the duty desk.");
    }
    const auto verified = c_.links->verify(request.params.at("token"), c_.time->now());
    using Verdict = AckLinkSigner::Verdict;
    switch (verified.verdict) {
      case Verdict::malformed:
      case Verdict::forged:
        return message_page(403, english, "链接无效",
                            "此链接无效：它不完整或被改动过。请打开通知中的原始链接。",
                            "Invalid link",
                            "This link is not valid: it is incomplete or was altered. Open the "
                            "link exactly as the notification gave it.");
      case Verdict::expired: {
        const std::string at =
            html_escape(format_rfc3339(verified.link.expires_at, config()->utc_offset));
        return message_page(410, english, "链接已过期",
                            "此链接已于 " + at + " 过期。请按短信提示回复确认，或联系值班台。",
                            "Link expired",
                            "This link expired at " + at +
                                ". Acknowledge by replying to the SMS, or call the duty desk.");
      }
      case Verdict::ok:
        break;
    }
    const AckLink& link = verified.link;
    if (c_.used_links != nullptr && c_.used_links->is_link_used(link.notification_id)) {
      return used_page(english);
    }
    if (auto missing = require_open(link.incident_key)) return failure_page(*missing, english);
    return link;
  }

  // What a link is about, as a definition list in each language (escaped).
  struct LinkFacts {
    std::string zh;
    std::string en;
  };

  LinkFacts link_facts(const AckLink& link) const {
    std::string title;
    const PendingDelivery* delivery = nullptr;
    if (const IncidentState* s = c_.engine->find(link.incident_key)) {
      title = s->title;
      for (const PendingDelivery& d : s->deliveries) {
        // The notification id is alert_id + "/" + recipient + "/" + send number.
        const std::string prefix = d.alert_id + "/" + d.recipient + "/";
        if (d.recipient == link.recipient && link.notification_id.starts_with(prefix)) {
          delivery = &d;
        }
      }
    }
    const auto roster = config();  // held while `person` and `unit` point into it
    const Person* person = roster->find_person(link.recipient);
    const Unit* unit = roster->unit_of_person(link.recipient);
    const std::string who = html_escape(person != nullptr ? person->name : link.recipient) +
                            (unit != nullptr ? "（" + html_escape(unit->name) + "）" : "");
    const std::string who_en = html_escape(person != nullptr ? person->name : link.recipient) +
                               (unit != nullptr ? " (" + html_escape(unit->name) + ")" : "");
    const std::string incident = html_escape(title) + (title.empty() ? "" : " ") + "<code>" +
                                 html_escape(link.incident_key) + "</code>";
    std::string alert_zh = "通知 <code>" + html_escape(link.notification_id) + "</code>";
    std::string alert_en = "notification <code>" + html_escape(link.notification_id) + "</code>";
    if (delivery != nullptr) {
      const std::string due = html_escape(format_rfc3339(delivery->due, config()->utc_offset));
      const auto [cause_zh, cause_en] = cause_words(delivery->cause);
      alert_zh = std::string(milestone_zh(delivery->milestone)) + cause_zh + "，时限 " + due;
      alert_en = std::string(cause_en) + ", " + milestone_en(delivery->milestone) + ", due " + due;
    }
    return {"<dl><dt>事件</dt><dd>" + incident + "</dd><dt>预警</dt><dd>" + alert_zh +
                "</dd><dt>接收人</dt><dd>" + who + "</dd></dl>\n",
            "<dl><dt>Incident</dt><dd>" + incident + "</dd><dt>Alert</dt><dd>" + alert_en +
                "</dd><dt>Recipient</dt><dd>" + who_en + "</dd></dl>\n"};
  }

  static std::string_view milestone_zh(Milestone m) {
    switch (m) {
      case Milestone::first_release:
        return "首次权威信息发布";
      case Milestone::press_conference:
        return "新闻发布会";
      case Milestone::follow_up:
        return "持续发布";
    }
    return "发布";
  }

  static std::string milestone_en(Milestone m) {
    std::string words(to_string(m));
    for (char& ch : words) ch = ch == '_' ? ' ' : ch;
    return words;
  }

  static std::pair<std::string, std::string> cause_words(ActionKind cause) {
    switch (cause) {
      case ActionKind::warning:
        return {"时限预警", "deadline warning"};
      case ActionKind::target_missed:
        return {"已超目标时限", "target time missed"};
      case ActionKind::deadline_breached:
        return {"已超最迟时限", "deadline breached"};
      case ActionKind::escalated:
        return {"升级通知", "escalation"};
      default:
        return {"通知", "notice"};
    }
  }

  // Whether `origin` (an Origin header) is this service: the origin of public_url, or the
  // scheme and Host of the request itself.
  bool own_origin(const std::string& origin, const std::string& host) const {
    const auto lower = [](std::string text) {
      for (char& ch : text) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
      return text;
    };
    const std::string presented = lower(origin);
    const std::string public_url = config()->http.public_url;
    if (const std::size_t scheme = public_url.find("://"); scheme != std::string::npos) {
      const std::size_t path = public_url.find('/', scheme + 3);
      if (presented == lower(public_url.substr(0, path))) return true;
    }
    const bool tls = !config()->http.tls_cert.empty();
    return !host.empty() && presented == lower((tls ? "https://" : "http://") + host);
  }

  Response used_page(bool english) const {
    return message_page(409, english, "链接已使用",
                        "此链接已经用过一次，确认已记录，无需再次操作。", "Link already used",
                        "This link was used already: the acknowledgement is recorded, nothing "
                        "more is needed.");
  }

  // An API error (JSON) from acknowledge()/require_open() as a page with the same status.
  Response failure_page(const Response& failed, bool english) const {
    const json body = json::parse(failed.body, nullptr, false);
    const std::string detail =
        body.is_object() && body.contains("detail") && body["detail"].is_string()
            ? body["detail"].get<std::string>()
            : std::string();
    std::string zh = "无法确认。";
    if (failed.status == 404) zh = "找不到此链接所指的事件。";
    if (failed.status == 409) zh = "此事件已结束，无需确认。";
    if (failed.status == 503) zh = "系统暂时无法记录确认，请稍后再试，或联系值班台。";
    return message_page(failed.status, english, "无法确认", html_escape(zh), "Cannot acknowledge",
                        html_escape(detail));
  }

  // A page with one message (already escaped) in each language.
  static Response message_page(int status, bool english, std::string_view title_zh,
                               const std::string& text_zh, std::string_view title_en,
                               const std::string& text_en) {
    return html_page(status, english, title_zh,
                     "<h1>" + std::string(title_zh) + "</h1>\n<p>" + text_zh + "</p>\n", title_en,
                     "<h1>" + std::string(title_en) + "</h1>\n<p>" + text_en + "</p>\n");
  }

  // A self-contained page: Chinese first, English beneath; only English with ?lang=en. Nothing
  // is loaded from elsewhere, the URL (the capability) is not sent on as a Referer, and no other
  // site may frame the page or take its form.
  static Response html_page(int status, bool english, std::string_view title_zh,
                            const std::string& body_zh, std::string_view title_en,
                            const std::string& body_en) {
    std::string page = "<!DOCTYPE html>\n<html lang=\"";
    page += english ? "en" : "zh-CN";
    page +=
        "\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"robots\" content=\"noindex\">\n<title>";
    page += english ? title_en : title_zh;
    page +=
        "</title>\n<style>body{font-family:sans-serif;max-width:36em;margin:1em auto;padding:0 "
        "1em;line-height:1.5}dt{font-weight:bold}dd{margin:0 0 .5em 0}button{font-size:1.2em;"
        "padding:.5em 1.5em}section+section{border-top:1px solid #ccc;margin-top:2em;color:#444}"
        "</style>\n</head>\n<body>\n";
    if (!english) page += "<section>\n" + body_zh + "</section>\n";
    page += english ? "<section>\n" : "<section lang=\"en\">\n";
    page += body_en + "</section>\n</body>\n</html>\n";
    Response r = Response::text(status, std::move(page), "text/html; charset=utf-8");
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return r;
  }

 public:
  // ---- health and metrics -----------------------------------------------------------------

  Response ready(const SourceStatus& source) const {
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

  Response metrics(std::size_t requests, std::size_t refused, std::size_t streams) const {
    const MetricsSample sample = c_.sample ? c_.sample() : MetricsSample{};
    std::ostringstream out;
    const auto metric = [&out](std::string_view name, std::string_view type,
                               std::string_view help) {
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
    metric("incidentd_incidents_open", "gauge", "Open incidents.");
    out << "incidentd_incidents_open " << c_.engine->open_incidents() << '\n';
    metric("incidentd_deadlines_pending", "gauge", "Incidents with a pending ladder step.");
    out << "incidentd_deadlines_pending " << c_.engine->pending_deadlines() << '\n';
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
      out << "incidentd_notification_attempts_total{channel=\"" << label(key.first)
          << "\",outcome=\"" << label(key.second) << "\"} " << count << '\n';
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

 private:
  // The configuration for this request: a reload's snapshot reaches the next one.
  std::shared_ptr<const Config> config() const { return c_.config.get(); }

  ApiContext c_;
  // Read by every request, replaced by ApiControl on a reload; both on the loop thread.
  std::shared_ptr<const std::vector<HttpToken>> tokens_;
};

}  // namespace

ApiControl::ApiControl(std::shared_ptr<std::vector<HttpToken>> tokens,
                       std::shared_ptr<EventHub> hub)
    : tokens_(std::move(tokens)), hub_(std::move(hub)) {}

void ApiControl::incidents_changed(const std::vector<IncidentState>& committed) {
  if (hub_->subscribers() == 0) return;
  std::vector<std::vector<std::string>> units;
  units.reserve(committed.size());
  for (const IncidentState& s : committed) units.push_back(s.units);
  hub_->changed(units);
}

void ApiControl::source_status(bool silent, std::optional<TimePoint> since) {
  hub_->status(SourceStatus{silent, since});
}

void ApiControl::stop_streams() {
  hub_->stop();
}

void ApiControl::replace_tokens(std::vector<HttpToken> tokens) {
  *tokens_ = std::move(tokens);
}

std::size_t ApiControl::token_count() const {
  return tokens_->size();
}

ApiControl install_api(Server& server, ApiContext context) {
  auto tokens = std::make_shared<std::vector<HttpToken>>(context.config.get()->http.tokens);
  const auto offset = context.config.get()->utc_offset;
  auto api = std::make_shared<Api>(std::move(context), tokens);
  EventHub::Options hub_options;
  hub_options.utc_offset = offset;
  auto hub = std::make_shared<EventHub>(
      server.io(), [api](const std::string& unit) { return api->list_body(unit); }, hub_options);
  server.route("GET", "/healthz",
               [](const Request&) { return Response::json_text(200, R"({"status":"alive"})"); });
  server.route("GET", "/readyz",
               [api, hub](const Request&) { return api->ready(hub->current_status()); });
  server.route("GET", "/metrics", [api, &server](const Request&) {
    return api->metrics(server.requests_served(), server.connections_refused(),
                        server.open_streams());
  });
  server.route("GET", "/v1/incidents", [api](const Request& r) { return api->list(r); });
  server.route("GET", "/v1/stream", [api, hub](const Request& r) { return api->stream(r, hub); });
  server.route("GET", "/v1/incidents/{key}", [api](const Request& r) { return api->show(r); });
  server.route("POST", "/v1/incidents/{key}/ack", [api](const Request& r) { return api->ack(r); });
  server.route("POST", "/v1/incidents/{key}/releases",
               [api](const Request& r) { return api->confirm(r); });
  server.route("POST", "/v1/incidents", [api](const Request& r) { return api->open_manual(r); });
  server.route("POST", "/v1/incidents/{key}/close",
               [api](const Request& r) { return api->change_manual(r, EventKind::closed); });
  server.route("POST", "/v1/incidents/{key}/level",
               [api](const Request& r) { return api->change_manual(r, EventKind::updated); });
  server.route("GET", "/v1/ack/{token}", [api](const Request& r) { return api->ack_link_page(r); });
  server.route("POST", "/v1/ack/{token}",
               [api](const Request& r) { return api->ack_link_post(r); });
  return ApiControl(std::move(tokens), std::move(hub));
}

}  // namespace incidentd::http
