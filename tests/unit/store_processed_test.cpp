// SqliteStore::is_processed answers new ids from an in-memory filter (no query per event): the
// answers must stay exactly those of the processed table — after commits, after a failed commit,
// after a reopen, past the size the filter was built for, and when another connection writes.
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "store/sqlite_store.hpp"
#include "support/temp_dir.hpp"

namespace incidentd {
namespace {

using testing::TempDir;

namespace fs = std::filesystem;

Changeset processed(const std::vector<std::string>& ids) {
  Changeset c;
  for (const auto& id : ids) c.processed.push_back({id, "k", TimePoint{}});
  return c;
}

std::vector<std::string> ids(const std::string& prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

TEST_CASE("is_processed knows every committed id and no other", "[store][sqlite]") {
  TempDir dir{"incidentd-processed-test"};
  const std::string path = dir.file("incidentd.db");
  {
    SqliteStore store(path);
    store.commit(processed(ids("e", 0, 1000)));
    for (const auto& id : ids("e", 0, 1000)) REQUIRE(store.is_processed(id));
    for (const auto& id : ids("f", 0, 1000)) REQUIRE_FALSE(store.is_processed(id));

    // A commit that fails leaves its ids unprocessed.
    auto bad = processed({"g1", "g2", "e5"});
    CHECK_THROWS_AS(store.commit(bad), StoreError);
    CHECK_FALSE(store.is_processed("g1"));
    CHECK_FALSE(store.is_processed("g2"));
  }
  // Reopened: the filter is built from the table.
  SqliteStore store(path);
  for (const auto& id : ids("e", 0, 1000)) REQUIRE(store.is_processed(id));
  CHECK_FALSE(store.is_processed("g1"));
  CHECK_FALSE(store.is_processed("f7"));
}

TEST_CASE("processed ids are kept byte for byte, one row per commit", "[store][sqlite]") {
  TempDir dir{"incidentd-processed-test"};
  const std::string path = dir.file("incidentd.db");
  // A NUL, a newline, bytes that are not UTF-8, and ids long enough for two-byte lengths.
  const std::vector<std::string> odd = {std::string("nul\0inside", 10), "line\nbreak", "\xff\xfe",
                                        std::string(200, 'x'), std::string(20000, 'y')};
  {
    SqliteStore store(path);
    store.commit(processed(odd));
    store.commit(processed(ids("e", 0, 500)));
    store.commit(Changeset{});  // nothing processed: no row
  }
  SqliteStore store(path);
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  for (const auto& id : odd) {
    CHECK(store.is_processed(id));
    CHECK(reader.is_processed(id));
  }
  CHECK_FALSE(store.is_processed("nul"));
  CHECK_FALSE(store.is_processed(std::string(199, 'x')));
  CHECK_FALSE(reader.is_processed(std::string(20001, 'y')));
  CHECK(store.count("processed") == odd.size() + 500);
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  CHECK(raw.execAndGet("SELECT COUNT(*) FROM processed").getInt() == 2);
}

TEST_CASE("a damaged block of processed ids stops the store from opening, saying so",
          "[store][sqlite]") {
  TempDir dir{"incidentd-processed-test"};
  const std::string path = dir.file("incidentd.db");
  { SqliteStore store(path); }
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    // An id said to be 5 bytes long, with 3 left in the block.
    raw.exec("INSERT INTO processed(ids, block) VALUES (1, X'05616263')");
  }
  CHECK_THROWS_WITH(SqliteStore(path), Catch::Contains(path) && Catch::Contains("damaged block"));
}

TEST_CASE("is_processed stays exact past the size its filter was built for", "[store][sqlite]") {
  TempDir dir{"incidentd-processed-test"};
  SqliteStore store(dir.file("incidentd.db"));
  // The first filter is sized for a million ids; this goes past it, so it is rebuilt larger.
  constexpr int kBatches = 21;  // 1,050,000 ids
  constexpr int kPerBatch = 50'000;
  for (int b = 0; b < kBatches; ++b) {
    store.commit(processed(ids("id-" + std::to_string(b) + "-", 0, kPerBatch)));
  }
  CHECK(store.count("processed") == static_cast<std::size_t>(kBatches * kPerBatch));
  for (int b = 0; b < kBatches; b += 7) {
    for (const auto& id : ids("id-" + std::to_string(b) + "-", 0, kPerBatch)) {
      REQUIRE(store.is_processed(id));
    }
  }
  int false_answers = 0;
  for (const auto& id : ids("other-", 0, 10'000)) false_answers += store.is_processed(id) ? 1 : 0;
  CHECK(false_answers == 0);
}

TEST_CASE("is_processed sees what another connection committed once this one commits",
          "[store][sqlite]") {
  TempDir dir{"incidentd-processed-test"};
  const std::string path = dir.file("incidentd.db");
  SqliteStore store(path);
  store.commit(processed({"mine-1"}));
  {
    SQLite::Database other(path, SQLite::OPEN_READWRITE);
    // One block (schema version 6): "theirs-1" and "k", each after its length, then at = 0.
    other.exec("INSERT INTO processed(ids, block) VALUES (1, X'087468656972732D31016B00')");
  }
  // Our next commit notices the other writer (PRAGMA data_version) and rebuilds the filter.
  store.commit(processed({"mine-2"}));
  CHECK(store.is_processed("theirs-1"));
  CHECK(store.is_processed("mine-1"));
  CHECK(store.is_processed("mine-2"));
  // An id the other writer processed can never be committed twice: the whole commit fails.
  CHECK_THROWS_AS(store.commit(processed({"mine-3", "theirs-1"})), StoreError);
  CHECK_FALSE(store.is_processed("mine-3"));
}

TEST_CASE("a read-only store asks the table, so it sees the writer's commits at once",
          "[store][sqlite]") {
  TempDir dir{"incidentd-processed-test"};
  const std::string path = dir.file("incidentd.db");
  SqliteStore writer(path);
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  CHECK_FALSE(reader.is_processed("e1"));
  writer.commit(processed({"e1"}));
  CHECK(reader.is_processed("e1"));
}

}  // namespace
}  // namespace incidentd
