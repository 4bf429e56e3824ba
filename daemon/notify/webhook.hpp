// Webhooks out: a Channel that POSTs each notification over HTTP or HTTPS (Boost.Beast, on a
// thread of the channel's own, a timeout on every step; sends start and are answered on the loop)
// in the format its URL's route says (generic signed JSON, DingTalk, WeCom, Feishu;
// daemon/notify/webhook_signing.hpp has the formats). No connection is kept between sends. Beast
// stays out of this header: it is slow to compile.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "incidentd/config.hpp"
#include "incidentd/time.hpp"
#include "notify/channel.hpp"

namespace boost::asio {
class io_context;
}

namespace incidentd {

class WebhookChannel final : public Channel {
 public:
  // Reads the routes' secret files now; throws std::runtime_error naming an unreadable one.
  // `render` gives each send its text (default plain_notification_text).
  WebhookChannel(boost::asio::io_context& io, const NotifySettings& settings,
                 const TimeSource& clock, NotificationRenderer render = {});
  ~WebhookChannel() override;
  WebhookChannel(const WebhookChannel&) = delete;
  WebhookChannel& operator=(const WebhookChannel&) = delete;

  std::string_view name() const override { return "webhook"; }
  void send(const OutgoingNotification& notification,
            std::function<void(SendResult)> done) override;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace incidentd
