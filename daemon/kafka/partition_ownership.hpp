// Which incidents this instance of a cluster acts on (docs/cluster.md, "Ownership"): those whose
// incident_key falls in a partition of the events topic assigned to it. The partition of a key is
// the configured partitioner's ([cluster] partitioner: librdkafka's default CRC-32, or the Java
// client's murmur2, modulo the partition count), the one that placed the event and that places
// the incident's change records on the state topic, so an incident, its inputs and its records
// share one partition number on every topic.
//
// Written by the consumer thread at a rebalance, read by the loop (the engine, the dispatcher's
// queries) at any time: each partition's flag is an atomic of its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "incidentd/config.hpp"

namespace incidentd {

class PartitionOwnership {
 public:
  PartitionOwnership(std::int32_t partition_count, ClusterConfig::KeyPartitioner partitioner);

  std::int32_t partition_count() const { return count_; }
  std::int32_t partition_of(std::string_view incident_key) const;
  bool owns(std::string_view incident_key) const;
  bool owns_partition(std::int32_t partition) const;
  // Out-of-range partitions (an events topic with more partitions than the state topic) are
  // ignored; the caller reports them.
  void assign(const std::vector<std::int32_t>& partitions);
  void revoke(const std::vector<std::int32_t>& partitions);
  std::vector<std::int32_t> owned() const;

 private:
  std::int32_t count_;
  ClusterConfig::KeyPartitioner partitioner_;
  std::unique_ptr<std::atomic<bool>[]> owned_;
};

}  // namespace incidentd
