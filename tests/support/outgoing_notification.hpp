// One notification for the tests of the channels: an alert of incident zt-landslide to a-duty1
// of unit a, at `address` (a URL or a phone), with a stored body the channels pass on.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "notify/channel.hpp"

namespace incidentd::testing {

inline OutgoingNotification outgoing_notification(const std::string& address) {
  OutgoingNotification n;
  n.notification_id = "zt-landslide/7/a-duty1/1";
  n.incident_key = "zt-landslide";
  n.recipient = "a-duty1";
  n.unit = "a";
  n.address = address;
  n.payload.stored =
      nlohmann::json::parse(R"({"type":"notification","incident_key":"zt-landslide"})");
  return n;
}

}  // namespace incidentd::testing
