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
#include "store/sqlite_store.hpp"

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

IncidentReport fixture_report(const std::string& key, Lang lang) {
  static const Config config = testing::report_fixture_config();
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  ReportOptions options;
  options.config = &config;
  options.generated_at = testing::report_fixture_generated_at();
  options.database = "/var/lib/incidentd/incidentd.db";
  options.lang = lang;
  return build_incident_report(store, key, options);
}

// "rpt-late.zh.txt": one golden file per incident, language and format.
std::string golden_name(const std::string& key, Lang lang, const char* ext) {
  return key + "." + std::string(lang_name(lang)) + "." + ext;
}

StatsResult fixture_stats(Lang lang) {
  static const Config config = testing::report_fixture_config();
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  StatsQuery q;
  q.from = "2026-11-01";
  q.to = "2026-11-30";
  q.by = GroupBy::unit;
  q.generated_at = testing::report_fixture_generated_at();
  q.lang = lang;
  return compute_stats(store, q, config);
}

TEST_CASE("the report of an incident late against its target, in every format and language",
          "[golden]") {
  for (const Lang lang : {Lang::zh, Lang::en}) {
    const auto r = fixture_report("rpt-late", lang);
    check_golden(golden_name("rpt-late", lang, "txt"), render_report(r, Format::text));
    check_golden(golden_name("rpt-late", lang, "md"), render_report(r, Format::markdown));
    check_golden(golden_name("rpt-late", lang, "json"), render_report(r, Format::json));
    check_golden(golden_name("rpt-late", lang, "csv"), render_report(r, Format::csv));
    check_golden(golden_name("rpt-late", lang, "html"), render_report(r, Format::html));
  }
}

TEST_CASE("the reports of the other fixture incidents, in both languages", "[golden]") {
  for (const Lang lang : {Lang::zh, Lang::en}) {
    for (const char* key : {"rpt-ontime", "rpt-breach", "rpt-upgrade", "rpt-drill", "rpt-multi"}) {
      check_golden(golden_name(key, lang, "txt"),
                   render_report(fixture_report(key, lang), Format::text));
    }
  }
}

TEST_CASE("the statistics by unit, in every format and language", "[golden]") {
  for (const Lang lang : {Lang::zh, Lang::en}) {
    const auto s = fixture_stats(lang);
    check_golden(golden_name("stats-by-unit", lang, "txt"), render_stats(s, Format::text));
    check_golden(golden_name("stats-by-unit", lang, "md"), render_stats(s, Format::markdown));
    check_golden(golden_name("stats-by-unit", lang, "json"), render_stats(s, Format::json));
    check_golden(golden_name("stats-by-unit", lang, "csv"), render_stats(s, Format::csv));
    check_golden(golden_name("stats-by-unit", lang, "html"), render_stats(s, Format::html));
  }
}

TEST_CASE("the Chinese report words the legal terms as the provincial plan does", "[golden]") {
  const auto text = render_report(fixture_report("rpt-multi", Lang::zh), Format::text);
  for (const char* term :
       {"首次发布权威信息", "新闻发布会", "目标时限", "最迟时限", "重大", "主要负责同志"}) {
    INFO(term);
    CHECK(text.find(term) != std::string::npos);
  }
  // Nothing of the English wording leaks into the Chinese report.
  for (const char* word : {"first release", "press conference", "deadline", "Notifications"}) {
    INFO(word);
    CHECK(text.find(word) == std::string::npos);
  }
}

TEST_CASE("the catalogue answers in Chinese by default, in English when asked", "[golden]") {
  CHECK(msg(Lang::zh, "milestone.first_release") == "首次发布权威信息");
  CHECK(msg(Lang::en, "milestone.first_release") == "first release");
  CHECK(msgf(Lang::zh, "milestone.follow_up_round", 2) == "持续发布（第2次）");
  CHECK(parse_lang("zh") == Lang::zh);
  CHECK(parse_lang("en") == Lang::en);
  CHECK_FALSE(parse_lang("fr"));
  ReportOptions defaults;
  CHECK(defaults.lang == Lang::zh);
}

}  // namespace
