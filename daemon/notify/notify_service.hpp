// The notification side of the Daemon in one object: the webhook channel, any other
// channels (SMS), and the dispatcher over the daemon's store, on the Asio loop thread.
#pragma once

#include <memory>
#include <vector>

#include "incidentd/config_snapshot.hpp"
#include "notify/dispatcher.hpp"

namespace boost::asio {
class io_context;
}

namespace incidentd {

class WebhookChannel;

class NotifyService {
 public:
  // `extra_channels` (not owned, they render their own texts) join the webhook channel, whose
  // texts `renderer` renders (default plain_notification_text); `ack_links` (unset: none) gives
  // every send its one-click ack link. Throws when a webhook secret file cannot be read.
  NotifyService(boost::asio::io_context& io, NotificationOutbox& outbox, ConfigView config,
                TimeSystem& time, std::vector<Channel*> extra_channels = {},
                NotificationRenderer renderer = {}, AckLinkMaker ack_links = {});
  ~NotifyService();
  NotifyService(const NotifyService&) = delete;
  NotifyService& operator=(const NotifyService&) = delete;

  void start() { dispatcher_->start(); }
  void wake() { dispatcher_->wake(); }
  void stop() { dispatcher_->stop(); }
  Dispatcher& dispatcher() { return *dispatcher_; }

 private:
  std::unique_ptr<WebhookChannel> webhook_;  // declared first: outlives the dispatcher
  std::unique_ptr<Dispatcher> dispatcher_;
};

}  // namespace incidentd
