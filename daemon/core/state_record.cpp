// The state topic's change record (state_record.hpp): building it from what a commit wrote, and
// its JSON form. Instants are integer milliseconds, as in the stored snapshot; timeline entries
// are the JSON the timeline stores (RFC 3339, UTC), so a replica's rows read the same.
#include "incidentd/state_record.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/state_record_fast.hpp"
#include "incidentd/state_codec.hpp"

namespace incidentd {
namespace {

using nlohmann::json;

// A record that cannot be applied as it is; the message becomes the rejection's reason.
class Invalid : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::int64_t millis(TimePoint t) {
  return t.time_since_epoch().count();
}

// --- writing ---------------------------------------------------------------------------------

json row_to_json(const OutboxRow& r) {
  json j = json::object();
  j["notification_id"] = r.notification_id;
  j["recipient"] = r.recipient;
  j["unit"] = r.unit;
  j["channel"] = to_string(r.channel);
  if (r.level) j["level"] = *r.level;
  j["body"] = r.body;
  j["created_at"] = millis(r.created_at);
  j["next_attempt_at"] = millis(r.next_attempt_at);
  if (!r.milestone.empty()) j["milestone"] = r.milestone;
  j["purpose"] = to_string(r.purpose);
  return j;
}

json delivery_to_json(const DeliveryChange& d) {
  json j = json::object();
  j["notification_id"] = d.notification_id;
  j["state"] = to_string(d.state);
  j["channel"] = to_string(d.channel);
  j["attempts"] = d.attempts;
  j["next_attempt_at"] = millis(d.next_attempt_at);
  if (d.delivered_at) j["delivered_at"] = millis(*d.delivered_at);
  if (!d.last_error.empty()) j["last_error"] = d.last_error;
  if (!d.gave_up.empty()) j["gave_up"] = d.gave_up;
  if (d.failing_since) j["failing_since"] = millis(*d.failing_since);
  if (!d.recorded.empty()) j["recorded"] = d.recorded;
  return j;
}

json confirmation_to_json(const Confirmation& c) {
  json j = json::object();
  j["confirmation_id"] = c.confirmation_id;
  j["milestone"] = to_string(c.milestone);
  j["unit"] = c.unit;
  j["released_at"] = millis(c.released_at);
  j["channel"] = c.channel;
  j["url"] = c.url;
  j["speaker"] = c.speaker;
  j["via"] = c.via;
  return j;
}

json ack_to_json(const Acknowledgement& a) {
  json j = json::object();
  j["recipient"] = a.recipient;
  j["at"] = millis(a.at);
  j["via"] = a.via;
  return j;
}

template <typename T, typename Fn>
void put_list(json& j, const char* name, const std::vector<T>& items, Fn to_json_fn) {
  if (items.empty()) return;  // an absent list reads as empty
  json& list = j[name] = json::array();
  for (const auto& item : items) list.push_back(to_json_fn(item));
}

// --- reading ---------------------------------------------------------------------------------

[[noreturn]] void invalid(const std::string& reason) {
  throw Invalid(reason);
}

// Every number in a record is an integer; a fraction anywhere is refused before any field is
// converted (a float converted to an integer out of range is undefined behaviour).
bool has_fraction(const json& j) {
  if (j.is_number_float()) return true;
  if (j.is_structured()) {
    return std::any_of(j.begin(), j.end(), [](const json& v) { return has_fraction(v); });
  }
  return false;
}

const json& field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) invalid(std::string("missing field \"") + name + "\"");
  return *it;
}

std::string text(const json& object, const char* name) {
  const json& v = field(object, name);
  if (!v.is_string()) invalid(std::string("field \"") + name + "\" must be a string");
  return v.get<std::string>();
}

std::string optional_text(const json& object, const char* name) {
  return object.contains(name) ? text(object, name) : std::string();
}

std::int64_t integer(const json& object, const char* name) {
  const json& v = field(object, name);
  if (!v.is_number_integer()) invalid(std::string("field \"") + name + "\" must be an integer");
  return v.get<std::int64_t>();
}

int small_integer(const json& object, const char* name) {
  const std::int64_t v = integer(object, name);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    invalid(std::string("field \"") + name + "\" is out of range");
  }
  return static_cast<int>(v);
}

TimePoint instant(const json& object, const char* name) {
  return TimePoint{Duration{integer(object, name)}};
}

std::optional<TimePoint> optional_instant(const json& object, const char* name) {
  if (!object.contains(name)) return std::nullopt;
  return instant(object, name);
}

template <typename E, typename Parse>
E enumerated(const json& object, const char* name, Parse parse) {
  const std::string s = text(object, name);
  const auto v = parse(s);
  if (!v) invalid(std::string("field \"") + name + "\": unknown value \"" + s + "\"");
  return *v;
}

// The list `name` (absent: empty), each element an object read by `read`.
template <typename T, typename Read>
std::vector<T> list(const json& record, const char* name, Read read) {
  std::vector<T> out;
  auto it = record.find(name);
  if (it == record.end()) return out;
  if (!it->is_array()) invalid(std::string("field \"") + name + "\" must be an array");
  for (const json& item : *it) {
    if (!item.is_object()) {
      invalid(std::string("field \"") + name + "\" must be an array of objects");
    }
    out.push_back(read(item));
  }
  return out;
}

OutboxRow row_from_json(const json& j, const std::string& key) {
  OutboxRow r;
  r.notification_id = text(j, "notification_id");
  if (r.notification_id.empty()) invalid("an outbox row without a notification_id");
  r.incident_key = key;
  r.recipient = text(j, "recipient");
  r.unit = text(j, "unit");
  r.channel = enumerated<NotificationChannel>(j, "channel", parse_notification_channel);
  if (j.contains("level")) r.level = small_integer(j, "level");
  r.body = text(j, "body");
  r.created_at = instant(j, "created_at");
  r.next_attempt_at = instant(j, "next_attempt_at");
  r.milestone = optional_text(j, "milestone");
  r.purpose = enumerated<NotificationPurpose>(j, "purpose", parse_notification_purpose);
  return r;
}

DeliveryChange delivery_from_json(const json& j) {
  DeliveryChange d;
  d.notification_id = text(j, "notification_id");
  if (d.notification_id.empty()) invalid("a delivery without a notification_id");
  d.state = enumerated<DeliveryState>(j, "state", [](std::string_view s) {
    // Only the names this build writes: the older schema's aliases are for stored rows.
    const auto v = parse_delivery_state(s);
    return v && to_string(*v) == s ? v : std::optional<DeliveryState>();
  });
  d.channel = enumerated<NotificationChannel>(j, "channel", parse_notification_channel);
  d.attempts = small_integer(j, "attempts");
  d.next_attempt_at = instant(j, "next_attempt_at");
  d.delivered_at = optional_instant(j, "delivered_at");
  d.last_error = optional_text(j, "last_error");
  d.gave_up = optional_text(j, "gave_up");
  d.failing_since = optional_instant(j, "failing_since");
  d.recorded = optional_text(j, "recorded");
  return d;
}

Confirmation confirmation_from_json(const json& j, const std::string& key) {
  Confirmation c;
  c.confirmation_id = text(j, "confirmation_id");
  c.incident_key = key;
  c.milestone = enumerated<Milestone>(j, "milestone", parse_milestone);
  c.unit = text(j, "unit");
  c.released_at = instant(j, "released_at");
  c.channel = text(j, "channel");
  c.url = text(j, "url");
  c.speaker = text(j, "speaker");
  c.via = text(j, "via");
  return c;
}

Acknowledgement ack_from_json(const json& j, const std::string& key) {
  Acknowledgement a;
  a.incident_key = key;
  a.recipient = text(j, "recipient");
  a.at = instant(j, "at");
  a.via = text(j, "via");
  return a;
}

Action action_of(const json& j, const std::string& key) {
  auto parsed = action_from_json(j);
  if (!parsed) invalid("a timeline entry: " + parsed.error);
  if (parsed.value->incident_key != key) {
    invalid("a timeline entry of incident \"" + parsed.value->incident_key +
            "\" in the record of \"" + key + "\"");
  }
  // Written back the same, or the replica's timeline would not read as the owner's.
  if (to_json(*parsed.value, std::chrono::minutes{0}) != j) {
    invalid("a timeline entry that does not read back as written: " + dump_line(j).substr(0, 200));
  }
  return std::move(*parsed.value);
}

StateRecord record_from_json(const json& j) {
  if (!j.is_object()) invalid("a record must be a JSON object");
  if (has_fraction(j)) invalid("a record holds only integer numbers");
  if (integer(j, "v") != kStateRecordVersion) {
    invalid("unknown record version " + dump_line(j.at("v")) + " (this incidentd reads " +
            std::to_string(kStateRecordVersion) + ")");
  }
  StateRecord r;
  r.incident_key = text(j, "incident_key");
  if (r.incident_key.empty()) invalid("field \"incident_key\" must not be empty");
  r.by = optional_text(j, "by");
  if (j.contains("seq")) {
    r.seq = integer(j, "seq");
    if (r.seq <= 0) invalid("field \"seq\" must be positive");
  }
  const std::string& key = r.incident_key;
  if (auto it = j.find("state"); it != j.end()) {
    r.state = state_from_json(*it);  // throws json::exception with its reason
    if (r.state->key != key) invalid("the state of another incident (\"" + r.state->key + "\")");
  }
  r.actions = list<Action>(j, "actions", [&](const json& a) { return action_of(a, key); });
  r.outbox = list<OutboxRow>(j, "outbox", [&](const json& o) { return row_from_json(o, key); });
  r.deliveries = list<DeliveryChange>(j, "deliveries", delivery_from_json);
  r.processed = list<ProcessedId>(j, "processed", [&](const json& p) {
    ProcessedId id{text(p, "id"), key, instant(p, "at")};
    if (id.id.empty()) invalid("an empty processed id");
    return id;
  });
  r.confirmations = list<Confirmation>(
      j, "confirmations", [&](const json& c) { return confirmation_from_json(c, key); });
  r.acknowledgements = list<Acknowledgement>(j, "acknowledgements",
                                             [&](const json& a) { return ack_from_json(a, key); });
  return r;
}

DeliveryChange delivery_change_of(const OutboxUpdate& u) {
  DeliveryChange d;
  d.notification_id = u.notification_id;
  d.state = u.state;
  d.channel = u.channel;
  d.attempts = u.attempts;
  d.next_attempt_at = u.next_attempt_at;
  d.delivered_at = u.delivered_at;
  d.last_error = u.last_error;
  d.gave_up = u.gave_up;
  d.failing_since = u.failing_since;
  d.recorded = u.recorded;
  return d;
}

// Groups by incident_key in the order each key first appears.
class Grouping {
 public:
  StateRecord& of(const std::string& key) {
    auto [it, added] = index_.try_emplace(key, records_.size());
    if (added) {
      records_.emplace_back();
      records_.back().incident_key = key;
    }
    return records_[it->second];
  }
  void add_action(const Action& a) {
    StateRecord& r = of(a.incident_key);
    r.actions.push_back(a);
    if (a.kind == ActionKind::notification) r.outbox.push_back(outbox_row_of(a));
  }
  std::vector<StateRecord> take() { return std::move(records_); }

 private:
  std::vector<StateRecord> records_;
  std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace

std::string encode_state_record(const StateRecord& r) {
  json j = json::object();
  j["v"] = kStateRecordVersion;
  j["incident_key"] = r.incident_key;
  if (!r.by.empty()) j["by"] = r.by;
  if (r.seq > 0) j["seq"] = r.seq;
  if (r.state) j["state"] = state_to_json(*r.state);
  put_list(j, "actions", r.actions,
           [](const Action& a) { return to_json(a, std::chrono::minutes{0}); });
  put_list(j, "outbox", r.outbox, row_to_json);
  put_list(j, "deliveries", r.deliveries, delivery_to_json);
  put_list(j, "processed", r.processed, [](const ProcessedId& p) {
    json o = json::object();
    o["id"] = p.id;
    o["at"] = millis(p.at);
    return o;
  });
  put_list(j, "confirmations", r.confirmations, confirmation_to_json);
  put_list(j, "acknowledgements", r.acknowledgements, ack_to_json);
  return dump_line(j);
}

Parsed<StateRecord> decode_state_record(std::string_view text) {
  if (auto fast = decode_state_record_fast(text)) {
    Parsed<StateRecord> out;
    out.value = std::move(*fast);
    return out;
  }
  return decode_state_record_reference(text);
}

Parsed<StateRecord> decode_state_record_reference(std::string_view text) {
  Parsed<StateRecord> out;
  if (text.size() > kMaxStateRecordBytes) {
    out.error = "record is " + std::to_string(text.size()) + " bytes, over the limit of " +
                std::to_string(kMaxStateRecordBytes);
    return out;
  }
  // nlohmann's lexer takes a NUL for the end of its input: any NUL makes the record invalid.
  if (text.find('\0') != std::string_view::npos) {
    out.error = "not JSON: a NUL byte";
    return out;
  }
  try {
    out.value = record_from_json(json::parse(text.begin(), text.end()));
  } catch (const Invalid& e) {
    out.error = e.what();
  } catch (const json::exception& e) {
    out.error = e.what();
  }
  if (!out.value && out.error.empty()) out.error = "unreadable record";
  return out;
}

OutboxRow outbox_row_of(const Action& a) {
  OutboxRow r;
  r.notification_id = a.notification_id;
  r.incident_key = a.incident_key;
  r.recipient = a.recipient;
  r.unit = a.unit;
  r.channel = parse_notification_channel(a.channel).value_or(NotificationChannel::sms);
  r.level = a.level;
  r.body = dump_line(to_json(a, std::chrono::minutes{0}));
  r.created_at = a.at;
  r.next_attempt_at = a.at;
  if (a.milestone) r.milestone = std::string(to_string(*a.milestone));
  r.purpose = NotificationPurpose::alert;
  return r;
}

std::vector<StateRecord> state_records_of(const Changeset& c) {
  Grouping g;
  for (const auto& a : c.actions) g.add_action(a);
  for (const auto& s : c.incidents) g.of(s.key).state = s;
  for (const auto& p : c.processed) {
    if (!p.incident_key.empty()) g.of(p.incident_key).processed.push_back(p);
  }
  for (const auto& conf : c.confirmations) g.of(conf.incident_key).confirmations.push_back(conf);
  for (const auto& ack : c.acknowledgements) g.of(ack.incident_key).acknowledgements.push_back(ack);
  return g.take();
}

std::vector<StateRecord> state_records_of(
    const std::vector<OutboxUpdate>& applied,
    const std::function<std::string(const std::string& notification_id)>& incident_of) {
  Grouping g;
  for (const OutboxUpdate& u : applied) {
    std::string key = incident_of ? incident_of(u.notification_id) : std::string();
    for (const auto& a : u.timeline) {
      if (key.empty()) key = a.incident_key;
      g.add_action(a);
    }
    if (key.empty()) continue;  // a row of no incident (a source notice)
    g.of(key).deliveries.push_back(delivery_change_of(u));
    for (const OutboxRow& row : u.new_rows) {
      if (!row.incident_key.empty()) g.of(row.incident_key).outbox.push_back(row);
    }
  }
  return g.take();
}

}  // namespace incidentd
