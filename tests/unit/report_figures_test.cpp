// The statistics' figures the store keeps at every commit (incidentd/incident_figures.hpp): each
// incident's are what a replay of its whole timeline gives, migration 12 fills them for an older
// database as its commits would have, and their encoding round-trips.
#include "incidentd/incident_figures.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <map>

#include "report/fixture.hpp"
#include "report/stats.hpp"
#include "store/sqlite_store.hpp"
#include "support/old_schema.hpp"
#include "support/temp_dir.hpp"

namespace {

using incidentd::testing::TempDir;
using namespace incidentd;
using namespace std::chrono_literals;

const TimePoint kBreach = *parse_rfc3339("2026-11-26T13:00:00+08:00");

Action action(ActionKind kind, TimePoint at) {
  Action a;
  a.kind = kind;
  a.at = at;
  a.incident_key = "inc-1";
  return a;
}

// A first send of the first-release breach alert `alert` to `person` of `unit`.
Action breach_send(const std::string& alert, const std::string& person, const std::string& unit,
                   TimePoint at = kBreach) {
  Action a = action(ActionKind::notification, at);
  a.milestone = Milestone::first_release;
  a.cause = ActionKind::deadline_breached;
  a.send = 1;
  a.recipient = person;
  a.unit = unit;
  a.notification_id = alert + "/" + person + "/1";
  return a;
}

std::map<std::string, IncidentRow> rows_by_key(SqliteStore& store) {
  std::map<std::string, IncidentRow> out;
  for (auto& row : store.incidents_with_clock(TimePoint(Duration(0)),
                                              *parse_rfc3339("2100-01-01T00:00:00+00:00"))) {
    out.emplace(row.key, std::move(row));
  }
  return out;
}

std::string stats_text(SqliteStore& store, report::GroupBy by) {
  report::StatsQuery q;
  q.lang = report::Lang::en;
  q.from = "2026-11-01";
  q.to = "2026-11-30";
  q.by = by;
  q.generated_at = testing::report_fixture_generated_at();
  return report::render_stats(report::compute_stats(store, q, testing::report_fixture_config()),
                              report::Format::json);
}

TEST_CASE("a breach counts against the units its alert's first sends reached at its instant",
          "[figures]") {
  IncidentFigures f;
  Action breach = action(ActionKind::deadline_breached, kBreach);
  breach.milestone = Milestone::first_release;
  f.apply(breach);
  f.apply(breach_send("inc-1/a7", "p1", "unit-a"));
  Action deputy = breach_send("inc-1/a7", "p2", "unit-c");
  deputy.deputy_of = "p9";
  f.apply(deputy);
  Action resend = breach_send("inc-1/a7", "p3", "unit-d");
  resend.send = 2;
  f.apply(resend);
  f.apply(breach_send("inc-1/a8", "p4", "unit-e"));  // another alert at the same instant
  f.apply(breach_send("inc-1/a7", "p5", "unit-b"));
  f.apply(action(ActionKind::escalated, kBreach + 1ms));  // another instant ends the capture
  f.apply(breach_send("inc-1/a7", "p6", "unit-f"));

  Action reminder = breach;  // the same round again: no second breach
  reminder.reminder = 1;
  reminder.at = kBreach + 1h;
  f.apply(reminder);

  REQUIRE(f.breaches.size() == 1);
  CHECK(f.breaches[0].units == std::vector<std::string>{"unit-a", "unit-b"});
  CHECK(f.breaches[0].alert == "inc-1/a7");
  CHECK_FALSE(f.breaches[0].capturing);
  CHECK(f.first_notified.size() == 6);  // every notification's recipient, deputies too
}

TEST_CASE("an acknowledgement counts from the person's first notification, once", "[figures]") {
  IncidentFigures f;
  Action early = action(ActionKind::acknowledged, kBreach - 1min);
  early.recipient = "p1";
  f.apply(early);  // before any notification to p1: not counted
  f.apply(breach_send("inc-1/a1", "p1", "unit-a"));
  Action ack = action(ActionKind::acknowledged, kBreach + 5min);
  ack.recipient = "p1";
  f.apply(ack);
  ack.at = kBreach + 9min;
  f.apply(ack);
  REQUIRE(f.acknowledged.size() == 1);
  CHECK(f.acknowledged.at("p1") == kBreach + 5min);
  CHECK(f.first_notified.at("p1") == kBreach);
}

TEST_CASE("the highest level reached and the first releases are kept", "[figures]") {
  IncidentFigures f;
  Action opened = action(ActionKind::incident_opened, kBreach);
  opened.incident_level = Level::III;
  f.apply(opened);
  Action raised = action(ActionKind::level_changed, kBreach + 1h);
  raised.incident_level = Level::II;
  f.apply(raised);
  raised.incident_level = Level::III;
  f.apply(raised);
  CHECK(f.max_level == Level::II);

  Action met = action(ActionKind::milestone_met, kBreach + 2h);
  met.milestone = Milestone::first_release;
  met.released_at = kBreach + 90min;
  f.apply(met);
  met.released_at = kBreach + 3h;  // a later round of the same milestone
  f.apply(met);
  CHECK(f.first_release == kBreach + 90min);
  CHECK_FALSE(f.press);
}

TEST_CASE("the figures' encoding round-trips and refuses what it did not write", "[figures]") {
  IncidentFigures f;
  f.max_level = Level::I;
  f.press = kBreach;
  f.first_notified = {{"p 1:2", kBreach}, {"责任人", kBreach + 1ms}, {"", kBreach}};
  f.acknowledged = {{"p 1:2", kBreach + 1min}};
  f.breaches.push_back({Milestone::follow_up, 3, kBreach, false, "k/7 x", {"a:b", "c d"}});
  f.breaches.push_back({Milestone::press_conference, 1, kBreach - 1h, true, "", {}});
  const std::string text = f.encode();
  const auto back = IncidentFigures::decode(text);
  REQUIRE(back);
  CHECK(*back == f);
  CHECK(IncidentFigures::decode(IncidentFigures{}.encode()) == IncidentFigures{});
  CHECK_FALSE(IncidentFigures::decode(text.substr(0, text.size() - 1)));
  CHECK_FALSE(IncidentFigures::decode(text + "x"));
  CHECK_FALSE(IncidentFigures::decode("garbage"));
  CHECK_FALSE(IncidentFigures::decode(""));

  const std::vector<std::string> units{"zhaotong-gov", "", "3:x y"};
  CHECK(decode_string_list(encode_string_list(units)) == units);
  CHECK_FALSE(decode_string_list("2 3:abc"));
}

TEST_CASE("the figures kept at commit are a replay of each incident's whole timeline",
          "[figures]") {
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  const auto rows = rows_by_key(store);
  REQUIRE(rows.size() == 6);  // the fixture's incidents, the drill among them
  std::size_t breach_units = 0;
  for (const auto& [key, row] : rows) {
    IncidentFigures replayed;
    for (const Action& a : store.timeline(key)) replayed.apply(a);
    INFO(key);
    CHECK(row.figures == replayed);
    for (const auto& b : row.figures.breaches) breach_units += b.units.size();
  }
  CHECK(breach_units > 0);  // the comparison covered breaches that reached units
}

TEST_CASE("migration 12 fills an older database's figures as its commits would have", "[figures]") {
  TempDir dir{"incidentd-figures"};
  const std::string path = dir.file("v10.db");
  testing::copy_report_fixture(path);
  std::map<std::string, IncidentRow> before;
  std::string stats_before;
  {
    SqliteStore store(path, SqliteStore::Mode::read_only);
    before = rows_by_key(store);
    stats_before = stats_text(store, report::GroupBy::unit);
  }
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    testing::inline_outbox_bodies_for_test(raw);
    raw.exec(
        "DROP TABLE commit_journal; DROP TABLE replica_positions; DROP TABLE incident_figures; "
        "PRAGMA user_version = 11");
  }
  SqliteStore store(path);
  CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
  const auto after = rows_by_key(store);
  REQUIRE(after.size() == before.size());
  for (const auto& [key, row] : before) {
    INFO(key);
    const IncidentRow& migrated = after.at(key);
    CHECK(migrated.level == row.level);
    CHECK(migrated.drill == row.drill);
    CHECK(migrated.closed == row.closed);
    CHECK(migrated.clock_start == row.clock_start);
    CHECK(migrated.lead_unit == row.lead_unit);
    CHECK(migrated.region == row.region);
    CHECK(migrated.units == row.units);
    CHECK(migrated.figures == row.figures);
  }
  CHECK(stats_text(store, report::GroupBy::unit) == stats_before);
}

}  // namespace
