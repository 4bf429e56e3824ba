// The record shows an outage: the store keeps a start marker, a heartbeat and a clean-stop
// marker per run (daemon_runs, schema version 9); a start after a run with no clean stop appends
// a chained daemon_outage entry (from the last durable instant, to the start) to every open
// incident, and the after-action report shows it with those instants, its catch-up folded in.
// Instants are fake (the virtual clock); the SIGKILL of the real daemon is in
// tests/integration/outage_test.py.
#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "ctl/virtual_time.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/engine.hpp"
#include "report/report.hpp"
#include "report/verify.hpp"
#include "store/sqlite_store.hpp"
#include "support/engine_harness.hpp"
#include "support/old_schema.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace incidentd;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using incidentd::testing::at;
using incidentd::testing::kStart;
using incidentd::testing::TempDir;

std::vector<Action> outages_of(SqliteStore& store, const std::string& key) {
  std::vector<Action> out;
  for (const Action& a : store.timeline(key)) {
    if (a.kind == ActionKind::daemon_outage) out.push_back(a);
  }
  return out;
}

// The engine on `path` at virtual time `start`, as a daemon started then.
struct Run {
  Run(const std::string& path, TimePoint start)
      : config(testing::roster_config()), store(path), time(start) {
    outage = store.begin_run(start, RunLog::OutageEntries::every_open_incident);
    engine.emplace(config, store, time);
  }
  Config config;
  SqliteStore store;
  VirtualTime time;
  std::optional<SqliteStore::Outage> outage;
  std::optional<Engine> engine;
};

TEST_CASE("a start after a run with no clean stop records the gap on every open incident",
          "[outage][store]") {
  TempDir dir{"incidentd-outage"};
  const std::string path = dir.file("db");
  {
    Run first(path, at(0min));
    CHECK_FALSE(first.outage);  // a new database: nothing before it
    first.engine->handle(testing::event("e1", "open-1", Level::II, {"a"}, at(0min)));
    first.engine->handle(testing::event("e2", "open-2", Level::I, {"a", "b"}, at(0min)));
    first.engine->handle(testing::event("e3", "closed-1", Level::II, {"a"}, at(0min)));
    first.engine->handle(
        testing::event("e4", "closed-1", Level::II, {"a"}, at(0min), EventKind::closed));
    first.engine->flush();
    first.store.heartbeat(at(5s));
    first.store.heartbeat(at(10s));
    first.store.heartbeat(at(8s));  // a clock stepped back never moves the proof of life back
  }                                 // killed: no end_run
  Run second(path, at(1h));
  REQUIRE(second.outage);
  CHECK(second.outage->from == at(10s));
  CHECK(second.outage->to == at(1h));
  CHECK(second.outage->incidents == 2);
  for (const std::string key : {"open-1", "open-2"}) {
    const auto rows = outages_of(second.store, key);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].at == at(1h));
    CHECK(rows[0].from == at(10s));
    CHECK(rows[0].to == at(1h));
  }
  CHECK(outages_of(second.store, "closed-1").empty());
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  CHECK(report::verify_chain(reader).intact);
}

TEST_CASE("a clean stop records no outage at the next start", "[outage][store]") {
  TempDir dir{"incidentd-outage"};
  const std::string path = dir.file("db");
  {
    Run first(path, at(0min));
    first.engine->handle(testing::event("e1", "open-1", Level::II, {"a"}, at(0min)));
    first.engine->flush();
    first.store.end_run(at(20min));
  }
  Run second(path, at(1h));
  CHECK_FALSE(second.outage);
  CHECK(outages_of(second.store, "open-1").empty());
  CHECK(second.store.count("daemon_runs") == 2);
}

TEST_CASE("a commit after the last heartbeat moves the outage's start to it", "[outage][store]") {
  TempDir dir{"incidentd-outage"};
  const std::string path = dir.file("db");
  {
    Run first(path, at(0min));
    first.store.heartbeat(at(5s));
    first.time.advance_to(at(7s));
    first.engine->handle(testing::event("e1", "open-1", Level::II, {"a"}, at(7s)));
    first.engine->flush();
  }
  Run second(path, at(3min));
  REQUIRE(second.outage);
  CHECK(second.outage->from == at(7s));
}

TEST_CASE("the report shows the recorded outage with its true start and end", "[outage][report]") {
  TempDir dir{"incidentd-outage"};
  const std::string path = dir.file("db");
  {
    Run first(path, at(0min));
    first.engine->handle(testing::event("e1", "slide", Level::II, {"a"}, at(0min)));
    first.engine->flush();
    first.time.advance_to(at(30min));
    first.store.heartbeat(at(30min));
  }
  {
    // Down from 0:30 to 2:40: the 2 h and 2 h 30 m warnings fell due meanwhile; the latest acts
    // at the start (catch-up rule).
    Run second(path, at(2h + 40min));
    REQUIRE(second.outage);
    second.engine->run_due();
    second.engine->flush();
  }
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  const Config config = testing::roster_config();
  report::ReportOptions options;
  options.config = &config;
  options.generated_at = at(3h);
  options.lang = report::Lang::en;
  const report::IncidentReport r = report::build_incident_report(reader, "slide", options);
  REQUIRE(r.gaps.size() == 1);  // the catch-up is part of the recorded outage, not a guess
  const report::Gap& g = r.gaps[0];
  CHECK(g.kind == "daemon_outage");
  CHECK(g.since == at(30min));
  CHECK(g.at == at(2h + 40min));
  CHECK(g.delay == Duration(2h + 10min));
  CHECK_THAT(g.what, Contains("acted on at the restart"));
  const std::string text = report::render_report(r, report::Format::text);
  CHECK_THAT(text, Contains("Outage of incidentd from 2026-11-26 08:30"));
  CHECK_THAT(text, Contains("to 2026-11-26 10:40"));
  const std::string json = report::render_report(r, report::Format::json);
  CHECK_THAT(json, Contains("\"kind\": \"daemon_outage\""));
  // The same in Chinese, the default.
  options.lang = report::Lang::zh;
  const std::string zh = report::render_report(
      report::build_incident_report(reader, "slide", options), report::Format::text);
  CHECK_THAT(zh, Contains("incidentd 停止运行：2026-11-26 08:30"));
  CHECK_THAT(zh, Contains("重启时处置"));
}

TEST_CASE("a schema 6 database migrates with its chain intact and no outage invented",
          "[outage][store][migration]") {
  TempDir dir{"incidentd-outage"};
  const std::string path = dir.file("v6.db");
  {
    Run first(path, at(0min));
    first.engine->handle(testing::event("e1", "open-1", Level::II, {"a"}, at(0min)));
    first.engine->flush();
  }
  {
    // Schema 6 is schema 12 without incident_figures (12), a chain per incident (11),
    // source_heartbeat (10), daemon_runs (9), the outbox's delivery state and chain_rewrites (8);
    // 7 only re-keys confirmations, which it does again on any table: make the file what a
    // version 6 build left.
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    testing::inline_outbox_bodies_for_test(raw);
    raw.exec(
        "DROP TABLE commit_journal; DROP TABLE replica_positions; DROP TABLE incident_figures; "
        "DROP TABLE source_heartbeat; "
        "ALTER TABLE outbox DROP "
        "COLUMN gave_up; DROP TABLE "
        "daemon_runs; DROP TABLE chain_rewrites; DROP "
        "INDEX outbox_recipient; "
        "ALTER TABLE outbox DROP COLUMN milestone; ALTER TABLE outbox DROP COLUMN purpose; "
        "ALTER TABLE outbox DROP COLUMN failing_since; ALTER TABLE outbox DROP COLUMN recorded; "
        "PRAGMA user_version = 6");
    // And the one global chain of schema 2 to 10 (11 chains per incident).
    testing::rechain_globally_for_test(raw);
  }
  CHECK_THROWS_WITH(SqliteStore(path, SqliteStore::Mode::read_only),
                    Contains("start incidentd once on it to migrate it"));
  {
    Run second(path, at(1h));
    CHECK(second.store.schema_version() == SqliteStore::kSchemaVersion);
    CHECK_FALSE(second.outage);  // no run was recorded before the migration: no gap to claim
    CHECK(outages_of(second.store, "open-1").empty());
    CHECK(second.store.is_processed("e1"));
  }
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  const auto verified = report::verify_chain(reader);
  CHECK(verified.intact);
  CHECK(verified.rows == reader.count("timeline"));
}

}  // namespace
