// The running daemon (docs/architecture.md): everything incidentd does between parsing its
// command line and exiting. main() parses the options and calls run_daemon().
#pragma once

#include <cstddef>
#include <string>

namespace incidentd {

struct DaemonOptions {
  std::string config_path;
  std::string database;   // overrides `database` in the file when set
  double time_scale = 0;  // 0: real time; else a drill's clock factor
  std::size_t batch = 0;
  bool init_database = false;
};

// Runs until a signal or a fatal error; returns the process's exit code (2: refused to start).
int run_daemon(const DaemonOptions& options);

}  // namespace incidentd
