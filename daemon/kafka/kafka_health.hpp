// The Kafka input's health log: what the client complains about, said once per kind and interval
// (RateLimit), how long a problem lasted once it is over, a consumer left without partitions,
// and a line of figures every minute. It logs; it decides nothing, except to remember that the
// client reported a fatal error, and when librdkafka last timed the group session out itself,
// which the pipeline then acts on. Thread-safe: the client reports from its own threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "incidentd/config.hpp"
#include "kafka/kafka_ports.hpp"
#include "kafka/rate_limit.hpp"

namespace incidentd {

// What the ingestion counts, read from any thread (Ingest::stats()).
struct IngestCounters {
  std::atomic<std::uint64_t> consumed{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> dead_lettered{0};  // committed to the dead-letter topic
  std::atomic<std::size_t> assigned{0};
  std::atomic<std::int64_t> lag{-1};  // -1: unknown
  // The highest commit number (StateRecord::seq) among the change records of transactions that
  // committed: every commit up to it is on the state topic.
  std::atomic<std::int64_t> published_seq{0};
};

// " (N more like it held back)" after a rate-limited line, or nothing.
std::string held_note(std::size_t held);
// "topic[0,1], other[2]", or "none".
std::string describe_partitions(const std::vector<PartitionOffset>& parts);
double seconds(std::chrono::steady_clock::duration d);

class KafkaHealth {
 public:
  using SteadyClock = std::chrono::steady_clock;

  explicit KafkaHealth(const KafkaSettings& kafka);
  KafkaHealth(const KafkaHealth&) = delete;
  KafkaHealth& operator=(const KafkaHealth&) = delete;

  // log, error and assigned report here; revoking is left for the pipeline.
  KafkaHooks hooks();

  void on_log(int severity, const std::string& facility, const std::string& message);
  void on_error(const std::string& code, const std::string& message, bool fatal);
  void on_assigned(const std::vector<PartitionOffset>& parts);
  // The client said it can do no more: the pipeline must stop, or build new clients.
  bool fatal_reported() const { return fatal_; }
  // The clients that reported it are gone (consumer_rebuild.cpp).
  void clear_fatal() { fatal_ = false; }
  // When librdkafka last said it timed the group session out itself and rejoins (its log
  // facility SESSTMOUT), on the steady clock; nullopt: never.
  std::optional<SteadyClock::time_point> last_session_timeout() const;

  // Something keeps Kafka from working; the first complaint is remembered until recovery.
  void note_problem(const std::string& what);
  // Kafka works again (`how`: "receiving", "committing"): says how long the problem lasted.
  void note_recovered(const std::string& how);
  // nullopt: stay quiet. Otherwise log now, with held_note() of the value.
  std::optional<std::size_t> admit(const std::string& key) { return limit_.admit(key); }

  // After a poll that brought nothing: complains once no partition has been assigned for a while.
  void note_idle(std::size_t assigned_partitions, SteadyClock::duration warn_after);
  // After every poll: a line of figures once a minute while messages come.
  void report_minutely(const IngestCounters& counters,
                       const std::function<std::string()>& time_report);

 private:
  const KafkaSettings kafka_;
  RateLimit limit_;
  std::atomic<bool> fatal_{false};
  std::atomic<SteadyClock::rep> session_timeout_at_{0};  // time_since_epoch; 0: never

  std::mutex problem_mutex_;
  std::optional<SteadyClock::time_point> problem_since_;
  std::string problem_;

  // The consumer thread's own.
  std::optional<SteadyClock::time_point> unassigned_since_;
  SteadyClock::time_point window_start_ = SteadyClock::now();
  std::uint64_t window_consumed_ = 0;
};

}  // namespace incidentd
