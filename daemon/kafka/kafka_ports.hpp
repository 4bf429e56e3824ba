// The two Kafka clients the ingestion needs, as interfaces: a group consumer, and the
// transactional producer that writes dead letters and commits the consumer's offsets in one
// transaction. kafka_client.hpp implements them over librdkafka; tests/support/fake_kafka.hpp
// implements them in memory and fails on purpose at every step. Failures are results (TxnResult,
// KafkaHooks::error), never exceptions; the caller decides what is fatal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "incidentd/time.hpp"
#include "kafka/batch.hpp"

namespace incidentd {

struct PartitionOffset {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = -1;  // the next offset to consume, where one applies
};

// What the client reports, delivered from its threads as well as the caller's: thread-safe
// handlers only.
struct KafkaHooks {
  // severity as syslog(3): 3 error, 4 warning, 6 info, 7 debug.
  std::function<void(int severity, const std::string& facility, const std::string& message)> log;
  // An error event or a failed consume; `code` is librdkafka's name ("_TRANSPORT").
  std::function<void(const std::string& code, const std::string& message, bool fatal)> error;
  // On the consumer's thread, inside poll().
  std::function<void(const std::vector<PartitionOffset>&)> assigned;
  // On the consumer's thread, inside poll() or close(), before the partitions go.
  std::function<void(const std::vector<PartitionOffset>&)> revoking;
};

class KafkaConsumerPort {
 public:
  virtual ~KafkaConsumerPort() = default;

  virtual void subscribe(const std::vector<std::string>& topics) = 0;
  // Up to `max` messages in partition order: waits up to `wait` for the first, then adds what
  // the client already holds, without waiting for more (the batch is formed by the caller).
  // Empty when nothing came. Errors go to hooks.error. Messages taken from a partition revoked
  // during the same call are not returned: its next owner reads them.
  virtual std::vector<KafkaRecord> poll(std::size_t max, Duration wait) = 0;
  // Stops fetching from every assigned partition, and from any assigned later, until resume():
  // poll() then returns nothing but keeps the consumer in its group. Fetching resumes at the
  // message after the last one poll() returned.
  virtual void pause() = 0;
  virtual void resume() = 0;
  virtual std::size_t assigned_partitions() const = 0;
  // Messages behind the high watermark on the assigned partitions, from what the client last
  // heard (no request). nullopt while nothing is known.
  virtual std::optional<std::int64_t> lag() = 0;
  // Leaves the group (revoking calls hooks.revoking). Commits nothing itself.
  virtual void close() = 0;
  // The group fenced this consumer's static membership (FENCED_INSTANCE_ID): the client can do
  // no more, but a new one under the same group.instance.id can join again. Any thread.
  virtual bool fenced() const = 0;
};

struct TxnError {
  enum class Kind {
    retriable,  // call the same function again
    abortable,  // abort the transaction, then begin again and redo it
    fatal,      // this producer can do no more (fenced by a newer one with the same id)
  };
  Kind kind = Kind::abortable;
  std::string message;
  // The group no longer knows this consumer (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
  // FENCED_INSTANCE_ID: its session ran out, e.g. while the broker was away): no retry of the
  // offsets can succeed until the consumer polls again and rejoins.
  bool membership_lost = false;
  // FENCED_INSTANCE_ID: the group took this consumer's group.instance.id for another member
  // (fatal for the producer too); the pipeline decides whether it was its own rejoin
  // (consumer_rebuild.hpp).
  bool instance_fenced = false;
};
using TxnResult = std::optional<TxnError>;  // nullopt: it worked

class TransactionalProducerPort {
 public:
  virtual ~TransactionalProducerPort() = default;

  // Registers the transactional id with the coordinator and fences (aborts) what an earlier
  // process with the same id left open.
  virtual TxnResult init(Duration timeout) = 0;
  virtual TxnResult begin() = 0;
  // Queues one message in the open transaction.
  virtual TxnResult produce(const std::string& topic, const std::optional<std::string>& key,
                            const std::string& value) = 0;
  // Adds the consumer's offsets to the open transaction, committed with it as the consumer's
  // group. `consumer` is the port this producer's pipeline consumes with; an implementation may
  // require its own kind of consumer.
  virtual TxnResult send_offsets(const std::vector<PartitionOffset>& offsets,
                                 KafkaConsumerPort& consumer, Duration timeout) = 0;
  virtual TxnResult commit() = 0;
  virtual TxnResult abort() = 0;
};

// The pair the ingestion consumes and commits with, built once it can say where their reports
// go (the daemon: the librdkafka clients; the unit tests: tests/support/fake_kafka.hpp).
struct KafkaClients {
  std::unique_ptr<KafkaConsumerPort> consumer;
  std::unique_ptr<TransactionalProducerPort> producer;
};
using KafkaClientFactory = std::function<KafkaClients(const KafkaHooks& hooks)>;

}  // namespace incidentd
