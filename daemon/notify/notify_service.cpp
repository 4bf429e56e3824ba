#include "notify/notify_service.hpp"

#include <nlohmann/json.hpp>
#include <random>

#include "notify/webhook.hpp"

namespace incidentd {

std::string plain_notification_text(const OutboxRow& row, std::string_view /*channel*/) {
  const auto j = nlohmann::json::parse(row.body, nullptr, false);
  const auto field = [&j](const char* name) -> std::string {
    if (!j.is_object()) return {};
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (row.purpose == NotificationPurpose::source_silent) {
    return "[incidentd] monitoring source silent: no event since " + field("since");
  }
  if (row.purpose == NotificationPurpose::source_back) {
    return "[incidentd] monitoring source back at " + field("at") + " (silent since " +
           field("since") + ")";
  }
  std::string text = "[incidentd] " + field("cause");
  if (!field("milestone").empty()) text += " " + field("milestone");
  text += " · incident " + row.incident_key;
  if (!field("due").empty()) text += " · due " + field("due");
  if (j.is_object() && j.value("drill", false)) text += " · DRILL";
  return text;
}

NotifyService::NotifyService(boost::asio::io_context& io, NotificationOutbox& outbox,
                             ConfigView config, TimeSystem& time,
                             std::vector<Channel*> extra_channels, NotificationRenderer renderer,
                             AckLinkMaker ack_links)
    : webhook_(std::make_unique<WebhookChannel>(io, config.get()->notify, time)) {
  extra_channels.insert(extra_channels.begin(), webhook_.get());
  auto random = std::make_shared<std::mt19937_64>(std::random_device{}());
  dispatcher_ = std::make_unique<Dispatcher>(
      outbox, config, time, std::move(extra_channels),
      renderer ? std::move(renderer) : NotificationRenderer(plain_notification_text),
      [random] { return std::uniform_real_distribution<double>(0.0, 1.0)(*random); },
      std::move(ack_links));
}

NotifyService::~NotifyService() {
  dispatcher_.reset();  // first: the channel's shutdown answers then reach no one
}

}  // namespace incidentd
