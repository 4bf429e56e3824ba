#include "notify/webhook.hpp"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <exception>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <vector>

#include "net/http_client.hpp"
#include "notify/webhook_signing.hpp"

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

struct WebhookChannel::Impl {
  Impl(asio::io_context& i, const NotifySettings& settings, const TimeSource& c,
       NotificationRenderer renderer)
      : io(i),
        clock(c),
        timeout(settings.send_timeout),
        render(renderer ? std::move(renderer) : NotificationRenderer(plain_notification_text)),
        client(i) {
    for (const WebhookRoute& r : settings.webhooks) {
      Route route;
      route.match = r.match;
      route.format = parse_webhook_format(r.format);
      route.secret = r.secret_file.empty() ? r.secret : read_secret_file(r.secret_file);
      routes.push_back(std::move(route));
    }
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
  NotificationRenderer render;
  std::vector<Route> routes;
  net::HttpClient client;  // its destruction answers each send in flight, once, as transient
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
  impl_->client.send(std::move(post), [format, done = std::move(done)](net::HttpResult result) {
    if (!result.answered()) {
      return done(SendResult::transient(std::move(result.error)));
    }
    done(classify_webhook_response(format, result.status, result.body));
  });
}

}  // namespace incidentd
