// decode_state_record_fast (state_record_fast.hpp): the reference decoder's reading of a change
// record (state_record.cpp, record_from_json; codec.cpp, action_from_json), field for field, on
// simdjson's DOM. Where the reference would reject, or where the two JSON libraries could see
// different documents, it gives up and the reference decides.
#include "core/state_record_fast.hpp"

#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/state_codec_fast.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/time.hpp"

namespace incidentd {
namespace {

namespace dom = simdjson::dom;
using nlohmann::json;

// Every number a signed 64-bit integer (the reference refuses a record with a fraction, and
// reads integers as int64) and every object's keys strictly increasing, as the encoder's sorted
// dump writes them: so no key is repeated, where simdjson would take the first and nlohmann the
// last.
bool plain(dom::element e) {
  switch (e.type()) {
    case dom::element_type::ARRAY: {
      dom::array a;
      if (e.get(a) != simdjson::SUCCESS) return false;
      for (dom::element x : a) {
        if (!plain(x)) return false;
      }
      return true;
    }
    case dom::element_type::OBJECT: {
      dom::object o;
      if (e.get(o) != simdjson::SUCCESS) return false;
      std::string_view previous;
      bool first = true;
      for (dom::key_value_pair member : o) {
        if (!first && !(previous < member.key)) return false;
        first = false;
        previous = member.key;
        if (!plain(member.value)) return false;
      }
      return true;
    }
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return false;
    default:
      return true;
  }
}

bool same(dom::element e, const json& j);

// Members compare in order: both are sorted (plain() checked the element's).
bool same_object(dom::object o, const json& j) {
  if (!j.is_object() || o.size() != j.size()) return false;
  auto it = j.begin();
  for (dom::key_value_pair member : o) {
    if (member.key != it.key() || !same(member.value, it.value())) return false;
    ++it;
  }
  return true;
}

// nlohmann's operator== between the element and `j`, for the values to_json(Action) makes.
bool same(dom::element e, const json& j) {
  switch (j.type()) {
    case json::value_t::string: {
      std::string_view s;
      return e.get(s) == simdjson::SUCCESS && s == j.get_ref<const std::string&>();
    }
    case json::value_t::number_integer: {
      std::int64_t v = 0;
      return e.get(v) == simdjson::SUCCESS && v == j.get<std::int64_t>();
    }
    case json::value_t::boolean: {
      bool b = false;
      return e.get(b) == simdjson::SUCCESS && b == j.get<bool>();
    }
    case json::value_t::array: {
      dom::array a;
      if (e.get(a) != simdjson::SUCCESS || a.size() != j.size()) return false;
      auto it = j.begin();
      for (dom::element x : a) {
        if (!same(x, *it++)) return false;
      }
      return true;
    }
    case json::value_t::object: {
      dom::object o;
      return e.get(o) == simdjson::SUCCESS && same_object(o, j);
    }
    default:
      return false;  // to_json(Action) writes no other kind: let the reference compare
  }
}

// Each reader leaves `ok` false on the first value it cannot take as the reference would; after
// that the result is thrown away. A null counts as a value it cannot take: the reference
// refuses it in a record's fields and in a timeline entry (where it is read as absent, and the
// entry then does not read back as written).
class RecordReader {
 public:
  bool ok = true;

  // Present: true, with the element; absent: false.
  bool find(dom::object o, std::string_view key, dom::element& out) {
    if (!ok || o.at_key(key).get(out) != simdjson::SUCCESS) return false;
    if (out.is_null()) ok = false;
    return ok;
  }
  dom::element require(dom::object o, std::string_view key) {
    dom::element e;
    if (!find(o, key, e)) ok = false;
    return e;
  }
  std::string text(dom::element e) {
    std::string_view v;
    if (!ok || e.get(v) != simdjson::SUCCESS) {
      ok = false;
      return {};
    }
    return std::string(v);
  }
  std::string text(dom::object o, std::string_view key) { return text(require(o, key)); }
  std::string non_empty_text(dom::object o, std::string_view key) {
    std::string v = text(o, key);
    if (v.empty()) ok = false;
    return v;
  }
  void optional_text(dom::object o, std::string_view key, std::string& out) {
    dom::element e;
    if (find(o, key, e)) out = text(e);
  }
  std::int64_t integer(dom::element e) {
    std::int64_t v = 0;
    if (!ok || e.get(v) != simdjson::SUCCESS) ok = false;
    return v;
  }
  int small_integer(dom::element e) {
    const std::int64_t v = integer(e);
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) ok = false;
    return static_cast<int>(v);
  }
  void optional_int(dom::object o, std::string_view key, int& out) {
    dom::element e;
    if (find(o, key, e)) out = small_integer(e);
  }
  void optional_int(dom::object o, std::string_view key, std::optional<int>& out) {
    dom::element e;
    if (find(o, key, e)) out = small_integer(e);
  }
  void optional_bool(dom::object o, std::string_view key, bool& out) {
    dom::element e;
    if (find(o, key, e) && e.get(out) != simdjson::SUCCESS) ok = false;
  }
  TimePoint instant(dom::object o, std::string_view key) {
    return TimePoint{Duration{integer(require(o, key))}};
  }
  std::optional<TimePoint> optional_instant(dom::object o, std::string_view key) {
    dom::element e;
    if (!find(o, key, e)) return std::nullopt;
    return TimePoint{Duration{integer(e)}};
  }
  // An RFC 3339 string, as a timeline entry holds its instants.
  TimePoint time(dom::element e) {
    std::string_view v;
    if (!ok || e.get(v) != simdjson::SUCCESS) {
      ok = false;
      return {};
    }
    const auto t = parse_rfc3339(v);
    if (!t) ok = false;
    return t.value_or(TimePoint{});
  }
  void optional_time(dom::object o, std::string_view key, std::optional<TimePoint>& out) {
    dom::element e;
    if (find(o, key, e)) out = time(e);
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
  template <typename T>
  void optional_named(dom::object o, std::string_view key,
                      std::optional<T> (*parse)(std::string_view), std::optional<T>& out) {
    dom::element e;
    if (find(o, key, e)) out = named(e, parse);
  }
  // Non-empty strings, each once (Fields::string_array).
  void string_array(dom::element e, std::vector<std::string>& out) {
    dom::array a;
    if (!ok || e.get(a) != simdjson::SUCCESS) {
      ok = false;
      return;
    }
    out.clear();
    for (dom::element x : a) {
      std::string s = text(x);
      if (s.empty()) ok = false;
      for (const auto& seen : out) {
        if (seen == s) ok = false;
      }
      if (!ok) return;
      out.push_back(std::move(s));
    }
  }
  // The list `key` (absent: empty), each element an object read by `read`.
  template <typename T, typename Read>
  std::vector<T> list(dom::object o, std::string_view key, Read read) {
    std::vector<T> out;
    dom::element e;
    if (!find(o, key, e)) return out;
    dom::array a;
    if (e.get(a) != simdjson::SUCCESS) ok = false;
    if (!ok) return out;
    out.reserve(a.size());
    for (dom::element item : a) {
      dom::object io;
      if (item.get(io) != simdjson::SUCCESS) ok = false;
      if (!ok) return out;
      out.push_back(read(io));
    }
    return out;
  }
};

bool describes_incident(ActionKind kind) {
  return kind == ActionKind::incident_opened || kind == ActionKind::level_changed;
}

void read_late(RecordReader& r, dom::object o, Action& a) {
  dom::element e;
  if (!r.find(o, "late", e)) return;
  bool b = true;
  std::string_view s;
  if (e.get(b) == simdjson::SUCCESS && !b) {
    a.late = Lateness::on_time;
  } else if (e.get(s) == simdjson::SUCCESS && s == "target") {
    a.late = Lateness::target;
  } else if (e.get(s) == simdjson::SUCCESS && s == "deadline") {
    a.late = Lateness::deadline;
  } else {
    r.ok = false;
  }
}

// action_from_json(), in its order, then the record's own check: the entry reads back as
// written (to_json gives the same JSON), or the replica's timeline would not read as the owner's.
Action action_of(RecordReader& r, dom::object o, const std::string& key) {
  Action a;
  a.at = r.time(r.require(o, "at"));
  a.incident_key = r.non_empty_text(o, "incident_key");
  a.kind = r.named(r.require(o, "action"), parse_action_kind);
  r.optional_named(o, "milestone", parse_milestone, a.milestone);
  if (describes_incident(a.kind)) {
    r.optional_named(o, "level", parse_level, a.incident_level);
    r.optional_named(o, "previous_level", parse_level, a.previous_incident_level);
    r.optional_text(o, "title", a.title);
    r.optional_text(o, "lead_unit", a.lead_unit);
    r.optional_time(o, "detected_at", a.detected_at);
    r.optional_bool(o, "clock", a.clock);
    dom::element units;
    if (r.find(o, "units", units)) r.string_array(units, a.units);
  } else {
    r.optional_int(o, "level", a.level);
    r.optional_int(o, "previous_level", a.previous_level);
  }
  read_late(r, o, a);
  r.optional_time(o, "due", a.due);
  r.optional_time(o, "deadline", a.deadline);
  const std::pair<const char*, std::string*> texts[] = {{"recipient", &a.recipient},
                                                        {"unit", &a.unit},
                                                        {"channel", &a.channel},
                                                        {"notification_id", &a.notification_id},
                                                        {"deputy_of", &a.deputy_of},
                                                        {"confirmation_id", &a.confirmation_id},
                                                        {"url", &a.url},
                                                        {"speaker", &a.speaker},
                                                        {"via", &a.via},
                                                        {"outcome", &a.outcome},
                                                        {"detail", &a.detail},
                                                        {"previous_channel", &a.previous_channel},
                                                        {"source", &a.source},
                                                        {"by", &a.by}};
  for (const auto& [name, out] : texts) r.optional_text(o, name, *out);
  r.optional_named(o, "cause", parse_action_kind, a.cause);
  r.optional_time(o, "released_at", a.released_at);
  r.optional_int(o, "reminder", a.reminder);
  r.optional_int(o, "send", a.send);
  r.optional_int(o, "round", a.round);
  r.optional_bool(o, "catch_up", a.catch_up);
  r.optional_bool(o, "opening", a.opening);
  r.optional_bool(o, "drill", a.drill);
  r.optional_int(o, "attempt", a.attempt);
  r.optional_time(o, "from", a.from);
  r.optional_time(o, "to", a.to);
  if (r.ok && (a.incident_key != key || !same_object(o, to_json(a, std::chrono::minutes{0})))) {
    r.ok = false;
  }
  return a;
}

OutboxRow row_of(RecordReader& r, dom::object o, const std::string& key) {
  OutboxRow row;
  row.notification_id = r.non_empty_text(o, "notification_id");
  row.incident_key = key;
  row.recipient = r.text(o, "recipient");
  row.unit = r.text(o, "unit");
  row.channel = r.named(r.require(o, "channel"), parse_notification_channel);
  dom::element level;
  if (r.find(o, "level", level)) row.level = r.small_integer(level);
  row.body = r.text(o, "body");
  row.created_at = r.instant(o, "created_at");
  row.next_attempt_at = r.instant(o, "next_attempt_at");
  r.optional_text(o, "milestone", row.milestone);
  row.purpose = r.named(r.require(o, "purpose"), parse_notification_purpose);
  return row;
}

// Only the names this build writes, as the reference reads them.
std::optional<DeliveryState> written_delivery_state(std::string_view s) {
  const auto v = parse_delivery_state(s);
  return v && to_string(*v) == s ? v : std::optional<DeliveryState>();
}

DeliveryChange delivery_of(RecordReader& r, dom::object o) {
  DeliveryChange d;
  d.notification_id = r.non_empty_text(o, "notification_id");
  d.state = r.named(r.require(o, "state"), written_delivery_state);
  d.channel = r.named(r.require(o, "channel"), parse_notification_channel);
  d.attempts = r.small_integer(r.require(o, "attempts"));
  d.next_attempt_at = r.instant(o, "next_attempt_at");
  d.delivered_at = r.optional_instant(o, "delivered_at");
  r.optional_text(o, "last_error", d.last_error);
  r.optional_text(o, "gave_up", d.gave_up);
  d.failing_since = r.optional_instant(o, "failing_since");
  r.optional_text(o, "recorded", d.recorded);
  return d;
}

Confirmation confirmation_of(RecordReader& r, dom::object o, const std::string& key) {
  Confirmation c;
  c.confirmation_id = r.text(o, "confirmation_id");
  c.incident_key = key;
  c.milestone = r.named(r.require(o, "milestone"), parse_milestone);
  c.unit = r.text(o, "unit");
  c.released_at = r.instant(o, "released_at");
  c.channel = r.text(o, "channel");
  c.url = r.text(o, "url");
  c.speaker = r.text(o, "speaker");
  c.via = r.text(o, "via");
  return c;
}

Acknowledgement ack_of(RecordReader& r, dom::object o, const std::string& key) {
  Acknowledgement a;
  a.incident_key = key;
  a.recipient = r.text(o, "recipient");
  a.at = r.instant(o, "at");
  a.via = r.text(o, "via");
  return a;
}

// The record's header and snapshot: false where the reference would refuse or could differ.
bool read_head(RecordReader& r, dom::object o, StateRecord& rec) {
  if (r.integer(r.require(o, "v")) != kStateRecordVersion) return false;
  rec.incident_key = r.non_empty_text(o, "incident_key");
  r.optional_text(o, "by", rec.by);
  dom::element e;
  if (r.find(o, "seq", e)) {
    rec.seq = r.integer(e);
    if (rec.seq <= 0) return false;
  }
  dom::element state;
  if (r.ok && o.at_key("state").get(state) == simdjson::SUCCESS) {
    rec.state = state_from_element_fast(state);
    if (!rec.state || rec.state->key != rec.incident_key) return false;
  }
  return r.ok;
}

}  // namespace

std::optional<StateRecord> decode_state_record_fast(std::string_view text) {
  // The reference's limits first; and no \u escape of a surrogate, where the two libraries'
  // checks of a lone one are not known to agree.
  if (text.size() > kMaxStateRecordBytes || text.find('\0') != std::string_view::npos ||
      text.find("\\ud") != std::string_view::npos || text.find("\\uD") != std::string_view::npos) {
    return std::nullopt;
  }
  // One parser per thread, reusing its buffers: the replica applier's thread decodes them all.
  thread_local dom::parser parser;
  dom::element root;
  dom::object o;
  if (parser.parse(text.data(), text.size()).get(root) != simdjson::SUCCESS ||
      root.get(o) != simdjson::SUCCESS || !plain(root)) {
    return std::nullopt;
  }
  RecordReader r;
  StateRecord rec;
  if (!read_head(r, o, rec)) return std::nullopt;
  const std::string& key = rec.incident_key;
  rec.actions = r.list<Action>(o, "actions", [&](dom::object a) { return action_of(r, a, key); });
  rec.outbox = r.list<OutboxRow>(o, "outbox", [&](dom::object x) { return row_of(r, x, key); });
  rec.deliveries =
      r.list<DeliveryChange>(o, "deliveries", [&](dom::object x) { return delivery_of(r, x); });
  rec.processed = r.list<ProcessedId>(o, "processed", [&](dom::object p) {
    ProcessedId id{r.non_empty_text(p, "id"), key, r.instant(p, "at")};
    return id;
  });
  rec.confirmations = r.list<Confirmation>(
      o, "confirmations", [&](dom::object c) { return confirmation_of(r, c, key); });
  rec.acknowledgements = r.list<Acknowledgement>(o, "acknowledgements",
                                                 [&](dom::object a) { return ack_of(r, a, key); });
  if (!r.ok) return std::nullopt;
  return rec;
}

}  // namespace incidentd
