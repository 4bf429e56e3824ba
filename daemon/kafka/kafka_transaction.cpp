// The ingestion's Kafka transaction (kafka_transaction.hpp): the table of its states, and the
// commit that retries, redoes an aborted transaction, and gives up only where waiting longer
// cannot help.
#include "kafka/kafka_transaction.hpp"

#include <algorithm>
#include <cstdlib>

#include <spdlog/spdlog.h>

namespace incidentd {

using namespace std::chrono_literals;

void merge_offsets(OffsetMap& into, const OffsetMap& from) {
  for (const auto& [tp, next] : from) {
    auto& stored = into[tp];
    stored = std::max(stored, next);
  }
}

std::string_view to_string(TxnState state) {
  switch (state) {
    case TxnState::idle:
      return "idle";
    case TxnState::filling:
      return "filling";
    case TxnState::offsets_sent:
      return "offsets_sent";
    case TxnState::must_abort:
      return "must_abort";
    case TxnState::must_begin:
      return "must_begin";
  }
  return "idle";
}

TxnState next_state(TxnState state, TxnStep step) {
  using S = TxnState;
  using T = TxnStep;
  if (step == T::discarded) return S::idle;
  switch (state) {
    case S::idle:
      if (step == T::begun) return S::filling;
      if (step == T::begin_failed) return S::must_begin;
      break;
    case S::filling:
    case S::offsets_sent:
      if (step == T::added) return S::filling;  // the new offsets are sent again
      if (step == T::produce_failed || step == T::failed) return S::must_abort;
      if (step == T::offsets_sent && state == S::filling) return S::offsets_sent;
      if (step == T::committed && state == S::offsets_sent) return S::idle;
      break;
    case S::must_abort:
      if (step == T::added || step == T::failed) return S::must_abort;
      if (step == T::aborted) return S::must_begin;
      break;
    case S::must_begin:
      if (step == T::added || step == T::failed || step == T::begin_failed) return S::must_begin;
      if (step == T::begun) return S::filling;
      break;
  }
  spdlog::critical("kafka: transaction step {} in state {}", static_cast<int>(step),
                   to_string(state));
  std::abort();
}

DeadLetterTransaction::DeadLetterTransaction(TransactionalProducerPort& producer,
                                             KafkaConsumerPort& consumer, std::string dlq_topic,
                                             KafkaHealth& health, IngestCounters& counters,
                                             Duration stop_grace, Backoff backoff,
                                             std::string state_topic)
    : producer_(&producer),
      consumer_(&consumer),
      dlq_topic_(std::move(dlq_topic)),
      health_(health),
      counters_(counters),
      stop_grace_(stop_grace),
      backoff_(std::move(backoff)),
      state_topic_(std::move(state_topic)) {}

DeadLetterTransaction::SteadyClock::duration DeadLetterTransaction::age() const {
  return open() ? SteadyClock::now() - opened_ : SteadyClock::duration{};
}

bool DeadLetterTransaction::begun() const {
  return state_ == TxnState::filling || state_ == TxnState::offsets_sent ||
         state_ == TxnState::must_abort;
}

void DeadLetterTransaction::fatal(const TxnError& error) const {
  // A fenced consumer's producer fails too, not always with FENCED_INSTANCE_ID itself (seen:
  // INVALID_TXN_STATE from the commit that followed): either is the fence's.
  if (error.instance_fenced || consumer_->fenced()) {
    throw InstanceFenced("dead-letter producer: " + error.message);
  }
  throw IngestFatal("dead-letter producer: " + error.message);
}

void DeadLetterTransaction::add(std::vector<DeadLetter> letters, const OffsetMap& offsets,
                                std::vector<DeadLetter> state_records, std::int64_t records_seq) {
  records_seq_ = std::max(records_seq_, records_seq);
  if (state_ == TxnState::idle) {
    opened_ = SteadyClock::now();
    begin();
    // Records kept from a transaction that was given up go first.
    for (const auto& record : state_records_) {
      if (state_ != TxnState::filling) break;
      produce(state_topic_, record);
    }
  }
  for (auto& letter : letters) {
    if (state_ == TxnState::filling || state_ == TxnState::offsets_sent) {
      produce(dlq_topic_, letter);
    }
    letters_.push_back(std::move(letter));
  }
  for (auto& record : state_records) {
    if (state_ == TxnState::filling || state_ == TxnState::offsets_sent) {
      produce(state_topic_, record);
    }
    state_records_.push_back(std::move(record));
  }
  merge_offsets(offsets_, offsets);
  step(TxnStep::added);
}

void DeadLetterTransaction::begin() {
  auto r = producer_->begin();
  if (!r) {
    step(TxnStep::begun);
    return;
  }
  if (r->kind == TxnError::Kind::fatal) fatal(*r);
  spdlog::warn("kafka: cannot begin a transaction: {}", r->message);
  step(TxnStep::begin_failed);
}

void DeadLetterTransaction::produce(const std::string& topic, const DeadLetter& letter) {
  auto r = producer_->produce(topic, letter.key, letter.value);
  if (!r) return;
  if (r->kind == TxnError::Kind::fatal) fatal(*r);
  spdlog::warn("kafka: queueing a record for {} failed: {}; the transaction is redone", topic,
               r->message);
  step(TxnStep::produce_failed);
}

// Every letter and state record again, into a transaction just begun.
void DeadLetterTransaction::produce_all() {
  for (const auto& letter : letters_) {
    if (state_ != TxnState::filling) return;
    produce(dlq_topic_, letter);
  }
  for (const auto& record : state_records_) {
    if (state_ != TxnState::filling) return;
    produce(state_topic_, record);
  }
}

// Abort what the client holds and produce every letter again in a new transaction. True when
// that worked (state filling).
bool DeadLetterTransaction::redo() {
  if (state_ == TxnState::must_abort) {
    if (auto r = producer_->abort()) {
      if (r->kind == TxnError::Kind::fatal) fatal(*r);
      health_.note_problem(r->message);
      return false;  // retried after the back-off
    }
    step(TxnStep::aborted);
  }
  begin();
  produce_all();
  return state_ == TxnState::filling;
}

// One attempt at the whole commit, from whatever state it was left in.
TxnResult DeadLetterTransaction::attempt() {
  if (state_ == TxnState::must_abort || state_ == TxnState::must_begin) {
    if (!redo()) return TxnError{TxnError::Kind::abortable, "redoing the transaction failed"};
  }
  if (state_ == TxnState::filling) {
    std::vector<PartitionOffset> offsets;
    offsets.reserve(offsets_.size());
    for (const auto& [tp, next] : offsets_) offsets.push_back({tp.first, tp.second, next});
    // State records alone, before this consumer has handled any message: no offsets to send.
    if (!offsets.empty()) {
      if (auto failure = producer_->send_offsets(offsets, *consumer_, 10s)) return failure;
    }
    step(TxnStep::offsets_sent);
  }
  if (auto failure = producer_->commit()) return failure;
  step(TxnStep::committed);
  return std::nullopt;
}

bool DeadLetterTransaction::commit(CommitMode mode, const std::function<bool()>& stop_asked) {
  if (!open()) return true;
  const auto started = SteadyClock::now();
  struct Timed {
    SteadyClock::duration& total;
    SteadyClock::time_point t0;
    ~Timed() { total += SteadyClock::now() - t0; }
  } timed{time_spent_, started};
  Duration backoff = 200ms;
  for (;;) {
    const auto failure = attempt();
    if (!failure) {
      committed();
      return true;
    }
    if (failure->kind == TxnError::Kind::fatal) fatal(*failure);
    if (failure->kind == TxnError::Kind::abortable) step(TxnStep::failed);
    health_.note_problem(failure->message);
    if (auto held = health_.admit("commit")) {
      spdlog::warn(
          "kafka: waiting to commit the offsets of durable batches and {} dead letter(s): "
          "{}{}; incident clocks keep running",
          letters_.size(), failure->message, held_note(*held));
    }
    if (give_up(*failure, mode, mode != CommitMode::normal || stop_asked(), started)) {
      spdlog::warn(
          "kafka: giving up the open transaction ({} dead letter(s), offsets of {} "
          "partition(s)): its messages are durable and will be redelivered, deduplicated and "
          "dead-lettered again",
          letters_.size(), offsets_.size());
      discard();
      return false;
    }
    backoff_(backoff, mode);
    backoff = std::min<Duration>(backoff * 2, 5s);
  }
}

bool DeadLetterTransaction::give_up(const TxnError& failure, CommitMode mode, bool bounded,
                                    SteadyClock::time_point started) const {
  // A consumer the group has forgotten cannot commit until it polls and rejoins, which it
  // cannot do while it waits here: give the transaction up (found by scripts/chaos.sh, the
  // broker away for 60 s under load: the daemon retried this commit for ever).
  if (failure.membership_lost) return true;
  if (mode == CommitMode::revoking && failure.kind == TxnError::Kind::abortable) return true;
  const Duration grace = mode == CommitMode::revoking ? Duration(10s) : stop_grace_;
  return bounded && SteadyClock::now() - started >= grace;
}

void DeadLetterTransaction::committed() {
  ++transactions_;
  const std::size_t n = letters_.size();
  counters_.dead_lettered += n;
  if (n > 0) {
    spdlog::info("kafka: {} dead letter(s) written to {} ({} in all since start)", n, dlq_topic_,
                 counters_.dead_lettered.load());
  }
  health_.note_recovered("committing");
  if (!state_records_.empty()) {
    spdlog::debug("kafka: {} change record(s) written to {}", state_records_.size(), state_topic_);
  }
  merge_offsets(committed_offsets_, offsets_);
  if (records_seq_ > counters_.published_seq) counters_.published_seq = records_seq_;
  letters_.clear();
  state_records_.clear();
  offsets_.clear();
}

void DeadLetterTransaction::forget(const std::vector<PartitionOffset>& partitions) {
  for (const auto& p : partitions) committed_offsets_.erase({p.topic, p.partition});
}

void DeadLetterTransaction::rebind(TransactionalProducerPort& producer,
                                   KafkaConsumerPort& consumer) {
  if (open()) {
    spdlog::critical("kafka: new clients for a transaction in state {}", to_string(state_));
    std::abort();
  }
  producer_ = &producer;
  consumer_ = &consumer;
  committed_offsets_.clear();
}

void DeadLetterTransaction::discard() {
  if (begun()) {
    if (auto r = producer_->abort()) spdlog::debug("kafka: abort: {}", r->message);
  }
  step(TxnStep::discarded);
  letters_.clear();
  offsets_.clear();
}

}  // namespace incidentd
