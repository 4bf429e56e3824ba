// What the statistics need from one incident's timeline (docs/reports.md, "Statistics"),
// accumulated one timeline row at a time in timeline order, so the store can keep it up to date
// at every commit and `stats` reads one small record per incident instead of replaying millions
// of rows. apply() is the only definition of how a row counts: the store's commit, the schema
// migration that fills the record for older databases and the tests' replay all call it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

// The first breach of one milestone round, and the responsible units its alert reached: the
// alert's first sends follow the breach at the same instant.
struct BreachFigure {
  Milestone milestone = Milestone::first_release;
  int round = 0;
  TimePoint at{};
  bool capturing = true;           // no row at another instant has come after it yet
  std::string alert;               // of the first matching notification
  std::vector<std::string> units;  // sorted, unique
  friend bool operator==(const BreachFigure&, const BreachFigure&) = default;
};

struct IncidentFigures {
  std::optional<Level> max_level;          // highest level of incident_opened / level_changed
  std::optional<TimePoint> first_release;  // released_at of the first first_release milestone_met
  std::optional<TimePoint> press;          // the same for press_conference
  std::map<std::string, TimePoint> first_notified;  // person -> first notification
  std::map<std::string, TimePoint> acknowledged;    // first ack at or after the first notification
  std::vector<BreachFigure> breaches;

  // One timeline row of the incident, after every row before it.
  void apply(const Action& a);

  // A compact text (length-prefixed strings, decimal numbers), not JSON: the store decodes and
  // encodes it for every incident a commit touches.
  std::string encode() const;
  // nullopt when `text` is not what encode() writes.
  static std::optional<IncidentFigures> decode(std::string_view text);

  friend bool operator==(const IncidentFigures&, const IncidentFigures&) = default;
};

// The same length-prefixed encoding for a list of strings (the store's units column).
std::string encode_string_list(const std::vector<std::string>& items);
std::optional<std::vector<std::string>> decode_string_list(std::string_view text);

// The alert a notification id belongs to: the id less its last two segments (recipient and
// send), or the id itself when it has fewer.
std::string alert_of_notification(const std::string& notification_id);

}  // namespace incidentd
