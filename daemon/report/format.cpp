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

std::string human_duration(Duration d) {
  using namespace std::chrono;
  auto left = duration_cast<seconds>(d < Duration{0} ? -d : d);
  const auto days_part = duration_cast<days>(left);
  left -= days_part;
  const auto hours_part = duration_cast<hours>(left);
  left -= hours_part;
  const auto minutes_part = duration_cast<minutes>(left);
  left -= minutes_part;
  std::string out;
  const auto add = [&out](long long n, const char* unit) {
    if (n == 0) return;
    if (!out.empty()) out += ' ';
    out += std::to_string(n) + ' ' + unit;
  };
  add(days_part.count(), "d");
  add(hours_part.count(), "h");
  add(minutes_part.count(), "min");
  // Seconds only matter for short spans; a day-long delay is not read to the second.
  if (days_part.count() == 0 && hours_part.count() == 0) add(left.count(), "s");
  return out.empty() ? "0 min" : out;
}

std::string early_or_late(Duration d) {
  if (d == Duration{0}) return "on the minute";
  return human_duration(d) + (d < Duration{0} ? " early" : " late");
}

long long minutes_of(Duration d) {
  return static_cast<long long>(std::chrono::duration_cast<std::chrono::minutes>(d).count());
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
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

std::string role_label(std::string_view role) {
  if (role == "duty") return "duty officer";
  if (role == "leader") return "unit leader";
  if (role == "principal") return "principal leader";
  if (role == "deputy") return "deputy";
  return std::string(role);
}

std::string milestone_label(Milestone m, int round) {
  switch (m) {
    case Milestone::first_release:
      return "first release";
    case Milestone::press_conference:
      return "press conference";
    case Milestone::follow_up:
      return round > 0 ? "follow-up " + std::to_string(round) : "follow-up";
  }
  return std::string(to_string(m));
}

std::string action_label(ActionKind kind) {
  switch (kind) {
    case ActionKind::warning:
      return "warning";
    case ActionKind::target_missed:
      return "target missed";
    case ActionKind::deadline_breached:
      return "deadline breached";
    case ActionKind::escalated:
      return "escalated";
    default:
      return std::string(to_string(kind));
  }
}

}  // namespace incidentd::report
