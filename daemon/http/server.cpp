#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "http/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <deque>
#include <exception>
#include <optional>
#include <stdexcept>

namespace incidentd::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

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

namespace {

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

struct Route {
  std::string method;
  std::vector<std::string> segments;
  Handler handler;
};

// Matches and fills `params`; false when a segment differs.
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

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual void close() = 0;
};

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(net::io_context& context, ServerOptions opts) : io(context), options(std::move(opts)) {}

  net::io_context& io;
  ServerOptions options;
  std::vector<Route> routes;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::ssl::context> ssl;
  struct Open {
    std::weak_ptr<ConnectionBase> connection;
    std::string remote;
  };
  std::map<std::uint64_t, Open> connections;
  std::map<std::string, std::size_t> per_address;  // open connections by client address
  std::uint64_t next_id = 0;
  std::size_t served = 0;
  std::size_t refused = 0;
  std::size_t streams = 0;
  bool stopped = false;
  unsigned short bound_port = 0;

  void accept();
  void forget(std::uint64_t id) {
    const auto it = connections.find(id);
    if (it == connections.end()) return;
    const auto count = per_address.find(it->second.remote);
    if (count != per_address.end() && --count->second == 0) per_address.erase(count);
    connections.erase(it);
  }

  Response handle(Request& request) {
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
};

namespace {

template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  template <class... StreamArgs>
  Connection(std::shared_ptr<Server::Impl> server, std::uint64_t id, std::string remote,
             StreamArgs&&... args)
      : server_(std::move(server)),
        id_(id),
        remote_(std::move(remote)),
        stream_(std::forward<StreamArgs>(args)...) {}

  void run() {
    if constexpr (kTls) {
      lowest().expires_after(server_->options.header_timeout);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->finish();
                                self->read_header();
                              });
    } else {
      read_header();
    }
  }

  void close() override {
    end_stream();
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
    parser_->body_limit(server_->options.max_body_bytes);
    lowest().expires_after(server_->options.header_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               self->on_header(ec);
                             });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    const auto& header = parser_->get();
    if (const auto length = parser_->content_length();
        length && *length > server_->options.max_body_bytes) {
      return reject_and_close(Response::error(413, "body_too_large",
                                              "the body has " + std::to_string(*length) +
                                                  " bytes; the limit is " +
                                                  std::to_string(server_->options.max_body_bytes)));
    }
    (void)header;
    if (parser_->is_done()) return dispatch();
    lowest().expires_after(server_->options.body_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code e, std::size_t) {
                        if (e) return self->on_read_error(e);
                        self->dispatch();
                      });
  }

  void on_read_error(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::ssl::error::stream_truncated) {
      return finish();  // the peer left, or was too slow: nobody to answer
    }
    if (ec == bhttp::error::body_limit) {
      return reject_and_close(Response::error(
          413, "body_too_large",
          "the body exceeds " + std::to_string(server_->options.max_body_bytes) + " bytes"));
    }
    if (ec == bhttp::error::header_limit) {
      return reject_and_close(Response::error(
          431, "headers_too_large",
          "the headers exceed " + std::to_string(server_->options.max_header_bytes) + " bytes"));
    }
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
      return reject_and_close(
          Response::error(400, "bad_request", "malformed HTTP request: " + ec.message()));
    }
    finish();
  }

  void dispatch() {
    auto message = parser_->release();
    if (auto refused = duplicate_header(message)) return reject_and_close(std::move(*refused));
    const bool keep_alive = message.keep_alive();
    head_ = message.method() == bhttp::verb::head;
    Request request = request_from(std::move(message), remote_);
    Response response = server_->handle(request);
    if (response.on_stream && response.status == 200) {
      if (server_->streams >= server_->options.max_streams) {
        return write(Response::error(503, "too_many_streams",
                                     "the server has " + std::to_string(server_->streams) +
                                         " streams open, its limit; try again later"),
                     keep_alive);
      }
      return start_stream(response);
    }
    if (response.on_later) {
      // Nothing is read from the client until the answer is written, as for any request; the
      // connection lives as long as the handler holds the function that answers.
      auto answer = [self = this->shared_from_this(), keep_alive,
                     done = false](Response r) mutable {
        if (done) return;
        done = true;
        self->write(std::move(r), keep_alive);
      };
      return response.on_later(std::move(answer));
    }
    write(std::move(response), keep_alive);
  }

  // ---- streaming responses ----------------------------------------------------------------

  class Sink final : public StreamSink {
   public:
    explicit Sink(std::weak_ptr<Connection> connection) : connection_(std::move(connection)) {}
    bool send(std::string bytes) override {
      auto c = connection_.lock();
      return c && c->stream_send(std::move(bytes));
    }
    bool open() const override {
      auto c = connection_.lock();
      return c && c->streaming_;
    }

   private:
    std::weak_ptr<Connection> connection_;
  };

  void start_stream(const Response& r) {
    ++server_->streams;
    streaming_ = true;
    // No timeouts from here on: the stream is meant to stay open, and a peer that stops reading
    // is cut off by the backlog bound instead (the keepalive comments keep data flowing).
    lowest().expires_never();
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: " + r.content_type +
                       "\r\nCache-Control: no-cache\r\nConnection: close\r\n";
    for (const auto& [name, value] : r.headers)
      head.append(name).append(": ").append(value).append("\r\n");
    head += "\r\n";
    stream_send(std::move(head));
    r.on_stream(std::make_shared<Sink>(this->weak_from_this()));
    watch_stream_peer();
  }

  bool stream_send(std::string bytes) {
    if (!streaming_) return false;
    backlog_ += bytes.size();
    if (backlog_ > server_->options.max_stream_backlog) {
      end_stream();
      close();
      return false;
    }
    outbox_.push_back(std::move(bytes));
    if (!writing_) write_next();
    return true;
  }

  void write_next() {
    if (outbox_.empty() || !streaming_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    net::async_write(stream_, net::buffer(outbox_.front()),
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                       (void)n;
                       self->backlog_ -= self->outbox_.front().size();
                       self->outbox_.pop_front();
                       if (ec) return self->stream_failed();
                       self->write_next();
                     });
  }

  // A client of a stream sends nothing more; a read completes only when it leaves.
  void watch_stream_peer() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->stream_failed();
                              self->watch_stream_peer();
                            });
  }

  // Once per stream, whichever of its reads and writes fails first.
  void stream_failed() {
    if (stream_finished_) return;
    stream_finished_ = true;
    end_stream();
    finish();
  }

  void end_stream() {
    if (!streaming_) return;
    streaming_ = false;
    --server_->streams;
  }

  void reject_and_close(Response response) {
    ++server_->served;
    linger_ = true;
    write(std::move(response), false);
  }

  void write(Response r, bool keep_alive) {
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(r.status));
    response_.set(bhttp::field::content_type, r.content_type);
    response_.set(bhttp::field::cache_control, "no-store");
    for (const auto& [name, value] : r.headers) response_.set(name, value);
    response_.keep_alive(keep_alive && !server_->stopped);
    if (head_) {
      // The length the GET would have, and no body (RFC 9110, 9.3.2).
      response_.content_length(r.body.size());
      head_ = false;
    } else {
      response_.body() = std::move(r.body);
      response_.prepare_payload();
    }
    lowest().expires_after(server_->options.body_timeout);
    bhttp::async_write(stream_, response_,
                       [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec || !self->response_.keep_alive()) return self->finish();
                         self->read_header();
                       });
  }

  void finish() {
    server_->forget(id_);
    if constexpr (kTls) {
      lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->close(); });
    } else if (linger_) {
      // The client may still be sending what we refused; closing with unread data would reset
      // the connection and could destroy our answer before it is read. Read and drop a bounded
      // amount first, as web servers do with a "lingering close".
      beast::error_code ignored;
      lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      lowest().expires_after(std::chrono::seconds(2));
      drain();
    } else {
      close();
    }
  }

  void drain() {
    lowest().async_read_some(net::buffer(scratch_), [self = this->shared_from_this()](
                                                        beast::error_code ec, std::size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kMaxDrainBytes) return self->close();
      self->drain();
    });
  }

  std::shared_ptr<Server::Impl> server_;
  std::uint64_t id_;
  std::string remote_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> response_;
  bool linger_ = false;
  bool head_ = false;  // the request being answered is a HEAD
  static constexpr std::size_t kMaxDrainBytes = std::size_t{1} << 20;
  std::array<char, 4096> scratch_{};
  std::size_t drained_ = 0;
  bool streaming_ = false;
  bool stream_finished_ = false;
  bool writing_ = false;
  std::deque<std::string> outbox_;  // stream bytes not yet written, front = being written
  std::size_t backlog_ = 0;         // bytes in outbox_
};

}  // namespace

void Server::Impl::accept() {
  acceptor->async_accept(io, [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopped) return;
    if (!ec) {
      beast::error_code peer_ec;
      const auto peer = socket.remote_endpoint(peer_ec);
      const std::string remote = peer_ec ? std::string("?") : peer.address().to_string();
      std::size_t& from_here = self->per_address[remote];
      if (self->connections.size() >= self->options.max_connections ||
          from_here >= self->options.max_connections_per_address) {
        // Over a limit: refuse at once rather than queue, so the client learns it now.
        if (from_here == 0) self->per_address.erase(remote);
        ++self->refused;
        socket.close(peer_ec);
      } else {
        ++from_here;
        const std::uint64_t id = self->next_id++;
        if (self->ssl) {
          auto c = std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(
              self, id, remote, std::move(socket), *self->ssl);
          self->connections[id] = {c, remote};
          c->run();
        } else {
          auto c =
              std::make_shared<Connection<beast::tcp_stream>>(self, id, remote, std::move(socket));
          self->connections[id] = {c, remote};
          c->run();
        }
      }
    }
    self->accept();
  });
}

Server::Server(net::io_context& io, ServerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {}

Server::~Server() {
  stop();
}

void Server::route(std::string method, const std::string& pattern, Handler handler) {
  impl_->routes.push_back({std::move(method), split_path(pattern), std::move(handler)});
}

void Server::start() {
  const ServerOptions& o = impl_->options;
  const std::string where = o.address + ":" + std::to_string(o.port);
  if (!o.tls_cert.empty() || !o.tls_key.empty()) {
    try {
      impl_->ssl.emplace(net::ssl::context::tls_server);
      impl_->ssl->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                              net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                              net::ssl::context::no_tlsv1_1);
      impl_->ssl->use_certificate_chain_file(o.tls_cert);
      impl_->ssl->use_private_key_file(o.tls_key, net::ssl::context::pem);
    } catch (const std::exception& e) {
      throw std::runtime_error("http: cannot load TLS certificate \"" + o.tls_cert + "\" / key \"" +
                               o.tls_key + "\": " + e.what());
    }
  }
  beast::error_code ec;
  const auto address = net::ip::make_address(o.address, ec);
  if (ec) throw std::runtime_error("http: bad listen address \"" + o.address + "\"");
  const tcp::endpoint endpoint(address, o.port);
  impl_->acceptor.emplace(impl_->io);
  impl_->acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor->bind(endpoint, ec);
  if (!ec) impl_->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("http: cannot listen on " + where + ": " + ec.message());
  impl_->bound_port = impl_->acceptor->local_endpoint().port();
  impl_->stopped = false;
  impl_->accept();
}

void Server::stop() {
  if (impl_->stopped || !impl_->acceptor) return;
  impl_->stopped = true;
  beast::error_code ignored;
  impl_->acceptor->close(ignored);
  auto connections = std::move(impl_->connections);
  impl_->per_address.clear();
  for (auto& [id, open] : connections) {
    if (auto c = open.connection.lock()) c->close();
  }
}

unsigned short Server::port() const {
  return impl_->bound_port;
}

bool Server::tls() const {
  return impl_->ssl.has_value();
}

std::optional<Response> Server::handle_bytes_for_test(std::string_view raw,
                                                      const std::string& remote) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(impl_->options.max_header_bytes));
  parser.body_limit(impl_->options.max_body_bytes);
  parser.eager(true);
  beast::error_code ec;
  net::const_buffer rest(raw.data(), raw.size());
  while (rest.size() > 0 && !parser.is_done()) {
    const std::size_t used = parser.put(rest, ec);
    if (ec == bhttp::error::need_more) return std::nullopt;  // the connection would wait
    if (ec == bhttp::error::body_limit) return Response::error(413, "body_too_large", "");
    if (ec == bhttp::error::header_limit) return Response::error(431, "headers_too_large", "");
    if (ec) return Response::error(400, "bad_request", "malformed HTTP request: " + ec.message());
    if (used == 0) return std::nullopt;
    rest += used;
  }
  if (!parser.is_done()) return std::nullopt;
  if (auto refused = duplicate_header(parser.get())) return refused;
  Request request = request_from(parser.release(), remote);
  return impl_->handle(request);
}

std::size_t Server::requests_served() const {
  return impl_->served;
}

std::size_t Server::connections_refused() const {
  return impl_->refused;
}

std::size_t Server::open_streams() const {
  return impl_->streams;
}

net::io_context& Server::io() const {
  return impl_->io;
}

}  // namespace incidentd::http
