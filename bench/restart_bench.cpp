// Restart benchmark: what incidentd does at a start before it reports ready, on a large
// province's archive. Builds once (cached at --db; delete it when done) a database of --open
// incidents still open and enough closed ones before them for about --rows timeline entries
// (issue 18's "10 M timeline rows", written when every entry was a row; since schema 16 a step's
// notifications share one row, and the same archive is about a third as many rows), all
// through the real engine on a virtual clock (year_fixture.hpp), then times the daemon's start
// in the order Daemon::Parts runs it: the file check (the header and the tables a start reads;
// the whole file is checked after ready, timed apart), the store's open (schema check and
// migrations, the processed-id set), the run marker, the engine (open incidents' snapshots,
// their deadlines, the timer armed) and the catch-up of what fell due. The stages inside the
// store's open and the engine's load are timed again one by one after it, for the breakdown.
// Not measured: the Kafka subscription that READY=1 waits for after these (the broker's, not
// the store's, time). The page cache is warm (a restart, not a boot) unless --cold.
//   build/release/bench/restart_bench [--db PATH] [--open N] [--rows N] [--runs N] [--cold]
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <CLI/CLI.hpp>

#include "bench_roster.hpp"
#include "ctl/virtual_time.hpp"
#include "incidentd/engine.hpp"
#include "store/database.hpp"
#include "store/db_file_check.hpp"
#include "store/processed_ids.hpp"
#include "store/sqlite_store.hpp"
#include "year_fixture.hpp"

namespace {

using namespace incidentd;
using bench::Clock;
using bench::seconds_since;

// Timeline entries per incident of the year (report_bench's 100,000 incidents: 8.86 M entries,
// 2.84 M rows).
constexpr double kEntriesPerIncident = 88.6;

void build(const Config& config, const std::string& path, int open, long rows) {
  const int total =
      std::max(open, static_cast<int>(static_cast<double>(rows) / kEntriesPerIncident));
  const int closed = total - open;
  std::printf("building %s: %d closed incidents, then %d left open...\n", path.c_str(), closed,
              open);
  const auto begin = Clock::now();
  SqliteStore store(path);
  bench::feed_year(
      config, store, [total](int i) { return i < total; }, closed, std::chrono::seconds(1));
  std::printf("built in %.0f s\n", seconds_since(begin));
}

// Drops the file's pages from the page cache (its own pages only; no privilege needed).
void drop_cache(const std::string& path) {
  for (const std::string& p : {path, path + "-wal"}) {
    const int fd = ::open(p.c_str(), O_RDONLY);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// CPU seconds of the whole process (every thread): on a machine shared with other work the wall
// clock says little, this says what a start costs.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

struct Stages {
  double file_check = 0, store_open = 0, run_marker = 0, engine_load = 0, catch_up = 0, cpu = 0;
  std::size_t open = 0, deadlines = 0;
  double total() const { return file_check + store_open + run_marker + engine_load + catch_up; }
};

// The daemon's start up to where it waits for Kafka, then a clean stop.
Stages restart(const Config& config, const std::string& path, TimePoint now) {
  Stages s;
  const double cpu_before = cpu_seconds();
  auto t = Clock::now();
  const auto lap = [&t] {
    const double d = seconds_since(t);
    t = Clock::now();
    return d;
  };
  if (const auto problem = check_database_file(path, false)) {
    std::fprintf(stderr, "%s\n", problem->message.c_str());
    std::exit(1);
  }
  s.file_check = lap();
  SqliteStore store(path);
  s.store_open = lap();
  const auto outage = store.begin_run(now, RunLog::OutageEntries::every_open_incident);
  s.run_marker = lap();
  VirtualTime time(now);
  Engine engine(config, store, time);
  s.engine_load = lap();
  engine.run_due();
  s.catch_up = lap();
  s.cpu = cpu_seconds() - cpu_before;
  s.open = engine.open_incidents();
  s.deadlines = engine.pending_deadlines();
  if (outage) std::printf("  (the run before did not stop cleanly: outage recorded)\n");
  store.end_run(now);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("restart to ready on a large database");
  std::string db = (std::filesystem::temp_directory_path() / "incidentd-restart-bench.db").string();
  int open = 100'000;
  long rows = 10'000'000;
  int runs = 3;
  bool cold = false;
  app.add_option("--db", db, "the database, built there once and reused");
  app.add_option("--open", open, "incidents left open");
  app.add_option("--rows", rows,
                 "timeline entries, about (closed incidents make up the rest; a step's "
                 "notifications share a row)");
  app.add_option("--runs", runs, "restarts timed");
  app.add_flag("--cold", cold, "drop the file from the page cache before each restart");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Config config = bench::bench_config();
  if (!std::filesystem::exists(db)) build(config, db, open, rows);
  {
    SqliteStore store(db, SqliteStore::Mode::read_only);
    std::printf("database: %zu timeline rows, %zu incidents, %zu processed blocks, %.0f MiB\n",
                store.count("timeline"), store.count("incidents"), store.count("processed"),
                static_cast<double>(std::filesystem::file_size(db)) / (1 << 20));
  }
  // An instant after the fixture's last line: what fell due in between is caught up.
  const TimePoint now = [&] {
    SqliteStore store(db, SqliteStore::Mode::read_only);
    TimePoint last = bench::year_start();
    store.scan_timeline(
        "",
        [&](const TimelineRow& row) {
          last = TimePoint(std::chrono::milliseconds(row.at_ms));
          return true;
        },
        static_cast<std::int64_t>(store.count("timeline")) - 1);
    return last + std::chrono::minutes(1);
  }();

  std::vector<double> totals;
  for (int run = 0; run < runs; ++run) {
    if (cold) drop_cache(db);
    const Stages s = restart(config, db, now);
    totals.push_back(s.total());
    std::printf(
        "restart to ready: %.2f s, CPU %.2f s (file check %.3f, store open %.3f, run marker "
        "%.3f, engine load %.3f, catch-up %.3f; %zu open incidents, %zu pending deadlines)\n",
        s.total(), s.cpu, s.file_check, s.store_open, s.run_marker, s.engine_load, s.catch_up,
        s.open, s.deadlines);
  }

  // The store's open and the engine's load, stage by stage (each alone, after the runs above).
  double cpu = cpu_seconds();
  auto t = Clock::now();
  { Database database(db, Database::Mode::read_write); }
  const double schema = seconds_since(t);
  double processed = 0;
  {
    SQLite::Database connection(db, SQLite::OPEN_READONLY);
    t = Clock::now();
    ProcessedIds ids;
    ids.rebuild(connection, "restart_bench", db);
    processed = seconds_since(t);
  }
  // What the daemon runs after ready on a thread of its own (FullFileCheck): not part of the
  // restart, timed here so its cost stays in view.
  double whole_check = 0;
  const double check_cpu = [&] {
    cpu = cpu_seconds();
    std::promise<void> checked;
    {
      FullFileCheck check(db, [&](std::optional<DatabaseFileProblem> problem, double seconds) {
        if (problem) std::fprintf(stderr, "%s\n", problem->message.c_str());
        whole_check = seconds;
        checked.set_value();
      });
      checked.get_future().wait();
    }
    return cpu_seconds() - cpu;
  }();
  double snapshots = 0;
  double snapshot_cpu = 0;
  std::size_t loaded = 0;
  {
    SqliteStore store(db, SqliteStore::Mode::read_only);
    t = Clock::now();
    cpu = cpu_seconds();
    loaded = store.load_open_incidents().size();
    snapshots = seconds_since(t);
    snapshot_cpu = cpu_seconds() - cpu;
  }
  std::sort(totals.begin(), totals.end());
  std::printf("restart to ready: %.2f s (median of %d)\n", totals[totals.size() / 2], runs);
  std::printf(
      "  after ready, not in the restart: the whole-file check (PRAGMA quick_check, its own "
      "thread) %.2f s, CPU %.2f s; of the store's open: schema check %.3f s, processed-id set "
      "%.3f s; of the engine's load: %zu snapshots read and decoded %.3f s, CPU %.2f s (the "
      "rest: deadlines scheduled, timer armed)\n",
      whole_check, check_cpu, schema, processed, loaded, snapshots, snapshot_cpu);
  return 0;
}
