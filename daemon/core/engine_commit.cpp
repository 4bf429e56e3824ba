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

void Engine::touched(Slot& slot, std::uint64_t actions_before) {
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
  commit(dirty_);
}

void Engine::flush_acted() {
  commit(acted_);
}

bool Engine::flush_part(std::size_t max_others) {
  part_.assign(acted_.begin(), acted_.end());
  std::size_t others = 0;
  for (Slot* slot : dirty_) {
    if (others == max_others) break;
    if (slot->acted) continue;
    part_.push_back(slot);
    ++others;
  }
  commit(part_);
  part_.clear();
  return dirty_.empty();  // a commit that returns leaves nothing pending
}

// Every acted slot is among `slots` (flush_acted() commits exactly those, flush() and
// flush_part() more): the pending actions, confirmations and acknowledgements all come from acted
// slots, so committing them with these slots leaves no action without its incident's snapshot.
// `slots` may be dirty_ or acted_ itself: it is read before either changes.
void Engine::commit(const std::vector<Slot*>& slots) {
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
  const bool all_dirty = dirty_.size() == slots.size();
  if (all_dirty) {
    pending_ids_.clear();
  } else {
    for (const auto& p : pending_.processed) pending_ids_.erase(p.id);
  }
  pending_.clear();
  std::vector<std::string> closed;
  for (Slot* slot : slots) {
    slot->processed.clear();
    slot->dirty = false;
    slot->acted = false;
    if (slot->state.closed) closed.push_back(slot->state.key);
  }
  if (all_dirty) {
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
