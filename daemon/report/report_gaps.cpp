#include "report/report_gaps.hpp"

#include <string>
#include <utility>

#include "report/format.hpp"

namespace incidentd::report::detail {
namespace {

// How long after a recorded restart the engine's catch-up may still come: loading the incidents
// and acting on what fell due takes well under this.
constexpr Duration kRestartCatchUp = std::chrono::minutes(1);

bool is_arrival(ActionKind k) {
  return k == ActionKind::incident_opened || k == ActionKind::level_changed ||
         k == ActionKind::release_confirmed || k == ActionKind::acknowledged ||
         k == ActionKind::incident_closed;
}

// The outages the daemon recorded at its restart; returns their indexes into r.gaps.
std::vector<std::size_t> add_recorded_outages(IncidentReport& r,
                                              const std::vector<Entry>& entries) {
  std::vector<std::size_t> recorded;
  for (const auto& [seq, a] : entries) {
    if (a.kind != ActionKind::daemon_outage || !a.from || !a.to) continue;
    Gap g;
    g.seq = seq;
    g.at = *a.to;
    g.kind = "daemon_outage";
    g.since = a.from;
    g.delay = *a.to - *a.from;
    g.what = msg(r.lang, "gap.daemon_outage_what");
    recorded.push_back(r.gaps.size());
    r.gaps.push_back(std::move(g));
  }
  return recorded;
}

// Whether an event arrived at the instant of the catch-up that starts at entries[i]: then the
// engine acted late because the event did, not because it was down.
bool arrival_at(const std::vector<Entry>& entries, std::size_t i) {
  const TimePoint at = entries[i].action.at;
  bool arrival = false;
  for (std::size_t j = i; j-- > 0 && entries[j].action.at == at;) {
    arrival = arrival || is_arrival(entries[j].action.kind);
  }
  return arrival;
}

// The catch-up ladder steps taken at the instant of entries[i], in words; g.since becomes the
// earliest instant one of them fell due.
std::string caught_up_steps(const IncidentReport& r, const std::vector<Entry>& entries,
                            std::size_t i, const StepDueTimes& step_due_at, Gap& g) {
  const TimePoint at = entries[i].action.at;
  std::string steps;
  for (std::size_t j = i; j < entries.size() && entries[j].action.at == at; ++j) {
    const Action& c = entries[j].action;
    if (!c.catch_up || !is_ladder(c.kind) || !c.milestone) continue;
    const auto due = step_due_at.find(entries[j].seq);
    const std::optional<TimePoint> since = due == step_due_at.end() ? std::nullopt : due->second;
    if (since && (!g.since || *since < *g.since)) g.since = since;
    if (!steps.empty()) steps += msg(r.lang, "list.separator");
    steps += msgf(r.lang, "gap.step", milestone_label(*c.milestone, c.round, r.lang),
                  action_label(c.kind, r.lang));
    if (c.reminder > 0) steps += msgf(r.lang, "gap.step_reminder", c.reminder);
  }
  return steps;
}

}  // namespace

void add_outage_gaps(IncidentReport& r, const std::vector<Entry>& entries,
                     const StepDueTimes& step_due_at) {
  const std::vector<std::size_t> recorded = add_recorded_outages(r, entries);
  // The catch-up just after a recorded restart: part of that outage, not a guess of its own.
  const auto recorded_outage_of = [&](TimePoint at) -> Gap* {
    for (const std::size_t k : recorded) {
      Gap& g = r.gaps[k];
      if (at >= g.at && at - g.at <= kRestartCatchUp) return &g;
    }
    return nullptr;
  };

  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Action& a = entries[i].action;
    if (!a.catch_up) continue;
    // All catch-up actions at one instant are one gap.
    if (i > 0 && entries[i - 1].action.catch_up && entries[i - 1].action.at == a.at) continue;
    const bool arrival = arrival_at(entries, i);
    Gap g;
    g.seq = entries[i].seq;
    g.at = a.at;
    const std::string steps = caught_up_steps(r, entries, i, step_due_at, g);
    if (g.since) g.delay = a.at - *g.since;
    if (arrival) {
      g.kind = "late_event";
      g.what = msgf(r.lang, "gap.late_arrival_what", steps);
    } else if (Gap* outage = recorded_outage_of(a.at)) {
      outage->what += msgf(r.lang, "gap.daemon_outage_restart", steps);
      continue;
    } else {
      g.kind = "outage";
      g.what = msgf(r.lang, "gap.outage_what", steps);
    }
    r.gaps.push_back(std::move(g));
  }
}

}  // namespace incidentd::report::detail
