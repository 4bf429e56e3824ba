// incidentctl: the operator's tool. For now: simulate a scenario offline, check a configuration.
#include <utility>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ctl/simulate.hpp"
#include "ctl/timeline_text.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"

namespace {

using incidentd::Config;

std::optional<Config> load_or_report(const std::string& path) {
  auto loaded = incidentd::load_config_file(path);
  for (const auto& e : loaded.errors) std::cerr << e.where << ": " << e.message << '\n';
  return std::move(loaded.config);
}

int run_simulate(const std::string& config_path, const std::string& scenario_path,
                 const std::string& until_text, const std::string& format) {
  auto config = load_or_report(config_path);
  if (!config) return 2;
  std::optional<incidentd::TimePoint> until;
  if (!until_text.empty()) {
    until = incidentd::parse_rfc3339(until_text);
    if (!until) {
      std::cerr << "--until: not an RFC 3339 instant with an offset: " << until_text << '\n';
      return 2;
    }
  }
  std::ifstream in(scenario_path);
  if (!in) {
    std::cerr << scenario_path << ": cannot open\n";
    return 2;
  }
  const auto scenario = incidentd::parse_scenario(in, *config);
  const auto report = incidentd::run_simulation(*config, scenario, until);
  for (const auto& error : report.errors) std::cerr << scenario_path << ": " << error << '\n';
  for (const auto& action : report.actions) {
    if (format == "text") {
      std::cout << incidentd::format_action_text(action, config->utc_offset) << '\n';
    } else {
      std::cout << incidentd::to_json(action, config->utc_offset).dump() << '\n';
    }
  }
  std::cout.flush();
  // Bad lines are reported and skipped: the run itself succeeded.
  return 0;
}

int run_check_config(const std::string& path) {
  auto config = load_or_report(path);
  if (!config) return 1;
  std::size_t people = 0;
  for (const auto& unit : config->units) people += unit.people.size();
  std::cout << path << ": OK (" << config->units.size() << " units, " << people << " people, "
            << config->policy.ladder.size() << " ladder steps)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"incidentctl: operate and inspect incidentd"};
  app.require_subcommand(1);

  auto* simulate = app.add_subcommand(
      "simulate", "Run the real engine offline on a virtual clock; print actions as JSON lines");
  std::string config_path;
  std::string scenario_path;
  std::string until;
  simulate->add_option("--config", config_path, "configuration file")->required();
  simulate->add_option("scenario", scenario_path, "scenario file (JSON lines)")->required();
  std::string format = "json";
  simulate->add_option("--format", format, "json (the contract: one action per line) or text")
      ->check(CLI::IsMember({"json", "text"}))
      ->capture_default_str();
  simulate->add_option("--until", until,
                       "stop at this RFC 3339 instant (default: 48 h after the last line)");

  auto* check = app.add_subcommand("check-config", "Validate a configuration file");
  std::string check_path;
  check->add_option("file", check_path, "configuration file")->required();

  CLI11_PARSE(app, argc, argv);
  try {
    if (*simulate) return run_simulate(config_path, scenario_path, until, format);
    if (*check) return run_check_config(check_path);
  } catch (const std::exception& e) {
    std::cerr << "incidentctl: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
