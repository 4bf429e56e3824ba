// The year of incidents the store benchmarks build through the real engine (report_bench's
// statistics and verify, restart_bench's archive): one incident every five minutes from
// 2026-01-01, first releases from 1 h to 6 h 30 (so some warn, miss the target or breach and
// notify), a press conference at 19 h, closed at 30 h unless left open. Fed to a Simulation as
// they arrive, so a year of any length needs memory for a day of it. Seeded: every build of the
// same size is the same database.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ctl/simulate.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"
#include "incidentd/store.hpp"

namespace incidentd::bench {

inline Event year_event(const std::string& key, EventKind kind, TimePoint at,
                        const std::string& id) {
  Event e;
  e.event_id = id;
  e.incident_key = key;
  e.kind = kind;
  e.level = Level::II;
  e.region = "5306" + std::to_string(key.size() % 10);
  e.lead_unit = "u1";
  e.units = {"u1", "u2"};
  e.detected_at = at;
  return e;
}

inline Confirmation year_release(const std::string& key, const std::string& unit, Milestone m,
                                 TimePoint at) {
  Confirmation c;
  c.confirmation_id = key + "-" + unit + "-" + std::string(to_string(m));
  c.incident_key = key;
  c.milestone = m;
  c.unit = unit;
  c.released_at = at;
  c.channel = "weibo";
  c.url = "https://example.org/" + c.confirmation_id;
  c.via = "bench";
  return c;
}

inline TimePoint year_start() {
  return *parse_rfc3339("2026-01-01T00:00:00+08:00");
}

// Feeds the year to a Simulation on `store` in arrival order (ties in the order the lines were
// made, as a stable sort of the whole year would), one incident at a time. `more(i)` is asked
// before incident i: false ends the year. Incidents from `open_from` on get no close and come
// `open_every` apart (left open for months, an incident's reminders would run on for ever: a
// province's open incidents are its recent ones). Returns the number of incidents fed; the
// simulation ends an hour after the last line, flushed.
inline int feed_year(const Config& config, Store& store, const std::function<bool(int)>& more,
                     int open_from = -1, Duration open_every = std::chrono::minutes(5)) {
  struct Pending {
    TimePoint at;
    std::uint64_t order;
    ScenarioLine line;
    bool operator>(const Pending& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> pending;
  std::uint64_t order = 0;
  const auto push = [&](ScenarioLine line) {
    const TimePoint at = arrival_of(line);
    pending.push({at, order++, std::move(line)});
  };
  const TimePoint start = year_start();
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> release_minutes(60, 390);
  Simulation sim(config, store, start);
  const auto feed_until = [&](TimePoint t) {
    while (!pending.empty() && pending.top().at <= t) {
      sim.feed(pending.top().line);
      pending.pop();
    }
    sim.take_actions();  // what the engine did is in the store; the list would grow for ever
  };
  TimePoint last = start;
  int i = 0;
  for (; more(i); ++i) {
    const std::string key = "inc-" + std::to_string(i);
    const TimePoint t0 =
        open_from < 0 || i < open_from
            ? start + std::chrono::minutes(5 * i)
            : start + std::chrono::minutes(5 * open_from) + open_every * (i - open_from);
    feed_until(t0);
    const TimePoint released = t0 + std::chrono::minutes(release_minutes(rng));
    push(year_event(key, EventKind::detected, t0, key + "-d"));
    for (const char* unit : {"u1", "u2"}) {
      push(year_release(key, unit, Milestone::first_release, released));
      push(year_release(key, unit, Milestone::press_conference, t0 + std::chrono::hours(19)));
    }
    if (open_from < 0 || i < open_from) {
      push(year_event(key, EventKind::closed, t0 + std::chrono::hours(30), key + "-c"));
    }
  }
  while (!pending.empty()) {
    last = pending.top().at;
    feed_until(last);
  }
  sim.advance_to(last + std::chrono::hours(1));
  return i;
}

}  // namespace incidentd::bench
