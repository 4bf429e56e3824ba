#include "http/client.hpp"

#include <stdexcept>

#include "incidentd/url.hpp"
#include "net/http_client.hpp"

namespace incidentd::http {

namespace {

net::HttpRequest to_http_request(const ClientRequest& r) {
  const std::optional<Url> base = parse_url(r.base_url);
  if (!base) {
    throw std::runtime_error("the API URL must be an http:// or https:// URL with a host, got \"" +
                             r.base_url + "\"");
  }
  net::HttpRequest out;
  out.method = r.method;
  out.url = *base;
  out.url.target = r.target;
  out.user_agent = "incidentctl";
  out.timeout = r.timeout;
  out.max_body_bytes = 0;  // the daemon's own answers: a long list is still an answer
  if (!r.bearer_token.empty())
    out.headers.emplace_back("Authorization", "Bearer " + r.bearer_token);
  if (!r.body.empty()) {
    out.headers.emplace_back("Content-Type", "application/json");
    out.body = r.body;
  }
  return out;
}

}  // namespace

ClientReply send_request(const ClientRequest& r) {
  const net::HttpResult result = net::fetch(to_http_request(r), r.ca_file);
  if (!result.answered()) {
    throw std::runtime_error(r.method + " " + r.base_url + r.target + ": " + result.error);
  }
  return {result.status, result.body};
}

StreamEnd stream_request(const ClientRequest& r,
                         const std::function<bool(std::string_view)>& on_bytes,
                         const std::function<bool()>& keep_going) {
  net::HttpRequest request = to_http_request(r);
  request.headers.emplace_back("Accept", "text/event-stream");
  request.on_body = on_bytes;
  const net::HttpResult result = net::fetch(std::move(request), r.ca_file, keep_going);
  if (result.stopped) return {result.status, {}, true};
  if (!result.answered()) {
    throw std::runtime_error("GET " + r.base_url + r.target + ": " + result.error);
  }
  return {result.status, result.body, false};
}

}  // namespace incidentd::http
