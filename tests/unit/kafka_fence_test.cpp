// A fenced consumer with [cluster] on (kafka/consumer_rebuild.hpp), on the fake Kafka
// (tests/support/fake_kafka.hpp): when the group fences the consumer's group.instance.id after
// the client timed its own session out (librdkafka #3437), the pipeline does not stop: it gives
// back what it had not committed, its partitions are revoked, new clients are built through the
// same factory, assigned again, and consumption goes on; no offset is committed that is not
// durable, and nothing the fenced clients began is committed. A fence with no session time-out
// of its own (a second process with the same instance_id), or one fence too many, stops it as
// before. The engine runs inline on the consumer thread; the fake stops the Ingest once
// everything is committed.
#include "kafka/consumer_rebuild.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/virtual_time.hpp"
#include "incidentd/engine.hpp"
#include "kafka/ingest.hpp"
#include "kafka/kafka_health.hpp"
#include "kafka/state_changelog.hpp"
#include "support/fake_kafka.hpp"
#include "support/memory_store.hpp"
#include "support/test_config.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;
using testing::FakeKafka;
using Call = FakeKafka::Call;
using Fate = FakeKafka::Transaction::Fate;
using Offsets = std::map<FakeKafka::TopicPartition, std::int64_t>;
using SteadyClock = std::chrono::steady_clock;

const std::string kEvents = "opinion.events";
const TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 26} + 1h + 5min;

std::string event_json(const std::string& id, const std::string& key) {
  return nlohmann::json{{"schema", 1},         {"event_id", id},
                        {"incident_key", key}, {"kind", "detected"},
                        {"level", "II"},       {"lead_unit", "a"},
                        {"units", {"a", "b"}}, {"detected_at", "2026-11-26T09:00:00+08:00"}}
      .dump();
}

Config cluster_config() {
  Config config = testing::small_config();
  config.cluster.instance_id = "node-a";
  return config;
}

// Six events, three on each of partitions 0 and 1: "e0".."e5", incidents "inc-0".."inc-5".
struct Events {
  explicit Events(FakeKafka& kafka) {
    for (int i = 0; i < 6; ++i) {
      const std::string n = std::to_string(i);
      const std::int32_t partition = i % 2;
      const auto offset = kafka.append(kEvents, partition, event_json("e" + n, "inc-" + n));
      ids[{kEvents, partition}].push_back("e" + n);
      REQUIRE(offset == static_cast<std::int64_t>(ids[{kEvents, partition}].size()) - 1);
    }
  }
  const Offsets all = {{{kEvents, 0}, 3}, {{kEvents, 1}, 3}};
  std::map<FakeKafka::TopicPartition, std::vector<std::string>> ids;  // by offset
};

// One daemon's life on the fake until everything is committed (or it stops, or 40 polls).
struct Run {
  bool ok = false;
  IngestStats stats;
  std::vector<std::string> rebalances;   // "+" assigned, "-" revoked, with the partition count
  std::vector<std::string> not_durable;  // committed offsets whose message was not durable
};

// `changelog`: [cluster]'s state topic, fed by the engine's commits.
Run consume(FakeKafka& kafka, testing::MemoryStore& store, const Events& events,
            const Config& config, IngestOptions options = {}, StateChangelog* changelog = nullptr) {
  VirtualTime time(kNow);
  std::optional<ChangelogStore> recorded;
  if (changelog != nullptr) recorded.emplace(store, *changelog);
  Engine engine(config, recorded ? static_cast<Store&>(*recorded) : store, time);
  options.state_changelog = changelog;
  Run run;
  options.max_batch = 2;
  options.commit_every = 0s;
  options.checkpoint_every = 0s;
  options.stop_commit_grace = 1h;
  options.backoff_for_test = [](Duration) {};
  options.on_assigned = [&run](const std::vector<PartitionOffset>& parts) {
    run.rebalances.push_back("+" + std::to_string(parts.size()));
  };
  options.on_revoked = [&run](const std::vector<PartitionOffset>& parts) {
    run.rebalances.push_back("-" + std::to_string(parts.size()));
  };
  // Every offset a transaction commits is after messages the store already holds.
  kafka.on_commit([&](const FakeKafka::Transaction& txn) {
    for (const auto& [tp, next] : txn.offsets) {
      const auto& ids = events.ids.at(tp);
      for (std::int64_t i = 0; i < next; ++i) {
        const auto& id = ids.at(static_cast<std::size_t>(i));
        if (store.processed().count(id) == 0) run.not_durable.push_back(id);
      }
    }
  });
  Ingest ingest(
      config, engine, [](std::function<void()> work) { work(); }, options, kafka.clients());
  kafka.on_idle([&] {
    if (kafka.committed_offsets() == events.all || kafka.polls() > 40) ingest.request_stop();
  });
  ingest.start([&run](bool ok) { run.ok = ok; });
  ingest.join();
  run.stats = ingest.stats();
  kafka.on_idle({});
  kafka.on_commit({});
  return run;
}

std::size_t opened(const testing::MemoryStore& store, const std::string& key) {
  std::size_t n = 0;
  for (const auto& a : store.timeline()) {
    if (a.incident_key == key && a.kind == ActionKind::incident_opened) ++n;
  }
  return n;
}

std::size_t deliveries(const FakeKafka& kafka, std::int32_t partition, std::int64_t offset) {
  std::size_t n = 0;
  for (const auto& r : kafka.delivered()) {
    if (r.topic == kEvents && r.partition == partition && r.offset == offset) ++n;
  }
  return n;
}

// Nothing a fenced pair of clients began was committed: their transactions were aborted.
void check_first_clients_committed_nothing(const FakeKafka& kafka, std::size_t fenced_pairs) {
  for (const auto& txn : kafka.transactions()) {
    if (txn.clients <= fenced_pairs) CHECK(txn.fate != Fate::committed);
  }
}

TEST_CASE(
    "fenced by its own rejoin after a session time-out (librdkafka #3437): the consumer is "
    "rebuilt in place, revoked then assigned again, and consumption goes on") {
  FakeKafka kafka;
  testing::MemoryStore store;
  const Events events(kafka);
  // Poll 1 takes e0 and e1. Poll 2: the client times its session out, every partition is
  // revoked, and the revocation's commit is refused (the group forgot the member). Poll 3
  // rejoins and takes e0 and e1 again: the batch in flight. Poll 4: the group fences the
  // consumer's instance id.
  TxnError lost{TxnError::Kind::abortable, "UNKNOWN_MEMBER_ID: the group forgot this member"};
  lost.membership_lost = true;
  kafka.fail_next(Call::send_offsets, lost);
  kafka.session_timeout(2);
  kafka.fence(4);

  const Run run = consume(kafka, store, events, cluster_config());

  REQUIRE(run.ok);  // it did not stop
  CHECK(kafka.clients_built() == 2);
  // Assigned; revoked by the session time-out; assigned at the rejoin; revoked by the rebuild
  // (the fenced consumer still held them); assigned to the new consumer.
  CHECK(run.rebalances == std::vector<std::string>{"+2", "-2", "+2", "-2", "+2"});
  check_first_clients_committed_nothing(kafka, 1);
  CHECK(run.not_durable.empty());
  // The batch in flight at the fence was read again by the new consumer, not committed by the
  // fenced one.
  CHECK(deliveries(kafka, 0, 0) == 3);
  CHECK(deliveries(kafka, 1, 0) == 3);
  // The new clients consumed the rest and committed everything.
  CHECK(kafka.committed_offsets() == events.all);
  for (int i = 0; i < 6; ++i) CHECK(opened(store, "inc-" + std::to_string(i)) == 1);
  CHECK(store.processed().size() == 6);
  for (const auto& txn : kafka.transactions()) {
    if (txn.fate == Fate::committed) CHECK(txn.clients == 2);
  }
  CHECK(kafka.consumer_closed());
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE(
    "with the state topic, the change records the fenced clients could not commit are committed "
    "by the new producer before its consumer rejoins, and none is lost") {
  FakeKafka kafka;
  testing::MemoryStore store;
  StateChangelog changelog("node-a");
  const Events events(kafka);
  // Poll 2: the session times out, the revocation's commit (e0's and e1's offsets and records)
  // is refused, and the consumer is fenced in the same poll.
  TxnError lost{TxnError::Kind::abortable, "UNKNOWN_MEMBER_ID: the group forgot this member"};
  lost.membership_lost = true;
  kafka.fail_next(Call::send_offsets, lost);
  kafka.session_timeout(2);
  kafka.fence(2);

  const Run run = consume(kafka, store, events, cluster_config(), {}, &changelog);

  REQUIRE(run.ok);
  REQUIRE(kafka.clients_built() == 2);
  check_first_clients_committed_nothing(kafka, 1);
  // The new producer's first transaction: the records kept from the one given up (e0's and
  // e1's incidents), without offsets, committed before the new consumer's first poll.
  const FakeKafka::Transaction* first = nullptr;
  for (const auto& txn : kafka.transactions()) {
    if (txn.clients == 2) {
      first = &txn;
      break;
    }
  }
  REQUIRE(first != nullptr);
  CHECK(first->fate == Fate::committed);
  CHECK(first->offsets.empty());
  std::map<std::string, std::size_t> keys;
  for (const auto& letter : first->letters) {
    CHECK(letter.topic == cluster_config().cluster.state_topic);
    if (letter.key) ++keys[*letter.key];
  }
  CHECK(keys.size() == 2);
  CHECK(keys.count("inc-0") == 1);
  CHECK(keys.count("inc-1") == 1);
  // Every incident's records committed, each once: the records decoded are the store's.
  std::map<std::string, std::size_t> opened_records;
  for (const auto& letter : kafka.committed_on(cluster_config().cluster.state_topic)) {
    auto record = decode_state_record(letter.value);
    REQUIRE(record);
    for (const auto& a : record.value->actions) {
      if (a.kind == ActionKind::incident_opened) ++opened_records[a.incident_key];
    }
  }
  CHECK(opened_records.size() == 6);
  for (const auto& [key, n] : opened_records) CHECK(n == 1);
  CHECK(changelog.pending() == 0);
  CHECK(kafka.committed_offsets() == events.all);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE(
    "a fence met inside a revocation's commit (the producer refused the offsets) is acted on "
    "after the poll: the clients are rebuilt in place") {
  FakeKafka kafka;
  testing::MemoryStore store;
  const Events events(kafka);
  TxnError fenced{TxnError::Kind::fatal,
                  "FENCED_INSTANCE_ID: Broker: Static consumer fenced by other consumer with "
                  "same group.instance.id"};
  fenced.membership_lost = true;
  fenced.instance_fenced = true;
  kafka.fail_next(Call::send_offsets, fenced);
  kafka.session_timeout(2);

  const Run run = consume(kafka, store, events, cluster_config());

  REQUIRE(run.ok);
  CHECK(kafka.clients_built() == 2);
  // The revocation released them before the commit failed; the rebuild has nothing left.
  CHECK(run.rebalances == std::vector<std::string>{"+2", "-2", "+2"});
  check_first_clients_committed_nothing(kafka, 1);
  CHECK(run.not_durable.empty());
  CHECK(kafka.committed_offsets() == events.all);
  for (int i = 0; i < 6; ++i) CHECK(opened(store, "inc-" + std::to_string(i)) == 1);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE(
    "a fence with no session time-out of its own is another process with this instance_id: "
    "the daemon stops, committing nothing of the batch in flight") {
  FakeKafka kafka;
  testing::MemoryStore store;
  const Events events(kafka);
  kafka.fence(2);  // poll 1's batch is in flight

  SECTION("with [cluster]") {
    const Run run = consume(kafka, store, events, cluster_config());
    CHECK_FALSE(run.ok);
    check_first_clients_committed_nothing(kafka, 1);
    CHECK(kafka.committed_offsets().empty());
  }
  SECTION("without [cluster] (no instance id: not expected), even after a session time-out") {
    kafka.session_timeout(2);
    const Run run = consume(kafka, store, events, testing::small_config());
    CHECK_FALSE(run.ok);
    CHECK(run.not_durable.empty());
  }
  CHECK(kafka.clients_built() == 1);
  CHECK(kafka.consumer_closed());
  CHECK(kafka.polls() == 2);
  CHECK(opened(store, "inc-0") == 1);  // durable in the store; Kafka reads it again later
}

TEST_CASE("fences that keep coming are rebuilt `limit` times within the window, then it stops") {
  FakeKafka kafka;
  testing::MemoryStore store;
  const Events events(kafka);
  IngestOptions options;
  options.fence_rebuilds.limit = 2;
  // Each time: the revocation's commit refused (the group forgot the member), then the fence.
  TxnError lost{TxnError::Kind::abortable, "UNKNOWN_MEMBER_ID: the group forgot this member"};
  lost.membership_lost = true;
  kafka.fail_next(Call::send_offsets, lost, 3);
  for (const int poll : {2, 4, 6}) {
    kafka.session_timeout(poll);
    kafka.fence(poll);
  }

  const Run run = consume(kafka, store, events, cluster_config(), options);

  CHECK_FALSE(run.ok);
  CHECK(kafka.clients_built() == 3);  // the first pair and two rebuilds; the third fence stops it
  CHECK(kafka.polls() == 6);
  check_first_clients_committed_nothing(kafka, 3);
  CHECK(run.not_durable.empty());
}

TEST_CASE("the fence rule: only after a session time-out of its own, recent, since the last one") {
  const auto t0 = SteadyClock::time_point{} + 1h;
  FenceRebuildRules rules;  // 60 s, 3 in 10 min
  FenceRebuilds fences(rules);

  CHECK(fences.admit(t0, std::nullopt).has_value());  // no session time-out: a twin
  CHECK(fences.admit(t0, t0 - 61s).has_value());      // too long before
  CHECK_FALSE(fences.admit(t0, t0 - 59s).has_value());
  CHECK(fences.in_window() == 1);
  // The same session time-out does not excuse a second fence: a twin fencing back.
  CHECK(fences.admit(t0 + 10s, t0 - 59s).has_value());
  CHECK_FALSE(fences.admit(t0 + 20s, t0 + 15s).has_value());
  CHECK_FALSE(fences.admit(t0 + 30s, t0 + 25s).has_value());
  CHECK(fences.in_window() == 3);
  // A fourth within ten minutes of the first.
  CHECK(fences.admit(t0 + 9min, t0 + 9min - 1s).has_value());
  // Ten minutes after the first, the window has room again.
  CHECK_FALSE(fences.admit(t0 + 10min, t0 + 10min - 1s).has_value());
  CHECK(fences.in_window() == 3);
}

TEST_CASE("librdkafka's own session time-out is remembered from its log") {
  KafkaSettings kafka;
  KafkaHealth health(kafka);
  CHECK_FALSE(health.last_session_timeout().has_value());
  health.on_log(4, "SESSTMOUT", "Consumer group session timed out: revoking assignment");
  const auto at = health.last_session_timeout();
  REQUIRE(at.has_value());
  CHECK(SteadyClock::now() - *at < 1min);
  health.on_error("FENCED_INSTANCE_ID", "fenced", true);
  CHECK(health.fatal_reported());
  health.clear_fatal();
  CHECK_FALSE(health.fatal_reported());
}

}  // namespace
}  // namespace incidentd
