#include "kafka/state_changelog.hpp"

#include <iterator>

namespace incidentd {

void StateChangelog::add(std::vector<StateRecord> records, std::int64_t seq) {
  if (records.empty()) return;
  for (auto& r : records) {
    r.by = instance_id_;
    r.seq = seq;
  }
  std::lock_guard lock(mutex_);
  if (records_.empty()) {
    records_ = std::move(records);
    return;
  }
  records_.insert(records_.end(), std::make_move_iterator(records.begin()),
                  std::make_move_iterator(records.end()));
}

std::vector<StateRecord> StateChangelog::take() {
  std::lock_guard lock(mutex_);
  return std::exchange(records_, {});
}

std::size_t StateChangelog::pending() const {
  std::lock_guard lock(mutex_);
  return records_.size();
}

void ChangelogStore::commit(const Changeset& changes) {
  inner_.commit(changes);  // throws: nothing was written, nothing is queued
  changelog_.add(state_records_of(changes), commit_seq_ ? commit_seq_() : 0);
}

std::vector<OutboxRow> ChangelogOutbox::due_notifications(TimePoint now, std::size_t limit) {
  auto rows = inner_.due_notifications(now, limit);
  for (const auto& row : rows) {
    if (!row.incident_key.empty()) incident_of_[row.notification_id] = row.incident_key;
  }
  return rows;
}

std::vector<bool> ChangelogOutbox::record_outbox(const std::vector<OutboxUpdate>& updates) {
  std::vector<bool> applied = inner_.record_outbox(updates);
  std::vector<OutboxUpdate> changed;
  for (std::size_t i = 0; i < updates.size() && i < applied.size(); ++i) {
    if (applied[i]) changed.push_back(updates[i]);
  }
  changelog_.add(state_records_of(changed,
                                  [this](const std::string& id) {
                                    auto it = incident_of_.find(id);
                                    return it == incident_of_.end() ? std::string() : it->second;
                                  }),
                 commit_seq_ ? commit_seq_() : 0);
  // A row that left 'pending' is never claimed again: forget it.
  for (const auto& u : changed) {
    if (u.state != DeliveryState::pending) incident_of_.erase(u.notification_id);
  }
  return applied;
}

}  // namespace incidentd
