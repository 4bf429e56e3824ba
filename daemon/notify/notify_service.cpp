#include "notify/notify_service.hpp"

#include <random>

#include "notify/webhook.hpp"

namespace incidentd {

NotifyService::NotifyService(boost::asio::io_context& io, NotificationOutbox& outbox,
                             ConfigView config, TimeSystem& time,
                             std::vector<Channel*> extra_channels, NotificationRenderer renderer,
                             AckLinkMaker ack_links)
    : webhook_(std::make_unique<WebhookChannel>(
          io, config.get()->notify, time,
          renderer ? std::move(renderer) : NotificationRenderer(plain_notification_text))) {
  extra_channels.insert(extra_channels.begin(), webhook_.get());
  auto random = std::make_shared<std::mt19937_64>(std::random_device{}());
  dispatcher_ = std::make_unique<Dispatcher>(
      outbox, config, time, std::move(extra_channels),
      [random] { return std::uniform_real_distribution<double>(0.0, 1.0)(*random); },
      std::move(ack_links));
}

NotifyService::~NotifyService() {
  dispatcher_.reset();  // first: the channel's shutdown answers then reach no one
}

}  // namespace incidentd
