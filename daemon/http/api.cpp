// The HTTP API's front (api.hpp): bearer tokens and the scope they give, the routes wired onto
// the server, and what the daemon may change while it runs (ApiControl). The routes themselves
// are in api_read.cpp, api_write.cpp, api_manual.cpp and api_ack_link.cpp (api_routes.hpp).
#include "http/api.hpp"

#include <cctype>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "crypto/crypto.hpp"
#include "http/api_routes.hpp"
#include "http/server.hpp"
#include "http/stream.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"
#include "incidentd/incident.hpp"

namespace incidentd::http {

std::string token_sha256(std::string_view token) {
  return to_hex(crypto::sha256(token));
}

namespace routes {

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

Response json_response(int status, const json& j) {
  return Response::json_text(status, dump_line(j));
}

std::variant<Principal, Response> Api::authenticate(const Request& request) const {
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

}  // namespace routes

using routes::Api;
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
