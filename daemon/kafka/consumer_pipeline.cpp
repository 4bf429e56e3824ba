// The Kafka input's consumer thread (consumer_pipeline.hpp): poll, validate, hand the batch to
// the loop, and once it is durable put its dead letters and offsets into the Kafka transaction.
#include "kafka/consumer_pipeline.hpp"

#include <algorithm>
#include <exception>
#include <iterator>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "incidentd/engine.hpp"
#include "incidentd/store.hpp"
#include "kafka/dead_letter.hpp"
#include "kafka/state_changelog.hpp"

namespace incidentd {

using namespace std::chrono_literals;

namespace {

// How this consumer is a member of its group, for the start line.
std::string membership_note(const ClusterConfig& cluster) {
  if (!cluster.enabled()) return "";
  return fmt::format(", instance {} (static membership; session {}, heartbeat {})",
                     cluster.instance_id, format_duration(cluster.session_timeout),
                     format_duration(cluster.heartbeat_interval));
}

}  // namespace

ConsumerPipeline::ConsumerPipeline(const Config& config, Engine& engine, PostToLoop post_to_loop,
                                   IngestOptions options, const KafkaClientFactory& make_clients)
    : config_(config),
      roster_(std::make_shared<const Config>(config)),
      engine_(engine),
      post_to_loop_(std::move(post_to_loop)),
      options_(std::move(options)),
      rules_(IngestRules::from(config.kafka, options_.time_scale, config.cluster)),
      health_(config.kafka),
      make_clients_(make_clients),
      fence_rebuilds_(options_.fence_rebuilds),
      part_incidents_(std::max<std::size_t>(options_.commit_part_incidents, 1)) {
  hooks_ = client_hooks();
  build_clients();
  txn_.emplace(
      *producer_, *consumer_, config_.kafka.dlq_topic, health_, counters_,
      options_.stop_commit_grace, [this](Duration d, CommitMode mode) { backoff(d, mode); },
      options_.state_changelog != nullptr ? config_.cluster.state_topic : std::string());
}

KafkaHooks ConsumerPipeline::client_hooks() {
  KafkaHooks hooks = health_.hooks();
  hooks.revoking = [this](const std::vector<PartitionOffset>& parts) { on_revoking(parts); };
  hooks.assigned = [health = std::move(hooks.assigned),
                    this](const std::vector<PartitionOffset>& parts) {
    health(parts);
    on_assigned(parts);
  };
  return hooks;
}

void ConsumerPipeline::build_clients() {
  auto clients = make_clients_(hooks_);
  producer_ = std::move(clients.producer);
  consumer_ = std::move(clients.consumer);
}

ConsumerPipeline::~ConsumerPipeline() = default;

// --- the thread's course --------------------------------------------------------------------

bool ConsumerPipeline::run() {
  bool ok = true;
  try {
    consume();
  } catch (const std::exception& e) {
    ok = false;
    spdlog::critical("kafka: {}", e.what());
  }
  close(ok);
  return ok;
}

std::vector<std::string> ConsumerPipeline::topics() const {
  std::vector<std::string> out = {config_.kafka.events_topic, config_.kafka.releases_topic};
  // [cluster] on: inputs other instances forwarded to the owner (docs/cluster.md, "Inputs from
  // any door"); the range assignor gives this instance partition N of it with partition N of
  // the events topic, so they reach the owner of their incidents.
  if (!rules_.inputs_topic.empty()) out.push_back(rules_.inputs_topic);
  return out;
}

void ConsumerPipeline::consume() {
  if (!init_transactions()) return;
  consumer_->subscribe(topics());
  spdlog::info("kafka: consuming {} as group {}{} from {}; dead letters to {}",
               fmt::join(topics(), ", "), config_.kafka.group, membership_note(config_.cluster),
               config_.kafka.brokers, config_.kafka.dlq_topic);
  if (options_.state_changelog != nullptr) {
    spdlog::info("kafka: [cluster] on: every committed change goes to {} (change records)",
                 config_.cluster.state_topic);
  }
  if (options_.on_subscribed) options_.on_subscribed();
  while (!stop_) {
    try {
      poll_once();
    } catch (const InstanceFenced& fence) {
      if (!rebuild_after_fence(fence)) return;
    }
  }
  finish_inflight();
  checkpoint();
  release_state();
  if (commit_open(CommitMode::stopping)) {
    spdlog::info("kafka: stopping: offsets committed for every message handled");
  }
  if (txn_->state_records() > 0) {  // kept from a transaction given up: one more, for them
    release_state();
    commit_open(CommitMode::stopping);
  }
}

void ConsumerPipeline::poll_once() {
  check_kafka_fatal();
  wait_for_room();
  auto t0 = SteadyClock::now();
  auto records = parked_.empty() ? gather() : std::exchange(parked_, {});
  poll_time_ += SteadyClock::now() - t0;
  check_kafka_fatal();
  if (!records.empty()) {
    health_.note_recovered("receiving");
    auto job = prepare(std::move(records));
    finish_inflight();  // the previous batch: its dead letters and offsets
    start(std::move(job));
  } else {
    finish_inflight();
    checkpoint();
    health_.note_idle(consumer_->assigned_partitions(), options_.idle_warning_after);
  }
  // What timers, the dispatcher and the API committed meanwhile; with a batch in flight, they
  // go with its offsets once it is durable (release_held).
  if (!inflight_) release_state();
  commit_if_due();
  after_poll();
}

// One batch: the first message (waiting up to poll_wait), then more only while they keep
// coming (options_.quiet apart), up to max_batch and for at most options_.linger. A lone event
// is handed to the loop at once instead of waiting out the linger. (Filling on while the loop
// is still busy with the previous batch was tried: no faster in kafka_ingest_bench.)
std::vector<KafkaRecord> ConsumerPipeline::gather() {
  gathering_ = consumer_->poll(options_.max_batch, options_.poll_wait);
  if (gathering_.empty()) return {};
  const auto first = now();
  while (gathering_.size() < options_.max_batch && !stop_) {
    const auto left = options_.linger - std::chrono::duration_cast<Duration>(now() - first);
    if (left <= Duration::zero()) break;
    auto more =
        consumer_->poll(options_.max_batch - gathering_.size(), std::min(options_.quiet, left));
    if (more.empty()) break;  // the stream paused: what came goes now
    gathering_.insert(gathering_.end(), std::make_move_iterator(more.begin()),
                      std::make_move_iterator(more.end()));
  }
  return std::exchange(gathering_, {});
}

ConsumerPipeline::SteadyClock::time_point ConsumerPipeline::now() const {
  return options_.clock_for_test ? options_.clock_for_test() : SteadyClock::now();
}

void ConsumerPipeline::close(bool ok) {
  closing_ = true;
  if (!producer_ || !consumer_) return;  // a rebuild failed to build them (logged)
  if (!ok) txn_->discard();
  try {
    consumer_->close();
  } catch (const std::exception& e) {
    spdlog::error("kafka: closing the consumer: {}", e.what());
  }
  spdlog::info("kafka: consumer closed; {} messages consumed, {} dead-lettered; {}",
               counters_.consumed.load(), counters_.dead_lettered.load(), time_report());
}

void ConsumerPipeline::check_kafka_fatal() const {
  if (fence_pending_) throw InstanceFenced(*fence_pending_);
  if (!health_.fatal_reported()) return;
  if (consumer_->fenced()) {
    throw InstanceFenced("the group fenced this consumer (FENCED_INSTANCE_ID, logged above)");
  }
  throw IngestFatal("a fatal Kafka client error (logged above); restart needed");
}

bool ConsumerPipeline::sleep_unless_stopped(Duration d) {
  std::unique_lock lock(stop_mutex_);
  return !stop_cv_.wait_for(lock, d, [this] { return stop_.load(); });
}

void ConsumerPipeline::backoff(Duration d, CommitMode mode) {
  if (options_.backoff_for_test) {
    options_.backoff_for_test(d);
  } else if (mode == CommitMode::normal) {
    sleep_unless_stopped(d);
  } else {
    std::this_thread::sleep_for(d);
  }
}

// Registers the dead-letter producer; an older process's open transaction is aborted here,
// before the group's committed offsets are read. Asked a second at a time, so that a stop while
// the coordinator is out of reach waits for no more than that; a warning once it has been out
// of reach for kInitPatience.
bool ConsumerPipeline::init_transactions() {
  constexpr Duration kInitStep = 1s;
  constexpr Duration kInitPatience = 10s;
  const auto started = SteadyClock::now();
  for (;;) {
    const auto asked = SteadyClock::now();
    auto r = producer_->init(kInitStep);
    if (!r) return true;
    if (r->kind == TxnError::Kind::fatal) throw IngestFatal("dead-letter producer: " + r->message);
    if (SteadyClock::now() - started >= kInitPatience) {
      health_.note_problem(r->message);
      if (auto held = health_.admit("init")) {
        spdlog::warn(
            "kafka: waiting for the transaction coordinator at {} before consuming: {}{}; "
            "incident clocks keep running",
            config_.kafka.brokers, r->message, held_note(*held));
      }
    }
    // A refusal that came at once is asked again a step later, as a call that timed out is.
    const auto rest =
        std::max(Duration::zero(),
                 kInitStep - std::chrono::duration_cast<Duration>(SteadyClock::now() - asked));
    if (options_.backoff_for_test) {
      options_.backoff_for_test(rest);
      if (stop_) return false;
    } else if (!sleep_unless_stopped(rest)) {
      return false;
    }
  }
}

// --- batches: to the loop and back ----------------------------------------------------------

// On the consumer thread: validation, while the loop may still work on the previous batch.
std::shared_ptr<ConsumerPipeline::Job> ConsumerPipeline::prepare(std::vector<KafkaRecord> records) {
  const auto t0 = SteadyClock::now();
  counters_.consumed += records.size();
  auto job = std::make_shared<Job>();
  job->inbound.reserve(records.size());
  const auto current = current_roster();
  for (const auto& r : records) job->inbound.push_back(classify(r, *current, rules_));
  const bool full = records.size() >= options_.max_batch;
  job->records = std::move(records);
  if (full && SteadyClock::now() - last_checkpoint_ < options_.checkpoint_every) {
    job->commit = BatchCommit::acted;
  }
  classify_time_ += SteadyClock::now() - t0;
  return job;
}

void ConsumerPipeline::start(std::shared_ptr<Job> job) {
  if (job->commit == BatchCommit::everything) last_checkpoint_ = SteadyClock::now();
  inflight_done_ = job->done.get_future();
  inflight_ = job;
  const bool from_source =
      options_.on_source_messages &&
      std::any_of(job->records.begin(), job->records.end(),
                  [this](const KafkaRecord& r) { return r.topic == config_.kafka.events_topic; });
  post_to_loop_([this, from_source, job = std::move(job)] {
    job->application.emplace(job->inbound);
    next_step(job, from_source);
  });
}

bool ConsumerPipeline::commit_part(BatchApplication& application, BatchCommit commit) {
  const auto started = SteadyClock::now();
  const bool done = application.commit_part(engine_, part_incidents_, commit);
  // The last part of a batch may be short: only a full one says what a part costs.
  if (!done) {
    part_incidents_ =
        next_part_incidents(part_incidents_, SteadyClock::now() - started,
                            options_.commit_part_budget, options_.commit_part_incidents);
  }
  return done;
}

void ConsumerPipeline::next_step(const std::shared_ptr<Job>& job, bool from_source) {
  try {
    if (from_source) options_.on_source_messages();
    if (!job->application->applied() &&
        !job->application->apply_slice(engine_, options_.slice_items, options_.slice_budget)) {
      post_to_loop_([this, job] { next_step(job); });
      return;
    }
    // The batch's commits are made durable by make_durable() before their offsets go to Kafka.
    const DurableLater batch_commits = engine_.durable_later(options_.make_durable != nullptr);
    if (!commit_part(*job->application, job->commit)) {
      post_to_loop_([this, job] { next_step(job); });
      return;
    }
    job->outcome = job->application->finish(engine_, job->commit);
    if (job->outcome.disk_full) {
      if (options_.on_disk_full) options_.on_disk_full(*job->outcome.disk_full);
    } else if (options_.on_batch_durable) {
      options_.on_batch_durable();
    }
  } catch (const std::exception& e) {
    job->error = e.what();
  }
  job->done.set_value();
}

// Waits for the batch on the loop; once it is durable, its dead letters and offsets join the
// open Kafka transaction. A batch that found the disk full is durable once the daemon has
// written everything pending again (wait_for_room); during a revocation there is no waiting
// (poll() is on the stack), so its offsets, and those held with it, are left uncommitted for
// the partitions' next owner to read again.
void ConsumerPipeline::finish_inflight(bool revoking) {
  if (!inflight_) return;
  auto job = std::move(inflight_);
  inflight_.reset();
  wait_for_loop();
  throw_if_failed(*job);
  bool everything = job->commit == BatchCommit::everything;
  if (job->outcome.disk_full) {
    if (revoking) {
      spdlog::warn(
          "kafka: partitions revoked while the database's disk is full: the offsets of {} "
          "message(s) not yet durable are left uncommitted",
          job->records.size());
      awaiting_ = Held{};
      return;
    }
    wait_for_room();
    // Written by a flush of everything: what was held before it is durable too.
    everything = true;
  }
  hold(*job, everything);
}

// A batch the store could not commit ends the consumer; so does a full disk that the daemon
// does not wait out.
void ConsumerPipeline::throw_if_failed(const Job& job) const {
  if (!job.error.empty()) {
    throw IngestFatal("store failure: " + job.error +
                      "; exiting without committing this batch's offsets (a restart recovers "
                      "from the database and deduplicates the redelivered messages)");
  }
  if (job.outcome.disk_full && !options_.store_writable) {
    throw IngestFatal(std::string("store failure: ") + job.outcome.disk_full->what());
  }
}

void ConsumerPipeline::wait_for_loop() {
  const auto t0 = SteadyClock::now();
  while (inflight_done_.wait_for(100ms) != std::future_status::ready) {
    if (loop_stopped_)
      throw IngestFatal("the engine's loop has stopped; the batch was not handled");
  }
  loop_wait_time_ += SteadyClock::now() - t0;
}

// The batch is handled: its dead letters and offsets are held until what it left in memory is
// durable too (a batch that committed everything releases them at once).
void ConsumerPipeline::hold(const Job& job, bool everything) {
  const BatchOutcome& outcome = job.outcome;
  const auto& records = job.records;
  counters_.accepted += outcome.accepted;
  counters_.duplicates += outcome.duplicates;
  engine_time_ += outcome.engine_time;
  flush_time_ += outcome.flush_time;
  loop_cpu_ += outcome.cpu_time;
  ++batches_;

  std::vector<std::pair<std::size_t, Rejection>> rejected;
  for (std::size_t i = 0; i < job.inbound.size(); ++i) {
    if (const auto* r = std::get_if<Rejection>(&job.inbound[i].item)) rejected.emplace_back(i, *r);
  }
  for (const auto& [i, reason] : outcome.engine_rejections) {
    rejected.emplace_back(i, Rejection{RejectStage::engine, reason});
  }
  std::sort(rejected.begin(), rejected.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  const auto now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  for (const auto& [i, rejection] : rejected) {
    const KafkaRecord& r = records[i];
    spdlog::warn("dead letter: {}/{}@{} ({}): {}", r.topic, r.partition, r.offset,
                 to_string(rejection.stage), rejection.reason);
    awaiting_.letters.push_back({r.key, dead_letter_value(r, rejection, now)});
  }
  OffsetMap offsets;
  for (const auto& r : records) {
    auto& next = offsets[{r.topic, r.partition}];
    next = std::max(next, r.offset + 1);
  }
  spdlog::debug(
      "kafka: batch of {}: {} accepted, {} duplicates, {} rejected; engine {:.2f} ms, SQLite "
      "commit {:.2f} ms",
      records.size(), outcome.accepted, outcome.duplicates, rejected.size(),
      seconds(outcome.engine_time) * 1000, seconds(outcome.flush_time) * 1000);
  merge_offsets(awaiting_.offsets, offsets);
  if (everything) release_held();
}

// While the daemon waits for room on the database's disk (options.store_writable false): the
// partitions are paused and polled (the consumer stays in its group, nothing is fetched),
// nothing reaches the engine, and only the offsets of durable batches are committed. Ends when
// the daemon has written everything pending; a stop asked for meanwhile ends the consumer as
// a fatal error would, leaving what is not durable uncommitted in Kafka.
void ConsumerPipeline::wait_for_room() {
  if (!options_.store_writable || options_.store_writable()) return;
  consumer_->pause();
  spdlog::info("kafka: consumption paused until the database can be written again");
  const auto since = SteadyClock::now();
  while (!options_.store_writable()) {
    if (stop_) {
      throw IngestFatal(
          "stopping while the database's disk is full: what is not yet durable stays "
          "uncommitted in Kafka and is read again at the next start");
    }
    check_kafka_fatal();
    auto records = consumer_->poll(options_.max_batch, options_.poll_wait);
    for (auto& r : records) parked_.push_back(std::move(r));  // not expected: paused
    commit_if_due();
    after_poll();
  }
  consumer_->resume();
  spdlog::info("kafka: consumption resumed after {:.1f} s", seconds(SteadyClock::now() - since));
}

// Everything handled so far is durable: what was held joins the open Kafka transaction.
void ConsumerPipeline::release_held() {
  if (awaiting_.letters.empty() && awaiting_.offsets.empty()) return;
  auto records = take_state_records();
  txn_->add(std::move(awaiting_.letters), awaiting_.offsets, std::move(records), taken_seq_);
  awaiting_ = Held{};
}

// Every change record committed to SQLite so far, encoded (here, off the loop thread).
std::vector<DeadLetter> ConsumerPipeline::take_state_records() {
  std::vector<DeadLetter> out;
  if (options_.state_changelog == nullptr) return out;
  auto records = options_.state_changelog->take();
  out.reserve(records.size());
  for (const auto& r : records) {
    out.push_back({r.incident_key, encode_state_record(r)});
    taken_seq_ = std::max(taken_seq_, r.seq);
  }
  return out;
}

// Change records that came without a batch (a timer fired, a delivery result, an HTTP ack)
// join the open transaction, or open one; commit_if_due commits it. Such a transaction carries
// the offsets already committed again: sending them makes the group check this consumer's
// generation, so a zombie's transaction is refused like any other.
void ConsumerPipeline::release_state() {
  if (options_.state_changelog == nullptr) return;
  auto records = take_state_records();
  if (records.empty() && (txn_->open() || txn_->state_records() == 0)) return;
  txn_->add({}, txn_->committed_offsets(), std::move(records), taken_seq_);
}

// Commits everything the engine holds (an empty batch that commits everything), so the held
// dead letters and offsets can go to Kafka: when the stream pauses, at shutdown, on revocation.
void ConsumerPipeline::checkpoint(bool revoking) {
  if (awaiting_.letters.empty() && awaiting_.offsets.empty()) return;
  start(std::make_shared<Job>());
  finish_inflight(revoking);
}

// --- Kafka's side ---------------------------------------------------------------------------

void ConsumerPipeline::commit_if_due() {
  if (txn_->open() && txn_->age() >= options_.commit_every) commit_open(CommitMode::normal);
}

bool ConsumerPipeline::commit_open(CommitMode mode) {
  if (options_.make_durable && txn_->open()) {
    try {
      options_.make_durable();
    } catch (const StoreError& e) {
      throw IngestFatal(std::string("store failure: ") + e.what() +
                        "; exiting without committing offsets (a restart recovers from the "
                        "database and deduplicates the redelivered messages)");
    }
  }
  return txn_->commit(mode, [this] { return stop_.load(); });
}

void ConsumerPipeline::on_assigned(const std::vector<PartitionOffset>& parts) {
  for (const auto& p : parts) owned_.emplace(p.topic, p.partition);
  if (options_.on_assigned) options_.on_assigned(parts);
}

void ConsumerPipeline::on_revoking(const std::vector<PartitionOffset>& parts) {
  spdlog::info("kafka: partitions revoked: {}", describe_partitions(parts));
  if (closing_ || rebuilding_) {  // a rebuild has released them already
    txn_->discard();
    return;
  }
  bool released = false;
  try {
    commit_revoked(parts, released);
  } catch (const InstanceFenced& fence) {
    // Not thrown through librdkafka's rebalance callback: the poll returns, then the pipeline
    // acts on it (check_kafka_fatal).
    fence_pending_ = fence.what();
    txn_->discard();
    if (!released && options_.on_revoked) options_.on_revoked(parts);
  }
  forget_revoked(parts);
}

void ConsumerPipeline::commit_revoked(const std::vector<PartitionOffset>& parts, bool& released) {
  finish_inflight(true);  // its offsets may be among the revoked ones
  // Their clocks stop here, and what the engine still held of them is committed, so that their
  // last records go out in the commit below, before the partitions do.
  if (options_.on_revoked) options_.on_revoked(parts);
  released = true;
  checkpoint(true);
  release_state();  // the changes made while they were ours go out before they go
  commit_open(CommitMode::revoking);
}

void ConsumerPipeline::forget_revoked(const std::vector<PartitionOffset>& parts) {
  txn_->forget(parts);
  for (const auto& p : parts) owned_.erase({p.topic, p.partition});
  // What was polled from them and not yet handed to the loop is their next owner's to read.
  const auto revoked = [&parts](const KafkaRecord& r) {
    return std::any_of(parts.begin(), parts.end(), [&r](const PartitionOffset& p) {
      return p.topic == r.topic && p.partition == r.partition;
    });
  };
  std::erase_if(parked_, revoked);
  std::erase_if(gathering_, revoked);
}

void ConsumerPipeline::after_poll() {
  counters_.assigned = consumer_->assigned_partitions();
  counters_.lag = consumer_->lag().value_or(-1);
  health_.report_minutely(counters_, [this] { return time_report(); });
}

std::string ConsumerPipeline::time_report() const {
  return fmt::format(
      "time spent: polling {:.2f} s, validating {:.2f} s, engine {:.2f} s, SQLite commits "
      "{:.2f} s ({} batches), waiting for the loop {:.2f} s, Kafka transactions {:.2f} s ({}); "
      "CPU: consumer thread {:.2f} s, loop on batches {:.2f} s",
      seconds(poll_time_), seconds(classify_time_), seconds(engine_time_), seconds(flush_time_),
      batches_, seconds(loop_wait_time_), seconds(txn_->time_spent()), txn_->transactions(),
      seconds(thread_cpu_time()), seconds(loop_cpu_));
}

// --- any thread -----------------------------------------------------------------------------

void ConsumerPipeline::request_stop() {
  {
    std::lock_guard lock(stop_mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
}

void ConsumerPipeline::loop_gone() {
  loop_stopped_ = true;
  request_stop();
}

void ConsumerPipeline::reload(const Config& config) {
  auto next = std::make_shared<const Config>(config);
  std::lock_guard lock(roster_mutex_);
  roster_ = std::move(next);
}

std::shared_ptr<const Config> ConsumerPipeline::current_roster() const {
  std::lock_guard lock(roster_mutex_);
  return roster_;
}

IngestStats ConsumerPipeline::stats() const {
  IngestStats s;
  s.consumed = counters_.consumed;
  s.accepted = counters_.accepted;
  s.duplicates = counters_.duplicates;
  s.dead_lettered = counters_.dead_lettered;
  s.assigned_partitions = counters_.assigned;
  if (counters_.lag >= 0) s.lag = counters_.lag.load();
  s.published_seq = counters_.published_seq;
  return s;
}

}  // namespace incidentd
