// Crash and reopen: the engine rebuilt from its SQLite file at any cut point continues exactly as
// the uninterrupted run did (no action lost, none doubled); a daemon that was down catches up once
// per milestone (rule 19); a failed commit throws StoreError and leaves the store as it was, and
// a restart from that store redoes the lost step. Expected timelines of the catch-up cases are
// written by hand from docs/clock-rules.md; the crash cases compare against the uninterrupted run.
#include "incidentd/engine.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "ctl/simulate.hpp"
#include "ctl/virtual_time.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"
#include "store/sqlite_store.hpp"
#include "support/engine_harness.hpp"
#include "support/memory_store.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace std::chrono_literals;

using namespace incidentd;           // NOLINT(google-build-using-namespace)
using namespace incidentd::testing;  // NOLINT(google-build-using-namespace)

// A timeline entry with everything that tells two entries apart in a diff.
std::string full_line(const Action& a) {
  std::string out = a.incident_key + " " + line(a);
  if (!a.notification_id.empty()) out += " id " + a.notification_id;
  if (a.drill) out += " drill";
  return out;
}

std::vector<std::string> describe(const std::vector<Action>& timeline) {
  std::vector<std::string> out;
  for (const auto& a : timeline) out.push_back(full_line(a));
  return out;
}

Event arriving(Event e, Duration when) {
  e.arrived_at = at(when);
  return e;
}

// Several incidents over 30 hours: confirmations (one unit on time, one after the target), acks
// in the middle of re-send cycles, a III->II upgrade, a drill that is closed, a late arrival
// that catches up, a duplicate delivery, press conferences, a follow-up confirmation and a close.
struct Scripted {
  ScenarioLine line;
  Outcome::Status expected;
};

std::vector<Scripted> rich_scenario() {
  using S = Outcome::Status;
  Event drill = event("drill-1", "drill", Level::I, {"c"}, at(1h));
  drill.drill = true;
  return {
      {event("slide-1", "slide", Level::II, {"a", "b"}, at(0h)), S::accepted},
      {event("flood-1", "flood", Level::III, {"b"}, at(30min)), S::accepted},
      {event("flood-2", "flood", Level::II, {"b"}, at(1h), EventKind::updated), S::accepted},
      {drill, S::accepted},
      {ack("slide", "a-duty1", at(2h + 5min)), S::accepted},
      {confirmation("slide-r-a", "slide", Milestone::first_release, "a", at(2h + 40min)),
       S::accepted},
      {arriving(event("late-1", "late", Level::II, {"a"}, at(0h)), 3h + 10min), S::accepted},
      {confirmation("slide-r-b", "slide", Milestone::first_release, "b", at(3h + 20min)),
       S::accepted},
      {ack("flood", "b-duty1", at(3h + 20min)), S::accepted},
      {confirmation("flood-r-b", "flood", Milestone::first_release, "b", at(5h)), S::accepted},
      {confirmation("late-r-a", "late", Milestone::first_release, "a", at(6h)), S::accepted},
      {event("drill-2", "drill", Level::I, {"c"}, at(7h), EventKind::closed), S::accepted},
      {arriving(event("slide-1", "slide", Level::II, {"a", "b"}, at(0h)), 8h), S::duplicate},
      {confirmation("slide-p-a", "slide", Milestone::press_conference, "a", at(10h)), S::accepted},
      {confirmation("slide-p-b", "slide", Milestone::press_conference, "b", at(12h)), S::accepted},
      {ack("late", "a-duty1", at(20h + 10min)), S::accepted},
      {confirmation("slide-f-a", "slide", Milestone::follow_up, "a", at(22h)), S::accepted},
      {event("flood-3", "flood", Level::II, {"b"}, at(26h), EventKind::closed), S::accepted},
  };
}

const Duration kUntil = 30h;
const std::string kKey = "inc-1";

void feed(Simulation& sim, const Scripted& s) {
  INFO("line arriving at " << rel(incidentd::arrival_of(s.line)));
  const Outcome outcome = sim.feed(s.line);
  INFO("reason: " << outcome.reason);
  CHECK(outcome.status == s.expected);
}

struct StoreContents {
  std::vector<Action> timeline;
  std::vector<IncidentState> open;
  std::size_t outbox = 0;
  std::size_t processed = 0;
};

StoreContents read_store(const std::string& path) {
  SqliteStore store(path);
  return {store.timeline(), store.load_open_incidents(), store.count("outbox"),
          store.count("processed")};
}

StoreContents run_uninterrupted(const std::string& path, const Config& config) {
  {
    SqliteStore store(path);
    Simulation sim(config, store, at(0h));
    for (const auto& s : rich_scenario()) feed(sim, s);
    sim.advance_to(at(kUntil));
  }
  return read_store(path);
}

// Runs the scenario, and at each cut destroys the simulation (engine, timers, store handle)
// once everything up to the cut is acted on and flushed, then builds a new one on the same file
// at the same virtual instant and goes on with the lines that arrive after the cut.
StoreContents run_with_cuts(const std::string& path, const Config& config,
                            const std::vector<Duration>& cuts) {
  const auto script = rich_scenario();
  std::size_t next = 0;
  TimePoint start = at(0h);
  std::vector<TimePoint> stops;
  for (Duration cut : cuts) stops.push_back(at(cut));
  stops.push_back(at(kUntil));
  for (TimePoint stop : stops) {
    SqliteStore store(path);
    Simulation sim(config, store, start);
    while (next < script.size() && incidentd::arrival_of(script[next].line) <= stop) {
      feed(sim, script[next]);
      ++next;
    }
    sim.advance_to(stop);
    start = stop;
  }
  return read_store(path);
}

std::set<ActionKind> kinds_of(const std::vector<Action>& timeline) {
  std::set<ActionKind> kinds;
  for (const auto& a : timeline) kinds.insert(a.kind);
  return kinds;
}

}  // namespace

TEST_CASE("the uninterrupted scenario exercises every kind of action and doubles nothing") {
  TempDir dir{"incidentd-engine-recovery"};
  const Config config = roster_config();
  const auto a = run_uninterrupted(dir.file("a.db"), config);
  CHECK(kinds_of(a.timeline) ==
        std::set<ActionKind>{
            ActionKind::incident_opened, ActionKind::level_changed, ActionKind::warning,
            ActionKind::target_missed, ActionKind::deadline_breached, ActionKind::notification,
            ActionKind::escalated, ActionKind::acknowledged, ActionKind::release_confirmed,
            ActionKind::milestone_met, ActionKind::incident_closed});
  std::set<std::string> ids;
  std::vector<std::string> doubled;  // notification ids seen twice
  std::size_t notifications = 0;
  bool deputy = false;
  bool catch_up = false;
  for (const auto& action : a.timeline) {
    catch_up = catch_up || action.catch_up;
    if (action.kind != ActionKind::notification) continue;
    ++notifications;
    deputy = deputy || !action.deputy_of.empty();
    if (!ids.insert(action.notification_id).second) doubled.push_back(full_line(action));
  }
  CAPTURE(doubled);
  CHECK(doubled.empty());
  CHECK(deputy);
  CHECK(catch_up);
  CHECK(a.outbox == notifications);
  // slide stays open; flood and drill are closed; late stays open.
  REQUIRE(a.open.size() == 2);
  CHECK(a.open[0].key != a.open[1].key);
}

TEST_CASE(
    "an engine rebuilt from its database at a cut point continues exactly as if never "
    "interrupted") {
  TempDir dir{"incidentd-engine-recovery"};
  const Config config = roster_config();
  const auto uninterrupted = run_uninterrupted(dir.file("a.db"), config);
  REQUIRE(uninterrupted.timeline.size() > 100);

  struct Cut {
    const char* why;
    std::vector<Duration> at;
  };
  const std::vector<Cut> cuts = {
      {"right after the III->II upgrade and the drill's opening", {1h}},
      {"mid re-send cycle: 2h alert sent, ack at 2h05, re-send due 2h15", {2h + 10min}},
      {"mid re-send cycle: after the 2h15 re-send, before the 2h30 warning", {2h + 20min}},
      {"right after the late arrival caught up", {3h + 10min}},
      {"right after the late incident's 5h breach", {5h}},
      {"right after the drill's 6h breach, a reminder and a late release", {6h}},
      {"mid re-send cycle: the 20h warning's deputies just reached", {20h + 30min}},
      {"right after a close", {26h}},
      {"three crashes in one run", {2h + 10min, 5h, 20h + 30min}},
  };
  int n = 0;
  for (const auto& cut : cuts) {
    INFO("cut: " << cut.why);
    const std::string path = dir.file("b" + std::to_string(++n) + ".db");
    const auto resumed = run_with_cuts(path, config, cut.at);
    CHECK(describe(resumed.timeline) == describe(uninterrupted.timeline));
    CHECK(resumed.timeline == uninterrupted.timeline);
    CHECK(resumed.open == uninterrupted.open);
    CHECK(resumed.outbox == uninterrupted.outbox);
    CHECK(resumed.processed == uninterrupted.processed);
  }
}

namespace {

// A level II incident of unit a opened at 0h by an engine that runs until 1h50 and stops; the
// clock moves on to 3h10 with nobody running (the 2h and 2h30 warnings and the 3h target fall
// due meanwhile).
void open_then_down_until_3h10(const std::string& path, const Config& config, VirtualTime& time,
                               const std::string& key) {
  {
    SqliteStore store(path);
    Engine engine(config, store, time);
    REQUIRE(engine.handle(event("e1", key, Level::II, {"a"}, at(0h))).status ==
            Outcome::Status::accepted);
    time.advance_to(at(1h + 50min));
  }
  time.advance_to(at(3h + 10min));
}

}  // namespace

TEST_CASE("after downtime the engine acts once per milestone on the latest due step") {
  // Only the target_missed is acted on, at 3h10, as catch-up (rule 19), and it escalates (rule 9).
  TempDir dir{"incidentd-engine-recovery"};
  const Config config = roster_config();
  const std::string path = dir.file("down.db");
  VirtualTime time(at(0h));
  open_then_down_until_3h10(path, config, time, "down");
  SqliteStore store(path);
  Engine engine(config, store, time);
  time.advance_to(at(4h + 30min));
  const auto story =
      lines(store.timeline(), [](const Action& a) { return a.kind != ActionKind::notification; });
  CHECK(story == std::vector<std::string>{
                     "0h00 incident_opened II clock",
                     "3h10 target_missed first_release L1 due 3h00 catch_up",
                     "3h10 escalated first_release L1 from 0",
                     "4h30 warning first_release L1 due 5h00",
                 });
}

TEST_CASE("the clock's lateness counts a step on time and a catch-up with all of its wait") {
  TempDir dir{"incidentd-engine-recovery"};
  const Config config = roster_config();
  const std::string path = dir.file("late.db");
  VirtualTime time(at(0h));
  open_then_down_until_3h10(path, config, time, "late");  // the 2h warning is 70 minutes late
  SqliteStore store(path);
  Engine engine(config, store, time);
  time.advance_to(at(3h + 20min));
  const Engine::StepLateness& late = engine.step_lateness();
  REQUIRE(late.count == 1);
  CHECK(late.sum == Duration{70min});
  CHECK(late.within.back() == 0);   // over the largest bound: counted in +Inf alone
  time.advance_to(at(4h + 30min));  // re-sends and the next warning, each on time
  CHECK(late.count > 1);
  CHECK(late.within.front() == late.count - 1);  // within a millisecond: all but the catch-up
  CHECK(late.within.back() == late.count - 1);
  CHECK(late.sum == Duration{70min});
}

TEST_CASE("after downtime a re-send that fell due is sent once, then the cycle resumes") {
  // First release met at 1h; the press conference's 20h warning reaches a-duty1 and a-duty2.
  // Down from 20h05 to 20h50: the 20h15 and 20h30 re-sends fell due; each person gets one
  // re-send at 20h50 (send 2), the next at 21h05 (send 3, and a-duty1's deputy after two
  // unanswered sends).
  TempDir dir{"incidentd-engine-recovery"};
  const Config config = roster_config();
  const std::string path = dir.file("resend.db");
  VirtualTime time(at(0h));
  {
    SqliteStore store(path);
    Engine engine(config, store, time);
    REQUIRE(engine.handle(event("e1", "resend", Level::II, {"a"}, at(0h))).status ==
            Outcome::Status::accepted);
    time.advance_to(at(1h));
    REQUIRE(
        engine.handle(confirmation("r1", "resend", Milestone::first_release, "a", at(1h))).status ==
        Outcome::Status::accepted);
    time.advance_to(at(20h + 5min));
  }
  time.advance_to(at(20h + 50min));
  SqliteStore store(path);
  Engine engine(config, store, time);
  time.advance_to(at(21h + 5min));
  auto sent = lines(store.timeline(), [](const Action& a) {
    return a.kind == ActionKind::notification && a.at > at(20h);
  });
  std::sort(sent.begin(), sent.end());
  std::vector<std::string> expected = {
      "20h50 notification press_conference a-duty1 L0 send 2",
      "20h50 notification press_conference a-duty2 L0 send 2",
      "21h05 notification press_conference a-duty1 L0 send 3",
      "21h05 notification press_conference a-duty2 L0 send 3",
      "21h05 notification press_conference a-deputy L0 send 1 deputy_of a-duty1",
  };
  std::sort(expected.begin(), expected.end());
  CHECK(sent == expected);
}

TEST_CASE("a failed commit of an input throws StoreError and leaves the store unchanged") {
  const Config config = roster_config();
  MemoryStore store;
  VirtualTime time(at(0h));
  auto engine = std::make_unique<Engine>(config, store, time);
  REQUIRE(engine->handle(event("e1", kKey, Level::II, {"a"}, at(0h))).status ==
          Outcome::Status::accepted);
  time.advance_to(at(1h));
  const auto timeline = store.timeline();
  const auto incidents = store.incidents();
  const auto confirmations = store.confirmations().size();
  const auto commits = store.commits();

  store.fail_next_commits(1);
  const auto release = confirmation("r1", kKey, Milestone::first_release, "a", at(1h));
  CHECK_THROWS_AS(engine->handle(release), StoreError);
  CHECK(store.failed_commits() == 1);
  CHECK(store.commits() == commits);
  CHECK(store.timeline() == timeline);
  CHECK(store.incidents() == incidents);
  CHECK(store.confirmations().size() == confirmations);
  CHECK_FALSE(store.find_confirmation(kKey, "a", "r1"));

  // The owner restarts from the store; the confirmation was never durable, so it counts now.
  engine.reset();
  engine = std::make_unique<Engine>(config, store, time);
  CHECK(engine->handle(release).status == Outcome::Status::accepted);
  CHECK(lines(store.timeline(), [](const Action&) { return true; }) ==
        std::vector<std::string>{
            "0h00 incident_opened II clock",
            "1h00 release_confirmed first_release a",
            "1h00 milestone_met first_release late=false released 1h00",
        });
}

TEST_CASE("a failed commit of a timer step throws StoreError, a restart redoes the step once") {
  const Config config = roster_config();
  MemoryStore store;
  VirtualTime time(at(0h));
  auto engine = std::make_unique<Engine>(config, store, time);
  REQUIRE(engine->handle(event("e1", kKey, Level::II, {"a"}, at(0h))).status ==
          Outcome::Status::accepted);
  const auto timeline = store.timeline();
  const auto incidents = store.incidents();

  store.fail_next_commits(1);
  CHECK_THROWS_AS(time.advance_to(at(2h)), StoreError);
  CHECK(store.timeline() == timeline);
  CHECK(store.incidents() == incidents);

  engine.reset();
  engine = std::make_unique<Engine>(config, store, time);
  time.advance_to(at(2h + 10min));
  CHECK(lines(store.timeline(), [](const Action&) { return true; }) ==
        std::vector<std::string>{
            "0h00 incident_opened II clock",
            "2h00 warning first_release L0 due 3h00",
            "2h00 notification first_release a-duty1 L0 send 1",
            "2h00 notification first_release a-duty2 L0 send 1",
        });
}
