#include "kafka/partition_ownership.hpp"

#include <stdexcept>
#include <string>

#include <librdkafka/rdkafka.h>

namespace incidentd {

PartitionOwnership::PartitionOwnership(std::int32_t partition_count,
                                       ClusterConfig::KeyPartitioner partitioner)
    : count_(partition_count),
      partitioner_(partitioner),
      owned_(std::make_unique<std::atomic<bool>[]>(partition_count)) {
  if (partition_count <= 0) {
    throw std::invalid_argument("a partition count must be positive, not " +
                                std::to_string(partition_count));
  }
  for (std::int32_t p = 0; p < count_; ++p) owned_[p] = false;
}

std::int32_t PartitionOwnership::partition_of(std::string_view incident_key) const {
  // The producer's topic handle and opaques are not used by these partitioners.
  if (partitioner_ == ClusterConfig::KeyPartitioner::murmur2) {
    return rd_kafka_msg_partitioner_murmur2(nullptr, incident_key.data(), incident_key.size(),
                                            count_, nullptr, nullptr);
  }
  return rd_kafka_msg_partitioner_consistent(nullptr, incident_key.data(), incident_key.size(),
                                             count_, nullptr, nullptr);
}

bool PartitionOwnership::owns(std::string_view incident_key) const {
  return owns_partition(partition_of(incident_key));
}

bool PartitionOwnership::owns_partition(std::int32_t partition) const {
  return partition >= 0 && partition < count_ && owned_[partition].load();
}

void PartitionOwnership::assign(const std::vector<std::int32_t>& partitions) {
  for (auto p : partitions) {
    if (p >= 0 && p < count_) owned_[p] = true;
  }
}

void PartitionOwnership::revoke(const std::vector<std::int32_t>& partitions) {
  for (auto p : partitions) {
    if (p >= 0 && p < count_) owned_[p] = false;
  }
}

std::vector<std::int32_t> PartitionOwnership::owned() const {
  std::vector<std::int32_t> out;
  for (std::int32_t p = 0; p < count_; ++p) {
    if (owned_[p].load()) out.push_back(p);
  }
  return out;
}

}  // namespace incidentd
