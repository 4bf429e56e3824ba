// What a batch of Kafka messages becomes on its way into the engine. classify() runs on the
// consumer thread and turns each message into an event, a confirmation, an acknowledgement (a
// forwarded input, [cluster] on) or a rejection with its reason; on the engine's loop thread a
// BatchApplication hands the items to the engine in message order, a slice at a time so that the
// loop fires due timers between slices, and commits the whole batch at its end (apply_batch():
// all slices at once). No Kafka client here.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/store.hpp"

namespace incidentd {

class Engine;
struct Outcome;

// One consumed message, copied out of the client library.
struct KafkaRecord {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> key;  // nullopt: the message had no key
  std::string value;
};

// Where in the pipeline a message was refused; it is part of the dead-letter record.
enum class RejectStage {
  validation,  // not JSON, schema violation, unknown unit, oversize
  drill_mode,  // a live event sent to a daemon running a drill (--time-scale)
  engine,      // valid, but the engine refused it (unknown or closed incident, ...)
};
std::string_view to_string(RejectStage stage);

struct Rejection {
  RejectStage stage = RejectStage::validation;
  std::string reason;
};

// One message, classified.
struct Inbound {
  // An Acknowledgement comes only from the inputs topic (docs/cluster.md, "Inputs from any door").
  std::variant<Rejection, Event, Confirmation, Acknowledgement> item;
};

struct IngestRules {
  std::string events_topic;
  std::string releases_topic;
  // Set while the daemon runs on a scaled clock: only drill events may open incidents.
  std::optional<double> time_scale;
  // [cluster] on: acknowledgements and confirmations forwarded by instances that do not own their
  // incident (incidentd/forwarded_input.hpp). Empty: no such topic is read.
  std::string inputs_topic;

  static IngestRules from(const KafkaSettings& kafka, std::optional<double> time_scale,
                          const ClusterConfig& cluster = {});
};

// Parses and validates one message by its topic. Confirmations of the releases topic come out
// with via = "kafka"; forwarded inputs keep the door they came through ("http", "sms", ...).
Inbound classify(const KafkaRecord& record, const Config& config, const IngestRules& rules);

struct BatchOutcome {
  std::size_t accepted = 0;
  std::size_t duplicates = 0;
  std::size_t rejected = 0;  // items already rejected by classify() plus those the engine refused
  // The engine's refusals, as (index in the batch, reason).
  std::vector<std::pair<std::size_t, std::string>> engine_rejections;
  // Where the loop thread's time went: handing items to the engine, and the commit; wall time,
  // and the thread's CPU time for both (the difference is waiting: fsync, a busy machine).
  std::chrono::steady_clock::duration engine_time{};
  std::chrono::steady_clock::duration flush_time{};
  std::chrono::nanoseconds cpu_time{};
  // The commit found the disk full: every item was handled, but none of it is durable yet. The
  // engine keeps it pending and a later flush() that succeeds writes it; until then the batch's
  // offsets must not be committed.
  std::optional<StoreFullError> disk_full;
};

// What apply_batch() commits at its end (one SQLite transaction either way).
enum class BatchCommit {
  // What the engine acted on (Engine::flush_acted): incidents that events only re-described stay
  // in memory, so their messages' offsets must wait for a later `everything`.
  acted,
  // Everything changed so far (Engine::flush): every message handled until now is durable.
  everything,
};

// One batch on its way through the engine, on the engine's thread: apply_slice() hands the next
// items to the engine, as many as `max_items` or as `budget` allows, and the loop may run other
// work between two slices (a timer that falls due fires then, not after the whole batch, which
// takes about 20 ms of engine per 10,000 events); finish() commits. Between slices the engine
// commits each step of its own as usual (a timer's warning is durable and goes out at once);
// the batch's own events are durable only after finish(), so its offsets wait for that.
class BatchApplication {
 public:
  explicit BatchApplication(const std::vector<Inbound>& batch) : batch_(batch) {}

  // True once every item has been handed to the engine.
  bool apply_slice(Engine& engine, std::size_t max_items,
                   std::chrono::steady_clock::duration budget);
  bool applied() const { return next_ == batch_.size(); }
  // After the last slice: the next part of what `commit` commits (Engine::flush_part or
  // flush_acted_part), at most `max_incidents` incidents, so the loop fires due timers between
  // parts too. Either can be thousands of incidents: a quarter of a second's commit under a
  // flood, or a batch that opens thousands (one commit of 6,828 new incidents held the loop
  // 225 ms). True once all of it is durable, or once the disk is found full (finish() reports
  // that). Then finish().
  bool commit_part(Engine& engine, std::size_t max_incidents,
                   BatchCommit commit = BatchCommit::everything);
  // After the last slice (and the last part): one commit, of `commit`. A full disk is reported in
  // BatchOutcome::disk_full; any other StoreError from the commit is thrown, and the engine is
  // then ahead of its store and must not be used again.
  BatchOutcome finish(Engine& engine, BatchCommit commit);

 private:
  void count(std::size_t index, const Outcome& outcome);

  const std::vector<Inbound>& batch_;
  std::size_t next_ = 0;
  std::optional<StoreFullError> disk_full_;  // met by a part
  BatchOutcome out_;
};

// The number of incidents the next part of a commit of everything takes (commit_part), from the
// last full part: `incidents` that took `took`, scaled to `budget` and kept within [1, `most`]. A
// part's cost per incident moves with the machine's load and what the pages hold, so a fixed
// number of incidents let a loaded machine's parts run for tens of milliseconds, and a timer that
// fell due meanwhile fired that late (clock_lateness_bench).
std::size_t next_part_incidents(std::size_t incidents, std::chrono::steady_clock::duration took,
                                std::chrono::steady_clock::duration budget, std::size_t most);

// On the engine's thread: every item in order, then one commit (one BatchApplication, all its
// slices at once).
BatchOutcome apply_batch(Engine& engine, const std::vector<Inbound>& batch,
                         BatchCommit commit = BatchCommit::everything);

// CPU time consumed so far by the calling thread.
std::chrono::nanoseconds thread_cpu_time();

}  // namespace incidentd
