// A cluster member's check of its topics' partition counts (cluster_topics.hpp).
#include "kafka/cluster_topics.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>

#include <librdkafka/rdkafkacpp.h>

#include "kafka/kafka_client.hpp"
#include "kafka/kafka_conf.hpp"

namespace incidentd {

ClusterTopics read_cluster_topics(const Config& config, Duration wait) {
  KafkaHooks hooks;
  KafkaEventRelay events(hooks);
  const std::map<std::string, std::string> managed = {
      {"bootstrap.servers", config.kafka.brokers},
      {"client.id", "incidentd-start"},
  };
  auto conf = make_kafka_conf(config.kafka, kafka_common_defaults(), managed, events);
  std::string error;
  std::unique_ptr<RdKafka::Producer> client(RdKafka::Producer::create(conf.get(), error));
  if (!client) throw KafkaSetupError("start: cannot create a client: " + error);
  RdKafka::Metadata* raw = nullptr;
  const auto err = client->metadata(true, nullptr, &raw, static_cast<int>(wait.count()));
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("start: the broker did not describe its topics: " +
                             kafka_code_name(err));
  }
  ClusterTopics out;
  for (const std::string& name : {config.kafka.events_topic, config.kafka.releases_topic,
                                  config.cluster.inputs_topic, config.cluster.state_topic}) {
    bool found = false;
    for (const auto* t : *metadata->topics()) {
      if (t->topic() != name || t->err() != RdKafka::ERR_NO_ERROR || t->partitions()->empty()) {
        continue;
      }
      out.partitions[name] = static_cast<int>(t->partitions()->size());
      found = true;
    }
    if (!found) out.missing.push_back(name);
  }
  return out;
}

std::string cluster_topics_mismatch(const ClusterTopics& topics) {
  if (topics.partitions.size() < 2) return {};
  const int first = topics.partitions.begin()->second;
  bool alike = true;
  std::string counts;
  for (const auto& [name, n] : topics.partitions) {
    alike = alike && n == first;
    counts.append(counts.empty() ? "" : ", ").append(name).append(" ").append(std::to_string(n));
  }
  if (alike) return {};
  return "the cluster's topics have different partition counts (" + counts +
         "): partition N of each must go to the owner of the incidents of partition N; create "
         "them alike (docs/cluster.md, \"Ownership\")";
}

}  // namespace incidentd
