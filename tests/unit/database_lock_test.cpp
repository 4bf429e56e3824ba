// One daemon per database file: a second lock on the same database is refused with a message
// naming the database, the lock file and the holder's pid, and the lock comes free when its
// holder lets go, or dies however it dies (SIGKILL included).
#include "store/database_lock.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"

namespace incidentd {
namespace {

using testing::TempDir;

std::string refusal(const std::string& database) {
  try {
    DatabaseLock second(database);
  } catch (const DatabaseLocked& e) {
    return e.what();
  }
  return {};
}

TEST_CASE("a second lock on one database is refused, naming the file and the holder's pid",
          "[database_lock]") {
  TempDir dir;
  const std::string db = dir.file("incidentd.db");
  std::optional<DatabaseLock> first(std::in_place, db);
  CHECK(first->path() == db + ".lock");
  const std::string message = refusal(db);
  REQUIRE_FALSE(message.empty());
  CHECK_THAT(message, Catch::Contains("database " + db + " is in use by another incidentd"));
  CHECK_THAT(message, Catch::Contains("pid " + std::to_string(::getpid())));
  CHECK_THAT(message, Catch::Contains(db + ".lock"));

  first.reset();
  CHECK_NOTHROW(DatabaseLock{db});
  // The file stays behind (removing it would race a waiting locker); it locks again all the same.
  CHECK(std::filesystem::exists(db + ".lock"));
}

TEST_CASE("two databases in one directory lock independently", "[database_lock]") {
  TempDir dir;
  DatabaseLock a(dir.file("a.db"));
  CHECK_NOTHROW(DatabaseLock{dir.file("b.db")});
}

TEST_CASE("a lock whose directory is missing fails with the path and the reason",
          "[database_lock]") {
  TempDir dir;
  const std::string db = dir.file("missing/incidentd.db");
  try {
    DatabaseLock lock(db);
    FAIL("locked a file in a directory that does not exist");
  } catch (const DatabaseLocked&) {
    FAIL("a missing directory was reported as another daemon");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(db + ".lock"));
    CHECK_THAT(e.what(), Catch::Contains("No such file or directory"));
  }
}

TEST_CASE("a lock held by a process killed with SIGKILL is free again", "[database_lock]") {
  TempDir dir;
  const std::string db = dir.file("incidentd.db");
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(ready[0]);
    try {
      DatabaseLock lock(db);
      const char byte = 1;
      if (::write(ready[1], &byte, 1) != 1) ::_exit(3);
      for (;;) ::pause();  // until SIGKILL
    } catch (...) {
      ::_exit(2);
    }
  }
  ::close(ready[1]);
  char byte = 0;
  const bool locked = ::read(ready[0], &byte, 1) == 1;
  ::close(ready[0]);
  if (!locked) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    FAIL("the child process could not take the lock");
  }
  CHECK_THAT(refusal(db), Catch::Contains("pid " + std::to_string(child)));
  REQUIRE(::kill(child, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));
  CHECK_NOTHROW(DatabaseLock{db});
  // The pid in the file is the new holder's now.
  DatabaseLock again(db);
  std::ifstream in(db + ".lock");
  std::string pid;
  in >> pid;
  CHECK(pid == std::to_string(::getpid()));
}

}  // namespace
}  // namespace incidentd
