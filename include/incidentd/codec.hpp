// Parsing and validation of what arrives (monitoring events, release confirmations,
// acknowledgements, scenario lines) and the JSON form of actions. Every rejection carries a
// reason that names the field, so a dead-letter record or an operator can act on it.
#pragma once

#include <cstdint>

#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"

namespace incidentd {

template <typename T>
struct Parsed {
  std::optional<T> value;
  std::string error;  // set when value is empty
  explicit operator bool() const { return value.has_value(); }
};

// The largest message accepted; anything longer is rejected before parsing.
inline constexpr std::size_t kMaxMessageBytes = std::size_t{64} * 1024;
// The "schema" every event and confirmation carries (docs/contract.md).
inline constexpr std::int64_t kMessageSchemaVersion = 1;

Parsed<Event> parse_event(std::string_view text, const Config& config);
Parsed<Confirmation> parse_confirmation(std::string_view text, const Config& config);

using ScenarioLine = std::variant<Event, Confirmation, Acknowledgement>;
// A scenario line: an event, {"type":"release",...} or {"type":"ack",...}.
Parsed<ScenarioLine> parse_scenario_line(std::string_view text, const Config& config);
// When a scenario line arrives: arrived_at, else detected_at / released_at / at.
TimePoint arrival_of(const ScenarioLine& line);

nlohmann::json to_json(const Action& action, std::chrono::minutes utc_offset);
Parsed<Action> action_from_json(const nlohmann::json& j);

// One line of JSON. Text from the outside world may carry invalid UTF-8: it is written as U+FFFD
// instead of thrown, since a record that cannot be written fails again on every retry.
std::string dump_line(const nlohmann::json& j);

}  // namespace incidentd
