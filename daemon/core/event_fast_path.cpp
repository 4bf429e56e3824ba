#include "core/event_fast_path.hpp"

#include <simdjson.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "incidentd/codec.hpp"
#include "incidentd/time.hpp"

namespace incidentd {
namespace {

namespace dom = simdjson::dom;

// The fields parse_event() reads; a second occurrence of any of them sends the message to the
// slow path, whose JSON library decides which one counts.
enum Field : unsigned {
  kSchema = 1U << 0U,
  kEventId = 1U << 1U,
  kIncidentKey = 1U << 2U,
  kKind = 1U << 3U,
  kLevel = 1U << 4U,
  kLeadUnit = 1U << 5U,
  kUnits = 1U << 6U,
  kDetectedAt = 1U << 7U,
  kTitle = 1U << 8U,
  kCategory = 1U << 9U,
  kRegion = 1U << 10U,
  kDrill = 1U << 11U,
  kSource = 1U << 12U,
};
constexpr unsigned kRequired =
    kSchema | kEventId | kIncidentKey | kKind | kLevel | kLeadUnit | kUnits | kDetectedAt;

Field field_of(std::string_view key) {
  if (key == "schema") return kSchema;
  if (key == "event_id") return kEventId;
  if (key == "incident_key") return kIncidentKey;
  if (key == "kind") return kKind;
  if (key == "level") return kLevel;
  if (key == "lead_unit") return kLeadUnit;
  if (key == "units") return kUnits;
  if (key == "detected_at") return kDetectedAt;
  if (key == "title") return kTitle;
  if (key == "category") return kCategory;
  if (key == "region") return kRegion;
  if (key == "drill") return kDrill;
  if (key == "source") return kSource;
  return Field{};
}

bool string_of(dom::element v, std::string_view& out) {
  return v.get(out) == simdjson::SUCCESS;
}

// A string the contract gives a closed form to (a kind, a level, an instant).
template <typename T>
bool parsed_string(dom::element v, std::optional<T> (*parse)(std::string_view), T& out) {
  std::string_view s;
  if (!string_of(v, s)) return false;
  const auto value = parse(s);
  if (value) out = *value;
  return value.has_value();
}

bool non_empty_string(dom::element v, std::string& out) {
  std::string_view s;
  if (!string_of(v, s) || s.empty()) return false;
  out.assign(s);
  return true;
}

// Optional strings: null counts as absent, as in parse_event().
bool optional_string(dom::element v, std::string& out) {
  if (v.is_null()) return true;
  std::string_view s;
  if (!string_of(v, s)) return false;
  out.assign(s);
  return true;
}

bool schema_ok(dom::element v) {
  std::int64_t i = 0;
  if (v.get(i) == simdjson::SUCCESS) return i == kMessageSchemaVersion;
  std::uint64_t u = 0;
  return v.get(u) == simdjson::SUCCESS && u == static_cast<std::uint64_t>(kMessageSchemaVersion);
}

// Non-empty strings, each listed once (a short list: a linear scan beats a set).
bool units_of(dom::element v, std::vector<std::string>& out) {
  dom::array array;
  if (v.get(array) != simdjson::SUCCESS) return false;
  out.reserve(array.size());  // one allocation, not one per doubling
  for (dom::element element : array) {
    std::string_view s;
    if (!string_of(element, s) || s.empty()) return false;
    for (const auto& seen : out) {
      if (seen == s) return false;
    }
    out.emplace_back(s);
  }
  return true;
}

// The strings parse_event() takes from `source`; any other member is the sender's business. A
// repeated one goes to the slow path, whose JSON library decides which counts.
bool source_of(dom::element v, Event& e) {
  dom::object object;
  if (v.get(object) != simdjson::SUCCESS) return false;
  bool platform = false;
  bool by = false;
  for (dom::key_value_pair member : object) {
    const bool is_platform = member.key == "platform";
    if (!is_platform && member.key != "by") continue;
    bool& seen = is_platform ? platform : by;
    if (seen) return false;
    seen = true;
    std::string_view s;
    if (string_of(member.value, s)) (is_platform ? e.source_platform : e.source_by).assign(s);
  }
  return true;
}

bool read_field(Field field, dom::element v, Event& e) {
  switch (field) {
    case kSchema:
      return schema_ok(v);
    case kEventId:
      return non_empty_string(v, e.event_id);
    case kIncidentKey:
      return non_empty_string(v, e.incident_key);
    case kKind:
      return parsed_string(v, parse_event_kind, e.kind);
    case kLevel:
      return parsed_string(v, parse_level, e.level);
    case kLeadUnit:
      return non_empty_string(v, e.lead_unit);
    case kUnits:
      return units_of(v, e.units);
    case kDetectedAt:
      return parsed_string(v, parse_rfc3339, e.detected_at);
    case kTitle:
      return optional_string(v, e.title);
    case kCategory:
      return optional_string(v, e.category);
    case kRegion:
      return optional_string(v, e.region);
    case kDrill: {
      if (v.is_null()) return true;
      return v.get(e.drill) == simdjson::SUCCESS;
    }
    case kSource:
      return v.is_null() || source_of(v, e);
  }
  return true;  // a field parse_event() does not read
}

}  // namespace

std::optional<Event> parse_event_fast(std::string_view text, const Config& config) {
  if (text.size() > kMaxMessageBytes) return std::nullopt;
  // A NUL byte is never part of a JSON text; the reference says why the message is refused.
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) return std::nullopt;
  // One parser per thread: it keeps its buffers, so a message costs no allocation there.
  thread_local dom::parser parser;
  dom::object object;
  if (parser.parse(text.data(), text.size()).get(object) != simdjson::SUCCESS) return std::nullopt;

  Event e;
  unsigned seen = 0;
  for (dom::key_value_pair member : object) {
    const Field field = field_of(member.key);
    if (field == Field{}) continue;
    if ((seen & field) != 0U) return std::nullopt;
    seen |= field;
    if (!read_field(field, member.value, e)) return std::nullopt;
  }
  if ((seen & kRequired) != kRequired) return std::nullopt;

  if (config.find_unit(e.lead_unit) == nullptr) return std::nullopt;
  bool has_lead = false;
  for (const auto& unit : e.units) {
    if (config.find_unit(unit) == nullptr) return std::nullopt;
    has_lead = has_lead || unit == e.lead_unit;
  }
  if (!has_lead) return std::nullopt;
  return e;
}

}  // namespace incidentd
