// The Kafka transaction of the ingestion: the dead letters of durable batches and the offsets
// after them, committed together, so a dead letter appears exactly when its message's offset is
// committed; with [cluster] on, the state topic's change records of what SQLite holds join them
// (docs/cluster.md, "The state topic"). Its contents are kept until the commit succeeds, so a
// transaction the client had to abort is begun again and every letter produced again (a redo). The
// states are TxnState and every change of state goes through next_state(), the one table of
// transitions. Used on the consumer thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "incidentd/time.hpp"
#include "kafka/kafka_health.hpp"
#include "kafka/kafka_ports.hpp"

namespace incidentd {

// Ends the consumer thread; the daemon exits non-zero (a fenced producer, a store failure).
class IngestFatal : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// [cluster] on: the group fenced this instance's consumer (FENCED_INSTANCE_ID), or a client
// failed fatally after it was. Fatal for these clients only: the pipeline may build new ones
// (consumer_rebuild.hpp), and otherwise ends as for any IngestFatal.
class InstanceFenced : public IngestFatal {
 public:
  using IngestFatal::IngestFatal;
};

struct DeadLetter {
  std::optional<std::string> key;
  std::string value;
};

// The next offset to consume, by (topic, partition).
using OffsetMap = std::map<std::pair<std::string, std::int32_t>, std::int64_t>;
// Keeps the larger offset of each partition.
void merge_offsets(OffsetMap& into, const OffsetMap& from);

enum class TxnState {
  idle,          // nothing to commit; nothing begun in the client
  filling,       // begun, every letter produced; offsets not sent since the last addition
  offsets_sent,  // begun, letters produced, offsets sent: the commit is next
  must_abort,    // begun, but a step failed: abort, then begin again and produce every letter
  must_begin,    // has contents, nothing begun in the client (begin failed, or aborted)
};
std::string_view to_string(TxnState state);

enum class TxnStep {
  begun,           // begin() worked
  begin_failed,    // begin() failed (not fatally)
  added,           // more letters or offsets joined (after they were produced)
  produce_failed,  // produce() failed (not fatally)
  offsets_sent,    // send_offsets() worked
  failed,          // send_offsets() or commit() failed and the client asks for an abort
  aborted,         // abort() worked
  committed,       // commit() worked
  discarded,       // given up: what was begun is aborted, the contents dropped
};

// The table of transitions. A step that does not apply to a state is a broken invariant: abort.
TxnState next_state(TxnState state, TxnStep step);

// How hard commit() tries.
enum class CommitMode {
  normal,    // until it works (a back-off between attempts), unless a stop is asked for
  stopping,  // at shutdown: for at most the stop grace
  revoking,  // inside a revocation: briefly, and never past an abortable failure
};

class DeadLetterTransaction {
 public:
  using SteadyClock = std::chrono::steady_clock;
  // Waits between attempts; the pipeline's wakes early when a stop is asked for.
  using Backoff = std::function<void(Duration wait, CommitMode mode)>;

  // `state_topic` empty: no change records (one instance).
  DeadLetterTransaction(TransactionalProducerPort& producer, KafkaConsumerPort& consumer,
                        std::string dlq_topic, KafkaHealth& health, IngestCounters& counters,
                        Duration stop_grace, Backoff backoff, std::string state_topic = {});
  DeadLetterTransaction(const DeadLetterTransaction&) = delete;
  DeadLetterTransaction& operator=(const DeadLetterTransaction&) = delete;

  TxnState state() const { return state_; }
  bool open() const { return state_ != TxnState::idle; }
  // How long since the first contents joined (zero when idle).
  SteadyClock::duration age() const;

  // Joins the letters and the state topic's records (produced at once when the client holds a
  // begun transaction) and the offsets. Throws IngestFatal when the producer is fenced,
  // InstanceFenced when the consumer's group.instance.id was (or the consumer already is).
  // `records_seq`: the highest commit number among every state record added so far; once this
  // transaction commits, IngestCounters::published_seq says so.
  void add(std::vector<DeadLetter> letters, const OffsetMap& offsets,
           std::vector<DeadLetter> state_records = {}, std::int64_t records_seq = 0);

  // Commits what is open: its dead letters appear and its offsets are committed together.
  // Retries until it works; stopping or revoking it gives up after a while (what it held is
  // durable in SQLite, so the redelivery is deduplicated and the dead letters written again).
  // `stop_asked` bounds a normal commit as a stopping one. True when nothing is left open
  // uncommitted. Throws as add() does.
  bool commit(CommitMode mode, const std::function<bool()>& stop_asked);

  // Drops what is open, aborting what the client began (at a fatal error, or when given up).
  // The state records are kept for the next transaction: unlike a dead letter, a redelivered
  // message does not make them again (its event is a duplicate by then).
  void discard();
  // State records waiting for a transaction that commits.
  std::size_t state_records() const { return state_records_.size(); }
  // The offsets of the transactions that committed, of the partitions not forgotten since.
  const OffsetMap& committed_offsets() const { return committed_offsets_; }
  // Revoked partitions: their offsets are the next owner's to commit.
  void forget(const std::vector<PartitionOffset>& partitions);
  // New clients in place of fenced ones (consumer_rebuild.cpp): only with nothing open
  // (discard() first). The committed offsets are forgotten: they were the old member's.
  void rebind(TransactionalProducerPort& producer, KafkaConsumerPort& consumer);

  std::uint64_t transactions() const { return transactions_; }
  SteadyClock::duration time_spent() const { return time_spent_; }

 private:
  void step(TxnStep s) { state_ = next_state(state_, s); }
  bool begun() const;
  void begin();
  void produce(const std::string& topic, const DeadLetter& letter);
  void produce_all();
  bool redo();
  TxnResult attempt();
  bool give_up(const TxnError& failure, CommitMode mode, bool bounded,
               SteadyClock::time_point started) const;
  void committed();
  [[noreturn]] void fatal(const TxnError& error) const;

  TransactionalProducerPort* producer_;
  KafkaConsumerPort* consumer_;
  const std::string dlq_topic_;
  KafkaHealth& health_;
  IngestCounters& counters_;
  const Duration stop_grace_;
  const Backoff backoff_;

  TxnState state_ = TxnState::idle;
  const std::string state_topic_;
  std::vector<DeadLetter> letters_;
  std::vector<DeadLetter> state_records_;
  std::int64_t records_seq_ = 0;
  OffsetMap offsets_;
  OffsetMap committed_offsets_;
  SteadyClock::time_point opened_{};
  std::uint64_t transactions_ = 0;
  SteadyClock::duration time_spent_{};
};

}  // namespace incidentd
