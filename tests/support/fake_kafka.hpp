// Kafka in memory for unit tests of the ingestion (kafka_ports.hpp): partitions with their
// messages, one consumer group's committed offsets, the dead-letter topic as readers with
// read_committed see it, and every transaction with its fate. Each step can be made to fail on
// purpose, as LevelDB's ErrorEnv does: a poll error, a revocation in the middle of a poll, a
// producer call failing retriably, abortably or fatally (a fenced producer), the group session
// timed out by the client and its consumer fenced ([cluster]'s static membership). Steps that break
// the transactional protocol (produce before begin, commit without offsets, ...) are recorded as
// violations for the test to assert on.
//
// Not thread-safe, by design: the clients are used by the consumer thread of one Ingest at a
// time; the test reads the fake before start() and after join(), which order the accesses.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kafka/kafka_ports.hpp"

namespace incidentd::testing {

class FakeKafka {
 public:
  using TopicPartition = std::pair<std::string, std::int32_t>;

  // The producer's calls, to script faults on.
  enum class Call { init, begin, produce, send_offsets, commit, abort };

  struct Letter {
    std::optional<std::string> key;
    std::string value;
    std::string topic;  // where it was produced to
  };
  struct Transaction {
    enum class Fate { open, committed, aborted };
    std::vector<Letter> letters;
    std::map<TopicPartition, std::int64_t> offsets;  // as last sent
    Fate fate = Fate::open;
    std::size_t clients = 0;  // made by the producer of the clients() call numbered so (from 1)
  };

  using Clock = std::chrono::steady_clock;

  // Appends a message; returns its offset.
  std::int64_t append(const std::string& topic, std::int32_t partition, std::string value,
                      std::optional<std::string> key = std::nullopt);
  // The same, visible to the consumer only once the fake's clock reaches `now() + after`.
  std::int64_t append_after(Duration after, const std::string& topic, std::int32_t partition,
                            std::string value);

  // The fake's clock (IngestOptions::clock_for_test). It moves only when a poll waits: to the
  // next message's arrival when it comes within the poll's `wait`, else by the whole `wait`.
  Clock::time_point now() const { return now_; }
  std::function<Clock::time_point()> clock() const {
    return [this] { return now_; };
  }

  // New clients for one Ingest: a consumer joining the group that is assigned `assignment` at
  // its first poll (every partition with messages when empty), from the group's committed
  // offsets, and a transactional producer of the group. The factory may be called again (a
  // rebuild): each pair made replaces the one before, and is assigned the same at its first poll.
  KafkaClientFactory clients(std::vector<TopicPartition> assignment = {});
  // How many pairs the factories made.
  std::size_t clients_built() const { return clients_built_; }

  // --- faults, each used up once it has happened ---------------------------------------------

  // The next `times` calls of `call` fail with `error` (a fatal one: the producer is fenced).
  void fail_next(Call call, const TxnError& error, int times = 1);
  // The `poll`-th poll from now (1: the next one) reports an error and returns nothing.
  void poll_error(int poll, std::string code, std::string message, bool fatal);
  // During the `poll`-th poll from now, after it has taken `after` messages, the partitions
  // are revoked (hooks.revoking, then gone): what it took from them is not returned.
  void revoke(int poll, std::vector<TopicPartition> partitions, std::size_t after);
  // During the `poll`-th poll from now, the client times its group session out, as librdkafka
  // does when the coordinator is gone for a session: it logs so (facility SESSTMOUT), every
  // partition is revoked (hooks.revoking, then gone), and the next poll rejoins and is assigned
  // them again, from the committed offsets.
  void session_timeout(int poll);
  // During the `poll`-th poll from now (after a session_timeout of the same poll), the group
  // fences the consumer's group.instance.id: a fatal FENCED_INSTANCE_ID, nothing returned, and
  // fenced() from then on. What it holds stays assigned until it is closed.
  void fence(int poll);
  // Called by a poll that has nothing to return (the tests stop the Ingest from there).
  void on_idle(std::function<void()> fn) { on_idle_ = std::move(fn); }
  // Called with each transaction as it commits.
  void on_commit(std::function<void(const Transaction&)> fn) { on_commit_ = std::move(fn); }

  // --- what is durable, and what happened ----------------------------------------------------

  const std::map<TopicPartition, std::int64_t>& committed_offsets() const { return committed_; }
  // The committed messages the producer wrote (to the dead-letter topic, or with [cluster] on
  // the state topic too), in order.
  const std::vector<Letter>& committed_letters() const { return letters_; }
  // The same, of one topic only.
  std::vector<Letter> committed_on(const std::string& topic) const;
  const std::vector<Transaction>& transactions() const { return transactions_; }
  // Every producer call, in order (failed ones too).
  const std::vector<Call>& calls() const { return calls_; }
  // The time each init was given, in order.
  const std::vector<Duration>& init_timeouts() const { return init_timeouts_; }
  // Messages handed to a consumer, in order, by consumers in turn.
  const std::vector<KafkaRecord>& delivered() const { return delivered_; }
  std::size_t polls() const { return polls_; }
  bool consumer_closed() const { return closed_; }
  // Steps out of the transactional protocol, each described.
  const std::vector<std::string>& violations() const { return violations_; }

 private:
  class Consumer;
  class Producer;

  std::vector<KafkaRecord> poll(std::size_t max, Duration wait, const KafkaHooks& hooks);
  void assign(const KafkaHooks& hooks);
  // True when the poll must end at once (fenced).
  bool group_faults(const KafkaHooks& hooks);
  std::optional<Clock::time_point> next_arrival() const;
  TxnResult fault(Call call);
  Transaction* open_transaction();

  std::map<TopicPartition, std::vector<KafkaRecord>> log_;
  std::map<TopicPartition, std::vector<Clock::time_point>> visible_at_;  // per message
  Clock::time_point now_{};
  std::map<TopicPartition, std::int64_t> committed_;
  std::vector<Letter> letters_;
  std::vector<Transaction> transactions_;
  std::vector<Call> calls_;
  std::vector<Duration> init_timeouts_;
  std::vector<KafkaRecord> delivered_;
  std::vector<std::string> violations_;
  std::map<Call, std::vector<TxnError>> faults_;
  struct PollFault {
    std::size_t poll = 0;  // absolute poll number
    std::optional<std::pair<std::string, std::string>> error;
    bool fatal = false;
    std::vector<TopicPartition> revoke;
    std::size_t after = 0;
    bool session_timeout = false;
    bool fence = false;
  };
  std::vector<PollFault> poll_faults_;
  std::function<void()> on_idle_;
  std::function<void(const Transaction&)> on_commit_;
  std::size_t clients_built_ = 0;

  // The current consumer's.
  std::vector<TopicPartition> group_assignment_;  // what the group gives it at each join
  std::vector<TopicPartition> assignment_;
  bool assigned_ = false;
  bool fenced_ = false;
  bool paused_ = false;
  bool closed_ = false;
  std::map<TopicPartition, std::int64_t> position_;
  std::size_t polls_ = 0;
};

}  // namespace incidentd::testing
