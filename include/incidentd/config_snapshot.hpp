// The configuration in force, as immutable snapshots. A reload publishes a new snapshot and
// never edits the one in use, so a part that holds a snapshot (for one step: a dispatcher pass,
// an API request, one message's text) sees one consistent configuration, and its next step the
// newest one. Any thread may read or publish.
#pragma once

#include <memory>
#include <mutex>
#include <utility>

#include "incidentd/config.hpp"

namespace incidentd {

class ConfigSnapshots {
 public:
  explicit ConfigSnapshots(std::shared_ptr<const Config> initial) : current_(std::move(initial)) {}
  ConfigSnapshots(const ConfigSnapshots&) = delete;
  ConfigSnapshots& operator=(const ConfigSnapshots&) = delete;

  std::shared_ptr<const Config> current() const {
    const std::lock_guard lock(mutex_);
    return current_;
  }
  // Readers pick `next` up at their next step; those holding the previous one keep it alive.
  void publish(std::shared_ptr<const Config> next) {
    const std::lock_guard lock(mutex_);
    current_ = std::move(next);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Config> current_;
};

// How a part reads its configuration: the daemon's snapshots, or one fixed Config that outlives
// the part (tests, tools, the simulator: nothing reloads there). Both convert implicitly, so a
// part's constructor takes either. Cheap to copy; get() at the point the part chooses.
class ConfigView {
 public:
  ConfigView() = default;  // none: get() is null
  ConfigView(const Config& fixed) : fixed_(&fixed) {}
  ConfigView(const Config* fixed) : fixed_(fixed) {}
  ConfigView(const ConfigSnapshots& live) : live_(&live) {}

  std::shared_ptr<const Config> get() const {
    if (live_ != nullptr) return live_->current();
    return {std::shared_ptr<const Config>(), fixed_};  // not owned: it outlives the part
  }
  explicit operator bool() const { return live_ != nullptr || fixed_ != nullptr; }

 private:
  const Config* fixed_ = nullptr;
  const ConfigSnapshots* live_ = nullptr;
};

}  // namespace incidentd
