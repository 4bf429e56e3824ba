// Re-reading the configuration on SIGHUP (`systemctl reload`). A file with any error is refused:
// every error is logged and the running configuration stays. A good file goes to the daemon's
// callback: the roster, the API's tokens and the policy for new incidents apply at once (running
// clocks keep their deadlines, see Engine::reload). Settings bound at start-up (database,
// timezone, [kafka], [notify], [sms], the rest of [http]) keep their running values, and the log
// says which of them changed.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "incidentd/config.hpp"

namespace boost::asio {
class io_context;
}

namespace incidentd {

class Notifier;

struct ReloadResult {
  bool applied = false;
  std::vector<ConfigError> errors;         // why it was refused; empty when applied
  std::vector<std::string> needs_restart;  // keys that changed but apply only at a restart
};

class ConfigReloader {
 public:
  // Called with the new configuration; may throw, which refuses the reload (logged).
  using Apply = std::function<void(const Config&)>;

  // `running` is what the daemon started with, command-line overrides included: `database`
  // and `[kafka]` are kept from it, since the open database and the consumer cannot change
  // under a running daemon.
  ConfigReloader(std::string path, Config running, Apply apply);
  ConfigReloader(const ConfigReloader&) = delete;
  ConfigReloader& operator=(const ConfigReloader&) = delete;

  // Reads the file now, logs the outcome, and calls apply when it is good.
  ReloadResult reload();

  const Config& current() const { return current_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  Config current_;
  Apply apply_;
};

// SIGHUP on the loop: RELOADING=1, reloader.reload(), READY=1, whatever the outcome (the
// daemon keeps running either way, and systemd must leave the "reloading" state).
class SighupReload {
 public:
  SighupReload(boost::asio::io_context& io, ConfigReloader& reloader, Notifier& notifier);
  ~SighupReload();
  SighupReload(const SighupReload&) = delete;
  SighupReload& operator=(const SighupReload&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace incidentd
