// The rules of docs/clock-rules.md beyond the ladder itself: where the clock starts, catch-up
// after a late arrival, levels without a clock, raising and lowering the level, closing,
// duplicates, confirm "all" and "lead", lateness at its edges, follow-up rounds, delivery
// assurance, drills, units changing, and what is rejected. Every expected line is written by hand
// from the contract and the rules, against a roster and policy built here in code.
#include "incidentd/engine.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "ctl/virtual_time.hpp"
#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"
#include "support/engine_harness.hpp"
#include "support/memory_store.hpp"

namespace {

using namespace std::chrono_literals;

using namespace incidentd;           // NOLINT(google-build-using-namespace)
using namespace incidentd::testing;  // NOLINT(google-build-using-namespace)

const std::string kKey = "inc-1";

bool accepted(const Outcome& o) {
  return o.status == Outcome::Status::accepted;
}
bool rejected(const Outcome& o) {
  return o.status == Outcome::Status::rejected;
}
bool duplicate(const Outcome& o) {
  return o.status == Outcome::Status::duplicate;
}

void open_incident(Harness& h, Level level, std::vector<std::string> units = {"a"}) {
  REQUIRE(accepted(h.feed(event("e1", kKey, level, std::move(units), at(0h)))));
}

void confirm(Harness& h, std::string id, Milestone m, std::string unit, Duration released) {
  REQUIRE(accepted(h.feed(confirmation(std::move(id), kKey, m, std::move(unit), at(released)))));
}

// Notification lines in [from, to], sorted: the rules fix who is reached at an instant, not the
// order of re-sends and deputies among themselves.
std::vector<std::string> notifications_between(const Harness& h, Duration from, Duration to) {
  auto out = lines(h.timeline(), [&](const Action& a) {
    return a.kind == ActionKind::notification && a.at >= at(from) && a.at <= at(to);
  });
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Where the clock starts (rules 1, 2).

TEST_CASE("the clock starts at detected_at, not at the event's arrival") {
  Harness h;
  REQUIRE(accepted(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h)), at(1h))));
  h.advance_to(3h);
  CHECK(story(h) == std::vector<std::string>{
                        "1h00 incident_opened II clock",
                        "2h00 warning first_release L0 due 3h00",
                        "2h30 warning first_release L0 due 3h00",
                        "3h00 target_missed first_release L1 due 3h00",
                        "3h00 escalated first_release L1 from 0",
                    });
  const IncidentState* s = h.engine.find(kKey);
  REQUIRE(s != nullptr);
  REQUIRE(s->clock_start.has_value());
  CHECK(*s->clock_start == at(0h));
}

TEST_CASE("incident_opened carries the event's level, title, lead unit, units and detected_at") {
  Harness h;
  Event e = event("e1", kKey, Level::I, {"b", "a"}, at(0h));
  e.title = "landslide";
  REQUIRE(accepted(h.feed(e, at(10min))));
  REQUIRE(h.timeline().size() == 1);
  const Action& a = h.timeline().front();
  CHECK(a.kind == ActionKind::incident_opened);
  CHECK(a.at == at(10min));
  CHECK(a.incident_key == kKey);
  CHECK(a.incident_level == Level::I);
  CHECK(a.clock);
  CHECK(a.title == "landslide");
  CHECK(a.lead_unit == "b");
  CHECK(a.units == std::vector<std::string>{"b", "a"});
  CHECK(a.detected_at == at(0h));
  CHECK_FALSE(a.drill);
}

TEST_CASE("an updated event for an unknown incident opens it") {
  Harness h;
  REQUIRE(accepted(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h), EventKind::updated))));
  h.advance_to(2h);
  CHECK(story(h) == std::vector<std::string>{"0h00 incident_opened II clock",
                                             "2h00 warning first_release L0 due 3h00"});
}

// ---------------------------------------------------------------------------------------------
// Catch-up (rule 19).

TEST_CASE("an incident arriving at 3h10 acts once: the missed target, as catch-up, escalated") {
  Harness h;
  REQUIRE(accepted(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h)), at(3h + 10min))));
  h.advance_to(4h + 30min);
  CHECK(story(h) == std::vector<std::string>{
                        "3h10 incident_opened II clock",
                        "3h10 target_missed first_release L1 due 3h00 catch_up",
                        "3h10 escalated first_release L1 from 0",
                        "4h30 warning first_release L1 due 5h00",
                    });
  CHECK(alerted_at(h, 3h + 10min) == std::vector<std::string>{"a-duty1", "a-leader", "a-duty2"});
}

TEST_CASE("an incident arriving at 7h30 acts once: the second breach reminder, as catch-up") {
  // The breach (5h) and reminder 1 (6h) are superseded by reminder 2 (7h); no warning, no
  // target_missed. Level 2 is reached for the first time, so the caught-up rung escalates from 0
  // (rule 9; rule 19 calls the reminder the due step that supersedes the breach).
  Harness h;
  REQUIRE(accepted(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h)), at(7h + 30min))));
  h.advance_to(8h);
  CHECK(story(h) == std::vector<std::string>{
                        "7h30 incident_opened II clock",
                        "7h30 deadline_breached first_release L2 due 5h00 reminder 2 catch_up",
                        "7h30 escalated first_release L2 from 0",
                        "8h00 deadline_breached first_release L2 due 5h00 reminder 3",
                    });
  CHECK(alerted_at(h, 7h + 30min) == std::vector<std::string>{"a-duty1", "a-leader", "a-duty2",
                                                              "a-principal", "office-duty1",
                                                              "office-duty2"});
}

TEST_CASE("a rung acted on within a minute of its instant is not marked catch-up, later it is") {
  // Rule 19: within one minute of its instant a step is acted on as live (the daemon's wake-up
  // latency); past that it is marked catch_up.
  SECTION("30 s late") {
    Harness h;
    REQUIRE(accepted(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h)), at(2h + 30s))));
    CHECK(story(h) == std::vector<std::string>{
                          "2h00+30000ms incident_opened II clock",
                          "2h00+30000ms warning first_release L0 due 3h00",
                      });
  }
  SECTION("2 min late") {
    Harness h;
    REQUIRE(accepted(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h)), at(2h + 2min))));
    CHECK(story(h) == std::vector<std::string>{
                          "2h02 incident_opened II clock",
                          "2h02 warning first_release L0 due 3h00 catch_up",
                      });
  }
}

TEST_CASE("a very late arrival catches up once per milestone") {
  // At S+26h30: first_release is 21 hours past its 5h deadline (reminder 21 at 26h), the press
  // conference 2 hours past its 24h deadline (reminder 2 at 26h).
  Harness h;
  REQUIRE(accepted(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h)), at(26h + 30min))));
  CHECK(story(h) == std::vector<std::string>{
                        "26h30 incident_opened II clock",
                        "26h30 deadline_breached first_release L2 due 5h00 reminder 21 catch_up",
                        "26h30 escalated first_release L2 from 0",
                        "26h30 deadline_breached press_conference L2 due 24h00 reminder 2 catch_up",
                        "26h30 escalated press_conference L2 from 0",
                    });
}

// ---------------------------------------------------------------------------------------------
// Levels (rules 2, 3).

TEST_CASE("a level III or IV incident is recorded without a clock and walks no ladder") {
  for (Level level : {Level::III, Level::IV}) {
    INFO("level " << to_string(level));
    Harness h;
    open_incident(h, level);
    h.advance_to(30h);
    const std::string opened =
        "0h00 incident_opened " + std::string(to_string(level)) + " no-clock";
    CHECK(story(h) == std::vector<std::string>{opened});
    CHECK(h.timeline().size() == 1);  // no notification either
    const IncidentState* s = h.engine.find(kKey);
    REQUIRE(s != nullptr);
    CHECK_FALSE(s->clock_start.has_value());
    CHECK(h.engine.pending_deadlines() == 0);
  }
}

TEST_CASE("raising III to II starts the clock at the raising event's detected_at") {
  Harness h;
  open_incident(h, Level::III);
  REQUIRE(accepted(h.feed(event("e2", kKey, Level::II, {"a"}, at(1h), EventKind::updated))));
  h.advance_to(6h);
  CHECK(story(h) == std::vector<std::string>{
                        "0h00 incident_opened III no-clock",
                        "1h00 level_changed II from III clock",
                        "3h00 warning first_release L0 due 4h00",
                        "3h30 warning first_release L0 due 4h00",
                        "4h00 target_missed first_release L1 due 4h00",
                        "4h00 escalated first_release L1 from 0",
                        "5h30 warning first_release L1 due 6h00",
                        "6h00 deadline_breached first_release L2 due 6h00",
                        "6h00 escalated first_release L2 from 1",
                    });
  const Action& changed = h.timeline()[1];
  CHECK(changed.detected_at == at(1h));
  h.advance_to(21h);
  CHECK(rungs(h, Milestone::press_conference) ==
        std::vector<std::string>{"21h00 warning press_conference L0 due 25h00"});
}

TEST_CASE("raising III to II late starts the clock at detected_at and catches up at arrival") {
  Harness h;
  open_incident(h, Level::III);
  REQUIRE(accepted(
      h.feed(event("e2", kKey, Level::II, {"a"}, at(1h), EventKind::updated), at(4h + 10min))));
  CHECK(story(h) == std::vector<std::string>{
                        "0h00 incident_opened III no-clock",
                        "4h10 level_changed II from III clock",
                        "4h10 target_missed first_release L1 due 4h00 catch_up",
                        "4h10 escalated first_release L1 from 0",
                    });
}

TEST_CASE("raising II to I changes the level but keeps the running clock") {
  Harness h;
  open_incident(h, Level::II);
  REQUIRE(accepted(h.feed(event("e2", kKey, Level::I, {"a"}, at(1h), EventKind::updated))));
  h.advance_to(3h);
  CHECK(story(h) == std::vector<std::string>{
                        "0h00 incident_opened II clock",
                        "1h00 level_changed I from II clock",
                        "2h00 warning first_release L0 due 3h00",
                        "2h30 warning first_release L0 due 3h00",
                        "3h00 target_missed first_release L1 due 3h00",
                        "3h00 escalated first_release L1 from 0",
                    });
  CHECK(*h.engine.find(kKey)->clock_start == at(0h));
}

TEST_CASE("a downgrade does not stop a running clock") {
  Harness h;
  open_incident(h, Level::II);
  REQUIRE(accepted(h.feed(event("e2", kKey, Level::IV, {"a"}, at(1h), EventKind::updated))));
  h.advance_to(5h);
  CHECK(story(h) == std::vector<std::string>{
                        "0h00 incident_opened II clock",
                        "1h00 level_changed IV from II clock",
                        "2h00 warning first_release L0 due 3h00",
                        "2h30 warning first_release L0 due 3h00",
                        "3h00 target_missed first_release L1 due 3h00",
                        "3h00 escalated first_release L1 from 0",
                        "4h30 warning first_release L1 due 5h00",
                        "5h00 deadline_breached first_release L2 due 5h00",
                        "5h00 escalated first_release L2 from 1",
                    });
}

// ---------------------------------------------------------------------------------------------
// Closing (rule 4) and what is rejected (rules 4, 12, 18).

TEST_CASE("closing cancels every pending step, reminder and re-send") {
  Harness h;
  open_incident(h, Level::II);
  REQUIRE(accepted(h.feed(event("e2", kKey, Level::II, {"a"}, at(2h + 10min), EventKind::closed))));
  h.advance_to(30h);
  CHECK(story(h) == std::vector<std::string>{
                        "0h00 incident_opened II clock",
                        "2h00 warning first_release L0 due 3h00",
                        "2h10 incident_closed",
                    });
  // The 2h alert would have been re-sent at 2h15.
  CHECK(notifications_between(h, 2h + 1min, 30h).empty());
  CHECK(h.engine.pending_deadlines() == 0);
  CHECK(h.engine.open_incidents() == 0);
  REQUIRE(h.store.incidents().count(kKey) == 1);
  CHECK(h.store.incidents().at(kKey).closed);
}

TEST_CASE("an incident entered by hand names who opened, changed and closed it") {
  Harness h;
  const auto by_hand = [](Event e, std::string who) {
    e.source_platform = std::string(kManualPlatform);
    e.source_by = std::move(who);
    return e;
  };
  REQUIRE(accepted(h.feed(by_hand(event("m1", kKey, Level::II, {"a"}, at(0h)), "zhang"))));
  // Another system's update in between says nothing about who entered it.
  Event weibo = event("w1", kKey, Level::III, {"a"}, at(1h), EventKind::updated);
  weibo.source_platform = "weibo";
  weibo.source_by = "crawler";
  REQUIRE(accepted(h.feed(weibo)));
  REQUIRE(accepted(h.feed(
      by_hand(event("m2", kKey, Level::I, {"a"}, at(1h + 30min), EventKind::updated), "li"))));
  REQUIRE(accepted(
      h.feed(by_hand(event("m3", kKey, Level::I, {"a"}, at(2h), EventKind::closed), "wang"))));
  std::vector<std::string> who;
  for (const Action& a : h.timeline()) {
    if (a.kind == ActionKind::incident_opened || a.kind == ActionKind::level_changed ||
        a.kind == ActionKind::incident_closed) {
      who.push_back(std::string(to_string(a.kind)) + " " + a.source + " " + a.by);
    }
  }
  CHECK(who == std::vector<std::string>{"incident_opened manual zhang", "level_changed  ",
                                        "level_changed manual li", "incident_closed manual wang"});
}

TEST_CASE("after a close, events, confirmations and acknowledgements are rejected") {
  Harness h;
  open_incident(h, Level::II);
  REQUIRE(accepted(h.feed(event("e2", kKey, Level::II, {"a"}, at(2h + 10min), EventKind::closed))));
  const auto before = h.timeline().size();

  const Outcome update = h.feed(event("e3", kKey, Level::I, {"a"}, at(3h), EventKind::updated));
  CHECK(rejected(update));
  CHECK_THAT(update.reason, Catch::Contains("closed"));
  const Outcome release =
      h.feed(confirmation("r1", kKey, Milestone::first_release, "a", at(3h + 5min)));
  CHECK(rejected(release));
  CHECK_THAT(release.reason, Catch::Contains("closed"));
  const Outcome acknowledged = h.feed(ack(kKey, "a-duty1", at(3h + 10min)));  // notified at 2h
  CHECK(rejected(acknowledged));
  CHECK_THAT(acknowledged.reason, Catch::Contains("closed"));
  const Outcome reopen = h.feed(event("e4", kKey, Level::II, {"a"}, at(4h)));
  CHECK(rejected(reopen));
  h.advance_to(30h);
  CHECK(h.timeline().size() == before);
}

// Why the processed ids of closed incidents are kept (docs/kafka.md, "Processed ids in memory"):
// without its id, a redelivered event of a closed incident would be an `engine` dead letter.
TEST_CASE("an event of a closed incident delivered again is a duplicate and not a rejection") {
  Harness h;
  open_incident(h, Level::II);
  REQUIRE(accepted(h.feed(event("e2", kKey, Level::II, {"a"}, at(2h + 10min), EventKind::closed))));
  CHECK(duplicate(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h)))));
  CHECK(duplicate(h.feed(event("e2", kKey, Level::II, {"a"}, at(2h + 10min), EventKind::closed))));
  CHECK(rejected(h.feed(event("e3", kKey, Level::II, {"a"}, at(0h)))));
}

TEST_CASE("inputs about an unknown incident are rejected and change nothing") {
  Harness h;
  const Outcome close = h.feed(event("e1", kKey, Level::II, {"a"}, at(0h), EventKind::closed));
  CHECK(rejected(close));
  CHECK(rejected(h.feed(confirmation("r1", kKey, Milestone::first_release, "a", at(1h)))));
  CHECK(rejected(h.feed(ack(kKey, "a-duty1", at(2h)))));
  h.advance_to(30h);
  CHECK(h.timeline().empty());
  CHECK(h.engine.open_incidents() == 0);
}

TEST_CASE("a confirmation from a unit not responsible for the incident is rejected") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  const Outcome o = h.feed(confirmation("r1", kKey, Milestone::first_release, "b", at(1h)));
  CHECK(rejected(o));
  CHECK_THAT(o.reason, Catch::Contains("\"b\""));
  h.advance_to(2h);
  CHECK(story(h) == std::vector<std::string>{"0h00 incident_opened II clock",
                                             "2h00 warning first_release L0 due 3h00"});
}

// ---------------------------------------------------------------------------------------------
// Duplicates (rule 5).

TEST_CASE("an event delivered twice changes nothing the second time") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  // Same event_id, different content: still the same event.
  CHECK(duplicate(h.feed(event("e1", kKey, Level::I, {"a", "b"}, at(30min), EventKind::updated))));
  h.advance_to(2h);
  CHECK(story(h) == std::vector<std::string>{"0h00 incident_opened II clock",
                                             "2h00 warning first_release L0 due 3h00"});
  CHECK(alerted_at(h, 2h) == std::vector<std::string>{"a-duty1", "a-duty2"});
  CHECK(h.engine.find(kKey)->level == Level::II);
}

TEST_CASE("a confirmation delivered twice counts once") {
  Harness h;
  open_incident(h, Level::II, {"a", "b"});
  confirm(h, "r1", Milestone::first_release, "a", 1h);
  // The same (incident, unit, id) with the same content, later and by another route: a duplicate.
  Confirmation again = confirmation("r1", kKey, Milestone::first_release, "a", at(1h));
  again.via = "http";
  CHECK(duplicate(h.feed(again, at(1h + 10min))));
  h.advance_to(2h);
  CHECK(story(h) == std::vector<std::string>{"0h00 incident_opened II clock",
                                             "1h00 release_confirmed first_release a",
                                             "2h00 warning first_release L0 due 3h00"});
  CHECK(alerted_at(h, 2h) == std::vector<std::string>{"b-duty1", "b-duty2"});
  CHECK(h.store.confirmations().size() == 1);
}

TEST_CASE("two units' rel-0001 on one incident both count: the id is the unit's own") {
  Harness h;
  open_incident(h, Level::II, {"a", "b"});
  confirm(h, "rel-0001", Milestone::first_release, "a", 1h);
  confirm(h, "rel-0001", Milestone::first_release, "b", 1h + 10min);
  h.advance_to(2h);
  CHECK(story(h) == std::vector<std::string>{
                        "0h00 incident_opened II clock",
                        "1h00 release_confirmed first_release a",
                        "1h10 release_confirmed first_release b",
                        "1h10 milestone_met first_release late=false released 1h10",
                    });
  CHECK(h.store.confirmations().size() == 2);
}

TEST_CASE("rel-0001 on two incidents counts for each") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  REQUIRE(accepted(h.feed(event("e2", "other", Level::II, {"a"}, at(10min)))));
  confirm(h, "rel-0001", Milestone::first_release, "a", 1h);
  REQUIRE(accepted(
      h.feed(confirmation("rel-0001", "other", Milestone::first_release, "a", at(1h + 5min)))));
  CHECK(h.engine.find(kKey)->milestone(Milestone::first_release).met_at == at(1h));
  CHECK(h.engine.find("other")->milestone(Milestone::first_release).met_at == at(1h + 5min));
}

TEST_CASE("the same confirmation id of a unit with other content is refused with the reason") {
  Harness h;
  open_incident(h, Level::II, {"a", "b"});
  confirm(h, "rel-0001", Milestone::first_release, "a", 1h);
  const auto timeline = h.timeline().size();

  Confirmation other = confirmation("rel-0001", kKey, Milestone::first_release, "a", at(1h));
  other.url = "https://example.org/another";
  const Outcome o = h.feed(other, at(1h + 5min));
  CHECK(rejected(o));
  CHECK(o.conflict);
  CHECK(o.reason ==
        "confirmation \"rel-0001\" of unit \"a\" for incident \"" + std::string(kKey) +
            "\" was already recorded with another url; a changed confirmation needs a new "
            "confirmation_id");

  Confirmation moved = confirmation("rel-0001", kKey, Milestone::press_conference, "a", at(2h));
  const Outcome m = h.feed(moved, at(2h));
  CHECK(m.conflict);
  CHECK_THAT(m.reason, Catch::Contains("another milestone, released_at;"));
  // Nothing was recorded for either; the first confirmation stands.
  CHECK(h.store.confirmations().size() == 1);
  CHECK(lines(h.timeline(), [](const Action& a) {
          return a.kind == ActionKind::release_confirmed;
        }) == std::vector<std::string>{"1h00 release_confirmed first_release a"});
  CHECK(h.timeline().size() >= timeline);
}

TEST_CASE("a conflicting or repeated confirmation is caught before it is committed too") {
  Harness h;
  open_incident(h, Level::II, {"a", "b"});
  h.engine.set_flush_each_step(false);
  confirm(h, "rel-0001", Milestone::first_release, "a", 1h);
  REQUIRE(h.store.confirmations().empty());  // still pending
  CHECK(duplicate(h.feed(confirmation("rel-0001", kKey, Milestone::first_release, "a", at(1h)))));
  Confirmation other = confirmation("rel-0001", kKey, Milestone::first_release, "a", at(1h));
  other.speaker = "principal";
  const Outcome o = h.feed(other, at(1h));
  CHECK(o.conflict);
  CHECK_THAT(o.reason, Catch::Contains("another speaker;"));
  // Another unit's rel-0001 in the same batch is its own.
  confirm(h, "rel-0001", Milestone::first_release, "b", 1h);
  h.engine.flush();
  CHECK(h.store.confirmations().size() == 2);
}

// ---------------------------------------------------------------------------------------------
// Meeting a milestone (rules 12-14).

TEST_CASE("under confirm = all a milestone is met only when every unit has confirmed") {
  Harness h;
  open_incident(h, Level::II, {"a", "b"});
  confirm(h, "r-a", Milestone::first_release, "a", 1h);
  confirm(h, "r-b", Milestone::first_release, "b", 2h + 10min);
  h.advance_to(6h);
  CHECK(story(h) == std::vector<std::string>{
                        "0h00 incident_opened II clock",
                        "1h00 release_confirmed first_release a",
                        "2h00 warning first_release L0 due 3h00",
                        "2h10 release_confirmed first_release b",
                        "2h10 milestone_met first_release late=false released 2h10",
                    });
}

TEST_CASE("a milestone met by several units takes the latest released_at, not the last arrival") {
  Harness h;
  open_incident(h, Level::II, {"a", "b"});
  // a released at 1h30 but its confirmation arrives last, at 3h20; b released at 3h10.
  REQUIRE(
      accepted(h.feed(confirmation("r-b", kKey, Milestone::first_release, "b", at(3h + 10min)))));
  REQUIRE(accepted(h.feed(confirmation("r-a", kKey, Milestone::first_release, "a", at(1h + 30min)),
                          at(3h + 20min))));
  const auto met =
      lines(h.timeline(), [](const Action& a) { return a.kind == ActionKind::milestone_met; });
  CHECK(met ==
        std::vector<std::string>{"3h20 milestone_met first_release late=target released 3h10"});
}

TEST_CASE("under confirm = lead the lead unit's confirmation alone meets a milestone") {
  Harness h(ConfirmRule::lead);
  open_incident(h, Level::II, {"a", "b"});  // lead unit a
  confirm(h, "r-b", Milestone::first_release, "b", 1h);
  confirm(h, "r-a", Milestone::first_release, "a", 1h + 30min);
  h.advance_to(6h);
  CHECK(story(h) == std::vector<std::string>{
                        "0h00 incident_opened II clock",
                        "1h00 release_confirmed first_release b",
                        "1h30 release_confirmed first_release a",
                        "1h30 milestone_met first_release late=false released 1h30",
                    });
}

TEST_CASE("under confirm = lead another unit's confirmation does not meet the milestone") {
  Harness h(ConfirmRule::lead);
  open_incident(h, Level::II, {"a", "b"});
  confirm(h, "r-b", Milestone::first_release, "b", 1h);
  h.advance_to(2h);
  CHECK(story(h) == std::vector<std::string>{"0h00 incident_opened II clock",
                                             "1h00 release_confirmed first_release b",
                                             "2h00 warning first_release L0 due 3h00"});
}

TEST_CASE("a release_confirmed line carries what the confirmation said") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  Confirmation c = confirmation("rel-0001", kKey, Milestone::first_release, "a", at(1h));
  c.speaker = "principal";
  c.via = "http";
  REQUIRE(accepted(h.feed(c)));
  const auto& timeline = h.timeline();
  REQUIRE(timeline.size() == 3);
  const Action& r = timeline[1];
  CHECK(r.kind == ActionKind::release_confirmed);
  CHECK(r.milestone == Milestone::first_release);
  CHECK(r.unit == "a");
  CHECK(r.released_at == at(1h));
  CHECK(r.channel == "weibo");
  CHECK(r.url == "https://example.org/release");
  CHECK(r.speaker == "principal");
  CHECK(r.confirmation_id == "rel-0001");
  CHECK(r.via == "http");
  CHECK(timeline[2].kind == ActionKind::milestone_met);
}

TEST_CASE("lateness of the first release at the edges of target and deadline") {
  struct Case {
    Duration released;
    std::string met;
  };
  const std::vector<Case> cases = {
      {2h + 59min, "2h59 milestone_met first_release late=false released 2h59"},
      {3h, "3h00 milestone_met first_release late=false released 3h00"},
      {3h + 1min, "3h01 milestone_met first_release late=target released 3h01"},
      {5h, "5h00 milestone_met first_release late=target released 5h00"},
      {5h + 1min, "5h01 milestone_met first_release late=deadline released 5h01"},
  };
  for (const auto& c : cases) {
    INFO("released at " << c.met);
    Harness h;
    open_incident(h, Level::II, {"a"});
    confirm(h, "r1", Milestone::first_release, "a", c.released);
    CHECK(lines(h.timeline(), [](const Action& a) {
            return a.kind == ActionKind::milestone_met;
          }) == std::vector<std::string>{c.met});
  }
}

TEST_CASE("lateness of the press conference, which has a deadline and no target") {
  struct Case {
    Duration released;
    std::string met;
  };
  const std::vector<Case> cases = {
      {23h, "23h00 milestone_met press_conference late=false released 23h00"},
      {24h, "24h00 milestone_met press_conference late=false released 24h00"},
      {24h + 1min, "24h01 milestone_met press_conference late=deadline released 24h01"},
  };
  for (const auto& c : cases) {
    INFO("released at " << c.met);
    Harness h;
    open_incident(h, Level::II, {"a"});
    confirm(h, "r1", Milestone::press_conference, "a", c.released);
    CHECK(lines(h.timeline(), [](const Action& a) {
            return a.kind == ActionKind::milestone_met;
          }) == std::vector<std::string>{c.met});
  }
}

TEST_CASE("lateness is judged by released_at, which is never later than the arrival") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  // Released (it says) at 4h, confirmed at 2h40: counted as released at 2h40.
  REQUIRE(accepted(
      h.feed(confirmation("r1", kKey, Milestone::first_release, "a", at(4h)), at(2h + 40min))));
  Harness k;
  open_incident(k, Level::II, {"a"});
  // Released at 2h50, confirmed at 3h20 (after the target): on time.
  REQUIRE(accepted(k.feed(confirmation("r1", kKey, Milestone::first_release, "a", at(2h + 50min)),
                          at(3h + 20min))));
  const auto met = [](const Harness& x) {
    return lines(x.timeline(), [](const Action& a) { return a.kind == ActionKind::milestone_met; });
  };
  CHECK(met(h) ==
        std::vector<std::string>{"2h40 milestone_met first_release late=false released 2h40"});
  CHECK(met(k) ==
        std::vector<std::string>{"3h20 milestone_met first_release late=false released 2h50"});
}

TEST_CASE("meeting a milestone cancels its remaining rungs and re-sends, not the others'") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  confirm(h, "r1", Milestone::first_release, "a", 2h + 10min);
  h.advance_to(20h);
  CHECK(rungs(h, Milestone::first_release) ==
        std::vector<std::string>{"2h00 warning first_release L0 due 3h00"});
  // The 2h alert would have been re-sent at 2h15.
  CHECK(notifications_between(h, 2h + 1min, 19h).empty());
  CHECK(rungs(h, Milestone::press_conference) ==
        std::vector<std::string>{"20h00 warning press_conference L0 due 24h00"});
}

TEST_CASE("confirmations before the clock runs count when it starts") {
  Harness h;
  open_incident(h, Level::III, {"a"});
  confirm(h, "r1", Milestone::first_release, "a", 30min);
  REQUIRE(accepted(h.feed(event("e2", kKey, Level::II, {"a"}, at(1h), EventKind::updated))));
  h.advance_to(22h + 30min);
  // Round 1 of the follow-up is due 24 h after the release at 0h30.
  CHECK(story(h) == std::vector<std::string>{
                        "0h00 incident_opened III no-clock",
                        "0h30 release_confirmed first_release a",
                        "1h00 level_changed II from III clock",
                        "1h00 milestone_met first_release late=false released 0h30",
                        "21h00 warning press_conference L0 due 25h00",
                        "22h30 warning follow_up L0 due 24h30 round 1",
                    });
}

TEST_CASE("a confirmation of a milestone already met is recorded and changes nothing else") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  confirm(h, "r1", Milestone::first_release, "a", 1h);
  confirm(h, "r2", Milestone::first_release, "a", 2h);
  h.advance_to(23h);
  CHECK(story(h) == std::vector<std::string>{
                        "0h00 incident_opened II clock",
                        "1h00 release_confirmed first_release a",
                        "1h00 milestone_met first_release late=false released 1h00",
                        "2h00 release_confirmed first_release a",
                        "20h00 warning press_conference L0 due 24h00",
                        "23h00 warning press_conference L1 due 24h00",
                        "23h00 escalated press_conference L1 from 0",
                        "23h00 warning follow_up L0 due 25h00 round 1",
                    });
}

// ---------------------------------------------------------------------------------------------
// Follow-up rounds (rule 15).

TEST_CASE("follow-up round 1 is due 24 h after the first release and is reminded when breached") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  confirm(h, "r1", Milestone::first_release, "a", 1h);
  h.advance_to(26h);
  CHECK(rungs(h, Milestone::follow_up) ==
        std::vector<std::string>{
            "23h00 warning follow_up L0 due 25h00 round 1",
            "25h00 deadline_breached follow_up L1 due 25h00 round 1",
            "26h00 deadline_breached follow_up L1 due 25h00 reminder 1 round 1",
        });
  CHECK(lines(h.timeline(), [](const Action& a) {
          return a.kind == ActionKind::escalated && a.milestone == Milestone::follow_up;
        }) == std::vector<std::string>{"25h00 escalated follow_up L1 from 0 round 1"});
  // The press conference's reminder 1 alerts at 25h too, and the 23h alert's deputy is re-sent:
  // only the follow-up's new alert counts here.
  CHECK(lines(h.timeline(),
              [](const Action& a) {
                return a.kind == ActionKind::notification && a.at == at(25h) &&
                       a.milestone == Milestone::follow_up && a.send == 1 && a.deputy_of.empty();
              }) == std::vector<std::string>{
                        "25h00 notification follow_up a-duty1 L1 send 1 round 1",
                        "25h00 notification follow_up a-leader L1 send 1 round 1",
                        "25h00 notification follow_up a-duty2 L1 send 1 round 1",
                    });
}

TEST_CASE("a follow-up met starts the next round 24 h after it, with its own escalation") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  confirm(h, "r1", Milestone::first_release, "a", 1h);
  confirm(h, "f1", Milestone::follow_up, "a", 10h);
  h.advance_to(35h);
  CHECK(lines(h.timeline(),
              [](const Action& a) {
                return a.milestone == Milestone::follow_up && a.kind != ActionKind::notification;
              }) == std::vector<std::string>{
                        "10h00 release_confirmed follow_up a round 1",
                        "10h00 milestone_met follow_up late=false released 10h00 round 1",
                        "32h00 warning follow_up L0 due 34h00 round 2",
                        "34h00 deadline_breached follow_up L1 due 34h00 round 2",
                        "34h00 escalated follow_up L1 from 0 round 2",
                        "35h00 deadline_breached follow_up L1 due 34h00 reminder 1 round 2",
                    });
}

TEST_CASE("a follow-up met after its due time is late and the next round counts from it") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  confirm(h, "r1", Milestone::first_release, "a", 1h);
  confirm(h, "f1", Milestone::follow_up, "a", 25h + 30min);
  h.advance_to(47h + 30min);
  CHECK(lines(h.timeline(),
              [](const Action& a) {
                return a.milestone == Milestone::follow_up && a.kind == ActionKind::milestone_met;
              }) == std::vector<std::string>{
                        "25h30 milestone_met follow_up late=deadline released 25h30 round 1"});
  CHECK(rungs(h, Milestone::follow_up).back() == "47h30 warning follow_up L0 due 49h30 round 2");
}

TEST_CASE("a follow-up confirmation before any round is armed counts for none") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  confirm(h, "f0", Milestone::follow_up, "a", 30min);
  confirm(h, "r1", Milestone::first_release, "a", 1h);
  h.advance_to(23h);
  CHECK(lines(h.timeline(),
              [](const Action& a) {
                return a.milestone == Milestone::follow_up && a.kind != ActionKind::notification;
              }) == std::vector<std::string>{
                        "0h30 release_confirmed follow_up a",
                        "23h00 warning follow_up L0 due 25h00 round 1",
                    });
}

TEST_CASE("a press conference met before the round's warning moves the round") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  confirm(h, "r1", Milestone::first_release, "a", 1h);
  confirm(h, "p1", Milestone::press_conference, "a", 6h);
  h.advance_to(31h);
  // Round 1 was due at 25h; the press conference at 6h moves it to 30h.
  CHECK(rungs(h, Milestone::follow_up) ==
        std::vector<std::string>{
            "28h00 warning follow_up L0 due 30h00 round 1",
            "30h00 deadline_breached follow_up L1 due 30h00 round 1",
            "31h00 deadline_breached follow_up L1 due 30h00 reminder 1 round 1",
        });
}

// Rule 15: the moved round's steps are resolved again against the new due time; only instants
// already past at the move are skipped. The warning at 45h30 is still ahead at 23h30, so the
// round warns again before its new deadline.
TEST_CASE("a press conference met after the round's warning moves it: the round warns again") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  confirm(h, "r1", Milestone::first_release, "a", 1h);
  confirm(h, "p1", Milestone::press_conference, "a", 23h + 30min);
  h.advance_to(48h);
  CHECK(rungs(h, Milestone::follow_up) ==
        std::vector<std::string>{
            "23h00 warning follow_up L0 due 25h00 round 1",
            "45h30 warning follow_up L0 due 47h30 round 1",
            "47h30 deadline_breached follow_up L1 due 47h30 round 1",
        });
}

TEST_CASE(
    "a press conference met after the round's breach moves it: no reminders before the "
    "new due time") {
  // Round 1 due at 25h is breached and reminded at 26h and 27h. The press conference, released at
  // 27h, moves the round to 51h (rule 15); reminders come at `deadline + k*1h` (rule 11), so none
  // may come between 27h and 51h, and no deadline_breached may claim a due time still ahead.
  Harness h;
  open_incident(h, Level::II, {"a"});
  confirm(h, "r1", Milestone::first_release, "a", 1h);
  confirm(h, "p1", Milestone::press_conference, "a", 27h);
  h.advance_to(50h + 59min);
  CHECK(rungs(h, Milestone::follow_up) ==
        std::vector<std::string>{
            "23h00 warning follow_up L0 due 25h00 round 1",
            "25h00 deadline_breached follow_up L1 due 25h00 round 1",
            "26h00 deadline_breached follow_up L1 due 25h00 reminder 1 round 1",
            "27h00 deadline_breached follow_up L1 due 25h00 reminder 2 round 1",
            // Resolved again for the new due time 51h (rule 15): its warning is still ahead.
            "49h00 warning follow_up L0 due 51h00 round 1",
        });
  const auto premature = lines(h.timeline(), [](const Action& a) {
    return a.kind == ActionKind::deadline_breached && a.due && a.at < *a.due;
  });
  CHECK(premature.empty());
}

// ---------------------------------------------------------------------------------------------
// Delivery assurance (rules 16-18). The first release is met at 1h, so the press conference's
// 20h warning (alert 1) is alone until the 23h warning.

void press_warning_for(Harness& h, const std::string& unit) {
  open_incident(h, Level::II, {unit});
  confirm(h, "r1", Milestone::first_release, unit, 1h);
}

TEST_CASE(
    "an unacknowledged alert is re-sent every 15 minutes and reaches the deputy after two "
    "unanswered sends") {
  Harness h;
  press_warning_for(h, "a");
  h.advance_to(22h);
  CHECK(notifications_between(h, 0h, 20h + 45min) ==
        sorted({
            "20h00 notification press_conference a-duty1 L0 send 1",
            "20h00 notification press_conference a-duty2 L0 send 1",
            "20h15 notification press_conference a-duty1 L0 send 2",
            "20h15 notification press_conference a-duty2 L0 send 2",
            "20h30 notification press_conference a-duty1 L0 send 3",
            "20h30 notification press_conference a-duty2 L0 send 3",
            "20h30 notification press_conference a-deputy L0 send 1 deputy_of a-duty1",
            "20h45 notification press_conference a-duty1 L0 send 4",
            "20h45 notification press_conference a-duty2 L0 send 4",
            "20h45 notification press_conference a-deputy L0 send 2 deputy_of a-duty1",
        }));
  const Action* deputy = find_notification(h, 20h + 30min, "a-deputy", 1);
  REQUIRE(deputy != nullptr);
  CHECK(deputy->deputy_of == "a-duty1");
  CHECK(deputy->unit == "a");
  CHECK(deputy->channel == "sms");
  CHECK(deputy->level == 0);
  CHECK(deputy->cause == ActionKind::warning);
  CHECK(deputy->notification_id == "inc-1/1/a-deputy/1");
  const Action* third = find_notification(h, 20h + 30min, "a-duty1", 3);
  REQUIRE(third != nullptr);
  CHECK(third->notification_id == "inc-1/1/a-duty1/3");
  const Action* resent = find_notification(h, 20h + 15min, "a-duty2", 2);
  REQUIRE(resent != nullptr);
  CHECK(resent->channel == "webhook");
}

TEST_CASE("an acknowledgement stops re-sending to that person only") {
  Harness h;
  press_warning_for(h, "a");
  REQUIRE(accepted(h.feed(ack(kKey, "a-duty2", at(20h + 20min)))));
  h.advance_to(20h + 45min);
  CHECK(notifications_between(h, 20h + 16min, 20h + 45min) ==
        sorted({
            "20h30 notification press_conference a-duty1 L0 send 3",
            "20h30 notification press_conference a-deputy L0 send 1 deputy_of a-duty1",
            "20h45 notification press_conference a-duty1 L0 send 4",
            "20h45 notification press_conference a-deputy L0 send 2 deputy_of a-duty1",
        }));
  const auto acks =
      lines(h.timeline(), [](const Action& a) { return a.kind == ActionKind::acknowledged; });
  CHECK(acks == std::vector<std::string>{"20h20 acknowledged a-duty2"});
  CHECK(h.timeline().back().drill == false);
}

TEST_CASE(
    "an acknowledgement does not meet the milestone, a newer alert reaches the person again") {
  Harness h;
  press_warning_for(h, "a");
  REQUIRE(accepted(h.feed(ack(kKey, "a-duty2", at(20h + 20min)))));
  h.advance_to(24h);
  CHECK(rungs(h, Milestone::press_conference) ==
        std::vector<std::string>{
            "20h00 warning press_conference L0 due 24h00",
            "23h00 warning press_conference L1 due 24h00",
            "24h00 deadline_breached press_conference L2 due 24h00",
        });
  CHECK(lines(h.timeline(), [](const Action& a) {
          return a.kind == ActionKind::milestone_met && a.milestone == Milestone::press_conference;
        }).empty());
  const auto at_23 = alerted_at(h, 23h);
  CHECK(std::count(at_23.begin(), at_23.end(), "a-duty2") == 2);  // press and follow-up alerts
}

TEST_CASE("an acknowledgement ends the person's deliveries for every milestone of the incident") {
  // At 23h a-duty1 and a-duty2 are reached by the press conference's 23h warning (level 1, with
  // a-leader) and by follow-up round 1's warning (level 0). a-duty1 acknowledges at 23h05.
  Harness h;
  press_warning_for(h, "a");
  REQUIRE(accepted(h.feed(ack(kKey, "a-duty1", at(23h + 5min)))));
  h.advance_to(23h + 15min);
  auto resent = lines(h.timeline(), [](const Action& a) {
    return a.kind == ActionKind::notification && a.at == at(23h + 15min) && a.deputy_of.empty();
  });
  std::sort(resent.begin(), resent.end());
  CHECK(resent == sorted({
                      "23h15 notification press_conference a-leader L1 send 2",
                      "23h15 notification press_conference a-duty2 L1 send 2",
                      "23h15 notification follow_up a-duty2 L0 send 2 round 1",
                  }));
}

TEST_CASE("an acknowledgement by someone never notified about the incident is rejected") {
  Harness h;
  press_warning_for(h, "a");
  h.advance_to(20h + 5min);
  const auto before = h.timeline().size();
  CHECK(rejected(h.feed(ack(kKey, "b-duty1", at(20h + 6min)))));   // another unit
  CHECK(rejected(h.feed(ack(kKey, "a-leader", at(20h + 7min)))));  // not reached at level 0
  CHECK(rejected(h.feed(ack(kKey, "no-such-person", at(20h + 8min)))));
  CHECK(h.timeline().size() == before);
  h.advance_to(20h + 15min);
  CHECK(alerted_at(h, 20h) == std::vector<std::string>{"a-duty1", "a-duty2"});
  CHECK(find_notification(h, 20h + 15min, "a-duty1", 2) != nullptr);
}

TEST_CASE("an acknowledgement with no open delivery left is a duplicate") {
  Harness h;
  press_warning_for(h, "a");
  REQUIRE(accepted(h.feed(ack(kKey, "a-duty2", at(20h + 5min)))));
  const auto before = h.timeline().size();
  CHECK(duplicate(h.feed(ack(kKey, "a-duty2", at(20h + 10min)))));
  CHECK(h.timeline().size() == before);
}

TEST_CASE("a deputy already reached by the same alert is not reached again as a deputy") {
  // b-duty1's deputy is b-duty2, a duty officer whom the alert reached directly.
  Harness h;
  press_warning_for(h, "b");
  h.advance_to(20h + 30min);
  CHECK(notifications_between(h, 20h + 30min, 20h + 30min) ==
        sorted({
            "20h30 notification press_conference b-duty1 L0 send 3",
            "20h30 notification press_conference b-duty2 L0 send 3",
            "20h30 notification press_conference b-deputy L0 send 1 deputy_of b-duty2",
        }));
}

TEST_CASE("a deputy who acknowledged the same alert is not reached again as a deputy") {
  // b-duty2 was reached by the 20h alert and acknowledged it; when b-duty1's third send goes out
  // at 20h30, b-duty2 is "already reached by that alert" (rule 16) and gets nothing.
  Harness h;
  press_warning_for(h, "b");
  REQUIRE(accepted(h.feed(ack(kKey, "b-duty2", at(20h + 20min)))));
  h.advance_to(20h + 30min);
  CHECK(notifications_between(h, 20h + 30min, 20h + 30min) ==
        std::vector<std::string>{"20h30 notification press_conference b-duty1 L0 send 3"});
}

TEST_CASE("a deputy shared by two people of one alert is reached once") {
  // a-deputy is the deputy of both a-duty1 and a-leader. The 3h target_missed alert (level 1)
  // reaches a-duty1, a-leader and a-duty2; at 3h30 each has two unanswered sends, so a-deputy is
  // due to be reached, once: "each person once" (rule 10), "not already reached by that alert"
  // (rule 16). Every notification id is then unique (rule 10).
  Harness h;
  open_incident(h, Level::II, {"a"});
  h.advance_to(4h + 29min);
  const auto to_deputy = [&h](Duration when) {
    return lines(h.timeline(), [when](const Action& a) {
      return a.kind == ActionKind::notification && a.at == at(when) && a.recipient == "a-deputy";
    });
  };
  CHECK(to_deputy(3h + 30min).size() == 1);
  CHECK(to_deputy(3h + 45min).size() == 1);
  CHECK(to_deputy(4h).size() == 1);
  std::set<std::string> ids;
  std::vector<std::string> doubled;
  for (const auto& a : h.timeline()) {
    if (a.kind == ActionKind::notification && !ids.insert(a.notification_id).second) {
      doubled.push_back(a.notification_id);
    }
  }
  CHECK(doubled.empty());
}

TEST_CASE("a deputy's deliveries are re-sent but never reach a further deputy") {
  // c-duty's deputy is c-deputy1, whose own deputy is c-deputy2.
  Harness h;
  press_warning_for(h, "c");
  h.advance_to(21h + 15min);
  CHECK(notifications_between(h, 20h, 21h + 15min) ==
        sorted({
            "20h00 notification press_conference c-duty L0 send 1",
            "20h15 notification press_conference c-duty L0 send 2",
            "20h30 notification press_conference c-duty L0 send 3",
            "20h30 notification press_conference c-deputy1 L0 send 1 deputy_of c-duty",
            "20h45 notification press_conference c-duty L0 send 4",
            "20h45 notification press_conference c-deputy1 L0 send 2 deputy_of c-duty",
            "21h00 notification press_conference c-duty L0 send 5",
            "21h00 notification press_conference c-deputy1 L0 send 3 deputy_of c-duty",
            "21h15 notification press_conference c-duty L0 send 6",
            "21h15 notification press_conference c-deputy1 L0 send 4 deputy_of c-duty",
        }));
}

TEST_CASE("a unit that confirms is no longer chased while the others still owe") {
  // Rule 17: a and c both owe the press conference; a confirms at 20h05, so a's duty officers
  // get no re-send at 20h15 while c's duty officer does.
  Harness h;
  open_incident(h, Level::II, {"a", "c"});
  confirm(h, "r1", Milestone::first_release, "a", 1h);
  confirm(h, "r2", Milestone::first_release, "c", 1h);
  confirm(h, "p1", Milestone::press_conference, "a", 20h + 5min);
  h.advance_to(20h + 15min);
  CHECK(notifications_between(h, 20h + 1min, 20h + 15min) ==
        sorted({"20h15 notification press_conference c-duty L0 send 2"}));
}

TEST_CASE("meeting the milestone ends its deliveries, the deputy's too") {
  Harness h;
  press_warning_for(h, "a");
  confirm(h, "p1", Milestone::press_conference, "a", 20h + 40min);
  h.advance_to(22h + 59min);
  CHECK(notifications_between(h, 20h + 41min, 22h + 59min).empty());
}

// ---------------------------------------------------------------------------------------------
// Drills (rules 4, 20) and units changing (rule 3).

TEST_CASE("every action of a drill incident is marked drill, whatever later events say") {
  Harness h;
  Event e = event("e1", kKey, Level::I, {"a"}, at(0h));
  e.drill = true;
  REQUIRE(accepted(h.feed(e)));
  Event update = event("e2", kKey, Level::II, {"a", "b"}, at(1h), EventKind::updated);
  update.drill = false;
  REQUIRE(accepted(h.feed(update)));
  confirm(h, "r-b", Milestone::first_release, "b", 1h + 30min);
  REQUIRE(accepted(h.feed(ack(kKey, "a-duty1", at(2h + 5min)))));
  h.advance_to(6h);
  REQUIRE(h.timeline().size() > 20);
  std::set<ActionKind> kinds;
  for (const auto& a : h.timeline()) {
    INFO(line(a));
    CHECK(a.drill);
    kinds.insert(a.kind);
  }
  // Every kind this incident gave is covered.
  CHECK(kinds == std::set<ActionKind>{ActionKind::incident_opened, ActionKind::level_changed,
                                      ActionKind::release_confirmed, ActionKind::warning,
                                      ActionKind::notification, ActionKind::acknowledged,
                                      ActionKind::target_missed, ActionKind::escalated,
                                      ActionKind::deadline_breached});
}

TEST_CASE("units added by an update owe every unmet milestone, the change itself is silent") {
  Harness h;
  open_incident(h, Level::II, {"a"});
  Event update = event("e2", kKey, Level::II, {"a", "b"}, at(1h), EventKind::updated);
  update.title = "new title";
  REQUIRE(accepted(h.feed(update)));
  h.advance_to(2h);
  CHECK(story(h) == std::vector<std::string>{"0h00 incident_opened II clock",
                                             "2h00 warning first_release L0 due 3h00"});
  CHECK(alerted_at(h, 2h) == std::vector<std::string>{"a-duty1", "a-duty2", "b-duty1", "b-duty2"});
  CHECK(h.engine.find(kKey)->title == "new title");
  confirm(h, "r-a", Milestone::first_release, "a", 2h + 10min);
  h.advance_to(2h + 15min);
  CHECK(lines(h.timeline(), [](const Action& a) {
          return a.kind == ActionKind::milestone_met;
        }).empty());
}

TEST_CASE("a unit removed by an update no longer owes: the milestone may be met by the change") {
  Harness h;
  open_incident(h, Level::II, {"a", "b"});
  confirm(h, "r-a", Milestone::first_release, "a", 2h + 10min);
  REQUIRE(
      accepted(h.feed(event("e2", kKey, Level::II, {"a"}, at(2h + 20min), EventKind::updated))));
  h.advance_to(20h);
  CHECK(story(h) == std::vector<std::string>{
                        "0h00 incident_opened II clock",
                        "2h00 warning first_release L0 due 3h00",
                        "2h10 release_confirmed first_release a",
                        "2h20 milestone_met first_release late=false released 2h10",
                        "20h00 warning press_conference L0 due 24h00",
                    });
  CHECK(alerted_at(h, 20h) == std::vector<std::string>{"a-duty1", "a-duty2"});
  CHECK(rejected(
      h.feed(confirmation("r-b", kKey, Milestone::press_conference, "b", at(20h + 5min)))));
}
