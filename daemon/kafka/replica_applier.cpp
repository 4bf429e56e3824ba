#include "kafka/replica_applier.hpp"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "kafka/kafka_client.hpp"
#include "kafka/kafka_conf.hpp"
#include "service/thread_name.hpp"
#include "store/sqlite_store.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// Records per SQLite transaction while many are waiting (a replica catching up): one fsync per
// this many, and still a transaction short enough for the loop's commits not to wait long.
constexpr std::size_t kMaxBatch = 2000;
// A batch of nothing to apply (this instance's own records) only moves the positions: written
// at most this often, so an owner's file is not written for its own records at every poll.
constexpr auto kOwnPositionsEvery = 5s;
constexpr auto kPollWait = 200ms;
constexpr auto kMetadataWait = 5s;
constexpr auto kComplainEvery = 30s;

int millis_of(SteadyClock::duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 3'600'000));
}

// The store failed in a way a restart from the database is the answer to (the daemon's rule for
// every writer, docs/reliability.md): systemd starts it again and the replica resumes from its
// stored positions.
[[noreturn]] void exit_for_restart(const std::exception& e) {
  spdlog::critical("replica: {}", e.what());
  std::_Exit(1);
}

}  // namespace

struct ReplicaApplier::Impl {
  Impl(const Config& config, std::function<void(ReplicaApplied)> applied)
      : kafka(config.kafka),
        topic(config.cluster.state_topic),
        instance_id(config.cluster.instance_id),
        database(config.database),
        on_applied(std::move(applied)),
        events(hooks) {
    hooks.error = [this](const std::string& code, const std::string& message, bool fatal) {
      complain(code, message, fatal);
    };
  }

  void create_consumer();
  bool read_partition_count();
  void run();
  bool assign_from(const std::map<std::int32_t, std::int64_t>& positions);
  void poll_and_apply(ReplicaLog& log);
  ReplicaInput input_of(RdKafka::Message& m, bool& own);
  bool apply(ReplicaLog& log, std::vector<ReplicaInput>& inputs);
  void publish(const std::vector<ReplicaInput>& inputs,
               const std::map<std::int32_t, std::int64_t>& ends);
  void complain(const std::string& code, const std::string& message, bool fatal);
  bool sleep_for(SteadyClock::duration d);

  const KafkaSettings kafka;
  const std::string topic;
  const std::string instance_id;
  const std::string database;
  const std::function<void(ReplicaApplied)> on_applied;
  KafkaHooks hooks;
  KafkaEventRelay events;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<std::int32_t> partitions{0};

  std::mutex mutex;
  std::condition_variable changed;
  bool assigned = false;  // every partition assigned (guarded by mutex)
  bool asked = false;     // the first metadata request answered or given up (guarded by mutex)
  // Per partition: every message below this offset is applied (or needs nothing: this instance's
  // own records, what is no record, transaction markers). Guarded by mutex.
  std::map<std::int32_t, std::int64_t> reached;

  // The applier thread's own.
  std::map<std::int32_t, std::int64_t> own_pending;  // positions not written yet
  // The highest commit number of our own records read back, and the one the store was told of
  // (its commit journal forgets what is published: docs/cluster.md).
  std::int64_t own_seq_read = 0;
  std::int64_t own_seq_told = 0;
  SteadyClock::time_point positions_written = SteadyClock::now();
  std::map<std::string, SteadyClock::time_point> complained;
  std::mutex complain_mutex;
};

void ReplicaApplier::Impl::create_consumer() {
  auto defaults = kafka_common_defaults();
  defaults["client.id"] = "incidentd-replica";
  // Where a stored position is gone from the log, start from what is there.
  defaults["auto.offset.reset"] = "earliest";
  const std::map<std::string, std::string> managed = {
      {"bootstrap.servers", kafka.brokers},
      // librdkafka's consumer needs a group id; this one is never joined (assign(), no
      // subscription) and nothing is committed to it.
      {"group.id", "incidentd-replica-" + instance_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      // Only what committed transactions wrote: never an aborted transaction's records.
      {"isolation.level", "read_committed"},
      // The end of a partition is what wait_caught_up() waits for (see publish()).
      {"enable.partition.eof", "true"},
  };
  auto conf = make_kafka_conf(kafka, defaults, managed, events);
  std::string error;
  consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!consumer) throw KafkaSetupError("replica: cannot create the consumer: " + error);
}

// True once the topic's partitions are known.
bool ReplicaApplier::Impl::read_partition_count() {
  std::string error;
  std::unique_ptr<RdKafka::Topic> handle(
      RdKafka::Topic::create(consumer.get(), topic, nullptr, error));
  if (!handle) {
    complain("topic", error, false);
    return false;
  }
  RdKafka::Metadata* raw = nullptr;
  const auto err = consumer->metadata(false, handle.get(), &raw, millis_of(kMetadataWait));
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR) {
    complain(kafka_code_name(err), "cannot read the metadata of " + topic, false);
    return false;
  }
  for (const auto* t : *metadata->topics()) {
    if (t->topic() != topic) continue;
    if (t->err() != RdKafka::ERR_NO_ERROR || t->partitions()->empty()) {
      complain(kafka_code_name(t->err()),
               "the state topic " + topic +
                   " is not there: create it, compacted (docs/cluster.md, \"The state topic\")",
               false);
      return false;
    }
    partitions = static_cast<std::int32_t>(t->partitions()->size());
    return true;
  }
  complain("metadata", "the broker did not describe the state topic " + topic, false);
  return false;
}

void ReplicaApplier::Impl::run() {
  try {
    // The store's rule: one connection per thread. This one is the replica's.
    SqliteStore store(database, SqliteStore::Mode::replica);
    const auto log = store.replica_log(instance_id);
    bool known = read_partition_count();
    {
      std::lock_guard lock(mutex);
      asked = true;
    }
    changed.notify_all();
    while (!known && !stopping) {
      if (!sleep_for(2s)) return;
      known = read_partition_count();
    }
    while (!stopping && !assign_from(log->replica_positions(topic))) {
      if (!sleep_for(2s)) return;
    }
    while (!stopping) poll_and_apply(*log);
    // What was read of our own records is kept for the next start.
    std::vector<ReplicaInput> none;
    if (!own_pending.empty()) apply(*log, none);
  } catch (const std::exception& e) {  // StoreError, or a failure to allocate
    exit_for_restart(e);
  }
}

bool ReplicaApplier::Impl::assign_from(const std::map<std::int32_t, std::int64_t>& positions) {
  std::vector<RdKafka::TopicPartition*> parts;
  std::string from;
  for (std::int32_t p = 0; p < partitions; ++p) {
    const auto stored = positions.find(p);
    const std::int64_t offset =
        stored == positions.end() ? RdKafka::Topic::OFFSET_BEGINNING : stored->second;
    parts.push_back(RdKafka::TopicPartition::create(topic, p, offset));
    from.append(from.empty() ? "" : ", ")
        .append(std::to_string(p))
        .append("@")
        .append(stored == positions.end() ? "beginning" : std::to_string(stored->second));
  }
  const auto err = consumer->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  if (err != RdKafka::ERR_NO_ERROR) {
    complain(kafka_code_name(err), "cannot assign the partitions of " + topic, false);
    return false;
  }
  {
    std::lock_guard lock(mutex);
    for (std::int32_t p = 0; p < partitions; ++p) {
      const auto stored = positions.find(p);
      reached[p] = stored == positions.end() ? 0 : stored->second;
    }
    assigned = true;
  }
  changed.notify_all();
  spdlog::info("replica: applying {} ({} partitions) to {} from {} (instance {})", topic,
               partitions.load(), database, from, instance_id);
  return true;
}

// One poll: what is waiting, up to kMaxBatch, applied in one transaction. A poll of nothing but
// this instance's own records only keeps their offsets (own_pending), written later.
void ReplicaApplier::Impl::poll_and_apply(ReplicaLog& log) {
  std::vector<ReplicaInput> inputs;
  std::map<std::int32_t, std::int64_t> ends;  // partitions whose end was reached, and where
  bool others = false;                        // a record to apply, or a message that is none
  auto wait = kPollWait;
  while (inputs.size() < kMaxBatch && !stopping) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(millis_of(wait)));
    wait = 0ms;  // after the first, only what librdkafka already holds
    const auto err = m->err();
    if (err == RdKafka::ERR__TIMED_OUT) break;
    if (err == RdKafka::ERR__PARTITION_EOF) {
      ends[m->partition()] = m->offset();
      continue;
    }
    if (err != RdKafka::ERR_NO_ERROR) {
      complain(kafka_code_name(err), m->errstr(), err == RdKafka::ERR__FATAL);
      if (inputs.empty()) sleep_for(kPollWait);  // no busy loop on an error that repeats
      break;
    }
    bool own = false;
    inputs.push_back(input_of(*m, own));
    others = others || !own;
  }
  if (!others) {
    for (const auto& in : inputs) {
      auto& pending = own_pending[in.partition];
      pending = std::max(pending, in.offset + 1);
    }
    inputs.clear();
  }
  if (apply(log, inputs)) publish(inputs, ends);
}

// A record of this instance (`own`) is only its offset: its `record` stays empty.
ReplicaInput ReplicaApplier::Impl::input_of(RdKafka::Message& m, bool& own) {
  ReplicaInput in{m.topic_name(), m.partition(), m.offset(), std::nullopt};
  const std::string_view value(static_cast<const char*>(m.payload()), m.len());
  auto decoded = decode_state_record(m.payload() == nullptr ? std::string_view() : value);
  if (!decoded) {
    spdlog::error("replica: {}[{}]@{} is not a change record, passed over: {}", in.topic,
                  in.partition, in.offset, decoded.error);
  } else if (decoded.value->by == instance_id) {
    own = true;
    own_seq_read = std::max(own_seq_read, decoded.value->seq);
  } else {
    in.record = std::move(*decoded.value);
  }
  return in;
}

// False when stopped before the inputs could be written (a full disk): nothing of them counts.
bool ReplicaApplier::Impl::apply(ReplicaLog& log, std::vector<ReplicaInput>& inputs) {
  const bool positions_due =
      !own_pending.empty() && SteadyClock::now() - positions_written >= kOwnPositionsEvery;
  if (inputs.empty() && !positions_due && !stopping) return true;
  // The own records' offsets of earlier polls first: each partition's inputs stay in offset
  // order.
  std::vector<ReplicaInput> all;
  all.reserve(own_pending.size() + inputs.size());
  for (const auto& [p, next] : own_pending) all.push_back({topic, p, next - 1, std::nullopt});
  for (auto& in : inputs) all.push_back(std::move(in));
  for (;;) {
    try {
      // Before the positions past them are stored: a start reads the topic from those positions
      // to learn which commits were published, and must not find one it forgot to forget.
      if (own_seq_read > own_seq_told) {
        log.own_records_published(own_seq_read);
        own_seq_told = own_seq_read;
      }
      ReplicaResult result = log.apply_replica(all);
      for (const auto& r : result.refused) {
        spdlog::error("replica: {}[{}]@{} (incident {}) cannot be applied here, passed over: {}",
                      r.topic, r.partition, r.offset, r.incident_key, r.reason);
      }
      own_pending.clear();
      positions_written = SteadyClock::now();
      auto& applied = result.applied;
      if (on_applied && (!applied.incidents.empty() || !applied.processed.empty())) {
        on_applied(std::move(applied));
      }
      break;
    } catch (const StoreFullError& e) {
      // Nothing was written: the same records again once there is room.
      complain("disk full", e.what(), false);
      if (!sleep_for(1s)) return false;  // stopping: none of it is applied
    }
  }
  inputs = std::move(all);
  return true;
}

// After the batch is durable: what wait_caught_up() compares with the partitions' ends.
//
// query_watermark_offsets() on this read_committed consumer answers the last stable offset, not
// the high watermark: librdkafka 2.0.2 sends ListOffsets with the consumer's isolation.level
// (measured by replica_catch_up_bench with a transaction left open). A committed transaction's
// last record is followed by its commit marker, which takes an offset and is never returned as a
// message, so the last record's offset + 1 stays one below that end. librdkafka moves the fetch
// position past the marker (the same bench: last record 4394, end of partition reported at 4396)
// and reports ERR__PARTITION_EOF at the fetch position: taking that as reached, once everything
// before it is applied, is right whether the target counts markers or not, and whether it is the
// last stable offset or the high watermark (which would only make the wait last until an open
// transaction ends).
void ReplicaApplier::Impl::publish(const std::vector<ReplicaInput>& inputs,
                                   const std::map<std::int32_t, std::int64_t>& ends) {
  if (inputs.empty() && ends.empty() && own_pending.empty()) return;
  {
    std::lock_guard lock(mutex);
    for (const auto& in : inputs) {
      auto& r = reached[in.partition];
      r = std::max(r, in.offset + 1);
    }
    for (const auto& [p, offset] : own_pending) {
      auto& r = reached[p];
      r = std::max(r, offset);
    }
    for (const auto& [p, offset] : ends) {
      auto& r = reached[p];
      r = std::max(r, offset);
    }
  }
  changed.notify_all();
}

void ReplicaApplier::Impl::complain(const std::string& code, const std::string& message,
                                    bool fatal) {
  std::lock_guard lock(complain_mutex);
  const auto now = SteadyClock::now();
  auto [it, first] = complained.try_emplace(code, now);
  if (!first && now - it->second < kComplainEvery && !fatal) return;
  it->second = now;
  spdlog::warn("replica: {}: {}{}", code, message, fatal ? " (fatal)" : "");
}

// False when asked to stop meanwhile.
bool ReplicaApplier::Impl::sleep_for(SteadyClock::duration d) {
  std::unique_lock lock(mutex);
  changed.wait_for(lock, d, [this] { return stopping.load(); });
  return !stopping;
}

ReplicaApplier::ReplicaApplier(const Config& config, std::function<void(ReplicaApplied)> on_applied)
    : impl_(std::make_unique<Impl>(config, std::move(on_applied))) {}

ReplicaApplier::~ReplicaApplier() {
  stop();
}

void ReplicaApplier::start() {
  if (impl_->thread.joinable()) return;
  impl_->create_consumer();
  impl_->thread = std::thread([impl = impl_.get()] {
    name_this_thread("replica-apply");
    impl->run();
  });
  // The partition count is known when start() returns, unless the broker does not answer.
  std::unique_lock lock(impl_->mutex);
  impl_->changed.wait_for(lock, kMetadataWait + 1s, [this] { return impl_->asked; });
}

void ReplicaApplier::stop() {
  if (!impl_->thread.joinable()) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->changed.notify_all();
  impl_->thread.join();
  impl_->consumer->close();
}

bool ReplicaApplier::wait_caught_up(const std::vector<std::int32_t>& partitions, Duration timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  {
    std::unique_lock lock(impl_->mutex);
    if (!impl_->changed.wait_until(lock, deadline,
                                   [this] { return impl_->assigned || impl_->stopping; }) ||
        !impl_->assigned) {
      return false;
    }
  }
  std::map<std::int32_t, std::int64_t> target;
  for (const std::int32_t p : partitions) {
    if (p < 0 || p >= impl_->partitions) return false;
    std::int64_t low = -1;
    std::int64_t high = -1;
    const auto err = impl_->consumer->query_watermark_offsets(
        impl_->topic, p, &low, &high, std::max(1, millis_of(deadline - SteadyClock::now())));
    if (err != RdKafka::ERR_NO_ERROR) {
      impl_->complain(kafka_code_name(err),
                      "cannot read the end of " + impl_->topic + "[" + std::to_string(p) + "]",
                      false);
      return false;
    }
    target[p] = high;
  }
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_until(lock, deadline, [&] {
    return std::all_of(target.begin(), target.end(), [&](const auto& t) {
      const auto r = impl_->reached.find(t.first);
      return r != impl_->reached.end() && r->second >= t.second;
    });
  });
}

std::int32_t ReplicaApplier::partition_count() const {
  return impl_->partitions;
}

}  // namespace incidentd
