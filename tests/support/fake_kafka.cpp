// Kafka in memory, with faults on purpose (fake_kafka.hpp).
#include "support/fake_kafka.hpp"

#include <algorithm>
#include <memory>

namespace incidentd::testing {

class FakeKafka::Consumer final : public KafkaConsumerPort {
 public:
  Consumer(FakeKafka& kafka, KafkaHooks hooks) : kafka_(kafka), hooks_(std::move(hooks)) {}

  void subscribe(const std::vector<std::string>& /*topics*/) override {}
  std::vector<KafkaRecord> poll(std::size_t max, Duration wait) override {
    return kafka_.poll(max, wait, hooks_);
  }
  void pause() override { kafka_.paused_ = true; }
  void resume() override { kafka_.paused_ = false; }
  std::size_t assigned_partitions() const override { return kafka_.assignment_.size(); }
  std::optional<std::int64_t> lag() override { return std::nullopt; }
  void close() override {
    if (kafka_.closed_) return;
    if (!kafka_.assignment_.empty() && hooks_.revoking) {
      std::vector<PartitionOffset> parts;
      for (const auto& [topic, partition] : kafka_.assignment_) parts.push_back({topic, partition});
      hooks_.revoking(parts);
    }
    kafka_.assignment_.clear();
    kafka_.closed_ = true;
  }
  bool fenced() const override { return kafka_.fenced_; }

 private:
  FakeKafka& kafka_;
  KafkaHooks hooks_;
};

class FakeKafka::Producer final : public TransactionalProducerPort {
 public:
  Producer(FakeKafka& kafka, std::size_t clients) : kafka_(kafka), clients_(clients) {}

  // As the coordinator does: what an earlier producer with the same id left open is aborted.
  TxnResult init(Duration timeout) override {
    kafka_.init_timeouts_.push_back(timeout);
    if (auto f = fault(Call::init)) return f;
    if (auto* txn = kafka_.open_transaction()) txn->fate = Transaction::Fate::aborted;
    return std::nullopt;
  }
  TxnResult begin() override {
    if (auto f = fault(Call::begin)) return f;
    if (kafka_.open_transaction() != nullptr) kafka_.violations_.emplace_back("begin: one is open");
    kafka_.transactions_.emplace_back();
    kafka_.transactions_.back().clients = clients_;
    return std::nullopt;
  }
  TxnResult produce(const std::string& topic, const std::optional<std::string>& key,
                    const std::string& value) override {
    if (auto f = fault(Call::produce)) return f;
    if (auto* txn = kafka_.open_transaction()) {
      txn->letters.push_back({key, value, topic});
    } else {
      kafka_.violations_.emplace_back("produce: no transaction begun");
    }
    return std::nullopt;
  }
  TxnResult send_offsets(const std::vector<PartitionOffset>& offsets, KafkaConsumerPort& consumer,
                         Duration /*timeout*/) override {
    if (auto f = fault(Call::send_offsets)) return f;
    if (dynamic_cast<Consumer*>(&consumer) == nullptr) {
      kafka_.violations_.emplace_back("send_offsets: not the fake's consumer");
    }
    auto* txn = kafka_.open_transaction();
    if (txn == nullptr) {
      kafka_.violations_.emplace_back("send_offsets: no transaction begun");
      return std::nullopt;
    }
    txn->offsets.clear();
    for (const auto& o : offsets) txn->offsets[{o.topic, o.partition}] = o.offset;
    return std::nullopt;
  }
  TxnResult commit() override {
    if (auto f = fault(Call::commit)) return f;
    auto* txn = kafka_.open_transaction();
    if (txn == nullptr) {
      kafka_.violations_.emplace_back("commit: no transaction begun");
      return std::nullopt;
    }
    txn->fate = Transaction::Fate::committed;
    for (const auto& letter : txn->letters) kafka_.letters_.push_back(letter);
    for (const auto& [tp, next] : txn->offsets) {
      auto& stored = kafka_.committed_[tp];
      stored = std::max(stored, next);
    }
    if (kafka_.on_commit_) kafka_.on_commit_(*txn);
    return std::nullopt;
  }
  TxnResult abort() override {
    if (auto f = fault(Call::abort)) return f;
    if (auto* txn = kafka_.open_transaction()) {
      txn->fate = Transaction::Fate::aborted;
    } else {
      kafka_.violations_.emplace_back("abort: no transaction begun");
    }
    return std::nullopt;
  }

 private:
  // A producer that was told it is fenced stays fenced, as librdkafka's does.
  TxnResult fault(Call call) {
    if (fenced_) {
      kafka_.calls_.push_back(call);
      return TxnError{TxnError::Kind::fatal, "PRODUCER_FENCED: fenced (already)"};
    }
    auto f = kafka_.fault(call);
    if (f && f->kind == TxnError::Kind::fatal) fenced_ = true;
    return f;
  }

  FakeKafka& kafka_;
  const std::size_t clients_;
  bool fenced_ = false;
};

std::vector<FakeKafka::Letter> FakeKafka::committed_on(const std::string& topic) const {
  std::vector<Letter> out;
  for (const auto& letter : letters_) {
    if (letter.topic == topic) out.push_back(letter);
  }
  return out;
}

std::int64_t FakeKafka::append(const std::string& topic, std::int32_t partition, std::string value,
                               std::optional<std::string> key) {
  auto& log = log_[{topic, partition}];
  KafkaRecord r;
  r.topic = topic;
  r.partition = partition;
  r.offset = static_cast<std::int64_t>(log.size());
  r.key = std::move(key);
  r.value = std::move(value);
  log.push_back(std::move(r));
  visible_at_[{topic, partition}].push_back(now_);
  return log.back().offset;
}

std::int64_t FakeKafka::append_after(Duration after, const std::string& topic,
                                     std::int32_t partition, std::string value) {
  const auto offset = append(topic, partition, std::move(value));
  visible_at_[{topic, partition}].back() = now_ + after;
  return offset;
}

std::optional<FakeKafka::Clock::time_point> FakeKafka::next_arrival() const {
  std::optional<Clock::time_point> next;
  for (const auto& tp : assignment_) {
    const auto position = position_.find(tp);
    const auto at = visible_at_.find(tp);
    if (position == position_.end() || at == visible_at_.end()) continue;
    const auto i = static_cast<std::size_t>(position->second);
    if (i < at->second.size() && (!next || at->second[i] < *next)) next = at->second[i];
  }
  return next;
}

KafkaClientFactory FakeKafka::clients(std::vector<TopicPartition> assignment) {
  return [this, assignment = std::move(assignment)](const KafkaHooks& hooks) {
    group_assignment_ = assignment;
    if (group_assignment_.empty()) {
      for (const auto& [tp, log] : log_) group_assignment_.push_back(tp);
    }
    assignment_.clear();
    assigned_ = false;
    paused_ = false;
    closed_ = false;
    fenced_ = false;
    position_.clear();
    KafkaClients c;
    c.consumer = std::make_unique<Consumer>(*this, hooks);
    c.producer = std::make_unique<Producer>(*this, ++clients_built_);
    return c;
  };
}

void FakeKafka::fail_next(Call call, const TxnError& error, int times) {
  for (int i = 0; i < times; ++i) faults_[call].push_back(error);
}

void FakeKafka::poll_error(int poll, std::string code, std::string message, bool fatal) {
  PollFault f;
  f.poll = polls_ + static_cast<std::size_t>(poll);
  f.error.emplace(std::move(code), std::move(message));
  f.fatal = fatal;
  poll_faults_.push_back(std::move(f));
}

void FakeKafka::revoke(int poll, std::vector<TopicPartition> partitions, std::size_t after) {
  PollFault f;
  f.poll = polls_ + static_cast<std::size_t>(poll);
  f.revoke = std::move(partitions);
  f.after = after;
  poll_faults_.push_back(std::move(f));
}

void FakeKafka::session_timeout(int poll) {
  PollFault f;
  f.poll = polls_ + static_cast<std::size_t>(poll);
  f.session_timeout = true;
  poll_faults_.push_back(std::move(f));
}

void FakeKafka::fence(int poll) {
  PollFault f;
  f.poll = polls_ + static_cast<std::size_t>(poll);
  f.fence = true;
  poll_faults_.push_back(std::move(f));
}

TxnResult FakeKafka::fault(Call call) {
  calls_.push_back(call);
  auto& queue = faults_[call];
  if (queue.empty()) return std::nullopt;
  TxnError e = queue.front();
  queue.erase(queue.begin());
  return e;
}

FakeKafka::Transaction* FakeKafka::open_transaction() {
  if (transactions_.empty() || transactions_.back().fate != Transaction::Fate::open) return nullptr;
  return &transactions_.back();
}

void FakeKafka::assign(const KafkaHooks& hooks) {
  assigned_ = true;
  assignment_ = group_assignment_;
  std::vector<PartitionOffset> parts;
  for (const auto& tp : assignment_) {
    const auto it = committed_.find(tp);
    position_[tp] = it == committed_.end() ? 0 : it->second;
    parts.push_back({tp.first, tp.second, position_[tp]});
  }
  if (hooks.assigned) hooks.assigned(parts);
}

bool FakeKafka::group_faults(const KafkaHooks& hooks) {
  for (const auto& f : poll_faults_) {
    if (f.poll != polls_) continue;
    if (f.session_timeout) {
      if (hooks.log) {
        hooks.log(4, "SESSTMOUT",
                  "Consumer group session timed out (in join-state steady) after 6000 ms "
                  "without a successful response from the group coordinator: revoking "
                  "assignment and rejoining group");
      }
      std::vector<PartitionOffset> parts;
      for (const auto& [topic, partition] : assignment_) parts.push_back({topic, partition});
      if (!parts.empty() && hooks.revoking) hooks.revoking(parts);
      assignment_.clear();
      position_.clear();
      assigned_ = false;  // the next poll rejoins
    }
    if (f.fence) {
      fenced_ = true;
      if (hooks.error) {
        hooks.error("FENCED_INSTANCE_ID",
                    "Fatal consumer error: Broker: Static consumer fenced by other consumer with "
                    "same group.instance.id",
                    true);
      }
      return true;
    }
  }
  return false;
}

std::vector<KafkaRecord> FakeKafka::poll(std::size_t max, Duration wait, const KafkaHooks& hooks) {
  ++polls_;
  if (!assigned_) assign(hooks);
  if (group_faults(hooks)) return {};
  const PollFault* now = nullptr;
  for (const auto& f : poll_faults_) {
    if (f.poll == polls_ && (f.error || !f.revoke.empty())) now = &f;
  }
  if (now != nullptr && now->error) {
    if (hooks.error) hooks.error(now->error->first, now->error->second, now->fatal);
    return {};
  }
  if (paused_) return {};
  // Waits for the first message as a client would, on the fake's clock.
  const auto arrival = next_arrival();
  now_ = arrival && *arrival <= now_ + wait ? std::max(now_, *arrival) : now_ + wait;

  std::vector<KafkaRecord> out;
  bool revoked = now == nullptr || now->revoke.empty();
  const auto revoke_if_due = [&](std::size_t after) {
    if (revoked || out.size() < after) return;
    revoked = true;
    std::vector<PartitionOffset> parts;
    for (const auto& [topic, partition] : now->revoke) parts.push_back({topic, partition});
    if (hooks.revoking) hooks.revoking(parts);
    for (const auto& tp : now->revoke) {
      std::erase(assignment_, tp);
      position_.erase(tp);
    }
    std::erase_if(out, [&](const KafkaRecord& r) {
      return std::find(now->revoke.begin(), now->revoke.end(),
                       TopicPartition{r.topic, r.partition}) != now->revoke.end();
    });
  };
  // Round robin over the assigned partitions, one message at a time.
  std::size_t next = 0;
  const std::size_t after = now == nullptr ? 0 : now->after;
  revoke_if_due(after);
  while (out.size() < max) {
    bool took = false;
    for (std::size_t n = 0; n < assignment_.size() && !took; ++n) {
      const auto& tp = assignment_[(next + n) % assignment_.size()];
      auto& position = position_[tp];
      const auto& log = log_[tp];
      if (position < static_cast<std::int64_t>(log.size()) &&
          visible_at_[tp][static_cast<std::size_t>(position)] <= now_) {
        out.push_back(log[static_cast<std::size_t>(position)]);
        ++position;
        next = next + n + 1;
        took = true;
      }
    }
    if (!took) break;
    revoke_if_due(after);
  }
  revoke_if_due(0);  // fewer messages than `after`: the revocation ends the poll
  delivered_.insert(delivered_.end(), out.begin(), out.end());
  if (out.empty() && on_idle_) on_idle_();
  return out;
}

}  // namespace incidentd::testing
