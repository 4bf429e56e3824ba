// The store behind `incidentctl simulate`: keeps what the engine reads back (incident snapshots,
// processed ids, confirmations) in memory and drops the timeline and the outbox, which the
// simulation prints instead of keeping. A simulated year then needs neither a database nor
// gigabytes.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "incidentd/store.hpp"

namespace incidentd {

class SimulationStore final : public Store {
 public:
  void commit(const Changeset& changes) override {
    for (const auto& state : changes.incidents) incidents_[state.key] = state;
    for (const auto& p : changes.processed) processed_.insert(p.id);
    for (const auto& c : changes.confirmations) {
      confirmations_[{c.incident_key, c.unit, c.confirmation_id}] = c;
    }
  }

  std::vector<IncidentState> load_open_incidents() override {
    std::vector<IncidentState> open;
    for (const auto& [key, state] : incidents_) {
      if (!state.closed) open.push_back(state);
    }
    return open;
  }

  std::optional<IncidentState> load_incident(const std::string& key) override {
    auto it = incidents_.find(key);
    if (it == incidents_.end()) return std::nullopt;
    return it->second;
  }

  bool is_processed(const std::string& id) override { return processed_.contains(id); }

  // The simulation prints the actions as the engine takes them; commits need not carry them.
  bool records_actions() const override { return false; }

  std::optional<Confirmation> find_confirmation(const std::string& incident_key,
                                                const std::string& unit,
                                                const std::string& confirmation_id) override {
    auto it = confirmations_.find({incident_key, unit, confirmation_id});
    if (it == confirmations_.end()) return std::nullopt;
    return it->second;
  }

 private:
  // A few per incident: the engine compares a repeated confirmation with what was recorded.
  std::map<std::tuple<std::string, std::string, std::string>, Confirmation> confirmations_;
  std::map<std::string, IncidentState> incidents_;
  std::unordered_set<std::string> processed_;
};

}  // namespace incidentd
