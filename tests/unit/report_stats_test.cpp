// Statistics over the fixture (tests/report/fixture.md). Times to first release, from the clock
// start to the release that met the milestone, derived by hand from the scenario:
//   rpt-ontime (I)  1 h 30    rpt-late (II) 4 h      rpt-breach (II) 6 h
//   rpt-upgrade (II) 2 h 40   rpt-multi (II) 5 h 30  rpt-drill (I, drill) 1 h
// Press conferences: 12 h, 10 h, 14 h, 10 h, 25 h (late), drill 7 h.
// Acknowledgements: rpt-late zt-duty1 5 min, zt-leader 20 min; rpt-multi ps-duty1 10 min.
// Breaches: rpt-breach first release (owed by prov-cac); rpt-multi first release (owed by
// prov-publicsecurity) and press conference (owed by all four units).
#include "report/stats.hpp"

#include <algorithm>
#include <catch2/catch.hpp>

#include "report/fixture.hpp"
#include "store/sqlite_store.hpp"

namespace {

using namespace incidentd;
using namespace incidentd::report;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

StatsResult stats(GroupBy by = GroupBy::none, bool drills = false,
                  const std::string& from = "2026-11-01", const std::string& to = "2026-11-30",
                  const std::string& timezone = "") {
  Config config = testing::report_fixture_config();
  if (!timezone.empty()) config.timezone = timezone;
  SqliteStore store(testing::shared_report_fixture(), SqliteStore::Mode::read_only);
  StatsQuery q;
  q.lang = Lang::en;  // the wording checked here; report_golden_test has both languages
  q.from = from;
  q.to = to;
  q.by = by;
  q.include_drills = drills;
  q.generated_at = testing::report_fixture_generated_at();
  return compute_stats(store, q, config);
}

const StatsRow& group(const StatsResult& s, const std::string& name) {
  auto it = std::find_if(s.groups.begin(), s.groups.end(),
                         [&](const auto& g) { return g.group == name; });
  REQUIRE(it != s.groups.end());
  return *it;
}

const UnitBreaches& unit_breaches(const StatsResult& s, const std::string& unit) {
  auto it = std::find_if(s.breaches.begin(), s.breaches.end(),
                         [&](const auto& b) { return b.unit == unit; });
  REQUIRE(it != s.breaches.end());
  return *it;
}

TEST_CASE("the overall figures match the hand-derived ones, drills left out", "[stats]") {
  const auto s = stats();
  CHECK(s.drills_left_out == 1);
  const StatsRow& t = s.total;
  CHECK(t.incidents == 5);
  CHECK(t.first_release_met == 5);
  CHECK(t.within_target == 2);    // 1 h 30, 2 h 40
  CHECK(t.within_deadline == 3);  // and 4 h
  CHECK(t.press_within_deadline == 4);
  // Sorted: 1 h 30, 2 h 40, 4 h, 5 h 30, 6 h: the middle one; nearest rank ceil(0.9 * 5) = 5.
  CHECK(t.median_first_release == 4h);
  CHECK(t.p90_first_release == 6h);
  CHECK(t.acknowledged_people == 3);
  CHECK(t.median_time_to_ack == 10min);  // of 5, 10, 20 min
  CHECK(t.breaches == 3);
}

TEST_CASE("drills count when asked for", "[stats]") {
  const auto s = stats(GroupBy::none, true);
  CHECK(s.drills_left_out == 0);
  CHECK(s.total.incidents == 6);
  CHECK(s.total.within_target == 3);
  CHECK(s.total.within_deadline == 4);
  CHECK(s.total.press_within_deadline == 5);
  // 1 h, 1 h 30, 2 h 40, 4 h, 5 h 30, 6 h: the mean of the two middle ones.
  CHECK(s.total.median_first_release == 200min);
  CHECK(s.total.p90_first_release == 6h);
}

TEST_CASE("breaches are counted against the units that owed the milestone", "[stats]") {
  const auto s = stats();
  CHECK(unit_breaches(s, "prov-cac").first_release == 1);
  CHECK(unit_breaches(s, "prov-cac").press_conference == 1);
  CHECK(unit_breaches(s, "prov-cac").incidents == 2);
  CHECK(unit_breaches(s, "prov-publicsecurity").total() == 2);
  CHECK(unit_breaches(s, "zhaotong-gov").first_release == 0);  // it had confirmed in time
  CHECK(unit_breaches(s, "zhaotong-gov").press_conference == 1);
  CHECK(unit_breaches(s, "zhaotong-gov").incidents == 5);
  CHECK(unit_breaches(s, "prov-emergency").total() == 1);
  // The supervision desk was alerted by every breach but is not a responsible unit.
  CHECK(std::none_of(s.breaches.begin(), s.breaches.end(),
                     [](const auto& b) { return b.unit == "prov-office"; }));
  CHECK(s.breaches.front().total() == 2);  // sorted by total, most first
}

TEST_CASE("grouped by unit, each incident counts for each of its units", "[stats]") {
  const auto s = stats(GroupBy::unit);
  CHECK(s.groups.size() == 4);
  const auto& em = group(s, "prov-emergency");  // rpt-ontime 1 h 30, rpt-multi 5 h 30
  CHECK(em.incidents == 2);
  CHECK(em.within_target == 1);
  CHECK(em.median_first_release == 210min);
  CHECK(em.p90_first_release == 330min);
  CHECK(em.press_within_deadline == 1);
  const auto& cac = group(s, "prov-cac");  // rpt-breach 6 h, rpt-multi 5 h 30
  CHECK(cac.within_deadline == 0);
  CHECK(cac.median_first_release == 345min);
  CHECK(group(s, "zhaotong-gov").incidents == 5);
  CHECK(group(s, "prov-publicsecurity").press_within_deadline == 0);
}

TEST_CASE("grouped by level, the highest level reached counts", "[stats]") {
  const auto s = stats(GroupBy::level);
  REQUIRE(s.groups.size() == 2);
  CHECK(s.groups[0].group == "I");  // most severe first
  CHECK(s.groups[0].incidents == 1);
  const auto& two = group(s, "II");  // late 4 h, breach 6 h, upgrade 2 h 40, multi 5 h 30
  CHECK(two.incidents == 4);
  CHECK(two.within_target == 1);
  CHECK(two.within_deadline == 2);
  CHECK(two.median_first_release == 285min);
  CHECK(two.p90_first_release == 6h);
}

TEST_CASE("grouped by region and by quarter", "[stats]") {
  const auto r = stats(GroupBy::region);
  const auto& zt = group(r, "530600");  // ontime, late, breach, upgrade
  CHECK(zt.incidents == 4);
  CHECK(zt.median_first_release == 200min);  // (2 h 40 + 4 h) / 2
  CHECK(group(r, "530100").incidents == 1);
  const auto q = stats(GroupBy::quarter);
  REQUIRE(q.groups.size() == 1);
  CHECK(q.groups[0].group == "2026-Q4");
  CHECK(q.groups[0].incidents == 5);
}

TEST_CASE("dates are whole days in the configured time zone", "[stats]") {
  // rpt-ontime's clock started 2026-11-02 06:00 in Shanghai, which is 2026-11-01 22:00 UTC.
  CHECK(stats(GroupBy::none, false, "2026-11-02", "2026-11-02").total.incidents == 1);
  CHECK(stats(GroupBy::none, false, "2026-11-02", "2026-11-02", "UTC").total.incidents == 0);
  CHECK(stats(GroupBy::none, false, "2026-11-01", "2026-11-01", "UTC").total.incidents == 1);
  // Both ends inclusive: rpt-late (11-05 08:00) and rpt-breach (11-10 08:00).
  CHECK(stats(GroupBy::none, false, "2026-11-05", "2026-11-10").total.incidents == 2);
}

TEST_CASE("bad dates are rejected with a message", "[stats]") {
  CHECK_THROWS_WITH(stats(GroupBy::none, false, "2026-13-01", "2026-12-01"),
                    Contains("not a real date"));
  CHECK_THROWS_WITH(stats(GroupBy::none, false, "1.11.2026", "2026-12-01"),
                    Contains("is not a date like"));
  CHECK_THROWS_WITH(stats(GroupBy::none, false, "2026-12-01", "2026-11-01"), Contains("is before"));
  CHECK_THROWS_WITH(stats(GroupBy::none, false, "2026-11-01", "2026-11-30", "Mars/Base"),
                    Contains("unknown time zone"));
}

TEST_CASE("median and percentile follow the documented definitions", "[stats]") {
  CHECK(median_of({3min, 1min, 2min}) == 2min);
  CHECK(median_of({4min, 1min, 2min, 3min}) == 150s);
  CHECK(percentile_of({1min, 2min, 3min, 4min, 5min, 6min, 7min, 8min, 9min, 10min}, 90) == 9min);
  CHECK(percentile_of({1min, 2min, 3min, 4min, 5min, 6min, 7min, 8min, 9min, 10min, 11min}, 90) ==
        10min);
  CHECK(percentile_of({5min}, 90) == 5min);
}

TEST_CASE("every format carries the figures", "[stats]") {
  const auto s = stats(GroupBy::unit);
  CHECK_THAT(render_stats(s, Format::text), Contains("40.0% (2/5)"));
  CHECK_THAT(render_stats(s, Format::markdown), Contains("| all | 5 | 40.0% (2/5) |"));
  CHECK_THAT(render_stats(s, Format::json), Contains("\"median_first_release_seconds\": 14400"));
  CHECK_THAT(render_stats(s, Format::csv), Contains("total,all,5,5,2,3,4,240,360,"));
  CHECK_THAT(render_stats(s, Format::html), Contains("<td>40.0% (2/5)</td>"));
}

}  // namespace
