#include "incidentd/incident_figures.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <utility>

namespace incidentd {
namespace {

int severity(Level level) {
  switch (level) {
    case Level::I:
      return 4;
    case Level::II:
      return 3;
    case Level::III:
      return 2;
    case Level::IV:
      return 1;
  }
  return 0;
}

// Every open capture sees the row: a row at another instant ends it; a first send of the breach's
// alert (not to a deputy) adds its unit.
void capture_breach_units(std::vector<BreachFigure>& breaches, const Action& a) {
  for (auto& b : breaches) {
    if (!b.capturing) continue;
    if (a.at != b.at) {
      b.capturing = false;
      continue;
    }
    if (a.kind != ActionKind::notification || a.send != 1 || !a.deputy_of.empty() ||
        a.cause != ActionKind::deadline_breached || a.milestone != b.milestone) {
      continue;
    }
    const std::string alert = alert_of_notification(a.notification_id);
    if (b.alert.empty()) b.alert = alert;
    if (alert != b.alert) continue;
    const auto at = std::lower_bound(b.units.begin(), b.units.end(), a.unit);
    if (at == b.units.end() || *at != a.unit) b.units.insert(at, a.unit);
  }
}

class Writer {
 public:
  void number(std::int64_t v) {
    out_.append(std::to_string(v));
    out_.push_back(' ');
  }
  void text(std::string_view s) {
    out_.append(std::to_string(s.size()));
    out_.push_back(':');
    out_.append(s);
  }
  void instant(std::optional<TimePoint> t) {
    if (t) {
      number(t->time_since_epoch().count());
    } else {
      out_.append("- ");
    }
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class FiguresReader {
 public:
  explicit FiguresReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }

  std::int64_t number() {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(in_.data(), in_.data() + in_.size(), v);
    if (ec != std::errc() || end == in_.data() + in_.size() || *end != ' ') return fail();
    in_.remove_prefix(static_cast<std::size_t>(end - in_.data()) + 1);
    return v;
  }
  std::optional<TimePoint> instant() {
    if (in_.substr(0, 2) == "- ") {
      in_.remove_prefix(2);
      return std::nullopt;
    }
    return TimePoint(Duration(number()));
  }
  std::string text() {
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(in_.data(), in_.data() + in_.size(), n);
    if (ec != std::errc() || end == in_.data() + in_.size() || *end != ':') {
      fail();
      return {};
    }
    const std::size_t skip = static_cast<std::size_t>(end - in_.data()) + 1;
    if (in_.size() - skip < n) {
      fail();
      return {};
    }
    std::string s(in_.substr(skip, n));
    in_.remove_prefix(skip + n);
    return s;
  }
  // A count of items that follow, each at least two bytes long: a bound against garbage.
  std::size_t count() {
    const std::int64_t n = number();
    if (n < 0 || static_cast<std::size_t>(n) > in_.size()) return static_cast<std::size_t>(fail());
    return static_cast<std::size_t>(n);
  }

 private:
  std::int64_t fail() {
    ok_ = false;
    in_ = {};
    return 0;
  }
  std::string_view in_;
  bool ok_ = true;
};

constexpr std::int64_t kFormat = 1;

void write_people(Writer& w, const std::map<std::string, TimePoint>& people) {
  w.number(static_cast<std::int64_t>(people.size()));
  for (const auto& [person, at] : people) {
    w.text(person);
    w.number(at.time_since_epoch().count());
  }
}

void read_people(FiguresReader& r, std::map<std::string, TimePoint>& people) {
  const std::size_t n = r.count();
  for (std::size_t i = 0; i < n && r.ok(); ++i) {
    std::string person = r.text();
    people.emplace_hint(people.end(), std::move(person), TimePoint(Duration(r.number())));
  }
}

}  // namespace

std::string alert_of_notification(const std::string& notification_id) {
  const auto last = notification_id.rfind('/');
  if (last == std::string::npos || last == 0) return notification_id;
  const auto before = notification_id.rfind('/', last - 1);
  return before == std::string::npos ? notification_id : notification_id.substr(0, before);
}

void IncidentFigures::apply(const Action& a) {
  capture_breach_units(breaches, a);
  switch (a.kind) {
    case ActionKind::notification:
      first_notified.try_emplace(a.recipient, a.at);
      break;
    case ActionKind::incident_opened:
    case ActionKind::level_changed:
      if (a.incident_level && (!max_level || severity(*a.incident_level) > severity(*max_level))) {
        max_level = a.incident_level;
      }
      break;
    case ActionKind::milestone_met:
      if (a.milestone == Milestone::first_release && !first_release) first_release = a.released_at;
      if (a.milestone == Milestone::press_conference && !press) press = a.released_at;
      break;
    case ActionKind::deadline_breached: {
      // A milestone round breaches once; the first line says so whatever its reminder number
      // (after a catch-up the breach itself may have been superseded).
      if (!a.milestone) break;
      const bool seen = std::any_of(breaches.begin(), breaches.end(), [&](const BreachFigure& b) {
        return b.milestone == *a.milestone && b.round == a.round;
      });
      if (!seen) breaches.push_back({*a.milestone, a.round, a.at, true, "", {}});
      break;
    }
    case ActionKind::acknowledged: {
      const auto first = first_notified.find(a.recipient);
      if (first != first_notified.end() && a.at >= first->second) {
        acknowledged.try_emplace(a.recipient, a.at);
      }
      break;
    }
    default:
      break;
  }
}

std::string IncidentFigures::encode() const {
  Writer w;
  w.number(kFormat);
  w.number(max_level ? static_cast<std::int64_t>(*max_level) : -1);
  w.instant(first_release);
  w.instant(press);
  write_people(w, first_notified);
  write_people(w, acknowledged);
  w.number(static_cast<std::int64_t>(breaches.size()));
  for (const auto& b : breaches) {
    w.number(static_cast<std::int64_t>(b.milestone));
    w.number(b.round);
    w.number(b.at.time_since_epoch().count());
    w.number(b.capturing ? 1 : 0);
    w.text(b.alert);
    w.number(static_cast<std::int64_t>(b.units.size()));
    for (const auto& u : b.units) w.text(u);
  }
  return w.take();
}

std::optional<IncidentFigures> IncidentFigures::decode(std::string_view text) {
  FiguresReader r(text);
  IncidentFigures f;
  if (r.number() != kFormat) return std::nullopt;
  const std::int64_t level = r.number();
  if (level >= 0) {
    if (level > static_cast<std::int64_t>(Level::IV)) return std::nullopt;
    f.max_level = static_cast<Level>(level);
  }
  f.first_release = r.instant();
  f.press = r.instant();
  read_people(r, f.first_notified);
  read_people(r, f.acknowledged);
  const std::size_t breaches = r.count();
  for (std::size_t i = 0; i < breaches && r.ok(); ++i) {
    BreachFigure b;
    const std::int64_t milestone = r.number();
    if (milestone < 0 || milestone > static_cast<std::int64_t>(Milestone::follow_up)) {
      return std::nullopt;
    }
    b.milestone = static_cast<Milestone>(milestone);
    b.round = static_cast<int>(r.number());
    b.at = TimePoint(Duration(r.number()));
    b.capturing = r.number() != 0;
    b.alert = r.text();
    const std::size_t units = r.count();
    for (std::size_t u = 0; u < units && r.ok(); ++u) b.units.push_back(r.text());
    f.breaches.push_back(std::move(b));
  }
  if (!r.ok() || !r.done()) return std::nullopt;
  return f;
}

std::string encode_string_list(const std::vector<std::string>& items) {
  Writer w;
  w.number(static_cast<std::int64_t>(items.size()));
  for (const auto& item : items) w.text(item);
  return w.take();
}

std::optional<std::vector<std::string>> decode_string_list(std::string_view text) {
  FiguresReader r(text);
  std::vector<std::string> out;
  const std::size_t n = r.count();
  for (std::size_t i = 0; i < n && r.ok(); ++i) out.push_back(r.text());
  if (!r.ok() || !r.done()) return std::nullopt;
  return out;
}

}  // namespace incidentd
