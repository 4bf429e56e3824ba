#include "incidentd/cluster_member.hpp"

#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>

#include "service/thread_name.hpp"
#include "store/sqlite_store.hpp"

namespace incidentd {

namespace {

using namespace std::chrono_literals;

// One wait for the replica; past it the wait goes on with a warning. The state topic is read
// from the broker that just assigned the partition, so a long catch-up is a large backlog or a
// dead owner's transaction the broker has not aborted yet (it does within a session).
constexpr auto kCatchUpWait = 10s;
// Past this the partition is taken over anyway, loudly: its clocks matter more than the steps a
// replica that cannot catch up might fire again.
constexpr auto kCatchUpGiveUp = 120s;

std::string describe(const std::string& topic, const std::vector<std::int32_t>& partitions) {
  std::string out = topic + "[";
  for (std::size_t i = 0; i < partitions.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(partitions[i]);
  }
  out += "]";
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::int64_t steady_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr auto kTick = 100ms;
// A watch that has not ticked for this long means the process is not running as it should.
constexpr auto kSilentWatch = 2s;

}  // namespace

ClusterMember::ClusterMember(const Config& config, std::function<void(ReplicaApplied)> on_applied)
    : events_topic_(config.kafka.events_topic),
      state_topic_(config.cluster.state_topic),
      replica_(config, std::move(on_applied)),
      session_timeout_(config.cluster.session_timeout),
      heartbeat_interval_(config.cluster.heartbeat_interval),
      partitioner_(config.cluster.partitioner) {}

ClusterMember::~ClusterMember() {
  stop();
}

bool ClusterMember::owns(std::string_view incident_key) const {
  const PartitionOwnership* ownership = published_.load();
  return ownership != nullptr && ownership->owns(incident_key);
}

bool ClusterMember::may_send(std::string_view incident_key) const {
  return owns(incident_key) && !stalled();
}

std::function<bool()> ClusterMember::engine_in_doubt() const {
  return [this] { return stalled(); };
}

bool ClusterMember::stalled() const {
  const std::int64_t now = steady_now();
  const auto silent = std::chrono::nanoseconds(now - last_tick_.load());
  return silent > kSilentWatch || now < doubt_until_.load();
}

void ClusterMember::watch() {
  auto last = std::chrono::steady_clock::now();
  while (watching_.load()) {
    std::this_thread::sleep_for(kTick);
    const auto now = std::chrono::steady_clock::now();
    const auto gap = now - last;
    last = now;
    if (gap >= session_timeout_ / 2) {
      const auto doubt = 2 * heartbeat_interval_;
      // The doubt before the tick: a reader that sees the new tick sees the doubt too.
      doubt_until_.store(steady_now() + std::chrono::nanoseconds(doubt).count());
      spdlog::warn(
          "cluster: this process did not run for {:.1f} s (stopped, paused or starved): it may "
          "have lost its partitions; acting on no incident until the group answers (at most "
          "{:.1f} s)",
          std::chrono::duration<double>(gap).count(), std::chrono::duration<double>(doubt).count());
    }
    last_tick_.store(steady_now());
  }
}

Engine::Owns ClusterMember::engine_owns() const {
  return [this](const std::string& key) { return owns(key); };
}

void ClusterMember::bind(Engine& engine, SqliteStore& store, RunOnLoop run_on_loop,
                         std::function<void()> after_adopt) {
  engine_ = &engine;
  store_ = &store;
  run_on_loop_ = std::move(run_on_loop);
  after_adopt_ = std::move(after_adopt);
  store.send_only_owned([this](std::string_view key) { return may_send(key); });
  engine.hold_clocks_while(engine_in_doubt());
}

void ClusterMember::start() {
  last_tick_.store(steady_now());
  watching_ = true;
  watch_thread_ = std::thread([this] {
    name_this_thread("cluster-watch");
    watch();
  });
  replica_.start();
}

void ClusterMember::stop() {
  replica_.stop();
  watching_ = false;
  if (watch_thread_.joinable()) watch_thread_.join();
}

std::vector<std::int32_t> ClusterMember::events_partitions(
    const std::vector<PartitionOffset>& parts) const {
  std::vector<std::int32_t> out;
  for (const auto& p : parts) {
    if (p.topic == events_topic_) out.push_back(p.partition);
  }
  return out;
}

PartitionOwnership* ClusterMember::ownership_for(const std::vector<std::int32_t>& partitions) {
  if (!ownership_) {
    const std::int32_t count = replica_.partition_count();
    if (count <= 0) {
      spdlog::error("cluster: the state topic {} has no partitions known: owning nothing",
                    state_topic_);
      return nullptr;
    }
    ownership_ = std::make_unique<PartitionOwnership>(count, partitioner_);
    published_.store(ownership_.get());
  }
  for (const auto p : partitions) {
    if (p >= ownership_->partition_count()) {
      spdlog::error(
          "cluster: {}[{}] has no partition of that number on {} ({} partitions): nobody owns "
          "its incidents; give the events, releases and state topics the same number of "
          "partitions (docs/cluster.md)",
          events_topic_, p, state_topic_, ownership_->partition_count());
    }
  }
  return ownership_.get();
}

void ClusterMember::catch_up(const std::vector<std::int32_t>& partitions) {
  const auto t0 = std::chrono::steady_clock::now();
  while (!replica_.wait_caught_up(partitions, kCatchUpWait)) {
    if (std::chrono::steady_clock::now() - t0 >= kCatchUpGiveUp) {
      spdlog::error(
          "cluster: {} not caught up after {:.0f} s: taking the partitions over anyway; steps "
          "their old owner fired in records not yet read may fire again",
          describe(state_topic_, partitions), seconds_since(t0));
      return;
    }
    spdlog::warn("cluster: still catching up {} ({:.0f} s): their clocks wait",
                 describe(state_topic_, partitions), seconds_since(t0));
  }
}

void ClusterMember::assigned(const std::vector<PartitionOffset>& parts) {
  const auto partitions = events_partitions(parts);
  if (partitions.empty() || engine_ == nullptr) return;
  const auto t0 = std::chrono::steady_clock::now();
  PartitionOwnership* ownership = ownership_for(partitions);
  if (ownership == nullptr) return;
  catch_up(partitions);
  const double caught_up = seconds_since(t0);
  ownership->assign(partitions);
  doubt_until_.store(0);  // the group has answered
  std::size_t adopted = 0;
  run_on_loop_([this, &adopted] {
    adopted = engine_->adopt(store_->load_open_incidents());
    if (after_adopt_) after_adopt_();
  });
  spdlog::info(
      "cluster: took over {}: state caught up in {:.2f} s, {} open incident(s) adopted, "
      "clocks armed in {:.2f} s",
      describe(events_topic_, partitions), caught_up, adopted, seconds_since(t0));
}

void ClusterMember::revoked(const std::vector<PartitionOffset>& parts) {
  const auto partitions = events_partitions(parts);
  if (partitions.empty() || !ownership_ || engine_ == nullptr) return;
  ownership_->revoke(partitions);
  doubt_until_.store(0);  // the group has answered
  std::size_t released = 0;
  run_on_loop_([this, &released] { released = engine_->release(); });
  spdlog::info("cluster: gave up {}: {} open incident(s) released, their clocks stopped here",
               describe(events_topic_, partitions), released);
}

}  // namespace incidentd
