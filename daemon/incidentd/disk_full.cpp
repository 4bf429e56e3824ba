#include "incidentd/disk_full.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>

#include "incidentd/engine.hpp"

namespace incidentd {

DiskFullPause::DiskFullPause(Engine& engine, TimeSystem& waits, std::function<void()> probe,
                             DiskFullOptions options)
    : engine_(engine),
      waits_(waits),
      probe_(std::move(probe)),
      options_(options),
      timer_(waits.create_timer()) {}

DiskFullPause::~DiskFullPause() {
  timer_->cancel();
}

void DiskFullPause::on_full(const StoreFullError& error) {
  if (paused_) return;
  path_ = error.path();
  since_ = waits_.now();
  backoff_ = options_.first_retry;
  retries_now_ = 0;
  ++figures_.pauses;
  paused_ = true;
  // The line operators and scripts look for: "disk full" and the file.
  spdlog::error(
      "incidentd: disk full: {}: paused (Kafka consumption stopped, no offset stored for anything "
      "not durable; clocks keep running in memory and what they decide is kept until it can be "
      "written); retrying every {}-{} ms until there is room. {}",
      path_, options_.first_retry.count(), options_.max_retry.count(), error.what());
  if (listener_) listener_(true);
  arm();
}

std::optional<std::string> DiskFullPause::reason() const {
  if (!paused_) return std::nullopt;
  return "disk full: " + path_;
}

DiskFullPause::Figures DiskFullPause::figures() const {
  Figures f = figures_;
  f.paused = paused_;
  if (paused_) f.paused_for += waits_.now() - since_;
  return f;
}

void DiskFullPause::arm() {
  timer_->arm(waits_.now() + backoff_, [this] { retry(); });
}

void DiskFullPause::retry() {
  try {
    engine_.flush();
    if (probe_) probe_();
  } catch (const StoreFullError&) {
    // Still full: quietly, at most every max_retry. Any other StoreError leaves from here.
    ++figures_.retries;
    ++retries_now_;
    backoff_ = std::min(backoff_ * 2, options_.max_retry);
    arm();
    return;
  }
  const Duration lasted = waits_.now() - since_;
  figures_.paused_for += lasted;
  paused_ = false;
  spdlog::warn(
      "incidentd: disk full: {}: room again after {:.1f} s and {} retries; everything pending is "
      "written, resuming",
      path_, std::chrono::duration<double>(lasted).count(), retries_now_);
  if (listener_) listener_(false);
}

}  // namespace incidentd
