// Requests and responses, and routing: the query and path of a request, matched against the
// routes, and the handler's answer (or 400, 404, 405, 500).
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "http/server.hpp"

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <exception>

#include "http/server_impl.hpp"

namespace incidentd::http {

namespace bhttp = boost::beast::http;

const std::string& Request::header(const std::string& name) const {
  static const std::string kEmpty;
  auto it = headers.find(name);
  return it == headers.end() ? kEmpty : it->second;
}

Response Response::error(int status, std::string_view error, std::string_view detail) {
  nlohmann::json j = {{"error", error}, {"detail", detail}};
  return json_text(status, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Response Response::stream(std::string content_type,
                          std::function<void(std::shared_ptr<StreamSink>)> on_open) {
  Response r;
  r.content_type = std::move(content_type);
  r.on_stream = std::move(on_open);
  return r;
}

Response Response::later(std::function<void(std::function<void(Response)>)> start) {
  Response r;
  r.on_later = std::move(start);
  return r;
}

Response Response::json_text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.body += '\n';
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex(in[i + 1]);
      const int lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

namespace server_detail {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t start = 1;  // past the leading '/'
  while (start <= path.size()) {
    const std::size_t end = path.find('/', start);
    const std::size_t stop = end == std::string_view::npos ? path.size() : end;
    segments.emplace_back(path.substr(start, stop - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return segments;
}

bool match(const Route& route, const std::vector<std::string>& segments,
           std::map<std::string, std::string>& params) {
  if (route.segments.size() != segments.size()) return false;
  std::map<std::string, std::string> found;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string& want = route.segments[i];
    if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
      std::string value;
      if (segments[i].empty() || !url_decode(segments[i], value)) return false;
      found[want.substr(1, want.size() - 2)] = std::move(value);
    } else if (want != segments[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

// Two of these and the handler would see one of them (the map keeps the last): refuse rather
// than guess which the client meant.
std::optional<Response> duplicate_header(const bhttp::request<bhttp::string_body>& message) {
  for (const auto field : {bhttp::field::authorization, bhttp::field::origin, bhttp::field::host}) {
    if (message.count(field) > 1) {
      return Response::error(
          400, "duplicate_header",
          "the " + std::string(bhttp::to_string(field)) + " header is sent more than once");
    }
  }
  return std::nullopt;
}

Request request_from(bhttp::request<bhttp::string_body>&& message, const std::string& remote) {
  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    request.headers[name] = std::string(field.value());
  }
  request.body = std::move(message.body());
  request.remote = remote;
  return request;
}

}  // namespace server_detail

using server_detail::match;
using server_detail::Route;
using server_detail::split_path;

Response Server::Impl::handle(Request& request) {
  ++served;
  const std::size_t query_at = request.target.find('?');
  request.path = request.target.substr(0, query_at);
  if (query_at != std::string::npos) {
    std::string_view query = std::string_view(request.target).substr(query_at + 1);
    while (!query.empty()) {
      const std::size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      const std::size_t eq = pair.find('=');
      std::string key;
      std::string value;
      if (!url_decode(pair.substr(0, eq), key) ||
          (eq != std::string_view::npos && !url_decode(pair.substr(eq + 1), value))) {
        return Response::error(400, "bad_request", "malformed percent-escape in the query");
      }
      if (!key.empty()) request.query[key] = std::move(value);
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  if (request.path.empty() || request.path.front() != '/') {
    return Response::error(400, "bad_request", "the request target must be an absolute path");
  }
  const std::vector<std::string> segments = split_path(request.path);
  // HEAD is the GET route without its body (write() leaves it out).
  const std::string method = request.method == "HEAD" ? std::string("GET") : request.method;
  bool path_known = false;
  std::string allowed;
  for (const Route& route : routes) {
    std::map<std::string, std::string> params;
    if (!match(route, segments, params)) continue;
    if (route.method != method) {
      path_known = true;
      if (!allowed.empty()) allowed += ", ";
      allowed += route.method;
      continue;
    }
    request.params = std::move(params);
    try {
      return route.handler(request);
    } catch (const std::exception& e) {
      return Response::error(500, "internal_error", e.what());
    }
  }
  if (path_known) {
    Response r = Response::error(
        405, "method_not_allowed",
        request.method + " is not allowed on " + request.path + " (allowed: " + allowed + ")");
    r.headers.emplace_back("Allow", allowed);
    return r;
  }
  return Response::error(404, "not_found", "no such resource: " + request.path);
}

}  // namespace incidentd::http
