#include "incidentd/incident_view.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace incidentd {

using nlohmann::json;

namespace {

// Who was told about the incident and who acknowledged, from its timeline: one entry per
// person, in the order they were first told.
json people_json(const Config& config, const std::vector<Action>* timeline) {
  const auto offset = config.utc_offset;
  json out = json::array();
  if (timeline == nullptr) return out;
  std::map<std::string, std::size_t> index;
  for (const Action& a : *timeline) {
    if (a.kind == ActionKind::notification) {
      auto [it, fresh] = index.emplace(a.recipient, out.size());
      if (fresh) {
        const Person* p = config.find_person(a.recipient);
        out.push_back({{"person", a.recipient},
                       {"name", p != nullptr ? p->name : std::string()},
                       {"unit", a.unit},
                       {"first_notified_at", format_rfc3339(a.at, offset)},
                       {"notifications", 0},
                       {"acknowledged_at", nullptr}});
      }
      json& entry = out[it->second];
      entry["last_notified_at"] = format_rfc3339(a.at, offset);
      entry["level"] = std::max(entry.value("level", 0), a.level.value_or(0));
      entry["notifications"] = entry["notifications"].get<int>() + 1;
    } else if (a.kind == ActionKind::acknowledged) {
      auto it = index.find(a.recipient);
      if (it != index.end()) out[it->second]["acknowledged_at"] = format_rfc3339(a.at, offset);
    }
  }
  return out;
}

using Step = std::pair<TimePoint, json>;  // when, and the step as shown

// met; breached (past the deadline, unmet); late (past the target, unmet); pending. A closed
// incident's milestones are judged as they stood when it closed.
const char* milestone_state(const IncidentState& s, const MilestoneState& m, TimePoint now) {
  const TimePoint judged = s.closed_at.value_or(now);
  if (m.met_at) return "met";
  if (m.breached_at || judged >= m.deadline) return "breached";
  if (m.target && judged >= *m.target) return "late";
  return "pending";
}

// The steps still to come of an unmet milestone into mj["upcoming"]; returns its next one: the
// next rung of its ladder, or past the last rung the next overdue reminder of the breach.
std::optional<Step> add_upcoming(json& mj, const IncidentState& s, const MilestoneState& m,
                                 std::chrono::minutes offset) {
  const auto time = [offset](TimePoint t) { return format_rfc3339(t, offset); };
  const auto step_json = [&](const ScheduledStep& st) {
    return json{{"at", time(st.at)},
                {"action", to_string(st.action)},
                {"level", st.level},
                {"due", time(st.due)},
                {"about", m.target && st.due == *m.target ? "target" : "deadline"}};
  };
  json upcoming = json::array();
  for (std::size_t k = m.next_step; k < m.steps.size(); ++k) {
    upcoming.push_back(step_json(m.steps[k]));
  }
  mj["upcoming"] = std::move(upcoming);
  if (m.next_step < m.steps.size()) {
    const ScheduledStep& st = m.steps[m.next_step];
    return Step(st.at, step_json(st));
  }
  if (m.breached_at && s.overdue_every > Duration{0}) {
    const TimePoint at = *m.breached_at + s.overdue_every * (m.reminders + 1);
    const int level = m.steps.empty() ? 0 : m.steps.back().level;
    return Step(at, json{{"at", time(at)},
                         {"action", "deadline_breached"},
                         {"level", level},
                         {"due", time(m.deadline)},
                         {"about", "deadline"},
                         {"reminder", m.reminders + 1}});
  }
  return std::nullopt;
}

// One milestone as shown; `next` becomes its next step when that comes before the one held.
json milestone_json(const IncidentState& s, const MilestoneState& m, TimePoint now,
                    std::chrono::minutes offset, std::optional<Step>& next) {
  const auto time = [offset](TimePoint t) { return format_rfc3339(t, offset); };
  json mj = {{"milestone", to_string(m.milestone)},
             {"round", m.round},
             {"deadline", time(m.deadline)},
             {"met", m.met_at.has_value()}};
  if (m.target) mj["target"] = time(*m.target);
  if (m.met_at) mj["met_at"] = time(*m.met_at);
  if (m.breached_at) mj["breached_at"] = time(*m.breached_at);
  mj["state"] = milestone_state(s, m, now);
  json confirmed = json::object();
  for (const auto& [unit, at] : m.confirmed_units) confirmed[unit] = time(at);
  mj["confirmed_units"] = std::move(confirmed);
  if (!m.met_at && !s.closed) {
    std::optional<Step> step = add_upcoming(mj, s, m, offset);
    if (step) {
      mj["next_step"] = step->second;
      if (!next || step->first < next->first) {
        step->second["milestone"] = to_string(m.milestone);
        next = std::move(step);
      }
    }
  }
  return mj;
}

}  // namespace

json incident_view(const IncidentState& s, const Config& config, TimePoint now,
                   const std::vector<Action>* timeline) {
  const auto offset = config.utc_offset;
  const auto time = [offset](TimePoint t) { return format_rfc3339(t, offset); };
  std::optional<Step> next;  // the incident's next step, any milestone
  json j = {{"incident_key", s.key},
            {"title", s.title},
            {"level", to_string(s.level)},
            {"lead_unit", s.lead_unit},
            {"units", s.units},
            {"drill", s.drill},
            {"closed", s.closed},
            {"opened_at", time(s.opened_at)}};
  if (s.clock_start) j["clock_start"] = time(*s.clock_start);
  if (s.closed_at) j["closed_at"] = time(*s.closed_at);
  json milestones = json::array();
  for (const MilestoneState& m : s.milestones) {
    if (!m.armed && !m.met_at) continue;
    milestones.push_back(milestone_json(s, m, now, offset, next));
  }
  j["milestones"] = std::move(milestones);
  j["next_step"] = next ? next->second : json(nullptr);
  j["notified"] = people_json(config, timeline);
  std::size_t waiting = 0;
  for (const PendingDelivery& d : s.deliveries) waiting += d.acknowledged ? 0 : 1;
  j["unacknowledged_notifications"] = waiting;
  return j;
}

}  // namespace incidentd
