// Statistics: the incidents of a period and the figures their timelines add up to (met on time,
// durations to release and acknowledgement), by group and breaches per unit. The store keeps
// each incident's figures at every commit (incidentd/incident_figures.hpp): nothing here reads a
// timeline row. Rendering the result is in stats_render.cpp.
#include "report/stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <utility>

#include <date/tz.h>

#include "report/format.hpp"

namespace incidentd::report {
namespace {

std::chrono::year_month_day parse_date(const std::string& text, const char* what) {
  unsigned y = 0, m = 0, d = 0;
  char tail = 0;
  if (text.size() != 10 || std::sscanf(text.c_str(), "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3 ||
      text[4] != '-' || text[7] != '-') {
    throw ReportError(std::string(what) + ": \"" + text + "\" is not a date like 2026-11-26");
  }
  const std::chrono::year_month_day ymd{std::chrono::year(static_cast<int>(y)),
                                        std::chrono::month(m), std::chrono::day(d)};
  if (!ymd.ok()) throw ReportError(std::string(what) + ": \"" + text + "\" is not a real date");
  return ymd;
}

// Local midnight of a date in the zone, as an instant.
TimePoint local_midnight(const date::time_zone* zone, std::chrono::sys_days day) {
  const date::local_days local{date::days(day.time_since_epoch().count())};
  const auto sys = zone->to_sys(local, date::choose::earliest);
  return std::chrono::time_point_cast<Duration>(
      std::chrono::sys_seconds(std::chrono::seconds(sys.time_since_epoch().count())));
}

int severity(const std::string& level) {
  if (level == "I") return 4;
  if (level == "II") return 3;
  if (level == "III") return 2;
  if (level == "IV") return 1;
  return 0;
}

// One incident of the period: its row (with the figures the store keeps for it) and the highest
// level it reached, the current one included.
struct PerIncident {
  const IncidentRow* row = nullptr;
  std::string max_level;
};

StatsRow aggregate(const std::string& group, const std::vector<const PerIncident*>& incidents,
                   const StatsResult& s) {
  StatsRow row;
  row.group = group;
  std::vector<Duration> to_release;
  std::vector<Duration> to_ack;
  for (const PerIncident* p : incidents) {
    ++row.incidents;
    const TimePoint start = *p->row->clock_start;
    const IncidentFigures& f = p->row->figures;
    if (f.first_release) {
      const Duration took = *f.first_release - start;
      ++row.first_release_met;
      to_release.push_back(took);
      if (took <= s.target) ++row.within_target;
      if (took <= s.deadline) ++row.within_deadline;
    }
    if (f.press && *f.press - start <= s.press_deadline) ++row.press_within_deadline;
    row.notified_people += static_cast<int>(f.first_notified.size());
    for (const auto& [person, at] : f.acknowledged) {
      ++row.acknowledged_people;
      to_ack.push_back(at - f.first_notified.at(person));
    }
    row.breaches += static_cast<int>(f.breaches.size());
  }
  if (!to_release.empty()) {
    row.median_first_release = median_of(to_release);
    row.p90_first_release = percentile_of(to_release, 90);
  }
  if (!to_ack.empty()) row.median_time_to_ack = median_of(to_ack);
  return row;
}

std::string quarter_of(TimePoint t, std::chrono::minutes offset) {
  const std::chrono::year_month_day ymd{std::chrono::floor<std::chrono::days>(t + offset)};
  const unsigned q = (static_cast<unsigned>(ymd.month()) - 1) / 3 + 1;
  return std::to_string(static_cast<int>(ymd.year())) + "-Q" + std::to_string(q);
}

}  // namespace

std::optional<GroupBy> parse_group_by(std::string_view name) {
  if (name.empty() || name == "none") return GroupBy::none;
  if (name == "unit") return GroupBy::unit;
  if (name == "region") return GroupBy::region;
  if (name == "level") return GroupBy::level;
  if (name == "quarter") return GroupBy::quarter;
  return std::nullopt;
}

Duration median_of(std::vector<Duration> values) {
  if (values.empty()) return Duration{0};
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  if (n % 2 == 1) return values[n / 2];
  return values[n / 2 - 1] + (values[n / 2] - values[n / 2 - 1]) / 2;
}

Duration percentile_of(std::vector<Duration> values, int percent) {
  if (values.empty()) return Duration{0};
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least `percent`% of the values at or below it.
  const std::size_t n = values.size();
  std::size_t rank = (static_cast<std::size_t>(percent) * n + 99) / 100;
  rank = std::clamp<std::size_t>(rank, 1, n);
  return values[rank - 1];
}

namespace {

// The period [from, to) in the configured time zone, from local midnight to local midnight.
void resolve_period(StatsResult& s, const StatsQuery& query, const Config& config) {
  const auto from_day = parse_date(query.from, "--from");
  const auto to_day = parse_date(query.to, "--to");
  if (std::chrono::sys_days(to_day) < std::chrono::sys_days(from_day)) {
    throw ReportError("--to " + query.to + " is before --from " + query.from);
  }
  const date::time_zone* zone = nullptr;
  try {
    zone = date::locate_zone(config.timezone);
  } catch (const std::exception&) {
    throw ReportError("unknown time zone \"" + config.timezone + "\"");
  }
  s.from = local_midnight(zone, std::chrono::sys_days(from_day));
  s.to = local_midnight(zone, std::chrono::sys_days(to_day) + std::chrono::days(1));
}

// The incidents of the period (drills left out unless asked for).
std::vector<PerIncident> collect_incidents(const StatsQuery& query, StatsResult& s,
                                           const std::vector<IncidentRow>& rows) {
  std::vector<PerIncident> per;
  per.reserve(rows.size());
  for (const auto& row : rows) {
    if (row.drill && !query.include_drills) {
      ++s.drills_left_out;
      continue;
    }
    PerIncident p;
    p.row = &row;
    p.max_level = row.level;
    if (const auto& reached = row.figures.max_level) {
      const std::string level(to_string(*reached));
      if (severity(level) > severity(p.max_level)) p.max_level = level;
    }
    per.push_back(std::move(p));
  }
  return per;
}

void add_groups(StatsResult& s, const std::vector<PerIncident>& per, GroupBy by) {
  if (by == GroupBy::none) return;
  std::map<std::string, std::vector<const PerIncident*>> groups;
  for (const auto& p : per) {
    switch (by) {
      case GroupBy::unit:
        for (const auto& u : p.row->units) groups[u].push_back(&p);
        break;
      case GroupBy::region:
        groups[p.row->region.empty() ? "(none)" : p.row->region].push_back(&p);
        break;
      case GroupBy::level:
        groups[p.max_level].push_back(&p);
        break;
      case GroupBy::quarter:
        groups[quarter_of(*p.row->clock_start, s.utc_offset)].push_back(&p);
        break;
      case GroupBy::none:
        break;
    }
  }
  for (const auto& [name, members] : groups) s.groups.push_back(aggregate(name, members, s));
  if (by == GroupBy::level) {
    std::stable_sort(s.groups.begin(), s.groups.end(), [](const auto& a, const auto& b) {
      return severity(a.group) > severity(b.group);
    });
  }
}

// Breaches per unit: attributed to the responsible units the breach alert reached.
void add_unit_breaches(StatsResult& s, const std::vector<PerIncident>& per) {
  std::map<std::string, UnitBreaches> units;
  for (const auto& p : per) {
    for (const auto& u : p.row->units) {
      auto& ub = units[u];
      ub.unit = u;
      ++ub.incidents;
    }
    for (const auto& b : p.row->figures.breaches) {
      for (const auto& u : b.units) {
        if (std::find(p.row->units.begin(), p.row->units.end(), u) == p.row->units.end()) continue;
        auto& ub = units[u];
        if (b.milestone == Milestone::first_release) ++ub.first_release;
        if (b.milestone == Milestone::press_conference) ++ub.press_conference;
        if (b.milestone == Milestone::follow_up) ++ub.follow_up;
      }
    }
  }
  for (auto& [name, ub] : units) s.breaches.push_back(ub);
  std::stable_sort(s.breaches.begin(), s.breaches.end(),
                   [](const auto& a, const auto& b) { return a.total() > b.total(); });
}

}  // namespace

StatsResult compute_stats(TimelineQueries& store, const StatsQuery& query, const Config& config) {
  StatsResult s;
  s.query = query;
  s.timezone = config.timezone;
  s.utc_offset = config.utc_offset;
  s.target = config.policy.first_release_target;
  s.deadline = config.policy.first_release_deadline;
  s.press_deadline = config.policy.press_conference_deadline;
  resolve_period(s, query, config);

  const std::vector<IncidentRow> rows = store.incidents_with_clock(s.from, s.to);
  const std::vector<PerIncident> per = collect_incidents(query, s, rows);

  std::vector<const PerIncident*> all;
  all.reserve(per.size());
  for (const auto& p : per) all.push_back(&p);
  s.total = aggregate("all", all, s);
  add_groups(s, per, query.by);
  add_unit_breaches(s, per);
  return s;
}

}  // namespace incidentd::report
