// The JSON view of one incident that readers get: GET /v1/incidents and /v1/stream, and
// `incidentctl list/show` when they read the database directly. Its clock, each milestone's
// state at `now`, the next ladder step, and who was told and who acknowledged (from the
// incident's timeline, when given). docs/http-api.md lists the fields; they are a contract.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

// `timeline`: the incident's actions in order, or nullptr (then `notified` is empty).
nlohmann::json incident_view(const IncidentState& s, const Config& config, TimePoint now,
                             const std::vector<Action>* timeline);

}  // namespace incidentd
