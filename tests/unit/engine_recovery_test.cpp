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
#include "support/memory_store.hpp"

namespace {

using namespace std::chrono_literals;
using incidentd::Acknowledgement;
using incidentd::Action;
using incidentd::ActionKind;
using incidentd::Config;
using incidentd::Confirmation;
using incidentd::ConfirmRule;
using incidentd::Duration;
using incidentd::Engine;
using incidentd::Event;
using incidentd::EventKind;
using incidentd::IncidentState;
using incidentd::Lateness;
using incidentd::Level;
using incidentd::Milestone;
using incidentd::Outcome;
using incidentd::Person;
using incidentd::Policy;
using incidentd::TimePoint;
using incidentd::Unit;
using incidentd::VirtualTime;
using incidentd::testing::MemoryStore;

// The clock's start S in every test: 2026-11-26T08:00:00+08:00.
const TimePoint kStart = std::chrono::sys_days{std::chrono::year{2026} / 11 / 26};

TimePoint at(Duration offset) {
  return kStart + offset;
}

// ---------------------------------------------------------------------------------------------
// The policy of the contract's table and the roster, built by hand.

Policy contract_policy(ConfirmRule rule) {
  using incidentd::LadderStep;
  Policy p;
  p.clock_levels = {Level::I, Level::II};
  p.confirm = rule;
  p.first_release_target = 3h;
  p.first_release_deadline = 5h;
  p.press_conference_deadline = 24h;
  p.follow_up_every = 24h;
  p.overdue_every = 1h;
  p.resend_after = 15min;
  p.deputy_after_sends = 2;
  p.ladder = {
      LadderStep{Milestone::first_release, 2h, ActionKind::warning, 0},
      LadderStep{Milestone::first_release, 2h + 30min, ActionKind::warning, 0},
      LadderStep{Milestone::first_release, 3h, ActionKind::target_missed, 1},
      LadderStep{Milestone::first_release, 4h + 30min, ActionKind::warning, 1},
      LadderStep{Milestone::first_release, 5h, ActionKind::deadline_breached, 2},
      LadderStep{Milestone::press_conference, 20h, ActionKind::warning, 0},
      LadderStep{Milestone::press_conference, 23h, ActionKind::warning, 1},
      LadderStep{Milestone::press_conference, 24h, ActionKind::deadline_breached, 2},
      LadderStep{Milestone::follow_up, -2h, ActionKind::warning, 0},
      LadderStep{Milestone::follow_up, 0h, ActionKind::deadline_breached, 1},
  };
  p.escalation = {
      {0, {"duty"}, {}},
      {1, {"duty", "leader"}, {}},
      {2, {"duty", "leader", "principal"}, {"office"}},
  };
  return p;
}

Person who(std::string id, std::string role, std::vector<std::string> channels = {"sms"},
           std::string deputy = "") {
  Person p;
  p.id = std::move(id);
  p.name = p.id;
  p.role = std::move(role);
  p.phone = "+8613800000000";
  p.webhook = "http://127.0.0.1:1/hook";
  p.channels = std::move(channels);
  p.deputy = std::move(deputy);
  return p;
}

// Unit "a" lists its people out of role order on purpose: notifications follow the roster.
// a-duty2 prefers webhook. b-duty1's deputy is b-duty2, who is a duty officer too.
Config roster_config(ConfirmRule rule = ConfirmRule::all) {
  Config c;
  c.policy = contract_policy(rule);
  c.units = {
      Unit{"a",
           "Unit A",
           {who("a-duty1", "duty", {"sms"}, "a-deputy"),
            who("a-leader", "leader", {"sms"}, "a-deputy"),
            who("a-duty2", "duty", {"webhook", "sms"}), who("a-principal", "principal"),
            who("a-deputy", "deputy")}},
      Unit{"b",
           "Unit B",
           {who("b-duty1", "duty", {"sms"}, "b-duty2"), who("b-duty2", "duty", {"sms"}, "b-deputy"),
            who("b-leader", "leader"), who("b-principal", "principal"), who("b-deputy", "deputy")}},
      Unit{"c",
           "Unit C",
           {who("c-duty", "duty", {"sms"}, "c-deputy1"), who("c-leader", "leader"),
            who("c-principal", "principal"), who("c-deputy1", "deputy", {"sms"}, "c-deputy2"),
            who("c-deputy2", "deputy")}},
      Unit{"office",
           "Supervision office",
           {who("office-duty1", "duty"), who("office-duty2", "duty"),
            who("office-leader", "leader"), who("office-principal", "principal")}},
  };
  return c;
}

// ---------------------------------------------------------------------------------------------
// Inputs.

Event event(std::string id, std::string key, Level level, std::vector<std::string> units,
            TimePoint detected, EventKind kind = EventKind::detected) {
  Event e;
  e.event_id = std::move(id);
  e.incident_key = std::move(key);
  e.kind = kind;
  e.level = level;
  e.title = "test incident";
  e.lead_unit = units.front();
  e.units = std::move(units);
  e.detected_at = detected;
  return e;
}

Confirmation confirmation(std::string id, std::string key, Milestone m, std::string unit,
                          TimePoint released) {
  Confirmation c;
  c.confirmation_id = std::move(id);
  c.incident_key = std::move(key);
  c.milestone = m;
  c.unit = std::move(unit);
  c.released_at = released;
  c.channel = "weibo";
  c.url = "https://example.org/release";
  c.via = "test";
  return c;
}

Acknowledgement ack(std::string key, std::string person, TimePoint when) {
  return Acknowledgement{std::move(key), std::move(person), when, "sms"};
}

// ---------------------------------------------------------------------------------------------
// Actions as short lines, so an expected timeline reads like the rule book.

std::string rel(TimePoint t) {
  auto d = t - kStart;
  std::string sign;
  if (d < Duration{0}) {
    sign = "-";
    d = -d;
  }
  const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(d);
  const auto rest = d - minutes;
  char text[48];
  std::snprintf(text, sizeof text, "%s%lldh%02lld", sign.c_str(),
                static_cast<long long>(minutes.count() / 60),
                static_cast<long long>(minutes.count() % 60));
  std::string out = text;
  if (rest.count() != 0) out += "+" + std::to_string(rest.count()) + "ms";
  return out;
}

std::string rel(const std::optional<TimePoint>& t) {
  return t ? rel(*t) : std::string("?");
}

std::string num(const std::optional<int>& v) {
  return v ? std::to_string(*v) : std::string("?");
}

std::string late_text(const std::optional<Lateness>& late) {
  if (!late) return "?";
  switch (*late) {
    case Lateness::on_time:
      return "false";
    case Lateness::target:
      return "target";
    case Lateness::deadline:
      return "deadline";
  }
  return "?";
}

std::string line(const Action& a) {
  std::string out = rel(a.at) + " " + std::string(to_string(a.kind));
  if (a.milestone) out += " " + std::string(to_string(*a.milestone));
  switch (a.kind) {
    case ActionKind::incident_opened:
    case ActionKind::level_changed:
      out += " " + (a.incident_level ? std::string(to_string(*a.incident_level)) : "?");
      if (a.previous_incident_level) {
        out += " from " + std::string(to_string(*a.previous_incident_level));
      }
      out += a.clock ? " clock" : " no-clock";
      break;
    case ActionKind::warning:
    case ActionKind::target_missed:
    case ActionKind::deadline_breached:
      out += " L" + num(a.level) + " due " + rel(a.due);
      if (a.reminder != 0) out += " reminder " + std::to_string(a.reminder);
      break;
    case ActionKind::escalated:
      out += " L" + num(a.level) + " from " + num(a.previous_level);
      break;
    case ActionKind::notification:
      out += " " + a.recipient + " L" + num(a.level) + " send " + std::to_string(a.send);
      if (!a.deputy_of.empty()) out += " deputy_of " + a.deputy_of;
      break;
    case ActionKind::milestone_met:
      out += " late=" + late_text(a.late) + " released " + rel(a.released_at);
      break;
    case ActionKind::release_confirmed:
      out += " " + a.unit;
      break;
    case ActionKind::acknowledged:
      out += " " + a.recipient;
      break;
    case ActionKind::incident_closed:
    case ActionKind::delivery:  // the dispatcher's, never the engine's
    case ActionKind::channel_fallback:
      break;
  }
  if (a.round != 0) out += " round " + std::to_string(a.round);
  if (a.catch_up) out += " catch_up";
  return out;
}

std::vector<std::string> lines(const std::vector<Action>& timeline,
                               const std::function<bool(const Action&)>& keep) {
  std::vector<std::string> out;
  for (const auto& a : timeline) {
    if (keep(a)) out.push_back(line(a));
  }
  return out;
}

using incidentd::IncidentState;
using incidentd::ScenarioLine;
using incidentd::Simulation;
using incidentd::SqliteStore;
using incidentd::StoreError;

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

class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ =
        std::filesystem::temp_directory_path() /
        ("incidentd-engine-recovery-" + std::to_string(random()) + "-" + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

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
  TempDir dir;
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
  TempDir dir;
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

TEST_CASE("after downtime the engine acts once per milestone on the latest due step") {
  // Down from 1h50 to 3h10: the 2h and 2h30 warnings and the 3h target fell due; only the
  // target_missed is acted on, at 3h10, as catch-up (rule 19), and it escalates (rule 9).
  TempDir dir;
  const Config config = roster_config();
  const std::string path = dir.file("down.db");
  VirtualTime time(at(0h));
  {
    SqliteStore store(path);
    Engine engine(config, store, time);
    REQUIRE(engine.handle(event("e1", "down", Level::II, {"a"}, at(0h))).status ==
            Outcome::Status::accepted);
    time.advance_to(at(1h + 50min));
  }
  time.advance_to(at(3h + 10min));  // nobody is running
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

TEST_CASE("after downtime a re-send that fell due is sent once, then the cycle resumes") {
  // First release met at 1h; the press conference's 20h warning reaches a-duty1 and a-duty2.
  // Down from 20h05 to 20h50: the 20h15 and 20h30 re-sends fell due; each person gets one
  // re-send at 20h50 (send 2), the next at 21h05 (send 3, and a-duty1's deputy after two
  // unanswered sends).
  TempDir dir;
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
  CHECK_FALSE(store.is_processed("release:r1"));

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
