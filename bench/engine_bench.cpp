// Engine benchmark: prints (1) the time to simulate 5,000 incidents over a year, (2) the pending
// deadlines held for 100,000 open incidents and the process's peak RSS, (3) engine throughput
// (events/s) on the virtual clock with the store on disk, batched as the daemon batches.
//   build/release/bench/engine_bench [year|throughput|open] [--dir DIR]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>
#include <string>

#include <CLI/CLI.hpp>

#include "bench_roster.hpp"
#include "ctl/simulate.hpp"
#include "incidentd/config.hpp"
#include "store/sqlite_store.hpp"

namespace {

using namespace incidentd;
using bench::bench_config;
using bench::Clock;
using bench::seconds_since;

Event detected(int i, TimePoint at, Level level) {
  Event e;
  e.event_id = "ev-" + std::to_string(i);
  e.incident_key = "inc-" + std::to_string(i);
  e.kind = EventKind::detected;
  e.level = level;
  e.lead_unit = "u1";
  e.units = {"u1", "u2"};
  e.detected_at = at;
  return e;
}

Confirmation confirmation(int i, const std::string& unit, Milestone m, TimePoint at) {
  Confirmation c;
  c.confirmation_id = "c-" + std::to_string(i) + "-" + unit + "-" + std::string(to_string(m));
  c.incident_key = "inc-" + std::to_string(i);
  c.milestone = m;
  c.unit = unit;
  c.released_at = at;
  c.via = "bench";
  return c;
}

Event closed(int i, TimePoint at) {
  Event e = detected(i, at, Level::II);
  e.event_id = "close-" + std::to_string(i);
  e.kind = EventKind::closed;
  return e;
}

// 5,000 incidents spread over a year; each gets its releases (some late), a press conference,
// one follow-up and a close, so every part of the ladder runs.
void year_of_incidents(const Config& config) {
  const TimePoint start = *parse_rfc3339("2026-01-01T00:00:00+08:00");
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> minute_of_year(0, 365 * 24 * 60 - 1);
  std::uniform_int_distribution<int> release_minutes(60, 420);
  ParsedScenario scenario;
  std::size_t n = 0;
  for (int i = 0; i < 5000; ++i) {
    const TimePoint t0 = start + std::chrono::minutes(minute_of_year(rng));
    const auto released = t0 + std::chrono::minutes(release_minutes(rng));
    const Level level = i % 5 == 0 ? Level::III : Level::II;
    scenario.lines.push_back({++n, detected(i, t0, level)});
    for (const char* unit : {"u1", "u2"}) {
      scenario.lines.push_back({++n, confirmation(i, unit, Milestone::first_release, released)});
      scenario.lines.push_back(
          {++n, confirmation(i, unit, Milestone::press_conference, t0 + std::chrono::hours(22))});
    }
    scenario.lines.push_back({++n, closed(i, t0 + std::chrono::hours(50))});
  }
  std::stable_sort(scenario.lines.begin(), scenario.lines.end(), [](const auto& a, const auto& b) {
    return arrival_of(a.line) < arrival_of(b.line);
  });
  const auto begin = Clock::now();
  // The actions are counted as they come, as `incidentctl simulate` prints them as they come.
  const auto report = run_simulation(config, scenario, std::nullopt, [](const Action&) {});
  const double took = seconds_since(begin);
  std::printf("year: 5000 incidents, %zu input lines, %zu actions, %zu rejected: %.2f s\n",
              scenario.lines.size(), report.actions, report.errors.size(), took);
}

// 100,000 open, unconfirmed level II incidents: the engine holds every one's ladder.
void hundred_thousand_open(const Config& config, const std::filesystem::path& dir) {
  const auto path = dir / "open.db";
  std::filesystem::remove(path);
  const TimePoint start = *parse_rfc3339("2026-11-26T08:00:00+08:00");
  SqliteStore store(path.string());
  VirtualTime time(start);
  Engine engine(config, store, time);
  engine.set_flush_each_step(false);
  const auto begin = Clock::now();
  for (int i = 0; i < 100'000; ++i) {
    engine.handle(detected(i, start, Level::II));
    if (i % 1000 == 999) engine.flush();
  }
  engine.flush();
  const double took = seconds_since(begin);
  std::size_t steps = 0;
  for (int i = 0; i < 100'000; ++i) {
    for (const auto& ms : engine.find("inc-" + std::to_string(i))->milestones) {
      if (ms.armed && !ms.met_at) steps += ms.steps.size() - ms.next_step;
    }
  }
  std::printf(
      "open: 100000 incidents opened in %.2f s; %zu incidents scheduled, %zu ladder steps "
      "pending\n",
      took, engine.pending_deadlines(), steps);
}

// Events through the engine into an on-disk store, committed in batches as the daemon does.
void throughput(const Config& config, const std::filesystem::path& dir, int batch) {
  const auto path = dir / ("throughput-" + std::to_string(batch) + ".db");
  std::filesystem::remove(path);
  const TimePoint start = *parse_rfc3339("2026-11-26T08:00:00+08:00");
  SqliteStore store(path.string());
  VirtualTime time(start);
  Engine engine(config, store, time);
  engine.set_flush_each_step(batch == 1);
  const int incidents = batch == 1 ? 2'000 : 40'000;
  int events = 0;
  const auto begin = Clock::now();
  for (int i = 0; i < incidents; ++i) {
    time.advance_by(std::chrono::milliseconds(100));
    engine.handle(detected(i, time.now(), Level::II));
    engine.handle(confirmation(i, "u1", Milestone::first_release, time.now()));
    engine.handle(confirmation(i, "u2", Milestone::first_release, time.now()));
    engine.handle(closed(i, time.now()));
    events += 4;
    if (batch > 1 && events % batch == 0) engine.flush();
  }
  engine.flush();
  const double took = seconds_since(begin);
  std::printf("throughput: %d events (%d incidents), commit every %d: %.2f s, %.0f events/s\n",
              events, incidents, batch, took, events / took);
}

// Each part runs in its own child process, so its peak RSS (from wait4) is its own.
void run_isolated(const char* name, const std::function<void()>& part) {
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    part();
    std::fflush(stdout);
    std::_Exit(0);
  }
  int status = 0;
  rusage usage{};
  wait4(child, &status, 0, &usage);
  std::printf("  [%s: peak RSS %.1f MiB, exit %d]\n", name,
              static_cast<double>(usage.ru_maxrss) / 1024.0, WEXITSTATUS(status));
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "incidentd-bench";
  std::string only;
  CLI::App app(
      "the engine and the SQLite store in process: a simulated year, throughput, 100,000 "
      "open incidents");
  app.add_option("part", only, "only this part (all three when left out)")
      ->check(CLI::IsMember({"year", "throughput", "open"}));
  app.add_option("--dir", dir, "scratch directory (removed at the end)");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::create_directories(dir);
  const Config config = bench_config();
  const auto want = [&](const char* part) { return only.empty() || only == part; };
  if (want("year")) run_isolated("year", [&] { year_of_incidents(config); });
  if (want("throughput")) {
    run_isolated("throughput", [&] {
      throughput(config, dir, 1);
      throughput(config, dir, 500);
    });
  }
  if (want("open")) run_isolated("open", [&] { hundred_thousand_open(config, dir); });
  std::filesystem::remove_all(dir);
  return 0;
}
