#include "notify/sms.hpp"

// Boost 1.74's asio/awaitable.hpp needs std::exchange declared first (docs: TOOLCHAIN).
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <list>
#include <stdexcept>

#include "incidentd/codec.hpp"
#include "notify/message.hpp"
#include "notify/reply_codes.hpp"

namespace incidentd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// ---- pure helpers ---------------------------------------------------------------------------

std::string kannel_sendsms_query(const SmsSettings& settings, const SmsCredentials& credentials,
                                 const SmsMessage& message) {
  std::string q = "username=" + url_encode(credentials.username) +
                  "&password=" + url_encode(credentials.password) +
                  "&to=" + url_encode(message.phone) + "&text=" + url_encode(message.text) +
                  "&charset=UTF-8&coding=2";
  if (!settings.sender.empty()) q += "&from=" + url_encode(settings.sender);
  return q;
}

std::string http_sms_params(const SmsSettings& settings, const SmsCredentials& credentials,
                            const SmsMessage& message) {
  const std::map<std::string, std::string, std::less<>> values{{"phone", message.phone},
                                                               {"text", message.text},
                                                               {"sender", settings.sender},
                                                               {"username", credentials.username},
                                                               {"password", credentials.password}};
  std::string out;
  for (const auto& [name, pattern] : settings.params) {
    std::string value;
    std::size_t at = 0;
    while (at < pattern.size()) {
      const std::size_t open = pattern.find('{', at);
      const std::size_t close =
          open == std::string::npos ? std::string::npos : pattern.find('}', open);
      if (close == std::string::npos) break;
      value.append(pattern, at, open - at);
      const auto found = values.find(std::string_view(pattern).substr(open + 1, close - open - 1));
      if (found != values.end()) value += found->second;
      at = close + 1;
    }
    if (at < pattern.size()) value.append(pattern, at);
    if (!out.empty()) out += '&';
    out += url_encode(name) + "=" + url_encode(value);
  }
  return out;
}

SendResult classify_sms_http_reply(int status, std::string_view body,
                                   std::string_view success_contains) {
  std::string detail = "HTTP " + std::to_string(status);
  std::string_view shown = body.substr(0, 200);
  while (!shown.empty() && (shown.back() == '\n' || shown.back() == '\r')) shown.remove_suffix(1);
  if (!shown.empty()) detail += ": " + std::string(shown);
  if (status >= 200 && status < 300) {
    if (!success_contains.empty() && body.find(success_contains) == std::string_view::npos) {
      return SendResult::transient(detail + " (no \"" + std::string(success_contains) + "\")");
    }
    return SendResult::delivered(detail);
  }
  if (status == 408 || status == 429 || status >= 500) return SendResult::transient(detail);
  return SendResult::permanent(detail);
}

SmsCredentials read_sms_credentials(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("sms.credentials_file: cannot read " + path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  const std::size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0) {
    throw std::runtime_error("sms.credentials_file " + path +
                             ": the first line must be \"username:password\"");
  }
  return {line.substr(0, colon), line.substr(colon + 1)};
}

// ---- one HTTP exchange ----------------------------------------------------------------------

namespace {

struct HttpExchange {
  Url url;
  http::verb method = http::verb::get;
  std::string target;
  std::string body;  // POST: form-encoded
  Duration timeout{};
};

using Completion = std::function<void(SendResult)>;

// One request on its own connection. Every step has a deadline (expires_after); `done` is taken
// out on the first completion, so abort() and a late handler never both call it.
class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  void abort(std::string why) {
    finish(SendResult::transient(std::move(why)));
    close();
  }

 protected:
  explicit SessionBase(Completion done) : done_(std::move(done)) {}
  void finish(SendResult result) {
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(result));
  }
  virtual void close() = 0;
  Completion done_;
};

template <typename Stream>
class Session final : public SessionBase {
 public:
  Session(asio::io_context& io, Stream stream, HttpExchange exchange, std::string success,
          Completion done)
      : SessionBase(std::move(done)),
        resolver_(io),
        stream_(std::move(stream)),
        exchange_(std::move(exchange)),
        success_(std::move(success)) {}

  void start() {
    request_.method(exchange_.method);
    request_.target(exchange_.target);
    request_.version(11);
    request_.set(http::field::host, exchange_.url.authority());
    request_.set(http::field::user_agent, "incidentd");
    request_.set(http::field::connection, "close");
    if (exchange_.method == http::verb::post) {
      request_.set(http::field::content_type, "application/x-www-form-urlencoded");
      request_.body() = exchange_.body;
    }
    request_.prepare_payload();
    auto self = shared();
    resolver_.async_resolve(exchange_.url.host, exchange_.url.port,
                            [self](beast::error_code ec, tcp::resolver::results_type found) {
                              if (ec) return self->fail("resolve", ec);
                              self->connect(found);
                            });
  }

 private:
  std::shared_ptr<Session> shared() {
    return std::static_pointer_cast<Session>(shared_from_this());
  }
  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

  void connect(const tcp::resolver::results_type& found) {
    tcp().expires_after(exchange_.timeout);
    tcp().async_connect(found, [self = shared()](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return self->fail("connect", ec);
      self->handshake();
    });
  }

  void handshake() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      write();
    } else {
      if (!SSL_set_tlsext_host_name(stream_.native_handle(), exchange_.url.host.c_str())) {
        return finish(SendResult::permanent("TLS: cannot set the server name"));
      }
      // The certificate must name the gateway's host: the request carries its credentials.
      stream_.set_verify_callback(asio::ssl::host_name_verification(exchange_.url.host));
      tcp().expires_after(exchange_.timeout);
      stream_.async_handshake(asio::ssl::stream_base::client,
                              [self = shared()](beast::error_code ec) {
                                if (ec) return self->fail("TLS handshake", ec);
                                self->write();
                              });
    }
  }

  void write() {
    tcp().expires_after(exchange_.timeout);
    http::async_write(stream_, request_, [self = shared()](beast::error_code ec, std::size_t) {
      if (ec) return self->fail("write", ec);
      self->read();
    });
  }

  void read() {
    tcp().expires_after(exchange_.timeout);
    http::async_read(
        stream_, buffer_, response_, [self = shared()](beast::error_code ec, std::size_t) {
          if (ec) return self->fail("read", ec);
          self->finish(classify_sms_http_reply(response_status(self->response_),
                                               self->response_.body(), self->success_));
          self->close();
        });
  }

  static int response_status(const http::response<http::string_body>& r) {
    return static_cast<int>(r.result_int());
  }

  void fail(const char* what, beast::error_code ec) {
    // Nothing reached the gateway, or its answer was lost: a retry is safe (at worst a
    // duplicate SMS, never a lost one).
    finish(SendResult::transient(std::string(what) + ": " + ec.message()));
    close();
  }

  void close() override {
    beast::error_code ignored;
    resolver_.cancel();
    tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp().close();
  }

  tcp::resolver resolver_;
  Stream stream_;
  HttpExchange exchange_;
  std::string success_;
  http::request<http::string_body> request_;
  beast::flat_buffer buffer_;
  http::response<http::string_body> response_;
};

// What both adapters share: the connection handling and the in-flight sends, so destroying the
// gateway reports each of them once (transient) instead of leaving the dispatcher waiting.
class HttpSmsGatewayBase : public SmsGateway {
 public:
  HttpSmsGatewayBase(asio::io_context& io, const SmsSettings& settings, SmsCredentials credentials)
      : io_(io),
        settings_(settings),
        credentials_(std::move(credentials)),
        tls_(asio::ssl::context::tls_client) {
    const auto url = parse_url(settings.url);
    if (!url) throw std::runtime_error("sms.url: not an http:// or https:// URL: " + settings.url);
    url_ = *url;
    if (url_.tls) {
      tls_.set_default_verify_paths();
      tls_.set_verify_mode(asio::ssl::verify_peer);
    }
  }
  ~HttpSmsGatewayBase() override {
    for (auto& weak : in_flight_) {
      if (auto session = weak.lock()) session->abort("the SMS gateway was shut down");
    }
  }
  HttpSmsGatewayBase(const HttpSmsGatewayBase&) = delete;
  HttpSmsGatewayBase& operator=(const HttpSmsGatewayBase&) = delete;

 protected:
  void exchange(HttpExchange ex, std::string success, Completion done) {
    in_flight_.remove_if([](const std::weak_ptr<SessionBase>& w) { return w.expired(); });
    ex.url = url_;
    ex.timeout = settings_.timeout;
    if (url_.tls) {
      auto session = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          io_, beast::ssl_stream<beast::tcp_stream>(io_, tls_), std::move(ex), std::move(success),
          std::move(done));
      in_flight_.push_back(session);
      session->start();
    } else {
      auto session = std::make_shared<Session<beast::tcp_stream>>(
          io_, beast::tcp_stream(io_), std::move(ex), std::move(success), std::move(done));
      in_flight_.push_back(session);
      session->start();
    }
  }

  asio::io_context& io_;
  SmsSettings settings_;
  SmsCredentials credentials_;
  Url url_;

 private:
  asio::ssl::context tls_;
  std::list<std::weak_ptr<SessionBase>> in_flight_;
};

class KannelGateway final : public HttpSmsGatewayBase {
 public:
  using HttpSmsGatewayBase::HttpSmsGatewayBase;
  std::string_view kind() const override { return "kannel"; }
  void send(const SmsMessage& message, Completion done) override {
    HttpExchange ex;
    ex.method = http::verb::get;
    ex.target = with_query(url_.target, kannel_sendsms_query(settings_, credentials_, message));
    // smsbox answers 202 "0: Accepted for delivery" (or 200 "Sent."), 4xx for a refusal.
    exchange(std::move(ex), {}, std::move(done));
  }
};

class GenericHttpGateway final : public HttpSmsGatewayBase {
 public:
  using HttpSmsGatewayBase::HttpSmsGatewayBase;
  std::string_view kind() const override { return "http"; }
  void send(const SmsMessage& message, Completion done) override {
    HttpExchange ex;
    const std::string params = http_sms_params(settings_, credentials_, message);
    if (settings_.method == "POST") {
      ex.method = http::verb::post;
      ex.target = url_.target;
      ex.body = params;
    } else {
      ex.method = http::verb::get;
      ex.target = with_query(url_.target, params);
    }
    exchange(std::move(ex), settings_.success_contains, std::move(done));
  }
};

}  // namespace

std::unique_ptr<SmsGateway> make_kannel_gateway(asio::io_context& io, const SmsSettings& settings,
                                                SmsCredentials credentials) {
  return std::make_unique<KannelGateway>(io, settings, std::move(credentials));
}

std::unique_ptr<SmsGateway> make_http_sms_gateway(asio::io_context& io, const SmsSettings& settings,
                                                  SmsCredentials credentials) {
  return std::make_unique<GenericHttpGateway>(io, settings, std::move(credentials));
}

std::unique_ptr<SmsGateway> make_sms_gateway(asio::io_context& io, const SmsSettings& settings) {
  SmsCredentials credentials;
  if (!settings.credentials_file.empty()) {
    credentials = read_sms_credentials(settings.credentials_file);
  }
  if (settings.gateway == "http") return make_http_sms_gateway(io, settings, credentials);
  return make_kannel_gateway(io, settings, credentials);
}

// ---- the channel ----------------------------------------------------------------------------

SmsComposer::SmsComposer(ReplyCodeStore& codes, const MessageTemplates& templates,
                         const TimeSource& time, const Config& config,
                         std::function<std::string(const std::string&)> title_of)
    : codes_(codes),
      templates_(templates),
      time_(time),
      config_(config),
      title_of_(std::move(title_of)) {}

std::optional<std::string> SmsComposer::compose(const OutgoingNotification& n, std::string& error) {
  const nlohmann::json j = nlohmann::json::parse(n.body_json, nullptr, false);
  Parsed<Action> action =
      j.is_discarded() ? Parsed<Action>{std::nullopt, "not JSON"} : action_from_json(j);
  if (!action || action.value->kind != ActionKind::notification) {
    error = "outbox body is not a notification action: " +
            (action ? std::string(to_string(action.value->kind)) : action.error);
    return std::nullopt;
  }
  const TimePoint now = time_.now();
  const ReplyCode code =
      codes_.issue(n.address, n.incident_key, n.recipient, n.unit, action.value->milestone,
                   action.value->round, n.notification_id, now);
  MessageContext context;
  context.title = title_of_ ? title_of_(n.incident_key) : std::string();
  context.reply_code = code.code;
  if (config_.sms.ack_links) context.ack_link = n.ack_url;
  context.now = now;
  context.utc_offset = config_.utc_offset;
  if (const Person* p = config_.find_person(n.recipient)) context.recipient_name = p->name;
  if (const Person* p = config_.find_person(action.value->deputy_of)) {
    context.deputy_of_name = p->name;
  }
  if (const Unit* u = config_.find_unit(n.unit)) context.unit_name = u->name;
  return templates_.render(*action.value, context, "sms");
}

SmsChannel::SmsChannel(SmsGateway& gateway, SmsComposer* composer)
    : gateway_(gateway), composer_(composer) {}

void SmsChannel::send(const OutgoingNotification& notification,
                      std::function<void(SendResult)> done) {
  SmsMessage message{notification.address, notification.text, notification.notification_id};
  if (composer_ != nullptr) {
    std::string error;
    std::optional<std::string> text;
    try {
      text = composer_->compose(notification, error);
    } catch (const std::exception& e) {
      // The reply-code table is busy or broken: the dispatcher retries later.
      return done(SendResult::transient(std::string("reply code: ") + e.what()));
    }
    if (!text) return done(SendResult::permanent(error));
    message.text = std::move(*text);
  }
  if (message.phone.empty()) return done(SendResult::permanent("no phone number"));
  if (message.text.empty()) return done(SendResult::permanent("empty message"));
  gateway_.send(message, std::move(done));
}

}  // namespace incidentd
