// JSON form of an incident's state, as the store persists it. Round-trips exactly.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "incidentd/incident.hpp"

namespace incidentd {

nlohmann::json state_to_json(const IncidentState& state);
IncidentState state_from_json(const nlohmann::json& j);  // throws nlohmann::json::exception

// Byte for byte state_to_json(state).dump() (compact, keys sorted; invalid UTF-8 becomes U+FFFD as
// with error_handler_t::replace), written without building the tree: the store serializes every
// changed incident on its commit path, and the tree costs several times more.
std::string state_to_json_text(const IncidentState& state);

}  // namespace incidentd
