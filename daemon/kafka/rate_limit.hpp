// Keeps a repeating complaint (broker down, no partitions, a commit that keeps failing) to one
// log line per key and interval, and says how many were held back. Thread-safe: librdkafka
// reports from its own threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace incidentd {

class RateLimit {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimit(Clock::duration interval) : interval_(interval) {}

  // nullopt: stay quiet. Otherwise log now; the value is how many were held back since the last
  // line for this key.
  std::optional<std::size_t> admit(const std::string& key, Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    auto [it, fresh] = entries_.try_emplace(key);
    Entry& e = it->second;
    if (!fresh && now - e.last < interval_) {
      ++e.held;
      return std::nullopt;
    }
    const std::size_t held = e.held;
    e.last = now;
    e.held = 0;
    return held;
  }

 private:
  struct Entry {
    Clock::time_point last{};
    std::size_t held = 0;
  };
  Clock::duration interval_;
  std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace incidentd
