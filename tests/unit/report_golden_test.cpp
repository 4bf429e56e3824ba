// Golden files: every format of the fixture's reports and statistics, byte for byte, so a change
// in wording or layout is seen in review (tests/report/golden/). The figures in them are checked
// against hand-derived values in report_model_test and report_stats_test; these files pin the
// rest. After an intended change: INCIDENTD_UPDATE_GOLDEN=1 ./report_golden_test, then read the
// diff before committing it.
#include "report/report.hpp"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "report/fixture.hpp"
#include "report/stats.hpp"

namespace {

using namespace incidentd;
using namespace incidentd::report;

std::string golden_path(const std::string& name) {
  return std::string(INCIDENTD_REPORT_DIR) + "/golden/" + name;
}

void check_golden(const std::string& name, const std::string& actual) {
  const std::string path = golden_path(name);
  if (const char* update = std::getenv("INCIDENTD_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(path, std::ios::binary) << actual;
    WARN("updated " << path);
    return;
  }
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::stringstream expected;
  expected << in.rdbuf();
  INFO("golden file " << path);
  CHECK(actual == expected.str());
}

IncidentReport fixture_report(const std::string& key) {
  static const Config config = testing::report_fixture_config();
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  ReportOptions options;
  options.config = &config;
  options.generated_at = testing::report_fixture_generated_at();
  options.database = "/var/lib/incidentd/incidentd.db";
  return build_incident_report(store, key, options);
}

TEST_CASE("the report of an incident late against its target, in every format", "[golden]") {
  const auto r = fixture_report("rpt-late");
  check_golden("rpt-late.txt", render_report(r, Format::text));
  check_golden("rpt-late.md", render_report(r, Format::markdown));
  check_golden("rpt-late.json", render_report(r, Format::json));
  check_golden("rpt-late.csv", render_report(r, Format::csv));
  check_golden("rpt-late.html", render_report(r, Format::html));
}

TEST_CASE("the reports of the other fixture incidents", "[golden]") {
  for (const char* key : {"rpt-ontime", "rpt-breach", "rpt-upgrade", "rpt-drill", "rpt-multi"}) {
    check_golden(std::string(key) + ".txt", render_report(fixture_report(key), Format::text));
  }
}

TEST_CASE("the statistics by unit, in every format", "[golden]") {
  static const Config config = testing::report_fixture_config();
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  StatsQuery q;
  q.from = "2026-11-01";
  q.to = "2026-11-30";
  q.by = GroupBy::unit;
  q.generated_at = testing::report_fixture_generated_at();
  const auto s = compute_stats(store, q, config);
  check_golden("stats-by-unit.txt", render_stats(s, Format::text));
  check_golden("stats-by-unit.md", render_stats(s, Format::markdown));
  check_golden("stats-by-unit.json", render_stats(s, Format::json));
  check_golden("stats-by-unit.csv", render_stats(s, Format::csv));
  check_golden("stats-by-unit.html", render_stats(s, Format::html));
}

}  // namespace
