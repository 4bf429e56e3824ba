#include "support/memory_store.hpp"

#include <set>
#include <tuple>

namespace incidentd::testing {

void MemoryStore::commit(const Changeset& changes) {
  if (changes.empty()) return;
  if (fail_next_ > 0) {
    --fail_next_;
    ++failed_commits_;
    throw StoreError("commit (memory): injected failure");
  }
  if (full_) {
    ++failed_commits_;
    throw StoreFullError("commit (memory): disk full (injected)", "memory");
  }
  // Check every constraint before touching anything, so a failed commit leaves no trace.
  std::set<std::string> ids;
  for (const auto& p : changes.processed) {
    if (processed_.count(p.id) != 0 || !ids.insert(p.id).second) {
      ++failed_commits_;
      throw StoreError("commit (memory): processed id '" + p.id + "' stored twice");
    }
  }
  std::set<std::tuple<std::string, std::string, std::string>> confirmation_ids;
  for (const auto& c : changes.confirmations) {
    const auto id = std::make_tuple(c.incident_key, c.unit, c.confirmation_id);
    if (confirmation_ids_.count(id) != 0 || !confirmation_ids.insert(id).second) {
      ++failed_commits_;
      throw StoreError("commit (memory): confirmation '" + c.confirmation_id + "' stored twice");
    }
  }

  for (const auto& s : changes.incidents) incidents_[s.key] = s;
  snapshots_written_ += changes.incidents.size();
  for (const auto& a : changes.actions) {
    timeline_.push_back(a);
    if (a.kind != ActionKind::notification) continue;
    if (outbox_ids_.insert(a.notification_id).second) outbox_.push_back(a);
  }
  for (const auto& p : changes.processed) processed_.emplace(p.id, p);
  confirmation_ids_.insert(confirmation_ids.begin(), confirmation_ids.end());
  confirmations_.insert(confirmations_.end(), changes.confirmations.begin(),
                        changes.confirmations.end());
  acknowledgements_.insert(acknowledgements_.end(), changes.acknowledgements.begin(),
                           changes.acknowledgements.end());
  ++commits_;
  if (deferred_) {
    ++at_risk_;
    ++deferred_commits_;
  }
}

std::vector<IncidentState> MemoryStore::load_open_incidents() {
  std::vector<IncidentState> out;
  for (const auto& [key, s] : incidents_) {
    if (!s.closed) out.push_back(s);
  }
  return out;
}

std::optional<IncidentState> MemoryStore::load_incident(const std::string& key) {
  auto it = incidents_.find(key);
  if (it == incidents_.end()) return std::nullopt;
  return it->second;
}

std::optional<Confirmation> MemoryStore::find_confirmation(const std::string& incident_key,
                                                           const std::string& unit,
                                                           const std::string& confirmation_id) {
  for (const auto& c : confirmations_) {
    if (c.incident_key == incident_key && c.unit == unit && c.confirmation_id == confirmation_id) {
      return c;
    }
  }
  return std::nullopt;
}

bool MemoryStore::is_processed(const std::string& id) {
  return processed_.count(id) != 0;
}

std::vector<IncidentState> MemoryHistory::load_all_incidents() {
  std::vector<IncidentState> out;
  for (const auto& [key, state] : store_.incidents()) out.push_back(state);
  return out;
}

std::vector<Action> MemoryHistory::timeline(const std::string& incident_key) {
  std::vector<Action> out;
  for (const Action& a : store_.timeline()) {
    if (incident_key.empty() || a.incident_key == incident_key) out.push_back(a);
  }
  return out;
}

}  // namespace incidentd::testing
