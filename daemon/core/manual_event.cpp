#include "incidentd/manual_event.hpp"

#include <algorithm>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

namespace incidentd {

Parsed<std::string> manual_event_json(const ManualEvent& e, const Config& config,
                                      std::chrono::minutes utc_offset) {
  using nlohmann::ordered_json;
  Parsed<std::string> out;
  if (e.by.empty()) {
    out.error = "who entered the event is required (source \"by\")";
    return out;
  }
  std::vector<std::string> units = e.units;
  if (!e.lead_unit.empty() && std::find(units.begin(), units.end(), e.lead_unit) == units.end()) {
    units.insert(units.begin(), e.lead_unit);
  }
  // The contract's field order, so the event reads as the contract's example does.
  ordered_json j;
  j["schema"] = kMessageSchemaVersion;
  j["event_id"] = e.event_id;
  j["incident_key"] = e.incident_key;
  j["kind"] = std::string(to_string(e.kind));
  j["level"] = std::string(to_string(e.level));
  if (!e.title.empty()) j["title"] = e.title;
  if (!e.category.empty()) j["category"] = e.category;
  if (!e.region.empty()) j["region"] = e.region;
  j["lead_unit"] = e.lead_unit;
  j["units"] = units;
  j["detected_at"] = format_rfc3339(e.detected_at, utc_offset);
  if (e.drill) j["drill"] = true;
  ordered_json source;
  source["platform"] = std::string(kManualPlatform);
  source["by"] = e.by;
  if (!e.via.empty()) source["via"] = e.via;
  if (!e.token.empty()) source["token"] = e.token;
  j["source"] = std::move(source);
  // Invalid UTF-8 in a title typed on a terminal is replaced rather than thrown.
  std::string text = j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  // The daemon's own check, roster included: what passes here is what the daemon accepts.
  Parsed<Event> parsed = parse_event(text, config);
  if (!parsed) {
    out.error = std::move(parsed.error);
    return out;
  }
  out.value = std::move(text);
  return out;
}

std::string manual_event_id(std::string_view incident_key, std::string_view suffix) {
  // A generated key says "manual-" already.
  std::string id = incident_key.starts_with("manual-") ? "" : "manual-";
  id += incident_key;
  id += '-';
  id += suffix;
  return id;
}

std::string manual_incident_key(TimePoint now, std::chrono::minutes utc_offset,
                                std::string_view suffix) {
  // "2026-11-26T08:00:00..." -> "20261126-080000"
  const std::string t = format_rfc3339(now, utc_offset);
  std::string stamp;
  for (std::size_t i = 0; i < t.size() && i < 19; ++i) {
    if (t[i] == 'T') {
      stamp += '-';
    } else if (t[i] != '-' && t[i] != ':') {
      stamp += t[i];
    }
  }
  std::string key = "manual-" + stamp + "-";
  key += suffix;
  return key;
}

std::string random_suffix(std::size_t hex_digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::uniform_int_distribution<int> digit(0, 15);
  std::string out;
  out.reserve(hex_digits);
  for (std::size_t i = 0; i < hex_digits; ++i) out += kHex[digit(device)];
  return out;
}

}  // namespace incidentd
