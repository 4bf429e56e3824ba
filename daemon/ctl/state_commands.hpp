// incidentctl's reading commands, `list`, `show` and `watch` (docs/man/incidentctl.1): they read
// the daemon's HTTP API (--url, a token from --token-file or INCIDENTD_TOKEN), or with
// --database its SQLite file read-only, and print text for people (state_text.hpp) or the API's
// JSON (--format json). `watch` redraws from GET /v1/stream until SIGINT or SIGTERM, then
// restores the terminal and exits 0. Exit codes: 0 done, 1 the API refused (or no such
// incident), 2 the daemon or the database could not be read.
#pragma once

#include <memory>
#include <optional>

namespace CLI {  // NOLINT(readability-identifier-naming): CLI11's namespace
class App;
}

namespace incidentd::ctl {

class StateCommands {
 public:
  explicit StateCommands(CLI::App& app);  // adds the subcommands
  ~StateCommands();
  StateCommands(const StateCommands&) = delete;
  StateCommands& operator=(const StateCommands&) = delete;

  // After parsing: the exit code when one of these subcommands was chosen, else nullopt.
  std::optional<int> run() const;

  struct Options;

 private:
  std::unique_ptr<Options> options_;
};

}  // namespace incidentd::ctl
