// The durable store: the state codec round-trips exactly; SqliteStore keeps snapshots, timeline,
// outbox, processed ids and the derived deadlines in one transaction per changeset, survives a
// reopen, refuses schemas it does not know, and a read-only instance cannot write; MemoryStore
// applies all or nothing and fails on request.
#include "store/sqlite_store.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "incidentd/codec.hpp"
#include "incidentd/state_codec.hpp"
#include "incidentd/timeline_rows.hpp"
#include "support/memory_store.hpp"
#include "support/old_schema.hpp"
#include "support/temp_dir.hpp"

namespace incidentd {
namespace {

using testing::TempDir;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

// 2026-11-26T00:00:00Z; the clock of every incident below starts here.
const TimePoint kStart{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}};

TimePoint at(int hours, int minutes = 0) {
  return kStart + std::chrono::hours(hours) + std::chrono::minutes(minutes);
}
std::int64_t ms(TimePoint t) {
  return t.time_since_epoch().count();
}

// Everything a state can hold: all three milestones armed with steps, confirmations, a breach,
// deliveries with a deputy, a drill flag, millisecond instants.
IncidentState rich_state(const std::string& key) {
  IncidentState s;
  s.key = key;
  s.title = "昭通市某县山体滑坡引发网络关注";
  s.category = "disaster";
  s.region = "530600";
  s.lead_unit = "zhaotong-gov";
  s.units = {"zhaotong-gov", "prov-emergency", "prov-cac"};
  s.level = Level::II;
  s.drill = true;
  s.opened_at = at(0) + 123ms;
  s.clock_start = at(0) + 123ms;

  MilestoneState& first = s.milestone(Milestone::first_release);
  first.milestone = Milestone::first_release;
  first.armed = true;
  first.round = 1;
  first.target = at(3);
  first.deadline = at(5);
  first.steps = {{at(2), ActionKind::warning, 0, at(3)},
                 {at(2, 30), ActionKind::warning, 0, at(3)},
                 {at(3), ActionKind::target_missed, 1, at(3)},
                 {at(4, 30), ActionKind::warning, 1, at(5)},
                 {at(5), ActionKind::deadline_breached, 2, at(5)}};
  first.next_step = 5;
  first.breached_at = at(5);
  first.reminders = 2;
  first.escalation = 2;
  first.confirmed_units = {{"zhaotong-gov", at(6, 10)}, {"prov-cac", at(6, 40) + 7ms}};
  first.met_at = at(7, 5);

  MilestoneState& press = s.milestone(Milestone::press_conference);
  press.milestone = Milestone::press_conference;
  press.armed = true;
  press.round = 1;
  press.deadline = at(24);
  press.steps = {{at(20), ActionKind::warning, 0, at(24)},
                 {at(23), ActionKind::warning, 1, at(24)},
                 {at(24), ActionKind::deadline_breached, 2, at(24)}};
  press.next_step = 1;
  press.escalation = 0;
  press.confirmed_units = {{"prov-emergency", at(21)}};

  MilestoneState& follow = s.milestone(Milestone::follow_up);
  follow.milestone = Milestone::follow_up;
  follow.armed = true;
  follow.round = 2;
  follow.deadline = at(55);
  follow.steps = {{at(53), ActionKind::warning, 0, at(55)},
                  {at(55), ActionKind::deadline_breached, 1, at(55)}};
  follow.escalation = 0;

  PendingDelivery duty;
  duty.alert_id = key + "/7";
  duty.recipient = "zt-duty-1";
  duty.unit = "zhaotong-gov";
  duty.channel = "sms";
  duty.milestone = Milestone::press_conference;
  duty.cause = ActionKind::warning;
  duty.level = 1;
  duty.due = at(24);
  duty.round = 1;
  duty.sends = 3;
  duty.next_send = at(23, 45);
  duty.deputy_added = true;
  PendingDelivery deputy = duty;
  deputy.recipient = "zt-duty-deputy";
  deputy.channel = "webhook";
  deputy.deputy_of = "zt-duty-1";
  deputy.sends = 1;
  deputy.deputy_added = false;
  PendingDelivery reminder = duty;
  reminder.alert_id = key + "/8";
  reminder.milestone = Milestone::follow_up;
  reminder.cause = ActionKind::deadline_breached;
  reminder.level = 1;
  reminder.round = 2;
  reminder.reminder = 2;
  reminder.sends = 1;
  s.deliveries = {duty, deputy, reminder};

  s.notified = {"zt-duty-1", "zt-duty-deputy", "zt-leader", "office-duty"};
  s.alert_seq = 8;
  s.overdue_every = 1h;
  s.resend_after = 15min;
  s.deputy_after_sends = 2;
  return s;
}

// An open incident whose first_release has acted on its first two steps and whose
// press_conference has acted on none; follow_up has steps but is not armed.
IncidentState pending_state(const std::string& key) {
  IncidentState s;
  s.key = key;
  s.title = "pending";
  s.lead_unit = "zhaotong-gov";
  s.units = {"zhaotong-gov"};
  s.level = Level::I;
  s.opened_at = at(0);
  s.clock_start = at(0);
  MilestoneState& first = s.milestone(Milestone::first_release);
  first.milestone = Milestone::first_release;
  first.armed = true;
  first.round = 1;
  first.target = at(3);
  first.deadline = at(5);
  first.steps = {{at(2), ActionKind::warning, 0, at(3)},
                 {at(2, 30), ActionKind::warning, 0, at(3)},
                 {at(3), ActionKind::target_missed, 1, at(3)},
                 {at(4, 30), ActionKind::warning, 1, at(5)},
                 {at(5), ActionKind::deadline_breached, 2, at(5)}};
  first.next_step = 2;
  MilestoneState& press = s.milestone(Milestone::press_conference);
  press.milestone = Milestone::press_conference;
  press.armed = true;
  press.round = 1;
  press.deadline = at(24);
  press.steps = {{at(20), ActionKind::warning, 0, at(24)},
                 {at(23), ActionKind::warning, 1, at(24)},
                 {at(24), ActionKind::deadline_breached, 2, at(24)}};
  MilestoneState& follow = s.milestone(Milestone::follow_up);
  follow.milestone = Milestone::follow_up;
  follow.round = 1;
  follow.deadline = at(48);
  follow.steps = {{at(46), ActionKind::warning, 0, at(48)}};
  return s;
}

Action opened(const std::string& key, TimePoint when) {
  Action a;
  a.at = when;
  a.incident_key = key;
  a.kind = ActionKind::incident_opened;
  a.incident_level = Level::II;
  a.detected_at = when;
  a.title = "title of " + key;
  a.lead_unit = "zhaotong-gov";
  a.units = {"zhaotong-gov", "prov-cac"};
  a.clock = true;
  return a;
}

Action warning(const std::string& key, TimePoint when, TimePoint due, int level) {
  Action a;
  a.at = when;
  a.incident_key = key;
  a.kind = ActionKind::warning;
  a.milestone = Milestone::first_release;
  a.level = level;
  a.due = due;
  return a;
}

Action notification(const std::string& key, TimePoint when, const std::string& recipient,
                    int send) {
  Action a;
  a.at = when;
  a.incident_key = key;
  a.kind = ActionKind::notification;
  a.milestone = Milestone::first_release;
  a.level = 0;
  a.cause = ActionKind::warning;
  a.recipient = recipient;
  a.unit = "zhaotong-gov";
  a.channel = "sms";
  a.send = send;
  a.notification_id = key + "/1/" + recipient + "/" + std::to_string(send);
  return a;
}

Action met(const std::string& key, TimePoint when) {
  Action a;
  a.at = when;
  a.incident_key = key;
  a.kind = ActionKind::milestone_met;
  a.milestone = Milestone::first_release;
  a.late = Lateness::target;
  a.released_at = when - 5min;
  a.drill = true;
  return a;
}

// What one accepted event of a batch changes: the incident, its actions and the event id.
Changeset event_changes(const IncidentState& s, std::vector<Action> actions,
                        const std::string& event_id) {
  Changeset c;
  c.incidents.push_back(s);
  c.actions = std::move(actions);
  c.processed.push_back({event_id, s.key, s.opened_at});
  return c;
}

using DeadlineRow = std::tuple<std::string, int, std::int64_t, std::string, int, std::int64_t>;

std::vector<DeadlineRow> deadline_rows(const std::string& path, const std::string& key) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  SQLite::Statement q(db,
                      "SELECT milestone, round, at, action, level, due FROM deadlines "
                      "WHERE incident_key = ? ORDER BY at, milestone");
  q.bind(1, key);
  std::vector<DeadlineRow> rows;
  while (q.executeStep()) {
    rows.emplace_back(q.getColumn(0).getString(), q.getColumn(1).getInt(),
                      q.getColumn(2).getInt64(), q.getColumn(3).getString(),
                      q.getColumn(4).getInt(), q.getColumn(5).getInt64());
  }
  return rows;
}

TEST_CASE("the state codec round-trips every field of a rich state exactly", "[store][codec]") {
  const IncidentState s = rich_state("zt-landslide-20261126");
  CHECK(state_from_json(state_to_json(s)) == s);

  IncidentState closed = s;
  closed.closed = true;
  closed.closed_at = at(80) + 1ms;
  CHECK(state_from_json(state_to_json(closed)) == closed);

  // A default state (no clock, nothing armed) round-trips too, absent optionals included.
  CHECK(state_from_json(state_to_json(IncidentState{})) == IncidentState{});
}

TEST_CASE("the state codec writes instants as integer milliseconds and enums by name",
          "[store][codec]") {
  const nlohmann::json j = state_to_json(rich_state("k"));
  CHECK(j.at("opened_at") == ms(at(0)) + 123);
  CHECK(j.at("level") == "II");
  CHECK(j.at("overdue_every") == 3600000);
  const auto& press = j.at("milestones").at(1);
  CHECK(press.at("milestone") == "press_conference");
  CHECK_FALSE(press.contains("target"));  // absent, not null
  CHECK(press.at("steps").at(2).at("action") == "deadline_breached");
  CHECK(j.at("milestones").at(0).at("confirmed_units").at("prov-cac") == ms(at(6, 40)) + 7);
  CHECK_FALSE(j.contains("closed_at"));
}

TEST_CASE("the direct state writer produces exactly nlohmann's compact dump", "[store][codec]") {
  IncidentState s = rich_state("k");
  s.title = "quote \" backslash \\ slash / newline \n tab \t cr \r bell \x07 us \x1f del \x7f";
  s.region = "中文 and 😀 (four bytes)";
  s.lead_unit = std::string("nul \0 inside", 12);
  s.milestone(Milestone::first_release).confirmed_units.emplace("unit \"q\"", at(6));
  CHECK(state_to_json_text(s) == state_to_json(s).dump());
  CHECK(state_from_json(nlohmann::json::parse(state_to_json_text(s))) == s);

  IncidentState closed = s;
  closed.closed = true;
  closed.closed_at = at(90);
  CHECK(state_to_json_text(closed) == state_to_json(closed).dump());
  CHECK(state_to_json_text(IncidentState{}) == state_to_json(IncidentState{}).dump());
}

TEST_CASE("the fast snapshot decoder gives what nlohmann's does, or leaves the text to it",
          "[store][codec]") {
  IncidentState s = rich_state("k");
  s.title = "quote \" backslash \\ newline \n 中文 😀";
  s.lead_unit = std::string("nul \0 inside", 12);
  s.deliveries.front().opening = true;
  IncidentState closed = s;
  closed.closed = true;
  closed.closed_at = at(90);
  for (const IncidentState& state : {s, closed, IncidentState{}}) {
    const std::string text = state_to_json_text(state);
    const auto fast = state_from_json_text_fast(text);
    REQUIRE(fast);
    CHECK(*fast == state);
    CHECK(*fast == state_from_json(nlohmann::json::parse(text)));
  }
  // Where nlohmann's decoder would throw or convert, the fast one answers nothing.
  const nlohmann::json j = state_to_json(s);
  const auto changed = [&](auto change) {
    nlohmann::json copy = j;
    change(copy);
    return state_from_json_text_fast(copy.dump());
  };
  CHECK_FALSE(changed([](nlohmann::json& c) { c.erase("title"); }));
  CHECK_FALSE(changed([](nlohmann::json& c) { c["level"] = "V"; }));
  CHECK_FALSE(changed([](nlohmann::json& c) { c["alert_seq"] = 2.5; }));
  CHECK_FALSE(changed([](nlohmann::json& c) { c["drill"] = 1; }));
  CHECK_FALSE(changed([](nlohmann::json& c) { c["milestones"].erase(0); }));
  CHECK_FALSE(changed([](nlohmann::json& c) { c["milestones"][0]["next_step"] = -1; }));
  CHECK_FALSE(changed([](nlohmann::json& c) { c["deliveries"][0]["opening"] = "yes"; }));
  CHECK_FALSE(changed([](nlohmann::json& c) { c["milestones"][1]["steps"][0].erase("due"); }));
  CHECK_FALSE(state_from_json_text_fast("{\"key\":"));
  // Absent optionals and a null one read as none, as nlohmann's decoder reads them.
  const auto null_target =
      changed([](nlohmann::json& c) { c["milestones"][0]["target"] = nullptr; });
  REQUIRE(null_target);
  CHECK_FALSE(null_target->milestones[0].target);
}

TEST_CASE("the direct state writer replaces invalid UTF-8 as nlohmann does", "[store][codec]") {
  // A stray byte, a truncated sequence, an overlong '/', a UTF-16 surrogate.
  for (const std::string bad : {"\xff", "\xe4\xb8", "\xc0\xaf", "\xed\xa0\x80"}) {
    IncidentState s = rich_state("k");
    s.title = "before " + bad + " after";
    const std::string expected =
        state_to_json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    CHECK(state_to_json_text(s) == expected);
    CHECK(expected.find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD
  }
}

TEST_CASE("the state codec rejects an unknown enum name", "[store][codec]") {
  nlohmann::json j = state_to_json(rich_state("k"));
  j["level"] = "V";
  CHECK_THROWS_AS(state_from_json(j), nlohmann::json::exception);
  j = state_to_json(rich_state("k"));
  j["milestones"][0]["steps"][0]["action"] = "panic";
  CHECK_THROWS_AS(state_from_json(j), nlohmann::json::exception);
}

TEST_CASE("a new file is created at the current schema version in WAL mode", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("incidentd.db");
  {
    SqliteStore store(path);
    CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
    CHECK(store.count("incidents") == 0);
    CHECK(store.count("timeline") == 0);
    CHECK(store.load_open_incidents().empty());
  }
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  CHECK(raw.execAndGet("PRAGMA journal_mode").getString() == "wal");
  CHECK(raw.execAndGet("PRAGMA user_version").getInt() == SqliteStore::kSchemaVersion);
  CHECK(raw.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                       "('incidents', 'deadlines', 'confirmations', 'acknowledgements', "
                       "'processed', 'timeline', 'outbox')")
            .getInt() == 7);
}

TEST_CASE("an existing empty file is migrated to the current version", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("empty.db");
  std::ofstream{path};
  REQUIRE(fs::file_size(path) == 0);
  SqliteStore store(path);
  CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
  CHECK(store.count("outbox") == 0);
}

TEST_CASE("a schema newer than this build knows is refused", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("future.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE t(x); PRAGMA user_version = 99");
  }
  CHECK_THROWS_WITH(SqliteStore(path), Contains("schema version 99 is newer"));
  CHECK_THROWS_AS(SqliteStore(path, SqliteStore::Mode::read_only), StoreError);
  // Refusing must not have touched it.
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  CHECK(raw.execAndGet("PRAGMA user_version").getInt() == 99);
}

TEST_CASE("committed states are loaded back by a new store on the same file", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("incidentd.db");
  const IncidentState a = rich_state("a");
  const IncidentState b = pending_state("b");
  IncidentState c = rich_state("c");
  c.closed = true;
  c.closed_at = at(90);
  {
    SqliteStore store(path);
    Changeset changes;
    changes.incidents = {b, c, a};
    store.commit(changes);
  }
  SqliteStore store(path);
  const auto open = store.load_open_incidents();
  REQUIRE(open.size() == 2);
  CHECK(open[0] == a);
  CHECK(open[1] == b);
  const auto closed = store.load_incident("c");
  REQUIRE(closed);
  CHECK(*closed == c);
  CHECK_FALSE(store.load_incident("unknown"));
}

// Thousands of open incidents are decoded on two threads: every one comes back, in key order, and
// an unreadable snapshot in either half still fails the load naming its incident.
TEST_CASE("thousands of open incidents load back whole and in order when decoded on two threads",
          "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("incidentd.db");
  std::vector<IncidentState> states;
  for (int i = 0; i < 5000; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "k%05d", i);
    states.push_back(i % 2 == 0 ? rich_state(key) : pending_state(key));
  }
  {
    SqliteStore store(path);
    Changeset changes;
    changes.incidents = states;
    store.commit(changes);
  }
  {
    SqliteStore store(path);
    CHECK(store.load_open_incidents() == states);
  }
  // The second half first: with both damaged, the first half's failure is the one named.
  for (const char* damaged : {"k04321", "k00007"}) {
    {
      SQLite::Database db(path, SQLite::OPEN_READWRITE);
      db.exec(std::string("UPDATE incidents SET state = '{\"key\": ' WHERE incident_key = '") +
              damaged + "'");
    }
    SqliteStore store(path);
    CHECK_THROWS_WITH(store.load_open_incidents(), Contains(damaged) && Contains("unreadable"));
  }
}

// A store on a new file that holds one open incident, pending_state("k"), committed with "e1".
struct StoredPendingIncident {
  TempDir dir{"incidentd-store-test"};
  std::string path = dir.file("incidentd.db");
  SqliteStore store{path};
  IncidentState s = pending_state("k");
  StoredPendingIncident() { store.commit(event_changes(s, {}, "e1")); }
};

TEST_CASE_METHOD(StoredPendingIncident, "a later snapshot of an incident replaces the earlier one",
                 "[store][sqlite]") {
  s.level = Level::II;
  s.milestone(Milestone::first_release).next_step = 4;
  store.commit(event_changes(s, {}, "e2"));
  CHECK(store.count("incidents") == 1);
  CHECK(store.load_incident("k") == s);
}

// A snapshot of an incident that stays open or closed is an UPDATE; one that opens or closes
// goes through the upsert. Each kind must leave the row and the open set as the snapshot says.
TEST_CASE_METHOD(
    StoredPendingIncident,
    "an incident rewritten open, then closed, then again, keeps the latest of everything",
    "[store][sqlite]") {
  s.title = "second title";
  s.level = Level::I;
  store.commit(event_changes(s, {}, "e2"));
  REQUIRE(store.load_open_incidents().size() == 1);
  CHECK(store.load_open_incidents()[0] == s);

  s.closed = true;
  s.closed_at = at(90);
  store.commit(event_changes(s, {}, "e3"));
  CHECK(store.load_open_incidents().empty());
  CHECK(store.load_incident("k") == s);

  s.title = "closed, renamed";
  store.commit(event_changes(s, {}, "e4"));
  CHECK(store.count("incidents") == 1);
  CHECK(store.load_incident("k") == s);
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  SQLite::Statement q(raw, "SELECT level, closed, closed_at, title FROM incidents");
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getString() == "I");
  CHECK(q.getColumn(1).getInt() == 1);
  CHECK(q.getColumn(2).getInt64() == ms(at(90)));
  CHECK(q.getColumn(3).getString() == "closed, renamed");
}

TEST_CASE("the incidents table mirrors the snapshot's columns", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("incidentd.db");
  SqliteStore store(path);
  IncidentState s = rich_state("k");
  s.closed = true;
  s.closed_at = at(90);
  store.commit(event_changes(s, {opened("k", at(0)), met("k", at(7, 5))}, "e1"));

  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  SQLite::Statement q(raw,
                      "SELECT level, drill, closed, opened_at, clock_start, closed_at, title, "
                      "lead_unit, updated_seq FROM incidents WHERE incident_key = 'k'");
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getString() == "II");
  CHECK(q.getColumn(1).getInt() == 1);
  CHECK(q.getColumn(2).getInt() == 1);
  CHECK(q.getColumn(3).getInt64() == ms(at(0)) + 123);
  CHECK(q.getColumn(4).getInt64() == ms(at(0)) + 123);
  CHECK(q.getColumn(5).getInt64() == ms(at(90)));
  CHECK(q.getColumn(6).getString() == s.title);
  CHECK(q.getColumn(7).getString() == "zhaotong-gov");
  CHECK(q.getColumn(8).getInt64() == 2);  // reflects both timeline entries of its commit
}

TEST_CASE("processed ids are remembered across a reopen", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("incidentd.db");
  {
    SqliteStore store(path);
    Changeset changes = event_changes(pending_state("k"), {}, "yq-0001");
    changes.processed.push_back({"release:rel-0001", "k", at(1)});
    store.commit(changes);
    CHECK(store.is_processed("yq-0001"));
  }
  SqliteStore store(path);
  CHECK(store.is_processed("yq-0001"));
  CHECK(store.is_processed("release:rel-0001"));
  CHECK_FALSE(store.is_processed("yq-0002"));
  CHECK_FALSE(store.is_processed("rel-0001"));
}

TEST_CASE("the timeline keeps commit order and content, per incident and overall",
          "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("incidentd.db");
  const std::vector<Action> first = {opened("a", at(0)), opened("b", at(0, 1)),
                                     warning("a", at(2), at(3), 0),
                                     notification("a", at(2), "zt-duty-1", 1)};
  const std::vector<Action> second = {warning("b", at(2, 1), at(3, 1), 0),
                                      notification("a", at(2, 15), "zt-duty-1", 2),
                                      met("a", at(2, 20))};
  {
    SqliteStore store(path);
    Changeset one;
    one.actions = first;
    store.commit(one);
    Changeset two;
    two.actions = second;
    store.commit(two);
  }
  SqliteStore store(path, SqliteStore::Mode::read_only);
  std::vector<Action> all = first;
  all.insert(all.end(), second.begin(), second.end());
  CHECK(store.timeline() == all);
  const std::vector<Action> of_a = {first[0], first[2], first[3], second[1], second[2]};
  CHECK(store.timeline("a") == of_a);
  const std::vector<Action> of_b = {first[1], second[0]};
  CHECK(store.timeline("b") == of_b);
  CHECK(store.timeline("nobody").empty());
}

TEST_CASE("each notification fills the outbox once per notification id", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("incidentd.db");
  SqliteStore store(path);
  Changeset changes;
  changes.actions = {warning("k", at(2), at(3), 0), notification("k", at(2), "zt-duty-1", 1),
                     notification("k", at(2), "zt-duty-2", 1),
                     notification("k", at(2), "zt-duty-1", 1)};  // same id again
  store.commit(changes);
  // The warning, and its step's three notifications in one row (incidentd/timeline_rows.hpp),
  // read back as the four entries they are.
  CHECK(store.count("timeline") == 2);
  CHECK(store.timeline("k") == changes.actions);
  CHECK(store.count("outbox") == 2);

  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  SQLite::Statement q(raw,
                      "SELECT incident_key, recipient, channel, level, state, attempts, "
                      "created_at, next_attempt_at, delivered_at FROM outbox "
                      "WHERE notification_id = 'k/1/zt-duty-2/1'");
  REQUIRE(q.executeStep());
  CHECK(q.getColumn(0).getString() == "k");
  CHECK(q.getColumn(1).getString() == "zt-duty-2");
  CHECK(q.getColumn(2).getString() == "sms");
  CHECK(q.getColumn(3).getInt() == 0);
  CHECK(q.getColumn(4).getString() == "pending");
  CHECK(q.getColumn(5).getInt() == 0);
  CHECK(q.getColumn(6).getInt64() == ms(at(2)));
  CHECK(q.getColumn(7).getInt64() == ms(at(2)));
  CHECK(q.getColumn(8).isNull());
  // The row's body is its notification's timeline row, named, not copied (schema 15): the row
  // of its step, which holds it among the step's entries (schema 16).
  SQLite::Statement linked(raw,
                           "SELECT o.body, t.action, t.body FROM outbox o JOIN timeline t "
                           "ON t.seq = o.timeline_seq WHERE o.notification_id = "
                           "'k/1/zt-duty-2/1'");
  REQUIRE(linked.executeStep());
  CHECK(linked.getColumn(0).getString().empty());
  CHECK(linked.getColumn(1).getString() == "notification");
  const std::string timeline_body = linked.getColumn(2).getString();
  // What the row's columns say and the ids its alert's id makes are not in its body (schema 17).
  for (const char* left_out : {"\"at\"", "\"incident_key\"", "\"action\"", "notification_id"}) {
    CHECK(timeline_body.find(left_out) == std::string::npos);
  }
  const TimelineColumns columns = timeline_columns(changes.actions[1]);
  const auto entries = timeline_entries(nlohmann::json::parse(timeline_body), columns);
  REQUIRE(entries);
  REQUIRE(entries.value->size() == 3);
  CHECK(entries.value->at(1) == to_json(changes.actions[2], std::chrono::minutes{0}));
  bool handed = false;
  for (const OutboxRow& due : store.due_notifications(at(5), 10)) {
    if (due.notification_id != "k/1/zt-duty-2/1") continue;
    CHECK(due.body == timeline_body);
    REQUIRE(due.timeline);
    CHECK(due.timeline->incident_key == columns.incident_key);
    CHECK(due.timeline->at == columns.at);
    CHECK(due.timeline->action == columns.action);
    CHECK(due.timeline->milestone == columns.milestone);
    handed = true;
  }
  CHECK(handed);
}

TEST_CASE("an instance of a cluster is handed only the due rows of the incidents it owns",
          "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  SqliteStore store(dir.file("incidentd.db"));
  Changeset changes;
  // The other owner's rows fall due first: LIMIT must count only the owned ones.
  for (int i = 0; i < 3; ++i) {
    changes.actions.push_back(notification("theirs", at(1), "p" + std::to_string(i), 1));
  }
  changes.actions.push_back(notification("mine", at(2), "zt-duty-1", 1));
  store.commit(changes);
  REQUIRE(store.due_notifications(at(5), 2).size() == 2);
  CHECK(store.next_notification_due() == at(1));

  store.send_only_owned([](std::string_view key) { return key == "mine"; });
  const auto due = store.due_notifications(at(5), 2);
  REQUIRE(due.size() == 1);
  CHECK(due.front().incident_key == "mine");
  CHECK(store.next_notification_due() == at(2));
  store.send_only_owned([](std::string_view) { return false; });
  CHECK(store.due_notifications(at(5), 10).empty());
  CHECK(store.next_notification_due() == std::nullopt);
}

TEST_CASE("confirmations and acknowledgements are stored as rows", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  SqliteStore store(dir.file("incidentd.db"));
  Changeset changes;
  Confirmation c;
  c.confirmation_id = "rel-0001";
  c.incident_key = "k";
  c.milestone = Milestone::first_release;
  c.unit = "zhaotong-gov";
  c.released_at = at(2, 40);
  c.channel = "weibo";
  c.url = "https://example.org/release/1";
  c.speaker = "principal";
  c.via = "kafka";
  changes.confirmations.push_back(c);
  changes.acknowledgements.push_back({"k", "zt-duty-1", at(2, 5), "sms"});
  changes.acknowledgements.push_back({"k", "zt-duty-1", at(2, 25), "webhook"});
  store.commit(changes);
  CHECK(store.count("confirmations") == 1);
  CHECK(store.count("acknowledgements") == 2);
}

TEST_CASE_METHOD(StoredPendingIncident,
                 "the deadlines table lists the pending steps of armed unmet milestones",
                 "[store][sqlite]") {
  // first_release from its third step on, all of press_conference, nothing of the unarmed
  // follow_up.
  const std::vector<DeadlineRow> pending = {
      {"first_release", 1, ms(at(3)), "target_missed", 1, ms(at(3))},
      {"first_release", 1, ms(at(4, 30)), "warning", 1, ms(at(5))},
      {"first_release", 1, ms(at(5)), "deadline_breached", 2, ms(at(5))},
      {"press_conference", 1, ms(at(20)), "warning", 0, ms(at(24))},
      {"press_conference", 1, ms(at(23)), "warning", 1, ms(at(24))},
      {"press_conference", 1, ms(at(24)), "deadline_breached", 2, ms(at(24))},
  };
  CHECK(deadline_rows(path, "k") == pending);

  SECTION("a met milestone leaves the table") {
    s.milestone(Milestone::first_release).met_at = at(2, 40);
    store.commit(event_changes(s, {}, "e2"));
    const std::vector<DeadlineRow> press_only(pending.begin() + 3, pending.end());
    CHECK(deadline_rows(path, "k") == press_only);
  }
  SECTION("acting on a step removes it") {
    s.milestone(Milestone::press_conference).next_step = 3;
    store.commit(event_changes(s, {}, "e2"));
    const std::vector<DeadlineRow> first_only(pending.begin(), pending.begin() + 3);
    CHECK(deadline_rows(path, "k") == first_only);
  }
  SECTION("a closed incident has none") {
    s.closed = true;
    s.closed_at = at(2, 50);
    store.commit(event_changes(s, {}, "e2"));
    CHECK(deadline_rows(path, "k").empty());
    CHECK(store.count("deadlines") == 0);
  }
  SECTION("other incidents' rows are left alone") {
    store.commit(event_changes(pending_state("other"), {}, "e2"));
    CHECK(deadline_rows(path, "k") == pending);
    CHECK(store.count("deadlines") == 12);
  }
}

TEST_CASE("the deadlines table follows the snapshots across a failed commit", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("incidentd.db");
  SqliteStore store(path);
  const IncidentState before = pending_state("k");
  store.commit(event_changes(before, {}, "e1"));
  const auto rows_before = deadline_rows(path, "k");
  REQUIRE(rows_before.size() == 6);

  IncidentState after = before;
  after.milestone(Milestone::first_release).next_step = 5;  // first_release has none left
  Changeset failing = event_changes(after, {}, "e2");
  failing.processed.push_back({"e1", "k", at(0)});  // already stored: the commit fails
  CHECK_THROWS_AS(store.commit(failing), StoreError);
  CHECK(deadline_rows(path, "k") == rows_before);

  // The same later snapshot, committed for real, must replace them (nothing of the failed
  // attempt may count as written)...
  store.commit(event_changes(after, {}, "e3"));
  const std::vector<DeadlineRow> press_only(rows_before.begin() + 3, rows_before.end());
  CHECK(deadline_rows(path, "k") == press_only);
  // ...and the earlier one again brings its rows back.
  store.commit(event_changes(before, {}, "e4"));
  CHECK(deadline_rows(path, "k") == rows_before);
  // A new store on the file (nothing remembered) rewrites what it is given.
  SqliteStore reopened(path);
  reopened.commit(event_changes(after, {}, "e5"));
  CHECK(deadline_rows(path, "k") == press_only);
}

TEST_CASE("a commit that fails midway leaves nothing of itself behind", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("incidentd.db");
  SqliteStore store(path);
  const IncidentState a = pending_state("a");
  Changeset first = event_changes(a, {opened("a", at(0))}, "e1");
  Confirmation released;
  released.confirmation_id = "rel-1";
  released.incident_key = "a";
  released.unit = "zhaotong-gov";
  released.released_at = at(0, 30);
  released.via = "kafka";
  first.confirmations.push_back(released);
  store.commit(first);

  // Snapshot, deadlines, timeline, outbox and processed rows are written before the
  // confirmations, the last of which was already stored: the primary key fails the commit there.
  IncidentState a_later = a;
  a_later.milestone(Milestone::first_release).next_step = 4;
  Changeset bad = event_changes(
      pending_state("b"),
      {opened("b", at(1)), warning("a", at(2), at(3), 0), notification("a", at(2), "zt-duty-1", 1)},
      "e2");
  bad.incidents.push_back(a_later);
  bad.confirmations.push_back(released);
  bad.acknowledgements.push_back({"a", "zt-duty-1", at(2, 5), "sms"});
  CHECK_THROWS_WITH(store.commit(bad),
                    Contains("commit") && Contains("confirmations.confirmation_id"));

  CHECK_FALSE(store.load_incident("b"));
  CHECK(store.load_incident("a") == a);
  CHECK(store.timeline() == std::vector<Action>{opened("a", at(0))});
  CHECK(store.count("outbox") == 0);
  CHECK(store.count("incidents") == 1);
  CHECK(store.count("deadlines") == 6);
  CHECK(store.count("acknowledgements") == 0);
  CHECK_FALSE(store.is_processed("e2"));

  // An id processed before fails the commit too, before anything is written.
  Changeset again = bad;
  again.confirmations.clear();
  again.processed.push_back({"e1", "a", at(0)});
  CHECK_THROWS_WITH(store.commit(again),
                    Contains("commit") && Contains("'e1' is already processed"));
  CHECK_FALSE(store.is_processed("e2"));
  CHECK(store.count("timeline") == 1);

  // The store is still usable: the same changeset without the duplicate commits in full.
  bad.confirmations.clear();
  store.commit(bad);
  CHECK(store.load_incident("b") == pending_state("b"));
  CHECK(store.count("timeline") == 4);
  CHECK(store.count("outbox") == 1);
  CHECK(store.is_processed("e2"));
  SqliteStore reopened(path, SqliteStore::Mode::read_only);
  CHECK(reopened.load_incident("a") == a_later);
}

TEST_CASE("a read-only store reads while the writer runs and cannot write", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  const std::string path = dir.file("incidentd.db");
  SqliteStore writer(path);
  writer.commit(event_changes(pending_state("a"), {opened("a", at(0))}, "e1"));

  SqliteStore reader(path, SqliteStore::Mode::read_only);
  CHECK(reader.schema_version() == SqliteStore::kSchemaVersion);
  CHECK(reader.load_incident("a") == pending_state("a"));
  CHECK(reader.timeline("a") == std::vector<Action>{opened("a", at(0))});
  CHECK(reader.is_processed("e1"));

  CHECK_THROWS_WITH(reader.commit(event_changes(pending_state("b"), {opened("b", at(1))}, "e2")),
                    Contains("commit") && Contains("readonly"));
  CHECK_FALSE(writer.load_incident("b"));
  CHECK(writer.count("timeline") == 1);

  // The reader sees what the writer commits after it opened.
  writer.commit(event_changes(pending_state("c"), {}, "e3"));
  CHECK(reader.load_open_incidents().size() == 2);
}

TEST_CASE("a read-only store needs an existing incidentd database", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  CHECK_THROWS_AS(SqliteStore(dir.file("missing.db"), SqliteStore::Mode::read_only), StoreError);
  CHECK_FALSE(fs::exists(dir.file("missing.db")));
  const std::string empty = dir.file("empty.db");
  std::ofstream{empty};
  CHECK_THROWS_WITH(SqliteStore(empty, SqliteStore::Mode::read_only), Contains("schema version 0"));
}

TEST_CASE("count accepts only the store's tables", "[store][sqlite]") {
  TempDir dir{"incidentd-store-test"};
  SqliteStore store(dir.file("incidentd.db"));
  CHECK(store.count("processed") == 0);
  CHECK_THROWS_AS(store.count("sqlite_master"), StoreError);
  CHECK_THROWS_AS(store.count("incidents; DROP TABLE incidents"), StoreError);
}

TEST_CASE("the memory store fails the requested commits without applying them", "[store][memory]") {
  testing::MemoryStore store;
  const Changeset changes = event_changes(pending_state("k"), {opened("k", at(0))}, "e1");
  store.fail_next_commits(2);
  CHECK_THROWS_AS(store.commit(changes), StoreError);
  CHECK_THROWS_AS(store.commit(changes), StoreError);
  CHECK(store.timeline().empty());
  CHECK_FALSE(store.load_incident("k"));
  CHECK_FALSE(store.is_processed("e1"));
  CHECK(store.failed_commits() == 2);
  CHECK(store.commits() == 0);

  store.commit(changes);
  CHECK(store.commits() == 1);
  CHECK(store.timeline() == changes.actions);
  CHECK(store.load_incident("k") == pending_state("k"));
  CHECK(store.is_processed("e1"));
}

TEST_CASE("the memory store rejects a processed id stored twice, all or nothing",
          "[store][memory]") {
  testing::MemoryStore store;
  store.commit(event_changes(pending_state("a"), {opened("a", at(0))}, "e1"));
  Changeset again = event_changes(pending_state("b"), {opened("b", at(1))}, "e1");
  CHECK_THROWS_AS(store.commit(again), StoreError);
  CHECK_FALSE(store.load_incident("b"));
  CHECK(store.timeline().size() == 1);
  CHECK(store.load_open_incidents().size() == 1);
}

TEST_CASE("the memory store keeps one outbox entry per notification id", "[store][memory]") {
  testing::MemoryStore store;
  Changeset changes;
  changes.actions = {warning("k", at(2), at(3), 0), notification("k", at(2), "zt-duty-1", 1),
                     notification("k", at(2), "zt-duty-1", 1),
                     notification("k", at(2, 15), "zt-duty-1", 2)};
  store.commit(changes);
  CHECK(store.timeline().size() == 4);
  REQUIRE(store.outbox().size() == 2);
  CHECK(store.outbox()[1].send == 2);
  store.commit(Changeset{});  // nothing to write: not a commit
  CHECK(store.commits() == 1);
}

}  // namespace
}  // namespace incidentd

namespace incidentd {
namespace {

// Schema 8 takes addresses out of what schema 7 and before wrote into the timeline (a "sending"
// row per attempt, with the phone or the webhook URL; channels' answers naming them), re-chains
// the timeline and records the rewrite, and adds the outbox's delivery state.
TEST_CASE(
    "a database of the previous schema migrates with its addresses out and its chain verifying",
    "[store][sqlite][migration]") {
  TempDir dir("store-migration");
  const std::string path = dir.file("old.db");
  const std::string phone = "+8613900001001";
  const std::string url = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef";
  std::string old_head;
  {
    SqliteStore store(path);
    Changeset c;
    Action n;
    n.at = kStart;
    n.incident_key = "inc-1";
    n.kind = ActionKind::notification;
    n.milestone = Milestone::first_release;
    n.recipient = "zt-duty1";
    n.unit = "zhaotong-gov";
    n.channel = "sms";
    n.notification_id = "n1";
    n.level = 0;
    c.actions.push_back(n);
    store.commit(c);
    // What the dispatcher of schema 7 wrote for two attempts.
    OutboxUpdate u;
    u.notification_id = "n1";
    u.channel = NotificationChannel::webhook;
    u.attempts = 2;
    u.next_attempt_at = kStart;
    u.last_error = "POST " + url + " refused";
    for (const auto& [outcome, detail] :
         std::vector<std::pair<std::string, std::string>>{{"sending", phone},
                                                          {"retry", "gateway refused " + phone},
                                                          {"sending", url},
                                                          {"retry", "POST " + url + " refused"}}) {
      Action a;
      a.at = kStart;
      a.incident_key = "inc-1";
      a.kind = ActionKind::delivery;
      a.notification_id = "n1";
      a.channel = "sms";
      a.outcome = outcome;
      a.detail = detail;
      u.timeline.push_back(a);
    }
    REQUIRE(store.record_outbox({u}) == std::vector<bool>{true});
    // A release confirmed by SMS, named after the phone as earlier builds did.
    Changeset confirmed;
    Action rc;
    rc.at = kStart;
    rc.incident_key = "inc-1";
    rc.kind = ActionKind::release_confirmed;
    rc.milestone = Milestone::first_release;
    rc.unit = "zhaotong-gov";
    rc.confirmation_id = "sms-" + phone + "-4827-1796426564073";
    confirmed.actions.push_back(rc);
    store.commit(confirmed);
  }
  {
    // Back to schema 7 as it stood: no outbox delivery state, no chain_rewrites (8), no
    // daemon_runs (9), no source_heartbeat (10).
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    testing::inline_outbox_bodies_for_test(raw);
    raw.exec(
        "DROP TABLE commit_journal; DROP TABLE replica_positions; DROP TABLE incident_figures; "
        "DROP TABLE source_heartbeat; "
        "ALTER TABLE outbox DROP "
        "COLUMN gave_up; DROP TABLE "
        "daemon_runs; DROP INDEX outbox_recipient; DROP "
        "TABLE chain_rewrites; "
        "ALTER TABLE outbox DROP COLUMN milestone; ALTER TABLE outbox DROP COLUMN purpose; "
        "ALTER TABLE outbox DROP COLUMN failing_since; ALTER TABLE outbox DROP COLUMN recorded; "
        "PRAGMA user_version = 7");
    // And the one global chain of schema 2 to 10, with the head a report printed then.
    testing::rechain_globally_for_test(raw);
    old_head = raw.execAndGet("SELECT hash FROM timeline ORDER BY seq DESC LIMIT 1").getString();
  }

  SqliteStore store(path);
  CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
  std::string all;
  std::string prev = SqliteStore::chain_genesis("inc-1");
  std::int64_t entry = 0;
  bool chained = true;
  store.scan_timeline("", [&](const TimelineRow& r) {
    all += r.body + "\n";
    chained = chained && r.incident_key == "inc-1" && r.incident_seq == ++entry &&
              r.prev_hash == prev && SqliteStore::chain_hash(prev, r) == r.hash;
    prev = r.hash;
    return true;
  });
  CHECK(chained);
  CHECK(store.count("timeline") == 6);  // rows stay; their addresses go
  CHECK(all.find("sms-p") != std::string::npos);
  CHECK(all.find(phone) == std::string::npos);
  CHECK(all.find("dingtalk") == std::string::npos);
  CHECK(all.find("0123456789abcdef") == std::string::npos);
  CHECK(all.find("gateway refused +****") != std::string::npos);
  for (const OutboxRow& r : store.outbox("inc-1")) {
    CHECK(r.last_error == "POST <address> refused");
  }
  // Both rewrites are on record: schema 8's with the head a report printed before it, then
  // schema 11's (one chain per incident) from schema 8's head to the same row's new hash.
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  SQLite::Statement rewrite(raw,
                            "SELECT rows_changed, old_head_hash, new_head_hash, old_head_seq "
                            "FROM chain_rewrites ORDER BY seq");
  REQUIRE(rewrite.executeStep());
  CHECK(rewrite.getColumn(0).getInt() == 5);
  CHECK(rewrite.getColumn(1).getString() == old_head);
  const std::string schema8_head = rewrite.getColumn(2).getString();
  CHECK(schema8_head != old_head);
  REQUIRE(rewrite.executeStep());
  CHECK(rewrite.getColumn(0).getInt() == 6);
  CHECK(rewrite.getColumn(1).getString() == schema8_head);
  CHECK(rewrite.getColumn(2).getString() == store.chain_head()->hash);
  CHECK(rewrite.getColumn(3).getInt() == 6);
  CHECK_FALSE(rewrite.executeStep());
  // The notification's milestone was filled from its body.
  CHECK(raw.execAndGet("SELECT milestone FROM outbox WHERE notification_id = 'n1'").getString() ==
        "first_release");
}

// Schema 15 names a notification's timeline row instead of keeping a copy of its body in the
// outbox: rows whose copy is the very row are linked, anything else keeps the body it has.
TEST_CASE("the outbox of schema 14 migrates to bodies named in the timeline, nothing else changes",
          "[store][sqlite][migration]") {
  TempDir dir("store-migration-15");
  const std::string path = dir.file("old.db");
  {
    SqliteStore store(path);
    // One commit each: a row per notification, as schema 14 wrote them (a step's row is 16's).
    for (const Action& a :
         {notification("k", at(1), "zt-duty-1", 1), notification("k", at(1), "zt-duty-2", 1),
          notification("k", at(2), "zt-duty-1", 2)}) {
      Changeset c;
      c.actions = {a};
      store.commit(c);
    }
    // An operator desk's notice: a body of its own, no timeline row.
    OutboxUpdate u;
    u.notification_id = "k/1/zt-duty-1/1";
    u.state = DeliveryState::failed;
    u.next_attempt_at = at(1);
    OutboxRow desk;
    desk.notification_id = "unreached/k/zt-duty-1/office-duty1";
    desk.incident_key = "k";
    desk.recipient = "office-duty1";
    desk.unit = "office";
    desk.purpose = NotificationPurpose::unreached;
    desk.body = R"({"desk":"notice"})";
    desk.created_at = at(1);
    desk.next_attempt_at = at(1);
    u.new_rows.push_back(desk);
    REQUIRE(store.record_outbox({u}) == std::vector<bool>{true});
  }
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    testing::inline_outbox_bodies_for_test(raw);
    // A row edited by hand so that it no longer matches its timeline row keeps what it says.
    raw.exec(
        "UPDATE outbox SET body = '{\"edited\":1}' WHERE notification_id = 'k/1/zt-duty-1/2'; "
        "PRAGMA user_version = 14");
  }
  SqliteStore store(path);
  CHECK(store.schema_version() == SqliteStore::kSchemaVersion);
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  std::map<std::string, std::pair<std::string, bool>> rows;  // id: body, linked
  SQLite::Statement q(raw,
                      "SELECT o.notification_id, o.body, t.seq IS NOT NULL FROM outbox o "
                      "LEFT JOIN timeline t ON t.seq = o.timeline_seq AND t.action = "
                      "'notification'");
  while (q.executeStep()) {
    rows[q.getColumn(0).getString()] = {q.getColumn(1).getString(), q.getColumn(2).getInt() != 0};
  }
  using Row = std::pair<std::string, bool>;
  CHECK(rows.at("k/1/zt-duty-2/1") == Row{"", true});
  CHECK(rows.at("k/1/zt-duty-1/1") == Row{"", true});
  CHECK(rows.at("k/1/zt-duty-1/2") == Row{R"({"edited":1})", false});
  CHECK(rows.at("unreached/k/zt-duty-1/office-duty1") == Row{R"({"desk":"notice"})", false});
  // The dispatcher is handed each pending row's body as before.
  std::map<std::string, std::string> due;
  for (const OutboxRow& r : store.due_notifications(at(5), 10)) due[r.notification_id] = r.body;
  REQUIRE(due.size() == 3);
  CHECK(nlohmann::json::parse(due.at("k/1/zt-duty-2/1")).at("recipient") == "zt-duty-2");
  CHECK(due.at("k/1/zt-duty-1/2") == R"({"edited":1})");
  CHECK(due.at("unreached/k/zt-duty-1/office-duty1") == R"({"desk":"notice"})");
  // The timeline is not touched: its chain verifies as it did.
  std::string prev = SqliteStore::chain_genesis("k");
  std::int64_t entry = 0;
  bool chained = true;
  store.scan_timeline("k", [&](const TimelineRow& r) {
    chained = chained && r.incident_seq == ++entry && r.prev_hash == prev &&
              SqliteStore::chain_hash(prev, r) == r.hash;
    prev = r.hash;
    return true;
  });
  CHECK(chained);
  CHECK(entry == 3);
}

}  // namespace
}  // namespace incidentd
