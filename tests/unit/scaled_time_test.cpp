// The drill clock (--time-scale): scaled now() from the origin, timers that wait the scaled
// distance divided by the factor and never fire before their scaled deadline, re-arming and
// cancelling as the TimeSystem port promises. The real clock underneath is a VirtualTime.
#include "incidentd/scaled_time.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <vector>

#include "ctl/virtual_time.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;

const TimePoint kOrigin = std::chrono::sys_days{std::chrono::year{2026} / 11 / 26} + 8h;

TEST_CASE("the scaled clock runs factor times faster than the real one from its origin") {
  VirtualTime real(kOrigin);
  ScaledTimeSystem drill(real, 3600);
  CHECK(drill.origin() == kOrigin);
  CHECK(drill.now() == kOrigin);
  real.advance_by(1s);
  CHECK(drill.now() == kOrigin + 1h);
  real.advance_by(23s + 500ms);
  CHECK(drill.now() == kOrigin + 24h + 30min);
}

TEST_CASE("a scaled timer fires at the real instant its scaled deadline is reached, not before") {
  VirtualTime real(kOrigin);
  ScaledTimeSystem drill(real, 3600);
  auto timer = drill.create_timer();
  std::vector<TimePoint> fired;
  timer->arm(kOrigin + 2h, [&] { fired.push_back(drill.now()); });
  real.advance_by(1999ms);
  CHECK(fired.empty());
  real.advance_by(1ms);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0] == kOrigin + 2h);
}

TEST_CASE("with a fractional factor a timer still never fires before its scaled deadline") {
  VirtualTime real(kOrigin);
  ScaledTimeSystem drill(real, 7.5);
  CHECK(drill.real_instant_of(kOrigin + 100ms) == kOrigin + 14ms);  // ceil(100 / 7.5)
  auto timer = drill.create_timer();
  std::vector<TimePoint> fired;
  timer->arm(kOrigin + 100ms, [&] { fired.push_back(drill.now()); });
  real.advance_by(13ms);
  CHECK(drill.now() == kOrigin + 97ms);
  CHECK(fired.empty());
  real.advance_by(1ms);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0] >= kOrigin + 100ms);
}

TEST_CASE("arming a scaled timer again replaces its deadline, cancel stops it") {
  VirtualTime real(kOrigin);
  ScaledTimeSystem drill(real, 60);
  auto timer = drill.create_timer();
  int first = 0;
  int second = 0;
  timer->arm(kOrigin + 1h, [&] { ++first; });
  timer->arm(kOrigin + 2h, [&] { ++second; });
  real.advance_by(60s);
  CHECK(first == 0);
  CHECK(second == 0);
  real.advance_by(60s);
  CHECK(first == 0);
  CHECK(second == 1);

  timer->arm(kOrigin + 3h, [&] { ++second; });
  timer->cancel();
  real.advance_by(10min);
  CHECK(second == 1);
}

TEST_CASE("a scaled deadline already past fires at once") {
  VirtualTime real(kOrigin);
  ScaledTimeSystem drill(real, 3600);
  real.advance_by(10s);
  auto timer = drill.create_timer();
  int fired = 0;
  timer->arm(kOrigin + 1h, [&] { ++fired; });
  real.advance_by(0ms);
  CHECK(fired == 1);
}

TEST_CASE("a time scale below 1 is refused") {
  VirtualTime real(kOrigin);
  CHECK_THROWS_AS(ScaledTimeSystem(real, 0.5), std::invalid_argument);
  CHECK_THROWS_AS(ScaledTimeSystem(real, 0), std::invalid_argument);
}

}  // namespace
}  // namespace incidentd
