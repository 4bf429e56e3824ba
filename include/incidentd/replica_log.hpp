// The replica's port (docs/cluster.md, "Replicas"): every instance of a cluster applies the
// change records of the state topic (incidentd/state_record.hpp) to its own database, so each
// one holds every incident. A batch of records is applied in one transaction together with the
// position reached in each partition of the topic: a record below the stored position (a
// redelivery) is skipped, this instance's own records only move the position (its database had
// them before they reached Kafka), and a record that cannot be applied is refused, with a
// reason, and passed over. Taken by the replica applier (daemon/kafka/replica_applier.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "incidentd/incident.hpp"
#include "incidentd/state_record.hpp"
#include "incidentd/store.hpp"

namespace incidentd {

// One message of the state topic, decoded.
struct ReplicaInput {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  // nullopt: a message that is no record (it did not decode; the applier logged why): only its
  // offset counts.
  std::optional<StateRecord> record;
};

// What one transaction of the applier wrote.
struct ReplicaApplied {
  std::vector<IncidentState> incidents;  // snapshots applied (for the API's stream / duty board)
  std::vector<ProcessedId> processed;    // ids applied: the engine's in-memory dedup set needs them
};

// A record that decoded but could not be written (a row that contradicts the database): passed
// over, so that one bad record does not stop the replica.
struct ReplicaRefusal {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string incident_key;
  std::string reason;
};

struct ReplicaResult {
  ReplicaApplied applied;
  std::vector<ReplicaRefusal> refused;
  std::size_t own = 0;    // this instance's records: counted, not applied again
  std::size_t below = 0;  // below the stored position: applied before
  // Per partition of the inputs' topics, the next offset to read after this call.
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> positions;
};

class ReplicaLog {
 public:
  virtual ~ReplicaLog() = default;
  // The next offset to apply per partition of `topic`, as stored (partitions never applied are
  // absent).
  virtual std::map<std::int32_t, std::int64_t> replica_positions(const std::string& topic) = 0;
  // Applies `inputs` (each partition's in offset order) and stores the positions they reach, in
  // one transaction when it can (one per input when a record is refused). Throws StoreError
  // (StoreFullError: a full disk; nothing was written, the same inputs can be given again).
  virtual ReplicaResult apply_replica(const std::vector<ReplicaInput>& inputs) = 0;
  // This instance's own records up to `seq` (StateRecord::seq) were read back from the topic:
  // published, so the store no longer needs to be able to undo their commits. Called before the
  // positions past them are stored. Throws StoreError.
  virtual void own_records_published(std::int64_t seq) = 0;
};

}  // namespace incidentd
