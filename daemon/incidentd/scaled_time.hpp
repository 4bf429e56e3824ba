// Drill time: a TimeSystem that runs `factor` times faster than the one it wraps, from the
// instant it was created. now() = origin + (real elapsed) x factor; a timer for a scaled deadline
// waits (deadline - now) / factor of real time and fires no earlier than the deadline, as the
// port promises. For drills only (`incidentd --time-scale`): a 24 h clock in 24 s at 3600.
#pragma once

#include <memory>

#include "incidentd/time.hpp"

namespace incidentd {

class ScaledTimeSystem final : public TimeSystem {
 public:
  // factor >= 1; throws std::invalid_argument otherwise.
  ScaledTimeSystem(TimeSystem& real, double factor);
  ScaledTimeSystem(const ScaledTimeSystem&) = delete;
  ScaledTimeSystem& operator=(const ScaledTimeSystem&) = delete;

  TimePoint now() const override;
  std::unique_ptr<Timer> create_timer() override;

  double factor() const { return factor_; }
  // The instant both clocks agreed on.
  TimePoint origin() const { return origin_; }
  // The real instant at which the scaled clock reaches `scaled` (rounded up to the millisecond).
  TimePoint real_instant_of(TimePoint scaled) const;

 private:
  class ScaledTimer;
  TimeSystem& real_;
  double factor_;
  TimePoint origin_;
};

}  // namespace incidentd
