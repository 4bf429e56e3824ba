// Report benchmark: prints (1) `stats` over 100,000 incidents run through the engine into an
// on-disk store, (2) `report` of one incident with 10,000 timeline entries, in every format,
// (3) `verify` of the whole chain, and (4) the writer's commit latency with and without a
// report loop reading the same database (WAL: readers must not block the writer).
//   build/release/bench/report_bench [--dir DIR] [--incidents N] [--year-db PATH]
// --year-db keeps the year's database at PATH and reuses it when it is there (building 100,000
// incidents takes minutes): delete it when done.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <CLI/CLI.hpp>

#include "bench_roster.hpp"
#include "ctl/simulate.hpp"
#include "incidentd/config.hpp"
#include "report/report.hpp"
#include "report/stats.hpp"
#include "report/verify.hpp"
#include "store/sqlite_store.hpp"
#include "year_fixture.hpp"

namespace {

using namespace incidentd;
using bench::bench_config;
using bench::Clock;
using bench::seconds_since;

// `n` incidents over a year (year_fixture.hpp): one every five minutes, first releases from 1 h
// to 6 h 30 (so some warn, miss the target or breach and notify), a press conference at 19 h,
// closed at 30 h.
void build_year(const Config& config, const std::string& path, int n) {
  SqliteStore store(path);
  bench::feed_year(config, store, [n](int i) { return i < n; });
}

// One incident nobody confirms: breach reminders and re-sends until it has `entries` entries.
void build_long_incident(const Config& config, const std::string& path, std::size_t entries) {
  const TimePoint start = *parse_rfc3339("2027-06-01T08:00:00+08:00");
  SqliteStore store(path);
  Simulation sim(config, store, start);
  sim.feed(bench::year_event("long", EventKind::detected, start, "long-d"));
  TimePoint t = start;
  // Entries, not rows: a step's notifications share a row (incidentd/timeline_rows.hpp).
  SQLite::Database counter(path, SQLite::OPEN_READONLY);
  const auto entries_so_far = [&counter] {
    return static_cast<std::size_t>(
        counter
            .execAndGet("SELECT COUNT(*) + COALESCE(SUM(json_array_length(body, '$.recipients') "
                        "- 1), 0) FROM timeline")
            .getInt64());
  };
  while (entries_so_far() < entries) {
    t += std::chrono::hours(1);
    sim.advance_to(t);
  }
}

double percentile_ms(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// The writer commits batches of events while (optionally) a reader loops over reports.
// `beside`: nothing, a thread that only burns CPU (the share of any slowdown that is contention
// for the 2 cores, not locking), or a loop of html reports on the same database.
enum class Beside { nothing, cpu, reports };

void commit_latency(const Config& config, const std::string& dir, const std::string& long_db,
                    Beside beside) {
  const bool with_reader = beside == Beside::reports;
  const std::string path = dir + "/latency.db";
  std::filesystem::copy_file(long_db, path, std::filesystem::copy_options::overwrite_existing);
  std::atomic<bool> stop{false};
  std::atomic<int> reports{0};
  std::thread reader;
  if (beside == Beside::cpu) {
    reader = std::thread([&] {
      volatile std::uint64_t x = 1;
      while (!stop.load()) {
        for (int i = 0; i < 100'000; ++i) x = x * 6364136223846793005ULL + 1;
      }
    });
  }
  if (with_reader) {
    reader = std::thread([&] {
      report::ReportOptions options;
      options.config = &config;
      while (!stop.load()) {
        SqliteStore ro(path, SqliteStore::Mode::read_only);
        const auto r = report::build_incident_report(ro, "long", options);
        const auto html = report::render_report(r, report::Format::html);
        if (!html.empty()) reports.fetch_add(1);
      }
    });
  }
  SqliteStore store(path);
  const TimePoint start = *parse_rfc3339("2027-07-01T08:00:00+08:00");
  VirtualTime time(start);
  Engine engine(config, store, time);
  engine.set_flush_each_step(false);
  std::vector<double> latencies;
  for (int batch = 0; batch < 500; ++batch) {
    for (int i = 0; i < 50; ++i) {
      const std::string key = "w-" + std::to_string(batch) + "-" + std::to_string(i);
      time.advance_by(std::chrono::milliseconds(100));
      engine.handle(bench::year_event(key, EventKind::detected, time.now(), key));
    }
    const auto begin = Clock::now();
    engine.flush();
    latencies.push_back(seconds_since(begin) * 1e3);
  }
  stop.store(true);
  if (reader.joinable()) reader.join();
  std::printf(
      "commit latency (500 commits of 50 events, synchronous=FULL)%s: p50 %.2f ms, p99 %.2f ms, "
      "max %.2f ms\n",
      beside == Beside::reports ? (", reports looping beside it (" +
                                   std::to_string(reports.load()) + " html reports of 'long' done)")
                                      .c_str()
      : beside == Beside::cpu ? ", a CPU-burning thread beside it"
                              : ", alone",
      percentile_ms(latencies, 0.5), percentile_ms(latencies, 0.99), percentile_ms(latencies, 1.0));
}

// The hash chain's cost on the writer's hot path: one SHA-256 per timeline row.
void chain_hash_cost() {
  TimelineRow row;
  row.seq = 123456;
  row.incident_key = "zt-landslide-20261126";
  row.at_ms = 1'795'000'000'000;
  row.action = "notification";
  row.milestone = "first_release";
  row.body = std::string(400, 'x');
  std::string prev = SqliteStore::chain_genesis(row.incident_key);
  constexpr int kRows = 200'000;
  const auto begin = Clock::now();
  for (int i = 0; i < kRows; ++i) {
    row.incident_seq = i + 1;
    prev = SqliteStore::chain_hash(prev, row);
  }
  std::printf("chain hash: %.2f us per timeline row (400-byte body)\n",
              seconds_since(begin) * 1e6 / kRows);
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "incidentd-report-bench";
  int incidents = 100'000;
  std::string kept_year_db;
  CLI::App app("stats, verify and reports over a year of incidents; the writer beside readers");
  app.add_option("--dir", dir, "scratch directory (its contents are deleted first)");
  app.add_option("--incidents", incidents, "incidents in the year's database")
      ->check(CLI::PositiveNumber);
  app.add_option("--year-db", kept_year_db, "keep the year's database here, and reuse it");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const Config config = bench_config();
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures appear as they are measured
  chain_hash_cost();

  const std::string year_db = kept_year_db.empty() ? (dir / "year.db").string() : kept_year_db;
  auto begin = Clock::now();
  if (kept_year_db.empty() || !std::filesystem::exists(year_db)) {
    build_year(config, year_db, incidents);
    std::printf("built: %d incidents through the engine in %.1f s\n", incidents,
                seconds_since(begin));
  } else {
    std::printf("reused: %s (--incidents does not apply to it)\n", year_db.c_str());
    // A database kept by an older build is migrated first (schema 11 replays every timeline
    // into the statistics' figures once): timed, since a daemon's first start pays it.
    const int found = [&] {
      SQLite::Database raw(year_db, SQLite::OPEN_READONLY);
      return raw.execAndGet("PRAGMA user_version").getInt();
    }();
    if (found < SqliteStore::kSchemaVersion) {
      begin = Clock::now();
      { SqliteStore migrate(year_db); }
      std::printf("migrated: schema %d to %d in %.1f s\n", found, SqliteStore::kSchemaVersion,
                  seconds_since(begin));
    }
  }
  {
    SqliteStore store(year_db, SqliteStore::Mode::read_only);
    std::printf("  %zu timeline rows, %zu outbox rows, %.0f MiB\n", store.count("timeline"),
                store.count("outbox"),
                static_cast<double>(std::filesystem::file_size(year_db)) / (1 << 20));
    for (auto by : {report::GroupBy::none, report::GroupBy::unit, report::GroupBy::quarter}) {
      report::StatsQuery q;
      q.from = "2026-01-01";
      q.to = "2026-12-31";
      q.by = by;
      begin = Clock::now();
      const auto s = report::compute_stats(store, q, config);
      const auto text = report::render_stats(s, report::Format::text);
      std::printf("stats over %d incidents (by %s): %.2f s; within 3 h %d, within 5 h %d\n",
                  s.total.incidents,
                  by == report::GroupBy::none   ? "none"
                  : by == report::GroupBy::unit ? "unit"
                                                : "quarter",
                  seconds_since(begin), s.total.within_target, s.total.within_deadline);
      (void)text;
    }
    begin = Clock::now();
    const auto alone = report::verify_chain(store);
    std::printf("verify on one thread: %zu rows in %zu incident chains, %s, %.2f s\n", alone.rows,
                alone.chains, alone.intact ? "intact" : "TAMPERED", seconds_since(begin));
    // As incidentctl verify runs it: the file's two halves on two threads, two connections.
    SqliteStore second(year_db, SqliteStore::Mode::read_only);
    begin = Clock::now();
    const auto v = report::verify_chain(store, &second);
    std::printf("verify: %zu rows in %zu incident chains, %s, %.2f s\n", v.rows, v.chains,
                v.intact ? "intact" : "TAMPERED", seconds_since(begin));
  }

  const std::string long_db = (dir / "long.db").string();
  begin = Clock::now();
  build_long_incident(config, long_db, 10'000);
  std::printf("built: one incident with 10,000+ timeline entries in %.1f s\n",
              seconds_since(begin));
  {
    SqliteStore store(long_db, SqliteStore::Mode::read_only);
    report::ReportOptions options;
    options.config = &config;
    begin = Clock::now();
    const auto r = report::build_incident_report(store, "long", options);
    std::printf("report model of 'long' (%zu entries, %zu deliveries): %.3f s\n",
                r.timeline_entries, r.deliveries.size(), seconds_since(begin));
    for (auto [format, name] : {std::pair{report::Format::text, "text"},
                                {report::Format::markdown, "markdown"},
                                {report::Format::json, "json"},
                                {report::Format::csv, "csv"},
                                {report::Format::html, "html"}}) {
      begin = Clock::now();
      const auto out = report::render_report(r, format);
      std::printf("  render %-8s %.3f s, %zu KiB\n", name, seconds_since(begin), out.size() / 1024);
    }
  }

  commit_latency(config, dir.string(), long_db, Beside::nothing);
  commit_latency(config, dir.string(), long_db, Beside::cpu);
  commit_latency(config, dir.string(), long_db, Beside::reports);
  std::filesystem::remove_all(dir);
  return 0;
}
