// Time as a port. Deadlines are absolute wall-clock instants (TimePoint); whoever waits for one
// takes a TimeSystem, so the engine runs unchanged on a virtual clock (simulation, tests) and on
// the real clock (the daemon). Timers fire no earlier than their deadline; callers re-check.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace incidentd {

using Duration = std::chrono::milliseconds;
using TimePoint = std::chrono::sys_time<Duration>;

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  virtual TimePoint now() const = 0;
};

// One re-armable wake-up. Arming replaces any earlier deadline.
class Timer {
 public:
  virtual ~Timer() = default;
  virtual void arm(TimePoint deadline, std::function<void()> on_due) = 0;
  virtual void cancel() = 0;
};

class TimeSystem : public TimeSource {
 public:
  virtual std::unique_ptr<Timer> create_timer() = 0;
};

// "2h30m", "15m", "-2h", "1d", "90s", "500ms". nullopt when malformed.
std::optional<Duration> parse_duration(std::string_view text);
std::string format_duration(Duration d);

// RFC 3339 with a mandatory offset ("Z" or "+08:00"); fractional seconds kept to the millisecond.
std::optional<TimePoint> parse_rfc3339(std::string_view text);
// Formats in the given UTC offset, e.g. "2026-11-26T08:00:00+08:00" (milliseconds only if
// non-zero).
std::string format_rfc3339(TimePoint t, std::chrono::minutes utc_offset);

}  // namespace incidentd
