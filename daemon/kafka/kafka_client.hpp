// Adapters over librdkafka: the group consumer and the transactional producer of
// kafka_ports.hpp, and the plain publisher of events entered by hand. librdkafka's errors become
// results here (TxnResult, poll's error hook); only building a client from a bad configuration
// throws (KafkaSetupError), at start-up. librdkafka's types stay out of this header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "incidentd/config.hpp"
#include "incidentd/time.hpp"
#include "kafka/batch.hpp"
#include "kafka/kafka_ports.hpp"

namespace incidentd {

class KafkaSetupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class KafkaConsumer final : public KafkaConsumerPort {
 public:
  // `membership`: properties the daemon decides on top of the settings' own (the group
  // membership of [cluster], ingest.hpp's cluster_consumer_properties). Throws KafkaSetupError
  // naming the property librdkafka refused.
  KafkaConsumer(const KafkaSettings& settings, KafkaHooks hooks,
                const std::map<std::string, std::string>& membership = {});
  ~KafkaConsumer() override;
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  void subscribe(const std::vector<std::string>& topics) override;
  std::vector<KafkaRecord> poll(std::size_t max, Duration wait) override;
  // Consumer thread only.
  void pause() override;
  void resume() override;
  std::size_t assigned_partitions() const override;
  std::optional<std::int64_t> lag() override;
  void close() override;
  bool fenced() const override;

 private:
  friend class TransactionalProducer;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class TransactionalProducer final : public TransactionalProducerPort {
 public:
  // Throws KafkaSetupError naming the property librdkafka refused.
  // `cluster`: the properties [cluster] sets (ingest.hpp's cluster_producer_properties).
  TransactionalProducer(const KafkaSettings& settings, const std::string& transactional_id,
                        KafkaHooks hooks, const std::map<std::string, std::string>& cluster = {});
  ~TransactionalProducer() override;
  TransactionalProducer(const TransactionalProducer&) = delete;
  TransactionalProducer& operator=(const TransactionalProducer&) = delete;

  TxnResult init(Duration timeout) override;
  TxnResult begin() override;
  TxnResult produce(const std::string& topic, const std::optional<std::string>& key,
                    const std::string& value) override;
  // `consumer` must be a KafkaConsumer: the offsets are committed as its group's member.
  TxnResult send_offsets(const std::vector<PartitionOffset>& offsets, KafkaConsumerPort& consumer,
                         Duration timeout) override;
  // Both block for at most the transaction's remaining time, as librdkafka recommends.
  TxnResult commit() override;
  TxnResult abort() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What the broker said about one published message.
struct PublishResult {
  bool ok = false;
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string error;  // when not ok: librdkafka's code name and text
};

// A plain (not transactional) idempotent producer with acks=all, for events entered by hand
// (incidentctl open, POST /v1/incidents): each message gets the broker's own delivery report,
// or an error once `delivery_timeout` has passed. Reports are served by flush() (a caller
// without a thread) or by the thread start_polling() starts (the daemon).
class EventPublisher {
 public:
  using Done = std::function<void(const PublishResult&)>;

  // Throws KafkaSetupError naming the property librdkafka refused.
  EventPublisher(const KafkaSettings& settings, Duration delivery_timeout, KafkaHooks hooks = {},
                 const std::map<std::string, std::string>& cluster = {});
  // Stops the polling thread; what is still in flight is given a moment, then reported failed.
  ~EventPublisher();
  EventPublisher(const EventPublisher&) = delete;
  EventPublisher& operator=(const EventPublisher&) = delete;

  // Queues one message. `done` runs exactly once, with the delivery report, on whichever thread
  // serves reports, or at once on the caller's when the message cannot even be queued.
  void publish(const std::string& topic, const std::string& key, const std::string& value,
               Done done);
  // Serves delivery reports until nothing is in flight or `timeout` has passed.
  void flush(Duration timeout);
  // Serves delivery reports on a thread of its own from now on.
  void start_polling();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace incidentd
