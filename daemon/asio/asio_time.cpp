#include "asio/asio_time.hpp"

#include <utility>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace incidentd {
namespace {

class AsioTimer final : public Timer {
 public:
  AsioTimer(boost::asio::io_context& io, const TimeSource& clock) : timer_(io), clock_(clock) {}
  ~AsioTimer() override { cancel(); }

  void arm(TimePoint deadline, std::function<void()> on_due) override {
    cancel();
    deadline_ = deadline;
    on_due_ = std::move(on_due);
    wait();
  }

  void cancel() override {
    ++generation_;  // callbacks of earlier waits see a stale generation and do nothing
    timer_.cancel();
  }

 private:
  void wait() {
    const auto remaining = deadline_ - clock_.now();
    const auto slice = std::clamp(remaining, Duration{0}, kMaxWallClockSlice);
    timer_.expires_after(slice);
    timer_.async_wait([this, generation = generation_](const boost::system::error_code& ec) {
      if (ec || generation != generation_) return;
      if (clock_.now() < deadline_) {
        wait();  // woke early by wall time (a slice, or the clock was set back): wait again
        return;
      }
      auto fn = std::move(on_due_);
      on_due_ = nullptr;
      if (fn) fn();
    });
  }

  boost::asio::steady_timer timer_;
  const TimeSource& clock_;
  TimePoint deadline_{};
  std::function<void()> on_due_;
  std::uint64_t generation_ = 0;
};

}  // namespace

AsioTimeSystem::AsioTimeSystem(boost::asio::io_context& io) : io_(io) {}

TimePoint AsioTimeSystem::now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()) + skew_;
}

std::unique_ptr<Timer> AsioTimeSystem::create_timer() {
  return std::make_unique<AsioTimer>(io_, *this);
}

}  // namespace incidentd
