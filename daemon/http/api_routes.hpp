// Inside the HTTP API (api.hpp): the one object behind every route, shared by the files that
// hold its routes: api.cpp (bearer tokens and scopes, and the wiring), api_read.cpp (lists,
// one incident, health, metrics), api_write.cpp (acknowledge, confirm), api_manual.cpp
// (incidents entered by hand), api_ack_link.cpp (one-click ack links). Not for use elsewhere.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "http/ack_link.hpp"
#include "http/api.hpp"
#include "http/server.hpp"
#include "http/stream.hpp"
#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/forwarded_input.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/manual_event.hpp"

namespace incidentd {
class StoreFullError;
}  // namespace incidentd

namespace incidentd::http::routes {

using nlohmann::json;

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
bool is_json_media_type(std::string_view value);
Response json_response(int status, const json& j);

class Api {
 public:
  Api(ApiContext context, std::shared_ptr<const std::vector<HttpToken>> tokens)
      : c_(std::move(context)), tokens_(std::move(tokens)) {}

  // Bearer tokens (api.cpp).
  std::variant<Principal, Response> authenticate(const Request& request) const;

  // Reads, health and metrics (api_read.cpp).
  json incident_json(const IncidentState& s) const;
  std::string list_body(const std::string& unit, bool all = false) const;
  static bool in_scope(const IncidentState& s, const std::string& unit);
  Response list(const Request& request) const;
  Response stream(const Request& request, const std::shared_ptr<EventHub>& hub) const;
  Response show(const Request& request) const;
  Response ready(const SourceStatus& source) const;
  Response metrics(std::size_t requests, std::size_t refused, std::size_t streams) const;

  // Acknowledgements and release confirmations (api_write.cpp).
  static Response unknown_incident(const std::string& key);
  std::optional<Response> hidden(const Principal& principal, const std::string& key) const;
  std::optional<Response> require_open(const std::string& key) const;
  Response disk_full(const StoreFullError& e) const;
  std::optional<Response> flush() const;
  static std::optional<Response> parse_object(const Request& request, json& out);
  Response acknowledge(const std::string& key, const std::string& recipient, const char* via);
  Response ack(const Request& request);
  Response confirm(const Request& request);
  // An input for an incident another instance owns (api_write.cpp): published to the inputs
  // topic for its owner, answered 202 with `answer` and where it went once the broker has it.
  bool owned(const std::string& key) const { return !c_.owns || c_.owns(key); }
  Response forward(ForwardedInput input, json answer) const;

  // Incidents entered by hand (api_manual.cpp).
  std::variant<Principal, Response> operator_only(const Request& request) const;
  static std::optional<std::string> read_manual_body(
      const json& body, std::initializer_list<std::string_view> allowed,
      std::initializer_list<std::string_view> required, ManualEvent& e,
      std::optional<TimePoint>& detected_at);
  Response publish_manual(ManualEvent e, const Principal& principal) const;
  Response open_manual(const Request& request) const;
  Response change_manual(const Request& request, EventKind kind) const;

  // One-click ack links (api_ack_link.cpp).
  Response ack_link_page(const Request& request) const;
  Response ack_link_post(const Request& request);
  Response forward_link(const AckLink& link, bool english) const;
  static bool english_only(const Request& request);
  std::variant<AckLink, Response> open_link(const Request& request, bool english) const;
  // What a link is about, as a definition list in each language (escaped).
  struct LinkFacts {
    std::string zh;
    std::string en;
  };
  LinkFacts link_facts(const AckLink& link) const;
  static std::string_view milestone_zh(Milestone m);
  static std::string milestone_en(Milestone m);
  static std::pair<std::string, std::string> cause_words(ActionKind cause);
  bool own_origin(const std::string& origin, const std::string& host) const;
  Response used_page(bool english) const;
  Response failure_page(const Response& failed, bool english) const;
  static Response message_page(int status, bool english, std::string_view title_zh,
                               const std::string& text_zh, std::string_view title_en,
                               const std::string& text_en);
  static Response html_page(int status, bool english, std::string_view title_zh,
                            const std::string& body_zh, std::string_view title_en,
                            const std::string& body_en);

 private:
  // The configuration for this request: a reload's snapshot reaches the next one.
  std::shared_ptr<const Config> config() const { return c_.config.get(); }

  ApiContext c_;
  // Read by every request, replaced by ApiControl on a reload; both on the loop thread.
  std::shared_ptr<const std::vector<HttpToken>> tokens_;
};
}  // namespace incidentd::http::routes
