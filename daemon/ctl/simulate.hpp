// Offline simulation: the real engine on a virtual clock. Scenario lines are fed at their
// arrival instants, in time order (file order among equal instants), and the virtual clock fires
// every deadline in between, so the timeline is what the daemon would have done.
#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "ctl/virtual_time.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/store.hpp"

namespace incidentd {

// Without --until, a simulation runs this long past its last scenario line.
inline constexpr Duration kDefaultSimulationTail = std::chrono::hours(48);

// Receives each action as the engine takes it, in time order.
using ActionSink = std::function<void(const Action&)>;

class Simulation {
 public:
  // Without a sink the actions are kept (actions(), take_actions()); with one they go to it and
  // nothing is kept, so a simulated year holds only its open incidents, not every action.
  Simulation(const Config& config, Store& store, TimePoint start, ActionSink sink = {});
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // Advances the virtual clock to the line's arrival, then hands the line to the engine.
  // Changes are committed in batches, as the daemon does; advance_to() ends with a flush, so
  // after it everything up to that instant is durable.
  Outcome feed(const ScenarioLine& line);
  void advance_to(TimePoint t);
  TimePoint now() const { return time_.now(); }

  const std::vector<Action>& actions() const { return actions_; }
  std::vector<Action> take_actions() { return std::move(actions_); }
  Engine& engine() { return engine_; }

 private:
  VirtualTime time_;
  Engine engine_;
  std::vector<Action> actions_;
  std::size_t unflushed_ = 0;
};

struct ScenarioInput {
  std::size_t line_number = 0;
  ScenarioLine line;
};

struct ParsedScenario {
  std::vector<ScenarioInput> lines;  // sorted by arrival, stable
  std::vector<std::string> errors;   // "line N: reason"
};

ParsedScenario parse_scenario(std::istream& in, const Config& config);

struct SimulationReport {
  std::size_t actions = 0;          // how many went to the sink
  std::vector<std::string> errors;  // parse errors and rejected lines, "line N: reason"
};

// Runs a whole scenario on a SimulationStore (nothing written to disk), handing each action to
// `sink` as it is taken. `until` defaults to the last arrival plus kDefaultSimulationTail.
SimulationReport run_simulation(const Config& config, const ParsedScenario& scenario,
                                std::optional<TimePoint> until, const ActionSink& sink);

}  // namespace incidentd
