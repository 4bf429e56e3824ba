// The notification queue port: what the dispatcher and the source heartbeat need of the outbox.
// Rows are claimed when due, leased and updated only while still 'pending' (each is delivered
// exactly once), and every update's timeline entries are chained in the same transaction.
// Implementations turn their library's failures into StoreError (StoreFullError: a full disk).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/notification.hpp"
#include "incidentd/time.hpp"
#include "incidentd/timeline_rows.hpp"

namespace incidentd {

// One outbox row: a notification send and what the dispatcher recorded about its delivery.
struct OutboxRow {
  std::string notification_id;
  std::string recipient;
  std::string unit;
  NotificationChannel channel = NotificationChannel::sms;
  // Pending until a dispatcher records delivered, failed (given up) or superseded (given up
  // unsent or unfinished: a newer alert to the same person about the same milestone replaced it,
  // and carries on its failing_since).
  DeliveryState state = DeliveryState::pending;
  int attempts = 0;
  std::optional<TimePoint> delivered_at;
  std::string last_error;  // the last failure, in English words
  // Given up or superseded: why, as JSON fields a report translates (OutboxUpdate::gave_up);
  // empty for rows written before schema 10 and rows not given up. Filled by outbox().
  std::string gave_up;
  // Filled by due_notifications() (the dispatcher needs them; outbox() leaves them empty).
  std::string incident_key;
  std::optional<int> level;
  // The notification action as JSON (a source notice's fields for the source heartbeat's rows);
  // the dispatcher decodes it once per claim (daemon/notify/notification.hpp).
  std::string body;
  // Filled by due_notifications() when body is the notification's timeline row: that row's
  // columns, which its body leaves out (incidentd/timeline_rows.hpp), and its seq (the rows of
  // one step's recipients share it: the dispatcher decodes the step once for them all).
  std::optional<TimelineColumns> timeline;
  std::optional<std::int64_t> timeline_seq;
  TimePoint created_at{};
  TimePoint next_attempt_at{};
  std::string milestone;  // of the alert; empty when it has none
  // alert (the engine's), unreached (an operator's: somebody could not be reached), or
  // source_silent / source_back (an operator's: the source heartbeat; such rows have no
  // incident, an empty incident_key, and their delivery goes into no timeline).
  NotificationPurpose purpose = NotificationPurpose::alert;
  // The first failed attempt of this row or of an older one it superseded; due_notifications()
  // gives the earliest of that chain.
  std::optional<TimePoint> failing_since;
  std::string recorded;  // the once-only timeline entries written (delivery_policy.hpp marks)
  // due_notifications() only: a newer alert to the same person about the same milestone of the
  // same incident, which makes this one obsolete (it is given up, not sent).
  std::string superseded_by;
};

// What the dispatcher records about one outbox row, with the timeline entries that say so.
// Applied only while the row is still 'pending' (so a row is marked delivered exactly once).
struct OutboxUpdate {
  std::string notification_id;
  DeliveryState state = DeliveryState::pending;
  NotificationChannel channel = NotificationChannel::sms;  // the row's channel now (fallback)
  int attempts = 0;
  TimePoint next_attempt_at{};
  std::optional<TimePoint> delivered_at;
  std::string last_error;
  // Given up or superseded: {"reason": ..., "error": the channel's last answer, "channel",
  // "since", "after", "by" (superseded), "told": [operator ids]} (docs/reports.md).
  std::string gave_up;
  std::optional<TimePoint> failing_since;
  std::string recorded;
  std::vector<Action> timeline;  // delivery / channel_fallback entries, chained like any other
  // Rows to add when this update applies (the operator desk's "nobody reached" alerts); a row
  // whose notification_id exists already is left alone, so each is sent once.
  std::vector<OutboxRow> new_rows;
};

class NotificationOutbox {
 public:
  virtual ~NotificationOutbox() = default;
  // Pending rows with next_attempt_at <= now, the earliest first, at most `limit`.
  virtual std::vector<OutboxRow> due_notifications(TimePoint now, std::size_t limit) = 0;
  // The earliest next_attempt_at of a pending row, if any.
  virtual std::optional<TimePoint> next_notification_due() = 0;
  // Pending rows scheduled after `beyond` become due at `now`; returns how many. The dispatcher
  // never schedules a row further ahead than its longest wait, so such a row was scheduled on a
  // wall clock that has since stepped back.
  virtual std::size_t pull_back_notifications(TimePoint now, TimePoint beyond) = 0;
  // Applies the updates and appends their timeline entries to the hash chain, all in one
  // transaction. Returns, per update, whether it applied (false: the row was no longer pending).
  virtual std::vector<bool> record_outbox(const std::vector<OutboxUpdate>& updates) = 0;
  // Rows by (channel, state), for the notifications metric.
  virtual std::map<std::pair<std::string, std::string>, std::uint64_t> outbox_counts() = 0;
};

}  // namespace incidentd
