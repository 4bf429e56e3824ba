#include "report/stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

#include <date/tz.h>
#include <nlohmann/json.hpp>

#include "incidentd/codec.hpp"
#include "report/format.hpp"
#include "report/table.hpp"

namespace incidentd::report {
namespace {

using nlohmann::ordered_json;

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

struct BreachCapture {
  Milestone milestone;
  TimePoint at;
  std::int64_t seq;   // of the breach entry
  std::string alert;  // of the first notification that carries it
  std::set<std::string> units;
};

// Everything the figures need about one incident.
struct PerIncident {
  const IncidentRow* row = nullptr;
  std::string max_level;
  std::optional<TimePoint> first_release;  // released_at of milestone_met
  std::optional<TimePoint> press;
  std::map<std::string, TimePoint> first_notified;
  std::map<std::string, TimePoint> acknowledged;  // first ack at or after the first notification
  std::set<std::pair<Milestone, int>> breached;
  std::vector<BreachCapture> breaches;
};

std::string alert_of(const std::string& notification_id) {
  auto last = notification_id.rfind('/');
  if (last == std::string::npos || last == 0) return notification_id;
  auto before = notification_id.rfind('/', last - 1);
  return before == std::string::npos ? notification_id : notification_id.substr(0, before);
}

StatsRow aggregate(const std::string& group, const std::vector<const PerIncident*>& incidents,
                   const StatsResult& s) {
  StatsRow row;
  row.group = group;
  std::vector<Duration> to_release;
  std::vector<Duration> to_ack;
  for (const PerIncident* p : incidents) {
    ++row.incidents;
    const TimePoint start = *p->row->clock_start;
    if (p->first_release) {
      const Duration took = *p->first_release - start;
      ++row.first_release_met;
      to_release.push_back(took);
      if (took <= s.target) ++row.within_target;
      if (took <= s.deadline) ++row.within_deadline;
    }
    if (p->press && *p->press - start <= s.press_deadline) ++row.press_within_deadline;
    row.notified_people += static_cast<int>(p->first_notified.size());
    for (const auto& [person, at] : p->acknowledged) {
      ++row.acknowledged_people;
      to_ack.push_back(at - p->first_notified.at(person));
    }
    row.breaches += static_cast<int>(p->breaches.size());
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

Action parse_row(const TimelineRow& t) {
  auto parsed = action_from_json(nlohmann::json::parse(t.body, nullptr, false));
  if (!parsed) {
    throw ReportError("timeline entry " + std::to_string(t.seq) +
                      " is unreadable: " + parsed.error);
  }
  return std::move(*parsed.value);
}

// What one timeline row of the incident adds to its figures.
void apply_row(PerIncident& p, const TimelineRow& t) {
  if (t.action == "notification") {
    // Most rows are notifications: they come without their body (only the recipient).
    p.first_notified.try_emplace(t.recipient, TimePoint(Duration(t.at_ms)));
    return;
  }
  const Action a = parse_row(t);
  switch (a.kind) {
    case ActionKind::incident_opened:
    case ActionKind::level_changed:
      if (a.incident_level) {
        const std::string level(to_string(*a.incident_level));
        if (severity(level) > severity(p.max_level)) p.max_level = level;
      }
      break;
    case ActionKind::milestone_met:
      if (a.milestone == Milestone::first_release && !p.first_release) {
        p.first_release = a.released_at;
      }
      if (a.milestone == Milestone::press_conference && !p.press) p.press = a.released_at;
      break;
    case ActionKind::deadline_breached:
      // A milestone round breaches once; the first line says so whatever its reminder number
      // (after a catch-up the breach itself may have been superseded).
      if (a.milestone && p.breached.insert({*a.milestone, a.round}).second) {
        p.breaches.push_back({*a.milestone, a.at, t.seq, "", {}});
      }
      break;
    case ActionKind::acknowledged: {
      auto first = p.first_notified.find(a.recipient);
      if (first != p.first_notified.end() && a.at >= first->second) {
        p.acknowledged.try_emplace(a.recipient, a.at);
      }
      break;
    }
    default:
      break;
  }
}

// The incidents of the period (drills left out unless asked for), each with its figures.
std::vector<PerIncident> collect_incidents(TimelineQueries& store, const StatsQuery& query,
                                           StatsResult& s, const std::vector<IncidentRow>& rows) {
  std::vector<PerIncident> per;
  std::map<std::string, std::size_t> index;
  per.reserve(rows.size());
  for (const auto& row : rows) {
    if (row.drill && !query.include_drills) {
      ++s.drills_left_out;
      continue;
    }
    index.emplace(row.key, per.size());
    PerIncident p;
    p.row = &row;
    p.max_level = row.level;
    per.push_back(std::move(p));
  }
  store.scan_timeline_of_clocks(
      s.from, s.to,
      {ActionKind::incident_opened, ActionKind::level_changed, ActionKind::milestone_met,
       ActionKind::deadline_breached, ActionKind::notification, ActionKind::acknowledged},
      [&, current = static_cast<PerIncident*>(nullptr),
       current_key = std::string()](const TimelineRow& t) mutable {
        // Rows come grouped by incident: look the incident up once per group.
        if (t.incident_key != current_key) {
          current_key = t.incident_key;
          auto it = index.find(t.incident_key);
          current = it == index.end() ? nullptr : &per[it->second];
        }
        if (current != nullptr) apply_row(*current, t);  // else a drill left out
      });
  return per;
}

// Who each breach reached: its alert's notifications follow it at the same instant.
void find_breach_units(TimelineQueries& store, std::vector<PerIncident>& per) {
  for (auto& p : per) {
    for (auto& b : p.breaches) {
      store.scan_timeline(
          p.row->key,
          [&](const TimelineRow& t) {
            if (t.at_ms != b.at.time_since_epoch().count()) return false;
            if (t.action != "notification") return true;
            const Action a = parse_row(t);
            if (a.send != 1 || !a.deputy_of.empty() || a.cause != ActionKind::deadline_breached ||
                a.milestone != b.milestone) {
              return true;
            }
            const std::string alert = alert_of(a.notification_id);
            if (b.alert.empty()) b.alert = alert;
            if (alert == b.alert) b.units.insert(a.unit);
            return true;
          },
          b.seq);
    }
  }
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
    for (const auto& b : p.breaches) {
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
  std::vector<PerIncident> per = collect_incidents(store, query, s, rows);
  find_breach_units(store, per);

  std::vector<const PerIncident*> all;
  all.reserve(per.size());
  for (const auto& p : per) all.push_back(&p);
  s.total = aggregate("all", all, s);
  add_groups(s, per, query.by);
  add_unit_breaches(s, per);
  return s;
}

// ---- rendering ----------------------------------------------------------------------------

namespace {

std::string share(int part, int whole) {
  if (whole == 0) return "—";
  char out[48];
  std::snprintf(out, sizeof out, "%.1f%% (%d/%d)", 100.0 * part / whole, part, whole);
  return out;
}

std::string maybe_duration(const std::optional<Duration>& d, Lang lang) {
  return d ? human_duration(*d, lang) : "—";
}

std::string short_duration(Duration d) {
  return format_duration(d);
}

std::vector<std::string> stats_header(const StatsResult& s, bool grouped) {
  const Lang lang = s.query.lang;
  return {std::string(msg(lang, grouped ? "stats.group" : "stats.scope")),
          std::string(msg(lang, "stats.incidents")),
          msgf(lang, "stats.first_release_within", short_duration(s.target)),
          msgf(lang, "stats.within", short_duration(s.deadline)),
          msgf(lang, "stats.press_within", short_duration(s.press_deadline)),
          std::string(msg(lang, "stats.median_first_release")),
          std::string(msg(lang, "stats.p90_first_release")),
          std::string(msg(lang, "stats.median_ack")),
          std::string(msg(lang, "stats.breaches"))};
}

std::vector<std::string> stats_cells(const StatsRow& r, Lang lang) {
  return {r.group == "all"      ? std::string(msg(lang, "stats.all"))
          : r.group == "(none)" ? std::string(msg(lang, "stats.none"))
                                : r.group,
          std::to_string(r.incidents),
          share(r.within_target, r.incidents),
          share(r.within_deadline, r.incidents),
          share(r.press_within_deadline, r.incidents),
          msgf(lang, "stats.median_n", maybe_duration(r.median_first_release, lang),
               r.first_release_met),
          maybe_duration(r.p90_first_release, lang),
          msgf(lang, "stats.ack_share", maybe_duration(r.median_time_to_ack, lang),
               r.acknowledged_people, r.notified_people),
          std::to_string(r.breaches)};
}

std::vector<std::string> breach_header(Lang lang) {
  std::vector<std::string> out;
  for (const char* id : {"stats.unit", "stats.incidents", "stats.col.first_release",
                         "stats.col.press_conference", "stats.col.follow_up", "stats.total"}) {
    out.emplace_back(msg(lang, id));
  }
  return out;
}

std::vector<std::string> breach_cells(const UnitBreaches& b) {
  return {b.unit,
          std::to_string(b.incidents),
          std::to_string(b.first_release),
          std::to_string(b.press_conference),
          std::to_string(b.follow_up),
          std::to_string(b.total())};
}

// The grouping's name in json ("unit") and its heading in the report's language.
std::string by_name(GroupBy by) {
  switch (by) {
    case GroupBy::unit:
      return "unit";
    case GroupBy::region:
      return "region";
    case GroupBy::level:
      return "level";
    case GroupBy::quarter:
      return "quarter";
    case GroupBy::none:
      break;
  }
  return "none";
}

std::string by_heading(const StatsResult& s) {
  return std::string(msg(s.query.lang, "stats.by." + by_name(s.query.by)));
}

std::string scope_line(const StatsResult& s) {
  const Lang lang = s.query.lang;
  return msgf(lang, "stats.scope_line", s.query.from, s.query.to, s.timezone,
              offset_label(s.utc_offset)) +
         (s.query.include_drills ? std::string(msg(lang, "stats.drills_included"))
                                 : msgf(lang, "stats.drills_left_out", s.drills_left_out)) +
         msgf(lang, "stats.generated", local_time(s.query.generated_at, s.utc_offset));
}

std::string render_stats_text(const StatsResult& s, bool markdown) {
  const Lang lang = s.query.lang;
  const auto say = [lang](std::string_view id) { return std::string(msg(lang, id)); };
  std::string out = markdown ? "# " + say("stats.title") + "\n\n" : say("stats.title_upper") + "\n";
  out += scope_line(s) + "\n";
  const auto heading = [&](const std::string& t) {
    out += markdown ? "\n## " + t + "\n\n" : "\n" + t + "\n";
  };
  const auto table = [&](const Table& t) { out += markdown ? t.markdown() : t.text(); };
  heading(say("stats.overall"));
  Table total(stats_header(s, false));
  total.add(stats_cells(s.total, lang));
  table(total);
  if (s.query.by != GroupBy::none) {
    heading(by_heading(s));
    Table groups(stats_header(s, true));
    for (const auto& g : s.groups) groups.add(stats_cells(g, lang));
    table(groups);
  }
  heading(say("stats.breaches_per_unit"));
  Table breaches(breach_header(lang));
  for (const auto& b : s.breaches) breaches.add(breach_cells(b));
  table(breaches);
  out += (markdown ? "\n" : "\n  ") + say("stats.definitions") + "\n";
  return out;
}

ordered_json seconds_json(const std::optional<Duration>& d) {
  return d ? ordered_json(std::chrono::duration_cast<std::chrono::seconds>(*d).count())
           : ordered_json(nullptr);
}

ordered_json row_json(const StatsRow& r) {
  const auto ratio = [&r](int part) {
    return r.incidents == 0 ? ordered_json(nullptr)
                            : ordered_json(static_cast<double>(part) / r.incidents);
  };
  return {{"group", r.group},
          {"incidents", r.incidents},
          {"first_release_met", r.first_release_met},
          {"within_target", r.within_target},
          {"within_target_share", ratio(r.within_target)},
          {"within_deadline", r.within_deadline},
          {"within_deadline_share", ratio(r.within_deadline)},
          {"press_within_deadline", r.press_within_deadline},
          {"press_within_deadline_share", ratio(r.press_within_deadline)},
          {"median_first_release_seconds", seconds_json(r.median_first_release)},
          {"p90_first_release_seconds", seconds_json(r.p90_first_release)},
          {"notified_people", r.notified_people},
          {"acknowledged_people", r.acknowledged_people},
          {"median_time_to_ack_seconds", seconds_json(r.median_time_to_ack)},
          {"breaches", r.breaches}};
}

std::string render_stats_json(const StatsResult& s) {
  ordered_json j;
  j["report"] = "stats";
  j["from"] = s.query.from;
  j["to"] = s.query.to;
  j["timezone"] = s.timezone;
  j["from_instant"] = format_rfc3339(s.from, s.utc_offset);
  j["to_instant_exclusive"] = format_rfc3339(s.to, s.utc_offset);
  j["by"] = by_name(s.query.by);
  j["include_drills"] = s.query.include_drills;
  j["drills_left_out"] = s.drills_left_out;
  j["generated_at"] = format_rfc3339(s.query.generated_at, s.utc_offset);
  j["target_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(s.target).count();
  j["deadline_seconds"] = std::chrono::duration_cast<std::chrono::seconds>(s.deadline).count();
  j["press_deadline_seconds"] =
      std::chrono::duration_cast<std::chrono::seconds>(s.press_deadline).count();
  j["total"] = row_json(s.total);
  j["groups"] = ordered_json::array();
  for (const auto& g : s.groups) j["groups"].push_back(row_json(g));
  j["breaches_per_unit"] = ordered_json::array();
  for (const auto& b : s.breaches) {
    j["breaches_per_unit"].push_back({{"unit", b.unit},
                                      {"incidents", b.incidents},
                                      {"first_release", b.first_release},
                                      {"press_conference", b.press_conference},
                                      {"follow_up", b.follow_up},
                                      {"total", b.total()}});
  }
  return j.dump(2) + "\n";
}

std::string render_stats_csv(const StatsResult& s) {
  std::string out = std::string(msg(s.query.lang, "csv.stats_header")) + "\r\n";
  const auto mins = [](const std::optional<Duration>& d) {
    return d ? std::to_string(minutes_of(*d)) : std::string();
  };
  const auto row = [&](const std::string& section, const StatsRow& r) {
    out += section + "," + csv_field(r.group) + "," + std::to_string(r.incidents) + "," +
           std::to_string(r.first_release_met) + "," + std::to_string(r.within_target) + "," +
           std::to_string(r.within_deadline) + "," + std::to_string(r.press_within_deadline) + "," +
           mins(r.median_first_release) + "," + mins(r.p90_first_release) + "," +
           std::to_string(r.notified_people) + "," + std::to_string(r.acknowledged_people) + "," +
           mins(r.median_time_to_ack) + "," + std::to_string(r.breaches) + ",,,\r\n";
  };
  row("total", s.total);
  for (const auto& g : s.groups) row("group", g);
  for (const auto& b : s.breaches) {
    out += "unit_breaches," + csv_field(b.unit) + "," + std::to_string(b.incidents) + ",,,,,,,,,," +
           std::to_string(b.total()) + "," + std::to_string(b.first_release) + "," +
           std::to_string(b.press_conference) + "," + std::to_string(b.follow_up) + "\r\n";
  }
  return out;
}

std::string render_stats_html(const StatsResult& s) {
  const auto table = [](const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
    std::string out = "<table><thead><tr>";
    for (const auto& h : header) out += "<th>" + html_escape(h) + "</th>";
    out += "</tr></thead><tbody>\n";
    for (const auto& r : rows) {
      out += "<tr>";
      for (const auto& c : r) out += "<td>" + html_escape(c) + "</td>";
      out += "</tr>\n";
    }
    return out + "</tbody></table>\n";
  };
  const Lang lang = s.query.lang;
  const auto say = [lang](std::string_view id) { return html_escape(msg(lang, id)); };
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"" + say("html.lang") +
      "\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
      html_escape(msgf(lang, "stats.html_title", s.query.from, s.query.to)) +
      "</title>\n<style>\n@page { size: A4 landscape; margin: 12mm; }\nbody { font-family: "
      "\"DejaVu Sans\", \"WenQuanYi Micro Hei\", \"Noto Sans CJK SC\", sans-serif; font-size: "
      "9.5pt; }\ntable { border-collapse: collapse; width: 100%; margin: 1mm 0 3mm; }\nth, td { "
      "border: 0.2mm solid #999; padding: 0.6mm 1.2mm; text-align: left; }\nth { background: "
      "#eee; }\nh1 { font-size: 15pt; }\nh2 { font-size: 11.5pt; border-bottom: 0.4mm solid "
      "#333; }\n</style>\n</head>\n<body>\n<h1>" +
      say("stats.title") + "</h1>\n<p>" + html_escape(scope_line(s)) + "</p>\n<h2>" +
      say("stats.overall") + "</h2>\n";
  out += table(stats_header(s, false), {stats_cells(s.total, lang)});
  if (s.query.by != GroupBy::none) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& g : s.groups) rows.push_back(stats_cells(g, lang));
    out += "<h2>" + html_escape(by_heading(s)) + "</h2>\n" + table(stats_header(s, true), rows);
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& b : s.breaches) rows.push_back(breach_cells(b));
  out += "<h2>" + say("stats.breaches_per_unit") + "</h2>\n" + table(breach_header(lang), rows);
  out += "<p>" + say("stats.definitions") + "</p>\n</body>\n</html>\n";
  return out;
}

}  // namespace

std::string render_stats(const StatsResult& stats, Format format) {
  switch (format) {
    case Format::text:
      return render_stats_text(stats, false);
    case Format::markdown:
      return render_stats_text(stats, true);
    case Format::json:
      return render_stats_json(stats);
    case Format::csv:
      return render_stats_csv(stats);
    case Format::html:
      return render_stats_html(stats);
  }
  return {};
}

}  // namespace incidentd::report
