#include "notify/webhook.hpp"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fstream>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

#include "notify/webhook_signing.hpp"

namespace incidentd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr std::uint64_t kMaxResponseBytes = std::uint64_t{64} * 1024;

std::string read_secret_file(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    throw std::runtime_error("notify.webhooks: cannot read secret_file " + path);
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) throw std::runtime_error("notify.webhooks: secret_file " + path + " is empty");
  return line;
}

struct Route {
  std::string match;
  WebhookFormat format = WebhookFormat::generic;
  std::string secret;
};

class Session;

}  // namespace

struct WebhookChannel::Impl : std::enable_shared_from_this<WebhookChannel::Impl> {
  Impl(asio::io_context& i, const NotifySettings& settings, const TimeSource& c)
      : io(i), clock(c), timeout(settings.send_timeout), tls_context(ssl::context::tls_client) {
    for (const WebhookRoute& r : settings.webhooks) {
      Route route;
      route.match = r.match;
      route.format = parse_webhook_format(r.format);
      route.secret = r.secret_file.empty() ? r.secret : read_secret_file(r.secret_file);
      routes.push_back(std::move(route));
    }
    tls_context.set_default_verify_paths();
    tls_context.set_verify_mode(ssl::verify_peer);
  }

  const Route* route_for(std::string_view url) const {
    const Route* best = nullptr;
    for (const Route& r : routes) {
      if (url.substr(0, r.match.size()) != r.match) continue;
      if (best == nullptr || r.match.size() > best->match.size()) best = &r;
    }
    return best;
  }

  asio::io_context& io;
  const TimeSource& clock;
  Duration timeout;
  ssl::context tls_context;
  std::vector<Route> routes;
  std::set<std::shared_ptr<Session>> sessions;  // in flight
};

namespace {

// One POST: resolve, connect, TLS handshake when https, write, read. Every step has a timeout.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::weak_ptr<WebhookChannel::Impl> owner, asio::io_context& io, ssl::context& tls_ctx,
          Url url, WebhookRequest request, WebhookFormat format, Duration timeout,
          std::function<void(SendResult)> done)
      : owner_(std::move(owner)),
        resolver_(io),
        url_(std::move(url)),
        format_(format),
        timeout_(std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout)),
        done_(std::move(done)) {
    if (url_.tls) {
      tls_.emplace(io, tls_ctx);
    } else {
      plain_.emplace(io);
    }
    request_.method(http::verb::post);
    request_.target(url_.target);
    request_.version(11);
    request_.set(http::field::host, url_.authority());
    request_.set(http::field::user_agent, "incidentd");
    request_.set(http::field::connection, "close");
    for (auto& [name, value] : request.headers) request_.set(name, value);
    request_.body() = std::move(request.body);
    request_.prepare_payload();
    parser_.body_limit(kMaxResponseBytes);
  }

  void start() {
    lowest().expires_after(timeout_);
    resolver_.async_resolve(
        url_.host, url_.port,
        [self = shared_from_this()](beast::error_code ec, const tcp::resolver::results_type& r) {
          self->on_resolve(ec, r);
        });
  }

  // The channel is going away: answer now, once, and stop the I/O.
  void abandon() {
    finish(SendResult::transient("webhook channel shut down with the send in flight"));
    resolver_.cancel();
    beast::error_code ignored;
    lowest().socket().close(ignored);
  }

 private:
  beast::tcp_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  void on_resolve(beast::error_code ec, const tcp::resolver::results_type& results) {
    if (ec) return fail("resolve", ec);
    lowest().expires_after(timeout_);
    lowest().async_connect(results,
                           [self = shared_from_this()](beast::error_code e, const tcp::endpoint&) {
                             self->on_connect(e);
                           });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connect", ec);
    if (!tls_) return write();
    if (!SSL_set_tlsext_host_name(tls_->native_handle(), url_.host.c_str())) {
      return finish(SendResult::permanent("TLS: cannot set the server name " + url_.host));
    }
    tls_->set_verify_callback(ssl::host_name_verification(url_.host));
    lowest().expires_after(timeout_);
    tls_->async_handshake(ssl::stream_base::client,
                          [self = shared_from_this()](beast::error_code e) {
                            if (e) return self->fail("TLS handshake", e);
                            self->write();
                          });
  }

  void write() {
    lowest().expires_after(timeout_);
    auto on_write = [self = shared_from_this()](beast::error_code e, std::size_t) {
      if (e) return self->fail("write", e);
      self->read();
    };
    if (tls_) {
      http::async_write(*tls_, request_, on_write);
    } else {
      http::async_write(*plain_, request_, on_write);
    }
  }

  void read() {
    lowest().expires_after(timeout_);
    auto on_read = [self = shared_from_this()](beast::error_code e, std::size_t) {
      if (e) return self->fail("read", e);
      const auto& response = self->parser_.get();
      self->finish(classify_webhook_response(self->format_, static_cast<int>(response.result_int()),
                                             response.body()));
    };
    if (tls_) {
      http::async_read(*tls_, buffer_, parser_, on_read);
    } else {
      http::async_read(*plain_, buffer_, parser_, on_read);
    }
  }

  void fail(std::string_view step, beast::error_code ec) {
    std::string detail = std::string(step) + ": " + ec.message();
    if (ec == beast::error::timeout) detail = std::string(step) + ": timed out";
    finish(SendResult::transient(std::move(detail)));
  }

  void finish(SendResult result) {
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().socket().close(ignored);
    if (auto owner = owner_.lock()) owner->sessions.erase(shared_from_this());
    done(std::move(result));
  }

  std::weak_ptr<WebhookChannel::Impl> owner_;
  tcp::resolver resolver_;
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  Url url_;
  WebhookFormat format_;
  std::chrono::steady_clock::duration timeout_;
  http::request<http::string_body> request_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buffer_;
  std::function<void(SendResult)> done_;
};

}  // namespace

WebhookChannel::WebhookChannel(asio::io_context& io, const NotifySettings& settings,
                               const TimeSource& clock)
    : impl_(std::make_shared<Impl>(io, settings, clock)) {}

WebhookChannel::~WebhookChannel() {
  const auto in_flight = impl_->sessions;  // abandon() erases from the set
  for (const auto& session : in_flight) session->abandon();
}

void WebhookChannel::send(const OutgoingNotification& notification,
                          std::function<void(SendResult)> done) {
  const std::optional<Url> url = parse_url(notification.address);
  if (!url) {
    asio::post(impl_->io, [done = std::move(done), address = notification.address] {
      done(SendResult::permanent("not an http:// or https:// URL: " + address));
    });
    return;
  }
  const Route* route = impl_->route_for(notification.address);
  const WebhookFormat format = route != nullptr ? route->format : WebhookFormat::generic;
  WebhookRequest request =
      build_webhook_request(format, notification.address, route != nullptr ? route->secret : "",
                            notification, impl_->clock.now());
  // The signature may have added query parameters.
  Url target = *url;
  if (const auto signed_url = parse_url(request.url)) target.target = signed_url->target;
  auto session =
      std::make_shared<Session>(impl_, impl_->io, impl_->tls_context, std::move(target),
                                std::move(request), format, impl_->timeout, std::move(done));
  impl_->sessions.insert(session);
  session->start();
}

}  // namespace incidentd
