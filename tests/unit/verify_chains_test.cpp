// One hash chain per incident: replicas that apply the same incidents' rows in different
// interleavings compute the same hash for every row; verify names each tampering with its
// incident and entry, on one thread or two; schema 11 re-chains a file of the one global chain,
// and refuses one whose old chain is broken.
#include "report/verify.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "incidentd/store.hpp"
#include "store/sqlite_store.hpp"
#include "support/old_schema.hpp"
#include "support/temp_dir.hpp"

namespace {

using incidentd::testing::TempDir;

using namespace incidentd;
using namespace incidentd::report;
using Catch::Matchers::Contains;

// Entry n of incident `key`: a warning whose instant and round tell the entries apart.
Action entry(const std::string& key, int n) {
  Action a;
  a.at = TimePoint(std::chrono::minutes(n));
  a.incident_key = key;
  a.kind = n == 1 ? ActionKind::incident_opened : ActionKind::warning;
  if (n == 1) {
    a.incident_level = Level::II;
    a.lead_unit = "u";
    a.units = {"u"};
  } else {
    a.milestone = Milestone::first_release;
    a.round = n;
  }
  return a;
}

// Commits the entries in this order, a commit per `per_commit` of them.
void feed(SqliteStore& store, const std::vector<std::pair<std::string, int>>& order,
          std::size_t per_commit) {
  Changeset c;
  for (const auto& [key, n] : order) {
    c.actions.push_back(entry(key, n));
    if (c.actions.size() == per_commit) {
      store.commit(c);
      c.actions.clear();
    }
  }
  if (!c.actions.empty()) store.commit(c);
}

// Incidents a (5 entries), b (4) and c (3), interleaved as a replica might apply them.
const std::vector<std::pair<std::string, int>> kInterleaved = {
    {"a", 1}, {"b", 1}, {"a", 2}, {"c", 1}, {"b", 2}, {"a", 3},
    {"c", 2}, {"b", 3}, {"a", 4}, {"c", 3}, {"b", 4}, {"a", 5}};
// The same rows, incident after incident.
const std::vector<std::pair<std::string, int>> kIncidentByIncident = {
    {"c", 1}, {"c", 2}, {"c", 3}, {"a", 1}, {"a", 2}, {"a", 3},
    {"a", 4}, {"a", 5}, {"b", 1}, {"b", 2}, {"b", 3}, {"b", 4}};

struct StoredRow {
  std::int64_t seq = 0;
  std::string prev_hash;
  std::string hash;
};

std::map<std::pair<std::string, std::int64_t>, StoredRow> rows_by_entry(SqliteStore& store) {
  std::map<std::pair<std::string, std::int64_t>, StoredRow> out;
  store.scan_timeline("", [&](const TimelineRow& r) {
    StoredRow row;
    row.seq = r.seq;
    row.prev_hash = r.prev_hash;
    row.hash = r.hash;
    out.emplace(std::pair{r.incident_key, r.incident_seq}, std::move(row));
    return true;
  });
  return out;
}

TEST_CASE("replicas fed the same incidents in different interleavings hash every row alike",
          "[verify][chain]") {
  TempDir dir{"incidentd-chains"};
  SqliteStore first(dir.file("first.db"));
  SqliteStore second(dir.file("second.db"));
  feed(first, kInterleaved, 5);
  feed(second, kIncidentByIncident, 1);
  const auto one = rows_by_entry(first);
  const auto other = rows_by_entry(second);
  REQUIRE(one.size() == 12);
  REQUIRE(other.size() == 12);
  bool some_seq_differs = false;
  for (const auto& [place, row] : one) {
    const auto found = other.find(place);
    REQUIRE(found != other.end());
    CHECK(found->second.hash == row.hash);
    CHECK(found->second.prev_hash == row.prev_hash);
    some_seq_differs = some_seq_differs || found->second.seq != row.seq;
  }
  CHECK(some_seq_differs);  // the files number the rows differently, and it does not matter
  CHECK(one.at({"a", 1}).prev_hash == SqliteStore::chain_genesis("a"));
  CHECK(one.at({"a", 2}).prev_hash == one.at({"a", 1}).hash);

  const auto verified_one = verify_chain(first);
  const auto verified_other = verify_chain(second);
  CHECK(verified_one.intact);
  CHECK(verified_other.intact);
  CHECK(verified_one.chains == 3);
  CHECK(verified_one.heads_digest.size() == 64);
  CHECK(verified_one.heads_digest == verified_other.heads_digest);
  // The file's last row is local: a5 in one, b4 in the other.
  CHECK(verified_one.head->hash == one.at({"a", 5}).hash);
  CHECK(verified_other.head->hash == other.at({"b", 4}).hash);
}

// The writer keeps the heads it committed: another connection's rows in between must be seen.
TEST_CASE("two writers on one file append to one incident's chain in turn", "[verify][chain]") {
  TempDir dir{"incidentd-chains"};
  const std::string path = dir.file("two.db");
  {
    SqliteStore first(path);
    SqliteStore second(path);
    feed(first, {{"a", 1}, {"b", 1}}, 2);
    feed(second, {{"a", 2}}, 1);
    feed(first, {{"a", 3}, {"b", 2}}, 2);
    feed(second, {{"b", 3}, {"a", 4}}, 1);
    feed(first, {{"a", 5}}, 1);
  }
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  const auto result = verify_chain(reader);
  CHECK(result.intact);
  CHECK(result.rows == 8);
  CHECK(result.chains == 2);
  std::int64_t last_a = 0;
  reader.scan_timeline("a", [&](const TimelineRow& r) {
    CHECK(r.incident_seq == last_a + 1);
    last_a = r.incident_seq;
    return true;
  });
  CHECK(last_a == 5);
}

TEST_CASE("an incident's genesis depends on its key", "[verify][chain]") {
  CHECK(SqliteStore::chain_genesis("a") == SqliteStore::chain_genesis("a"));
  CHECK(SqliteStore::chain_genesis("a") != SqliteStore::chain_genesis("b"));
  CHECK(SqliteStore::chain_genesis("a").size() == 64);
}

// The interleaved timeline of three incidents, changed by `tamper`, verified on one thread and
// on two: both must find the same breaks.
template <typename F>
std::vector<ChainBreak> breaks_after(F tamper) {
  TempDir dir{"incidentd-chains"};
  const std::string path = dir.file("tampered.db");
  {
    SqliteStore store(path);
    feed(store, kInterleaved, 3);
  }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    tamper(db);
  }
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  SqliteStore second(path, SqliteStore::Mode::read_only);
  const auto alone = verify_chain(reader);
  const auto together = verify_chain(reader, &second);
  CHECK_FALSE(alone.intact);
  CHECK(alone.rows == together.rows);
  REQUIRE(alone.breaks.size() == together.breaks.size());
  for (std::size_t i = 0; i < alone.breaks.size(); ++i) {
    CHECK(alone.breaks[i].seq == together.breaks[i].seq);
    CHECK(alone.breaks[i].kind == together.breaks[i].kind);
    CHECK(alone.breaks[i].incident_key == together.breaks[i].incident_key);
  }
  return alone.breaks;
}

const ChainBreak* break_of(const std::vector<ChainBreak>& breaks, const std::string& key) {
  const auto found = std::find_if(breaks.begin(), breaks.end(),
                                  [&](const ChainBreak& b) { return b.incident_key == key; });
  return found == breaks.end() ? nullptr : &*found;
}

// Seqs in kInterleaved: a1 1, b1 2, a2 3, c1 4, b2 5, a3 6, c2 7, b3 8, a4 9, c3 10, b4 11, a5 12.
TEST_CASE("a changed body is named with its incident and entry", "[verify][chain]") {
  for (const int seq : {3, 9}) {  // in each half of the file
    const auto breaks = breaks_after([seq](SQLite::Database& db) {
      db.exec("UPDATE timeline SET body = json_set(body, '$.level', 3) WHERE seq = " +
              std::to_string(seq));
    });
    REQUIRE(breaks.size() == 1);
    CHECK(breaks[0].kind == "altered");
    CHECK(breaks[0].seq == seq);
    CHECK(breaks[0].incident_key == "a");
    CHECK(breaks[0].incident_seq == (seq == 3 ? 2 : 4));
    CHECK_THAT(breaks[0].detail, Contains("incident \"a\""));
  }
}

TEST_CASE("a deleted row is named with its incident and entry", "[verify][chain]") {
  // b2 (seq 5): the file's seqs show a gap, and b's chain names the entry.
  const auto breaks =
      breaks_after([](SQLite::Database& db) { db.exec("DELETE FROM timeline WHERE seq = 5"); });
  REQUIRE(breaks.size() == 2);
  CHECK(breaks[0].kind == "removed");
  CHECK(breaks[0].seq == 5);
  CHECK(breaks[0].incident_key.empty());
  const ChainBreak* b = break_of(breaks, "b");
  REQUIRE(b != nullptr);
  CHECK(b->kind == "removed");
  CHECK(b->seq == 8);  // b3, which follows b1
  CHECK(b->incident_seq == 2);
  CHECK_THAT(b->detail, Contains("entry 2 of incident \"b\" missing"));
}

TEST_CASE("two rows of one incident swapped are named as reordered", "[verify][chain]") {
  // c1 (seq 4) and c2 (seq 7), and a4 (seq 9) and a5 (seq 12): their seqs exchanged.
  const auto breaks = breaks_after([](SQLite::Database& db) {
    db.exec("UPDATE timeline SET seq = -seq WHERE seq IN (4, 7, 9, 12)");
    db.exec(
        "UPDATE timeline SET seq = CASE seq WHEN -4 THEN 7 WHEN -7 THEN 4 WHEN -9 THEN 12 "
        "ELSE 9 END WHERE seq < 0");
  });
  REQUIRE(breaks.size() == 2);
  const ChainBreak* c = break_of(breaks, "c");
  REQUIRE(c != nullptr);
  CHECK(c->kind == "reordered");
  CHECK(c->seq == 4);
  CHECK_THAT(c->detail, Contains("incident \"c\""));
  const ChainBreak* a = break_of(breaks, "a");
  REQUIRE(a != nullptr);
  CHECK(a->kind == "reordered");
  CHECK(a->seq == 9);
}

TEST_CASE("a row moved to another incident is named", "[verify][chain]") {
  const auto breaks = breaks_after([](SQLite::Database& db) {
    db.exec("UPDATE timeline SET incident_key = 'c' WHERE seq = 8");
  });
  REQUIRE_FALSE(breaks.empty());
  CHECK(breaks[0].seq == 8);
  CHECK(breaks[0].kind == "altered");
}

// What schema 10 left: the same rows in the one global chain, without incident_seq, and no
// incident_figures (schema 12).
void back_to_schema_10(const std::string& path) {
  SQLite::Database raw(path, SQLite::OPEN_READWRITE);
  testing::inline_outbox_bodies_for_test(raw);
  testing::rechain_globally_for_test(raw);
  raw.exec(
      "DROP TABLE commit_journal; DROP TABLE replica_positions; DROP TABLE incident_figures; "
      "PRAGMA user_version = 10");
}

TEST_CASE("a schema 10 database is re-chained per incident and verifies",
          "[verify][chain][migration]") {
  TempDir dir{"incidentd-chains"};
  const std::string path = dir.file("v10.db");
  const std::string replica = dir.file("replica.db");
  {
    SqliteStore store(path);
    feed(store, kInterleaved, 4);
    SqliteStore other(replica);
    feed(other, kIncidentByIncident, 2);
  }
  {
    // The replica's rows as schema 11 to 16 wrote them: whole bodies, as the old file's are.
    SQLite::Database raw(replica, SQLite::OPEN_READWRITE);
    testing::whole_bodies_for_test(raw);
  }
  back_to_schema_10(path);
  CHECK_THROWS_WITH(SqliteStore(path, SqliteStore::Mode::read_only),
                    Contains("start incidentd once on it to migrate it"));
  {
    SqliteStore writer(path);
    CHECK(writer.schema_version() == SqliteStore::kSchemaVersion);
    feed(writer, {{"a", 6}, {"d", 1}}, 2);  // the chains go on after the migration
  }
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  const auto result = verify_chain(reader);
  CHECK(result.intact);
  CHECK(result.rows == 14);
  CHECK(result.chains == 4);
  REQUIRE(result.rewrites.size() == 1);
  CHECK_THAT(result.rewrites[0].reason, Contains("schema 11"));
  CHECK(result.rewrites[0].rows_changed == 12);
  CHECK(result.rewrites[0].old_head.seq == 12);
  // Re-chained, the rows hash as a replica that wrote them per incident hashes them.
  SqliteStore other(replica, SqliteStore::Mode::read_only);
  const auto theirs = rows_by_entry(other);
  for (const auto& [place, row] : rows_by_entry(reader)) {
    if (place.second > 5 || place.first == "d") continue;  // written after the migration
    REQUIRE(theirs.count(place) == 1);
    CHECK(theirs.at(place).hash == row.hash);
  }
}

// A notification of the step `step`, sent to `recipient`.
Action step_notification(const std::string& key, int step, const std::string& recipient) {
  Action a;
  a.at = TimePoint(std::chrono::minutes(100 + step));
  a.incident_key = key;
  a.kind = ActionKind::notification;
  a.milestone = Milestone::first_release;
  a.level = 0;
  a.cause = ActionKind::warning;
  a.recipient = recipient;
  a.unit = "u";
  a.channel = "sms";
  a.send = 1;
  a.notification_id = key + "/" + std::to_string(step) + "/" + recipient + "/1";
  return a;
}

// A file of schema `version` with the rows `write_old` wrote (their bodies whole, as that schema
// kept them) is refused read-only, opens at this schema with every old row's hash as it was,
// takes a step's one row after them, verifies intact with no rewrite, and reads every entry back.
VerifyResult old_file_takes_a_step(const std::string& path, int version,
                                   const std::function<void(SqliteStore&)>& write_old,
                                   std::vector<Action> old_entries) {
  {
    SqliteStore store(path);
    write_old(store);
  }
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    testing::whole_bodies_for_test(raw);
  }
  const auto rows_before = [&] {
    SqliteStore reader(path, SqliteStore::Mode::read_only);
    return rows_by_entry(reader);
  }();
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("PRAGMA user_version = " + std::to_string(version));
  }
  CHECK_THROWS_WITH(SqliteStore(path, SqliteStore::Mode::read_only),
                    Contains("start incidentd once on it to migrate it"));
  const std::vector<Action> step = {step_notification("a", 2, "p1"),
                                    step_notification("a", 2, "p2"),
                                    step_notification("a", 2, "p3")};
  {
    SqliteStore writer(path);
    CHECK(writer.schema_version() == SqliteStore::kSchemaVersion);
    Changeset c;
    c.actions = step;
    writer.commit(c);
  }
  old_entries.insert(old_entries.end(), step.begin(), step.end());
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  const auto result = verify_chain(reader);
  CHECK(result.intact);
  CHECK(result.rewrites.empty());
  const auto rows_after = rows_by_entry(reader);
  for (const auto& [place, row] : rows_before) {
    REQUIRE(rows_after.count(place) == 1);
    CHECK(rows_after.at(place).hash == row.hash);  // the old rows as they were
  }
  CHECK(reader.timeline("a") == old_entries);
  return result;
}

TEST_CASE("a schema 15 file takes a step's one row after its rows of one notification each",
          "[verify][chain][migration]") {
  TempDir dir{"incidentd-chains"};
  const std::vector<Action> old = {entry("a", 1), step_notification("a", 1, "p1"),
                                   step_notification("a", 1, "p2")};
  // As schema 15 wrote them: a row per notification (a commit each gives the same rows).
  const auto result = old_file_takes_a_step(
      dir.file("v15.db"), 15,
      [&](SqliteStore& store) {
        for (const Action& a : old) {
          Changeset c;
          c.actions = {a};
          store.commit(c);
        }
      },
      old);
  CHECK(result.rows == 4);  // the three old rows, and the step's one
}

TEST_CASE("a schema 16 file keeps its whole bodies and takes rows without the columns after them",
          "[verify][chain][migration]") {
  TempDir dir{"incidentd-chains"};
  const std::string path = dir.file("v16.db");
  const std::vector<Action> old = {entry("a", 1), step_notification("a", 1, "p1"),
                                   step_notification("a", 1, "p2")};
  // As schema 16 wrote them: a step's notifications in one row, each notification's id in it.
  const auto result = old_file_takes_a_step(
      path, 16,
      [&](SqliteStore& store) {
        Changeset c;
        c.actions = old;
        store.commit(c);
      },
      old);
  CHECK(result.rows == 3);  // the two old rows, and the new step's one
  // The old rows whole, the new one without what its columns say.
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  CHECK(raw.execAndGet("SELECT COUNT(*) FROM timeline WHERE body LIKE '%\"at\":%'").getInt() == 2);
  CHECK(raw.execAndGet("SELECT COUNT(*) FROM timeline WHERE body LIKE '%notification_id%'")
            .getInt() == 1);
}

TEST_CASE("a schema 10 database whose chain is broken is refused, not re-chained",
          "[verify][chain][migration]") {
  TempDir dir{"incidentd-chains"};
  const std::string path = dir.file("v10.db");
  {
    SqliteStore store(path);
    feed(store, kInterleaved, 4);
  }
  back_to_schema_10(path);
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("UPDATE timeline SET at = at + 1 WHERE seq = 7");
  }
  CHECK_THROWS_WITH(SqliteStore(path), Contains("broken at seq 7") &&
                                           Contains("its content does not match") &&
                                           Contains("stays at schema 10"));
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  CHECK(raw.execAndGet("PRAGMA user_version").getInt() == 10);
  CHECK(raw.execAndGet("SELECT COUNT(*) FROM chain_rewrites").getInt() == 0);
}

TEST_CASE("a schema 10 database with rows cut from its end is refused",
          "[verify][chain][migration]") {
  TempDir dir{"incidentd-chains"};
  const std::string path = dir.file("v10.db");
  {
    SqliteStore store(path);
    feed(store, kInterleaved, 4);
  }
  back_to_schema_10(path);
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("DELETE FROM timeline WHERE seq > 10");
  }
  CHECK_THROWS_WITH(SqliteStore(path), Contains("broken at seq 11") &&
                                           Contains("removed from the end of the timeline"));
}

// Appending looks up the incident's last row through the (incident_key, seq) index: no scan.
TEST_CASE("an incident's chain head is found through an index", "[verify][chain]") {
  TempDir dir{"incidentd-chains"};
  const std::string path = dir.file("plan.db");
  { SqliteStore store(path); }
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  SQLite::Statement plan(raw,
                         "EXPLAIN QUERY PLAN SELECT incident_seq, hash FROM timeline WHERE "
                         "incident_key = 'a' ORDER BY seq DESC LIMIT 1");
  std::string details;
  while (plan.executeStep()) details += plan.getColumn(3).getString() + "\n";
  CHECK_THAT(details, Contains("USING INDEX timeline_incident"));
  CHECK_THAT(details, !Contains("TEMP B-TREE"));
}

}  // namespace
