// The snapshot decoder a start runs 100,000 times (docs/reliability.md, "Restart at a province's
// scale"): simdjson's DOM, read straight into IncidentState. It answers only where
// state_from_json(json::parse(text)) would give the same state; anything else (a missing key, a
// type nlohmann would convert or refuse) returns nullopt, and the caller takes that path, whose
// message says what is wrong.
#include "core/state_codec_fast.hpp"

#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "incidentd/state_codec.hpp"

namespace incidentd {
namespace {

namespace dom = simdjson::dom;

// Each reader leaves `ok` false on the first value it cannot take; after that none touches an
// element (a failed lookup leaves an empty one), and the result is thrown away.
class StateReader {
 public:
  bool ok = true;

  dom::element at(dom::object o, std::string_view key) {
    dom::element e;
    if (!ok) return e;
    if (o.at_key(key).get(e) != simdjson::SUCCESS) ok = false;
    return e;
  }
  std::int64_t int64(dom::element e) {
    std::int64_t v = 0;
    if (!ok) return v;
    if (e.get(v) != simdjson::SUCCESS) ok = false;
    return v;
  }
  int integer(dom::element e) {
    const std::int64_t v = int64(e);
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) ok = false;
    return static_cast<int>(v);
  }
  bool boolean(dom::element e) {
    bool v = false;
    if (!ok) return v;
    if (e.get(v) != simdjson::SUCCESS) ok = false;
    return v;
  }
  std::string string(dom::element e) {
    std::string_view v;
    if (!ok) return {};
    if (e.get(v) != simdjson::SUCCESS) ok = false;
    return std::string(v);
  }
  TimePoint instant(dom::element e) { return TimePoint(Duration(int64(e))); }
  // Absent or null: none.
  std::optional<TimePoint> optional_instant(dom::object o, std::string_view key) {
    dom::element e;
    if (!ok || o.at_key(key).get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
    return instant(e);
  }
  dom::object object(dom::element e) {
    dom::object v;
    if (!ok) return v;
    if (e.get(v) != simdjson::SUCCESS) ok = false;
    return v;
  }
  dom::array array(dom::element e) {
    dom::array v;
    if (!ok) return v;
    if (e.get(v) != simdjson::SUCCESS) ok = false;
    return v;
  }
  template <typename T>
  T named(dom::element e, std::optional<T> (*parse)(std::string_view)) {
    std::string_view v;
    if (!ok || e.get(v) != simdjson::SUCCESS) {
      ok = false;
      return T{};
    }
    const auto parsed = parse(v);
    if (!parsed) ok = false;
    return parsed.value_or(T{});
  }

  ScheduledStep step(dom::element e) {
    const dom::object o = object(e);
    if (!ok) return {};
    ScheduledStep s;
    s.at = instant(at(o, "at"));
    s.action = named(at(o, "action"), parse_action_kind);
    s.level = integer(at(o, "level"));
    s.due = instant(at(o, "due"));
    return s;
  }

  MilestoneState milestone(dom::element e) {
    const dom::object o = object(e);
    if (!ok) return {};
    MilestoneState m;
    m.milestone = named(at(o, "milestone"), parse_milestone);
    m.armed = boolean(at(o, "armed"));
    m.round = integer(at(o, "round"));
    m.target = optional_instant(o, "target");
    m.deadline = instant(at(o, "deadline"));
    const dom::array steps = array(at(o, "steps"));
    if (!ok) return {};
    for (dom::element s : steps) m.steps.push_back(step(s));
    const std::int64_t next = int64(at(o, "next_step"));
    if (next < 0) ok = false;
    m.next_step = static_cast<std::size_t>(next);
    m.breached_at = optional_instant(o, "breached_at");
    m.reminders = integer(at(o, "reminders"));
    m.escalation = integer(at(o, "escalation"));
    const dom::object confirmed = object(at(o, "confirmed_units"));
    if (!ok) return {};
    for (dom::key_value_pair unit : confirmed) {
      m.confirmed_units.emplace(std::string(unit.key), instant(unit.value));
    }
    m.met_at = optional_instant(o, "met_at");
    return m;
  }

  PendingDelivery delivery(dom::element e) {
    const dom::object o = object(e);
    if (!ok) return {};
    PendingDelivery d;
    d.alert_id = string(at(o, "alert_id"));
    d.recipient = string(at(o, "recipient"));
    d.unit = string(at(o, "unit"));
    d.channel = string(at(o, "channel"));
    d.deputy_of = string(at(o, "deputy_of"));
    d.milestone = named(at(o, "milestone"), parse_milestone);
    d.cause = named(at(o, "cause"), parse_action_kind);
    d.level = integer(at(o, "level"));
    d.due = instant(at(o, "due"));
    d.round = integer(at(o, "round"));
    d.reminder = integer(at(o, "reminder"));
    d.sends = integer(at(o, "sends"));
    d.next_send = instant(at(o, "next_send"));
    d.deputy_added = boolean(at(o, "deputy_added"));
    d.acknowledged = boolean(at(o, "acknowledged"));
    dom::element opening;
    if (ok && o.at_key("opening").get(opening) == simdjson::SUCCESS) d.opening = boolean(opening);
    return d;
  }

  template <typename Out>
  void strings(dom::element e, Out& out) {
    const dom::array a = array(e);
    if (!ok) return;
    for (dom::element s : a) out.insert(out.end(), string(s));
  }
};

}  // namespace

std::optional<IncidentState> state_from_json_text_fast(std::string_view text) {
  // One parser per thread: a start decodes on two threads, each reusing its buffers.
  thread_local dom::parser parser;
  dom::element e;
  if (parser.parse(text.data(), text.size()).get(e) != simdjson::SUCCESS) return std::nullopt;
  return state_from_element_fast(e);
}

std::optional<IncidentState> state_from_element_fast(simdjson::dom::element e) {
  dom::object o;
  if (e.get(o) != simdjson::SUCCESS) return std::nullopt;
  StateReader r;
  IncidentState s;
  s.key = r.string(r.at(o, "key"));
  s.title = r.string(r.at(o, "title"));
  s.category = r.string(r.at(o, "category"));
  s.region = r.string(r.at(o, "region"));
  s.lead_unit = r.string(r.at(o, "lead_unit"));
  r.strings(r.at(o, "units"), s.units);
  s.level = r.named(r.at(o, "level"), parse_level);
  s.drill = r.boolean(r.at(o, "drill"));
  s.closed = r.boolean(r.at(o, "closed"));
  s.opened_at = r.instant(r.at(o, "opened_at"));
  s.clock_start = r.optional_instant(o, "clock_start");
  s.closed_at = r.optional_instant(o, "closed_at");
  const dom::array milestones = r.array(r.at(o, "milestones"));
  if (!r.ok || milestones.size() != s.milestones.size()) return std::nullopt;
  std::size_t i = 0;
  for (dom::element m : milestones) s.milestones[i++] = r.milestone(m);
  const dom::array deliveries = r.array(r.at(o, "deliveries"));
  if (!r.ok) return std::nullopt;
  for (dom::element d : deliveries) s.deliveries.push_back(r.delivery(d));
  r.strings(r.at(o, "notified"), s.notified);
  s.alert_seq = r.integer(r.at(o, "alert_seq"));
  s.overdue_every = Duration(r.int64(r.at(o, "overdue_every")));
  s.resend_after = Duration(r.int64(r.at(o, "resend_after")));
  s.deputy_after_sends = r.integer(r.at(o, "deputy_after_sends"));
  if (!r.ok) return std::nullopt;
  return s;
}

}  // namespace incidentd
