// The engine's schedule and commits: each incident's earliest due instant, the one wake-up
// timer, what a step touched, and committing it to the store in one changeset.
#include "incidentd/engine.hpp"

#include <algorithm>
#include <utility>

namespace incidentd {

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
  ++actions_taken_;
  if (listener_) listener_(a);
  if (store_records_actions_) pending_.actions.push_back(std::move(a));
}

void Engine::touched(Slot& slot, std::uint64_t actions_before, bool described) {
  // Every action is emitted inside a step on one incident, between its actions_before and this.
  if (store_records_actions_) slot.pending_actions += actions_taken_ - actions_before;
  slot.changed = slot.changed || described || actions_taken_ != actions_before;
  if (!slot.dirty) {
    slot.dirty = true;
    dirty_.push_back(&slot);
  }
  if (!slot.acted && (actions_taken_ != actions_before || flush_each_step_)) {
    slot.acted = true;
    acted_.push_back(&slot);
  }
  // A repeat further back is harmless: rescheduling is idempotent.
  if (step_touched_.empty() || step_touched_.back() != &slot) step_touched_.push_back(&slot);
}

void Engine::after_step() {
  for (Slot* slot : step_touched_) reschedule(*slot);
  // Armed before the commit as well: a commit that fails (a full disk, which the daemon waits
  // out) must not leave the clock without its wake-up, and what the step decided stays pending
  // for the next commit.
  rearm_timer();
  if (!flush_each_step_) {
    step_touched_.clear();
    return;
  }
  // This step's incidents alone. Between two slices of an ingest batch the batch's own acted
  // incidents are still pending (thousands, when it opens them): a due step committed with them
  // held the loop 87 ms and the steps due after it waited (clock_lateness_bench).
  part_.clear();
  for (Slot* slot : step_touched_) {
    if (slot->acted && std::find(part_.begin(), part_.end(), slot) == part_.end()) {
      part_.push_back(slot);
    }
  }
  step_touched_.clear();
  commit(part_);
  part_.clear();
  rearm_timer();  // the commit drops closed incidents from the schedule
}

void Engine::flush() {
  commit(dirty_);
}

void Engine::flush_acted() {
  commit(acted_);
}

bool Engine::flush_part(std::size_t max_incidents) {
  max_incidents = std::max<std::size_t>(max_incidents, 1);
  part_.clear();
  for (Slot* slot : acted_) {
    if (part_.size() == max_incidents) break;
    part_.push_back(slot);
  }
  for (Slot* slot : dirty_) {
    if (part_.size() == max_incidents) break;
    if (!slot->acted) part_.push_back(slot);
  }
  commit(part_);
  part_.clear();
  if (!dirty_.empty()) return false;
  commit(part_);  // anything left that no incident holds (none is expected)
  return true;
}

bool Engine::flush_acted_part(std::size_t max_incidents) {
  max_incidents = std::max<std::size_t>(max_incidents, 1);
  const auto end = acted_.size() > max_incidents
                       ? acted_.begin() + static_cast<std::ptrdiff_t>(max_incidents)
                       : acted_.end();
  part_.assign(acted_.begin(), end);
  commit(part_);
  part_.clear();
  if (!acted_.empty()) return false;
  commit(part_);  // anything left that no incident holds (none is expected)
  return true;
}

namespace {

// Moves the items of `from` that `mine` picks to the end of `to`, keeping the order of both.
template <typename Item, typename Pick>
void move_picked(std::vector<Item>& from, std::vector<Item>& to, const Pick& mine) {
  auto kept = from.begin();
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (mine(*it)) {
      to.push_back(std::move(*it));
    } else {
      if (kept != it) *kept = std::move(*it);
      ++kept;
    }
  }
  from.erase(kept, from.end());
}

template <typename Item>
void append(std::vector<Item>& to, std::vector<Item>& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  from.clear();
}

}  // namespace

void Engine::take_pending_of(const std::vector<Slot*>& slots) {
  part_keys_.clear();
  std::size_t actions = 0;
  for (const Slot* slot : slots) {
    part_keys_.insert(slot->state.key);
    actions += slot->pending_actions;
  }
  take_pending_actions(actions);
  // A handful per incident: these are scanned whole.
  const auto mine = [this](const auto& item) { return part_keys_.count(item.incident_key) != 0; };
  move_picked(pending_.confirmations, part_changes_.confirmations, mine);
  move_picked(pending_.acknowledgements, part_changes_.acknowledgements, mine);
  part_keys_.clear();  // views of the slots' keys: a commit may close and drop a slot
}

// Moves the part's `count` actions (those of part_keys_) to part_changes_, in their order. A
// batch's incidents are committed in the order they first acted, so a part's actions lie at the
// front of what is pending: the scan stops at the part's last action, and only the actions it
// passed over move (back, in their order, to just before where it stopped). Moving every action
// behind the part forward instead took a tenth of the loop's time when a flood opened incidents
// by the thousand (clock_lateness_bench, docs/kafka.md). What parts took stays at the front,
// moved-from, until it is half of the list.
void Engine::take_pending_actions(std::size_t count) {
  std::vector<Action>& actions = pending_.actions;
  std::size_t at = taken_actions_;
  for (; at < actions.size() && count > 0; ++at) {
    if (part_keys_.count(actions[at].incident_key) != 0) {
      part_changes_.actions.push_back(std::move(actions[at]));
      --count;
    } else {
      passed_over_.push_back(std::move(actions[at]));
    }
  }
  taken_actions_ = at - passed_over_.size();
  std::move(passed_over_.begin(), passed_over_.end(),
            actions.begin() + static_cast<std::ptrdiff_t>(taken_actions_));
  passed_over_.clear();
  if (taken_actions_ == actions.size() || taken_actions_ > actions.size() / 2) {
    drop_taken_actions();
  }
}

void Engine::drop_taken_actions() {
  pending_.actions.erase(pending_.actions.begin(),
                         pending_.actions.begin() + static_cast<std::ptrdiff_t>(taken_actions_));
  taken_actions_ = 0;
}

void Engine::give_back_pending() {
  // An incident's items are all in one of the two lists, so each keeps its own order.
  append(pending_.actions, part_changes_.actions);
  append(pending_.confirmations, part_changes_.confirmations);
  append(pending_.acknowledgements, part_changes_.acknowledgements);
}

// The pending actions, confirmations and acknowledgements all come from acted slots. When every
// acted slot is among `slots` (flush(), flush_acted(), a last part), the commit takes all of
// them; otherwise (a part, a step between two slices of a batch) it takes those of its own
// incidents only and the rest stay pending with theirs. Either way no action is committed
// without its incident's snapshot. `slots` may be dirty_ or acted_ itself: it is read before
// either changes.
void Engine::commit(const std::vector<Slot*>& slots) {
  const auto acted_among = static_cast<std::size_t>(
      std::count_if(slots.begin(), slots.end(), [](const Slot* slot) { return slot->acted; }));
  const bool every_acted = acted_among == acted_.size();
  if (slots.empty() && (!every_acted || pending_.empty())) return;
  if (every_acted) {
    drop_taken_actions();
  } else {
    take_pending_of(slots);
  }
  Changeset& changes = every_acted ? pending_ : part_changes_;
  changes.incidents.reserve(slots.size());  // a batch snapshots thousands: copy each once
  for (Slot* slot : slots) {
    if (slot->changed) changes.incidents.push_back(slot->state);
    for (auto& p : slot->processed) changes.processed.push_back(std::move(p));
  }
  try {
    store_.commit(changes);
  } catch (...) {
    // As it was, so a retry commits the same.
    auto moved = changes.processed.begin();
    for (Slot* slot : slots) {
      for (auto& p : slot->processed) p = std::move(*moved++);
    }
    changes.processed.clear();
    changes.incidents.clear();
    if (!every_acted) give_back_pending();
    throw;
  }
  if (commit_listener_) commit_listener_(changes.incidents);
  // The ids of uncommitted events only; the store knows the rest. Erased one by one: clear()
  // walks every bucket, as many as the largest batch ever needed, and a commit of one step
  // after a flood's batches spent a fifth of the loop's time there (clock_lateness_bench).
  const bool all_dirty = dirty_.size() == slots.size();
  for (const auto& p : changes.processed) pending_ids_.erase(p.id);
  if (all_dirty && !pending_ids_.empty()) pending_ids_.clear();  // none is expected
  changes.clear();
  std::vector<std::string> closed;
  for (Slot* slot : slots) {
    slot->processed.clear();
    slot->pending_actions = 0;
    slot->dirty = false;
    slot->changed = false;
    slot->acted = false;
    if (slot->state.closed) closed.push_back(slot->state.key);
  }
  if (all_dirty) {
    dirty_.clear();
  } else {
    std::erase_if(dirty_, [](const Slot* slot) { return !slot->dirty; });
  }
  if (every_acted) {
    acted_.clear();
  } else {
    std::erase_if(acted_, [](const Slot* slot) { return !slot->acted; });
  }
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
  const TimePoint at =
      held_until_ ? std::max(*held_until_, schedule_.begin()->at) : schedule_.begin()->at;
  if (armed_at_ == at) return;
  armed_at_ = at;
  timer_->arm(at, [this] {
    armed_at_.reset();
    run_due();
  });
}

}  // namespace incidentd
