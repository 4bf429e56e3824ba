// The ack-link room: the one-click ack links that were used (table used_links), so a replay is
// refused, also after a restart (the AckLinkLog port). Internal to daemon/store.
#pragma once

#include <string>

#include "incidentd/ack_link_log.hpp"

namespace incidentd {

class Database;

class AckLinkRoom {
 public:
  explicit AckLinkRoom(Database& database) : database_(database) {}
  bool record_used_link(const std::string& link_id, const std::string& incident_key, TimePoint at);
  bool is_link_used(const std::string& link_id);

 private:
  Database& database_;
};

}  // namespace incidentd
