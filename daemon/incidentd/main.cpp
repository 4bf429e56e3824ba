// incidentd: keeps the legal clock on public-opinion incidents. This entry point wires the
// engine to the real clock and the SQLite store; inputs (Kafka, HTTP) attach to the same loop.
#include <utility>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "asio/asio_time.hpp"
#include "incidentd/config.hpp"
#include "incidentd/engine.hpp"
#include "store/sqlite_store.hpp"

int main(int argc, char** argv) {
  CLI::App app{"incidentd: keeps the legal clock on government public-opinion incidents"};
  std::string config_path = "/etc/incidentd/incidentd.toml";
  std::string database;
  app.add_option("--config", config_path, "configuration file")->capture_default_str();
  app.add_option("--database", database, "SQLite database (overrides the configuration)");
  CLI11_PARSE(app, argc, argv);

  auto loaded = incidentd::load_config_file(config_path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) spdlog::error("{}: {}", e.where, e.message);
    return 2;
  }
  incidentd::Config config = std::move(*loaded.config);
  if (!database.empty()) config.database = database;

  try {
    boost::asio::io_context io;
    incidentd::AsioTimeSystem time(io);
    incidentd::SqliteStore store(config.database);
    incidentd::Engine engine(config, store, time);
    engine.on_action([&](const incidentd::Action& a) {
      spdlog::info("{} {} {}", a.incident_key, incidentd::to_string(a.kind),
                   a.milestone ? incidentd::to_string(*a.milestone) : "");
    });
    // Deadlines that fell due while the daemon was down act now, once each (catch-up rule).
    engine.run_due();
    spdlog::info("incidentd: {} open incidents, {} pending deadlines, database {}",
                 engine.open_incidents(), engine.pending_deadlines(), config.database);

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code&, int signal) {
      spdlog::info("incidentd: signal {}, stopping", signal);
      engine.flush();
      io.stop();
    });
    io.run();
  } catch (const std::exception& e) {
    spdlog::critical("incidentd: {}", e.what());
    return 1;
  }
  return 0;
}
