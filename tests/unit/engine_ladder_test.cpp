// The ladder of docs/contract.md and docs/clock-rules.md rules 6-11, rung by rung: each fires at
// its instant with its level and due, not a minute before and not twice; escalation lines; who
// is notified at each level; hourly reminders after a breach. Every expected line is written by
// hand from the contract's table and the rules, against a roster and policy built here in code
// (not from Policy::defaults() or the shipped TOML), so the test is an independent oracle.
#include "incidentd/engine.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
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

// One rung of the table: at what offset it fires and the line it gives.
struct Rung {
  Duration offset;
  std::string line;
};

std::vector<std::string> first_lines(const std::vector<Rung>& rows, std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(rows[i].line);
  return out;
}

// Walks a table rung by rung, each on a fresh engine made by `make`: one minute before the rung
// only the earlier rungs have fired; at the instant it has too; until one minute before the next
// rung (or 59 minutes after the last, before any reminder) it has not fired again.
void check_each_rung(const std::vector<Rung>& rows, Milestone m,
                     const std::function<void(Harness&)>& make) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO("rung " << rows[i].line);
    Harness h;
    make(h);
    const Duration instant = rows[i].offset;
    h.advance_to(instant - 1min);
    CHECK(rungs(h, m) == first_lines(rows, i));
    h.advance_to(instant);
    CHECK(rungs(h, m) == first_lines(rows, i + 1));
    const Duration after = i + 1 < rows.size() ? rows[i + 1].offset - 1min : instant + 59min;
    h.advance_to(after);
    CHECK(rungs(h, m) == first_lines(rows, i + 1));
  }
}

void open_level_two(Harness& h, std::vector<std::string> units = {"a"}) {
  REQUIRE(h.feed(event("e1", kKey, Level::II, std::move(units), at(0h))).status ==
          Outcome::Status::accepted);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Each rung of the table.

TEST_CASE("each first_release rung fires at its instant with its level and due, once") {
  // Rule 7: the 2 h and 2 h 30 m warnings are about the 3 h target, the 4 h 30 m warning about
  // the 5 h deadline.
  const std::vector<Rung> rows = {
      {2h, "2h00 warning first_release L0 due 3h00"},
      {2h + 30min, "2h30 warning first_release L0 due 3h00"},
      {3h, "3h00 target_missed first_release L1 due 3h00"},
      {4h + 30min, "4h30 warning first_release L1 due 5h00"},
      {5h, "5h00 deadline_breached first_release L2 due 5h00"},
  };
  check_each_rung(rows, Milestone::first_release, [](Harness& h) { open_level_two(h); });
}

TEST_CASE("each press_conference rung fires at its instant with its level and due, once") {
  const std::vector<Rung> rows = {
      {20h, "20h00 warning press_conference L0 due 24h00"},
      {23h, "23h00 warning press_conference L1 due 24h00"},
      {24h, "24h00 deadline_breached press_conference L2 due 24h00"},
  };
  check_each_rung(rows, Milestone::press_conference, [](Harness& h) { open_level_two(h); });
}

TEST_CASE("each follow_up rung fires relative to the round's due time, once") {
  // First release met at S+1h, so round 1 is due at S+25h (rule 15): warning at due - 2h.
  const std::vector<Rung> rows = {
      {23h, "23h00 warning follow_up L0 due 25h00 round 1"},
      {25h, "25h00 deadline_breached follow_up L1 due 25h00 round 1"},
  };
  check_each_rung(rows, Milestone::follow_up, [](Harness& h) {
    open_level_two(h);
    REQUIRE(h.feed(confirmation("r1", kKey, Milestone::first_release, "a", at(1h))).status ==
            Outcome::Status::accepted);
  });
}

TEST_CASE("live rungs are not marked as catch-up and carry the incident and milestone") {
  Harness h;
  open_level_two(h);
  h.advance_to(5h);
  int seen = 0;
  for (const auto& a : h.timeline()) {
    if (!is_rung(a)) continue;
    ++seen;
    CHECK_FALSE(a.catch_up);
    CHECK(a.incident_key == kKey);
    CHECK(a.milestone == Milestone::first_release);
    CHECK_FALSE(a.drill);
  }
  CHECK(seen == 5);
}

// ---------------------------------------------------------------------------------------------
// The whole ladder in order.

TEST_CASE("an unconfirmed level II incident walks the whole ladder in time order over 26 hours") {
  Harness h;
  open_level_two(h);
  h.advance_to(26h);
  // Rule 8: at one instant first_release before press_conference; rule 9: escalated right after
  // a rung above the level reached; rule 11: a reminder every hour after a breach.
  const std::vector<std::string> expected = {
      "0h00 incident_opened II clock",
      "2h00 warning first_release L0 due 3h00",
      "2h30 warning first_release L0 due 3h00",
      "3h00 target_missed first_release L1 due 3h00",
      "3h00 escalated first_release L1 from 0",
      "4h30 warning first_release L1 due 5h00",
      "5h00 deadline_breached first_release L2 due 5h00",
      "5h00 escalated first_release L2 from 1",
      "6h00 deadline_breached first_release L2 due 5h00 reminder 1",
      "7h00 deadline_breached first_release L2 due 5h00 reminder 2",
      "8h00 deadline_breached first_release L2 due 5h00 reminder 3",
      "9h00 deadline_breached first_release L2 due 5h00 reminder 4",
      "10h00 deadline_breached first_release L2 due 5h00 reminder 5",
      "11h00 deadline_breached first_release L2 due 5h00 reminder 6",
      "12h00 deadline_breached first_release L2 due 5h00 reminder 7",
      "13h00 deadline_breached first_release L2 due 5h00 reminder 8",
      "14h00 deadline_breached first_release L2 due 5h00 reminder 9",
      "15h00 deadline_breached first_release L2 due 5h00 reminder 10",
      "16h00 deadline_breached first_release L2 due 5h00 reminder 11",
      "17h00 deadline_breached first_release L2 due 5h00 reminder 12",
      "18h00 deadline_breached first_release L2 due 5h00 reminder 13",
      "19h00 deadline_breached first_release L2 due 5h00 reminder 14",
      "20h00 deadline_breached first_release L2 due 5h00 reminder 15",
      "20h00 warning press_conference L0 due 24h00",
      "21h00 deadline_breached first_release L2 due 5h00 reminder 16",
      "22h00 deadline_breached first_release L2 due 5h00 reminder 17",
      "23h00 deadline_breached first_release L2 due 5h00 reminder 18",
      "23h00 warning press_conference L1 due 24h00",
      "23h00 escalated press_conference L1 from 0",
      "24h00 deadline_breached first_release L2 due 5h00 reminder 19",
      "24h00 deadline_breached press_conference L2 due 24h00",
      "24h00 escalated press_conference L2 from 1",
      "25h00 deadline_breached first_release L2 due 5h00 reminder 20",
      "25h00 deadline_breached press_conference L2 due 24h00 reminder 1",
      "26h00 deadline_breached first_release L2 due 5h00 reminder 21",
      "26h00 deadline_breached press_conference L2 due 24h00 reminder 2",
  };
  CHECK(story(h) == expected);
}

TEST_CASE("rungs of three milestones at one instant fire in milestone order") {
  // First release met at S+1h: follow-up round 1 due S+25h, its warning at S+23h, the same
  // instant as the press conference's 23 h warning; at S+25h the press reminder 1 and the
  // follow-up breach coincide.
  Harness h;
  open_level_two(h);
  REQUIRE(h.feed(confirmation("r1", kKey, Milestone::first_release, "a", at(1h))).status ==
          Outcome::Status::accepted);
  h.advance_to(25h);
  const std::vector<std::string> expected = {
      "0h00 incident_opened II clock",
      "1h00 release_confirmed first_release a",
      "1h00 milestone_met first_release late=false released 1h00",
      "20h00 warning press_conference L0 due 24h00",
      "23h00 warning press_conference L1 due 24h00",
      "23h00 escalated press_conference L1 from 0",
      "23h00 warning follow_up L0 due 25h00 round 1",
      "24h00 deadline_breached press_conference L2 due 24h00",
      "24h00 escalated press_conference L2 from 1",
      "25h00 deadline_breached press_conference L2 due 24h00 reminder 1",
      "25h00 deadline_breached follow_up L1 due 25h00 round 1",
      "25h00 escalated follow_up L1 from 0 round 1",
  };
  CHECK(story(h) == expected);
}

// ---------------------------------------------------------------------------------------------
// Escalation (rule 9).

TEST_CASE("the first level-0 warnings do not escalate, each higher rung escalates once") {
  Harness h;
  open_level_two(h);
  h.advance_to(5h);
  const auto escalations =
      lines(h.timeline(), [](const Action& a) { return a.kind == ActionKind::escalated; });
  CHECK(escalations == std::vector<std::string>{"3h00 escalated first_release L1 from 0",
                                                "5h00 escalated first_release L2 from 1"});
}

TEST_CASE("escalated follows its rung and precedes the rung's notifications") {
  Harness h;
  open_level_two(h);
  h.advance_to(3h);
  // At 3h00 the target_missed alert replaces the 2h30 alert for the same people (rule 17), so
  // only first sends to non-deputies belong to the new alert.
  const auto at_three = lines(h.timeline(), [](const Action& a) {
    return a.at == at(3h) &&
           (a.kind != ActionKind::notification || (a.send == 1 && a.deputy_of.empty()));
  });
  CHECK(at_three == std::vector<std::string>{
                        "3h00 target_missed first_release L1 due 3h00",
                        "3h00 escalated first_release L1 from 0",
                        "3h00 notification first_release a-duty1 L1 send 1",
                        "3h00 notification first_release a-leader L1 send 1",
                        "3h00 notification first_release a-duty2 L1 send 1",
                    });
}

TEST_CASE("a caught-up rung above level 0 escalates from level 0") {
  // Arrival at 4h40: the latest due rung is the 4h30 warning at level 1 (rule 19); no level was
  // reached before it, so it escalates from 0 (rule 9). The 5 h breach then escalates from 1.
  Harness h;
  REQUIRE(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h)), at(4h + 40min)).status ==
          Outcome::Status::accepted);
  h.advance_to(5h);
  CHECK(story(h) == std::vector<std::string>{
                        "4h40 incident_opened II clock",
                        "4h40 warning first_release L1 due 5h00 catch_up",
                        "4h40 escalated first_release L1 from 0",
                        "5h00 deadline_breached first_release L2 due 5h00",
                        "5h00 escalated first_release L2 from 1",
                    });
}

// ---------------------------------------------------------------------------------------------
// Notifications (rule 10).

TEST_CASE("level 0 reaches the duty officers of every owing unit, in the incident's unit order") {
  Harness h;
  open_level_two(h, {"a", "b"});
  h.advance_to(2h);
  CHECK(alerted_at(h, 2h) == std::vector<std::string>{"a-duty1", "a-duty2", "b-duty1", "b-duty2"});
}

TEST_CASE("units are walked in the incident's order, not the roster's") {
  Harness h;
  REQUIRE(h.feed(event("e1", kKey, Level::II, {"b", "a"}, at(0h))).status ==
          Outcome::Status::accepted);
  h.advance_to(2h);
  CHECK(alerted_at(h, 2h) == std::vector<std::string>{"b-duty1", "b-duty2", "a-duty1", "a-duty2"});
}

TEST_CASE("level 1 adds the unit leaders, in roster order within each unit") {
  Harness h;
  open_level_two(h, {"a", "b"});
  h.advance_to(3h);
  CHECK(alerted_at(h, 3h) == std::vector<std::string>{"a-duty1", "a-leader", "a-duty2", "b-duty1",
                                                      "b-duty2", "b-leader"});
  h.advance_to(4h + 30min);
  CHECK(alerted_at(h, 4h + 30min) == std::vector<std::string>{"a-duty1", "a-leader", "a-duty2",
                                                              "b-duty1", "b-duty2", "b-leader"});
}

TEST_CASE("level 2 adds the principals and then the supervision desk's duty officers") {
  Harness h;
  open_level_two(h, {"a", "b"});
  h.advance_to(5h);
  CHECK(alerted_at(h, 5h) == std::vector<std::string>{"a-duty1", "a-leader", "a-duty2",
                                                      "a-principal", "b-duty1", "b-duty2",
                                                      "b-leader", "b-principal", "office-duty1",
                                                      "office-duty2"});
}

TEST_CASE("a person reached both as a unit member and as the supervision desk is notified once") {
  Harness h;
  open_level_two(h, {"a", "office"});
  h.advance_to(5h);
  CHECK(alerted_at(h, 5h) == std::vector<std::string>{"a-duty1", "a-leader", "a-duty2",
                                                      "a-principal", "office-duty1", "office-duty2",
                                                      "office-leader", "office-principal"});
}

TEST_CASE("a notification names its milestone, unit, first channel, level, cause and stable id") {
  Harness h;
  open_level_two(h, {"a", "b"});
  h.advance_to(3h);
  // Alerts of this incident so far: 1 = the 2h warning, 2 = the 2h30 warning, 3 = 3h target.
  const Action* n = find_notification(h, 2h, "a-duty2", 1);
  REQUIRE(n != nullptr);
  CHECK(n->incident_key == kKey);
  CHECK(n->milestone == Milestone::first_release);
  CHECK(n->unit == "a");
  CHECK(n->channel == "webhook");
  CHECK(n->level == 0);
  CHECK(n->cause == ActionKind::warning);
  CHECK(n->send == 1);
  CHECK(n->deputy_of.empty());
  CHECK(n->notification_id == "inc-1/1/a-duty2/1");

  const Action* m = find_notification(h, 3h, "b-leader", 1);
  REQUIRE(m != nullptr);
  CHECK(m->unit == "b");
  CHECK(m->channel == "sms");
  CHECK(m->level == 1);
  CHECK(m->cause == ActionKind::target_missed);
  CHECK(m->notification_id == "inc-1/3/b-leader/1");
}

TEST_CASE("under confirm = all a unit that has confirmed is no longer notified") {
  Harness h;
  open_level_two(h, {"a", "b"});
  REQUIRE(h.feed(confirmation("r-b", kKey, Milestone::first_release, "b", at(1h))).status ==
          Outcome::Status::accepted);
  h.advance_to(5h);
  CHECK(alerted_at(h, 2h) == std::vector<std::string>{"a-duty1", "a-duty2"});
  CHECK(alerted_at(h, 3h) == std::vector<std::string>{"a-duty1", "a-leader", "a-duty2"});
  // The supervision desk is reached whatever the units owe.
  CHECK(alerted_at(h, 5h) == std::vector<std::string>{"a-duty1", "a-leader", "a-duty2",
                                                      "a-principal", "office-duty1",
                                                      "office-duty2"});
}

TEST_CASE("a responsible unit that confirmed is still reached as supervision desk, duty only") {
  Harness h;
  open_level_two(h, {"a", "office"});
  REQUIRE(h.feed(confirmation("r-o", kKey, Milestone::first_release, "office", at(1h))).status ==
          Outcome::Status::accepted);
  h.advance_to(5h);
  CHECK(alerted_at(h, 5h) == std::vector<std::string>{"a-duty1", "a-leader", "a-duty2",
                                                      "a-principal", "office-duty1",
                                                      "office-duty2"});
}

TEST_CASE("under confirm = lead only the lead unit owes, so only it is notified") {
  Harness h(ConfirmRule::lead);
  open_level_two(h, {"a", "b"});
  h.advance_to(5h);
  CHECK(alerted_at(h, 2h) == std::vector<std::string>{"a-duty1", "a-duty2"});
  CHECK(alerted_at(h, 3h) == std::vector<std::string>{"a-duty1", "a-leader", "a-duty2"});
  CHECK(alerted_at(h, 5h) == std::vector<std::string>{"a-duty1", "a-leader", "a-duty2",
                                                      "a-principal", "office-duty1",
                                                      "office-duty2"});
}

// ---------------------------------------------------------------------------------------------
// Overdue reminders (rule 11).

TEST_CASE("after a breach the breach is reminded every hour with its level, due and recipients") {
  Harness h;
  open_level_two(h, {"a"});
  h.advance_to(7h);
  CHECK(rungs(h, Milestone::first_release) ==
        std::vector<std::string>{
            "2h00 warning first_release L0 due 3h00",
            "2h30 warning first_release L0 due 3h00",
            "3h00 target_missed first_release L1 due 3h00",
            "4h30 warning first_release L1 due 5h00",
            "5h00 deadline_breached first_release L2 due 5h00",
            "6h00 deadline_breached first_release L2 due 5h00 reminder 1",
            "7h00 deadline_breached first_release L2 due 5h00 reminder 2",
        });
  const std::vector<std::string> level_two = {"a-duty1",     "a-leader",     "a-duty2",
                                              "a-principal", "office-duty1", "office-duty2"};
  CHECK(alerted_at(h, 6h) == level_two);
  CHECK(alerted_at(h, 7h) == level_two);
  // No escalation on a reminder: level 2 was already reached at the breach.
  CHECK(lines(h.timeline(), [](const Action& a) {
          return a.kind == ActionKind::escalated && a.at > at(5h);
        }).empty());
  const Action* n = find_notification(h, 6h, "a-principal", 1);
  REQUIRE(n != nullptr);
  CHECK(n->cause == ActionKind::deadline_breached);
  CHECK(n->reminder == 1);
  CHECK(n->level == 2);
}

TEST_CASE("reminders stop once the milestone is met") {
  Harness h;
  open_level_two(h, {"a"});
  REQUIRE(h.feed(confirmation("r1", kKey, Milestone::first_release, "a", at(7h + 30min))).status ==
          Outcome::Status::accepted);
  h.advance_to(12h);
  const auto after_met = lines(h.timeline(), [](const Action& a) {
    return a.at > at(7h + 30min) && a.milestone == Milestone::first_release;
  });
  CHECK(after_met.empty());
  CHECK(rungs(h, Milestone::first_release).back() ==
        "7h00 deadline_breached first_release L2 due 5h00 reminder 2");
  const auto met =
      lines(h.timeline(), [](const Action& a) { return a.kind == ActionKind::milestone_met; });
  CHECK(met ==
        std::vector<std::string>{"7h30 milestone_met first_release late=deadline released 7h30"});
}

TEST_CASE("reminders stop when the incident closes") {
  Harness h;
  open_level_two(h, {"a"});
  REQUIRE(h.feed(event("e2", kKey, Level::II, {"a"}, at(6h + 30min), EventKind::closed)).status ==
          Outcome::Status::accepted);
  h.advance_to(12h);
  CHECK(h.timeline().back().kind == ActionKind::incident_closed);
  CHECK(h.timeline().back().at == at(6h + 30min));
}

// ---------------------------------------------------------------------------------------------
// The 0 h row: the alert at open (docs/contract.md). The tests above walk the table without it
// (contract_policy predates the row); these add it, as Policy::defaults() has it.

namespace {

void with_opening_row(Harness& h) {
  Config c = h.config;
  c.policy.ladder.insert(c.policy.ladder.begin(),
                         LadderStep{Milestone::first_release, 0h, ActionKind::warning, 0});
  h.engine.reload(c);
}

const Action* first_of(const Harness& h, ActionKind kind) {
  for (const auto& a : h.timeline()) {
    if (a.kind == kind) return &a;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("the alert at open fires with incident_opened, about the target, to the duty officers") {
  Harness h;
  with_opening_row(h);
  open_level_two(h, {"a", "b"});
  CHECK(story(h) == std::vector<std::string>{"0h00 incident_opened II clock",
                                             "0h00 warning first_release L0 due 3h00"});
  const Action* warning = first_of(h, ActionKind::warning);
  REQUIRE(warning != nullptr);
  CHECK(warning->opening);
  CHECK_FALSE(warning->catch_up);
  // Level 0: the duty officers of every responsible unit, at once.
  CHECK(alerted_at(h, 0h) == std::vector<std::string>{"a-duty1", "a-duty2", "b-duty1", "b-duty2"});
  const Action* n = find_notification(h, 0h, "a-duty1", 1);
  REQUIRE(n != nullptr);
  CHECK(n->opening);
  CHECK(n->due == at(3h));
  CHECK(n->deadline == at(5h));  // the message names the target and the deadline
}

TEST_CASE("after the alert at open the ladder goes on as before, the 2 h warning not an opening") {
  Harness h;
  with_opening_row(h);
  open_level_two(h);
  h.advance_to(2h - 1min);
  CHECK(rungs(h, Milestone::first_release) ==
        std::vector<std::string>{"0h00 warning first_release L0 due 3h00"});
  h.advance_to(2h);
  CHECK(rungs(h, Milestone::first_release) ==
        std::vector<std::string>{"0h00 warning first_release L0 due 3h00",
                                 "2h00 warning first_release L0 due 3h00"});
  CHECK_FALSE(h.timeline().back().opening);
  // The 2 h warning takes over the alert at open's deliveries (rule 17): at 2 h a-duty1 gets
  // the new alert's first send, not also a re-send of the older one.
  int to_duty1 = 0;
  for (const auto& a : h.timeline()) {
    if (a.kind == ActionKind::notification && a.at == at(2h) && a.recipient == "a-duty1") {
      ++to_duty1;
      CHECK(a.send == 1);
      CHECK_FALSE(a.opening);
    }
  }
  CHECK(to_duty1 == 1);
}

TEST_CASE("an incident raised to II is alerted at the moment of the raise") {
  Harness h;
  with_opening_row(h);
  REQUIRE(h.feed(event("e1", kKey, Level::III, {"a"}, at(0h))).status ==
          Outcome::Status::accepted);
  CHECK(first_of(h, ActionKind::warning) == nullptr);  // no clock, no alert
  REQUIRE(h.feed(event("e2", kKey, Level::II, {"a"}, at(1h), EventKind::updated)).status ==
          Outcome::Status::accepted);
  CHECK(story(h) == std::vector<std::string>{"0h00 incident_opened III no-clock",
                                             "1h00 level_changed II from III clock",
                                             "1h00 warning first_release L0 due 4h00"});
  CHECK(first_of(h, ActionKind::warning)->opening);
  CHECK(alerted_at(h, 1h) == std::vector<std::string>{"a-duty1", "a-duty2"});
}

TEST_CASE("catch-up: an event arriving before 2 h still alerts at open, after 2 h only warns") {
  SECTION("arriving at 1 h 59: the alert at open, acted on late") {
    Harness h;
    with_opening_row(h);
    REQUIRE(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h)), at(1h + 59min)).status ==
            Outcome::Status::accepted);
    CHECK(rungs(h, Milestone::first_release) ==
          std::vector<std::string>{"1h59 warning first_release L0 due 3h00 catch_up"});
    CHECK(first_of(h, ActionKind::warning)->opening);
  }
  SECTION("arriving at 2 h: the 2 h warning only") {
    Harness h;
    with_opening_row(h);
    REQUIRE(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h)), at(2h)).status ==
            Outcome::Status::accepted);
    CHECK(rungs(h, Milestone::first_release) ==
          std::vector<std::string>{"2h00 warning first_release L0 due 3h00 catch_up"});
    CHECK_FALSE(first_of(h, ActionKind::warning)->opening);
  }
  SECTION("arriving at 2 h 01: the 2 h warning only") {
    Harness h;
    with_opening_row(h);
    REQUIRE(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h)), at(2h + 1min)).status ==
            Outcome::Status::accepted);
    CHECK(rungs(h, Milestone::first_release) ==
          std::vector<std::string>{"2h01 warning first_release L0 due 3h00 catch_up"});
    CHECK_FALSE(first_of(h, ActionKind::warning)->opening);
  }
}
