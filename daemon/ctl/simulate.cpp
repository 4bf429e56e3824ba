#include "ctl/simulate.hpp"

#include <algorithm>
#include <istream>
#include <variant>

#include "ctl/simulation_store.hpp"

namespace incidentd {

Simulation::Simulation(const Config& config, Store& store, TimePoint start, ActionSink sink)
    : time_(start), engine_(config, store, time_) {
  if (sink) {
    engine_.on_action(std::move(sink));
  } else {
    engine_.on_action([this](const Action& a) { actions_.push_back(a); });
  }
  engine_.set_flush_each_step(false);
}

Outcome Simulation::feed(const ScenarioLine& line) {
  // One transaction per batch of lines: a simulated year commits in seconds, not minutes.
  constexpr std::size_t kLinesPerCommit = 256;
  time_.advance_to(arrival_of(line));
  auto outcome = std::visit([this](const auto& input) { return engine_.handle(input); }, line);
  if (++unflushed_ >= kLinesPerCommit) {
    engine_.flush();
    unflushed_ = 0;
  }
  return outcome;
}

void Simulation::advance_to(TimePoint t) {
  time_.advance_to(t);
  engine_.flush();
  unflushed_ = 0;
}

ParsedScenario parse_scenario(std::istream& in, const Config& config) {
  ParsedScenario out;
  std::string text;
  std::size_t number = 0;
  while (std::getline(in, text)) {
    ++number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank line
    auto parsed = parse_scenario_line(text, config);
    if (!parsed) {
      out.errors.push_back("line " + std::to_string(number) + ": " + parsed.error);
      continue;
    }
    out.lines.push_back({number, std::move(*parsed.value)});
  }
  std::stable_sort(out.lines.begin(), out.lines.end(), [](const auto& a, const auto& b) {
    return arrival_of(a.line) < arrival_of(b.line);
  });
  return out;
}

SimulationReport run_simulation(const Config& config, const ParsedScenario& scenario,
                                std::optional<TimePoint> until, const ActionSink& sink) {
  SimulationReport report;
  report.errors = scenario.errors;
  if (scenario.lines.empty()) return report;
  const TimePoint start = arrival_of(scenario.lines.front().line);
  const TimePoint end =
      until.value_or(arrival_of(scenario.lines.back().line) + kDefaultSimulationTail);
  SimulationStore store;
  Simulation sim(config, store, start, [&](const Action& a) {
    ++report.actions;
    sink(a);
  });
  for (const auto& input : scenario.lines) {
    if (arrival_of(input.line) > end) break;
    const Outcome outcome = sim.feed(input.line);
    if (outcome.status == Outcome::Status::rejected) {
      report.errors.push_back("line " + std::to_string(input.line_number) + ": " + outcome.reason);
    }
  }
  sim.advance_to(end);
  return report;
}

}  // namespace incidentd
