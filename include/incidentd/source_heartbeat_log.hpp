// The source heartbeat's durable state (docs/notifications.md, "Source heartbeat"): whether the
// monitoring source is silent and since when, written together with the operator desk's outbox
// rows that tell of it, so a restart neither alerts again nor forgets the all-clear.
// Implementations throw StoreError.
#pragma once

#include <optional>
#include <vector>

#include "incidentd/outbox.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

struct SourceHeartbeatRecord {
  bool silent = false;
  // silent: the last message before the silence (or the start the silence was counted from);
  // not silent: when messages came back.
  TimePoint since{};
  TimePoint changed_at{};  // when the daemon decided it: the alert or the all-clear
};

class SourceHeartbeatLog {
 public:
  virtual ~SourceHeartbeatLog() = default;
  // The recorded state; nullopt when none was ever recorded.
  virtual std::optional<SourceHeartbeatRecord> source_heartbeat() = 0;
  // Records the state and adds the operator desk's rows that tell of it, in one transaction; a
  // row whose notification_id exists already is left alone.
  virtual void record_source_heartbeat(const SourceHeartbeatRecord& record,
                                       const std::vector<OutboxRow>& rows) = 0;
};

}  // namespace incidentd
