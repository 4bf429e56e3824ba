// Adapters over librdkafka: a group consumer and the transactional producer that writes dead
// letters and commits the consumer's offsets in the same transaction. librdkafka's errors become
// results here (TxnResult, poll's error hook); only building a client from a bad configuration
// throws (KafkaSetupError), at start-up. librdkafka's types stay out of this header.
#pragma once

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

namespace incidentd {

class KafkaSetupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PartitionOffset {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = -1;  // the next offset to consume, where one applies
};

// What librdkafka reports, delivered from its threads as well as the caller's: thread-safe
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

class KafkaConsumer {
 public:
  // Throws KafkaSetupError naming the property librdkafka refused.
  KafkaConsumer(const KafkaSettings& settings, KafkaHooks hooks);
  ~KafkaConsumer();
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  void subscribe(const std::vector<std::string>& topics);

  // Up to `max` messages in partition order: waits up to `wait` for the first, then keeps the
  // batch filling for at most `linger`. Empty when nothing came. Errors go to hooks.error.
  std::vector<KafkaRecord> poll(std::size_t max, Duration wait, Duration linger);

  // Stops fetching from every assigned partition, and from any assigned later, until resume():
  // poll() then returns nothing but keeps the consumer in its group. Fetching resumes at the
  // message after the last one poll() returned. Consumer thread only.
  void pause();
  void resume();

  std::size_t assigned_partitions() const;
  // Messages behind the high watermark on the assigned partitions, from what the client last
  // heard (no request). nullopt while nothing is known.
  std::optional<std::int64_t> lag();

  // Leaves the group (revoking calls hooks.revoking). Commits nothing itself.
  void close();

 private:
  friend class TransactionalProducer;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct TxnError {
  enum class Kind {
    retriable,  // call the same function again
    abortable,  // abort the transaction, then begin again and redo it
    fatal,      // this producer can do no more
  };
  Kind kind = Kind::abortable;
  std::string message;
  // The group no longer knows this consumer (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
  // FENCED_INSTANCE_ID: its session ran out, e.g. while the broker was away): no retry of the
  // offsets can succeed until the consumer polls again and rejoins.
  bool membership_lost = false;
};
using TxnResult = std::optional<TxnError>;  // nullopt: it worked

class TransactionalProducer {
 public:
  // Throws KafkaSetupError naming the property librdkafka refused.
  TransactionalProducer(const KafkaSettings& settings, const std::string& transactional_id,
                        KafkaHooks hooks);
  ~TransactionalProducer();
  TransactionalProducer(const TransactionalProducer&) = delete;
  TransactionalProducer& operator=(const TransactionalProducer&) = delete;

  // Registers the transactional id with the coordinator and fences (aborts) what an earlier
  // process with the same id left open.
  TxnResult init(Duration timeout);
  TxnResult begin();
  // Queues one message in the open transaction.
  TxnResult produce(const std::string& topic, const std::optional<std::string>& key,
                    const std::string& value);
  TxnResult send_offsets(const std::vector<PartitionOffset>& offsets, KafkaConsumer& consumer,
                         Duration timeout);
  // Both block for at most the transaction's remaining time, as librdkafka recommends.
  TxnResult commit();
  TxnResult abort();

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
  EventPublisher(const KafkaSettings& settings, Duration delivery_timeout, KafkaHooks hooks = {});
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
