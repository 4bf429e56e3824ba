// What the in-process benchmarks share: a stopwatch and the roster they run on (three units and a
// supervision office, four people each, reached by SMS), on the default policy.
#pragma once

#include <chrono>
#include <string>

#include "incidentd/config.hpp"

namespace incidentd::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

inline Config bench_config() {
  Config config;
  const char* roles[] = {"duty", "duty", "leader", "principal"};
  for (const char* id : {"u1", "u2", "u3", "office"}) {
    Unit unit{.id = id, .name = id, .people = {}};
    int n = 0;
    for (const char* role : roles) {
      Person p;
      p.id = std::string(id) + "-" + role + std::to_string(++n);
      p.name = p.id;
      p.role = role;
      p.phone = "+8613800000000";
      p.channels = {"sms"};
      unit.people.push_back(p);
    }
    config.units.push_back(unit);
  }
  config.policy.escalation.back().supervision_units = {"office"};
  return config;
}

}  // namespace incidentd::bench
