// A cluster member's start: which of its journalled commits reached the state topic, and the undo
// of those that did not (unpublished_commits.hpp).
#include "kafka/unpublished_commits.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include "incidentd/state_record.hpp"
#include "kafka/ingest.hpp"
#include "kafka/kafka_client.hpp"
#include "kafka/kafka_conf.hpp"
#include "store/sqlite_store.hpp"

namespace incidentd {

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kAskEvery = 2s;

// The broker did not answer in time: the daemon exits 1, and systemd starts it again (a
// KafkaSetupError, a configuration librdkafka refuses, exits 2 and is not retried).
class BrokerUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

int millis_left(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 10'000));
}

class TopicScan {
 public:
  TopicScan(const Config& config, SteadyClock::time_point deadline)
      : config_(config), deadline_(deadline), events_(hooks_) {
    hooks_.error = [this](const std::string& code, const std::string& message, bool /*fatal*/) {
      last_error_ = code + ": " + message;
    };
  }

  // Ends what the last run left open: the same transactional id, initialised again.
  void fence_last_run() {
    const std::map<std::string, std::string> managed = {
        {"bootstrap.servers", config_.kafka.brokers},
        {"client.id", "incidentd-start"},
        {"transactional.id", dead_letter_transactional_id(config_.kafka, config_.cluster)},
    };
    auto conf = make_kafka_conf(config_.kafka, kafka_common_defaults(), managed, events_);
    std::string error;
    std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), error));
    if (!producer) throw KafkaSetupError("start: cannot create a producer: " + error);
    for (;;) {
      std::unique_ptr<RdKafka::Error> failed(producer->init_transactions(millis_left(deadline_)));
      if (!failed) return;
      if (failed->is_fatal() || SteadyClock::now() >= deadline_) {
        throw BrokerUnavailable("start: cannot take over the transactional id of the last run: " +
                                failed->str());
      }
      std::this_thread::sleep_for(kAskEvery);
    }
  }

  // The highest commit number among this instance's records after `from` (0: none).
  std::int64_t last_own_seq(const std::map<std::int32_t, std::int64_t>& from) {
    create_consumer();
    const std::int32_t partitions = partition_count();
    std::vector<RdKafka::TopicPartition*> parts;
    for (std::int32_t p = 0; p < partitions; ++p) {
      const auto stored = from.find(p);
      parts.push_back(RdKafka::TopicPartition::create(
          topic(), p, stored == from.end() ? RdKafka::Topic::OFFSET_BEGINNING : stored->second));
    }
    const auto err = consumer_->assign(parts);
    RdKafka::TopicPartition::destroy(parts);
    if (err != RdKafka::ERR_NO_ERROR) {
      throw BrokerUnavailable("start: cannot assign " + topic() + ": " + kafka_code_name(err));
    }
    std::set<std::int32_t> ended;
    std::int64_t last = 0;
    while (static_cast<std::int32_t>(ended.size()) < partitions) {
      if (SteadyClock::now() >= deadline_) {
        throw BrokerUnavailable("start: the end of " + topic() + " was not reached in time" +
                                (last_error_.empty() ? "" : " (" + last_error_ + ")"));
      }
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(millis_left(deadline_)));
      if (m->err() == RdKafka::ERR__PARTITION_EOF) {
        ended.insert(m->partition());
      } else if (m->err() == RdKafka::ERR_NO_ERROR && m->payload() != nullptr) {
        ended.erase(m->partition());
        const std::string_view value(static_cast<const char*>(m->payload()), m->len());
        auto record = decode_state_record(value);
        if (record && record.value->by == config_.cluster.instance_id) {
          last = std::max(last, record.value->seq);
        }
      }
    }
    consumer_->close();
    return last;
  }

 private:
  const std::string& topic() const { return config_.cluster.state_topic; }

  void create_consumer() {
    auto defaults = kafka_common_defaults();
    defaults["client.id"] = "incidentd-start";
    const std::map<std::string, std::string> managed = {
        {"bootstrap.servers", config_.kafka.brokers},
        // Never joined (assign(), no subscription); nothing is committed to it.
        {"group.id", "incidentd-replica-" + config_.cluster.instance_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"isolation.level", "read_committed"},
        {"enable.partition.eof", "true"},
    };
    auto conf = make_kafka_conf(config_.kafka, defaults, managed, events_);
    std::string error;
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
    if (!consumer_) throw KafkaSetupError("start: cannot create a consumer: " + error);
  }

  std::int32_t partition_count() {
    std::string error;
    std::unique_ptr<RdKafka::Topic> handle(
        RdKafka::Topic::create(consumer_.get(), topic(), nullptr, error));
    while (handle) {
      RdKafka::Metadata* raw = nullptr;
      const auto err = consumer_->metadata(false, handle.get(), &raw, millis_left(deadline_));
      std::unique_ptr<RdKafka::Metadata> metadata(raw);
      if (err == RdKafka::ERR_NO_ERROR) {
        for (const auto* t : *metadata->topics()) {
          if (t->topic() == topic() && t->err() == RdKafka::ERR_NO_ERROR &&
              !t->partitions()->empty()) {
            return static_cast<std::int32_t>(t->partitions()->size());
          }
        }
      }
      if (SteadyClock::now() >= deadline_) break;
      std::this_thread::sleep_for(kAskEvery);
    }
    throw BrokerUnavailable("start: cannot learn the partitions of " + topic() + " " + error);
  }

  const Config& config_;
  const SteadyClock::time_point deadline_;
  KafkaHooks hooks_;
  KafkaEventRelay events_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::string last_error_;
};

}  // namespace

std::optional<UnpublishedCommits> resolve_unpublished_commits(const Config& config,
                                                              Duration patience) {
  if (!config.cluster.enabled()) return std::nullopt;
  SqliteStore store(config.database, SqliteStore::Mode::replica);
  const auto pending = store.commit_journal_pending();
  if (pending.commits == 0) return std::nullopt;
  spdlog::info(
      "start: {} commit(s) of the last run (numbers {} to {}) may not have reached {}: reading it",
      pending.commits, pending.first, pending.last, config.cluster.state_topic);
  TopicScan scan(config, SteadyClock::now() + patience);
  scan.fence_last_run();
  const auto positions =
      store.replica_log(config.cluster.instance_id)->replica_positions(config.cluster.state_topic);
  UnpublishedCommits out;
  out.published_through = scan.last_own_seq(positions);
  out.rolled_back = store.roll_back_commits_after(out.published_through);
  out.published = pending.commits - out.rolled_back.commits;
  if (out.rolled_back.commits == 0) {
    spdlog::info("start: every commit of the last run is on {}", config.cluster.state_topic);
    return out;
  }
  spdlog::warn(
      "start: {} commit(s) of the last run never reached {} (killed before their Kafka "
      "transaction): undone in {}, {} incident(s) touched, {} change(s) passed over; their inputs "
      "are redelivered and their steps fire again under the owner",
      out.rolled_back.commits, config.cluster.state_topic, config.database,
      out.rolled_back.incidents.size(), out.rolled_back.conflicts);
  return out;
}

}  // namespace incidentd
