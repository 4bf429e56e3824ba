// incidentd: keeps the legal clock on public-opinion incidents. This entry point only parses the
// command line (docs/man/incidentd.8) and runs the daemon (daemon/incidentd/daemon.hpp), as
// Envoy's source/exe/ does: the code that the tests do not link is this file alone.
#include <cstddef>
#include <string>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "incidentd/daemon.hpp"
#include "kafka/ingest.hpp"
#include "service/logging.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "incidentd: keeps the legal clock on government public-opinion incidents.\n"
      "Consumes monitoring events and release confirmations from Kafka, opens a clock for every "
      "level I/II incident, warns and escalates as deadlines near or pass, and records every "
      "action in its SQLite database. See docs/kafka.md and docs/configuration.md."};
  std::string config_path = "/etc/incidentd/incidentd.toml";
  std::string database;
  double time_scale = 0;
  std::string log_level = "info";
  std::size_t batch = incidentd::IngestOptions{}.max_batch;
  app.add_option("--config", config_path, "configuration file (TOML)")->capture_default_str();
  app.add_option("--database", database, "SQLite database (overrides `database` in the file)");
  app.add_option("--time-scale", time_scale,
                 "DRILLS ONLY: run the clock N times faster than real time (3600 = one hour per "
                 "second); only events with \"drill\": true are accepted")
      ->check(CLI::Range(1.0, 1e7));
  app.add_option("--batch", batch,
                 "most Kafka messages handled in one SQLite transaction (larger: faster under "
                 "load, more to redo after a crash)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  bool init_database = false;
  app.add_flag("--init", init_database,
               "begin an empty database in a database file that exists but is empty (0 bytes); "
               "without it such a file is refused as a truncated database");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or critical")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // The CLI accepts only the names parse_log_level knows.
  incidentd::setup_logging(incidentd::parse_log_level(log_level).value_or(spdlog::level::info));

  incidentd::DaemonOptions options{config_path, database, time_scale, batch, init_database};
  return incidentd::run_daemon(options);
}
