#include "incidentd/scaled_time.hpp"

#include <cmath>
#include <functional>
#include <stdexcept>
#include <utility>

namespace incidentd {

class ScaledTimeSystem::ScaledTimer final : public Timer {
 public:
  explicit ScaledTimer(const ScaledTimeSystem& clock)
      : clock_(clock), real_(clock.real_.create_timer()) {}

  void arm(TimePoint deadline, std::function<void()> on_due) override {
    deadline_ = deadline;
    on_due_ = std::move(on_due);
    wait(clock_.real_instant_of(deadline));
  }

  void cancel() override {
    real_->cancel();
    on_due_ = nullptr;
  }

 private:
  void wait(TimePoint real_deadline) {
    real_->arm(real_deadline, [this] {
      // Rounding of a fractional factor can leave the scaled clock a hair short: wait on.
      if (clock_.now() < deadline_) {
        wait(clock_.real_.now() + Duration(1));
        return;
      }
      auto fn = std::move(on_due_);
      on_due_ = nullptr;
      if (fn) fn();
    });
  }

  const ScaledTimeSystem& clock_;
  std::unique_ptr<Timer> real_;
  TimePoint deadline_{};
  std::function<void()> on_due_;
};

ScaledTimeSystem::ScaledTimeSystem(TimeSystem& real, double factor)
    : real_(real), factor_(factor), origin_(real.now()) {
  if (!(factor >= 1.0) || !std::isfinite(factor)) {
    throw std::invalid_argument("time scale must be a finite number >= 1");
  }
}

TimePoint ScaledTimeSystem::now() const {
  const auto elapsed = static_cast<long double>((real_.now() - origin_).count());
  return origin_ + Duration(static_cast<Duration::rep>(std::floor(elapsed * factor_)));
}

TimePoint ScaledTimeSystem::real_instant_of(TimePoint scaled) const {
  const auto ahead = static_cast<long double>((scaled - origin_).count());
  return origin_ + Duration(static_cast<Duration::rep>(std::ceil(ahead / factor_)));
}

std::unique_ptr<Timer> ScaledTimeSystem::create_timer() {
  return std::make_unique<ScaledTimer>(*this);
}

}  // namespace incidentd
