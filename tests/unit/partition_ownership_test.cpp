// Which partition an incident_key falls in (docs/cluster.md, "Ownership"): it must be the one
// the publisher's partitioner chose, or the instance that reads the event does not own it. The
// expected partitions were computed apart from the code under test: zlib.crc32(key) % n (what
// librdkafka's consistent partitioner is), and the Java client's murmur2 (Utils.murmur2 with
// toPositive, written out in Python from Kafka's source) % n.
#include "kafka/partition_ownership.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace {

using incidentd::ClusterConfig;
using incidentd::PartitionOwnership;

struct Expected {
  std::string key;
  std::int32_t crc32_of_6;
  std::int32_t murmur2_of_6;
  std::int32_t crc32_of_7;
  std::int32_t murmur2_of_7;
};

const std::vector<Expected> kKeys = {
    {"inc-1", 3, 1, 0, 5},     {"inc-2", 5, 1, 5, 4}, {"2026-yn-0417", 5, 5, 2, 5},
    {"云南-0001", 5, 0, 3, 6}, {"kafka", 5, 4, 6, 3},
};

}  // namespace

TEST_CASE("an incident_key falls in the partition its publisher's partitioner chose") {
  const PartitionOwnership crc6(6, ClusterConfig::KeyPartitioner::consistent);
  const PartitionOwnership crc7(7, ClusterConfig::KeyPartitioner::consistent);
  const PartitionOwnership murmur6(6, ClusterConfig::KeyPartitioner::murmur2);
  const PartitionOwnership murmur7(7, ClusterConfig::KeyPartitioner::murmur2);
  for (const auto& e : kKeys) {
    INFO(e.key);
    CHECK(crc6.partition_of(e.key) == e.crc32_of_6);
    CHECK(crc7.partition_of(e.key) == e.crc32_of_7);
    CHECK(murmur6.partition_of(e.key) == e.murmur2_of_6);
    CHECK(murmur7.partition_of(e.key) == e.murmur2_of_7);
  }
}

TEST_CASE("an instance owns the keys of its assigned partitions and no others") {
  PartitionOwnership ownership(6, ClusterConfig::KeyPartitioner::consistent);
  CHECK_FALSE(ownership.owns("inc-1"));  // nothing before the first assignment
  ownership.assign({3, 4, 9});           // 9: no such partition on the state topic, ignored
  CHECK(ownership.owns("inc-1"));        // partition 3
  CHECK_FALSE(ownership.owns("inc-2"));  // partition 5
  CHECK(ownership.owned() == std::vector<std::int32_t>{3, 4});
  ownership.revoke({3});
  CHECK_FALSE(ownership.owns("inc-1"));
  CHECK(ownership.owned() == std::vector<std::int32_t>{4});
  CHECK_THROWS(PartitionOwnership(0, ClusterConfig::KeyPartitioner::consistent));
}
