#include "notify/webhook.hpp"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <exception>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "net/http_client.hpp"
#include "notify/webhook_signing.hpp"
#include "service/thread_name.hpp"

namespace incidentd {

namespace asio = boost::asio;

namespace {

// A receiver's answer longer than this is not read: the answer only says whether it took it.
constexpr std::size_t kMaxResponseBytes = std::size_t{64} * 1024;

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

}  // namespace

// The requests' I/O (connect, TLS, write, read: under a flood of alerts about a seventh of the
// loop's time, issue 18) runs on a thread of its own, "webhook-io"; the rendering stays on the
// loop, which owns what a message names (the engine's titles, the roster's snapshot).
struct WebhookChannel::Impl {
  Impl(asio::io_context& i, const NotifySettings& settings, const TimeSource& c,
       NotificationRenderer renderer)
      : io(i),
        clock(c),
        timeout(settings.send_timeout),
        render(renderer ? std::move(renderer) : NotificationRenderer(plain_notification_text)),
        wire_work(asio::make_work_guard(wire)) {
    for (const WebhookRoute& r : settings.webhooks) {
      Route route;
      route.match = r.match;
      route.format = parse_webhook_format(r.format);
      route.secret = r.secret_file.empty() ? r.secret : read_secret_file(r.secret_file);
      routes.push_back(std::move(route));
    }
    client.emplace(wire);
    wire_thread = std::thread([this] {
      name_this_thread("webhook-io");
      wire.run();
    });
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // The client goes on its own thread, answering each request in flight ("shut down"); those
  // answers are posted to the loop like any other.
  ~Impl() {
    asio::post(wire, [this] { client.reset(); });
    wire_work.reset();
    wire_thread.join();
  }

  const Route* route_for(std::string_view url) const {
    const Route* best = nullptr;
    for (const Route& r : routes) {
      if (url.substr(0, r.match.size()) != r.match) continue;
      if (best == nullptr || r.match.size() > best->match.size()) best = &r;
    }
    return best;
  }

  asio::io_context& io;  // the loop: sends start and are answered here
  const TimeSource& clock;
  Duration timeout;
  NotificationRenderer render;
  std::vector<Route> routes;
  asio::io_context wire;  // the requests' I/O, run by wire_thread
  asio::executor_work_guard<asio::io_context::executor_type> wire_work;
  std::optional<net::HttpClient> client;  // used on wire_thread only, after the constructor
  std::thread wire_thread;
};

WebhookChannel::WebhookChannel(asio::io_context& io, const NotifySettings& settings,
                               const TimeSource& clock, NotificationRenderer render)
    : impl_(std::make_shared<Impl>(io, settings, clock, std::move(render))) {}

WebhookChannel::~WebhookChannel() = default;

void WebhookChannel::send(const OutgoingNotification& notification,
                          std::function<void(SendResult)> done) {
  const std::optional<Url> url = parse_url(notification.address);
  if (!url) {
    asio::post(impl_->io, [done = std::move(done), address = notification.address] {
      done(SendResult::permanent("not an http:// or https:// URL: " + address));
    });
    return;
  }
  std::string text;
  try {
    text = impl_->render(notification, name());
  } catch (const std::exception& e) {
    asio::post(impl_->io, [done = std::move(done), error = std::string(e.what())] {
      done(SendResult::permanent("rendering the message failed: " + error));
    });
    return;
  }
  const Route* route = impl_->route_for(notification.address);
  const WebhookFormat format = route != nullptr ? route->format : WebhookFormat::generic;
  WebhookRequest request =
      build_webhook_request(format, notification.address, route != nullptr ? route->secret : "",
                            notification, text, impl_->clock.now());
  // The signature may have added query parameters.
  net::HttpRequest post;
  post.method = "POST";
  post.url = *url;
  if (const auto signed_url = parse_url(request.url)) post.url.target = signed_url->target;
  post.headers = std::move(request.headers);
  post.body = std::move(request.body);
  post.timeout = impl_->timeout;
  post.max_body_bytes = kMaxResponseBytes;
  // The loop is kept running until the answer is back on it (a test's io.run(), a stop).
  auto answer =
      [format,
       loop = asio::prefer(impl_->io.get_executor(), asio::execution::outstanding_work.tracked),
       done = std::move(done)](net::HttpResult result) mutable {
        SendResult outcome = result.answered()
                                 ? classify_webhook_response(format, result.status, result.body)
                                 : SendResult::transient(std::move(result.error));
        asio::post(loop, [done = std::move(done), outcome = std::move(outcome)]() mutable {
          done(std::move(outcome));
        });
      };
  asio::post(impl_->wire,
             [impl = impl_.get(), post = std::move(post), answer = std::move(answer)]() mutable {
               impl->client->send(std::move(post), std::move(answer));
             });
}

}  // namespace incidentd
