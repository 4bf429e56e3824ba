// A consumer fenced by its own rejoin (consumer_rebuild.hpp): the rule that tells it from a
// second process, and the pipeline's rebuild of its clients in place.
#include "kafka/consumer_rebuild.hpp"

#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

#include "kafka/consumer_pipeline.hpp"
#include "kafka/kafka_health.hpp"

namespace incidentd {

std::optional<std::string> FenceRebuilds::admit(
    SteadyClock::time_point now, std::optional<SteadyClock::time_point> session_timeout) {
  while (!rebuilds_.empty() && now - rebuilds_.front() >= rules_.window) rebuilds_.pop_front();
  // librdkafka rejoins under the same group.instance.id only after timing its session out; a
  // fence without one is another member joining with this id (a twin fenced back after a
  // rebuild of ours included: its join came after that rebuild).
  const bool own_rejoin = session_timeout && (!last_ || *session_timeout > *last_) &&
                          now - *session_timeout <= rules_.after_session_timeout;
  if (!own_rejoin) {
    return "no session time-out of its own came before it: another process joined the consumer "
           "group with this cluster.instance_id; this one stops (give every instance an id of "
           "its own)";
  }
  if (rebuilds_.size() >= rules_.limit) {
    return fmt::format(
        "already rebuilt {} time(s) in the last {}: not again; this one stops, and a restart "
        "rejoins",
        rebuilds_.size(), format_duration(rules_.window));
  }
  rebuilds_.push_back(now);
  last_ = now;
  return std::nullopt;
}

// The consumer thread's, outside any librdkafka callback. Nothing the fenced clients held is
// committed: what is durable is read again and deduplicated, the rest is read again and applied.
bool ConsumerPipeline::rebuild_after_fence(const InstanceFenced& fence) {
  const std::string& id = config_.cluster.instance_id;
  if (!config_.cluster.enabled()) throw IngestFatal(fence.what());
  if (auto refused = fence_rebuilds_.admit(SteadyClock::now(), health_.last_session_timeout())) {
    throw IngestFatal(fmt::format("fenced as instance {}: {} ({})", id, *refused, fence.what()));
  }
  spdlog::warn(
      "kafka: fenced as instance {} after its own session time-out: rebuilding the consumer in "
      "place (librdkafka #3437; rebuild {} of at most {} in {}): {}",
      id, fence_rebuilds_.in_window(), fence_rebuilds_.rules().limit,
      format_duration(fence_rebuilds_.rules().window), fence.what());
  const auto t0 = SteadyClock::now();
  give_back_uncommitted();
  release_owned();
  replace_clients();
  if (!init_transactions()) return false;
  // The change records of the release (and any kept from a transaction given up) go out before
  // the partitions are asked for again, as a revocation's do; no offsets: there are none of
  // this consumer's yet.
  release_state();
  commit_open(CommitMode::revoking);
  consumer_->subscribe(topics());
  spdlog::info(
      "kafka: consumer and producer rebuilt in {:.1f} s; rejoining group {} as instance {}",
      seconds(SteadyClock::now() - t0), config_.kafka.group, id);
  return true;
}

// The batch in flight is waited for (a store failure still ends the daemon) but its offsets are
// not committed; the offsets and dead letters held and what was polled are dropped, and what
// the open transaction held is aborted. The new consumer reads all of it again from the
// group's committed offsets.
void ConsumerPipeline::give_back_uncommitted() {
  if (inflight_) {
    auto job = std::move(inflight_);
    inflight_.reset();
    wait_for_loop();
    throw_if_failed(*job);
    spdlog::info(
        "kafka: the batch in flight ({} message(s)) is left uncommitted: the new consumer reads "
        "it again",
        job->records.size());
  }
  awaiting_ = Held{};
  parked_.clear();
  gathering_.clear();
  txn_->discard();
}

// What the fenced consumer still held (it was fenced after it rejoined and was assigned): their
// clocks stop here, as on a revocation, before the new consumer asks for them again; the
// assignment its first poll brings catches them up and adopts them (on_assigned).
void ConsumerPipeline::release_owned() {
  if (owned_.empty()) return;
  std::vector<PartitionOffset> parts;
  parts.reserve(owned_.size());
  for (const auto& [topic, partition] : owned_) parts.push_back({topic, partition});
  spdlog::info("kafka: partitions given up with the fenced consumer: {}",
               describe_partitions(parts));
  if (options_.on_revoked) options_.on_revoked(parts);
  txn_->forget(parts);
  owned_.clear();
}

// Closes the fenced clients (their revocation, if any, does nothing more: rebuilding_) and
// builds new ones through the same factory.
void ConsumerPipeline::replace_clients() {
  rebuilding_ = true;
  try {
    consumer_->close();
  } catch (const std::exception& e) {
    spdlog::warn("kafka: closing the fenced consumer: {}", e.what());
  }
  consumer_.reset();  // before the producer, as at the end
  producer_.reset();
  health_.clear_fatal();  // what the old clients reported
  fence_pending_.reset();
  owned_.clear();
  rebuilding_ = false;
  try {
    build_clients();
  } catch (const std::exception& e) {
    throw IngestFatal(std::string("rebuilding the Kafka clients: ") + e.what());
  }
  txn_->rebind(*producer_, *consumer_);
}

}  // namespace incidentd
