// The clock's state machine: its inputs (events, confirmations, acknowledgements) and an
// incident's lifecycle (open, update, close). Milestones, acting on time and commits are in
// engine_milestones.cpp, engine_due.cpp and engine_commit.cpp.
#include "incidentd/engine.hpp"

#include <algorithm>
#include <utility>

#include "core/engine_detail.hpp"

namespace incidentd {

using engine_detail::action_for;
using engine_detail::contains;

Engine::Engine(const Config& config, Store& store, TimeSystem& time, Owns owns)
    : config_(config),
      store_(store),
      owns_(std::move(owns)),
      time_(time),
      timer_(time.create_timer()),
      store_records_actions_(store.records_actions()) {
  for (auto& state : store_.load_open_incidents()) {
    if (owns_ && !owns_(state.key)) continue;
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

std::optional<Outcome> Engine::refuse_unowned(const std::string& key) const {
  if (!owns_ || owns_(key)) return std::nullopt;
  return Outcome::rejected("incident \"" + key +
                           "\" belongs to a partition this instance does not own; its owner "
                           "applies it (docs/cluster.md, \"Ownership\")");
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
  if (auto refused = refuse_unowned(event.incident_key)) return *refused;
  if (pending_ids_.contains(event.event_id) || store_.is_processed(event.event_id)) {
    return Outcome::duplicate();
  }
  const TimePoint now = time_.now();
  const std::uint64_t actions_before = actions_taken_;
  bool closed = false;
  Slot* slot = lookup(event.incident_key, closed);
  if (closed) return Outcome::rejected("incident \"" + event.incident_key + "\" is closed");
  bool described = true;
  if (slot == nullptr) {
    if (event.kind == EventKind::closed) {
      return Outcome::rejected("closed event for unknown incident \"" + event.incident_key + "\"");
    }
    slot = &open_incident(event);
  } else {
#ifndef NDEBUG
    const IncidentState before = slot->state;
#endif
    act_due(slot->state, now);
    if (event.kind == EventKind::closed) {
      close_incident(slot->state, event);
    } else {
      described = update_incident(slot->state, event);
    }
#ifndef NDEBUG
    if (!described && actions_taken_ == actions_before && !(slot->state == before)) {
      engine_detail::invariant_broken(
          "an event changed an incident without an action or a new description");
    }
#endif
  }
  slot->processed.push_back({event.event_id, event.incident_key, now});
  pending_ids_.insert(event.event_id);
  touched(*slot, actions_before, described);
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
  if (auto refused = refuse_unowned(c.incident_key)) return *refused;
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
  const std::uint64_t actions_before = actions_taken_;
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
  if (auto refused = refuse_unowned(ack.incident_key)) return *refused;
  bool closed = false;
  Slot* slot = lookup(ack.incident_key, closed);
  if (closed) return Outcome::rejected("incident \"" + ack.incident_key + "\" is closed");
  if (slot == nullptr) return Outcome::rejected("unknown incident \"" + ack.incident_key + "\"");
  IncidentState* s = &slot->state;
  const std::uint64_t actions_before = actions_taken_;
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
    if (actions_taken_ != actions_before) touched(*slot, actions_before);
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

bool Engine::update_incident(IncidentState& s, const Event& e) {
  const TimePoint now = time_.now();
  const auto take = [](std::string& field, const std::string& value) {
    if (value.empty() || field == value) return false;
    field = value;
    return true;
  };
  bool described = s.units != e.units || s.lead_unit != e.lead_unit;
  s.units = e.units;
  s.lead_unit = e.lead_unit;
  described = take(s.title, e.title) || described;
  described = take(s.category, e.category) || described;
  described = take(s.region, e.region) || described;
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
  return described;
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

}  // namespace incidentd
