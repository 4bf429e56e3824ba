// An instance of a cluster (docs/cluster.md, "Ownership"): the incidents it owns (those whose
// key falls in a partition of the events topic assigned to it), the replica of the state topic
// it keeps in its own database, and what a rebalance does to its clocks. On an assignment it
// first catches the partitions' state up to the end of the log, then the engine adopts their
// open incidents and arms their clocks; on a revocation the engine commits and forgets them
// before the partitions go. The dispatcher sends only what the instance owns.
//
// The rebalance calls come on the consumer thread and return once the loop has done its part:
// nothing is consumed from an assigned partition before its incidents are adopted, and a revoked
// partition's offsets are committed only after its clocks have stopped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "incidentd/config.hpp"
#include "incidentd/engine.hpp"
#include "kafka/kafka_ports.hpp"
#include "kafka/partition_ownership.hpp"
#include "kafka/replica_applier.hpp"

namespace incidentd {

class SqliteStore;

class ClusterMember {
 public:
  // Runs `fn` on the loop thread and waits for it; false when the loop is gone (the daemon is
  // ending) and `fn` did not run.
  using RunOnLoop = std::function<bool(std::function<void()> fn)>;

  // Builds the replica applier (not started): `on_applied` is called on its thread after every
  // transaction of records it applied.
  ClusterMember(const Config& config, std::function<void(ReplicaApplied)> on_applied);
  ~ClusterMember();
  ClusterMember(const ClusterMember&) = delete;
  ClusterMember& operator=(const ClusterMember&) = delete;

  // Whether this instance owns the incident's partition (any thread): nothing before the first
  // assignment. The engine takes inputs for these (they come only from assigned partitions).
  bool owns(std::string_view incident_key) const;
  Engine::Owns engine_owns() const;
  // Whether it may act on its own now: no clock fires and nothing is sent while the process's
  // own run is in doubt (stalled() below).
  std::function<bool()> engine_in_doubt() const;
  bool may_send(std::string_view incident_key) const;

  // The parts it moves clocks in, once they are built; `after_adopt` runs on the loop after
  // an adoption (the dispatcher is woken: adopted incidents' due rows go out at once).
  void bind(Engine& engine, SqliteStore& store, RunOnLoop run_on_loop,
            std::function<void()> after_adopt);
  void start();  // the replica applier's thread
  void stop();

  // The consumer's rebalance (IngestOptions::on_assigned / on_revoked), on its thread.
  void assigned(const std::vector<PartitionOffset>& parts);
  void revoked(const std::vector<PartitionOffset>& parts);

 private:
  // A process that did not run for a while (SIGSTOP, a VM paused, starved of CPU) may have lost
  // its partitions without hearing of it yet: the group removes a member whose heartbeats stop
  // for a session, and a rebalance may already have given its partitions to another instance.
  // Its timers fire the moment it runs again, before the consumer thread can hear of the
  // revocation; so ownership also needs the watch's recent tick, and after a gap of half a
  // session or more it stays in doubt until the group has answered (a rebalance), or for two
  // heartbeat intervals, after which a removed member would have been told.
  bool stalled() const;
  void watch();

  std::vector<std::int32_t> events_partitions(const std::vector<PartitionOffset>& parts) const;
  PartitionOwnership* ownership_for(const std::vector<std::int32_t>& partitions);
  void catch_up(const std::vector<std::int32_t>& partitions);

  const std::string events_topic_;
  const std::string state_topic_;
  ReplicaApplier replica_;
  // Made at the first assignment, from the state topic's partition count (the broker may be
  // away at start), then never replaced: readers on other threads hold the raw pointer.
  std::unique_ptr<PartitionOwnership> ownership_;
  std::atomic<const PartitionOwnership*> published_{nullptr};
  const std::chrono::milliseconds session_timeout_;
  const std::chrono::milliseconds heartbeat_interval_;
  const ClusterConfig::KeyPartitioner partitioner_;
  // steady_clock nanoseconds: the watch's last tick, and the end of a doubt after a gap.
  std::atomic<std::int64_t> last_tick_{0};
  std::atomic<std::int64_t> doubt_until_{0};
  std::atomic<bool> watching_{false};
  std::thread watch_thread_;
  Engine* engine_ = nullptr;
  SqliteStore* store_ = nullptr;
  RunOnLoop run_on_loop_;
  std::function<void()> after_adopt_;
};

}  // namespace incidentd
