// What the HTTP API and incidentctl show beyond the open incidents the engine holds: every
// incident, closed ones too, and one incident's timeline. Implementations throw StoreError.
#pragma once

#include <string>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/incident.hpp"

namespace incidentd {

class IncidentHistory {
 public:
  virtual ~IncidentHistory() = default;
  // Every incident, open and closed, by key.
  virtual std::vector<IncidentState> load_all_incidents() = 0;
  // The timeline in commit order, of one incident or (empty key) of all.
  virtual std::vector<Action> timeline(const std::string& incident_key = "") = 0;
};

}  // namespace incidentd
