// incidentctl's commands for incidents entered by hand (docs/man/incidentctl.1): `open`, `close`
// and `level` build one contract event with "source": {"platform": "manual", "by": ...}, check
// it with the daemon's own parser and roster, publish it to the events topic keyed by the
// incident, wait for the broker's delivery report and print where it was written. `close` and
// `level` take the incident's lead unit, units and level from the daemon's API (--url, a token
// as for `list`), or with --database from its SQLite file read-only, unless --lead-unit is
// given. Exit codes: 0 published (or printed with --dry-run), 1 refused (bad input, unknown or
// closed incident, the broker refused it), 2 something could not be reached or read.
#pragma once

#include <memory>
#include <optional>

namespace CLI {  // NOLINT(readability-identifier-naming): CLI11's namespace
class App;
}

namespace incidentd::ctl {

class ManualCommands {
 public:
  explicit ManualCommands(CLI::App& app);  // adds the subcommands
  ~ManualCommands();
  ManualCommands(const ManualCommands&) = delete;
  ManualCommands& operator=(const ManualCommands&) = delete;

  // After parsing: the exit code when one of these subcommands was chosen, else nullopt.
  std::optional<int> run() const;

  struct Options;

 private:
  std::unique_ptr<Options> options_;
};

}  // namespace incidentd::ctl
