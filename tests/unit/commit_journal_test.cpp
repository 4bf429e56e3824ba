// A cluster member's commit journal (docs/cluster.md, "Commits the topic never got"): each commit
// of the engine and of the dispatcher keeps its undo, numbered; commits whose records were read
// back from the topic are forgotten; the rest are undone newest first, leaving the file exactly
// as it was after the last published commit, deadlines included, and naming the acknowledgements
// and confirmations taken back.
#include "store/sqlite_store.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "incidentd/engine.hpp"
#include "support/engine_harness.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace std::chrono_literals;

using namespace incidentd;           // NOLINT(google-build-using-namespace)
using namespace incidentd::testing;  // NOLINT(google-build-using-namespace)

const std::string kInstance = "incidentd-a";

// Every row of the tables a commit writes, as text, table by table (the journal's own left out).
std::map<std::string, std::vector<std::string>> rows_of(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  std::map<std::string, std::vector<std::string>> out;
  for (const char* table : {"incidents", "deadlines", "timeline", "outbox", "processed",
                            "confirmations", "acknowledgements", "incident_figures"}) {
    SQLite::Statement q(db, std::string("SELECT * FROM ") + table + " ORDER BY 1, 2");
    auto& rows = out[table];
    while (q.executeStep()) {
      std::string row;
      for (int i = 0; i < q.getColumnCount(); ++i) {
        row.append(q.getColumn(i).isNull() ? "NULL" : q.getColumn(i).getString()).append("|");
      }
      rows.push_back(row);
    }
  }
  return out;
}

// The engine over the daemon's store with the journal on, as a cluster member runs it.
struct Member {
  explicit Member(const std::string& path) : store(path), time(kStart) {
    store.keep_commit_journal();
    engine.emplace(config, store, time);
  }
  Config config = roster_config();
  SqliteStore store;
  VirtualTime time;
  std::optional<Engine> engine;
};

}  // namespace

TEST_CASE("a commit journal undoes unpublished commits back to the last published one",
          "[store][cluster]") {
  TempDir dir{"incidentd-journal"};
  const std::string path = dir.file("a.db");
  std::int64_t published = 0;
  std::map<std::string, std::vector<std::string>> after_published;
  {
    Member a(path);
    a.engine->handle(event("e1", "inc-1", Level::II, {"a"}, at(0h)));
    a.engine->flush();
    published = a.store.last_commit_seq();
    REQUIRE(published > 0);
    after_published = rows_of(path);

    // Then, never published: the 2 h warning, an acknowledgement through the API, a second
    // incident, and a confirmation through the API.
    a.time.advance_to(at(2h + 1min));
    a.engine->flush();
    Acknowledgement by_api = ack("inc-1", "a-duty1", at(2h + 2min));
    by_api.via = "http";
    a.time.advance_to(by_api.at);
    a.engine->handle(by_api);
    a.engine->handle(event("e2", "inc-2", Level::I, {"b"}, at(2h + 3min)));
    Confirmation released =
        confirmation("c1", "inc-1", Milestone::first_release, "a", at(2h + 4min));
    released.via = "http";
    a.time.advance_to(released.released_at);
    a.engine->handle(released);
    a.engine->flush();
    CHECK(a.store.last_commit_seq() > published);
    CHECK(rows_of(path) != after_published);
  }
  SqliteStore store(path, SqliteStore::Mode::replica);
  const auto pending = store.commit_journal_pending();
  CHECK(pending.commits >= 2);
  CHECK(pending.first <= published);

  const JournalRollback undone = store.roll_back_commits_after(published);
  CHECK(undone.commits == pending.commits - 1);
  CHECK(undone.conflicts == 0);
  CHECK(rows_of(path) == after_published);
  CHECK(undone.incidents == std::vector<std::string>{"inc-1", "inc-2"});
  REQUIRE(undone.acknowledgements.size() == 1);
  CHECK(undone.acknowledgements[0].recipient == "a-duty1");
  CHECK(undone.acknowledgements[0].via == "http");
  CHECK(undone.acknowledgements[0].at == at(2h + 2min));
  REQUIRE(undone.confirmations.size() == 1);
  CHECK(undone.confirmations[0].confirmation_id == "c1");
  CHECK(undone.confirmations[0].milestone == Milestone::first_release);
  CHECK(undone.confirmations[0].via == "http");
  CHECK(store.commit_journal_pending().commits == 0);

  // The file carries on: a new engine loads the published state and its next commit is numbered
  // after every number used before (records carry it).
  Member again(path);
  CHECK(again.engine->open_incidents() == 1);
  again.time.advance_to(at(2h + 10min));
  again.engine->flush();
  CHECK(again.store.last_commit_seq() > pending.last);
}

TEST_CASE("own records read back from the topic are forgotten by the journal", "[store][cluster]") {
  TempDir dir{"incidentd-journal"};
  const std::string path = dir.file("a.db");
  Member a(path);
  a.engine->handle(event("e1", "inc-1", Level::II, {"a"}, at(0h)));
  a.engine->flush();
  const std::int64_t first = a.store.last_commit_seq();
  a.engine->handle(event("e2", "inc-2", Level::II, {"b"}, at(0h)));
  a.engine->flush();
  const std::int64_t second = a.store.last_commit_seq();
  REQUIRE(second > first);

  SqliteStore applier(path, SqliteStore::Mode::replica);
  applier.replica_log(kInstance)->own_records_published(first);
  const auto pending = applier.commit_journal_pending();
  CHECK(pending.commits == 1);
  CHECK(pending.first == second);
  // Nothing left to undo past the last published commit.
  CHECK(applier.roll_back_commits_after(second).commits == 0);
}

TEST_CASE("one instance keeps no commit journal", "[store][cluster]") {
  TempDir dir{"incidentd-journal"};
  const std::string path = dir.file("a.db");
  SqliteStore store(path);
  VirtualTime time(kStart);
  const Config config = roster_config();
  Engine engine(config, store, time);
  engine.handle(event("e1", "inc-1", Level::II, {"a"}, at(0h)));
  engine.flush();
  CHECK(store.last_commit_seq() == 0);
  CHECK(store.commit_journal_pending().commits == 0);
}
