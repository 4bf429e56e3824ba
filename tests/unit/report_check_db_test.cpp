// incidentctl check-db: a database written by the real engine passes every check; each kind of
// damage, made directly in SQLite, fails the check that is about it (and only that one).
#include "report/check_db.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "ctl/virtual_time.hpp"
#include "incidentd/engine.hpp"
#include "store/sqlite_store.hpp"
#include "support/engine_harness.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace incidentd;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using incidentd::testing::at;
using incidentd::testing::TempDir;

// Two incidents through the real engine: "open-1" (level II, first release met by unit a, the
// only unit) and "closed-1" (opened and closed).
void build(const std::string& path) {
  const Config config = testing::roster_config();
  SqliteStore store(path);
  VirtualTime time(at(0min));
  Engine engine(config, store, time);
  engine.handle(testing::event("e1", "open-1", Level::II, {"a"}, at(0min)));
  engine.handle(testing::event("e2", "closed-1", Level::II, {"a"}, at(0min)));
  time.advance_to(at(30min));
  engine.handle(testing::confirmation("r1", "open-1", Milestone::first_release, "a", at(30min)));
  engine.handle(testing::event("e3", "closed-1", Level::II, {"a"}, at(30min), EventKind::closed));
  engine.flush();
}

const report::DbCheck& check_named(const report::DbCheckResult& r, const std::string& name) {
  for (const auto& c : r.checks) {
    if (c.name == name) return c;
  }
  FAIL("no check named " << name);
  throw std::logic_error("unreachable");
}

// Builds the database, damages it through a plain connection, checks it.
report::DbCheckResult check_after(const std::function<void(SQLite::Database&)>& damage) {
  TempDir dir{"incidentd-checkdb"};
  const std::string path = dir.file("db");
  build(path);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    damage(db);
  }
  return report::check_database(path);
}

// Every check but `failing` passes; `failing` fails once, with a problem that says `why`.
void only_fails(const report::DbCheckResult& r, const std::string& failing,
                const std::string& why) {
  CHECK_FALSE(r.ok());
  for (const auto& c : r.checks) {
    INFO(c.name);
    if (c.name == failing) {
      CHECK(c.failed >= 1);
      REQUIRE_FALSE(c.problems.empty());
      CHECK_THAT(c.problems.front(), Contains(why));
    } else {
      CHECK(c.ok());
    }
  }
}

TEST_CASE("a database written by the engine passes every check", "[check-db]") {
  const auto r = check_after([](SQLite::Database&) {});
  CHECK(r.ok());
  REQUIRE(r.checks.size() == 5);
  CHECK(check_named(r, "snapshots").checked == 2);
  CHECK(check_named(r, "deadlines").checked > 0);
  CHECK(check_named(r, "processed").checked == 4);  // e1, e2, e3 and release:r1
  CHECK(check_named(r, "chain").checked > 0);
  const std::string text = report::render_db_check_text(r);
  CHECK_THAT(text, Contains("snapshots: ok, 2 checked, 0 failed\n"));
  CHECK_THAT(text, Contains(": consistent\n"));
  const auto j = nlohmann::json::parse(report::render_db_check_json(r));
  CHECK(j["ok"] == true);
  CHECK(j["checks"].size() == 5);
}

TEST_CASE("check-db fails a snapshot whose level its timeline never reached", "[check-db]") {
  only_fails(check_after([](SQLite::Database& db) {
               db.exec(
                   "UPDATE incidents SET level = 'I', state = json_set(state, '$.level', 'I') "
                   "WHERE incident_key = 'open-1'");
             }),
             "snapshots", "level I, but its timeline says II");
}

TEST_CASE("check-db fails an incident open in its snapshot but closed in its timeline",
          "[check-db]") {
  const auto r = check_after([](SQLite::Database& db) {
    db.exec(
        "UPDATE incidents SET closed = 0, state = json_set(state, '$.closed', json('false')) "
        "WHERE incident_key = 'closed-1'");
  });
  // The deadlines of a reopened incident are missing too, but nothing is wrong with the rest.
  CHECK_FALSE(check_named(r, "snapshots").ok());
  CHECK_THAT(check_named(r, "snapshots").problems.front(),
             Contains("open, but its timeline closed it"));
}

TEST_CASE("check-db fails a milestone met in the timeline but not in the snapshot", "[check-db]") {
  only_fails(check_after([](SQLite::Database& db) {
               db.exec(
                   "UPDATE incidents SET state = json_remove(state, '$.milestones[0].met_at') "
                   "WHERE incident_key = 'open-1'");
             }),
             "snapshots", "first_release is met in its timeline but not in its state");
}

TEST_CASE("check-db fails a row whose columns differ from its stored state", "[check-db]") {
  only_fails(check_after([](SQLite::Database& db) {
               db.exec("UPDATE incidents SET level = 'IV' WHERE incident_key = 'open-1'");
             }),
             "snapshots", "differs from its stored state");
}

TEST_CASE("check-db fails an outbox row whose incident is missing", "[check-db]") {
  only_fails(check_after([](SQLite::Database& db) {
               db.exec(
                   "INSERT INTO outbox(notification_id, incident_key, recipient, unit, "
                   "channel, body, created_at, next_attempt_at) "
                   "VALUES ('ghost/1', 'ghost', 'p', 'a', 'sms', '{}', 0, 0)");
             }),
             "outbox", "notification \"ghost/1\" is of incident \"ghost\"");
}

TEST_CASE("check-db fails an outbox row whose body names a row that is not its notification",
          "[check-db]") {
  only_fails(check_after([](SQLite::Database& db) {
               // Its incident is there; the row it names is that incident's opening.
               db.exec(
                   "INSERT INTO outbox(notification_id, incident_key, recipient, unit, channel, "
                   "body, created_at, next_attempt_at, timeline_seq) SELECT 'open-1/9', "
                   "'open-1', 'p', 'a', 'sms', '', 0, 0, MIN(seq) FROM timeline WHERE "
                   "incident_key = 'open-1'");
             }),
             "outbox", "which is not a notification of");
}

TEST_CASE("check-db fails a pending deadline of a closed incident", "[check-db]") {
  only_fails(check_after([](SQLite::Database& db) {
               db.exec(
                   "INSERT INTO deadlines VALUES "
                   "('closed-1', 'first_release', 1, 0, 'warning', 0, 0)");
             }),
             "deadlines", "for closed incident \"closed-1\"");
}

TEST_CASE("check-db fails an id processed twice", "[check-db]") {
  only_fails(check_after([](SQLite::Database& db) {
               db.exec(
                   "INSERT INTO processed(ids, block) "
                   "SELECT ids, block FROM processed ORDER BY seq LIMIT 1");
             }),
             "processed", "is processed twice");
}

TEST_CASE("check-db fails a damaged block of processed ids", "[check-db]") {
  only_fails(check_after([](SQLite::Database& db) {
               // One id of 5 bytes announced, 2 given.
               db.exec("INSERT INTO processed(ids, block) VALUES (1, X'056162')");
             }),
             "processed", "is damaged");
}

TEST_CASE("check-db fails a block whose id count is wrong", "[check-db]") {
  only_fails(check_after([](SQLite::Database& db) {
               db.exec(
                   "UPDATE processed SET ids = ids + 1 WHERE seq = (SELECT MIN(seq) FROM "
                   "processed)");
             }),
             "processed", "says it holds");
}

TEST_CASE("check-db fails an altered timeline row", "[check-db]") {
  only_fails(check_after([](SQLite::Database& db) {
               db.exec("UPDATE timeline SET body = body || ' ' WHERE seq = 2");
             }),
             "chain", "altered at seq 2");
}

}  // namespace
