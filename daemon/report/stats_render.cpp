// Statistics rendered: text and Markdown tables, JSON, CSV and a printable HTML page of a
// StatsResult, in the report's language.
#include "report/stats.hpp"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "report/format.hpp"
#include "report/table.hpp"

namespace incidentd::report {
namespace {

using nlohmann::ordered_json;

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
