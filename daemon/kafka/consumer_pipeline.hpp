// The consumer thread of the Kafka input: the poll loop and the hand-off of batches to the
// engine's loop thread. A batch is polled and validated here while the loop applies the previous
// one; once the loop has made a batch durable, its dead letters and offsets join the Kafka
// transaction (DeadLetterTransaction), which is committed every IngestOptions::commit_every.
// Revocations, a full disk and shutdown each finish or give up what is in flight here; with
// [cluster] on, so does a consumer fenced by its own rejoin, whose clients are then built again
// in place (consumer_rebuild.hpp). Everything but stats(), request_stop(), loop_gone() and
// reload() runs on the thread that calls run(); the clients come from a KafkaClientFactory, so
// the tests run it on a fake.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "incidentd/config.hpp"
#include "kafka/batch.hpp"
#include "kafka/consumer_rebuild.hpp"
#include "kafka/ingest.hpp"
#include "kafka/kafka_health.hpp"
#include "kafka/kafka_ports.hpp"
#include "kafka/kafka_transaction.hpp"

namespace incidentd {

class Engine;

class ConsumerPipeline {
 public:
  using PostToLoop = Ingest::PostToLoop;
  using SteadyClock = std::chrono::steady_clock;

  // Builds the clients through `make_clients` (which may throw KafkaSetupError), and again
  // through it after a fence (consumer_rebuild.hpp).
  ConsumerPipeline(const Config& config, Engine& engine, PostToLoop post_to_loop,
                   IngestOptions options, const KafkaClientFactory& make_clients);
  ~ConsumerPipeline();
  ConsumerPipeline(const ConsumerPipeline&) = delete;
  ConsumerPipeline& operator=(const ConsumerPipeline&) = delete;

  // Consumes until a stop is asked for, then commits what was handled and closes the consumer.
  // False after a fatal error (store failure, fatal Kafka error, fenced producer, a fence that
  // is not this consumer's own rejoin).
  bool run();
  // Any thread.
  void request_stop();
  void loop_gone();
  void reload(const Config& config);
  IngestStats stats() const;

 private:
  // One batch on its way through the loop.
  struct Job {
    BatchCommit commit = BatchCommit::everything;
    std::vector<KafkaRecord> records;
    std::vector<Inbound> inbound;
    BatchOutcome outcome;
    std::optional<BatchApplication> application;  // over `inbound`, on the loop thread
    std::string error;                            // set when the engine's commit failed
    std::promise<void> done;
  };
  // Dead letters and offsets of batches handled since the last batch that committed everything:
  // not yet durable in SQLite as a whole, so not yet for Kafka.
  struct Held {
    std::vector<DeadLetter> letters;
    OffsetMap offsets;
  };

  KafkaHooks client_hooks();
  void build_clients();
  std::vector<std::string> topics() const;
  void consume();
  void poll_once();
  std::vector<KafkaRecord> gather();
  SteadyClock::time_point now() const;
  void check_kafka_fatal() const;
  bool sleep_unless_stopped(Duration d);
  void backoff(Duration d, CommitMode mode);
  bool init_transactions();
  std::shared_ptr<Job> prepare(std::vector<KafkaRecord> records);
  void start(std::shared_ptr<Job> job);
  // On the loop thread: the job's next step (a slice of its messages, else a part of its
  // commit), the step after it posted behind whatever else the loop has to do (a timer that
  // fell due); after the last, the batch's outcome. `from_source`: the first slice of a batch with
  // messages of the events topic.
  void next_step(const std::shared_ptr<Job>& job, bool from_source = false);
  // The next part of the batch's commit (`commit`), sized to the budget; true once all of it is
  // done.
  bool commit_part(BatchApplication& application, BatchCommit commit);
  void finish_inflight(bool revoking = false);
  void wait_for_loop();
  void throw_if_failed(const Job& job) const;
  void hold(const Job& job, bool everything);
  void wait_for_room();
  void release_held();
  std::vector<DeadLetter> take_state_records();
  // The highest commit number (StateRecord::seq) among the records taken so far.
  std::int64_t taken_seq_ = 0;
  void release_state();
  void checkpoint(bool revoking = false);
  void commit_if_due();
  bool commit_open(CommitMode mode);
  void on_assigned(const std::vector<PartitionOffset>& parts);
  void on_revoking(const std::vector<PartitionOffset>& parts);
  void commit_revoked(const std::vector<PartitionOffset>& parts, bool& released);
  void forget_revoked(const std::vector<PartitionOffset>& parts);
  // consumer_rebuild.cpp: false when a stop was asked for before the new clients were ready.
  bool rebuild_after_fence(const InstanceFenced& fence);
  void give_back_uncommitted();
  void release_owned();
  void replace_clients();
  void after_poll();
  void close(bool ok);
  std::string time_report() const;
  std::shared_ptr<const Config> current_roster() const;

  const Config config_;  // as started: the [kafka] settings in use
  mutable std::mutex roster_mutex_;
  std::shared_ptr<const Config> roster_;  // the latest reload: which units are known
  Engine& engine_;
  PostToLoop post_to_loop_;
  const IngestOptions options_;
  const IngestRules rules_;
  KafkaHealth health_;
  IngestCounters counters_;
  const KafkaClientFactory make_clients_;
  KafkaHooks hooks_;  // what every client built reports to
  FenceRebuilds fence_rebuilds_;

  std::atomic<bool> stop_{false};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  std::atomic<bool> loop_stopped_{false};

  // The loop thread's own: the incidents the next part of a commit of everything takes.
  std::size_t part_incidents_;

  // The consumer thread's own.
  Held awaiting_;
  SteadyClock::time_point last_checkpoint_ = SteadyClock::now();
  std::shared_ptr<Job> inflight_;
  std::future<void> inflight_done_;
  std::vector<KafkaRecord> parked_;     // polled while paused (wait_for_room); handled first after
  std::vector<KafkaRecord> gathering_;  // the batch being polled (gather)
  std::set<std::pair<std::string, std::int32_t>> owned_;  // assigned to the current consumer
  std::optional<std::string> fence_pending_;  // met inside a revocation, acted on after the poll
  bool rebuilding_ = false;
  SteadyClock::duration poll_time_{}, classify_time_{}, engine_time_{}, flush_time_{},
      loop_wait_time_{};
  std::chrono::nanoseconds loop_cpu_{};
  std::uint64_t batches_ = 0;
  bool closing_ = false;
  // Built once the clients exist; declared before them so it outlives their shutdown.
  std::optional<DeadLetterTransaction> txn_;

  // Last, so they go first: their callbacks reach everything above while they shut down. The
  // producer outlives the consumer, whose closing may commit through it.
  std::unique_ptr<TransactionalProducerPort> producer_;
  std::unique_ptr<KafkaConsumerPort> consumer_;
};

}  // namespace incidentd
