// incidentctl's API subcommands, `ack` and `confirm`: they call the daemon's HTTP API
// (docs/http-api.md) with a token from --token-file or INCIDENTD_TOKEN, print the answer, and
// exit 0 on success, 1 when the API refused (its JSON error on stderr), 2 when it was not reached.
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace CLI {  // NOLINT(readability-identifier-naming): CLI11's namespace
class App;
}

namespace incidentd::http {

// The API token: the first line of `file`, or INCIDENTD_TOKEN when `file` is empty. Throws
// std::runtime_error saying which is missing.
std::string read_token(const std::string& file);
// Percent-encodes one path segment (an incident key) for a request target.
std::string path_segment(const std::string& s);

class ApiCommands {
 public:
  explicit ApiCommands(CLI::App& app);  // adds the subcommands
  ~ApiCommands();
  ApiCommands(const ApiCommands&) = delete;
  ApiCommands& operator=(const ApiCommands&) = delete;

  // After parsing: the exit code when one of these subcommands was chosen, else nullopt.
  std::optional<int> run() const;

 private:
  struct Options;
  std::unique_ptr<Options> options_;
};

}  // namespace incidentd::http
