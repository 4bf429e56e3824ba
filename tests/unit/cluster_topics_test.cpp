// A cluster member refuses topics of different partition counts (docs/cluster.md, "Ownership"):
// partition N of each must go to the owner of the incidents of partition N.
#include "kafka/cluster_topics.hpp"

#include <catch2/catch.hpp>

namespace {

using Catch::Matchers::Contains;
using incidentd::cluster_topics_mismatch;
using incidentd::ClusterTopics;

}  // namespace

TEST_CASE("topics of one partition count serve a cluster", "[cluster]") {
  ClusterTopics alike;
  alike.partitions = {{"opinion.events", 6},
                      {"opinion.releases", 6},
                      {"incidentd.inputs", 6},
                      {"incidentd.state", 6}};
  CHECK(cluster_topics_mismatch(alike).empty());
}

TEST_CASE("topics of different partition counts are refused, each named with its count",
          "[cluster]") {
  ClusterTopics topics;
  topics.partitions = {{"opinion.events", 6}, {"opinion.releases", 6}, {"incidentd.state", 3}};
  topics.missing = {"incidentd.inputs"};
  const std::string why = cluster_topics_mismatch(topics);
  CHECK_THAT(why, Contains("different partition counts"));
  CHECK_THAT(why, Contains("incidentd.state 3"));
  CHECK_THAT(why, Contains("opinion.events 6"));
  CHECK_THAT(why, !Contains("incidentd.inputs"));
}

TEST_CASE("topics not there yet are no reason to refuse", "[cluster]") {
  ClusterTopics topics;
  topics.partitions = {{"opinion.events", 6}};
  topics.missing = {"opinion.releases", "incidentd.inputs", "incidentd.state"};
  CHECK(cluster_topics_mismatch(topics).empty());
}
