#include "incidentd/state_codec.hpp"

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include "core/hex.hpp"

namespace incidentd {
namespace {

using nlohmann::json;

// Instants and durations are integer milliseconds: exact (no parsing, no offset) and compact.
std::int64_t millis(TimePoint t) {
  return t.time_since_epoch().count();
}
std::int64_t millis(Duration d) {
  return d.count();
}
TimePoint instant(const json& j) {
  return TimePoint{Duration{j.get<std::int64_t>()}};
}
Duration duration(const json& j) {
  return Duration{j.get<std::int64_t>()};
}

[[noreturn]] void bad_value(const json& j, std::string_view what) {
  throw json::other_error::create(501, "state: unknown " + std::string(what) + " " + j.dump(), &j);
}

Level level_of(const json& j) {
  if (auto v = parse_level(j.get<std::string>())) return *v;
  bad_value(j, "level");
}
Milestone milestone_of(const json& j) {
  if (auto v = parse_milestone(j.get<std::string>())) return *v;
  bad_value(j, "milestone");
}
ActionKind action_of(const json& j) {
  if (auto v = parse_action_kind(j.get<std::string>())) return *v;
  bad_value(j, "action");
}

// An absent optional is left out of the object rather than written as null.
void put(json& j, const char* name, const std::optional<TimePoint>& t) {
  if (t) j[name] = millis(*t);
}
std::optional<TimePoint> optional_instant(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return instant(*it);
}

// Objects are filled key by key: nlohmann's initializer-list form copies every value and costs
// about twice as much, and this runs for every changed incident of every commit.
json step_to_json(const ScheduledStep& s) {
  json j = json::object();
  j["at"] = millis(s.at);
  j["action"] = to_string(s.action);
  j["level"] = s.level;
  j["due"] = millis(s.due);
  return j;
}

ScheduledStep step_from_json(const json& j) {
  ScheduledStep s;
  s.at = instant(j.at("at"));
  s.action = action_of(j.at("action"));
  s.level = j.at("level").get<int>();
  s.due = instant(j.at("due"));
  return s;
}

json milestone_to_json(const MilestoneState& m) {
  json j = json::object();
  j["milestone"] = to_string(m.milestone);
  j["armed"] = m.armed;
  j["round"] = m.round;
  put(j, "target", m.target);
  j["deadline"] = millis(m.deadline);
  json& steps = j["steps"] = json::array();
  for (const auto& s : m.steps) steps.push_back(step_to_json(s));
  j["next_step"] = m.next_step;
  put(j, "breached_at", m.breached_at);
  j["reminders"] = m.reminders;
  j["escalation"] = m.escalation;
  json& confirmed = j["confirmed_units"] = json::object();  // unit -> released_at
  for (const auto& [unit, at] : m.confirmed_units) confirmed[unit] = millis(at);
  put(j, "met_at", m.met_at);
  return j;
}

MilestoneState milestone_from_json(const json& j) {
  MilestoneState m;
  m.milestone = milestone_of(j.at("milestone"));
  m.armed = j.at("armed").get<bool>();
  m.round = j.at("round").get<int>();
  m.target = optional_instant(j, "target");
  m.deadline = instant(j.at("deadline"));
  for (const auto& s : j.at("steps")) m.steps.push_back(step_from_json(s));
  m.next_step = j.at("next_step").get<std::size_t>();
  m.breached_at = optional_instant(j, "breached_at");
  m.reminders = j.at("reminders").get<int>();
  m.escalation = j.at("escalation").get<int>();
  const json& confirmed = j.at("confirmed_units");
  if (!confirmed.is_object()) {
    throw json::type_error::create(302, "state: confirmed_units must be an object", &confirmed);
  }
  for (const auto& [unit, at] : confirmed.items()) {
    m.confirmed_units.emplace(unit, instant(at));
  }
  m.met_at = optional_instant(j, "met_at");
  return m;
}

json delivery_to_json(const PendingDelivery& d) {
  json j = json::object();
  j["alert_id"] = d.alert_id;
  j["recipient"] = d.recipient;
  j["unit"] = d.unit;
  j["channel"] = d.channel;
  j["deputy_of"] = d.deputy_of;
  j["milestone"] = to_string(d.milestone);
  j["cause"] = to_string(d.cause);
  j["level"] = d.level;
  j["due"] = millis(d.due);
  j["round"] = d.round;
  j["reminder"] = d.reminder;
  j["sends"] = d.sends;
  j["next_send"] = millis(d.next_send);
  j["deputy_added"] = d.deputy_added;
  j["acknowledged"] = d.acknowledged;
  if (d.opening) j["opening"] = true;
  return j;
}

PendingDelivery delivery_from_json(const json& j) {
  PendingDelivery d;
  d.alert_id = j.at("alert_id").get<std::string>();
  d.recipient = j.at("recipient").get<std::string>();
  d.unit = j.at("unit").get<std::string>();
  d.channel = j.at("channel").get<std::string>();
  d.deputy_of = j.at("deputy_of").get<std::string>();
  d.milestone = milestone_of(j.at("milestone"));
  d.cause = action_of(j.at("cause"));
  d.level = j.at("level").get<int>();
  d.due = instant(j.at("due"));
  d.round = j.at("round").get<int>();
  d.reminder = j.at("reminder").get<int>();
  d.sends = j.at("sends").get<int>();
  d.next_send = instant(j.at("next_send"));
  d.deputy_added = j.at("deputy_added").get<bool>();
  d.acknowledged = j.at("acknowledged").get<bool>();
  d.opening = j.value("opening", false);  // absent in states written before the 0 h row
  return d;
}

// The direct writer behind state_to_json_text. Keys are written in the order nlohmann's std::map
// keeps them (sorted), so the text is identical to dump(); store_test checks that it is.
class TextWriter {
 public:
  explicit TextWriter(std::string& out) : out_(out) {}

  bool ok() const { return ok_; }

  void state(const IncidentState& s) {
    out_ += '{';
    key("alert_seq", true);
    number(s.alert_seq);
    key("category");
    string(s.category);
    optional_instant("clock_start", s.clock_start);
    key("closed");
    boolean(s.closed);
    optional_instant("closed_at", s.closed_at);
    key("deliveries");
    out_ += '[';
    for (std::size_t i = 0; i < s.deliveries.size(); ++i) {
      if (i > 0) out_ += ',';
      delivery(s.deliveries[i]);
    }
    out_ += ']';
    key("deputy_after_sends");
    number(s.deputy_after_sends);
    key("drill");
    boolean(s.drill);
    key("key");
    string(s.key);
    key("lead_unit");
    string(s.lead_unit);
    key("level");
    string(to_string(s.level));
    key("milestones");
    out_ += '[';
    for (std::size_t i = 0; i < s.milestones.size(); ++i) {
      if (i > 0) out_ += ',';
      milestone(s.milestones[i]);
    }
    out_ += ']';
    key("notified");
    strings(s.notified);
    key("opened_at");
    number(millis(s.opened_at));
    key("overdue_every");
    number(millis(s.overdue_every));
    key("region");
    string(s.region);
    key("resend_after");
    number(millis(s.resend_after));
    key("title");
    string(s.title);
    key("units");
    strings(s.units);
    out_ += '}';
  }

 private:
  void milestone(const MilestoneState& m) {
    out_ += '{';
    key("armed", true);
    boolean(m.armed);
    optional_instant("breached_at", m.breached_at);
    key("confirmed_units");
    out_ += '{';
    bool first = true;
    for (const auto& [unit, at] : m.confirmed_units) {
      if (!first) out_ += ',';
      first = false;
      string(unit);
      out_ += ':';
      number(millis(at));
    }
    out_ += '}';
    key("deadline");
    number(millis(m.deadline));
    key("escalation");
    number(m.escalation);
    optional_instant("met_at", m.met_at);
    key("milestone");
    string(to_string(m.milestone));
    key("next_step");
    number(m.next_step);
    key("reminders");
    number(m.reminders);
    key("round");
    number(m.round);
    key("steps");
    out_ += '[';
    for (std::size_t i = 0; i < m.steps.size(); ++i) {
      if (i > 0) out_ += ',';
      const ScheduledStep& step = m.steps[i];
      out_ += '{';
      key("action", true);
      string(to_string(step.action));
      key("at");
      number(millis(step.at));
      key("due");
      number(millis(step.due));
      key("level");
      number(step.level);
      out_ += '}';
    }
    out_ += ']';
    optional_instant("target", m.target);
    out_ += '}';
  }

  void delivery(const PendingDelivery& d) {
    out_ += '{';
    key("acknowledged", true);
    boolean(d.acknowledged);
    key("alert_id");
    string(d.alert_id);
    key("cause");
    string(to_string(d.cause));
    key("channel");
    string(d.channel);
    key("deputy_added");
    boolean(d.deputy_added);
    key("deputy_of");
    string(d.deputy_of);
    key("due");
    number(millis(d.due));
    key("level");
    number(d.level);
    key("milestone");
    string(to_string(d.milestone));
    key("next_send");
    number(millis(d.next_send));
    if (d.opening) {
      key("opening");
      boolean(true);
    }
    key("recipient");
    string(d.recipient);
    key("reminder");
    number(d.reminder);
    key("round");
    number(d.round);
    key("sends");
    number(d.sends);
    key("unit");
    string(d.unit);
    out_ += '}';
  }

  // Keys are plain ASCII literals: no escaping needed.
  void key(const char* name, bool first = false) {
    if (!first) out_ += ',';
    out_ += '"';
    out_ += name;
    out_ += "\":";
  }
  void optional_instant(const char* name, const std::optional<TimePoint>& t) {
    if (!t) return;
    key(name);
    number(millis(*t));
  }
  void boolean(bool b) { out_ += b ? "true" : "false"; }
  template <typename Int>
  void number(Int v) {
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, v);
    out_.append(buffer, result.ptr);
  }
  template <typename Container>
  void strings(const Container& values) {
    out_ += '[';
    bool first = true;
    for (const auto& v : values) {
      if (!first) out_ += ',';
      first = false;
      string(v);
    }
    out_ += ']';
  }

  // As nlohmann's serializer with ensure_ascii off: the two-character escapes it uses, \u00xx for
  // the other control characters, everything else verbatim. Invalid UTF-8 is not handled here:
  // the caller falls back to nlohmann, whose replacement rules are then the ones that apply.
  void string(std::string_view s) {
    if (!simdjson::validate_utf8(s.data(), s.size())) ok_ = false;
    out_ += '"';
    std::size_t verbatim = 0;  // where the run of characters copied as they are begins
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      out_.append(s.substr(verbatim, i - verbatim));
      escape(c);
      verbatim = i + 1;
    }
    out_.append(s.substr(verbatim));
    out_ += '"';
  }

  void escape(unsigned char c) {
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\b':
        out_ += "\\b";
        break;
      case '\f':
        out_ += "\\f";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\r':
        out_ += "\\r";
        break;
      case '\t':
        out_ += "\\t";
        break;
      default: {
        out_ += "\\u00";
        out_ += hex_digit(c >> 4U);
        out_ += hex_digit(c);
      }
    }
  }

  std::string& out_;
  bool ok_ = true;
};

}  // namespace

json state_to_json(const IncidentState& s) {
  json j = json::object();
  j["key"] = s.key;
  j["title"] = s.title;
  j["category"] = s.category;
  j["region"] = s.region;
  j["lead_unit"] = s.lead_unit;
  j["units"] = s.units;
  j["level"] = to_string(s.level);
  j["drill"] = s.drill;
  j["closed"] = s.closed;
  j["opened_at"] = millis(s.opened_at);
  put(j, "clock_start", s.clock_start);
  put(j, "closed_at", s.closed_at);
  json& milestones = j["milestones"] = json::array();
  for (const auto& m : s.milestones) milestones.push_back(milestone_to_json(m));
  json& deliveries = j["deliveries"] = json::array();
  for (const auto& d : s.deliveries) deliveries.push_back(delivery_to_json(d));
  j["notified"] = s.notified;
  j["alert_seq"] = s.alert_seq;
  j["overdue_every"] = millis(s.overdue_every);
  j["resend_after"] = millis(s.resend_after);
  j["deputy_after_sends"] = s.deputy_after_sends;
  return j;
}

std::string state_to_json_text(const IncidentState& state) {
  std::string out;
  out.reserve(2048);
  TextWriter writer(out);
  writer.state(state);
  if (writer.ok()) return out;
  return state_to_json(state).dump(-1, ' ', false, json::error_handler_t::replace);
}

IncidentState state_from_json(const json& j) {
  IncidentState s;
  s.key = j.at("key").get<std::string>();
  s.title = j.at("title").get<std::string>();
  s.category = j.at("category").get<std::string>();
  s.region = j.at("region").get<std::string>();
  s.lead_unit = j.at("lead_unit").get<std::string>();
  s.units = j.at("units").get<std::vector<std::string>>();
  s.level = level_of(j.at("level"));
  s.drill = j.at("drill").get<bool>();
  s.closed = j.at("closed").get<bool>();
  s.opened_at = instant(j.at("opened_at"));
  s.clock_start = optional_instant(j, "clock_start");
  s.closed_at = optional_instant(j, "closed_at");
  const json& milestones = j.at("milestones");
  if (!milestones.is_array() || milestones.size() != s.milestones.size()) {
    throw json::other_error::create(
        501, "state: milestones must be an array of " + std::to_string(s.milestones.size()),
        &milestones);
  }
  for (std::size_t i = 0; i < s.milestones.size(); ++i) {
    // Kept as stored, even where an entry's own milestone disagrees with its position: a
    // default-constructed state has first_release in all three, and must round-trip.
    s.milestones[i] = milestone_from_json(milestones[i]);
  }
  for (const auto& d : j.at("deliveries")) s.deliveries.push_back(delivery_from_json(d));
  s.notified = j.at("notified").get<std::set<std::string>>();
  s.alert_seq = j.at("alert_seq").get<int>();
  s.overdue_every = duration(j.at("overdue_every"));
  s.resend_after = duration(j.at("resend_after"));
  s.deputy_after_sends = j.at("deputy_after_sends").get<int>();
  return s;
}

}  // namespace incidentd
