#include "ctl/state_text.hpp"

#include "incidentd/domain.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace incidentd::ctl {

using nlohmann::json;

namespace {

// The phrase `key` of the catalogue's list/show/watch part, with its one value (if any) filled in.
std::string say(std::string_view key, Lang lang, std::string_view value = {}) {
  return report::msgf(lang, "state." + std::string(key), value);
}

// One code point from UTF-8 (invalid bytes count as one narrow character each).
char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  int extra = 0;
  char32_t cp = c;
  if (c >= 0xF0) {
    extra = 3;
    cp = c & 0x07;
  } else if (c >= 0xE0) {
    extra = 2;
    cp = c & 0x0F;
  } else if (c >= 0xC0) {
    extra = 1;
    cp = c & 0x1F;
  }
  ++i;
  for (int k = 0; k < extra && i < s.size(); ++k, ++i) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3F);
  }
  return cp;
}

// East Asian Wide and Fullwidth ranges (Unicode's EastAsianWidth W and F, the blocks Chinese
// text uses), which terminals draw two columns wide.
bool wide(char32_t cp) {
  return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) ||
         (cp >= 0x3041 && cp <= 0x33FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
         (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
         (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
         (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD);
}

// The text cut to at most `columns` columns, with "…" when cut.
std::string truncate(std::string_view s, std::size_t columns) {
  if (display_width(s) <= columns) return std::string(s);
  std::string out;
  std::size_t used = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t start = i;
    const std::size_t w = wide(next_code_point(s, i)) ? 2 : 1;
    if (used + w + 1 > columns) break;
    out.append(s.substr(start, i - start));
    used += w;
  }
  return out + "…";
}

std::string pad(const std::string& s, std::size_t columns) {
  const std::size_t w = display_width(s);
  return w >= columns ? s : s + std::string(columns - w, ' ');
}

std::string colored(const std::string& s, const char* code, bool on) {
  if (!on || code == nullptr) return s;
  return std::string("\x1b[") + code + "m" + s + "\x1b[0m";
}

// "2026-11-26T10:00:00+08:00" -> "11-26 10:00": the daemon already wrote it in its time zone.
std::string short_time(const json& rfc3339) {
  if (!rfc3339.is_string()) return {};
  std::string s = rfc3339.get<std::string>();
  if (s.size() < 16) return s;
  return s.substr(5, 5) + " " + s.substr(11, 5);
}

std::optional<TimePoint> instant(const json& rfc3339) {
  if (!rfc3339.is_string()) return std::nullopt;
  return parse_rfc3339(rfc3339.get<std::string>());
}

std::string milestone_name(const json& m, Lang lang, bool short_form) {
  const std::string id = m.value("milestone", std::string());
  std::string out = say(std::string(short_form ? "short_" : "ms_") + id, lang);
  if (id == "follow_up" && m.value("round", 0) > 0)
    out += "#" + std::to_string(m["round"].get<int>());
  return out;
}

std::string action_name(const json& step, Lang lang) {
  if (step.contains("reminder")) return say("action_reminder", lang);
  return say("action_" + step.value("action", std::string("warning")), lang);
}

// The countdown of a step: to the instant it is about (its due), as "left" or "ago".
std::string step_countdown(const json& step, TimePoint now, Lang lang) {
  const auto due = instant(step.value("due", json()));
  if (!due) return say("none", lang);
  return countdown(*due, now, lang, step.value("about", std::string("deadline")) == "deadline");
}

const char* urgency_color(const json& incident, TimePoint now) {
  bool late = false;
  bool all_met = true;
  for (const json& m : incident.value("milestones", json::array())) {
    const std::string state = m.value("state", std::string());
    if (state == "breached") return "31";  // red
    if (state == "late") late = true;
    if (state != "met") all_met = false;
  }
  if (late) return "33";
  const json& next = incident.value("next_step", json());
  if (next.is_object()) {
    if (const auto due = instant(next.value("due", json()));
        due && *due - now < std::chrono::minutes(30)) {
      return "33";  // yellow: under half an hour to go
    }
  }
  return all_met ? "32" : nullptr;
}

std::string units_cell(const json& incident) {
  std::string out;
  const std::string lead = incident.value("lead_unit", std::string());
  for (const json& u : incident.value("units", json::array())) {
    if (!out.empty()) out += ",";
    out += u.get<std::string>();
    if (u == lead) out += "*";
  }
  return out;
}

std::string milestones_cell(const json& incident, Lang lang) {
  std::string out;
  for (const json& m : incident.value("milestones", json::array())) {
    if (!out.empty()) out += lang == Lang::zh ? " " : ", ";
    out += milestone_name(m, lang, true);
    if (lang == Lang::en) out += " ";
    out += say("state_" + m.value("state", std::string("pending")), lang);
  }
  return out.empty() ? say("none", lang) : out;
}

std::string level_cell(const json& incident, Lang lang) {
  return say("level_" + incident.value("level", std::string("IV")), lang);
}

std::string title_of(const json& incident, Lang lang) {
  std::string out;
  if (incident.value("drill", false)) out += say("drill", lang);
  if (incident.value("closed", false)) out += say("closed", lang);
  return out + incident.value("title", std::string());
}

}  // namespace

std::string_view word(std::string_view key, Lang lang) {
  return report::msg(lang, "state." + std::string(key));
}

std::size_t display_width(std::string_view utf8) {
  std::size_t width = 0;
  std::size_t i = 0;
  while (i < utf8.size()) width += wide(next_code_point(utf8, i)) ? 2 : 1;
  return width;
}

std::string short_duration(Duration d, Lang lang) {
  using std::chrono::minutes;
  const auto total = std::chrono::duration_cast<minutes>(d < Duration{0} ? -d : d).count();
  if (total < 1) return say("under_1m", lang);
  constexpr decltype(total) kMinutesPerDay = 24 * 60L;
  const auto days = total / kMinutesPerDay;
  const auto hours = (total / 60) % 24;
  const auto mins = total % 60;
  std::string out;
  if (days > 0) {
    out += say("d", lang, std::to_string(days));
    if (hours > 0) out += say("h", lang, std::to_string(hours));
    return out;  // a day away, minutes do not matter
  }
  if (hours > 0) out += say("h", lang, std::to_string(hours));
  if (mins > 0) out += say("m", lang, std::to_string(mins));
  return out;
}

std::string countdown(TimePoint at, TimePoint now, Lang lang, bool deadline) {
  if (at > now) return say("left", lang, short_duration(at - now, lang));
  return say(deadline ? "breached_ago" : "target_ago", lang, short_duration(now - at, lang));
}

std::string render_list(const json& list, TimePoint now, const TextOptions& o) {
  const json& incidents = list.value("incidents", json::array());
  if (incidents.empty()) return say("no_incidents", o.lang) + "\n";
  using Row = std::array<std::string, 8>;
  std::vector<Row> rows;
  std::vector<const char*> colors;
  rows.push_back({say("hdr_key", o.lang), say("hdr_level", o.lang), say("hdr_title", o.lang),
                  say("hdr_units", o.lang), say("hdr_next", o.lang), say("hdr_at", o.lang),
                  say("hdr_countdown", o.lang), say("hdr_milestones", o.lang)});
  colors.push_back(nullptr);
  for (const json& i : incidents) {
    const json& next = i.value("next_step", json());
    Row row{i.value("incident_key", std::string()),
            level_cell(i, o.lang),
            truncate(title_of(i, o.lang), 30),
            units_cell(i),
            say("none", o.lang),
            say("none", o.lang),
            say("none", o.lang),
            milestones_cell(i, o.lang)};
    if (next.is_object()) {
      row[4] = milestone_name(next, o.lang, true) + (o.lang == Lang::en ? " " : "") +
               action_name(next, o.lang);
      row[5] = short_time(next.value("at", json()));
      row[6] = step_countdown(next, now, o.lang);
    }
    rows.push_back(std::move(row));
    colors.push_back(urgency_color(i, now));
  }
  std::array<std::size_t, 8> widths{};
  for (const Row& r : rows) {
    for (std::size_t c = 0; c < r.size(); ++c) widths[c] = std::max(widths[c], display_width(r[c]));
  }
  std::ostringstream out;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      const bool last = c + 1 == rows[r].size();
      std::string cell = last ? rows[r][c] : pad(rows[r][c], widths[c]);
      if (c == 6) cell = colored(cell, colors[r], o.color);
      if (r == 0) cell = colored(cell, "1", o.color);
      line += cell;
      if (!last) line += "  ";
    }
    out << line << '\n';
  }
  return out.str();
}

namespace {

std::string colon_of(Lang l) {
  return l == Lang::zh ? "：" : ": ";
}

std::string heading_end_of(Lang l) {
  return l == Lang::zh ? "：\n" : ":\n";  // no space before the line end
}

// The units, the lead marked; English brackets in English.
std::string units_line(const json& i, Lang l) {
  const std::string lead = i.value("lead_unit", std::string());
  std::string units;
  for (const json& u : i.value("units", json::array())) {
    if (!units.empty()) units += l == Lang::zh ? "、" : ", ";
    units += u.get<std::string>();
    if (u == lead) units += "（" + say("lead", l) + "）";
  }
  if (l == Lang::en) {
    const std::string open = "（";
    const std::string close = "）";
    for (auto at = units.find(open); at != std::string::npos; at = units.find(open)) {
      units.replace(at, open.size(), " (");
    }
    for (auto at = units.find(close); at != std::string::npos; at = units.find(close)) {
      units.replace(at, close.size(), ")");
    }
  }
  return units;
}

// The key, level and title, the units, and when it opened, its clock started and it closed.
void show_heading(std::ostream& out, const json& i, const TextOptions& o) {
  const Lang l = o.lang;
  out << colored(i.value("incident_key", std::string()), "1", o.color) << "  " << level_cell(i, l)
      << "  " << title_of(i, l) << '\n';
  const std::string colon = colon_of(l);
  out << say("units", l) << colon << units_line(i, l) << '\n';
  // Who entered it by hand, from the timeline (show has it; a list entry does not).
  const auto by_hand = [&](std::string_view action) {
    for (const json& a : i.value("timeline", json::array())) {
      if (a.value("action", "") == action && a.value("source", "") == kManualPlatform) {
        return say("by_hand", l, a.value("by", std::string("?")));
      }
    }
    return std::string();
  };
  out << say("opened", l) << colon << short_time(i.value("opened_at", json()))
      << by_hand("incident_opened") << '\n';
  if (i.contains("clock_start")) {
    out << say("clock_start", l) << colon << short_time(i["clock_start"]) << '\n';
  } else {
    out << say("clock_start", l) << colon << say("no_clock", l) << '\n';
  }
  if (i.contains("closed_at")) {
    out << say("closed_at", l) << colon << short_time(i["closed_at"]) << by_hand("incident_closed")
        << '\n';
  }
}

// One milestone's line: its state, target and deadline, with countdowns while it is not met.
std::string milestone_line(const json& i, const json& m, std::size_t name_width, TimePoint now,
                           const TextOptions& o) {
  const Lang l = o.lang;
  const std::string state = m.value("state", std::string("pending"));
  const char* color = state == "breached" ? "31"
                      : state == "late"   ? "33"
                      : state == "met"    ? "32"
                                          : nullptr;
  std::string line = "  " + pad(milestone_name(m, l, false), name_width) + "  " +
                     colored(pad(say("state_" + state, l), 10), color, o.color);
  // No countdown for what is met, nor for anything of a closed incident.
  const bool met = m.value("met", false) || i.value("closed", false);
  if (m.contains("target")) {
    line += "  " + say("target", l) + " " + short_time(m["target"]);
    if (!met) {
      line += " (" + countdown(*instant(m["target"]), now, l, false) + ")";
    }
  }
  line += "  " + say("deadline", l) + " " + short_time(m.value("deadline", json()));
  if (!met) {
    if (const auto d = instant(m.value("deadline", json()))) {
      line += " (" + countdown(*d, now, l, true) + ")";
    }
  }
  return line;
}

void show_milestones(std::ostream& out, const json& i, TimePoint now, const TextOptions& o) {
  const Lang l = o.lang;
  const json& milestones = i.value("milestones", json::array());
  if (milestones.empty()) return;
  out << '\n' << say("milestones", l) << heading_end_of(l);
  std::size_t name_width = 0;
  for (const json& m : milestones) {
    name_width = std::max(name_width, display_width(milestone_name(m, l, false)));
  }
  for (const json& m : milestones) {
    out << milestone_line(i, m, name_width, now, o) << '\n';
    std::string confirmed;
    const json units_confirmed = m.value("confirmed_units", json::object());
    for (const auto& [unit, at] : units_confirmed.items()) {
      if (!confirmed.empty()) confirmed += ", ";
      confirmed += unit + " " + short_time(at);
    }
    out << "  " << std::string(name_width, ' ') << "  " << say("confirmed", l) << colon_of(l)
        << (confirmed.empty() ? say("nobody", l) : confirmed) << '\n';
  }
}

// The next step, then every step still to come, in time order.
void show_steps(std::ostream& out, const json& i, TimePoint now, Lang l) {
  const json& next = i.value("next_step", json());
  out << '\n' << say("next_step", l) << colon_of(l);
  if (next.is_object()) {
    out << short_time(next.value("at", json())) << "  " << milestone_name(next, l, false) << " "
        << action_name(next, l) << " ("
        << say("level_word", l, std::to_string(next.value("level", 0))) << ")  "
        << step_countdown(next, now, l) << '\n';
  } else {
    out << say("none", l) << '\n';
  }

  std::vector<std::string> to_come;
  for (const json& m : i.value("milestones", json::array())) {
    for (const json& s : m.value("upcoming", json::array())) {
      to_come.push_back("  " + short_time(s.value("at", json())) + "  " +
                        milestone_name(m, l, false) + " " + action_name(s, l) + " (" +
                        say("level_word", l, std::to_string(s.value("level", 0))) + ")");
    }
  }
  std::sort(to_come.begin(), to_come.end());  // "  MM-DD HH:MM" sorts by time
  if (!to_come.empty()) {
    out << '\n' << say("to_come", l) << heading_end_of(l);
    for (const auto& line : to_come) out << line << '\n';
  }
}

// Who was notified, when first, how often, and whether they acknowledged.
void show_notified(std::ostream& out, const json& i, const TextOptions& o) {
  const Lang l = o.lang;
  const json& notified = i.value("notified", json::array());
  if (notified.empty()) return;
  out << '\n' << say("notified", l) << heading_end_of(l);
  std::size_t person_width = 0;
  std::size_t name_width = 0;
  std::size_t unit_width = 0;
  for (const json& p : notified) {
    person_width = std::max(person_width, display_width(p.value("person", std::string())));
    name_width = std::max(name_width, display_width(p.value("name", std::string())));
    unit_width = std::max(unit_width, display_width(p.value("unit", std::string())));
  }
  for (const json& p : notified) {
    const json& ack = p.value("acknowledged_at", json());
    out << "  " << pad(p.value("person", std::string()), person_width) << "  "
        << pad(p.value("name", std::string()), name_width) << "  "
        << pad(p.value("unit", std::string()), unit_width) << "  "
        << short_time(p.value("first_notified_at", json())) << "  "
        << pad(say("times", l, std::to_string(p.value("notifications", 0))), 4) << "  "
        << (ack.is_string() ? colored(say("acknowledged", l, short_time(ack)), "32", o.color)
                            : colored(say("not_acknowledged", l), "33", o.color))
        << '\n';
  }
}

}  // namespace

std::string render_show(const json& i, TimePoint now, const TextOptions& o) {
  std::ostringstream out;
  show_heading(out, i, o);
  show_milestones(out, i, now, o);
  show_steps(out, i, now, o.lang);
  show_notified(out, i, o);
  return out.str();
}

std::string source_silent_line(const json& since, Lang lang) {
  return say("source_silent", lang, since.is_string() ? short_time(since) : say("none", lang));
}

std::string render_watch(const json& list, TimePoint now, const TextOptions& o,
                         const std::string& status_line) {
  std::string drawn = format_rfc3339(now, o.utc_offset);  // "2026-11-26T10:00:00+08:00"
  drawn = drawn.substr(0, 10) + " " + drawn.substr(11, 8);
  std::string out = colored(say("watch_title", o.lang, drawn), "1", o.color);
  out += "  (" + say("watch_quit", o.lang) + ")\n";
  if (!status_line.empty()) out += colored(status_line, "31", o.color) + "\n";
  out += "\n" + render_list(list, now, o);
  return out;
}

}  // namespace incidentd::ctl
