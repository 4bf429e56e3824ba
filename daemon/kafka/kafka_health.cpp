// The Kafka input's health log (kafka_health.hpp): rate-limited complaints, recoveries with
// how long they took, a consumer without partitions, and the figures once a minute.
#include "kafka/kafka_health.hpp"

#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>

namespace incidentd {

using namespace std::chrono_literals;

std::string held_note(std::size_t held) {
  return held == 0 ? "" : " (" + std::to_string(held) + " more like it held back)";
}

std::string describe_partitions(const std::vector<PartitionOffset>& parts) {
  std::map<std::string, std::vector<std::int32_t>> by_topic;
  for (const auto& p : parts) by_topic[p.topic].push_back(p.partition);
  std::string out;
  for (auto& [topic, list] : by_topic) {
    std::sort(list.begin(), list.end());
    if (!out.empty()) out += ", ";
    out += topic + "[";
    for (std::size_t i = 0; i < list.size(); ++i) {
      out += (i ? "," : "") + std::to_string(list[i]);
    }
    out += "]";
  }
  return out.empty() ? "none" : out;
}

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

KafkaHealth::KafkaHealth(const KafkaSettings& kafka) : kafka_(kafka), limit_(15s) {}

KafkaHooks KafkaHealth::hooks() {
  KafkaHooks h;
  h.log = [this](int severity, const std::string& facility, const std::string& message) {
    on_log(severity, facility, message);
  };
  h.error = [this](const std::string& code, const std::string& message, bool fatal) {
    on_error(code, message, fatal);
  };
  h.assigned = [this](const std::vector<PartitionOffset>& parts) { on_assigned(parts); };
  return h;
}

void KafkaHealth::on_log(int severity, const std::string& facility, const std::string& message) {
  if (facility == "SESSTMOUT") {
    session_timeout_at_ =
        std::max<SteadyClock::rep>(1, SteadyClock::now().time_since_epoch().count());
  }
  // Connection failures also arrive as error events, which say it once, rate-limited; the one
  // property table serves both clients, so each ignoring the other's properties is expected.
  if (severity > 4 || facility == "FAIL" ||
      (facility == "CONFWARN" && message.find("will be ignored by this") != std::string::npos)) {
    spdlog::debug("kafka {}: {}", facility, message);
    return;
  }
  if (auto held = limit_.admit("log:" + facility)) {
    spdlog::warn("kafka {}: {}{}", facility, message, held_note(*held));
  }
}

void KafkaHealth::on_error(const std::string& code, const std::string& message, bool fatal) {
  if (fatal) {
    if (code == "FENCED_INSTANCE_ID") {
      // Not always the end: the pipeline rebuilds its clients when it was its own rejoin.
      spdlog::warn("kafka: fatal error {}: {}", code, message);
    } else {
      spdlog::critical("kafka: fatal error {}: {}", code, message);
    }
    fatal_ = true;
    return;
  }
  note_problem(code + ": " + message);
  if (auto held = limit_.admit("error:" + code)) {
    std::string waiting;
    if (code == "_TRANSPORT" || code == "_ALL_BROKERS_DOWN" || code == "_RESOLVE" ||
        code == "_TIMED_OUT") {
      waiting = "; waiting for the brokers at " + kafka_.brokers;
    } else if (code == "UNKNOWN_TOPIC_OR_PART") {
      waiting = "; waiting for the topic to be created";
    }
    spdlog::warn("kafka: {}: {}{}{}; incident clocks keep running", code, message, held_note(*held),
                 waiting);
  }
}

std::optional<KafkaHealth::SteadyClock::time_point> KafkaHealth::last_session_timeout() const {
  const auto at = session_timeout_at_.load();
  if (at == 0) return std::nullopt;
  return SteadyClock::time_point(SteadyClock::duration(at));
}

void KafkaHealth::on_assigned(const std::vector<PartitionOffset>& parts) {
  spdlog::info("kafka: assigned {} (group {})", describe_partitions(parts), kafka_.group);
  unassigned_since_.reset();
  note_recovered("partitions assigned");
}

void KafkaHealth::note_problem(const std::string& what) {
  std::lock_guard lock(problem_mutex_);
  if (!problem_since_) {
    problem_since_ = SteadyClock::now();
    problem_ = what;
  }
}

void KafkaHealth::note_recovered(const std::string& how) {
  std::lock_guard lock(problem_mutex_);
  if (!problem_since_) return;
  spdlog::info("kafka: {} again, {:.1f} s after \"{}\"", how,
               seconds(SteadyClock::now() - *problem_since_), problem_);
  problem_since_.reset();
}

void KafkaHealth::note_idle(std::size_t assigned_partitions, SteadyClock::duration warn_after) {
  const auto now = SteadyClock::now();
  if (assigned_partitions > 0) {
    unassigned_since_.reset();
    return;
  }
  if (!unassigned_since_) unassigned_since_ = now;
  if (now - *unassigned_since_ < warn_after) return;
  std::string last;
  {
    std::lock_guard lock(problem_mutex_);
    if (problem_since_) last = "; last Kafka complaint: " + problem_;
  }
  if (auto held = limit_.admit("unassigned")) {
    spdlog::warn(
        "kafka: waiting for partitions of {} and {}: none assigned to this consumer of group {} "
        "for {:.0f} s (brokers {}{}){}",
        kafka_.events_topic, kafka_.releases_topic, kafka_.group, seconds(now - *unassigned_since_),
        kafka_.brokers, last, held_note(*held));
  }
}

void KafkaHealth::report_minutely(const IngestCounters& counters,
                                  const std::function<std::string()>& time_report) {
  const auto now = SteadyClock::now();
  if (now - window_start_ < 60s) return;
  const std::uint64_t c = counters.consumed;
  if (c != window_consumed_) {
    spdlog::info(
        "kafka: {} messages in the last {:.0f} s; since start {} consumed, {} accepted, {} "
        "duplicates, {} dead-lettered; lag {}; {}",
        c - window_consumed_, seconds(now - window_start_), c, counters.accepted.load(),
        counters.duplicates.load(), counters.dead_lettered.load(), counters.lag.load(),
        time_report());
  }
  window_consumed_ = c;
  window_start_ = now;
}

}  // namespace incidentd
