// The names of a notification's channel, purpose and delivery state are what the database, the
// configuration, the API and the metrics spell: each enum value reads back from its name, the
// names are the ones stored before the enums, and an unknown name is not guessed.
#include "incidentd/notification.hpp"

#include <catch2/catch.hpp>

namespace incidentd {
namespace {

TEST_CASE("each channel, purpose and delivery state reads back from its stored name") {
  for (const auto v : {NotificationChannel::sms, NotificationChannel::webhook}) {
    CHECK(parse_notification_channel(to_string(v)) == v);
  }
  for (const auto v : {NotificationPurpose::alert, NotificationPurpose::unreached,
                       NotificationPurpose::source_silent, NotificationPurpose::source_back}) {
    CHECK(parse_notification_purpose(to_string(v)) == v);
  }
  for (const auto v : {DeliveryState::pending, DeliveryState::delivered, DeliveryState::failed,
                       DeliveryState::superseded}) {
    CHECK(parse_delivery_state(to_string(v)) == v);
  }
  CHECK(to_string(NotificationChannel::webhook) == "webhook");
  CHECK(to_string(NotificationPurpose::source_silent) == "source_silent");
  CHECK(to_string(DeliveryState::superseded) == "superseded");
  CHECK(to_string(SendOutcome::transient) == "transient");
  CHECK(to_string(DispatchOutcome::gave_up) == "gave_up");
}

TEST_CASE("an older schema's delivery states read as today's, unknown names as none") {
  CHECK(parse_delivery_state("sent") == DeliveryState::delivered);
  CHECK(parse_delivery_state("dead") == DeliveryState::failed);
  CHECK_FALSE(parse_delivery_state("Delivered"));
  CHECK_FALSE(parse_notification_channel("wechat"));
  CHECK_FALSE(parse_notification_purpose(""));
}

}  // namespace
}  // namespace incidentd
