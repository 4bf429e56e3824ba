#include "incidentd/time.hpp"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>

namespace incidentd {
namespace {

// Reads an unsigned decimal of exactly `width` digits (or any width when width == 0).
bool read_digits(std::string_view& s, int width, std::int64_t& out) {
  std::size_t n = 0;
  while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n])) &&
         (width == 0 || n < static_cast<std::size_t>(width))) {
    ++n;
  }
  if (n == 0 || (width != 0 && n != static_cast<std::size_t>(width))) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + n, out);
  if (ec != std::errc{}) return false;
  s.remove_prefix(n);
  return true;
}

bool expect(std::string_view& s, char c) {
  if (s.empty() || (s.front() != c && !(c == 'T' && (s.front() == 't' || s.front() == ' ')))) {
    return false;
  }
  s.remove_prefix(1);
  return true;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  bool negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return std::nullopt;
  Duration total{0};
  // Units must appear from largest to smallest, each at most once: "1d2h30m15s500ms".
  int last_rank = -1;
  while (!text.empty()) {
    std::int64_t value = 0;
    if (!read_digits(text, 0, value)) return std::nullopt;
    int rank = 0;
    Duration unit{};
    if (text.starts_with("ms")) {
      rank = 4, unit = Duration(1);
      text.remove_prefix(2);
    } else if (text.starts_with("d")) {
      rank = 0, unit = std::chrono::hours(24);
      text.remove_prefix(1);
    } else if (text.starts_with("h")) {
      rank = 1, unit = std::chrono::hours(1);
      text.remove_prefix(1);
    } else if (text.starts_with("m")) {
      rank = 2, unit = std::chrono::minutes(1);
      text.remove_prefix(1);
    } else if (text.starts_with("s")) {
      rank = 3, unit = std::chrono::seconds(1);
      text.remove_prefix(1);
    } else {
      return std::nullopt;
    }
    if (rank <= last_rank || value > 1'000'000'000) return std::nullopt;
    last_rank = rank;
    total += unit * value;
  }
  return negative ? -total : total;
}

std::string format_duration(Duration d) {
  if (d == Duration{0}) return "0s";
  std::string out;
  if (d < Duration{0}) {
    out = "-";
    d = -d;
  }
  const auto emit = [&](Duration unit, const char* suffix) {
    if (d >= unit) {
      out += std::to_string(d / unit) + suffix;
      d %= unit;
    }
  };
  emit(std::chrono::hours(1), "h");
  emit(std::chrono::minutes(1), "m");
  emit(std::chrono::seconds(1), "s");
  emit(Duration(1), "ms");
  return out;
}

std::optional<TimePoint> parse_rfc3339(std::string_view s) {
  std::int64_t y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_digits(s, 4, y) || !expect(s, '-') || !read_digits(s, 2, mo) || !expect(s, '-') ||
      !read_digits(s, 2, d) || !expect(s, 'T') || !read_digits(s, 2, h) || !expect(s, ':') ||
      !read_digits(s, 2, mi) || !expect(s, ':') || !read_digits(s, 2, sec)) {
    return std::nullopt;
  }
  std::int64_t millis = 0;
  if (!s.empty() && s.front() == '.') {
    s.remove_prefix(1);
    std::size_t n = 0;
    std::int64_t scale = 100;
    while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) {
      millis += (s[n] - '0') * scale;
      scale /= 10;
      ++n;
    }
    if (n == 0) return std::nullopt;
    s.remove_prefix(n);
  }
  std::int64_t offset_minutes = 0;
  if (!s.empty() && (s.front() == 'Z' || s.front() == 'z')) {
    s.remove_prefix(1);
  } else if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    const int sign = s.front() == '-' ? -1 : 1;
    s.remove_prefix(1);
    std::int64_t oh = 0, om = 0;
    if (!read_digits(s, 2, oh) || !expect(s, ':') || !read_digits(s, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return std::nullopt;  // an offset is mandatory
  }
  if (!s.empty()) return std::nullopt;
  using namespace std::chrono;
  const year_month_day ymd{year{static_cast<int>(y)}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  // A leap second (60) is accepted by RFC 3339; it is folded into the next second.
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  const auto local = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + milliseconds{millis};
  return time_point_cast<Duration>(local - minutes{offset_minutes});
}

std::string format_rfc3339(TimePoint t, std::chrono::minutes utc_offset) {
  using namespace std::chrono;
  const auto local = t + utc_offset;
  const auto day_point = floor<days>(local);
  const year_month_day ymd{day_point};
  const hh_mm_ss<Duration> tod{local - day_point};
  char buf[64];
  int n =
      std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                    static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                    static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                    static_cast<int>(tod.seconds().count()));
  std::string out(buf, static_cast<std::size_t>(n));
  if (const auto ms = tod.subseconds().count(); ms != 0) {
    n = std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(ms));
    out.append(buf, static_cast<std::size_t>(n));
  }
  if (utc_offset == minutes{0}) {
    out += 'Z';
  } else {
    const auto off = utc_offset.count();
    n = std::snprintf(buf, sizeof buf, "%c%02d:%02d", off < 0 ? '-' : '+',
                      static_cast<int>((off < 0 ? -off : off) / 60),
                      static_cast<int>((off < 0 ? -off : off) % 60));
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace incidentd
