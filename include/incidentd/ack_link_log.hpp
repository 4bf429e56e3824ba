// The ack-link port: one-click ack links (daemon/http/ack_link.hpp) work once, also across a
// restart, so the API records each link it honoured. Implementations throw StoreError.
#pragma once

#include <string>

#include "incidentd/time.hpp"

namespace incidentd {

class AckLinkLog {
 public:
  virtual ~AckLinkLog() = default;
  // True when the link id was not recorded before (it is now, durably); false for a replay.
  virtual bool record_used_link(const std::string& link_id, const std::string& incident_key,
                                TimePoint at) = 0;
  virtual bool is_link_used(const std::string& link_id) = 0;
};

}  // namespace incidentd
