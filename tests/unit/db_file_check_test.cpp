// The database file's two checks (docs/reliability.md, "A damaged database file"): before a start,
// what a start reads and the damage mark; after it, the whole file on a thread of its own.
#include "store/db_file_check.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "store/sqlite_store.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace incidentd;
using Catch::Matchers::Contains;
using incidentd::testing::TempDir;

// A database of this build whose last pages are the timeline's (rows written after the rest),
// copied back into the file: one file, no WAL.
void make_database(const std::string& path) {
  { SqliteStore store(path); }
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  SQLite::Transaction tx(db);
  SQLite::Statement insert(db,
                           "INSERT INTO timeline(incident_key, at, action, body) "
                           "VALUES ('k', ?, 'warning', ?)");
  for (int i = 0; i < 2000; ++i) {
    insert.reset();
    insert.bind(1, i);
    insert.bind(2, std::string(500, static_cast<char>('a' + i % 26)));
    insert.exec();
  }
  tx.commit();
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

// The last page of the file overwritten with bytes no b-tree page has.
void damage_last_page(const std::string& path) {
  int page_size = 0;
  {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    page_size = db.execAndGet("PRAGMA page_size").getInt();
  }
  const auto size = std::filesystem::file_size(path);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(size) - page_size);
  const std::string garbage(static_cast<std::size_t>(page_size), '\x7f');
  f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
}

std::optional<DatabaseFileProblem> check_whole(const std::string& path) {
  // Catch2's assertions belong to the test's thread: the check's thread only hands over.
  std::promise<std::optional<DatabaseFileProblem>> result;
  FullFileCheck check(path, [&](std::optional<DatabaseFileProblem> problem, double) {
    result.set_value(std::move(problem));
  });
  return result.get_future().get();
}

TEST_CASE("damage in the history passes the start's check and the whole-file check finds it",
          "[db-file-check]") {
  TempDir dir{"incidentd-file-check"};
  const std::string path = dir.file("incidentd.db");
  make_database(path);
  CHECK_FALSE(check_database_file(path, false));
  CHECK_FALSE(check_whole(path));

  damage_last_page(path);
  CHECK_FALSE(check_database_file(path, false));  // a start reads none of the timeline
  const auto found = check_whole(path);
  REQUIRE(found);
  CHECK_THAT(found->message, Contains("database " + path + " "));
  CHECK_THAT(found->message, Contains("restore it from a backup"));
}

TEST_CASE("a damage mark refuses the file at the start until it is removed", "[db-file-check]") {
  TempDir dir{"incidentd-file-check"};
  const std::string path = dir.file("incidentd.db");
  make_database(path);
  const std::string found = "database " + path + " is damaged: PRAGMA quick_check found 1 problem";
  REQUIRE(mark_database_damaged(path, {found}));
  CHECK(damage_mark_path(path) == path + "-damaged");
  const auto refused = check_database_file(path, false);
  REQUIRE(refused);
  CHECK_THAT(refused->message, Contains("database " + path + " is marked damaged"));
  CHECK_THAT(refused->message, Contains(found));
  CHECK_THAT(refused->message, Contains("remove " + path + "-damaged"));
  // Also in place of a file that is gone: a new database would forget every open incident.
  std::filesystem::remove(path);
  CHECK(check_database_file(path, true));
  std::filesystem::remove(damage_mark_path(path));
  CHECK_FALSE(check_database_file(path, true));
}

}  // namespace
