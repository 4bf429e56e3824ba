// The daemon's Kafka input, on its own thread: poll a batch, validate it, run it through the
// engine on the engine's loop thread (one SQLite transaction), then in one Kafka transaction
// write the batch's dead letters and commit its offsets. The next batch is polled and validated
// while the loop works on the previous one. At-least-once for events (a redelivered
// event is a no-op in the engine) and exactly-once for dead letters; nothing is committed to
// Kafka before it is durable in SQLite. The pieces: consumer_pipeline.hpp (the poll loop and
// the hand-off), consumer_rebuild.hpp (a consumer fenced by its own rejoin, rebuilt in place),
// kafka_transaction.hpp (the Kafka transaction's states), kafka_health.hpp (the health log),
// kafka_ports.hpp (the clients, over librdkafka in kafka_client.hpp). While Kafka is
// away it says what it is waiting for, and the engine's clocks, which live on the loop, keep
// running.
//
// Under a backlog, Kafka is the journal: a full batch commits only what the engine acted on
// (timeline, notifications, new incidents), and its dead letters and offsets wait for the next
// batch that commits everything (checkpoint_every). After a crash the messages since then are
// redelivered; what was committed is deduplicated and the rest re-describes its incidents.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "incidentd/config.hpp"
#include "incidentd/store.hpp"
#include "incidentd/time.hpp"
#include "kafka/kafka_ports.hpp"

namespace incidentd {

class Engine;
class StateChangelog;

// [cluster] on: when the group fences this instance's own consumer (FENCED_INSTANCE_ID) because
// librdkafka timed its session out and rejoined under the same group.instance.id (librdkafka
// #3437, docs/cluster.md), the pipeline builds new clients in place instead of exiting
// (consumer_rebuild.hpp). These rules bound it.
struct FenceRebuildRules {
  // The fence is taken for the consumer's own rejoin only if librdkafka timed its session out
  // since the last rebuild (or the start) and at most this long before the fence; otherwise
  // another process joined with this instance_id, and the daemon stops as before.
  Duration after_session_timeout = std::chrono::seconds(60);
  // At most `limit` rebuilds within `window`; a fence beyond that stops the daemon.
  std::size_t limit = 3;
  Duration window = std::chrono::minutes(10);
};

struct IngestOptions {
  // Messages per SQLite transaction: larger batches snapshot each busy incident less often. The
  // engine takes a batch in slices (below), so timers wait for a slice, not a batch; they still
  // wait for the batch's commit, which runs on the loop (docs/architecture.md, "How late the
  // clock fires, measured").
  std::size_t max_batch = 10000;
  Duration poll_wait = std::chrono::milliseconds(500);  // waiting for a batch's first
  // After the first message a batch keeps filling only while messages keep coming: it goes to
  // the loop once `quiet` passes with none (the stream paused; a lone event goes at once), when
  // it is full, or `linger` after its first message, whichever comes first. A flood still makes
  // full batches; a trickle is not held back waiting for one (notify_latency_bench).
  // 0: only what librdkafka already holds joins the batch. That took a lone event's way through
  // the daemon from p50 2.3-2.4 to 1.4-1.6 ms against 1 ms (docs/notifications.md, "Latency"),
  // and a flood makes batches as full as before: while the loop works on one batch, the next
  // waits in librdkafka (kafka_ingest_bench: 107 and 110 batches for 1 M events, both ~99k/s).
  Duration linger = std::chrono::milliseconds(20);
  Duration quiet = std::chrono::milliseconds(0);
  // The loop applies a batch to the engine a slice at a time, at most `slice_items` messages or
  // `slice_budget` of work per slice, and fires the timers that fell due between two slices
  // (docs/kafka.md, "A batch in slices"). The batch is still durable, and its offsets stored,
  // only once all of it is committed.
  std::size_t slice_items = 500;
  std::chrono::steady_clock::duration slice_budget = std::chrono::milliseconds(1);
  // A batch commits in parts of the incidents it changed (a commit each; those that acted
  // first), whether it commits everything or what acted, firing due timers between parts: as many
  // incidents per part as the last full part says fit `commit_part_budget` (next_part_incidents),
  // at most `commit_part_incidents`. Under a flood a second's checkpoint is about 10,000 incidents
  // and 150-450 ms as one commit (clock_lateness_bench); parts of a fixed 128 took up to tens of
  // milliseconds each.
  std::size_t commit_part_incidents = 128;
  std::chrono::steady_clock::duration commit_part_budget = std::chrono::milliseconds(2);
  Duration commit_every = std::chrono::milliseconds(500);  // a Kafka transaction's span
  // While batches come full (a backlog), most commit only what the engine acted on
  // (BatchCommit::acted) and one commits everything this often; its offsets are committed then.
  // A batch that is not full commits everything: a stream that keeps up is durable at once.
  // 5 s was tried: fewer such commits but no faster end to end (kafka_ingest_bench: 82-98 k/s in
  // three runs, against 89-91 k/s in two at 1 s) and 30 MiB more resident; the replay window
  // after a crash stays short.
  Duration checkpoint_every = std::chrono::seconds(1);
  Duration stop_commit_grace = std::chrono::seconds(15);   // at shutdown, then give up
  Duration idle_warning_after = std::chrono::seconds(10);  // no partitions: complain after
  std::optional<double> time_scale;                        // drill mode: only drill events
  // Called on the consumer thread once the subscription is made (the daemon says READY then).
  std::function<void()> on_subscribed;
  // Called on the loop thread after a batch is committed to SQLite (the daemon wakes the
  // notification dispatcher then, so a new warning does not wait for its next poll). With
  // make_durable set, what the batch decided may go out before its commit is on the disk: a power
  // cut then undoes the commit, Kafka redelivers the batch, and its notifications go out again.
  std::function<void()> on_batch_durable;
  // Set: the loop commits batches without waiting for the disk (Store::defer_durability) and the
  // consumer thread calls this before every Kafka transaction commit, so a batch's offsets reach
  // Kafka only once its commit is on the disk. The loop, which fires the clocks, then waits for
  // no fsync of a batch's (under a flood, tens to hundreds of ms each while the disk is busy).
  std::function<void()> make_durable;
  // Called on the loop thread when a batch holds messages from the events topic, valid or not,
  // before the engine sees them (the source heartbeat: is the monitoring system alive?).
  std::function<void()> on_source_messages;
  // A full disk (docs/reliability.md). on_disk_full is called on the loop thread when a batch's
  // commit found the disk full: the batch is handled but not durable. store_writable (any
  // thread) is false until the daemon has written everything pending again; meanwhile the
  // consumer pauses its partitions (it stays in its group) and commits no offset of a batch that
  // is not durable. Unset: a full disk is never waited out.
  std::function<void(const StoreFullError&)> on_disk_full;
  std::function<bool()> store_writable;
  // [cluster] on: the change records of every commit (kafka/state_changelog.hpp), which the
  // consumer thread writes to [cluster] state_topic in its Kafka transactions. Null: none.
  StateChangelog* state_changelog = nullptr;
  // [cluster] on: a rebalance moves clocks with partitions (docs/cluster.md, "Ownership"). Both
  // are called on the consumer thread inside the rebalance and return once done: on_assigned
  // with the partitions just assigned, before anything is consumed from them; on_revoked with
  // those going, after the batch in flight is durable and before their last offsets and records
  // are committed. Unset: nothing moves (a single instance owns everything).
  std::function<void(const std::vector<PartitionOffset>&)> on_assigned;
  std::function<void(const std::vector<PartitionOffset>&)> on_revoked;
  FenceRebuildRules fence_rebuilds;
  // Unit tests: the clock that times a batch's `linger` and `quiet` (the fake Kafka's own).
  // Unset: std::chrono::steady_clock.
  std::function<std::chrono::steady_clock::time_point()> clock_for_test;
  // Unit tests: called instead of sleeping between attempts to reach Kafka (a failed commit,
  // the coordinator not yet there). Unset: the consumer thread sleeps.
  std::function<void(Duration)> backoff_for_test;
};

struct IngestStats {
  std::uint64_t consumed = 0;
  std::uint64_t accepted = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t dead_lettered = 0;  // committed to the dead-letter topic
  std::size_t assigned_partitions = 0;
  std::optional<std::int64_t> lag;
  // [cluster] on: every commit numbered up to this is on the state topic (0: none known).
  std::int64_t published_seq = 0;
};

// The transactional id of the dead-letter producer: "incidentd-<group>-dead-letters" for a single
// instance, "incidentd-<group>-dead-letters-<instance_id>" in a cluster, so instances sharing a
// group never fence one another's producer, while an instance restarted under its own id
// fences (aborts) what its previous process left open (docs/cluster.md, "What fences what").
std::string dead_letter_transactional_id(const KafkaSettings& kafka, const ClusterConfig& cluster);

// The consumer's group-membership properties that [cluster] decides: none for a single
// instance (librdkafka's defaults, or [kafka.properties]); group.instance.id, session.timeout.ms,
// heartbeat.interval.ms and the range assignor in a cluster.
std::map<std::string, std::string> cluster_consumer_properties(const ClusterConfig& cluster);
// [cluster]'s properties of a producer: the partitioner its keys are placed with (the publishers'
// one, so an incident's records share its events' partition), and for the consumer's
// transactional producer a transaction timeout of one session: a dead instance's open
// transaction holds back every read_committed reader of the state topic until the broker aborts
// it, which is then before its partitions move (docs/cluster.md, "Ownership"). Empty without it.
std::map<std::string, std::string> cluster_producer_properties(const ClusterConfig& cluster,
                                                               bool transactional);

class Ingest {
 public:
  // Queues `work` to run on the engine's loop thread.
  using PostToLoop = std::function<void(std::function<void()> work)>;

  // Builds the Kafka clients; throws KafkaSetupError when [kafka] is unusable.
  Ingest(const Config& config, Engine& engine, PostToLoop post_to_loop, IngestOptions options = {});
  // The same on other clients (tests/support/fake_kafka.hpp).
  Ingest(const Config& config, Engine& engine, PostToLoop post_to_loop, IngestOptions options,
         const KafkaClientFactory& make_clients);
  ~Ingest();
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;

  // Starts the thread. on_finished(ok) is its last act: ok is false after a fatal error (store
  // failure, fatal Kafka error), which must end the daemon with a non-zero status.
  void start(std::function<void(bool ok)> on_finished);
  // Stop consuming; the batch in flight is finished, its offsets committed, the consumer closed.
  void request_stop();
  // The loop has stopped for good (it threw): what was queued on it will never run, so the
  // consumer thread stops waiting for it and ends as after a fatal error.
  void loop_gone();
  void join();
  // A reloaded configuration: its roster decides which units are known from the next batch on.
  // The [kafka] settings keep the values the consumer started with. Any thread.
  void reload(const Config& config);

  IngestStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace incidentd
