// How [cluster] reaches Kafka: each instance's own transactional id (instances sharing a group
// never fence each other's producer; a restart under the same id fences its previous process),
// and the static-membership properties of its consumer. (That librdkafka and the broker accept
// them is shown by tests/integration/cluster_test.py: a librdkafka client here would start
// threads that GCC 12's ThreadSanitizer cannot follow.)
#include "kafka/ingest.hpp"

#include <map>
#include <string>

#include <catch2/catch.hpp>

namespace incidentd {
namespace {

ClusterConfig instance(const std::string& id) {
  ClusterConfig cluster;
  cluster.instance_id = id;
  return cluster;
}

TEST_CASE("a single instance keeps the transactional id it always had") {
  KafkaSettings kafka;
  kafka.group = "prov";
  CHECK(dead_letter_transactional_id(kafka, ClusterConfig{}) == "incidentd-prov-dead-letters");
}

TEST_CASE("instances of one group have transactional ids of their own, stable across restarts") {
  KafkaSettings kafka;
  kafka.group = "prov";
  const std::string a = dead_letter_transactional_id(kafka, instance("host-a"));
  const std::string b = dead_letter_transactional_id(kafka, instance("host-b"));
  CHECK(a == "incidentd-prov-dead-letters-host-a");
  CHECK(b == "incidentd-prov-dead-letters-host-b");
  CHECK(a != dead_letter_transactional_id(kafka, ClusterConfig{}));
  CHECK(a == dead_letter_transactional_id(kafka, instance("host-a")));
  KafkaSettings other = kafka;
  other.group = "city";
  CHECK(dead_letter_transactional_id(other, instance("host-a")) != a);
}

TEST_CASE("a single instance sets no membership property: librdkafka's or the file's apply") {
  CHECK(cluster_consumer_properties(ClusterConfig{}).empty());
}

TEST_CASE("a cluster instance joins with its static id and the configured timeouts") {
  ClusterConfig cluster = instance("host-a");
  cluster.session_timeout = std::chrono::milliseconds(10000);
  cluster.heartbeat_interval = std::chrono::milliseconds(2000);
  CHECK(cluster_consumer_properties(cluster) == std::map<std::string, std::string>{
                                                    {"group.instance.id", "host-a"},
                                                    {"session.timeout.ms", "10000"},
                                                    {"heartbeat.interval.ms", "2000"},
                                                    {"partition.assignment.strategy", "range"},
                                                });
}

TEST_CASE(
    "a cluster's producers place keys as the publishers do, its transactions last a session") {
  CHECK(cluster_producer_properties(ClusterConfig{}, true).empty());
  ClusterConfig cluster = instance("host-a");
  cluster.session_timeout = std::chrono::milliseconds(8000);
  CHECK(cluster_producer_properties(cluster, true) ==
        std::map<std::string, std::string>{{"partitioner", "consistent_random"},
                                           {"transaction.timeout.ms", "8000"}});
  cluster.partitioner = ClusterConfig::KeyPartitioner::murmur2;
  CHECK(cluster_producer_properties(cluster, false) ==
        std::map<std::string, std::string>{{"partitioner", "murmur2_random"}});
}

}  // namespace
}  // namespace incidentd
