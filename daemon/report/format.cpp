#include "report/format.hpp"

#include <cstdio>
#include <cstdlib>

namespace incidentd::report {

std::string local_time(TimePoint t, std::chrono::minutes utc_offset) {
  const auto local = t + utc_offset;
  const auto day = std::chrono::floor<std::chrono::days>(local);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{std::chrono::floor<std::chrono::seconds>(local - day)};
  char out[96];
  std::snprintf(out, sizeof out, "%04d-%02u-%02u %02ld:%02ld", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()));
  std::string text = out;
  if (hms.seconds().count() != 0) {
    std::snprintf(out, sizeof out, ":%02ld", static_cast<long>(hms.seconds().count()));
    text += out;
  }
  return text;
}

std::string local_time(const std::optional<TimePoint>& t, std::chrono::minutes utc_offset) {
  return t ? local_time(*t, utc_offset) : std::string("—");
}

std::string offset_label(std::chrono::minutes utc_offset) {
  const long total = static_cast<long>(utc_offset.count());
  char out[48];
  std::snprintf(out, sizeof out, "%c%02ld:%02ld", total < 0 ? '-' : '+', std::labs(total) / 60,
                std::labs(total) % 60);
  return out;
}

std::string human_duration(Duration d, Lang lang) {
  using namespace std::chrono;
  auto left = duration_cast<seconds>(d < Duration{0} ? -d : d);
  const auto days_part = duration_cast<days>(left);
  left -= days_part;
  const auto hours_part = duration_cast<hours>(left);
  left -= hours_part;
  const auto minutes_part = duration_cast<minutes>(left);
  left -= minutes_part;
  std::string out;
  const auto add = [&out, lang](long long n, std::string_view unit) {
    if (n == 0) return;
    out += msgf(lang, out.empty() ? "duration.first" : "duration.next", n, msg(lang, unit));
  };
  add(days_part.count(), "unit.d");
  add(hours_part.count(), "unit.h");
  add(minutes_part.count(), "unit.min");
  // Seconds only matter for short spans; a day-long delay is not read to the second.
  if (days_part.count() == 0 && hours_part.count() == 0) add(left.count(), "unit.s");
  return out.empty() ? std::string(msg(lang, "duration.zero")) : out;
}

std::string early_or_late(Duration d, Lang lang) {
  if (d == Duration{0}) return std::string(msg(lang, "time.on_the_minute"));
  return msgf(lang, d < Duration{0} ? "time.early" : "time.late", human_duration(d, lang));
}

long long minutes_of(Duration d) {
  return static_cast<long long>(std::chrono::duration_cast<std::chrono::minutes>(d).count());
}

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

std::string role_label(std::string_view role, Lang lang) {
  if (role == "duty" || role == "leader" || role == "principal" || role == "deputy") {
    return std::string(msg(lang, "role." + std::string(role)));
  }
  return std::string(role);
}

std::string milestone_label(Milestone m, int round, Lang lang) {
  switch (m) {
    case Milestone::first_release:
      return std::string(msg(lang, "milestone.first_release"));
    case Milestone::press_conference:
      return std::string(msg(lang, "milestone.press_conference"));
    case Milestone::follow_up:
      return round > 0 ? msgf(lang, "milestone.follow_up_round", round)
                       : std::string(msg(lang, "milestone.follow_up"));
  }
  return std::string(to_string(m));
}

std::string action_label(ActionKind kind, Lang lang) {
  switch (kind) {
    case ActionKind::warning:
      return std::string(msg(lang, "action.warning"));
    case ActionKind::target_missed:
      return std::string(msg(lang, "action.target_missed"));
    case ActionKind::deadline_breached:
      return std::string(msg(lang, "action.deadline_breached"));
    case ActionKind::escalated:
      return std::string(msg(lang, "action.escalated"));
    default:
      return std::string(to_string(kind));
  }
}

std::string level_label(std::string_view level, Lang lang) {
  if (level == "I" || level == "II" || level == "III" || level == "IV") {
    return msgf(lang, "level.named", level, msg(lang, "level." + std::string(level)));
  }
  return std::string(level);
}

}  // namespace incidentd::report
