// A TimeSystem that moves only when told to. advance_to() fires every armed timer whose
// deadline has come, in deadline order (ties in arming order), with now() set to that deadline
// while it runs; callbacks may arm timers again, which fire in the same advance if due.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <utility>

#include "incidentd/time.hpp"

namespace incidentd {

class VirtualTime final : public TimeSystem {
 public:
  explicit VirtualTime(TimePoint start) : now_(start) {}
  VirtualTime(const VirtualTime&) = delete;
  VirtualTime& operator=(const VirtualTime&) = delete;

  TimePoint now() const override { return now_; }
  std::unique_ptr<Timer> create_timer() override;

  // Moves time forward to `t` (never backwards), firing due timers on the way.
  void advance_to(TimePoint t);
  void advance_by(Duration d) { advance_to(now_ + d); }
  std::size_t armed_timers() const { return queue_.size(); }

 private:
  class VirtualTimer;
  using Key = std::pair<TimePoint, std::uint64_t>;

  TimePoint now_;
  std::uint64_t next_seq_ = 0;
  std::map<Key, VirtualTimer*> queue_;
  friend class VirtualTimer;
};

}  // namespace incidentd
