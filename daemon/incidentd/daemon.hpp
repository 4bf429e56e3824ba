// The running daemon: one object that owns every long-lived part of incidentd (the loop, the
// clocks, the store, the engine, the dispatcher, the HTTP server, the Kafka input and the
// systemd hooks), builds them in the order they depend on one another and tears them down in
// reverse. main() parses the command line and calls run_daemon(); nothing else runs outside it.
// The engine and every handler live on one Asio loop thread; the Kafka consumer runs on its own
// thread and hands the loop its batches.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

#include "incidentd/config.hpp"

namespace incidentd {

struct DaemonOptions {
  std::string config_path;
  std::string database;   // overrides `database` in the file when set
  double time_scale = 0;  // 0: real time; else a drill's clock factor (--time-scale)
  std::size_t batch = 0;  // most Kafka messages in one SQLite transaction (--batch)
  bool init_database = false;
};

// The daemon refuses to start (exit status 2): a drill clock on a database with live incidents.
class StartRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Daemon {
 public:
  // Builds every part; nothing runs until run(). `config` is the checked file with the
  // command-line overrides applied. Throws StartRefused, KafkaSetupError, StoreError and
  // whatever a part throws while reading its files.
  Daemon(Config config, const DaemonOptions& options);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts the parts, runs the loop until SIGINT/SIGTERM (the batch in flight finished and
  // committed) or the consumer's end, and stops them. Returns the exit status: 0 after a clean
  // stop, 1 when the consumer failed, 2 when the whole-file check found the database damaged.
  // Throws what ended the loop (a StoreError but a full disk).
  int run();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

// Loads the configuration, checks the database file and runs a Daemon; returns the process's
// exit status (2: refused to start, 1: failed).
int run_daemon(const DaemonOptions& options);

}  // namespace incidentd
