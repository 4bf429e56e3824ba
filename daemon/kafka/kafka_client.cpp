#include "kafka/kafka_client.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <utility>

#include "kafka/kafka_conf.hpp"
#include "service/thread_name.hpp"

namespace incidentd {
namespace {

using SteadyClock = std::chrono::steady_clock;

int millis(Duration d) {
  return static_cast<int>(std::clamp<Duration::rep>(d.count(), 0, Duration::rep{24} * 3600 * 1000));
}

std::vector<PartitionOffset> to_offsets(const std::vector<RdKafka::TopicPartition*>& parts) {
  std::vector<PartitionOffset> out;
  out.reserve(parts.size());
  for (const auto* p : parts) out.push_back({p->topic(), p->partition(), p->offset()});
  return out;
}

TxnResult translate(RdKafka::Error* raw) {
  if (raw == nullptr) return std::nullopt;
  std::unique_ptr<RdKafka::Error> error(raw);
  TxnError out;
  out.message = error->name() + ": " + error->str();
  const auto code = error->code();
  out.membership_lost = code == RdKafka::ERR_UNKNOWN_MEMBER_ID ||
                        code == RdKafka::ERR_ILLEGAL_GENERATION ||
                        code == RdKafka::ERR_FENCED_INSTANCE_ID;
  if (code == RdKafka::ERR_FENCED_INSTANCE_ID) {
    // The group gave this consumer's group.instance.id to another join: a second process with
    // the same cluster.instance_id, or this consumer's own rejoin after librdkafka timed its
    // session out (librdkafka #3437). The producer can do no more either way; the pipeline
    // tells the two apart (consumer_rebuild.hpp).
    out.kind = TxnError::Kind::fatal;
    out.instance_fenced = true;
  } else if (error->is_fatal()) {
    out.kind = TxnError::Kind::fatal;
  } else if (error->is_retriable() && !error->txn_requires_abort()) {
    out.kind = TxnError::Kind::retriable;
  } else {
    out.kind = TxnError::Kind::abortable;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Consumer

struct KafkaConsumer::Impl final : public RdKafka::RebalanceCb {
  explicit Impl(KafkaHooks h) : hooks(std::move(h)), events(hooks) {}

  void rebalance_cb(RdKafka::KafkaConsumer* client, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    const bool cooperative = client->rebalance_protocol() == "COOPERATIVE";
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (cooperative) {
        delete client->incremental_assign(partitions);
      } else {
        client->assign(partitions);
        owned.clear();
      }
      for (const auto* p : partitions) owned.emplace(p->topic(), p->partition());
      if (paused) client->pause(partitions);
      assigned = owned.size();
      if (hooks.assigned) hooks.assigned(to_offsets(partitions));
      return;
    }
    if (err != RdKafka::ERR__REVOKE_PARTITIONS && hooks.error) {
      hooks.error(kafka_code_name(err), "rebalance failed; dropping the assignment", false);
    }
    if (hooks.revoking) hooks.revoking(to_offsets(partitions));
    if (cooperative && err == RdKafka::ERR__REVOKE_PARTITIONS) {
      delete client->incremental_unassign(partitions);
      for (const auto* p : partitions) owned.erase({p->topic(), p->partition()});
    } else {
      client->unassign();
      owned.clear();
    }
    assigned = owned.size();
    revoked = true;
  }

  KafkaHooks hooks;
  KafkaEventRelay events;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::set<std::pair<std::string, std::int32_t>> owned;  // the consumer thread's
  std::atomic<std::size_t> assigned{0};
  bool revoked = false;  // during the current poll()
  bool closed = false;
  bool paused = false;  // pause(): partitions assigned meanwhile start paused
};

KafkaConsumer::KafkaConsumer(const KafkaSettings& settings, KafkaHooks hooks,
                             const std::map<std::string, std::string>& membership)
    : impl_(std::make_unique<Impl>(std::move(hooks))) {
  auto defaults = kafka_common_defaults();
  defaults.insert({
      // A group that never committed starts at the beginning: events published before the
      // daemon's first start must not be skipped.
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      // A subscribed topic created after the start is picked up within this (default 5 min).
      {"topic.metadata.refresh.interval.ms", "30000"},
  });
  std::map<std::string, std::string> managed = {
      {"bootstrap.servers", settings.brokers},
      {"group.id", settings.group},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
  };
  managed.insert(membership.begin(), membership.end());
  auto conf = make_kafka_conf(settings, defaults, managed, impl_->events);
  std::string error;
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(impl_.get()), error) !=
      RdKafka::Conf::CONF_OK) {
    throw KafkaSetupError("kafka: rebalance_cb: " + error);
  }
  impl_->consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!impl_->consumer) throw KafkaSetupError("kafka: cannot create the consumer: " + error);
  impl_->events.attach(impl_->consumer.get());
}

KafkaConsumer::~KafkaConsumer() {
  if (impl_ && impl_->consumer && !impl_->closed) impl_->consumer->close();
}

void KafkaConsumer::subscribe(const std::vector<std::string>& topics) {
  const RdKafka::ErrorCode err = impl_->consumer->subscribe(topics);
  if (err != RdKafka::ERR_NO_ERROR) {
    throw KafkaSetupError("kafka: cannot subscribe: " + RdKafka::err2str(err));
  }
}

std::vector<KafkaRecord> KafkaConsumer::poll(std::size_t max, Duration wait) {
  std::vector<KafkaRecord> out;
  impl_->revoked = false;
  const auto deadline = SteadyClock::now() + wait;
  while (out.size() < max) {
    // After the first message only what librdkafka already holds: consume(0) does not wait.
    const auto left = out.empty()
                          ? std::chrono::duration_cast<Duration>(deadline - SteadyClock::now())
                          : Duration::zero();
    std::unique_ptr<RdKafka::Message> m(impl_->consumer->consume(millis(left)));
    const RdKafka::ErrorCode err = m->err();
    if (err == RdKafka::ERR_NO_ERROR) {
      KafkaRecord r;
      r.topic = m->topic_name();
      r.partition = m->partition();
      r.offset = m->offset();
      if (m->key_pointer() != nullptr) {
        r.key.emplace(static_cast<const char*>(m->key_pointer()), m->key_len());
      }
      if (m->payload() != nullptr) r.value.assign(static_cast<const char*>(m->payload()), m->len());
      if (out.empty()) out.reserve(std::min<std::size_t>(max, 4096));
      out.push_back(std::move(r));
      continue;
    }
    if (err == RdKafka::ERR__TIMED_OUT) {
      if (!out.empty() || SteadyClock::now() >= deadline) break;
      continue;
    }
    if (err == RdKafka::ERR__PARTITION_EOF) continue;
    if (impl_->hooks.error) {
      if (err == RdKafka::ERR__FATAL) {
        const auto [code, why] = fatal_cause(*impl_->consumer, m->errstr());
        impl_->hooks.error(code, why, true);
      } else {
        impl_->hooks.error(kafka_code_name(err), m->errstr(), false);
      }
    }
    if (err == RdKafka::ERR__FATAL || !out.empty() || SteadyClock::now() >= deadline) break;
  }
  if (impl_->revoked) {
    // Taken before a revocation: whoever owns these partitions now reads them again.
    std::erase_if(out, [this](const KafkaRecord& r) {
      return !impl_->owned.contains({r.topic, r.partition});
    });
  }
  return out;
}

void KafkaConsumer::pause() {
  impl_->paused = true;
  std::vector<RdKafka::TopicPartition*> parts;
  if (impl_->consumer->assignment(parts) == RdKafka::ERR_NO_ERROR && !parts.empty()) {
    impl_->consumer->pause(parts);
  }
  RdKafka::TopicPartition::destroy(parts);
}

void KafkaConsumer::resume() {
  impl_->paused = false;
  std::vector<RdKafka::TopicPartition*> parts;
  if (impl_->consumer->assignment(parts) == RdKafka::ERR_NO_ERROR && !parts.empty()) {
    impl_->consumer->resume(parts);
  }
  RdKafka::TopicPartition::destroy(parts);
}

std::size_t KafkaConsumer::assigned_partitions() const {
  return impl_->assigned;
}

std::optional<std::int64_t> KafkaConsumer::lag() {
  std::vector<RdKafka::TopicPartition*> parts;
  if (impl_->consumer->assignment(parts) != RdKafka::ERR_NO_ERROR) return std::nullopt;
  std::optional<std::int64_t> total;
  if (impl_->consumer->position(parts) == RdKafka::ERR_NO_ERROR) {
    for (const auto* p : parts) {
      std::int64_t low = -1;
      std::int64_t high = -1;
      if (p->offset() < 0) continue;
      if (impl_->consumer->get_watermark_offsets(p->topic(), p->partition(), &low, &high) !=
              RdKafka::ERR_NO_ERROR ||
          high < 0) {
        continue;
      }
      total = total.value_or(0) + std::max<std::int64_t>(0, high - p->offset());
    }
  }
  RdKafka::TopicPartition::destroy(parts);
  return total;
}

void KafkaConsumer::close() {
  if (impl_->closed) return;
  impl_->consumer->close();
  impl_->closed = true;
}

bool KafkaConsumer::fenced() const {
  std::string why;
  return impl_->consumer->fatal_error(why) == RdKafka::ERR_FENCED_INSTANCE_ID;
}

// ---------------------------------------------------------------------------------------------
// Transactional producer

struct TransactionalProducer::Impl {
  explicit Impl(KafkaHooks h) : hooks(std::move(h)), events(hooks) {}
  KafkaHooks hooks;
  KafkaEventRelay events;
  std::unique_ptr<RdKafka::Producer> producer;
};

TransactionalProducer::TransactionalProducer(const KafkaSettings& settings,
                                             const std::string& transactional_id, KafkaHooks hooks,
                                             const std::map<std::string, std::string>& cluster)
    : impl_(std::make_unique<Impl>(std::move(hooks))) {
  auto defaults = kafka_common_defaults();
  // Dead letters are rare; a short linger still groups those of one batch.
  defaults.insert({"linger.ms", "5"});
  std::map<std::string, std::string> managed = {
      {"bootstrap.servers", settings.brokers},
      {"transactional.id", transactional_id},
      {"enable.idempotence", "true"},
  };
  managed.insert(cluster.begin(), cluster.end());
  auto conf = make_kafka_conf(settings, defaults, managed, impl_->events);
  std::string error;
  impl_->producer.reset(RdKafka::Producer::create(conf.get(), error));
  if (!impl_->producer) throw KafkaSetupError("kafka: cannot create the producer: " + error);
  impl_->events.attach(impl_->producer.get());
}

TransactionalProducer::~TransactionalProducer() {
  if (impl_ && impl_->producer) {
    // Whatever is still queued belongs to a transaction that will not commit.
    impl_->producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  }
}

TxnResult TransactionalProducer::init(Duration timeout) {
  return translate(impl_->producer->init_transactions(millis(timeout)));
}

TxnResult TransactionalProducer::begin() {
  return translate(impl_->producer->begin_transaction());
}

TxnResult TransactionalProducer::produce(const std::string& topic,
                                         const std::optional<std::string>& key,
                                         const std::string& value) {
  const auto give_up = SteadyClock::now() + std::chrono::seconds(30);
  for (;;) {
    const RdKafka::ErrorCode err = impl_->producer->produce(
        topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
        const_cast<char*>(value.data()), value.size(), key ? key->data() : nullptr,
        key ? key->size() : 0, 0, nullptr);
    impl_->producer->poll(0);
    if (err == RdKafka::ERR_NO_ERROR) return std::nullopt;
    if (err == RdKafka::ERR__QUEUE_FULL && SteadyClock::now() < give_up) {
      impl_->producer->poll(100);
      continue;
    }
    const auto kind =
        err == RdKafka::ERR__FATAL ? TxnError::Kind::fatal : TxnError::Kind::abortable;
    return TxnError{kind, kafka_code_name(err) + ": " + RdKafka::err2str(err)};
  }
}

TxnResult TransactionalProducer::send_offsets(const std::vector<PartitionOffset>& offsets,
                                              KafkaConsumerPort& consumer_port, Duration timeout) {
  // A real producer paired with another kind of consumer is a wiring bug, not a Kafka failure.
  auto& consumer = dynamic_cast<KafkaConsumer&>(consumer_port);
  std::vector<RdKafka::TopicPartition*> parts;
  parts.reserve(offsets.size());
  for (const auto& o : offsets) {
    parts.push_back(RdKafka::TopicPartition::create(o.topic, o.partition, o.offset));
  }
  std::unique_ptr<RdKafka::ConsumerGroupMetadata> metadata(
      consumer.impl_->consumer->groupMetadata());
  auto result = translate(
      impl_->producer->send_offsets_to_transaction(parts, metadata.get(), millis(timeout)));
  RdKafka::TopicPartition::destroy(parts);
  return result;
}

TxnResult TransactionalProducer::commit() {
  return translate(impl_->producer->commit_transaction(-1));
}

TxnResult TransactionalProducer::abort() {
  return translate(impl_->producer->abort_transaction(-1));
}

// ---------------------------------------------------------------------------------------------
// Event publisher

struct EventPublisher::Impl final : public RdKafka::DeliveryReportCb {
  explicit Impl(KafkaHooks h) : hooks(std::move(h)), events(hooks) {}

  void dr_cb(RdKafka::Message& message) override {
    std::unique_ptr<Done> done(static_cast<Done*>(message.msg_opaque()));
    if (!done) return;
    PublishResult r;
    r.topic = message.topic_name();
    if (message.err() == RdKafka::ERR_NO_ERROR) {
      r.ok = true;
      r.partition = message.partition();
      r.offset = message.offset();
    } else {
      r.error = kafka_code_name(message.err()) + ": " + message.errstr();
    }
    (*done)(r);
  }

  KafkaHooks hooks;
  KafkaEventRelay events;
  std::unique_ptr<RdKafka::Producer> producer;
  std::thread poller;
  std::atomic<bool> stop{false};
};

EventPublisher::EventPublisher(const KafkaSettings& settings, Duration delivery_timeout,
                               KafkaHooks hooks, const std::map<std::string, std::string>& cluster)
    : impl_(std::make_unique<Impl>(std::move(hooks))) {
  auto defaults = kafka_common_defaults();
  defaults["client.id"] = "incidentd-publisher";
  // One message now and then, by a person waiting for the answer: send it at once.
  defaults["linger.ms"] = "0";
  std::map<std::string, std::string> managed = {
      {"bootstrap.servers", settings.brokers},
      // Written once, in order, on every in-sync replica before it counts as published.
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"message.timeout.ms", std::to_string(std::max(millis(delivery_timeout), 1))},
  };
  managed.insert(cluster.begin(), cluster.end());
  auto conf = make_kafka_conf(settings, defaults, managed, impl_->events);
  std::string error;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(impl_.get()), error) !=
      RdKafka::Conf::CONF_OK) {
    throw KafkaSetupError("kafka: dr_cb: " + error);
  }
  impl_->producer.reset(RdKafka::Producer::create(conf.get(), error));
  if (!impl_->producer) throw KafkaSetupError("kafka: cannot create the producer: " + error);
}

EventPublisher::~EventPublisher() {
  if (!impl_ || !impl_->producer) return;
  impl_->stop = true;
  if (impl_->poller.joinable()) impl_->poller.join();
  impl_->producer->flush(2000);
  // Whatever is left is reported failed (ERR__PURGE_*) to its caller by this last poll.
  impl_->producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  impl_->producer->poll(0);
}

void EventPublisher::publish(const std::string& topic, const std::string& key,
                             const std::string& value, Done done) {
  auto opaque = std::make_unique<Done>(std::move(done));
  const RdKafka::ErrorCode err = impl_->producer->produce(
      topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
      const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0, opaque.get());
  if (err == RdKafka::ERR_NO_ERROR) {
    (void)opaque.release();  // dr_cb owns it now
    return;
  }
  PublishResult r;
  r.topic = topic;
  r.error = kafka_code_name(err) + ": " + RdKafka::err2str(err);
  (*opaque)(r);
}

void EventPublisher::flush(Duration timeout) {
  impl_->producer->flush(millis(timeout));
}

void EventPublisher::start_polling() {
  if (impl_->poller.joinable()) return;
  impl_->poller = std::thread([impl = impl_.get()] {
    name_this_thread("kafka-publish");
    while (!impl->stop) impl->producer->poll(200);
  });
}

}  // namespace incidentd
