// Starting incidentd: the configuration loaded, the database file locked (one daemon per file)
// and checked, a Daemon run, and what ends it turned into the process's exit status.
#include "incidentd/daemon.hpp"

#include <exception>
#include <optional>
#include <utility>

#include <spdlog/spdlog.h>

#include "kafka/kafka_client.hpp"
#include "service/start_keepalive.hpp"
#include "store/database_lock.hpp"
#include "store/db_file_check.hpp"

namespace incidentd {

int run_daemon(const DaemonOptions& options) {
  auto loaded = load_config_file(options.config_path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) spdlog::error("{}: {}", e.where, e.message);
    return 2;
  }
  Config config = std::move(*loaded.config);
  if (!options.database.empty()) config.database = options.database;
  // One daemon per database file, held until this function returns (the kernel drops it on any
  // death): a second one started by mistake stops here, before it reads or writes the file or
  // contacts Kafka, instead of fighting the first over the database and the consumer group.
  std::optional<DatabaseLock> lock;
  try {
    lock.emplace(config.database);
  } catch (const std::exception& e) {
    spdlog::critical("incidentd: refusing to start: {}", e.what());
    return 2;
  }
  // Until the loop runs: systemd must not end a start that works past TimeoutStartSec= (a schema
  // migration after an upgrade), which would roll the migration back and begin it again.
  std::optional<StartKeepAlive> starting(
      std::in_place,
      "starting: checking the database, migrating its schema after an upgrade (minutes on a "
      "large archive), loading the open incidents");
  // A damaged or truncated database is refused before anything opens it: never a silent empty
  // start (docs/reliability.md, "A damaged database file").
  if (const auto damaged = check_database_file(config.database, options.init_database)) {
    spdlog::critical("incidentd: refusing to start: {}", damaged->message);
    return 2;
  }
  try {
    Daemon daemon(std::move(config), options);
    starting.reset();  // from here the loop's watchdog pings extend the start until READY=1
    return daemon.run();
  } catch (const StartRefused& e) {
    spdlog::critical("{}", e.what());
    return 2;
  } catch (const KafkaSetupError& e) {
    spdlog::critical("incidentd: {}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::critical("incidentd: {}", e.what());
    return 1;
  }
}

}  // namespace incidentd
