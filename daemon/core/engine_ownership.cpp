// A cluster's partitions moving between instances (docs/cluster.md, "Ownership"): the engine
// takes the incidents of a partition it was assigned and forgets those of one it lost. Which
// partitions it owns is the caller's (Owns); this file only keeps the clocks in step with it.
#include <string>
#include <utility>
#include <vector>

#include "incidentd/engine.hpp"

namespace incidentd {

std::size_t Engine::adopt(std::vector<IncidentState> incidents) {
  std::size_t taken = 0;
  for (auto& state : incidents) {
    if (state.closed || (owns_ && !owns_(state.key))) continue;
    if (incidents_.contains(state.key)) continue;  // held already: its slot is the newer
    const std::string key = state.key;
    Slot& slot = slot_for(key);
    slot.state = std::move(state);
    reschedule(slot);
    ++taken;
  }
  // What fell due while nobody owned them (the old owner's last instants, the handover) acts
  // now, once per milestone; the commit of that step is what the state topic hears of first.
  run_due();
  return taken;
}

std::size_t Engine::release() {
  if (!owns_) return 0;
  flush();
  std::vector<std::string> gone;
  for (const auto& [key, slot] : incidents_) {
    if (!owns_(key)) gone.push_back(key);
  }
  for (const auto& key : gone) {
    auto it = incidents_.find(key);
    if (it->second->scheduled_at) schedule_.erase(Due{*it->second->scheduled_at, key});
    incidents_.erase(it);
  }
  rearm_timer();
  return gone.size();
}

}  // namespace incidentd
