#include "http/api.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <memory>
#include <sstream>
#include <variant>

#include "http/ack_link.hpp"
#include "http/server.hpp"
#include "http/stream.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/incident_view.hpp"
#include "incidentd/store.hpp"

namespace incidentd::http {

using nlohmann::json;

std::string token_sha256(std::string_view token) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(token.data(), token.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

namespace {

// Who a request acts for.
struct Principal {
  std::string name;
  std::string unit;  // empty: operator scope, any unit
  bool may_act_for(const std::string& u) const { return unit.empty() || unit == u; }
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
      if (token.sha256.size() == presented.size() &&
          CRYPTO_memcmp(token.sha256.data(), presented.data(), presented.size()) == 0) {
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
    if (!c_.timeline) return incident_view(s, *c_.config, c_.time->now(), nullptr);
    const std::vector<Action> timeline = c_.timeline(s.key);
    return incident_view(s, *c_.config, c_.time->now(), &timeline);
  }

  // The body of GET /v1/incidents for a token of `unit` ("" = operator): the open incidents
  // that unit is responsible for. Also each `incidents` event of GET /v1/stream.
  std::string list_body(const std::string& unit, bool all = false) const {
    json incidents = json::array();
    for (const IncidentState& s :
         all&& c_.all_incidents ? c_.all_incidents() : c_.store->load_open_incidents()) {
      const IncidentState* live = c_.engine->find(s.key);
      const IncidentState& state = live != nullptr ? *live : s;
      if (!in_scope(state, unit)) continue;
      incidents.push_back(incident_json(state));
    }
    return dump({{"incidents", std::move(incidents)}});
  }

  static bool in_scope(const IncidentState& s, const std::string& unit) {
    return unit.empty() || std::find(s.units.begin(), s.units.end(), unit) != s.units.end();
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
    return Response::stream("text/event-stream; charset=utf-8",
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
    if (!state || !in_scope(*state, std::get<Principal>(who).unit)) {
      return Response::error(404, "unknown_incident", "no incident \"" + key + "\"");
    }
    json j = incident_json(*state);
    if (c_.timeline) {
      json timeline = json::array();
      for (const Action& a : c_.timeline(key)) {
        timeline.push_back(to_json(a, c_.config->utc_offset));
      }
      j["timeline"] = std::move(timeline);
    }
    return json_response(200, j);
  }

  // ---- writes -----------------------------------------------------------------------------

  // 404 for an unknown incident, 409 for a closed one; nullopt when it is open.
  std::optional<Response> require_open(const std::string& key) const {
    if (c_.engine->find(key) != nullptr) return std::nullopt;
    const auto stored = c_.store->load_incident(key);
    if (stored && stored->closed) {
      return Response::error(409, "incident_closed", "incident \"" + key + "\" is closed");
    }
    return Response::error(404, "unknown_incident", "no open incident \"" + key + "\"");
  }

  // Flushes what the engine just did; nullopt when it is durable.
  std::optional<Response> flush() const {
    try {
      c_.engine->flush();
      return std::nullopt;
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
    const Outcome outcome = c_.engine->handle(ack);
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
    json body;
    if (auto bad = parse_object(request, body)) return *bad;
    if (!body.contains("recipient") || !body["recipient"].is_string() ||
        body["recipient"].get<std::string>().empty()) {
      return Response::error(422, "invalid_ack",
                             "field \"recipient\" (a person id from the roster) is required");
    }
    const std::string recipient = body["recipient"].get<std::string>();
    const Unit* unit = c_.config->unit_of_person(recipient);
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
    json body;
    if (auto bad = parse_object(request, body)) return *bad;
    const std::string& key = request.params.at("key");
    if (body.contains("incident_key") && body["incident_key"] != key) {
      return Response::error(
          422, "invalid_confirmation",
          "field \"incident_key\" differs from the incident in the path (\"" + key + "\")");
    }
    body["incident_key"] = key;
    if (!body.contains("schema")) body["schema"] = 1;
    Parsed<Confirmation> parsed = parse_confirmation(dump(body), *c_.config);
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
    const Outcome outcome = c_.engine->handle(confirmation);
    if (outcome.status == Outcome::Status::rejected) {
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

  Response ack_link(const Request& request) {
    if (c_.links == nullptr) {
      return Response::error(404, "ack_links_off",
                             "one-click ack links are off (no [http] link_secret_file)");
    }
    const auto verified = c_.links->verify(request.params.at("token"), c_.time->now());
    using Verdict = AckLinkSigner::Verdict;
    switch (verified.verdict) {
      case Verdict::malformed:
      case Verdict::forged:
        return Response::error(403, "invalid_link", verified.detail);
      case Verdict::expired:
        return Response::error(410, "link_expired",
                               verified.detail + " at " +
                                   format_rfc3339(verified.link.expires_at, c_.config->utc_offset) +
                                   "; acknowledge by SMS reply or ask the duty desk");
      case Verdict::ok:
        break;
    }
    const AckLink& link = verified.link;
    if (c_.link_used && c_.link_used(link.notification_id)) {
      return Response::error(409, "link_used", "this link was used already");
    }
    if (auto missing = require_open(link.incident_key)) return *missing;
    Response r = acknowledge(link.incident_key, link.recipient, "link");
    if (r.status == 200 && c_.record_link) {
      try {
        // Recorded after the acknowledgement is durable: a crash in between lets the link work
        // once more, which acknowledges again and changes nothing.
        if (!c_.record_link(link.notification_id, link.incident_key, c_.time->now())) {
          return Response::error(409, "link_used", "this link was used already");
        }
      } catch (const std::exception& e) {
        if (c_.on_store_failure) c_.on_store_failure(e);
        return Response::error(503, "store_failed", e.what());
      }
    }
    return r;
  }

  // ---- health and metrics -----------------------------------------------------------------

  Response ready() const {
    if (c_.ready && !c_.ready()) {
      return Response::error(503, "not_ready",
                             "not ready: the consumer is not subscribed or the store is not open");
    }
    return json_response(200, {{"status", "ready"}});
  }

  Response metrics(std::size_t requests, std::size_t streams) const {
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
    metric("incidentd_consumer_lag", "gauge", "Kafka messages not yet consumed.");
    if (sample.consumer_lag) out << "incidentd_consumer_lag " << *sample.consumer_lag << '\n';
    metric("incidentd_dead_letters_total", "counter", "Events sent to the dead-letter topic.");
    out << "incidentd_dead_letters_total " << sample.dead_letters << '\n';
    metric("incidentd_http_requests_total", "counter", "HTTP requests answered.");
    out << "incidentd_http_requests_total " << requests << '\n';
    metric("incidentd_http_streams_open", "gauge", "Clients of GET /v1/stream.");
    out << "incidentd_http_streams_open " << streams << '\n';
    return Response::text(200, out.str(), "text/plain; version=0.0.4; charset=utf-8");
  }

 private:
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
  auto tokens = std::make_shared<std::vector<HttpToken>>(context.config->http.tokens);
  const auto offset = context.config->utc_offset;
  auto api = std::make_shared<Api>(std::move(context), tokens);
  EventHub::Options hub_options;
  hub_options.utc_offset = offset;
  auto hub = std::make_shared<EventHub>(
      server.io(), [api](const std::string& unit) { return api->list_body(unit); }, hub_options);
  server.route("GET", "/healthz",
               [](const Request&) { return Response::json_text(200, R"({"status":"alive"})"); });
  server.route("GET", "/readyz", [api](const Request&) { return api->ready(); });
  server.route("GET", "/metrics", [api, &server](const Request&) {
    return api->metrics(server.requests_served(), server.open_streams());
  });
  server.route("GET", "/v1/incidents", [api](const Request& r) { return api->list(r); });
  server.route("GET", "/v1/stream", [api, hub](const Request& r) { return api->stream(r, hub); });
  server.route("GET", "/v1/incidents/{key}", [api](const Request& r) { return api->show(r); });
  server.route("POST", "/v1/incidents/{key}/ack", [api](const Request& r) { return api->ack(r); });
  server.route("POST", "/v1/incidents/{key}/releases",
               [api](const Request& r) { return api->confirm(r); });
  server.route("GET", "/v1/ack/{token}", [api](const Request& r) { return api->ack_link(r); });
  return ApiControl(std::move(tokens), std::move(hub));
}

}  // namespace incidentd::http
