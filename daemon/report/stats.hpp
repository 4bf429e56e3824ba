// Accountability statistics over the incidents whose clock started in a date range (dates in
// the configured time zone): shares of releases and press conferences on time, time to first
// release and to acknowledge, breaches per unit. docs/reports.md defines every figure; the
// code follows it line by line. Drills are left out unless asked for.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/config.hpp"
#include "incidentd/timeline_queries.hpp"
#include "report/report.hpp"

namespace incidentd::report {

enum class GroupBy { none, unit, region, level, quarter };
std::optional<GroupBy> parse_group_by(std::string_view name);

struct StatsQuery {
  std::string from;  // YYYY-MM-DD, inclusive, local date in the configured zone
  std::string to;    // YYYY-MM-DD, inclusive
  GroupBy by = GroupBy::none;
  bool include_drills = false;
  TimePoint generated_at{};
  Lang lang = Lang::zh;  // of the rendered words; json keys and csv section names stay English
};

struct StatsRow {
  std::string group;  // "all" for the total
  int incidents = 0;
  int first_release_met = 0;
  int within_target = 0;          // first release at most the target (3 h) after the clock start
  int within_deadline = 0;        // at most the deadline (5 h) after
  int press_within_deadline = 0;  // press conference at most 24 h after
  std::optional<Duration> median_first_release;
  std::optional<Duration> p90_first_release;
  int notified_people = 0;      // (incident, person) pairs notified
  int acknowledged_people = 0;  // of those, the ones who acknowledged
  std::optional<Duration> median_time_to_ack;
  int breaches = 0;  // milestone breaches (first breach of each milestone round)
};

struct UnitBreaches {
  std::string unit;
  int incidents = 0;  // incidents the unit was responsible for
  int first_release = 0;
  int press_conference = 0;
  int follow_up = 0;
  int total() const { return first_release + press_conference + follow_up; }
};

struct StatsResult {
  StatsQuery query;
  std::string timezone;
  std::chrono::minutes utc_offset{0};
  TimePoint from{}, to{};  // [from, to) as instants
  Duration target{}, deadline{}, press_deadline{};
  int drills_left_out = 0;
  StatsRow total;
  std::vector<StatsRow> groups;  // empty when not grouped
  std::vector<UnitBreaches> breaches;
};

// Throws ReportError for bad dates or an unknown time zone.
StatsResult compute_stats(TimelineQueries& store, const StatsQuery& query, const Config& config);
std::string render_stats(const StatsResult& stats, Format format);

// The definitions used, exposed for the tests: the median of sorted values (mean of the two
// middle ones when even), and the nearest-rank percentile (the value at rank ceil(p/100 * n)).
Duration median_of(std::vector<Duration> values);
Duration percentile_of(std::vector<Duration> values, int percent);

}  // namespace incidentd::report
