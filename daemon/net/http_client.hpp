// The net room: the one HTTP/1.1 client of the project, plain or TLS, on Boost.Beast. The SMS
// gateways send through it on the daemon's loop, the webhooks on a thread of their own;
// incidentctl makes its blocking requests and reads the daemon's event stream through `fetch`.
// TLS peers are verified against the system's CAs (or a given CA file) and must name the host of
// the URL: requests carry credentials.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "incidentd/time.hpp"
#include "incidentd/url.hpp"

namespace incidentd::net {

struct HttpRequest {
  std::string method = "GET";
  Url url;  // host, port and target
  // Added to Host, User-Agent and "Connection: close", which every request carries.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string user_agent = "incidentd";
  // Each step (resolve and connect, TLS handshake, write, reading the answer's header, each read
  // of its body) must finish within this. A streamed body (below) waits as long as it takes.
  Duration timeout = std::chrono::seconds(10);
  // A longer body is an error ("read: body limit exceeded"); 0 means no limit.
  std::size_t max_body_bytes = std::size_t{64} * 1024;
  // Streaming: when set and the status is 200, the body goes here as it arrives instead of into
  // the result, without a timeout; returning false ends the request (result.stopped).
  std::function<bool(std::string_view)> on_body;
};

struct HttpResult {
  int status = 0;        // 0: no answer (see error)
  std::string body;      // the answer's body (not a streamed one)
  std::string error;     // what failed, as "<step>: <reason>" ("connect: Connection refused")
  bool stopped = false;  // ended by on_body or keep_going, not by the server
  // The peer answered with a body it closed early: a stream that the server ended.
  bool answered() const { return status != 0; }
};

// Sends requests on a caller's io_context; each on its own connection. `done` is called exactly
// once per request, on that io_context, also when the client is destroyed with the request still
// in flight (error "shut down").
class HttpClient {
 public:
  explicit HttpClient(boost::asio::io_context& io, const std::string& ca_file = "");
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void send(HttpRequest request, std::function<void(HttpResult)> done);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// One request, blocking, on an io_context of its own. While it waits, `keep_going` (when given) is
// asked every `poll`; false ends the request (result.stopped), which is how a signal handler's
// flag stops a streamed read. Throws std::runtime_error for a CA file that cannot be read.
HttpResult fetch(HttpRequest request, const std::string& ca_file = "",
                 const std::function<bool()>& keep_going = {},
                 Duration poll = std::chrono::milliseconds(100));

}  // namespace incidentd::net
