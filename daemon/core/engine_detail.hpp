// What the engine's files share, internal to daemon/core: an action stamped for an incident, a
// membership test for the short lists of units and roles, and the end of a broken invariant.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/time.hpp"

namespace incidentd::engine_detail {

inline Action action_for(const std::string& key, ActionKind kind, TimePoint now) {
  Action a;
  a.at = now;
  a.incident_key = key;
  a.kind = kind;
  return a;
}

inline bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// A bug in the engine: says what and aborts (systemd restarts the daemon from its database).
[[noreturn]] void invariant_broken(const char* what);

}  // namespace incidentd::engine_detail
