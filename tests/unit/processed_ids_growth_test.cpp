// ProcessedIds grows in steps (a table twice the size filled a few slots per add) instead of
// rehashing everything at once: across several steps, after removals made while a step is under
// way, and after a rebuild from the table, every id added is found and no other id is.
#include "store/processed_ids.hpp"

#include <cstddef>
#include <set>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "store/sqlite_store.hpp"
#include "support/temp_dir.hpp"

namespace incidentd {
namespace {

std::string id_of(std::size_t i) {
  return "evt-" + std::to_string(i);
}

// Every id in [0, n) but those in `removed` is there, and none of [n, 2n).
void check_exact(const ProcessedIds& ids, std::size_t n,
                 const std::set<std::size_t>& removed = {}) {
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (ids.contains(id_of(i)) == (removed.count(i) != 0)) ++wrong;
  }
  for (std::size_t i = n; i < 2 * n; ++i) {
    if (ids.contains(id_of(i))) ++wrong;
  }
  REQUIRE(wrong == 0);
}

TEST_CASE("the processed-id set stays exact across several growth steps", "[store]") {
  ProcessedIds ids;
  std::size_t steps = 0;
  std::size_t checked_during_steps = 0;
  bool was_growing = false;
  const std::size_t n = 100'000;  // from 4,096 slots: five steps
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(ids.add(id_of(i)));
    REQUIRE_FALSE(ids.add(id_of(i)));
    if (ids.growing_for_test() && !was_growing) {
      ++steps;
      // Half-moved: the ids are spread over both tables.
      check_exact(ids, i + 1);
      ++checked_during_steps;
    }
    was_growing = ids.growing_for_test();
  }
  CHECK(steps >= 5);
  CHECK(checked_during_steps == steps);
  CHECK(ids.size() == n);
  check_exact(ids, n);
}

TEST_CASE("ids taken back while the set grows stay out and can come back", "[store]") {
  ProcessedIds ids;
  std::set<std::size_t> removed;
  std::size_t removed_while_growing = 0;
  const std::size_t n = 50'000;
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(ids.add(id_of(i)));
    if (i % 97 == 0) {
      ids.remove(id_of(i));
      removed.insert(i);
      if (ids.growing_for_test()) ++removed_while_growing;
    }
  }
  CHECK(removed_while_growing > 0);
  CHECK(ids.size() == n - removed.size());
  check_exact(ids, n, removed);
  for (const std::size_t i : removed) REQUIRE(ids.add(id_of(i)));
  check_exact(ids, n);
}

TEST_CASE("a rebuilt set holds the table's ids sized ahead and grows on from there",
          "[store][sqlite]") {
  testing::TempDir dir{"incidentd-processed-growth-test"};
  const std::string path = dir.file("incidentd.db");
  const std::size_t stored = 20'000;
  {
    SqliteStore store(path);
    for (std::size_t from = 0; from < stored; from += 5'000) {
      Changeset c;
      for (std::size_t i = from; i < from + 5'000; ++i) c.processed.push_back({id_of(i), "k", {}});
      store.commit(c);
    }
  }
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  ProcessedIds ids;
  REQUIRE(ids.add("left over"));
  ids.rebuild(db, "test", path);
  CHECK_FALSE(ids.contains("left over"));
  CHECK(ids.size() == stored);
  // Sized from the count: no step was needed to hold them.
  CHECK_FALSE(ids.growing_for_test());
  CHECK(ids.capacity_for_test() >= 2 * stored);
  check_exact(ids, stored);

  const std::size_t capacity = ids.capacity_for_test();
  for (std::size_t i = stored; i < 4 * stored; ++i) REQUIRE(ids.add(id_of(i)));
  CHECK(ids.capacity_for_test() > capacity);
  check_exact(ids, 4 * stored);
}

}  // namespace
}  // namespace incidentd
