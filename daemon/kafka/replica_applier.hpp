// The replica applier (docs/cluster.md, "Replicas"): with [cluster] on, every instance reads the
// whole state topic into its own database, on a thread of its own with its own SQLite connection
// and its own librdkafka consumer (isolation.level=read_committed, no group: every partition is
// assigned from the position stored in replica_positions, or from the beginning). Each batch of
// records waiting is applied in one transaction (store/replica_room.hpp); a record that does not
// decode is logged with its topic, partition and offset and passed over; this instance's own
// records only move the position. wait_caught_up() is what a takeover waits on.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "incidentd/config.hpp"
#include "incidentd/replica_log.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

class ReplicaApplier {
 public:
  // on_applied is called on the applier's thread after each transaction that applied something.
  // Nothing is contacted or opened before start().
  ReplicaApplier(const Config& config, std::function<void(ReplicaApplied)> on_applied);
  ~ReplicaApplier();  // stops and joins
  ReplicaApplier(const ReplicaApplier&) = delete;
  ReplicaApplier& operator=(const ReplicaApplier&) = delete;

  // Creates the consumer (throws KafkaSetupError on a configuration librdkafka refuses), asks
  // for the state topic's partitions (for up to 10 s; the thread goes on asking if the broker
  // does not answer by then) and starts the thread.
  void start();
  void stop();
  // Blocks until everything committed to these partitions of the state topic before the call
  // (read_committed: up to the last stable offset) is applied to the database, or `timeout`
  // passes (false then). Called from the consumer thread inside a rebalance.
  bool wait_caught_up(const std::vector<std::int32_t>& partitions, Duration timeout);
  // The state topic's, from metadata at start (0 until known).
  std::int32_t partition_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace incidentd
