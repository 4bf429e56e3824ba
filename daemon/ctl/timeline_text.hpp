// One readable line per action, for people watching a timeline (simulate --format text, the demo).
#pragma once

#include <chrono>
#include <string>

#include "incidentd/domain.hpp"

namespace incidentd {

std::string format_action_text(const Action& a, std::chrono::minutes utc_offset);

}  // namespace incidentd
