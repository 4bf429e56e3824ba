// The after-action report of one incident, built from its timeline, its snapshot and the outbox
// of a store opened read-only, and rendered as text, markdown, json, csv or html.
// Personal data is de-identified unless ReportOptions::full: names become role and unit, phone
// numbers are masked; a full report says so on its first lines.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/timeline_queries.hpp"
#include "report/messages.hpp"

namespace incidentd::report {

enum class Format { text, markdown, json, csv, html };
std::optional<Format> parse_format(std::string_view name);

// Bad input to a report (unknown incident, bad dates): the message is for the operator.
class ReportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ReportOptions {
  bool full = false;               // names and phone numbers as they are
  const Config* config = nullptr;  // time zone, policy and, when `roster`, names and roles
  bool roster = true;              // false: the configuration is the defaults, with no people
  TimePoint generated_at{};        // printed on the report
  std::string database;  // printed with the chain head, so the reader knows what to verify
  Lang lang = Lang::zh;  // of every word of the report (json keys and values stay English)
};

struct LevelChange {
  std::int64_t seq = 0;
  TimePoint at{};  // when the engine recorded it
  std::optional<TimePoint> detected_at;
  std::string level;
  std::string previous;  // empty for the opening level
  bool clock_started = false;
  std::string by;  // entered by hand (source "manual"): who, as recorded; empty otherwise
};

struct Release {
  std::int64_t seq = 0;
  TimePoint recorded_at{};
  TimePoint released_at{};
  std::string unit, channel, url, speaker, via, confirmation_id;
};

struct MilestoneReport {
  Milestone milestone = Milestone::first_release;
  int round = 0;  // follow_up rounds 1, 2, ...; 0 otherwise
  std::optional<TimePoint> target;
  std::optional<TimePoint> deadline;
  std::optional<TimePoint> met_at;  // released_at of the release that met it
  std::optional<TimePoint> met_recorded_at;
  std::optional<Lateness> late;
  std::optional<Duration> vs_target;    // met_at - target: negative is early
  std::optional<Duration> vs_deadline;  // met_at - deadline
  std::vector<Release> releases;
  bool principal_spoke = false;  // a release of this milestone names the principal as speaker
  std::string status;  // "met on time", "met after the target", "not met yet", ...: stable English
                       // words (json), rendered through the catalogue (status_label)
};

// A warning, missed target, breach or escalation, as it happened.
struct LadderEntry {
  std::int64_t seq = 0;
  TimePoint at{};
  ActionKind kind = ActionKind::warning;
  Milestone milestone = Milestone::first_release;
  int round = 0;
  int level = 0;
  std::optional<int> previous_level;  // escalated
  std::optional<TimePoint> due;
  int reminder = 0;
  bool catch_up = false;
  int notified = 0;  // people the alert reached at once (first sends, deputies not counted)
};

// One person reached by one alert: every send of it, the deputy copies, the acknowledgement.
struct DeliveryReport {
  std::int64_t first_seq = 0;
  std::string alert_id;
  Milestone milestone = Milestone::first_release;
  int round = 0;
  ActionKind cause = ActionKind::warning;
  int level = 0;
  int reminder = 0;
  std::string recipient;     // display form: de-identified unless full
  std::string recipient_id;  // the roster id: for matching, never rendered unless full
  std::string unit;
  std::string channel;
  std::string contact;    // phone (masked unless full) or "webhook"
  std::string deputy_of;  // display form of the person this copy stands in for
  TimePoint first_sent{};
  TimePoint last_sent{};
  int sends = 0;
  std::string delivery;  // "delivered", "failed", "pending"
  std::optional<TimePoint> delivered_at;
  std::string delivery_note;  // last error (masked unless full), or what is not recorded yet
  // Why it was given up or superseded, as the dispatcher recorded it in fields (schema 10 on);
  // unset for older rows, whose English delivery_note is shown as it is.
  struct GiveUp {
    // "not_delivered_since", "channel_failed", "every_channel_failed", "not_in_roster",
    // "superseded"
    std::string reason;
    std::string channel;
    std::string error;  // the channel's last answer (masked unless full), as it was
    std::optional<TimePoint> since;
    std::optional<Duration> after;
    std::vector<std::string> told;  // the operator desk told, in display form
  };
  std::optional<GiveUp> gave_up;
  std::optional<TimePoint> acknowledged_at;
  std::optional<Duration> time_to_ack;  // from the first send of this alert to this person
};

// Something that did not happen when it should have: a late event, the engine catching up
// (guessed from late steps), or an outage the daemon recorded at its restart ("daemon_outage":
// `since` the last instant it knew itself alive, `at` its start; its catch-up is folded in).
struct Gap {
  std::int64_t seq = 0;
  TimePoint at{};
  std::string kind;  // "late_event", "outage", "daemon_outage"
  std::optional<TimePoint> since;
  std::optional<Duration> delay;
  std::string what;
};

struct IncidentReport {
  std::string key, title, category, region, lead_unit;
  std::vector<std::string> units;  // display form "id (name)" when the roster names it
  std::string level;               // current level
  bool drill = false;
  bool closed = false;
  std::optional<TimePoint> closed_at;
  std::string closed_by;  // closed by hand: who, as recorded
  TimePoint detected_at{};
  std::optional<TimePoint> first_recorded_at;
  std::optional<TimePoint> clock_start;
  std::vector<LevelChange> levels;
  std::vector<MilestoneReport> milestones;
  std::vector<LadderEntry> ladder;
  std::vector<DeliveryReport> deliveries;
  std::vector<Gap> gaps;
  std::size_t timeline_entries = 0;
  // This incident's last timeline row: its place in the incident's own chain (incident_seq) and
  // its hash. The same on every replica of a cluster.
  std::optional<ChainHead> incident_head;
  // A SHA-256 over every incident's chain head (what `incidentctl verify` prints): it anchors the
  // whole database as it was when the report was made, the same on every replica holding the same
  // rows (the file's last row differs between replicas). Empty for an empty timeline.
  std::string heads_digest;
  bool full = false;
  bool roster_known = false;  // a configuration named roles and units
  std::string timezone;
  std::chrono::minutes utc_offset{0};
  TimePoint generated_at{};
  std::string database;
  Lang lang = Lang::zh;
};

// Throws ReportError for an unknown incident, StoreError for a store that cannot be read.
IncidentReport build_incident_report(TimelineQueries& store, const std::string& incident_key,
                                     const ReportOptions& options);

std::string render_report(const IncidentReport& report, Format format);

// De-identification helpers, exposed for the tests and the statistics.
// "+8613800000101" -> "+86138****0101": the first six and the last four characters stay.
std::string mask_phone(std::string_view phone);
// Every run of 7 or more digits (optionally after '+') in free text is masked as a phone.
std::string mask_phones_in(std::string_view text);

}  // namespace incidentd::report
