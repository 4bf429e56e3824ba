// JSON form of an incident's state, as the store persists it. Round-trips exactly.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "incidentd/incident.hpp"

namespace incidentd {

nlohmann::json state_to_json(const IncidentState& state);
IncidentState state_from_json(const nlohmann::json& j);  // throws nlohmann::json::exception

// Byte for byte state_to_json(state).dump() (compact, keys sorted; invalid UTF-8 becomes U+FFFD as
// with error_handler_t::replace), written without building the tree: the store serializes every
// changed incident on its commit path, and the tree costs several times more.
std::string state_to_json_text(const IncidentState& state);

// The stored text decoded without nlohmann's tree (simdjson), several times faster: the state
// state_from_json(json::parse(text)) gives, or nullopt wherever that would differ or throw (the
// caller then takes that path, for its message). Keys appear once, as state_to_json_text writes.
std::optional<IncidentState> state_from_json_text_fast(std::string_view text);

}  // namespace incidentd
