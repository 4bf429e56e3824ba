// The store behind `incidentctl simulate`: keeps what the engine reads back (incident snapshots
// and processed ids) in memory and drops the timeline and the outbox, which the simulation
// prints instead of keeping. A simulated year then needs neither a database nor gigabytes.
#pragma once

#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "incidentd/store.hpp"

namespace incidentd {

class SimulationStore final : public Store {
 public:
  void commit(const Changeset& changes) override {
    for (const auto& state : changes.incidents) incidents_[state.key] = state;
    for (const auto& p : changes.processed) processed_.insert(p.id);
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

 private:
  std::map<std::string, IncidentState> incidents_;
  std::unordered_set<std::string> processed_;
};

}  // namespace incidentd
