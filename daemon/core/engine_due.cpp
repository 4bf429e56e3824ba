// The engine acting on time: the ladder's due steps (the catch-up rule), escalation, overdue
// reminders, and whom each alert reaches, re-sends and deputies.
#include "incidentd/engine.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "core/engine_detail.hpp"

namespace incidentd {

using engine_detail::action_for;
using engine_detail::contains;
using engine_detail::invariant_broken;

namespace {

// A step acted on more than this after its instant is marked catch_up: the daemon's own
// scheduling latency must not make every live action look late.
constexpr Duration kCatchUpTolerance = std::chrono::minutes(1);

}  // namespace

void engine_detail::invariant_broken(const char* what) {
  std::fprintf(stderr, "incidentd: broken invariant: %s\n", what);
  std::abort();
}

// A step of the clock promises nothing outside the daemon until it is sent, so its commit need
// not wait for the disk on the thread that fires the next step (Store::defer_durability: the
// store makes it durable right after, in the background). A power cut before that undoes it, and
// the step fires again at the restart (the catch-up rule): a notification at most twice, none
// lost. An input's commit (the API, an SMS reply) still waits, since its answer promises it.
void Engine::run_due() {
  const DurableLater step_commits(store_, true);
  const TimePoint now = time_.now();
  held_until_.reset();
  while (!schedule_.empty() && schedule_.begin()->at <= now) {
    if ((owns_ && !owns_(schedule_.begin()->key)) || (in_doubt_ && in_doubt_())) {
      // Ownership in doubt (docs/cluster.md, "A stalled instance"): the partition is being
      // revoked, or this process was stopped longer than its session. Act on nothing until the
      // group has answered; a revocation then takes the incident away (release()).
      held_until_ = now + kHoldBack;
      break;
    }
    step_lateness_.add(now - schedule_.begin()->at);
    Slot& slot = *incidents_.at(schedule_.begin()->key);
    const std::uint64_t actions_before = actions_taken_;
    act_due(slot.state, now);
    touched(slot, actions_before);
    reschedule(slot);
    if (slot.scheduled_at && *slot.scheduled_at <= now) {
      invariant_broken("an incident is still due after acting on it");
    }
  }
  after_step();
}

void Engine::StepLateness::add(Duration late) {
  late = std::max(late, Duration{0});  // a wall clock stepped back
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (late <= kBounds[i]) ++within[i];
  }
  ++count;
  sum += late;
}

void Engine::act_due(IncidentState& s, TimePoint now) {
  if (s.closed) return;
  for (Milestone m : kMilestones) {
    MilestoneState& ms = s.milestone(m);
    if (ms.armed && !ms.met_at) act_ladder(s, ms, now);
  }
  act_deliveries(s, now);
}

void Engine::act_ladder(IncidentState& s, MilestoneState& ms, TimePoint now) {
  // Only the latest due step acts (the catch-up rule); the ones it supersedes are skipped.
  const std::size_t first = ms.next_step;
  std::size_t last = first;
  while (last < ms.steps.size() && ms.steps[last].at <= now) ++last;
  const bool stepped = last > first;
  if (stepped) {
    ms.next_step = last;
    const ScheduledStep& latest = ms.steps[last - 1];
    if (latest.action == ActionKind::deadline_breached) ms.breached_at = latest.at;
  }

  int reminder = 0;
  if (ms.breached_at && s.overdue_every > Duration{0} && ms.next_step == ms.steps.size()) {
    const auto overdue = static_cast<int>((now - *ms.breached_at) / s.overdue_every);
    if (overdue > ms.reminders) {
      reminder = overdue;
      ms.reminders = overdue;
    }
  }

  if (reminder > 0) {
    const auto breach = std::find_if(ms.steps.rbegin(), ms.steps.rend(), [](const auto& st) {
      return st.action == ActionKind::deadline_breached;
    });
    const TimePoint reminder_at = *ms.breached_at + s.overdue_every * reminder;
    fire_step(s, ms, *breach, reminder, now, stepped || now - reminder_at > kCatchUpTolerance);
  } else if (stepped) {
    const ScheduledStep& latest = ms.steps[last - 1];
    fire_step(s, ms, latest, 0, now, last - first > 1 || now - latest.at > kCatchUpTolerance);
  }
}

void Engine::fire_step(IncidentState& s, MilestoneState& ms, const ScheduledStep& step,
                       int reminder, TimePoint now, bool catch_up) {
  Action a = action_for(s.key, step.action, now);
  a.milestone = ms.milestone;
  a.level = step.level;
  a.due = step.due;
  a.reminder = reminder;
  a.catch_up = catch_up;
  // The alert at open: a first_release warning at the clock's start (the ladder's 0 h row), even
  // when acted on at a late arrival, as long as no later step superseded it.
  a.opening = ms.milestone == Milestone::first_release && step.action == ActionKind::warning &&
              reminder == 0 && s.clock_start && step.at == *s.clock_start;
  const bool opening = a.opening;
  if (ms.milestone == Milestone::follow_up) a.round = ms.round;
  emit(s, std::move(a));

  const int reached = std::max(ms.escalation, 0);
  if (step.level > reached) {
    Action e = action_for(s.key, ActionKind::escalated, now);
    e.milestone = ms.milestone;
    e.level = step.level;
    e.previous_level = reached;
    if (ms.milestone == Milestone::follow_up) e.round = ms.round;
    emit(s, std::move(e));
  }
  ms.escalation = std::max(ms.escalation, step.level);
  notify(s, ms, step.action, step.level, step.due, reminder, now, opening);
}

void Engine::notify(IncidentState& s, const MilestoneState& ms, ActionKind cause, int level,
                    TimePoint due, int reminder, TimePoint now, bool opening) {
  const Policy& p = config_.policy;
  // The highest escalation entry at or below this level says who is reached.
  const EscalationLevel* reach = nullptr;
  for (const auto& e : p.escalation) {
    if (e.level <= level && (reach == nullptr || e.level > reach->level)) reach = &e;
  }
  if (reach == nullptr) return;

  std::vector<std::pair<const Person*, const Unit*>> recipients;
  const auto add = [&](const Unit& unit, const Person& person) {
    for (const auto& r : recipients) {
      if (r.first->id == person.id) return;
    }
    recipients.emplace_back(&person, &unit);
  };
  const auto owing = owing_units(s, ms);
  for (const auto& unit_id : s.units) {
    if (!owing.contains(unit_id)) continue;
    const Unit* unit = config_.find_unit(unit_id);
    if (unit == nullptr) continue;  // removed from the roster by a reload
    for (const auto& person : unit->people) {
      if (contains(reach->roles, person.role)) add(*unit, person);
    }
  }
  for (const auto& unit_id : reach->supervision_units) {
    const Unit* unit = config_.find_unit(unit_id);
    if (unit == nullptr) continue;
    for (const auto& person : unit->people) {
      if (person.role == "duty") add(*unit, person);
    }
  }

  const std::string alert_id = s.key + "/" + std::to_string(++s.alert_seq);
  for (const auto& [recipient, recipient_unit] : recipients) {
    // Named copies: a lambda below needs them (clang-tidy 14 cannot capture bindings).
    const Person* person = recipient;
    const Unit* unit = recipient_unit;
    // A newer alert of the same milestone takes over the person's older one, and the copies
    // of the older one that went to the person's deputy.
    std::erase_if(s.deliveries, [&](const PendingDelivery& d) {
      return d.milestone == ms.milestone &&
             (d.recipient == person->id || d.deputy_of == person->id);
    });
    PendingDelivery d;
    d.alert_id = alert_id;
    d.recipient = person->id;
    d.unit = unit->id;
    d.channel = person->channels.empty() ? "sms" : person->channels.front();
    d.milestone = ms.milestone;
    d.cause = cause;
    d.level = level;
    d.due = due;
    d.round = ms.milestone == Milestone::follow_up ? ms.round : 0;
    d.reminder = reminder;
    d.opening = opening;
    s.deliveries.push_back(std::move(d));
    send(s, s.deliveries.back(), now);
  }
}

void Engine::send(IncidentState& s, PendingDelivery& d, TimePoint now) {
  ++d.sends;
  d.next_send = now + s.resend_after;
  s.notified.insert(d.recipient);
  Action a = action_for(s.key, ActionKind::notification, now);
  a.milestone = d.milestone;
  a.level = d.level;
  a.due = d.due;
  // A message about the target also names the hard deadline behind it.
  if (const MilestoneState& ms = s.milestone(d.milestone); ms.target && d.due == *ms.target) {
    a.deadline = ms.deadline;
  }
  a.opening = d.opening;
  a.cause = d.cause;
  a.recipient = d.recipient;
  a.unit = d.unit;
  a.channel = d.channel;
  a.deputy_of = d.deputy_of;
  a.reminder = d.reminder;
  a.round = d.round;
  a.send = d.sends;
  a.notification_id = notification_id_of(d.alert_id, d.recipient, d.sends);
  emit(s, std::move(a));
}

void Engine::act_deliveries(IncidentState& s, TimePoint now) {
  if (s.resend_after <= Duration{0}) return;
  std::vector<PendingDelivery> deputies;
  for (auto& d : s.deliveries) {
    if (d.acknowledged || d.next_send > now) continue;
    const int unanswered = d.sends;
    send(s, d, now);
    if (!d.deputy_of.empty() || d.deputy_added || unanswered < s.deputy_after_sends) continue;
    d.deputy_added = true;
    const Person* person = config_.find_person(d.recipient);
    if (person == nullptr || person->deputy.empty()) continue;
    const Person* deputy = config_.find_person(person->deputy);
    const Unit* unit = config_.unit_of_person(person->deputy);
    if (deputy == nullptr || unit == nullptr) continue;
    // A deputy shared by two people of the alert, or already reached by it, is reached once.
    const auto same = [&](const PendingDelivery& o) {
      return o.alert_id == d.alert_id && o.recipient == deputy->id;
    };
    if (std::any_of(s.deliveries.begin(), s.deliveries.end(), same) ||
        std::any_of(deputies.begin(), deputies.end(), same)) {
      continue;
    }
    PendingDelivery dep = d;
    dep.recipient = deputy->id;
    dep.unit = unit->id;
    dep.channel = deputy->channels.empty() ? "sms" : deputy->channels.front();
    dep.deputy_of = d.recipient;
    dep.sends = 0;
    deputies.push_back(std::move(dep));
  }
  for (auto& dep : deputies) {
    s.deliveries.push_back(std::move(dep));
    send(s, s.deliveries.back(), now);
  }
}

}  // namespace incidentd
