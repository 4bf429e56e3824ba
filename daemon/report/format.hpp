// Shared by the report and statistics renderers: instants in the configured zone, durations in
// words people read aloud, and escaping for csv and html. Internal to incidentd_report.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/html_escape.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/time.hpp"
#include "report/messages.hpp"

namespace incidentd::report {

// "2026-11-26 08:00" (":ss" added when the seconds are not zero), in the given UTC offset.
std::string local_time(TimePoint t, std::chrono::minutes utc_offset);
std::string local_time(const std::optional<TimePoint>& t, std::chrono::minutes utc_offset);
// "+08:00"
std::string offset_label(std::chrono::minutes utc_offset);
// "1 h 30 min", "5 min", "2 d 3 h", "45 s", "0 min" ("1小时30分钟" in Chinese). The sign is
// dropped.
std::string human_duration(Duration d, Lang lang);
// "20 min early", "1 h 30 min late", "on the minute".
std::string early_or_late(Duration d, Lang lang);
// Whole minutes, rounded toward zero, for csv and json.
long long minutes_of(Duration d);

using incidentd::html_escape;  // core/html_escape.hpp
std::string csv_field(std::string_view text);

// "duty officer", "unit leader", "principal leader", "deputy"; the role itself otherwise.
std::string role_label(std::string_view role, Lang lang);
std::string milestone_label(Milestone m, int round, Lang lang);
std::string action_label(ActionKind kind, Lang lang);
// "II", or "II 重大" in Chinese: the level with the plan's word for it.
std::string level_label(std::string_view level, Lang lang);

}  // namespace incidentd::report
