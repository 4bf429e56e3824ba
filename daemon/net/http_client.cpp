#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "net/http_client.hpp"

#include <openssl/ssl.h>

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace incidentd::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {
class Session;
}

struct HttpClient::Impl {
  Impl(asio::io_context& context, const std::string& ca_file)
      : io(context), tls(ssl::context::tls_client) {
    if (ca_file.empty()) {
      tls.set_default_verify_paths();
    } else {
      boost::system::error_code ec;
      tls.load_verify_file(ca_file, ec);
      if (ec)
        throw std::runtime_error("cannot read the CA file \"" + ca_file + "\": " + ec.message());
    }
    tls.set_verify_mode(ssl::verify_peer);
  }

  asio::io_context& io;
  ssl::context tls;
  std::set<std::shared_ptr<Session>> in_flight;
};

namespace {

// One request on its own connection: resolve, connect, TLS handshake when https, write, read
// the header, read the body in chunks. `done` is taken out on the first completion, so an
// abandon() and a late handler never both call it.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::weak_ptr<HttpClient::Impl> owner, HttpClient::Impl& client, HttpRequest request,
          std::function<void(HttpResult)> done)
      : owner_(std::move(owner)),
        resolver_(client.io),
        request_(std::move(request)),
        timeout_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(request_.timeout)),
        done_(std::move(done)) {
    if (request_.url.tls) {
      tls_.emplace(client.io, client.tls);
    } else {
      plain_.emplace(client.io);
    }
    wire_.method(http::string_to_verb(request_.method));
    wire_.target(request_.url.target);
    wire_.version(11);
    wire_.set(http::field::host, request_.url.authority());
    wire_.set(http::field::user_agent, request_.user_agent);
    wire_.set(http::field::connection, "close");
    for (const auto& [name, value] : request_.headers) wire_.set(name, value);
    wire_.body() = std::move(request_.body);
    wire_.prepare_payload();
    // The limit is max_body_bytes, counted in on_body(). Not boost::none: Boost 1.74 compares a
    // Content-Length with an empty optional as "greater" and refuses every such answer.
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
  }

  void start() {
    if (wire_.method() == http::verb::unknown) {
      // Answered on the loop like every other outcome, never from inside send().
      return asio::post(resolver_.get_executor(), [self = shared_from_this()] {
        self->finish_error("request: unknown method " + self->request_.method);
      });
    }
    lowest().expires_after(timeout_);
    resolver_.async_resolve(request_.url.host, request_.url.port,
                            [self = shared_from_this()](beast::error_code ec,
                                                        const tcp::resolver::results_type& found) {
                              if (ec) return self->fail("resolve", ec);
                              self->connect(found);
                            });
  }

  // The client is going away: answer now, once, and stop the I/O.
  void abandon() { finish_error("shut down with the request in flight"); }

 private:
  beast::tcp_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  void connect(const tcp::resolver::results_type& found) {
    lowest().expires_after(timeout_);
    lowest().async_connect(found,
                           [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
                             if (ec) return self->fail("connect", ec);
                             self->handshake();
                           });
  }

  void handshake() {
    if (!tls_) return write();
    const std::string& host = request_.url.host;
    if (SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str()) != 1) {
      return finish_error("TLS: cannot set the server name " + host);
    }
    // The certificate must name the URL's host: the request carries credentials.
    tls_->set_verify_callback(ssl::host_name_verification(host));
    lowest().expires_after(timeout_);
    tls_->async_handshake(ssl::stream_base::client,
                          [self = shared_from_this()](beast::error_code ec) {
                            if (ec) return self->fail("TLS handshake", ec);
                            self->write();
                          });
  }

  template <class Operation>
  void on_stream(Operation&& operation) {
    if (tls_) {
      operation(*tls_);
    } else {
      operation(*plain_);
    }
  }

  void write() {
    lowest().expires_after(timeout_);
    on_stream([this](auto& stream) {
      http::async_write(stream, wire_,
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          if (ec) return self->fail("write", ec);
                          self->read_header();
                        });
    });
  }

  void read_header() {
    lowest().expires_after(timeout_);
    on_stream([this](auto& stream) {
      http::async_read_header(
          stream, buffer_, parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return self->fail("read", ec);
            self->result_.status = static_cast<int>(self->parser_.get().result_int());
            self->streaming_ = self->request_.on_body && self->result_.status == 200;
            self->read_body();
          });
    });
  }

  void read_body() {
    if (parser_.is_done()) return finish();
    parser_.get().body().data = chunk_.data();
    parser_.get().body().size = chunk_.size();
    if (streaming_) {
      lowest().expires_never();  // an event stream is quiet for as long as nothing happens
    } else {
      lowest().expires_after(timeout_);
    }
    // read_some: a stream's events are handed on as they come, not when 8 KiB have gathered.
    on_stream([this](auto& stream) {
      http::async_read_some(
          stream, buffer_, parser_,
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
    });
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::need_buffer) ec = {};
    const std::string_view got(chunk_.data(), chunk_.size() - parser_.get().body().size);
    if (streaming_) {
      if (!got.empty() && !request_.on_body(got)) {
        result_.stopped = true;
        return finish();
      }
      // The server ended the stream: the caller decides whether to come back.
      if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
          ec == asio::error::eof || ec == asio::error::connection_reset ||
          ec == ssl::error::stream_truncated) {
        return finish();
      }
    } else {
      result_.body.append(got);
      if (request_.max_body_bytes != 0 && result_.body.size() > request_.max_body_bytes) {
        return finish_error("read: body limit exceeded");
      }
    }
    if (ec) return fail("read", ec);
    read_body();
  }

  void fail(std::string_view step, beast::error_code ec) {
    if (ec == beast::error::timeout) return finish_error(std::string(step) + ": timed out");
    finish_error(std::string(step) + ": " + ec.message());
  }

  void finish_error(std::string error) {
    result_.status = 0;
    result_.body.clear();
    result_.error = std::move(error);
    finish();
  }

  void finish() {
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    resolver_.cancel();
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();  // the socket and its timer: nothing of this request keeps the loop busy
    // The owner's set may hold the last reference: keep this alive until the end.
    const auto keep = shared_from_this();
    if (auto owner = owner_.lock()) owner->in_flight.erase(keep);
    done(std::move(result_));
  }

  std::weak_ptr<HttpClient::Impl> owner_;
  tcp::resolver resolver_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  HttpRequest request_;
  std::chrono::steady_clock::duration timeout_;
  http::request<http::string_body> wire_;
  http::response_parser<http::buffer_body> parser_;
  beast::flat_buffer buffer_;
  std::array<char, 8192> chunk_{};
  bool streaming_ = false;
  HttpResult result_;
  std::function<void(HttpResult)> done_;
};

}  // namespace

HttpClient::HttpClient(asio::io_context& io, const std::string& ca_file)
    : impl_(std::make_shared<Impl>(io, ca_file)) {}

HttpClient::~HttpClient() {
  const auto in_flight = impl_->in_flight;  // abandon() erases from the set
  for (const auto& session : in_flight) session->abandon();
}

void HttpClient::send(HttpRequest request, std::function<void(HttpResult)> done) {
  auto session = std::make_shared<Session>(impl_, *impl_, std::move(request), std::move(done));
  impl_->in_flight.insert(session);
  session->start();
}

HttpResult fetch(HttpRequest request, const std::string& ca_file,
                 const std::function<bool()>& keep_going, Duration poll) {
  asio::io_context io;
  std::optional<HttpResult> result;
  bool stopped = false;
  {
    HttpClient client(io, ca_file);
    client.send(std::move(request), [&result](HttpResult r) { result = std::move(r); });
    while (!result) {
      io.run_for(poll);
      if (io.stopped()) io.restart();
      if (!result && keep_going && !keep_going()) {
        stopped = true;
        break;
      }
    }
  }  // a request still in flight is answered by the client's destructor
  result->stopped = result->stopped || stopped;
  return *std::move(result);
}

}  // namespace incidentd::net
