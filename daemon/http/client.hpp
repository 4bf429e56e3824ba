// incidentctl's requests to the daemon's API, blocking, over the project's one HTTP client
// (net/http_client.hpp), plain or TLS (the peer's certificate is verified against the system's
// CAs, or a given CA file).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "incidentd/time.hpp"

namespace incidentd::http {

struct ClientReply {
  int status = 0;
  std::string body;
};

struct ClientRequest {
  std::string base_url;  // "http://127.0.0.1:8480" or "https://host:port"
  std::string method = "GET";
  std::string target;  // "/v1/incidents"
  std::string bearer_token;
  std::string body;     // sent as application/json when not empty
  std::string ca_file;  // https: trust this CA instead of the system's
  Duration timeout = std::chrono::seconds(10);
};

// Throws std::runtime_error saying what failed (bad URL, connect, TLS, timeout).
ClientReply send_request(const ClientRequest& request);

// A GET whose answer streams (server-sent events): `on_bytes` gets the body as it arrives. The
// body is read without a timeout; `keep_going` is asked every 100 ms while it waits (a signal
// handler's flag, a redraw), and the stream ends when that returns false, or when `on_bytes`
// does, or when the server closes. The reply's status is the server's; its body holds what a
// non-200 answer said. Throws std::runtime_error when the daemon cannot be reached.
struct StreamEnd {
  int status = 0;
  std::string body;
  bool stopped = false;  // ended by keep_going() or on_bytes(), not by the server
};
StreamEnd stream_request(const ClientRequest& request,
                         const std::function<bool(std::string_view)>& on_bytes,
                         const std::function<bool()>& keep_going);

}  // namespace incidentd::http
