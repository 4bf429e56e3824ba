// Real time on Boost.Asio. now() is the wall clock. A timer waits on the steady clock in slices
// of at most kMaxWallClockSlice and re-reads the wall clock on every wake: a wall-clock jump
// forward fires a deadline within one slice of it, a jump backward never fires it early.
#pragma once

#include <memory>

#include "incidentd/time.hpp"

namespace boost::asio {
class io_context;
}

namespace incidentd {

inline constexpr Duration kMaxWallClockSlice = std::chrono::seconds(10);

class AsioTimeSystem final : public TimeSystem {
 public:
  explicit AsioTimeSystem(boost::asio::io_context& io);
  AsioTimeSystem(const AsioTimeSystem&) = delete;
  AsioTimeSystem& operator=(const AsioTimeSystem&) = delete;

  TimePoint now() const override;
  std::unique_ptr<Timer> create_timer() override;

  // Test hook: shifts what now() reports, as a wall-clock jump would.
  void shift_wall_clock_for_test(Duration by) { skew_ += by; }

 private:
  boost::asio::io_context& io_;
  Duration skew_{0};
};

}  // namespace incidentd
