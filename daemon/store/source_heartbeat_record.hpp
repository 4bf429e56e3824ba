// The source-heartbeat room: one row (table source_heartbeat) saying whether the monitoring
// source is silent and since when, written in the same transaction as the operator desk's outbox
// rows that tell of it (the SourceHeartbeatLog port). Internal to daemon/store.
#pragma once

#include <optional>
#include <vector>

#include "incidentd/source_heartbeat_log.hpp"

namespace incidentd {

class Database;
class OutboxRoom;

class SourceHeartbeatRoom {
 public:
  SourceHeartbeatRoom(Database& database, OutboxRoom& outbox)
      : database_(database), outbox_(outbox) {}
  std::optional<SourceHeartbeatRecord> source_heartbeat();
  void record_source_heartbeat(const SourceHeartbeatRecord& record,
                               const std::vector<OutboxRow>& rows);

 private:
  Database& database_;
  OutboxRoom& outbox_;
};

}  // namespace incidentd
