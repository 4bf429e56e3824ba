// SqliteStore copies its WAL back into the database file on a thread of its own, so a commit does
// not pay for it; when that thread cannot keep up (or there is none), the commit does it. Either
// way the WAL stays bounded under commits that never stop, and nothing committed is lost.
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "store/sqlite_store.hpp"
#include "support/temp_dir.hpp"

namespace incidentd {
namespace {

using testing::TempDir;

namespace fs = std::filesystem;

constexpr int kCommits = 120;
constexpr int kIdsPerCommit = 2000;
constexpr std::uintmax_t kFrameBytes = 24 + 4096;  // a WAL frame: its header and one page

// About 30 pages of WAL: one block of processed ids with 60-byte ids.
Changeset commit_number(int n) {
  Changeset c;
  const std::string padding(48, 'x');
  for (int i = 0; i < kIdsPerCommit; ++i) {
    c.processed.push_back(
        {padding + std::to_string(n) + "-" + std::to_string(i), "k", TimePoint{}});
  }
  return c;
}

// Commits kCommits blocks; `between` runs after each commit. Returns the WAL file's largest size.
template <typename Between>
std::uintmax_t commit_all(SqliteStore& store, const std::string& path, Between between) {
  std::uintmax_t largest = 0;
  for (int n = 0; n < kCommits; ++n) {
    store.commit(commit_number(n));
    between();
    largest = std::max(largest, fs::file_size(path + "-wal"));
  }
  return largest;
}

std::size_t processed_in(const std::string& path) {
  SqliteStore reader(path, SqliteStore::Mode::read_only);
  return reader.count("processed");
}

TEST_CASE("the store's own thread checkpoints the WAL, which stays bounded", "[store][sqlite]") {
  TempDir dir{"incidentd-wal-test"};
  const std::string path = dir.file("incidentd.db");
  const WalCheckpoints when{.background_after = 64, .foreground_after = 1 << 30};
  {
    SqliteStore store(path, SqliteStore::Mode::read_write, when);
    // Waiting for the thread after each commit: the next commit finds the WAL copied back and
    // starts it over, as a live daemon does when its thread keeps up.
    const auto largest = commit_all(store, path, [&store] { store.wal_checkpoints(true); });
    const auto counts = store.wal_checkpoints(true);
    CHECK(counts.background >= 10);
    CHECK(counts.foreground == 0);
    // Never checkpointed, the WAL would hold every commit: about 3,600 pages.
    CHECK(largest < 400 * kFrameBytes);
    CHECK(store.count("processed") == std::size_t{kCommits} * kIdsPerCommit);
  }
  CHECK(processed_in(path) == std::size_t{kCommits} * kIdsPerCommit);
}

TEST_CASE("without the thread, a commit checkpoints the WAL itself", "[store][sqlite]") {
  TempDir dir{"incidentd-wal-test"};
  const std::string path = dir.file("incidentd.db");
  const WalCheckpoints when{.background_after = 0, .foreground_after = 64};
  {
    SqliteStore store(path, SqliteStore::Mode::read_write, when);
    const auto largest = commit_all(store, path, [] {});
    const auto counts = store.wal_checkpoints(true);
    CHECK(counts.background == 0);
    CHECK(counts.foreground >= 10);
    CHECK(largest < 400 * kFrameBytes);
  }
  CHECK(processed_in(path) == std::size_t{kCommits} * kIdsPerCommit);
}

TEST_CASE("deferred commits skip the disk's wait until make_durable, and stay readable",
          "[store][sqlite]") {
  TempDir dir{"incidentd-wal-test"};
  const std::string path = dir.file("incidentd.db");
  SqliteStore store(path);
  CHECK(store.commits_wait_for_disk());
  store.defer_durability(true);
  CHECK_FALSE(store.commits_wait_for_disk());
  store.commit(commit_number(1));
  CHECK(processed_in(path) == kIdsPerCommit);  // committed: other connections see it
  REQUIRE(fs::exists(path + "-wal"));
  store.make_durable();
  store.defer_durability(false);
  CHECK(store.commits_wait_for_disk());
  store.commit(commit_number(2));
  CHECK(processed_in(path) == 2 * kIdsPerCommit);
}

TEST_CASE("make_durable of a store whose WAL cannot be opened fails with StoreError",
          "[store][sqlite]") {
  TempDir dir{"incidentd-wal-test"};
  const std::string path = dir.file("incidentd.db");
  SqliteStore store(path);
  store.commit(commit_number(1));
  // A symbolic link to itself where the WAL file was (ELOOP, even for root): not ENOENT, which
  // would mean "nothing to sync".
  fs::rename(path + "-wal", path + "-wal.moved");
  fs::create_symlink(path + "-wal", path + "-wal");
  CHECK_THROWS_AS(store.make_durable(), StoreError);
  fs::remove(path + "-wal");
  fs::rename(path + "-wal.moved", path + "-wal");
  CHECK_NOTHROW(store.make_durable());
}

TEST_CASE("the dispatcher's records do not wait for the disk, and leave the connection as it was",
          "[store][sqlite]") {
  TempDir dir{"incidentd-wal-test"};
  const std::string path = dir.file("incidentd.db");
  SqliteStore store(path);
  OutboxUpdate result;
  result.notification_id = "n-unknown";  // no such row: applies nothing, still a transaction
  result.state = DeliveryState::delivered;
  CHECK(store.record_outbox({result}) == std::vector<bool>{false});
  CHECK(store.commits_wait_for_disk());  // the next input's commit waits for the disk again
  store.defer_durability(true);
  store.record_outbox({result});
  CHECK_FALSE(store.commits_wait_for_disk());  // a caller's own deferral is kept
  store.defer_durability(false);
  CHECK(store.commits_wait_for_disk());
}

}  // namespace
}  // namespace incidentd
