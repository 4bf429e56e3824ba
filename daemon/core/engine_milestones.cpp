// The engine's milestones: arming a milestone's ladder at the clock's start, the follow-up
// rounds, which units still owe a release, and when a milestone is met.
#include "incidentd/engine.hpp"

#include <algorithm>

#include "core/engine_detail.hpp"

namespace incidentd {

using engine_detail::action_for;

void Engine::start_clock(IncidentState& s, TimePoint start) {
  const Policy& p = config_.policy;
  s.clock_start = start;
  s.overdue_every = p.overdue_every;
  s.resend_after = p.resend_after;
  s.deputy_after_sends = p.deputy_after_sends;
  arm_milestone(s, Milestone::first_release, start, 1);
  arm_milestone(s, Milestone::press_conference, start, 1);
  const TimePoint now = time_.now();
  check_met(s, Milestone::first_release, now);
  check_met(s, Milestone::press_conference, now);
}

void Engine::arm_milestone(IncidentState& s, Milestone m, TimePoint base, int round) {
  const Policy& p = config_.policy;
  MilestoneState& ms = s.milestone(m);
  const bool same_round = ms.armed && ms.round == round;
  ms.armed = true;
  ms.round = round;
  switch (m) {
    case Milestone::first_release:
      ms.target = base + p.first_release_target;
      ms.deadline = base + p.first_release_deadline;
      break;
    case Milestone::press_conference:
      ms.target.reset();
      ms.deadline = base + p.press_conference_deadline;
      break;
    case Milestone::follow_up:
      ms.target.reset();
      ms.deadline = base;  // `base` is the follow-up's due time
      break;
  }
  ms.steps.clear();
  for (const LadderStep& step : p.ladder) {
    if (step.milestone != m) continue;
    ScheduledStep resolved{
        .at = base + step.offset, .action = step.action, .level = step.level, .due = {}};
    if (ms.target && *ms.target >= resolved.at) {
      resolved.due = *ms.target;
    } else {
      resolved.due = ms.deadline;
    }
    ms.steps.push_back(resolved);
  }
  std::stable_sort(ms.steps.begin(), ms.steps.end(),
                   [](const ScheduledStep& a, const ScheduledStep& b) { return a.at < b.at; });
  ms.breached_at.reset();
  ms.reminders = 0;
  ms.escalation = -1;
  if (same_round) {
    // Moved to a later due time: instants already past are not announced again, and a breach of
    // the old due time no longer stands.
    const TimePoint now = time_.now();
    ms.next_step = static_cast<std::size_t>(std::count_if(
        ms.steps.begin(), ms.steps.end(), [&](const auto& st) { return st.at <= now; }));
    return;
  }
  ms.next_step = 0;
  ms.met_at.reset();
  if (m == Milestone::follow_up) ms.confirmed_units.clear();
}

// Follow-up n is due `follow_up_every` after the most recent milestone was met, once the first
// release is.
void Engine::arm_follow_up(IncidentState& s) {
  const MilestoneState& first = s.milestone(Milestone::first_release);
  if (!first.met_at) return;
  MilestoneState& follow = s.milestone(Milestone::follow_up);
  TimePoint latest = *first.met_at;
  for (Milestone m : kMilestones) {
    if (const auto& met = s.milestone(m).met_at) latest = std::max(latest, *met);
  }
  const TimePoint due = latest + config_.policy.follow_up_every;
  if (!follow.armed) {
    arm_milestone(s, Milestone::follow_up, due, 1);
  } else if (follow.met_at) {
    arm_milestone(s, Milestone::follow_up, due, follow.round + 1);
  } else if (due > follow.deadline) {
    arm_milestone(s, Milestone::follow_up, due, follow.round);
  }
}

std::set<std::string> Engine::owing_units(const IncidentState& s, const MilestoneState& ms) const {
  std::set<std::string> owing;
  if (config_.policy.confirm == ConfirmRule::lead) {
    if (!ms.confirmed_units.contains(s.lead_unit)) owing.insert(s.lead_unit);
    return owing;
  }
  for (const auto& unit : s.units) {
    if (!ms.confirmed_units.contains(unit)) owing.insert(unit);
  }
  return owing;
}

void Engine::check_met(IncidentState& s, Milestone m, TimePoint now) {
  MilestoneState& ms = s.milestone(m);
  if (!ms.armed || ms.met_at || s.closed) return;
  // What owing_units() decides, without building its set: this runs for every milestone on
  // every event.
  const auto owes = [&ms](const std::string& unit) { return !ms.confirmed_units.contains(unit); };
  if (config_.policy.confirm == ConfirmRule::lead
          ? owes(s.lead_unit)
          : std::any_of(s.units.begin(), s.units.end(), owes)) {
    return;
  }
  TimePoint released{};
  if (config_.policy.confirm == ConfirmRule::lead) {
    released = ms.confirmed_units.at(s.lead_unit);
  } else {
    for (const auto& unit : s.units) released = std::max(released, ms.confirmed_units.at(unit));
  }
  released = std::min(released, now);  // a release cannot be later than its confirmation
  ms.met_at = released;
  ms.next_step = ms.steps.size();

  Action a = action_for(s.key, ActionKind::milestone_met, now);
  a.milestone = m;
  a.released_at = released;
  if (released > ms.deadline) {
    a.late = Lateness::deadline;
  } else if (ms.target && released > *ms.target) {
    a.late = Lateness::target;
  } else {
    a.late = Lateness::on_time;
  }
  if (m == Milestone::follow_up) a.round = ms.round;
  emit(s, std::move(a));
  std::erase_if(s.deliveries, [m](const PendingDelivery& d) { return d.milestone == m; });
  arm_follow_up(s);
}

}  // namespace incidentd
