// SMS out: the gateway port (one message to one phone, asynchronous on the daemon's Asio loop,
// result delivered / transient / permanent), its adapters (Kannel's HTTP sendsms interface, and a
// generic cloud-SMS HTTP API configured by URL, parameters and credentials), and SmsChannel, the
// dispatcher's Channel on top of a gateway. Gateways send UTF-8 text as one logical message; the
// gateway or the carrier splits it into UCS-2 parts (Kannel: `concatenation = true`).
// Asio and Beast stay in sms.cpp: this header only forward-declares the io_context.
#pragma once

#include "incidentd/url.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "incidentd/config.hpp"
#include "incidentd/config_snapshot.hpp"
#include "notify/channel.hpp"

namespace boost::asio {
class io_context;
}

namespace incidentd {

class MessageTemplates;
class ReplyCodeStore;
class TimeSource;

struct SmsMessage {
  std::string phone;  // E.164
  std::string text;   // UTF-8
  std::string id;     // the notification id, for logs (gateways do not deduplicate on it)
};

class SmsGateway {
 public:
  virtual ~SmsGateway() = default;
  virtual std::string_view kind() const = 0;  // "kannel", "http"
  // `done` is called exactly once on the loop thread; with a transient result also when the
  // gateway is destroyed while the send is in flight.
  virtual void send(const SmsMessage& message, std::function<void(SendResult)> done) = 0;
};

struct SmsCredentials {
  std::string username;
  std::string password;
};
// The credentials file: its first line is "username:password". Throws std::runtime_error.
SmsCredentials read_sms_credentials(const std::string& path);

// Kannel's smsbox /cgi-bin/sendsms: GET with username, password, to, text (UTF-8), charset=UTF-8,
// coding=2 (UCS-2 on the air) and from (the sender) when set.
std::unique_ptr<SmsGateway> make_kannel_gateway(boost::asio::io_context& io,
                                                const SmsSettings& settings,
                                                SmsCredentials credentials);
// A cloud SMS API: GET (query) or POST (form) to settings.url with settings.params, whose values
// may hold {phone} {text} {sender} {username} {password}.
std::unique_ptr<SmsGateway> make_http_sms_gateway(boost::asio::io_context& io,
                                                  const SmsSettings& settings,
                                                  SmsCredentials credentials);
// By settings.gateway, credentials read from settings.credentials_file. Throws on a bad file.
std::unique_ptr<SmsGateway> make_sms_gateway(boost::asio::io_context& io,
                                             const SmsSettings& settings);

// ---- pure helpers, exposed for the tests ----------------------------------------------------

// The query (without "?") of a Kannel sendsms request.
std::string kannel_sendsms_query(const SmsSettings& settings, const SmsCredentials& credentials,
                                 const SmsMessage& message);
// The encoded parameters of a generic HTTP SMS request, placeholders filled.
std::string http_sms_params(const SmsSettings& settings, const SmsCredentials& credentials,
                            const SmsMessage& message);
// 2xx: delivered (unless `success_contains` is set and missing: transient, the API may be
// throttling); 408, 429, 5xx: transient; other statuses: permanent.
SendResult classify_sms_http_reply(int status, std::string_view body,
                                   std::string_view success_contains);

// ---- the dispatcher's channel ---------------------------------------------------------------

// Composes the SMS text of one notification: issues (or reuses) the reply code for the phone
// and incident, then renders the templates with it. Titles come from `title_of` (the incident's
// title by key; the key stands in when it returns empty).
class SmsComposer {
 public:
  SmsComposer(ReplyCodeStore& codes, const MessageTemplates& templates, const TimeSource& time,
              ConfigView config, std::function<std::string(const std::string&)> title_of);
  // The text, or nullopt with `error` set (the payload is neither a notification action nor a
  // source notice). A source notice gets no reply code: there is nothing to reply to.
  std::optional<std::string> compose(const OutgoingNotification& notification, std::string& error);

 private:
  ReplyCodeStore& codes_;
  const MessageTemplates& templates_;
  const TimeSource& time_;
  ConfigView config_;  // read at each message: a reload's roster reaches the next text
  std::function<std::string(const std::string&)> title_of_;
};

class SmsChannel final : public Channel {
 public:
  // The composer renders each text (the daemon's); without one, `render` does (default
  // plain_notification_text), without reply codes.
  explicit SmsChannel(SmsGateway& gateway, SmsComposer* composer = nullptr,
                      NotificationRenderer render = {});
  std::string_view name() const override { return "sms"; }
  void send(const OutgoingNotification& notification,
            std::function<void(SendResult)> done) override;

 private:
  SmsGateway& gateway_;
  SmsComposer* composer_;
  NotificationRenderer render_;
};

}  // namespace incidentd
