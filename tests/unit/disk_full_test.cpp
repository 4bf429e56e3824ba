// A full disk under the store, injected (MemoryStore::set_full) on a virtual clock: the engine
// keeps what it could not write and its clock running, DiskFullPause retries with a bounded
// back-off and ends the pause by itself, nothing is lost or written twice; any other store
// failure is not waited out. The loop's part (main: a StoreFullError out of a timer goes to
// on_full) is done here by hand, as `fire`.
#include "incidentd/disk_full.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/virtual_time.hpp"
#include "incidentd/engine.hpp"
#include "kafka/batch.hpp"
#include "support/memory_store.hpp"
#include "support/test_config.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;

const TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 26} + 1h;

Event level_two(const std::string& id, const std::string& key) {
  Event e;
  e.event_id = id;
  e.incident_key = key;
  e.kind = EventKind::detected;
  e.level = Level::II;
  e.lead_unit = std::string("a");  // not the char* assign: GCC 12 -Wrestrict false positive
  e.units = {"a", "b"};
  e.detected_at = kNow;
  return e;
}

std::size_t count(const std::vector<Action>& timeline, ActionKind kind) {
  std::size_t n = 0;
  for (const auto& a : timeline) n += a.kind == kind ? 1 : 0;
  return n;
}

struct Rig {
  Config config = testing::small_config();
  testing::MemoryStore store;
  VirtualTime time{kNow};
  Engine engine{config, store, time};
  DiskFullPause pause{engine, time};
  std::vector<bool> changes;  // what on_change reported

  Rig() {
    pause.on_change([this](bool paused) { changes.push_back(paused); });
  }

  // Moves the clock as the daemon's loop would: a StoreFullError out of a timer pauses.
  void advance_to(TimePoint t) {
    for (;;) {
      try {
        time.advance_to(t);
        return;
      } catch (const StoreFullError& e) {
        pause.on_full(e);
      }
    }
  }
};

TEST_CASE(
    "a warning that falls due on a full disk is acted on, kept, and written once there is "
    "room") {
  Rig rig;
  REQUIRE(rig.engine.handle(level_two("e1", "inc-1")).status == Outcome::Status::accepted);
  const std::size_t warnings_at_open = count(rig.store.timeline(), ActionKind::warning);
  REQUIRE(warnings_at_open == 1);  // the alert at open

  rig.store.set_full(true);
  rig.advance_to(kNow + 2h);  // the 2 h warning falls due: its commit finds the disk full
  CHECK(rig.pause.paused());
  CHECK(rig.pause.reason() == std::optional<std::string>("disk full: memory"));
  CHECK(rig.changes == std::vector<bool>{true});
  CHECK(count(rig.store.timeline(), ActionKind::warning) == warnings_at_open);
  // The clock is still armed: the 2 h 30 m warning is acted on too, still not written.
  CHECK(rig.engine.next_due().has_value());
  rig.advance_to(kNow + 2h + 30min);
  CHECK(count(rig.store.timeline(), ActionKind::warning) == warnings_at_open);
  CHECK(rig.changes == std::vector<bool>{true});  // one pause, however many failures

  rig.store.set_full(false);
  rig.advance_to(kNow + 2h + 30min + 10s);  // at most one back-off later
  CHECK_FALSE(rig.pause.paused());
  CHECK_FALSE(rig.pause.reason().has_value());
  CHECK(rig.changes == std::vector<bool>{true, false});
  // Both warnings, each once, at the instants they were acted on.
  std::vector<TimePoint> warned;
  for (const auto& a : rig.store.timeline()) {
    if (a.kind == ActionKind::warning) warned.push_back(a.at);
  }
  CHECK(warned == std::vector<TimePoint>{kNow, kNow + 2h, kNow + 2h + 30min});
  const auto figures = rig.pause.figures();
  CHECK(figures.pauses == 1);
  CHECK(figures.paused_for >= 30min);

  SECTION("the next step after the pause is written at once") {
    rig.advance_to(kNow + 3h);
    CHECK(count(rig.store.timeline(), ActionKind::target_missed) == 1);
    CHECK_FALSE(rig.pause.paused());
  }
}

TEST_CASE("the retries back off, doubling up to the bound, and the pause lasts while it is full") {
  Rig rig;
  REQUIRE(rig.engine.handle(level_two("e1", "inc-1")).status == Outcome::Status::accepted);
  rig.store.set_full(true);
  // The first re-send of the alert at open (15 min, nobody acknowledged) finds the disk full.
  const TimePoint began = kNow + 15min;
  rig.advance_to(began);
  REQUIRE(rig.pause.paused());
  const std::size_t failed_before = rig.store.failed_commits();
  // 0.5 + 1 + 2 + 4 + 8 = 15.5 s, then every 10 s: 5 retries in the first 15.5 s, then
  // 4 more by 55.5 s.
  rig.advance_to(began + 15499ms);
  CHECK(rig.store.failed_commits() - failed_before == 4);
  rig.advance_to(began + 15500ms);
  CHECK(rig.store.failed_commits() - failed_before == 5);
  rig.advance_to(began + 55500ms);
  CHECK(rig.store.failed_commits() - failed_before == 9);
  CHECK(rig.pause.figures().retries == 9);
  CHECK(rig.pause.paused());
  CHECK(rig.changes == std::vector<bool>{true});
}

TEST_CASE("another store failure during the pause is not waited out") {
  Rig rig;
  REQUIRE(rig.engine.handle(level_two("e1", "inc-1")).status == Outcome::Status::accepted);
  rig.store.set_full(true);
  rig.advance_to(kNow + 15min);  // the first re-send finds the disk full
  REQUIRE(rig.pause.paused());
  rig.store.set_full(false);
  rig.store.fail_next_commits(1);
  try {
    rig.time.advance_to(kNow + 15min + 1s);  // the first retry
    FAIL("the retry's StoreError did not leave the loop");
  } catch (const StoreFullError&) {
    FAIL("a plain StoreError came out as a full disk");
  } catch (const StoreError& e) {
    CHECK_THAT(e.what(), Catch::Contains("injected failure"));
  }
}

TEST_CASE("a batch that finds the disk full is handled, not durable, and written once later") {
  Rig rig;
  std::vector<Inbound> batch(2);
  batch[0].item.emplace<Event>(level_two("e1", "inc-1"));
  batch[1].item.emplace<Event>(level_two("e2", "inc-2"));
  rig.store.set_full(true);
  const BatchOutcome out = apply_batch(rig.engine, batch);
  REQUIRE(out.disk_full.has_value());
  CHECK(out.disk_full->path() == "memory");
  CHECK(out.accepted == 2);
  CHECK(rig.store.processed().empty());
  rig.pause.on_full(*out.disk_full);

  // Redelivered meanwhile (as after a rebalance): already applied, so nothing twice.
  CHECK(rig.engine.handle(level_two("e1", "inc-1")).status == Outcome::Status::duplicate);

  rig.store.set_full(false);
  rig.advance_to(kNow + 1s);
  CHECK_FALSE(rig.pause.paused());
  CHECK(rig.store.processed().size() == 2);
  CHECK(count(rig.store.timeline(), ActionKind::incident_opened) == 2);
}

}  // namespace
}  // namespace incidentd
