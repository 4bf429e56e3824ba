// The state of one incident: its clock, each milestone's resolved ladder, confirmations and the
// notifications still waiting for an acknowledgement. Everything the engine knows about an
// incident is here, so the state can be persisted and rebuilt as one record per incident_key.
// Deadlines are resolved when a milestone is armed: a later policy change does not move them.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

// A ladder step resolved to absolute instants.
struct ScheduledStep {
  TimePoint at{};
  ActionKind action = ActionKind::warning;
  int level = 0;
  TimePoint due{};  // the target or deadline the step is about
  friend bool operator==(const ScheduledStep&, const ScheduledStep&) = default;
};

struct MilestoneState {
  Milestone milestone = Milestone::first_release;
  bool armed = false;  // the clock runs for this milestone (this round, for follow_up)
  int round = 0;       // follow_up: 1, 2, ...; others: 1 once armed
  std::optional<TimePoint> target;
  TimePoint deadline{};
  std::vector<ScheduledStep> steps;                  // in time order
  std::size_t next_step = 0;                         // first step not yet acted on
  std::optional<TimePoint> breached_at;              // deadline passed unmet: overdue reminders run
  int reminders = 0;                                 // overdue reminders sent so far
  int escalation = -1;                               // highest ladder level reached this round
  std::map<std::string, TimePoint> confirmed_units;  // unit -> released_at, this round
  std::optional<TimePoint> met_at;                   // release time that met it (this round)
  friend bool operator==(const MilestoneState&, const MilestoneState&) = default;
};

// The id of one send of an alert to one person. A step's timeline row says its alert's id once
// and each notification's id follows from it (incidentd/timeline_rows.hpp).
inline std::string notification_id_of(std::string_view alert_id, std::string_view recipient,
                                      std::int64_t send) {
  std::string id(alert_id);
  id += '/';
  id += recipient;
  id += '/';
  id += std::to_string(send);
  return id;
}

// A notification that keeps being re-sent until acknowledged or no longer needed.
struct PendingDelivery {
  std::string alert_id;   // stable across re-sends (notification_id_of)
  std::string recipient;  // person id
  std::string unit;
  std::string channel;
  std::string deputy_of;  // set when this delivery goes to a deputy
  Milestone milestone = Milestone::first_release;
  ActionKind cause = ActionKind::warning;
  int level = 0;
  TimePoint due{};
  int round = 0;
  int reminder = 0;
  int sends = 0;
  TimePoint next_send{};
  bool deputy_added = false;
  bool opening = false;  // the alert at open: its message says the incident has just opened
  // Acknowledged deliveries are kept (not re-sent) until their alert ends, so the person is not
  // reached by the same alert again as someone's deputy.
  bool acknowledged = false;
  friend bool operator==(const PendingDelivery&, const PendingDelivery&) = default;
};

struct IncidentState {
  std::string key;
  std::string title, category, region, lead_unit;
  std::vector<std::string> units;
  Level level = Level::IV;
  bool drill = false;
  bool closed = false;
  TimePoint opened_at{};                 // detected_at of the first event
  std::optional<TimePoint> clock_start;  // when the legal clock started, if it runs
  std::optional<TimePoint> closed_at;
  std::array<MilestoneState, 3> milestones{};  // indexed by Milestone
  std::vector<PendingDelivery> deliveries;
  std::set<std::string> notified;  // every person notified for this incident (may acknowledge)
  int alert_seq = 0;
  // Resolved at clock start, so a configuration reload does not change a running clock.
  Duration overdue_every{};
  Duration resend_after{};
  int deputy_after_sends = 0;

  MilestoneState& milestone(Milestone m) { return milestones[static_cast<std::size_t>(m)]; }
  const MilestoneState& milestone(Milestone m) const {
    return milestones[static_cast<std::size_t>(m)];
  }
  friend bool operator==(const IncidentState&, const IncidentState&) = default;
};

}  // namespace incidentd
