// The change record of one incident on the state topic (docs/cluster.md, "The state topic"):
// what one committed change did to it. Its new snapshot, its new timeline entries (without
// hashes: each replica chains them itself), its new outbox rows and the dispatcher's updates of
// existing ones, the event ids it processed, its confirmations and acknowledgements. Keyed by
// incident_key; encoded as versioned JSON. The decoder is for records from the broker, so it
// rejects anything it could not apply exactly, with a reason that names the field.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/codec.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/outbox.hpp"
#include "incidentd/store.hpp"

namespace incidentd {

// The value of "v" this build writes and the only one it reads.
inline constexpr std::int64_t kStateRecordVersion = 1;
// Larger records are rejected before parsing (a snapshot with its deliveries is a few KiB).
inline constexpr std::size_t kMaxStateRecordBytes = std::size_t{4} * 1024 * 1024;

// An update of an outbox row by the dispatcher, as the record carries it: the row's new
// delivery fields (OutboxUpdate without its timeline and new rows, which the record carries in
// `actions` and `outbox`).
struct DeliveryChange {
  std::string notification_id;
  DeliveryState state = DeliveryState::pending;
  NotificationChannel channel = NotificationChannel::sms;
  int attempts = 0;
  TimePoint next_attempt_at{};
  std::optional<TimePoint> delivered_at;
  std::string last_error;
  std::string gave_up;
  std::optional<TimePoint> failing_since;
  std::string recorded;
  friend bool operator==(const DeliveryChange&, const DeliveryChange&) = default;
};

struct StateRecord {
  std::string incident_key;
  // The cluster.instance_id of the instance that wrote it (empty: unknown, a record of a writer
  // that did not say). A replica does not apply its own records again: its database has them.
  std::string by;
  // The writer's number of the commit that made it (0: not said), one per commit of its
  // database, increasing: the writer learns from it which of its commits reached the topic
  // (docs/cluster.md, "Commits the topic never got").
  std::int64_t seq = 0;
  // The incident's snapshot after the change; absent when the change left it as it was (the
  // dispatcher's records of a delivery change the outbox and the timeline only).
  std::optional<IncidentState> state;
  std::vector<Action> actions;  // new timeline entries, in commit order
  // New outbox rows: one per notification action above, and the dispatcher's own (the operator
  // desk's "nobody reached" alerts). Only the columns a new row has: it is pending, unattempted.
  std::vector<OutboxRow> outbox;
  std::vector<DeliveryChange> deliveries;
  std::vector<ProcessedId> processed;
  std::vector<Confirmation> confirmations;
  std::vector<Acknowledgement> acknowledgements;
};

// Compact JSON, keys sorted (the format is in docs/cluster.md).
std::string encode_state_record(const StateRecord& record);
Parsed<StateRecord> decode_state_record(std::string_view text);

// The outbox row the store writes for a notification action (the engine's alerts).
OutboxRow outbox_row_of(const Action& notification);

// One record per incident a committed changeset touched, in the order each first appears. A
// changeset's confirmations, acknowledgements and processed ids go with their incident.
std::vector<StateRecord> state_records_of(const Changeset& changes);

// One record per incident the applied dispatcher updates touched. `incident_of` gives a
// notification's incident_key (empty: unknown), for updates whose timeline does not say; an
// update of a row with no incident (the source heartbeat's notices) makes no record.
std::vector<StateRecord> state_records_of(
    const std::vector<OutboxUpdate>& applied,
    const std::function<std::string(const std::string& notification_id)>& incident_of);

}  // namespace incidentd
