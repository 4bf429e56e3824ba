#include "notify/sms.hpp"

// Boost 1.74's asio/awaitable.hpp needs std::exchange declared first (docs: TOOLCHAIN).
#include <utility>

#include <boost/asio/io_context.hpp>

#include <fstream>
#include <stdexcept>

#include "net/http_client.hpp"
#include "notify/message.hpp"
#include "notify/reply_codes.hpp"

namespace incidentd {

namespace asio = boost::asio;

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

// ---- the gateways -----------------------------------------------------------------------------

namespace {

using Completion = std::function<void(SendResult)>;

// What both adapters share: the gateway's URL and one HTTP client (net/http_client.hpp), whose
// destruction reports each send in flight once (transient) instead of leaving the dispatcher
// waiting.
class HttpSmsGatewayBase : public SmsGateway {
 public:
  HttpSmsGatewayBase(asio::io_context& io, const SmsSettings& settings, SmsCredentials credentials)
      : settings_(settings), credentials_(std::move(credentials)), client_(io) {
    const auto url = parse_url(settings.url);
    if (!url) throw std::runtime_error("sms.url: not an http:// or https:// URL: " + settings.url);
    url_ = *url;
  }

 protected:
  // GET `target`, or POST `form` to it; a 2xx whose body lacks `success` (when given) is not a
  // success.
  void exchange(std::string method, std::string target, std::string form, std::string success,
                Completion done) {
    net::HttpRequest request;
    request.method = std::move(method);
    request.url = url_;
    request.url.target = std::move(target);
    request.timeout = settings_.timeout;
    if (!form.empty()) {
      request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
      request.body = std::move(form);
    }
    client_.send(std::move(request),
                 [success = std::move(success), done = std::move(done)](net::HttpResult result) {
                   // Nothing reached the gateway, or its answer was lost: a retry is safe (at worst
                   // a duplicate SMS, never a lost one).
                   if (!result.answered())
                     return done(SendResult::transient(std::move(result.error)));
                   done(classify_sms_http_reply(result.status, result.body, success));
                 });
  }

  SmsSettings settings_;
  SmsCredentials credentials_;
  Url url_;

 private:
  net::HttpClient client_;
};

class KannelGateway final : public HttpSmsGatewayBase {
 public:
  using HttpSmsGatewayBase::HttpSmsGatewayBase;
  std::string_view kind() const override { return "kannel"; }
  void send(const SmsMessage& message, Completion done) override {
    // smsbox answers 202 "0: Accepted for delivery" (or 200 "Sent."), 4xx for a refusal.
    exchange("GET", with_query(url_.target, kannel_sendsms_query(settings_, credentials_, message)),
             {}, {}, std::move(done));
  }
};

class GenericHttpGateway final : public HttpSmsGatewayBase {
 public:
  using HttpSmsGatewayBase::HttpSmsGatewayBase;
  std::string_view kind() const override { return "http"; }
  void send(const SmsMessage& message, Completion done) override {
    std::string params = http_sms_params(settings_, credentials_, message);
    if (settings_.method == "POST") {
      exchange("POST", url_.target, std::move(params), settings_.success_contains, std::move(done));
    } else {
      exchange("GET", with_query(url_.target, params), {}, settings_.success_contains,
               std::move(done));
    }
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
                         const TimeSource& time, ConfigView config,
                         std::function<std::string(const std::string&)> title_of)
    : codes_(codes),
      templates_(templates),
      time_(time),
      config_(config),
      title_of_(std::move(title_of)) {}

std::optional<std::string> SmsComposer::compose(const OutgoingNotification& n, std::string& error) {
  const TimePoint now = time_.now();
  const auto config = config_.get();
  MessageContext context;
  context.now = now;
  context.utc_offset = config->utc_offset;
  if (const Person* p = config->find_person(n.recipient)) context.recipient_name = p->name;
  if (const SourceNotice* notice = n.payload.notice()) {
    return templates_.render_source(*notice, context, "sms");
  }
  const Action* action = n.payload.action();
  if (action == nullptr) {
    error = "the payload is not a notification action";
    return std::nullopt;
  }
  const ReplyCode code = codes_.issue(n.address, n.incident_key, n.recipient, n.unit,
                                      action->milestone, action->round, n.notification_id, now);
  context.title = title_of_ ? title_of_(n.incident_key) : std::string();
  context.reply_code = code.code;
  if (config->sms.ack_links) context.ack_link = n.ack_url;
  if (const Person* p = config->find_person(action->deputy_of)) context.deputy_of_name = p->name;
  if (const Unit* u = config->find_unit(n.unit)) context.unit_name = u->name;
  return templates_.render(*action, context, "sms");
}

SmsChannel::SmsChannel(SmsGateway& gateway, SmsComposer* composer, NotificationRenderer render)
    : gateway_(gateway),
      composer_(composer),
      render_(render ? std::move(render) : NotificationRenderer(plain_notification_text)) {}

void SmsChannel::send(const OutgoingNotification& notification,
                      std::function<void(SendResult)> done) {
  SmsMessage message{notification.address, {}, notification.notification_id};
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
  } else {
    try {
      message.text = render_(notification, name());
    } catch (const std::exception& e) {
      return done(SendResult::permanent(std::string("rendering the message failed: ") + e.what()));
    }
  }
  if (message.phone.empty()) return done(SendResult::permanent("no phone number"));
  if (message.text.empty()) return done(SendResult::permanent("empty message"));
  gateway_.send(message, std::move(done));
}

}  // namespace incidentd
