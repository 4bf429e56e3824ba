// The Kafka input's public face (ingest.hpp): the consumer thread around a ConsumerPipeline,
// on the librdkafka clients unless the caller brings others.
#include "kafka/ingest.hpp"

#include <thread>
#include <utility>

#include "kafka/consumer_pipeline.hpp"
#include "kafka/kafka_client.hpp"
#include "service/thread_name.hpp"

namespace incidentd {

std::string dead_letter_transactional_id(const KafkaSettings& kafka, const ClusterConfig& cluster) {
  std::string id = "incidentd-";
  id.append(kafka.group).append("-dead-letters");
  if (cluster.enabled()) id.append("-").append(cluster.instance_id);
  return id;
}

std::map<std::string, std::string> cluster_consumer_properties(const ClusterConfig& cluster) {
  if (!cluster.enabled()) return {};
  return {
      {"group.instance.id", cluster.instance_id},
      {"session.timeout.ms", std::to_string(cluster.session_timeout.count())},
      {"heartbeat.interval.ms", std::to_string(cluster.heartbeat_interval.count())},
      // Partition N of the events topic, of the releases topic and of the inputs topic go to the
      // same instance (the range assignor, over topics of equal partition counts), so an
      // incident's confirmations and forwarded inputs reach its owner. The cooperative assignors do
      // not promise that.
      {"partition.assignment.strategy", "range"},
  };
}

std::map<std::string, std::string> cluster_producer_properties(const ClusterConfig& cluster,
                                                               bool transactional) {
  if (!cluster.enabled()) return {};
  std::map<std::string, std::string> out = {
      {"partitioner", cluster.partitioner == ClusterConfig::KeyPartitioner::murmur2
                          ? "murmur2_random"
                          : "consistent_random"},
  };
  if (transactional) {
    out.insert({"transaction.timeout.ms", std::to_string(cluster.session_timeout.count())});
  }
  return out;
}

struct Ingest::Impl {
  Impl(const Config& config, Engine& engine, PostToLoop post_to_loop, IngestOptions options,
       const KafkaClientFactory& make_clients)
      : pipeline(config, engine, std::move(post_to_loop), std::move(options), make_clients) {}

  ConsumerPipeline pipeline;
  std::function<void(bool)> on_finished;
  std::thread thread;
};

namespace {

KafkaClientFactory librdkafka_clients(const KafkaSettings& kafka, const ClusterConfig& cluster) {
  return [kafka, cluster](const KafkaHooks& hooks) {
    KafkaClients clients;
    clients.consumer =
        std::make_unique<KafkaConsumer>(kafka, hooks, cluster_consumer_properties(cluster));
    clients.producer =
        std::make_unique<TransactionalProducer>(kafka, dead_letter_transactional_id(kafka, cluster),
                                                hooks, cluster_producer_properties(cluster, true));
    return clients;
  };
}

}  // namespace

Ingest::Ingest(const Config& config, Engine& engine, PostToLoop post_to_loop, IngestOptions options)
    : Ingest(config, engine, std::move(post_to_loop), std::move(options),
             librdkafka_clients(config.kafka, config.cluster)) {}

Ingest::Ingest(const Config& config, Engine& engine, PostToLoop post_to_loop, IngestOptions options,
               const KafkaClientFactory& make_clients)
    : impl_(std::make_unique<Impl>(config, engine, std::move(post_to_loop), std::move(options),
                                   make_clients)) {}

Ingest::~Ingest() {
  request_stop();
  join();
}

void Ingest::start(std::function<void(bool ok)> on_finished) {
  impl_->on_finished = std::move(on_finished);
  impl_->thread = std::thread([this] {
    name_this_thread("kafka-consumer");
    const bool ok = impl_->pipeline.run();
    if (impl_->on_finished) impl_->on_finished(ok);
  });
}

void Ingest::request_stop() {
  impl_->pipeline.request_stop();
}

void Ingest::loop_gone() {
  impl_->pipeline.loop_gone();
}

void Ingest::join() {
  if (impl_->thread.joinable()) impl_->thread.join();
}

void Ingest::reload(const Config& config) {
  impl_->pipeline.reload(config);
}

IngestStats Ingest::stats() const {
  return impl_->pipeline.stats();
}

}  // namespace incidentd
