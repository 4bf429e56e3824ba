// Domain vocabulary: what arrives (events, confirmations, acknowledgements) and what the engine
// does about it (actions, one timeline entry each). Names and spellings follow the product
// contract in docs/contract.md; they are what other systems depend on.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/time.hpp"

namespace incidentd {

enum class Level { I, II, III, IV };
enum class Milestone { first_release, press_conference, follow_up };
enum class EventKind { detected, updated, closed };
enum class ActionKind {
  incident_opened,
  level_changed,
  warning,
  target_missed,
  deadline_breached,
  notification,
  escalated,
  acknowledged,
  release_confirmed,
  milestone_met,
  incident_closed,
  // The outbox dispatcher's records (docs/notifications.md), not the engine's decisions.
  delivery,          // one attempt to deliver a notification, and its outcome
  channel_fallback,  // a notification moves to the recipient's next channel
  // The daemon's own record (docs/reliability.md): it was down, from the last instant it knew
  // itself alive to its next start, while this incident was open. Never from the engine.
  daemon_outage,
};
// How late a milestone was met: not, after the target, after the hard deadline.
enum class Lateness { on_time, target, deadline };
enum class ConfirmRule { all, lead };

inline constexpr Milestone kMilestones[] = {Milestone::first_release, Milestone::press_conference,
                                            Milestone::follow_up};

std::string_view to_string(Level v);
std::string_view to_string(Milestone v);
std::string_view to_string(EventKind v);
std::string_view to_string(ActionKind v);
std::optional<Level> parse_level(std::string_view s);
std::optional<Milestone> parse_milestone(std::string_view s);
std::optional<EventKind> parse_event_kind(std::string_view s);
std::optional<ActionKind> parse_action_kind(std::string_view s);
// Level I is more severe than II: rises() is true when `to` is more severe than `from`.
inline bool rises(Level from, Level to) {
  return static_cast<int>(to) < static_cast<int>(from);
}

// The source platform of an event entered by hand (incidentctl open, POST /v1/incidents).
inline constexpr std::string_view kManualPlatform = "manual";

struct Event {
  std::string event_id;
  std::string incident_key;
  EventKind kind = EventKind::detected;
  Level level = Level::IV;
  std::string title;
  std::string category;
  std::string region;
  std::string lead_unit;
  std::vector<std::string> units;
  TimePoint detected_at{};
  bool drill = false;
  // From the optional `source` object, when they are strings: who reported it. Only a manual
  // source ("platform": "manual", an incident entered by hand) is carried into the timeline.
  std::string source_platform;
  std::string source_by;
  std::optional<TimePoint> arrived_at;  // scenario files only
  friend bool operator==(const Event&, const Event&) = default;
};

struct Confirmation {
  std::string confirmation_id;
  std::string incident_key;
  Milestone milestone = Milestone::first_release;
  std::string unit;
  TimePoint released_at{};
  std::string channel;
  std::string url;
  std::string speaker;  // "", "principal", "deputy", "spokesperson"
  std::string via;      // where it came from: "kafka", "http", "sms", "cli", "scenario"
  std::optional<TimePoint> arrived_at;  // scenario files only
};

struct Acknowledgement {
  std::string incident_key;
  std::string recipient;  // a person id from the roster
  TimePoint at{};
  std::string via;
};

// One timeline entry. Which optional fields are set depends on `kind` (see docs/contract.md).
struct Action {
  TimePoint at{};
  std::string incident_key;
  ActionKind kind = ActionKind::incident_opened;
  std::optional<Milestone> milestone;
  std::optional<int> level;             // ladder level: warning..breach, escalated, notification
  std::optional<int> previous_level;    // escalated: the ladder level before
  std::optional<TimePoint> due;         // warning, target_missed, deadline_breached
  std::optional<TimePoint> deadline;    // notification about a target: the deadline behind it
  std::optional<Level> incident_level;  // incident_opened, level_changed (new level)
  std::optional<Level> previous_incident_level;  // level_changed
  std::optional<Lateness> late;                  // milestone_met
  std::optional<TimePoint> released_at;          // release_confirmed, milestone_met
  std::optional<TimePoint> detected_at;  // incident_opened, level_changed: the event's detected_at
  std::optional<ActionKind> cause;       // notification: the ladder action it carries
  std::string recipient;                 // notification, acknowledged
  std::string unit;                      // notification (recipient's unit), release_confirmed
  std::string channel;                   // notification: "sms"/"webhook"; release: where published
  std::string notification_id;           // notification: stable id receivers dedupe on
  std::string deputy_of;                 // notification sent to a deputy
  std::string confirmation_id, url, speaker, via;  // release_confirmed / acknowledged
  std::string title, lead_unit;                    // incident_opened
  // incident_opened, level_changed, incident_closed of an event entered by hand: the event's
  // source platform ("manual") and who entered it (its source's `by`).
  std::string source, by;
  std::vector<std::string> units;  // incident_opened, level_changed
  int reminder = 0;       // deadline_breached: 0 the breach itself, k the k-th overdue reminder
  int send = 0;           // notification: 1 first send, 2.. re-sends
  int round = 0;          // follow_up: 1 for the first follow-up release, 2 the next ...
  bool clock = false;     // incident_opened / level_changed: a clock runs for this incident
  bool catch_up = false;  // acted on late, at arrival or after downtime (catch-up rule)
  bool opening = false;   // warning, notification: the alert at open (the ladder's 0 h row)
  bool drill = false;
  // delivery, channel_fallback (the dispatcher's records of a notification, by notification_id)
  int attempt = 0;                // delivery: 1 for the first attempt of the notification
  std::string outcome;            // delivery: "sending", "delivered", "retry", "failed"
  std::string detail;             // delivery: what the other side said; fallback: why
  std::string previous_channel;   // channel_fallback: the channel given up on
  std::optional<TimePoint> from;  // daemon_outage: the last instant the daemon knew it was up
  std::optional<TimePoint> to;    // daemon_outage: when it started again

  friend bool operator==(const Action&, const Action&) = default;
};

}  // namespace incidentd
