// The timeline's hash chains: commit() chains every row in its incident's chain, verify names
// each row altered, inserted or removed directly in SQLite (the first one in seq order first), and
// a version 1 database is chained on migration.
#include "report/verify.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <utility>

#include "incidentd/codec.hpp"
#include "report/fixture.hpp"
#include "store/sqlite_store.hpp"
#include "support/temp_dir.hpp"

namespace {

using incidentd::testing::TempDir;

using namespace incidentd;
using namespace incidentd::report;
using Catch::Matchers::Contains;

// A copy of the fixture, changed by `tamper` through a plain SQLite connection.
template <typename F>
VerifyResult verify_after(F tamper, bool two_threads = false) {
  TempDir dir{"incidentd-verify"};
  const std::string path = dir.file("tampered.db");
  testing::copy_report_fixture(path);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    tamper(db);
  }
  SqliteStore store(path, SqliteStore::Mode::read_only);
  SqliteStore second(path, SqliteStore::Mode::read_only);
  return verify_chain(store, two_threads ? &second : nullptr);
}

std::int64_t rows_in_fixture() {
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  return static_cast<std::int64_t>(store.count("timeline"));
}

Action opened(const std::string& key, int minute) {
  Action a;
  a.at = TimePoint(std::chrono::minutes(minute));
  a.incident_key = key;
  a.kind = ActionKind::incident_opened;
  a.incident_level = Level::II;
  a.lead_unit = "u";
  a.units = {"u"};
  return a;
}

Changeset changes(std::vector<Action> actions) {
  Changeset c;
  c.actions = std::move(actions);
  return c;
}

TEST_CASE("the fixture's chain is intact and ends at its last row", "[verify]") {
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  const auto result = verify_chain(store);
  CHECK(result.intact);
  CHECK(result.rows == store.count("timeline"));
  REQUIRE(result.head);
  CHECK(result.head->seq == static_cast<std::int64_t>(store.count("timeline")));
  CHECK(result.head->hash == store.chain_head()->hash);
}

TEST_CASE("each row chains to the one before it in its incident", "[verify]") {
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  std::map<std::string, std::pair<std::int64_t, std::string>> heads;
  std::int64_t expected_seq = 1;
  store.scan_timeline("", [&](const TimelineRow& row) {
    auto [at, fresh] = heads.try_emplace(row.incident_key);
    auto& [entry, prev] = at->second;
    if (fresh) prev = SqliteStore::chain_genesis(row.incident_key);
    CHECK(row.seq == expected_seq++);
    CHECK(row.incident_seq == ++entry);
    CHECK(row.prev_hash == prev);
    CHECK(row.hash.size() == 64);
    CHECK(SqliteStore::chain_hash(row.prev_hash, row) == row.hash);
    prev = row.hash;
    return true;
  });
  CHECK(expected_seq > 100);
  CHECK(heads.size() > 3);
}

TEST_CASE("an altered row is named", "[verify]") {
  const auto result = verify_after([](SQLite::Database& db) {
    db.exec(
        "UPDATE timeline SET body = replace(body, '\"late\":\"target\"', '\"late\":false') "
        "WHERE seq = (SELECT seq FROM timeline WHERE action = 'milestone_met' AND "
        "incident_key = 'rpt-late' AND milestone = 'first_release')");
  });
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  std::int64_t met = 0;
  store.scan_timeline("rpt-late", [&](const TimelineRow& row) {
    if (row.action == "milestone_met" && row.milestone == "first_release") met = row.seq;
    return met == 0;
  });
  REQUIRE(met > 0);
  CHECK_FALSE(result.intact);
  CHECK(result.kind == "altered");
  CHECK(result.seq == met);
  CHECK_THAT(result.detail, Contains("does not match its hash"));
  CHECK_THAT(result.detail, Contains("of incident \"rpt-late\""));
  REQUIRE(result.breaks.size() == 1);
  CHECK(result.breaks[0].incident_key == "rpt-late");
}

TEST_CASE("an altered column outside the body is named too", "[verify]") {
  const auto result = verify_after(
      [](SQLite::Database& db) { db.exec("UPDATE timeline SET at = at + 1 WHERE seq = 7"); });
  CHECK(result.kind == "altered");
  CHECK(result.seq == 7);
}

// The first row at or after seq 12 whose incident has a row after it.
std::int64_t row_with_successor(SQLite::Database& db) {
  return db
      .execAndGet(
          "SELECT MIN(seq) FROM timeline t WHERE seq >= 12 AND EXISTS (SELECT 1 FROM timeline u "
          "WHERE u.incident_key = t.incident_key AND u.seq > t.seq)")
      .getInt64();
}

TEST_CASE("a row altered and re-hashed is named by the row after it", "[verify]") {
  std::int64_t altered = 0;
  const auto result = verify_after([&](SQLite::Database& db) {
    altered = row_with_successor(db);
    const std::string at = std::to_string(altered);
    db.exec("UPDATE timeline SET body = body || ' ' WHERE seq = " + at);
    SQLite::Statement select(db,
                             "SELECT seq, incident_key, at, action, milestone, body, prev_hash, "
                             "incident_seq FROM timeline WHERE seq = " +
                                 at);
    REQUIRE(select.executeStep());
    TimelineRow row;
    row.seq = select.getColumn(0).getInt64();
    row.incident_key = select.getColumn(1).getString();
    row.at_ms = select.getColumn(2).getInt64();
    row.action = select.getColumn(3).getString();
    if (!select.getColumn(4).isNull()) row.milestone = select.getColumn(4).getString();
    row.body = select.getColumn(5).getString();
    row.prev_hash = select.getColumn(6).getString();
    row.incident_seq = select.getColumn(7).getInt64();
    SQLite::Statement update(db, "UPDATE timeline SET hash = ? WHERE seq = " + at);
    update.bind(1, SqliteStore::chain_hash(row.prev_hash, row));
    update.exec();
  });
  CHECK(result.kind == "altered");
  CHECK(result.seq == altered);
  CHECK_THAT(result.detail, Contains("re-hashed"));
}

TEST_CASE("a deleted row shows as a gap at its seq", "[verify]") {
  const auto result =
      verify_after([](SQLite::Database& db) { db.exec("DELETE FROM timeline WHERE seq = 20"); });
  CHECK_FALSE(result.intact);
  CHECK(result.kind == "removed");
  CHECK(result.seq == 20);
  CHECK_THAT(result.detail, Contains("seq 20"));
}

TEST_CASE("a deleted row with the rows after it renumbered is named by its incident and entry",
          "[verify]") {
  std::string key;
  std::int64_t entry = 0;
  const auto result = verify_after([&](SQLite::Database& db) {
    // A row that is not the last of its incident: its chain shows the hole.
    SQLite::Statement row(db,
                          "SELECT seq, incident_key, incident_seq FROM timeline t WHERE seq >= 30 "
                          "AND EXISTS (SELECT 1 FROM timeline u WHERE u.incident_key = "
                          "t.incident_key AND u.seq > t.seq) ORDER BY seq LIMIT 1");
    REQUIRE(row.executeStep());
    const std::int64_t seq = row.getColumn(0).getInt64();
    key = row.getColumn(1).getString();
    entry = row.getColumn(2).getInt64();
    row.reset();
    db.exec("DELETE FROM timeline WHERE seq = " + std::to_string(seq));
    // Two steps, so no row collides with another while moving; the seqs close over the hole.
    db.exec("UPDATE timeline SET seq = -(seq - 1) WHERE seq > " + std::to_string(seq));
    db.exec("UPDATE timeline SET seq = -seq WHERE seq < 0");
  });
  CHECK_FALSE(result.intact);
  const auto named = std::find_if(result.breaks.begin(), result.breaks.end(),
                                  [&](const ChainBreak& b) { return b.incident_key == key; });
  REQUIRE(named != result.breaks.end());
  CHECK(named->kind == "removed");
  CHECK(named->incident_seq == entry);
  CHECK_THAT(named->detail,
             Contains("entry " + std::to_string(entry) + " of incident \"" + key + "\" missing"));
}

TEST_CASE("rows removed from the end are named by the seq SQLite handed out", "[verify]") {
  const std::int64_t rows = rows_in_fixture();
  const auto result = verify_after([rows](SQLite::Database& db) {
    db.exec("DELETE FROM timeline WHERE seq > " + std::to_string(rows - 3));
  });
  CHECK(result.kind == "removed");
  CHECK(result.seq == rows - 2);
  CHECK_THAT(result.detail, Contains("from the end"));
}

TEST_CASE("a row inserted at the end without a hash is named", "[verify]") {
  const std::int64_t rows = rows_in_fixture();
  const auto result = verify_after([](SQLite::Database& db) {
    db.exec(
        "INSERT INTO timeline(incident_key, at, action, milestone, body) VALUES "
        "('rpt-late', 0, 'release_confirmed', 'first_release', '{}')");
  });
  CHECK(result.kind == "inserted");
  CHECK(result.seq == rows + 1);
}

TEST_CASE("a row inserted in the middle, with a valid hash and the rest renumbered, is named",
          "[verify]") {
  const auto result = verify_after([](SQLite::Database& db) {
    // After rpt-late's last row before seq 15, in its chain, as incidentd would have hashed it.
    TimelineRow row;
    {
      SQLite::Statement before(db,
                               "SELECT hash, incident_seq FROM timeline WHERE seq < 15 AND "
                               "incident_key = 'rpt-late' ORDER BY seq DESC LIMIT 1");
      REQUIRE(before.executeStep());
      row.prev_hash = before.getColumn(0).getString();
      row.incident_seq = before.getColumn(1).getInt64() + 1;
    }
    db.exec("UPDATE timeline SET seq = -(seq + 1) WHERE seq >= 15");
    db.exec("UPDATE timeline SET seq = -seq WHERE seq < 0");
    row.seq = 15;
    row.incident_key = "rpt-late";
    row.at_ms = 1'000;
    row.action = "acknowledged";
    row.body = R"({"action":"acknowledged"})";
    SQLite::Statement insert(db,
                             "INSERT INTO timeline(seq, incident_key, at, action, milestone, "
                             "body, prev_hash, hash, incident_seq) VALUES (15, ?, ?, ?, NULL, ?, "
                             "?, ?, ?)");
    insert.bind(1, row.incident_key);
    insert.bind(2, row.at_ms);
    insert.bind(3, row.action);
    insert.bind(4, row.body);
    insert.bind(5, row.prev_hash);
    insert.bind(6, SqliteStore::chain_hash(row.prev_hash, row));
    insert.bind(7, row.incident_seq);
    insert.exec();
  });
  CHECK(result.kind == "inserted");
  CHECK(result.seq == 15);
  REQUIRE_FALSE(result.breaks.empty());
  CHECK(result.breaks[0].incident_key == "rpt-late");
}

TEST_CASE("the chain continues across a reopen, and from another writer's rows", "[verify]") {
  TempDir dir{"incidentd-verify"};
  const std::string path = dir.file("chain.db");
  {
    SqliteStore store(path);
    store.commit(changes({opened("a", 1), opened("b", 2)}));
  }
  {
    SqliteStore first(path);
    SqliteStore second(path);
    first.commit(changes({opened("c", 3)}));
    second.commit(changes({opened("d", 4)}));
    first.commit(changes({opened("e", 5)}));
  }
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  const auto result = verify_chain(reader);
  CHECK(result.intact);
  CHECK(result.rows == 5);
  REQUIRE(result.head);
  CHECK(result.head->seq == 5);
}

// verify can walk the file's two halves on two threads: a timeline of many rows is walked whole
// either way, and a row altered deep in it is still the one named.
TEST_CASE("a chain longer than a batch is walked whole, and an alteration deep in it is named",
          "[verify]") {
  TempDir dir{"incidentd-verify"};
  const std::string path = dir.file("long.db");
  constexpr int kRows = 5000;
  {
    SqliteStore store(path);
    std::vector<Action> actions;
    for (int i = 0; i < kRows; ++i) actions.push_back(opened("k" + std::to_string(i), i));
    store.commit(changes(std::move(actions)));
  }
  {
    SqliteStore reader(path, SqliteStore::Mode::read_only);
    SqliteStore second(path, SqliteStore::Mode::read_only);
    const auto result = verify_chain(reader, &second);
    CHECK(result.intact);
    CHECK(result.rows == kRows);
    CHECK(result.chains == kRows);
    REQUIRE(result.head);
    CHECK(result.head->seq == kRows);
    CHECK(result.head->hash == reader.chain_head()->hash);
    CHECK(result.heads_digest == verify_chain(reader).heads_digest);
  }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("UPDATE timeline SET body = replace(body, '\"u\"', '\"v\"') WHERE seq = 3777");
  }
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  SqliteStore second(path, SqliteStore::Mode::read_only);
  for (TimelineQueries* other :
       {static_cast<TimelineQueries*>(nullptr), static_cast<TimelineQueries*>(&second)}) {
    const auto result = verify_chain(reader, other);
    CHECK_FALSE(result.intact);
    CHECK(result.kind == "altered");
    CHECK(result.seq == 3777);
    CHECK(result.breaks.size() == 1);
    CHECK(result.rows == kRows);  // every chain is checked, past the first problem
  }
}

TEST_CASE("a writer keeps chaining past rows cut from the end, so the cut shows", "[verify]") {
  TempDir dir{"incidentd-verify"};
  const std::string path = dir.file("cut.db");
  SqliteStore store(path);
  store.commit(changes({opened("a", 1), opened("b", 2)}));
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("DELETE FROM timeline WHERE seq = 2");
  }
  store.commit(changes({opened("c", 3)}));
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  const auto result = verify_chain(reader);
  CHECK(result.kind == "removed");
  CHECK(result.seq == 2);
}

TEST_CASE("a version 1 database is chained when it is migrated", "[verify]") {
  TempDir dir{"incidentd-verify"};
  const std::string path = dir.file("v1.db");
  {
    // The version 1 timeline, as a build before the hash chain left it.
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(R"sql(
CREATE TABLE incidents (incident_key TEXT PRIMARY KEY, level TEXT NOT NULL, drill INTEGER NOT NULL,
  closed INTEGER NOT NULL, opened_at INTEGER NOT NULL, clock_start INTEGER, closed_at INTEGER,
  title TEXT NOT NULL, lead_unit TEXT NOT NULL, state TEXT NOT NULL, updated_seq INTEGER NOT NULL);
CREATE TABLE deadlines (incident_key TEXT NOT NULL, milestone TEXT NOT NULL, round INTEGER NOT NULL,
  at INTEGER NOT NULL, action TEXT NOT NULL, level INTEGER NOT NULL, due INTEGER NOT NULL);
CREATE TABLE confirmations (confirmation_id TEXT PRIMARY KEY, incident_key TEXT NOT NULL,
  milestone TEXT NOT NULL, unit TEXT NOT NULL, released_at INTEGER NOT NULL, channel TEXT NOT NULL,
  url TEXT NOT NULL, speaker TEXT NOT NULL, via TEXT NOT NULL);
CREATE TABLE acknowledgements (id INTEGER PRIMARY KEY, incident_key TEXT NOT NULL,
  recipient TEXT NOT NULL, at INTEGER NOT NULL, via TEXT NOT NULL);
CREATE TABLE processed (id TEXT PRIMARY KEY, incident_key TEXT NOT NULL, at INTEGER NOT NULL)
  WITHOUT ROWID;
CREATE TABLE timeline (seq INTEGER PRIMARY KEY AUTOINCREMENT, incident_key TEXT NOT NULL,
  at INTEGER NOT NULL, action TEXT NOT NULL, milestone TEXT, body TEXT NOT NULL);
CREATE TABLE outbox (notification_id TEXT PRIMARY KEY, incident_key TEXT NOT NULL,
  recipient TEXT NOT NULL, unit TEXT NOT NULL, channel TEXT NOT NULL, level INTEGER,
  body TEXT NOT NULL, created_at INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, delivered_at INTEGER,
  last_error TEXT);
INSERT INTO timeline(incident_key, at, action, milestone, body) VALUES
  ('a', 60000, 'incident_opened', NULL, '{"action":"incident_opened"}'),
  ('a', 120000, 'warning', 'first_release', '{"action":"warning"}');
INSERT INTO processed(id, incident_key, at) VALUES ('e-old-2', 'a', 120000), ('e-old-1', 'a', 60000);
PRAGMA user_version = 1;
)sql");
  }
  CHECK_THROWS_WITH(SqliteStore(path, SqliteStore::Mode::read_only),
                    Contains("start incidentd once on it to migrate it"));
  {
    SqliteStore writer(path);
    CHECK(writer.schema_version() == SqliteStore::kSchemaVersion);
    // Version 5 appends processed ids in commit order, and version 6 packs them a block per
    // commit: the old ones are carried over in time order and still known.
    CHECK(writer.is_processed("e-old-1"));
    CHECK(writer.is_processed("e-old-2"));
    CHECK_FALSE(writer.is_processed("e-new"));
    CHECK(writer.count("processed") == 2);
    writer.commit(changes({opened("b", 3)}));
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    // Each id after its byte count, its incident_key likewise, then `at` in LEB128:
    // 60000 ms is E0 D4 03 and 120000 ms is C0 A9 07.
    CHECK(raw.execAndGet("SELECT group_concat(ids || ':' || hex(block), ' ') FROM processed")
              .getString() == "2:07652D6F6C642D310161E0D40307652D6F6C642D320161C0A907");
  }
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  const auto result = verify_chain(reader);
  CHECK(result.intact);
  CHECK(result.rows == 3);
}

TEST_CASE("a version 6 database gets confirmations keyed by incident, unit and id, chain intact",
          "[verify][store]") {
  TempDir dir{"incidentd-verify"};
  const std::string path = dir.file("v6.db");
  {
    // The schema as version 6 left it: confirmations keyed by confirmation_id alone.
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(R"sql(
CREATE TABLE incidents (incident_key TEXT PRIMARY KEY, level TEXT NOT NULL, drill INTEGER NOT NULL,
  closed INTEGER NOT NULL, opened_at INTEGER NOT NULL, clock_start INTEGER, closed_at INTEGER,
  title TEXT NOT NULL, lead_unit TEXT NOT NULL, state TEXT NOT NULL, updated_seq INTEGER NOT NULL);
CREATE INDEX incidents_open ON incidents(incident_key) WHERE closed = 0;
CREATE TABLE deadlines (incident_key TEXT NOT NULL REFERENCES incidents(incident_key)
  ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED, milestone TEXT NOT NULL,
  round INTEGER NOT NULL, at INTEGER NOT NULL, action TEXT NOT NULL, level INTEGER NOT NULL,
  due INTEGER NOT NULL);
CREATE INDEX deadlines_at ON deadlines(at);
CREATE INDEX deadlines_incident ON deadlines(incident_key);
CREATE TABLE confirmations (confirmation_id TEXT PRIMARY KEY, incident_key TEXT NOT NULL,
  milestone TEXT NOT NULL, unit TEXT NOT NULL, released_at INTEGER NOT NULL, channel TEXT NOT NULL,
  url TEXT NOT NULL, speaker TEXT NOT NULL, via TEXT NOT NULL);
CREATE INDEX confirmations_incident ON confirmations(incident_key);
CREATE TABLE acknowledgements (id INTEGER PRIMARY KEY, incident_key TEXT NOT NULL,
  recipient TEXT NOT NULL, at INTEGER NOT NULL, via TEXT NOT NULL);
CREATE INDEX acknowledgements_incident ON acknowledgements(incident_key);
CREATE TABLE timeline (seq INTEGER PRIMARY KEY AUTOINCREMENT, incident_key TEXT NOT NULL,
  at INTEGER NOT NULL, action TEXT NOT NULL, milestone TEXT, body TEXT NOT NULL, prev_hash TEXT,
  hash TEXT);
CREATE INDEX timeline_incident ON timeline(incident_key, seq);
CREATE TABLE outbox (notification_id TEXT PRIMARY KEY, incident_key TEXT NOT NULL,
  recipient TEXT NOT NULL, unit TEXT NOT NULL, channel TEXT NOT NULL, level INTEGER,
  body TEXT NOT NULL, created_at INTEGER NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, delivered_at INTEGER,
  last_error TEXT);
CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE state = 'pending';
CREATE TABLE used_links (link_id TEXT PRIMARY KEY, incident_key TEXT NOT NULL,
  used_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE reply_codes (phone TEXT NOT NULL, code TEXT NOT NULL, incident_key TEXT NOT NULL,
  recipient TEXT NOT NULL, unit TEXT NOT NULL, milestone TEXT, round INTEGER NOT NULL,
  notification_id TEXT NOT NULL, issued_at INTEGER NOT NULL, PRIMARY KEY (phone, code))
  WITHOUT ROWID;
CREATE UNIQUE INDEX reply_codes_incident ON reply_codes(phone, incident_key);
CREATE INDEX reply_codes_code ON reply_codes(code);
CREATE TABLE processed (seq INTEGER PRIMARY KEY, ids INTEGER NOT NULL, block BLOB NOT NULL);
INSERT INTO confirmations VALUES
  ('rel-0001', 'a', 'first_release', 'zhaotong-gov', 9600000, 'weibo', 'https://example.org/1',
   'principal', 'kafka'),
  ('rel-0002', 'b', 'first_release', 'prov-cac', 9700000, '', '', '', 'http');
PRAGMA user_version = 6;
)sql");
    // Two chained rows, as version 6 wrote them.
    SQLite::Statement insert(raw,
                             "INSERT INTO timeline(seq, incident_key, at, action, milestone, body, "
                             "prev_hash, hash) VALUES (?, ?, ?, 'release_confirmed', "
                             "'first_release', ?, ?, ?)");
    std::string prev(kGlobalGenesisHashV1);
    for (const auto& [seq, key] : {std::pair<int, const char*>{1, "a"}, {2, "b"}}) {
      TimelineRow row;
      row.seq = seq;
      row.incident_key = key;
      row.at_ms = 9600000 + seq;
      row.action = "release_confirmed";
      row.milestone = "first_release";
      row.body = R"({"action":"release_confirmed"})";
      const std::string hash = chain_hash_v1(prev, row.seq, row.incident_key, row.at_ms, row.action,
                                             &*row.milestone, row.body);
      insert.reset();
      insert.bind(1, seq);
      insert.bind(2, key);
      insert.bind(3, row.at_ms);
      insert.bind(4, row.body);
      insert.bind(5, prev);
      insert.bind(6, hash);
      insert.exec();
      prev = hash;
    }
  }
  {
    SqliteStore writer(path);
    CHECK(writer.schema_version() == SqliteStore::kSchemaVersion);
    CHECK(writer.count("confirmations") == 2);
    const auto kept = writer.find_confirmation("a", "zhaotong-gov", "rel-0001");
    REQUIRE(kept);
    CHECK(kept->milestone == Milestone::first_release);
    CHECK(kept->released_at == TimePoint(std::chrono::milliseconds(9600000)));
    CHECK(kept->channel == "weibo");
    CHECK(kept->url == "https://example.org/1");
    CHECK(kept->speaker == "principal");
    CHECK(kept->via == "kafka");
    CHECK(writer.find_confirmation("b", "prov-cac", "rel-0002"));
    CHECK_FALSE(writer.find_confirmation("b", "zhaotong-gov", "rel-0002"));
    CHECK_FALSE(writer.find_confirmation("a", "zhaotong-gov", "rel-0002"));

    // Another unit's rel-0001 on the same incident, and rel-0001 on another incident: both new.
    Changeset more = changes({opened("c", 200)});
    Confirmation c;
    c.confirmation_id = "rel-0001";
    c.incident_key = "a";
    c.unit = "prov-emergency";
    c.released_at = TimePoint(std::chrono::minutes(170));
    c.via = "kafka";
    more.confirmations.push_back(c);
    c.incident_key = "b";
    more.confirmations.push_back(c);
    writer.commit(more);
    CHECK(writer.count("confirmations") == 4);
    // The same triple again still fails the commit: the key is the identity.
    Changeset again;
    again.confirmations.push_back(c);
    CHECK_THROWS_WITH(writer.commit(again), Contains("UNIQUE constraint failed"));
  }
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  const auto result = verify_chain(reader);
  CHECK(result.intact);
  CHECK(result.rows == 3);
}

}  // namespace
