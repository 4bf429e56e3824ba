// A small HTTP/1.1 server on the daemon's Asio loop (Boost.Beast), plain or TLS. Handlers run on
// the loop thread, so they may call the engine directly. Limits are enforced before a handler
// sees anything: connections in all and per client address (a connection over either is closed
// at once, unanswered), header and body read timeouts, a body size limit, and a repeated
// Authorization, Origin or Host header (400: which one would count is ambiguous). HEAD is
// answered by the GET route with the body left out, so a GET handler must not act. Every error
// the server produces itself is a JSON body {"error": "...", "detail": "..."}. Beast stays out
// of this header: it takes tens of seconds to compile.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/time.hpp"

namespace boost::asio {
class io_context;
}

namespace incidentd::http {

struct Request {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // as sent: path and query
  std::string path;                            // target without the query
  std::map<std::string, std::string> query;    // decoded ?a=b&c=d
  std::map<std::string, std::string> params;   // {name} segments of the matched route
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string remote;  // peer address

  // A header's value, or "" (name in lower case).
  const std::string& header(const std::string& name) const;
};

// The open end of a streaming response (server-sent events): what a handler keeps to send more
// after the headers. Used on the loop thread only.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Queues bytes for the client. False once the client has gone, or fell so far behind that it
  // was cut off (more than ServerOptions::max_stream_backlog unsent bytes); drop the sink then.
  virtual bool send(std::string bytes) = 0;
  virtual bool open() const = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  // {"error": error, "detail": detail}: `error` is a stable machine word, `detail` says what is
  // wrong for a person.
  // A streaming response (status 200): the headers go out with `content_type`, `Cache-Control:
  // no-cache` and no length (the body ends when the connection does), then the server calls
  // `on_stream` once with the sink the handler sends the rest through. Over
  // ServerOptions::max_streams open streams the client gets 503 instead.
  std::function<void(std::shared_ptr<StreamSink>)> on_stream;
  // A response given later (Response::later): the server calls `on_later` once with the
  // function that answers; the handler calls that once, on the loop thread, when it knows.
  std::function<void(std::function<void(Response)>)> on_later;

  static Response error(int status, std::string_view error, std::string_view detail);
  static Response stream(std::string content_type,
                         std::function<void(std::shared_ptr<StreamSink>)> on_open);
  static Response later(std::function<void(std::function<void(Response)>)> start);
  static Response json_text(int status, std::string body);
  static Response text(int status, std::string body, std::string content_type = "text/plain");
};

using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 0;  // 0: any free port (tests); port() tells which
  std::string tls_cert;     // PEM file; with tls_key, the server speaks HTTPS only
  std::string tls_key;
  std::size_t max_body_bytes = std::size_t{64} * 1024;
  std::size_t max_header_bytes = std::size_t{16} * 1024;
  Duration header_timeout = std::chrono::seconds(10);  // to receive the headers (also idle)
  Duration body_timeout = std::chrono::seconds(30);    // to receive the body after them
  std::size_t max_connections = 256;                   // streams included
  // Open connections from one client address; one client's idle sockets cannot take every slot.
  std::size_t max_connections_per_address = 32;
  std::size_t max_streams = 32;  // open streaming responses, within max_connections
  std::size_t max_stream_backlog = std::size_t{1} << 20;  // unsent bytes before a cut-off
};

class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers a route. `pattern` is a path whose segments are literal or "{name}" (one segment,
  // delivered in Request::params), e.g. "/v1/incidents/{key}/ack". The first match wins; a path
  // that matches with another method gets 405.
  void route(std::string method, const std::string& pattern, Handler handler);

  // Binds and listens; throws std::runtime_error naming the address when it cannot (or when the
  // TLS files do not load).
  void start();
  // Stops accepting and closes every connection. Idempotent; the destructor calls it.
  void stop();
  unsigned short port() const;
  bool tls() const;

  // One request given as the bytes a client sent, parsed as a connection parses it (Beast,
  // the same limits) and answered by the routes, without a socket: the fuzz target's way in
  // (tests/fuzz/http_request_fuzz.cpp). nullopt when the bytes end before the request does.
  std::optional<Response> handle_bytes_for_test(std::string_view raw, const std::string& remote);

  // Requests answered (any status), for metrics.
  std::size_t requests_served() const;
  // Connections refused because a limit was reached (in all or per address), for metrics.
  std::size_t connections_refused() const;
  // Streaming responses open now.
  std::size_t open_streams() const;
  // The loop the server runs on, for handlers that arm timers (the event stream's).
  boost::asio::io_context& io() const;

  // Defined in server.cpp; public only so its connection classes can name it.
  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Percent-decoding for query values; nullopt-like empty + false on a malformed escape.
bool url_decode(std::string_view in, std::string& out);

}  // namespace incidentd::http
