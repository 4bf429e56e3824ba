#include "store/db_file_check.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include "service/thread_name.hpp"

namespace incidentd {
namespace {

constexpr std::string_view kMagic{"SQLite format 3\0", 16};  // https://sqlite.org/fileformat.html
constexpr std::size_t kHeaderBytes = 100;
// As the store waits for a lock: another reader (a backup, incidentctl, a test) may be running
// the WAL's recovery after a crash when the daemon starts.
constexpr int kBusyTimeoutMs = 5000;

const char* const kRestore =
    "stop and restore it from a backup (look at a copy first with `incidentctl check-db "
    "--database FILE` and `incidentctl verify --database FILE`); do not delete it: a new "
    "database would forget every open incident and its clock";

std::uint32_t big_endian(const std::array<unsigned char, kHeaderBytes>& h, std::size_t at,
                         std::size_t bytes) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i) v = (v << 8) | h[at + i];
  return v;
}

DatabaseFileProblem problem(const std::string& path, const std::string& what,
                            const std::string& todo = kRestore) {
  return {"database " + path + " " + what + "; " + todo};
}

// The file's first 100 bytes against its size: an SQLite file at all, a sane page size, and as
// long as its header says (unless a WAL with frames lies beside it).
std::optional<DatabaseFileProblem> check_header(const std::string& path, std::uintmax_t size,
                                                std::uintmax_t wal) {
  std::array<unsigned char, kHeaderBytes> header{};
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return problem(path, std::string("cannot be opened: ") + std::strerror(errno));
    in.read(reinterpret_cast<char*>(header.data()), static_cast<std::streamsize>(header.size()));
    if (static_cast<std::size_t>(in.gcount()) < kMagic.size() ||
        std::memcmp(header.data(), kMagic.data(), kMagic.size()) != 0) {
      return problem(path, "is not an SQLite database (it does not begin with \"SQLite format 3\")",
                     "check `database` in the configuration, or --database; if it is the right "
                     "file, it was overwritten: restore it from a backup");
    }
    if (static_cast<std::size_t>(in.gcount()) < header.size()) {
      return problem(
          path, "is truncated: " + std::to_string(size) + " bytes, shorter than an SQLite header");
    }
  }
  // The page size (1 stands for 65536) and, when the header's count is current (its "version
  // valid for" equals the change counter), the number of pages.
  std::uint32_t page_size = big_endian(header, 16, 2);
  if (page_size == 1) page_size = 65536;
  const std::uint32_t pages = big_endian(header, 28, 4);
  const bool count_valid = big_endian(header, 92, 4) == big_endian(header, 24, 4);
  if (page_size < 512 || (page_size & (page_size - 1)) != 0) {
    return problem(path, "has a damaged header (page size " + std::to_string(page_size) + ")");
  }
  // A WAL with frames may hold pages the file has not received yet (a checkpoint cut short):
  // then the size says nothing and quick_check, which reads through the WAL, decides.
  if (wal == 0 && (size % page_size != 0 ||
                   (count_valid && static_cast<std::uintmax_t>(pages) * page_size > size))) {
    return problem(path, "is truncated: " + std::to_string(size) + " bytes, its header says " +
                             std::to_string(pages) + " pages of " + std::to_string(page_size) +
                             " bytes (" +
                             std::to_string(static_cast<std::uintmax_t>(pages) * page_size) + ")");
  }

  return std::nullopt;
}

// The tables a start reads in full: the snapshots (every open incident), the processed ids and
// the runs, with their indexes. The timeline and the outbox, nearly all of a large file, wait for
// FullFileCheck.
constexpr const char* kStartTables[] = {"incidents", "processed", "daemon_runs",
                                        "source_heartbeat"};

bool interrupted(const SQLite::Exception& e) {
  return (e.getErrorCode() & 0xff) == SQLITE_INTERRUPT;
}

// PRAGMA quick_check, through the WAL, on `db`: of the whole file (`table` empty) or of one
// table and its indexes. Returns its problems' count and the first.
std::pair<int, std::string> quick_check(SQLite::Database& db, const std::string& table) {
  SQLite::Statement check(db, table.empty() ? std::string("PRAGMA quick_check")
                                            : "PRAGMA quick_check(\"" + table + "\")");
  std::string first;
  int problems = 0;
  while (check.executeStep()) {
    const std::string line = check.getColumn(0).getString();
    if (line == "ok") break;
    if (problems++ == 0) first = line;
  }
  return {problems, first};
}

std::optional<DatabaseFileProblem> damaged(const std::string& path, int problems,
                                           const std::string& first) {
  if (problems == 0) return std::nullopt;
  return problem(path, "is damaged: PRAGMA quick_check found " + std::to_string(problems) +
                           " problem(s), the first: " + first);
}

std::optional<DatabaseFileProblem> unreadable(const std::string& path, const SQLite::Exception& e) {
  // A lock held past the timeout says nothing about the file: the store's open decides.
  const int primary = e.getErrorCode() & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return std::nullopt;
  return problem(path, std::string("cannot be read by SQLite: ") + e.what());
}

// SQLite's own look at the tables a start reads (those this file has).
std::optional<DatabaseFileProblem> check_start_tables(const std::string& path) {
  try {
    SQLite::Database db(path, SQLite::OPEN_READONLY, kBusyTimeoutMs);
    std::vector<std::string> present;
    SQLite::Statement tables(db, "SELECT name FROM sqlite_schema WHERE type = 'table'");
    while (tables.executeStep()) present.push_back(tables.getColumn(0).getString());
    for (const char* table : kStartTables) {
      if (std::find(present.begin(), present.end(), table) == present.end()) continue;
      const auto [problems, first] = quick_check(db, table);
      if (auto found = damaged(path, problems, first)) return found;
    }
  } catch (const SQLite::Exception& e) {
    return unreadable(path, e);
  }
  return std::nullopt;
}

// Left by FullFileCheck's caller when a running daemon found the file damaged: the next start
// refuses the file until the operator has restored it and removed the mark.
std::optional<DatabaseFileProblem> check_damage_mark(const std::string& path) {
  const std::string mark = damage_mark_path(path);
  std::error_code ec;
  if (!std::filesystem::exists(mark, ec)) return std::nullopt;
  std::ifstream in(mark);
  std::string found((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!found.empty() && (found.back() == '\n' || found.back() == '\r')) found.pop_back();
  return DatabaseFileProblem{"database " + path + " is marked damaged (" + mark +
                             ") by the whole-file check of an earlier run, which found: " + found +
                             " -- once the file is restored from a backup, remove " + mark +
                             " to start"};
}

}  // namespace

std::optional<DatabaseFileProblem> check_database_file(const std::string& path, bool allow_empty) {
  namespace fs = std::filesystem;
  if (auto marked = check_damage_mark(path)) return marked;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec && status.type() != fs::file_type::not_found) {
    return problem(path, "cannot be looked at: " + ec.message(),
                   "check the path and its permissions (`database` in the configuration, or "
                   "--database)");
  }
  if (status.type() == fs::file_type::not_found) return std::nullopt;  // a new database
  if (status.type() != fs::file_type::regular) {
    return problem(path, "is not a regular file",
                   "check `database` in the configuration, or --database");
  }
  // The WAL's size is read before the file's size and header. Another program reading the
  // database (incidentctl, a backup) copies the WAL into the file when it closes, and only then
  // deletes the WAL: read in this order, a WAL seen gone means the file was complete before its
  // size was read. Read the other way, a checkpoint between the reads made a whole file look
  // truncated (the disk_full test's restart was refused so once).
  const std::uintmax_t wal = fs::exists(path + "-wal", ec) ? fs::file_size(path + "-wal", ec) : 0;
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) return problem(path, "cannot be read: " + ec.message());
  if (size == 0) {
    if (allow_empty) return std::nullopt;
    return problem(path,
                   "is empty (0 bytes): a database that existed has been truncated, or an empty "
                   "file was left in its place",
                   "restore it from a backup; to begin an empty database on purpose, remove the "
                   "file or start once with --init");
  }

  if (auto header_problem = check_header(path, size, wal)) return header_problem;
  return check_start_tables(path);
}

std::string damage_mark_path(const std::string& path) {
  return path + "-damaged";
}

bool mark_database_damaged(const std::string& path, const DatabaseFileProblem& problem) {
  std::ofstream out(damage_mark_path(path), std::ios::trunc);
  out << problem.message << '\n';
  out.flush();
  return static_cast<bool>(out);
}

FullFileCheck::FullFileCheck(std::string path, Done done)
    : path_(std::move(path)), done_(std::move(done)), thread_([this] {
        name_this_thread("file-check");
        run();
      }) {}

FullFileCheck::~FullFileCheck() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
    if (running_ != nullptr) sqlite3_interrupt(running_);
  }
  thread_.join();
}

void FullFileCheck::run() {
  // The lowest priority for this thread alone (Linux): the clock's thread comes first.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
  const auto begin = std::chrono::steady_clock::now();
  std::optional<DatabaseFileProblem> found;
  try {
    SQLite::Database db(path_, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX, kBusyTimeoutMs);
    {
      const std::lock_guard lock(mutex_);
      if (stopping_) return;
      running_ = db.getHandle();
    }
    const auto [problems, first] = quick_check(db, "");
    {
      const std::lock_guard lock(mutex_);
      running_ = nullptr;
    }
    found = damaged(path_, problems, first);
  } catch (const SQLite::Exception& e) {
    {
      const std::lock_guard lock(mutex_);
      running_ = nullptr;
      if (stopping_ || interrupted(e)) return;
    }
    found = unreadable(path_, e);
  }
  done_(std::move(found),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count());
}

}  // namespace incidentd
