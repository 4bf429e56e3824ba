#include "report/fixture.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "ctl/simulate.hpp"
#include "store/sqlite_store.hpp"

namespace incidentd::testing {
namespace {

TimePoint instant(const char* text) {
  auto t = parse_rfc3339(text);
  if (!t) throw std::runtime_error(std::string("fixture: bad instant ") + text);
  return *t;
}

}  // namespace

std::string report_fixture_config_path() {
  return std::string(INCIDENTD_REPORT_DIR) + "/fixture.toml";
}

Config report_fixture_config() {
  auto loaded = load_config_file(report_fixture_config_path());
  if (!loaded.config) {
    std::string why;
    for (const auto& e : loaded.errors) why += e.where + ": " + e.message + "\n";
    throw std::runtime_error("fixture config does not load:\n" + why);
  }
  return *loaded.config;
}

TimePoint report_fixture_generated_at() {
  return instant("2026-12-01T09:00:00+08:00");
}

void build_report_fixture(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  const Config config = report_fixture_config();
  std::ifstream in(std::string(INCIDENTD_REPORT_DIR) + "/fixture.jsonl");
  if (!in) throw std::runtime_error("fixture: cannot open fixture.jsonl");
  const ParsedScenario scenario = parse_scenario(in, config);
  if (!scenario.errors.empty()) throw std::runtime_error("fixture: " + scenario.errors.front());

  // The daemon is down from 10:20 to 11:10 on 2026-11-25, during rpt-multi's first release.
  const TimePoint outage_start = instant("2026-11-25T10:20:00+08:00");
  const TimePoint outage_end = instant("2026-11-25T11:10:00+08:00");
  const TimePoint end = instant("2026-11-28T00:00:00+08:00");

  SqliteStore store(path);
  auto sim = std::make_unique<Simulation>(config, store, arrival_of(scenario.lines.front().line));
  bool restarted = false;
  for (const auto& input : scenario.lines) {
    if (!restarted && arrival_of(input.line) > outage_start) {
      sim->advance_to(outage_start);  // flushes: everything up to the outage is durable
      sim.reset();
      sim = std::make_unique<Simulation>(config, store, outage_end);
      sim->engine().run_due();
      sim->advance_to(outage_end);
      restarted = true;
    }
    const Outcome outcome = sim->feed(input.line);
    if (outcome.status == Outcome::Status::rejected) {
      throw std::runtime_error("fixture: line " + std::to_string(input.line_number) +
                               " rejected: " + outcome.reason);
    }
  }
  sim->advance_to(end);
}

namespace {

struct SharedFixture {
  SharedFixture() {
    dir = std::filesystem::temp_directory_path() /
          ("incidentd-report-fixture-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    path = (dir / "fixture.db").string();
    build_report_fixture(path);
  }
  ~SharedFixture() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  SharedFixture(const SharedFixture&) = delete;
  SharedFixture& operator=(const SharedFixture&) = delete;
  std::filesystem::path dir;
  std::string path;
};

}  // namespace

const std::string& shared_report_fixture() {
  static SharedFixture fixture;
  return fixture.path;
}

void copy_report_fixture(const std::string& path) {
  const std::string& from = shared_report_fixture();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  // A writer's close checkpoints the WAL; the fixture's writer is closed, so the file is whole.
  std::filesystem::copy_file(from, path);
}

}  // namespace incidentd::testing
