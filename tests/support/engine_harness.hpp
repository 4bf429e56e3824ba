// The engine tests' common ground: the contract's policy and a roster built by hand in code (not
// from Policy::defaults() or the shipped TOML, so the tests stay an independent oracle of the
// contract), inputs, the engine on a virtual clock over an in-memory store, and actions written
// as short lines so that an expected timeline reads like the rule book.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ctl/virtual_time.hpp"
#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/engine.hpp"
#include "support/memory_store.hpp"

namespace incidentd::testing {

// The clock's start S in every test: 2026-11-26T08:00:00+08:00.
inline const TimePoint kStart = std::chrono::sys_days{std::chrono::year{2026} / 11 / 26};

TimePoint at(Duration offset);

// The policy of the contract's table, and the roster: unit "a" lists its people out of role
// order on purpose (notifications follow the roster); a-duty2 prefers webhook; b-duty1's deputy
// is b-duty2, who is a duty officer too.
Policy contract_policy(ConfirmRule rule);
Person who(std::string id, std::string role, std::vector<std::string> channels = {"sms"},
           std::string deputy = "");
Config roster_config(ConfirmRule rule = ConfirmRule::all);

Event event(std::string id, std::string key, Level level, std::vector<std::string> units,
            TimePoint detected, EventKind kind = EventKind::detected);
Confirmation confirmation(std::string id, std::string key, Milestone m, std::string unit,
                          TimePoint released);
Acknowledgement ack(std::string key, std::string person, TimePoint when);

// The engine on a virtual clock and an in-memory store; the store's timeline is the record.
struct Harness {
  explicit Harness(ConfirmRule rule = ConfirmRule::all)
      : config(roster_config(rule)), time(kStart), engine(config, store, time) {}

  // Moves the virtual clock to the input's arrival (firing what falls due first), then hands
  // it to the engine, as the simulation does.
  template <typename Input>
  Outcome feed(const Input& input, TimePoint arrival) {
    time.advance_to(arrival);
    return engine.handle(input);
  }
  Outcome feed(const Event& e) { return feed(e, e.detected_at); }
  Outcome feed(const Confirmation& c) { return feed(c, c.released_at); }
  Outcome feed(const Acknowledgement& a) { return feed(a, a.at); }
  void advance_to(Duration offset) { time.advance_to(at(offset)); }

  const std::vector<Action>& timeline() const { return store.timeline(); }

  Config config;
  MemoryStore store;
  VirtualTime time;
  Engine engine;
};

// Actions as short lines.
std::string rel(TimePoint t);
std::string rel(const std::optional<TimePoint>& t);
std::string num(const std::optional<int>& v);
std::string late_text(const std::optional<Lateness>& late);
bool is_rung(const Action& a);
std::string line(const Action& a);
std::vector<std::string> lines(const std::vector<Action>& timeline,
                               const std::function<bool(const Action&)>& keep);
// The ladder rungs (warning, target_missed, deadline_breached) of one milestone.
std::vector<std::string> rungs(const Harness& h, Milestone m);
// Everything but notifications.
std::vector<std::string> story(const Harness& h);
// The people a new alert reached at `when`, in order: first sends that are not to a deputy.
// Re-sends of older alerts at the same instant are left out on purpose.
std::vector<std::string> alerted_at(const Harness& h, Duration when);
const Action* find_notification(const Harness& h, Duration when, const std::string& recipient,
                                int send);

}  // namespace incidentd::testing
