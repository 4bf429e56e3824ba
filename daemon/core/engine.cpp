#include "incidentd/engine.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace incidentd {
namespace {

// A step acted on more than this after its instant is marked catch_up: the daemon's own
// scheduling latency must not make every live action look late.
constexpr Duration kCatchUpTolerance = std::chrono::minutes(1);

[[noreturn]] void invariant_broken(const char* what) {
  std::fprintf(stderr, "incidentd: broken invariant: %s\n", what);
  std::abort();
}

Action action_for(const std::string& key, ActionKind kind, TimePoint now) {
  Action a;
  a.at = now;
  a.incident_key = key;
  a.kind = kind;
  return a;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

Engine::Engine(const Config& config, Store& store, TimeSystem& time)
    : config_(config), store_(store), time_(time), timer_(time.create_timer()) {
  for (auto& state : store_.load_open_incidents()) {
    const std::string key = state.key;
    Slot& slot = slot_for(key);
    slot.state = std::move(state);
    reschedule(slot);
  }
  rearm_timer();
}

Engine::~Engine() {
  timer_->cancel();
}

void Engine::reload(const Config& config) {
  config_ = config;
}

const IncidentState* Engine::find(const std::string& key) const {
  auto it = incidents_.find(key);
  return it == incidents_.end() ? nullptr : &it->second->state;
}

Engine::Slot& Engine::slot_for(const std::string& key) {
  std::unique_ptr<Slot>& slot = incidents_[key];
  if (!slot) slot = std::make_unique<Slot>();
  return *slot;
}

std::optional<TimePoint> Engine::next_due() const {
  if (schedule_.empty()) return std::nullopt;
  return schedule_.begin()->at;
}

Engine::Slot* Engine::lookup(const std::string& key, bool& closed) {
  closed = false;
  if (auto it = incidents_.find(key); it != incidents_.end()) {
    closed = it->second->state.closed;  // closed but not yet flushed
    return closed ? nullptr : it->second.get();
  }
  auto stored = store_.load_incident(key);
  if (!stored) return nullptr;
  if (stored->closed) {
    closed = true;
    return nullptr;
  }
  // Open incidents are all loaded at start; one found only now was written by another writer.
  Slot& slot = slot_for(key);
  slot.state = std::move(*stored);
  return &slot;
}

// ---------------------------------------------------------------------------------------------
// Inputs

Outcome Engine::handle(const Event& event) {
  if (pending_ids_.contains(event.event_id) || store_.is_processed(event.event_id)) {
    return Outcome::duplicate();
  }
  const TimePoint now = time_.now();
  const std::size_t actions_before = pending_.actions.size();
  bool closed = false;
  Slot* slot = lookup(event.incident_key, closed);
  if (closed) return Outcome::rejected("incident \"" + event.incident_key + "\" is closed");
  if (slot == nullptr) {
    if (event.kind == EventKind::closed) {
      return Outcome::rejected("closed event for unknown incident \"" + event.incident_key + "\"");
    }
    slot = &open_incident(event);
  } else {
    act_due(slot->state, now);
    if (event.kind == EventKind::closed) {
      close_incident(slot->state, event);
    } else {
      update_incident(slot->state, event);
    }
  }
  slot->processed.push_back({event.event_id, event.incident_key, now});
  pending_ids_.insert(event.event_id);
  touched(*slot, actions_before);
  after_step();
  return Outcome::accepted();
}

namespace {

// A confirmation's identity is (incident_key, unit, confirmation_id); the id alone is not unique,
// as units choose their ids independently. The key is length-prefixed so no two triples meet,
// and its prefix differs from the "release:" + id of databases before version 7.
std::string confirmation_key(const Confirmation& c) {
  std::string key = "confirmation:";
  for (const std::string* part : {&c.incident_key, &c.unit}) {
    key += std::to_string(part->size());
    key += ':';
    key += *part;
  }
  key += c.confirmation_id;
  return key;
}

// What a unit says about its release; how it reached us (via, arrived_at) is not part of it.
std::string confirmation_difference(const Confirmation& was, const Confirmation& now) {
  std::string fields;
  const auto differs = [&](bool d, const char* name) {
    if (!d) return;
    if (!fields.empty()) fields += ", ";
    fields += name;
  };
  differs(was.milestone != now.milestone, "milestone");
  differs(was.released_at != now.released_at, "released_at");
  differs(was.channel != now.channel, "channel");
  differs(was.url != now.url, "url");
  differs(was.speaker != now.speaker, "speaker");
  return fields;
}

}  // namespace

std::optional<Confirmation> Engine::recorded_confirmation(const Confirmation& c) {
  if (pending_ids_.contains(confirmation_key(c))) {
    for (const auto& p : pending_.confirmations) {
      if (p.incident_key == c.incident_key && p.unit == c.unit &&
          p.confirmation_id == c.confirmation_id) {
        return p;
      }
    }
  }
  // Confirmations are few (a handful per incident): the store's own record is the set, so a
  // database written before identities were triples needs no rewrite of its processed ids.
  return store_.find_confirmation(c.incident_key, c.unit, c.confirmation_id);
}

Outcome Engine::handle(const Confirmation& c) {
  if (auto recorded = recorded_confirmation(c)) {
    const std::string differs = confirmation_difference(*recorded, c);
    if (differs.empty()) return Outcome::duplicate();
    return Outcome::conflicting("confirmation \"" + c.confirmation_id + "\" of unit \"" + c.unit +
                                "\" for incident \"" + c.incident_key +
                                "\" was already recorded with another " + differs +
                                "; a changed confirmation needs a new confirmation_id");
  }
  const std::string processed_id = confirmation_key(c);
  bool closed = false;
  Slot* slot = lookup(c.incident_key, closed);
  if (closed) return Outcome::rejected("incident \"" + c.incident_key + "\" is closed");
  if (slot == nullptr) return Outcome::rejected("unknown incident \"" + c.incident_key + "\"");
  IncidentState* s = &slot->state;
  const std::size_t actions_before = pending_.actions.size();
  if (!contains(s->units, c.unit)) {
    return Outcome::rejected("unit \"" + c.unit + "\" is not responsible for incident \"" +
                             c.incident_key + "\"");
  }
  const TimePoint now = time_.now();
  act_due(*s, now);

  Action a = action_for(s->key, ActionKind::release_confirmed, now);
  a.milestone = c.milestone;
  a.unit = c.unit;
  a.released_at = c.released_at;
  a.channel = c.channel;
  a.url = c.url;
  a.speaker = c.speaker;
  a.confirmation_id = c.confirmation_id;
  a.via = c.via;
  MilestoneState& ms = s->milestone(c.milestone);
  if (c.milestone == Milestone::follow_up) a.round = ms.round;
  emit(*s, std::move(a));

  // A follow-up confirmation counts for the round armed when it arrives; the others count even
  // before the clock starts, so an incident raised to level II later may be met at once.
  if (c.milestone != Milestone::follow_up || ms.armed) {
    auto& when = ms.confirmed_units[c.unit];
    when = std::max(when, c.released_at);
    // The unit has done its part: its people are no longer chased for this milestone.
    std::erase_if(s->deliveries, [&](const PendingDelivery& d) {
      return d.milestone == c.milestone && d.unit == c.unit &&
             !owing_units(*s, ms).contains(d.unit);
    });
  }
  check_met(*s, c.milestone, now);

  pending_.confirmations.push_back(c);
  slot->processed.push_back({processed_id, c.incident_key, now});
  pending_ids_.insert(processed_id);
  touched(*slot, actions_before);
  after_step();
  return Outcome::accepted();
}

Outcome Engine::handle(const Acknowledgement& ack) {
  bool closed = false;
  Slot* slot = lookup(ack.incident_key, closed);
  if (closed) return Outcome::rejected("incident \"" + ack.incident_key + "\" is closed");
  if (slot == nullptr) return Outcome::rejected("unknown incident \"" + ack.incident_key + "\"");
  IncidentState* s = &slot->state;
  const std::size_t actions_before = pending_.actions.size();
  if (!s->notified.contains(ack.recipient)) {
    return Outcome::rejected("\"" + ack.recipient + "\" was never notified about incident \"" +
                             ack.incident_key + "\"");
  }
  const TimePoint now = time_.now();
  act_due(*s, now);
  int acknowledged = 0;
  for (auto& d : s->deliveries) {
    if (d.recipient == ack.recipient && !d.acknowledged) {
      d.acknowledged = true;
      ++acknowledged;
    }
  }
  if (acknowledged == 0) {
    // Acting on what fell due may still have changed it.
    if (pending_.actions.size() != actions_before) touched(*slot, actions_before);
    after_step();
    return Outcome::duplicate();
  }
  Action a = action_for(s->key, ActionKind::acknowledged, now);
  a.recipient = ack.recipient;
  a.via = ack.via;
  emit(*s, std::move(a));
  pending_.acknowledgements.push_back(ack);
  touched(*slot, actions_before);
  after_step();
  return Outcome::accepted();
}

// ---------------------------------------------------------------------------------------------
// Incident lifecycle

namespace {

// An incident entered by hand says who entered it, in its opening, level and closing entries.
void mark_manual(Action& a, const Event& e) {
  if (e.source_platform != kManualPlatform) return;
  a.source = e.source_platform;
  a.by = e.source_by;
}

}  // namespace

Engine::Slot& Engine::open_incident(const Event& e) {
  const TimePoint now = time_.now();
  IncidentState s;
  s.key = e.incident_key;
  s.title = e.title;
  s.category = e.category;
  s.region = e.region;
  s.lead_unit = e.lead_unit;
  s.units = e.units;
  s.level = e.level;
  s.drill = e.drill;
  s.opened_at = e.detected_at;
  for (Milestone m : kMilestones) s.milestone(m).milestone = m;
  Slot& slot = slot_for(e.incident_key);
  slot.state = std::move(s);
  IncidentState& state = slot.state;

  const bool clock = config_.policy.clock_levels.contains(e.level);
  Action a = action_for(state.key, ActionKind::incident_opened, now);
  a.incident_level = e.level;
  a.clock = clock;
  a.title = e.title;
  a.lead_unit = e.lead_unit;
  a.units = e.units;
  a.detected_at = e.detected_at;
  mark_manual(a, e);
  emit(state, std::move(a));
  if (clock) start_clock(state, e.detected_at);
  act_due(state, now);
  return slot;
}

void Engine::update_incident(IncidentState& s, const Event& e) {
  const TimePoint now = time_.now();
  s.units = e.units;
  s.lead_unit = e.lead_unit;
  if (!e.title.empty()) s.title = e.title;
  if (!e.category.empty()) s.category = e.category;
  if (!e.region.empty()) s.region = e.region;
  if (e.level != s.level) {
    const Level previous = s.level;
    s.level = e.level;
    const bool starts = !s.clock_start && config_.policy.clock_levels.contains(e.level);
    Action a = action_for(s.key, ActionKind::level_changed, now);
    a.incident_level = e.level;
    a.previous_incident_level = previous;
    a.clock = starts || s.clock_start.has_value();
    a.units = s.units;
    a.detected_at = e.detected_at;
    mark_manual(a, e);
    emit(s, std::move(a));
    if (starts) start_clock(s, e.detected_at);
  }
  // Units may have been added or removed: a milestone may now be met, or owed by more units.
  for (Milestone m : kMilestones) check_met(s, m, now);
  act_due(s, now);
}

void Engine::close_incident(IncidentState& s, const Event& e) {
  const TimePoint now = time_.now();
  s.closed = true;
  s.closed_at = now;
  s.deliveries.clear();
  Action a = action_for(s.key, ActionKind::incident_closed, now);
  mark_manual(a, e);
  emit(s, std::move(a));
}

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

// ---------------------------------------------------------------------------------------------
// Acting on time

void Engine::run_due() {
  const TimePoint now = time_.now();
  while (!schedule_.empty() && schedule_.begin()->at <= now) {
    Slot& slot = *incidents_.at(schedule_.begin()->key);
    const std::size_t actions_before = pending_.actions.size();
    act_due(slot.state, now);
    touched(slot, actions_before);
    reschedule(slot);
    if (slot.scheduled_at && *slot.scheduled_at <= now) {
      invariant_broken("an incident is still due after acting on it");
    }
  }
  after_step();
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
  a.notification_id = d.alert_id + "/" + d.recipient + "/" + std::to_string(d.sends);
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

// ---------------------------------------------------------------------------------------------
// Scheduling and persistence

std::optional<TimePoint> Engine::earliest_due(const IncidentState& s) const {
  if (s.closed) return std::nullopt;
  std::optional<TimePoint> earliest;
  const auto consider = [&](TimePoint t) {
    if (!earliest || t < *earliest) earliest = t;
  };
  for (const auto& ms : s.milestones) {
    if (!ms.armed || ms.met_at) continue;
    if (ms.next_step < ms.steps.size()) {
      consider(ms.steps[ms.next_step].at);
    } else if (ms.breached_at && s.overdue_every > Duration{0}) {
      consider(*ms.breached_at + s.overdue_every * (ms.reminders + 1));
    }
  }
  if (s.resend_after > Duration{0}) {
    for (const auto& d : s.deliveries) {
      if (!d.acknowledged) consider(d.next_send);
    }
  }
  return earliest;
}

void Engine::reschedule(Slot& slot) {
  const auto due = earliest_due(slot.state);
  if (due == slot.scheduled_at) return;  // most events move no deadline
  if (slot.scheduled_at) schedule_.erase(Due{*slot.scheduled_at, slot.state.key});
  if (due) schedule_.insert(Due{*due, slot.state.key});
  slot.scheduled_at = due;
}

void Engine::emit(IncidentState& s, Action a) {
  a.drill = s.drill;
  if (listener_) listener_(a);
  pending_.actions.push_back(std::move(a));
}

void Engine::touched(Slot& slot, std::size_t actions_before) {
  if (!slot.dirty) {
    slot.dirty = true;
    dirty_.push_back(&slot);
  }
  if (!slot.acted && (pending_.actions.size() != actions_before || flush_each_step_)) {
    slot.acted = true;
    acted_.push_back(&slot);
  }
  // A repeat further back is harmless: rescheduling is idempotent.
  if (step_touched_.empty() || step_touched_.back() != &slot) step_touched_.push_back(&slot);
}

void Engine::after_step() {
  for (Slot* slot : step_touched_) reschedule(*slot);
  step_touched_.clear();
  // Armed before the commit as well: a commit that fails (a full disk, which the daemon waits
  // out) must not leave the clock without its wake-up, and what the step decided stays pending
  // for the next commit.
  rearm_timer();
  if (flush_each_step_) {
    flush_acted();
    rearm_timer();  // the commit drops closed incidents from the schedule
  }
}

void Engine::flush() {
  commit(true);
}

void Engine::flush_acted() {
  commit(false);
}

void Engine::commit(bool everything) {
  const std::vector<Slot*>& slots = everything ? dirty_ : acted_;
  if (slots.empty() && pending_.empty()) return;
  pending_.incidents.reserve(slots.size());  // a batch snapshots thousands: copy each once
  for (Slot* slot : slots) {
    pending_.incidents.push_back(slot->state);
    for (auto& p : slot->processed) pending_.processed.push_back(std::move(p));
  }
  try {
    store_.commit(pending_);
  } catch (...) {
    // As it was, so a retry commits the same.
    auto moved = pending_.processed.begin();
    for (Slot* slot : slots) {
      for (auto& p : slot->processed) p = std::move(*moved++);
    }
    pending_.processed.clear();
    pending_.incidents.clear();
    throw;
  }
  if (commit_listener_) commit_listener_(pending_.incidents);
  // The ids of uncommitted events only; the store knows the rest.
  if (everything || dirty_.size() == slots.size()) {
    pending_ids_.clear();
  } else {
    for (const auto& p : pending_.processed) pending_ids_.erase(p.id);
  }
  pending_ = Changeset{};
  std::vector<std::string> closed;
  for (Slot* slot : slots) {
    slot->processed.clear();
    slot->dirty = false;
    slot->acted = false;
    if (slot->state.closed) closed.push_back(slot->state.key);
  }
  if (everything) {
    dirty_.clear();
  } else {
    std::erase_if(dirty_, [](const Slot* slot) { return !slot->dirty; });
  }
  acted_.clear();
  // Closed incidents leave memory once their closing is durable; the store still answers for
  // them (a late event for a closed incident is rejected from there).
  for (const auto& key : closed) {
    auto it = incidents_.find(key);
    reschedule(*it->second);
    incidents_.erase(it);
  }
}

void Engine::rearm_timer() {
  if (schedule_.empty()) {
    timer_->cancel();
    armed_at_.reset();
    return;
  }
  const TimePoint at = schedule_.begin()->at;
  if (armed_at_ == at) return;
  armed_at_ = at;
  timer_->arm(at, [this] {
    armed_at_.reset();
    run_due();
  });
}

}  // namespace incidentd
