// The topics a cluster pairs by partition number (docs/cluster.md, "Ownership"): the instance
// assigned partition N of the events topic owns the incidents whose keys hash to N, gets
// partition N of the releases and inputs topics with it (the range assignor), and writes their
// change records to partition N of the state topic. Topics of different partition counts break
// that quietly (an incident's confirmation reaching an instance that does not own it), so a
// cluster member checks them before it joins.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "incidentd/config.hpp"

namespace incidentd {

struct ClusterTopics {
  std::map<std::string, int> partitions;  // the topics the broker has, by name
  std::vector<std::string> missing;       // those it does not have (yet)
};

// One metadata request. Throws std::runtime_error when the broker does not answer within
// `wait`, KafkaSetupError for a configuration librdkafka refuses.
ClusterTopics read_cluster_topics(const Config& config, Duration wait);

// Why these topics cannot serve a cluster (empty: they can). Topics not there yet are left out:
// the broker or the operator creates them later, and the start-up logs name them.
std::string cluster_topics_mismatch(const ClusterTopics& topics);

}  // namespace incidentd
