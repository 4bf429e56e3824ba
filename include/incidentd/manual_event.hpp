// Incidents entered by hand (a telephone report to the duty office): the contract event that
// `incidentctl open|close|level` and POST /v1/incidents publish to the events topic, with
// "source": {"platform": "manual", "by": ...}. Built in one place and checked with parse_event()
// before it is sent, so a typo is refused here with the daemon's own reason instead of becoming
// a dead letter. No I/O: the caller supplies the id, the instant and the roster.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

struct ManualEvent {
  EventKind kind = EventKind::detected;
  std::string event_id;  // unique per event: the same id published twice counts once
  std::string incident_key;
  Level level = Level::II;
  std::string title, category, region;  // empty: left out of the event
  std::string lead_unit;
  std::vector<std::string> units;  // the lead unit is put first when it is not among them
  bool drill = false;
  TimePoint detected_at{};
  std::string by;     // who entered it: required
  std::string via;    // how: "incidentctl" or "http"
  std::string token;  // the API token's name, when it came through the API
};

// The event as one line of JSON, or the reason it would be refused (parse_event()'s words, or
// a missing `by`). Timestamps are written in `utc_offset`.
Parsed<std::string> manual_event_json(const ManualEvent& event, const Config& config,
                                      std::chrono::minutes utc_offset);

// "manual-<incident_key>-<suffix>": an event id that says where it came from.
std::string manual_event_id(std::string_view incident_key, std::string_view suffix);
// "manual-<YYYYMMDD-HHMMSS>-<suffix>", local time in `utc_offset`: a key for a new incident.
std::string manual_incident_key(TimePoint now, std::chrono::minutes utc_offset,
                                std::string_view suffix);
// `hex_digits` random lowercase hex digits (std::random_device) for the two above.
std::string random_suffix(std::size_t hex_digits);

}  // namespace incidentd
