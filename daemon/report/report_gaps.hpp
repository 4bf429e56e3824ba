// The gaps in an incident's record, for build_incident_report: outages the daemon recorded at its
// restart, and the engine acting late (catch-up actions), found once the timeline has been walked.
// Internal to incidentd_report.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "incidentd/domain.hpp"
#include "report/report.hpp"

namespace incidentd::report::detail {

// One timeline row, parsed.
struct Entry {
  std::int64_t seq;
  Action action;
};

// The three actions of the warning ladder proper (escalations are not steps that fall due).
inline bool is_ladder(ActionKind k) {
  return k == ActionKind::warning || k == ActionKind::target_missed ||
         k == ActionKind::deadline_breached;
}

// Timeline seq of a catch-up ladder action -> the instant it fell due, when the snapshot knows it.
using StepDueTimes = std::map<std::int64_t, std::optional<TimePoint>>;

// Appends to r.gaps the recorded outages, then one gap per instant of catch-up actions (folded
// into the recorded outage it follows, when there is one).
void add_outage_gaps(IncidentReport& r, const std::vector<Entry>& entries,
                     const StepDueTimes& step_due_at);

}  // namespace incidentd::report::detail
