// The state topic on a fake Kafka (tests/support/fake_kafka.hpp), with [cluster] on: a batch's
// change records are in the Kafka transaction that commits its offsets and dead letters; an
// aborted transaction leaves none committed and the redo writes each once; changes made without
// a batch (a timer, the dispatcher, the API) get a transaction of their own, which carries the
// offsets already committed; a transaction given up keeps its records for the next one. Each
// committed record is decoded and compared with the store. The engine runs inline on the
// consumer thread, and the fake stops the Ingest when it has nothing more to give.
#include "kafka/state_changelog.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/virtual_time.hpp"
#include "incidentd/engine.hpp"
#include "kafka/ingest.hpp"
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

const std::string kEvents = "opinion.events";
const std::string kState = "incidentd.state";
const std::string kDeadLetters = "opinion.events.dlq";
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
  config.cluster.instance_id = "node-1";
  config.cluster.instance_id = "node-1";
  return config;
}

// One daemon's life on the fake, [cluster] on: the engine over `memory` behind the changelog's
// store, its Ingest on `kafka`'s clients, until the fake has nothing more to give and `idle`
// (called then, on the consumer thread, which is the engine's here) says to stop.
struct Node {
  explicit Node(testing::MemoryStore& memory, CommitSeq commit_seq = {})
      : config(cluster_config()),
        store(memory, changelog, std::move(commit_seq)),
        time(kNow),
        engine(config, store, time) {}

  bool consume(
      FakeKafka& kafka, const std::function<bool()>& idle = [] { return true; }) {
    IngestOptions options;
    options.max_batch = 100;
    options.commit_every = 0s;      // every poll commits what is durable
    options.checkpoint_every = 0s;  // and every batch is durable as a whole
    options.stop_commit_grace = 1h;
    options.backoff_for_test = [](Duration) {};
    options.state_changelog = &changelog;
    Ingest ingest(
        config, engine, [](std::function<void()> work) { work(); }, options, kafka.clients());
    kafka.on_idle([&ingest, &idle] {
      if (idle()) ingest.request_stop();
    });
    bool ok = false;
    ingest.start([&ok](bool result) { ok = result; });
    ingest.join();
    kafka.on_idle({});
    stats = ingest.stats();
    return ok;
  }

  Config config;
  IngestStats stats;
  StateChangelog changelog{"node-1"};
  ChangelogStore store;
  VirtualTime time;
  Engine engine;
};

std::vector<StateRecord> decoded(const std::vector<FakeKafka::Letter>& letters) {
  std::vector<StateRecord> out;
  for (const auto& letter : letters) {
    auto record = decode_state_record(letter.value);
    INFO(letter.value);
    INFO(record.error);
    REQUIRE(record);
    REQUIRE(letter.key == record.value->incident_key);
    out.push_back(std::move(*record.value));
  }
  return out;
}

std::size_t on_topic(const FakeKafka::Transaction& txn, const std::string& topic) {
  std::size_t n = 0;
  for (const auto& letter : txn.letters) n += letter.topic == topic ? 1 : 0;
  return n;
}

// The committed records, folded per incident, hold what the store holds.
void check_matches_store(const std::vector<StateRecord>& records,
                         const testing::MemoryStore& memory) {
  std::map<std::string, std::vector<Action>> timeline;
  std::map<std::string, IncidentState> last;
  for (const auto& r : records) {
    for (const auto& a : r.actions) timeline[r.incident_key].push_back(a);
    if (r.state) last[r.incident_key] = *r.state;
  }
  std::map<std::string, std::vector<Action>> stored;
  for (const auto& a : memory.timeline()) stored[a.incident_key].push_back(a);
  CHECK(timeline == stored);
  CHECK(last == memory.incidents());
}

TEST_CASE("a batch's change records are committed in the transaction of its offsets") {
  FakeKafka kafka;
  testing::MemoryStore memory;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"), "inc-1");
  kafka.append(kEvents, 0, "not json", "inc-x");
  kafka.append(kEvents, 1, event_json("e2", "inc-2"), "inc-2");

  Node node(memory);
  REQUIRE(node.consume(kafka));

  REQUIRE(kafka.transactions().size() == 1);
  const auto& txn = kafka.transactions()[0];
  CHECK(txn.fate == Fate::committed);
  CHECK(on_topic(txn, kDeadLetters) == 1);
  CHECK(on_topic(txn, kState) == 2);
  CHECK(txn.offsets == Offsets{{{kEvents, 0}, 2}, {{kEvents, 1}, 1}});
  const auto records = decoded(kafka.committed_on(kState));
  REQUIRE(records.size() == 2);
  CHECK(records[0].incident_key == "inc-1");
  CHECK(records[1].incident_key == "inc-2");
  for (const auto& r : records) {
    REQUIRE(r.processed.size() == 1);
    CHECK_FALSE(r.outbox.empty());  // the alert at open
  }
  check_matches_store(records, memory);
  CHECK(node.changelog.pending() == 0);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE("records carry their commit's number, and what committed is reported as published") {
  FakeKafka kafka;
  testing::MemoryStore memory;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"), "inc-1");
  kafka.append(kEvents, 1, event_json("e2", "inc-2"), "inc-2");
  kafka.fail_next(Call::commit, TxnError{TxnError::Kind::abortable, "_STATE: aborted"});
  std::int64_t commits = 40;  // as a store's journal numbers them: the last commit's number
  testing::MemoryStore* counted = &memory;
  Node node(memory, [&commits, counted, seen = std::size_t{0}]() mutable {
    // One more number per commit the store took (each adds to its timeline).
    if (counted->timeline().size() != seen) {
      seen = counted->timeline().size();
      ++commits;
    }
    return commits;
  });
  REQUIRE(node.consume(kafka));

  const auto records = decoded(kafka.committed_on(kState));
  REQUIRE_FALSE(records.empty());
  std::int64_t highest = 0;
  for (const auto& r : records) {
    CHECK(r.seq > 40);
    CHECK(r.by == "node-1");
    highest = std::max(highest, r.seq);
  }
  CHECK(kafka.transactions()[0].fate == Fate::aborted);
  CHECK(node.stats.published_seq == highest);
}

TEST_CASE("an aborted transaction commits no change record and the redo commits each once") {
  FakeKafka kafka;
  testing::MemoryStore memory;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"), "inc-1");
  kafka.fail_next(Call::commit, TxnError{TxnError::Kind::abortable, "_STATE: aborted"});

  Node node(memory);
  REQUIRE(node.consume(kafka));

  REQUIRE(kafka.transactions().size() == 2);
  CHECK(kafka.transactions()[0].fate == Fate::aborted);
  CHECK(on_topic(kafka.transactions()[0], kState) == 1);  // produced, never visible
  CHECK(kafka.transactions()[1].fate == Fate::committed);
  CHECK(on_topic(kafka.transactions()[1], kState) == 1);  // produced again
  const auto records = decoded(kafka.committed_on(kState));
  REQUIRE(records.size() == 1);
  check_matches_store(records, memory);
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 1}});
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE(
    "a change made without a batch gets a transaction of its own with the offsets already "
    "committed") {
  FakeKafka kafka;
  testing::MemoryStore memory;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"), "inc-1");
  Node node(memory);
  std::size_t before = 0;
  std::size_t queued = 0;
  bool fired = false;
  // Once the batch's transaction has committed, the 2 h warning falls due (a timer, not an
  // event) during an idle poll; the poll after the one that wrote its records stops.
  REQUIRE(node.consume(kafka, [&] {
    if (fired) return true;
    if (kafka.committed_offsets().empty()) return false;
    before = kafka.committed_on(kState).size();
    node.time.advance_to(std::chrono::sys_days{std::chrono::year{2026} / 11 / 26} + 3h + 5min);
    fired = true;
    queued = node.changelog.pending();
    return false;
  }));
  REQUIRE(fired);
  REQUIRE(queued > 0);

  const auto& last = kafka.transactions().back();
  CHECK(last.fate == Fate::committed);
  CHECK(on_topic(last, kState) > 0);
  CHECK(on_topic(last, kDeadLetters) == 0);
  CHECK(last.offsets == Offsets{{{kEvents, 0}, 1}});  // sent again: the group checks the member
  const auto records = decoded(kafka.committed_on(kState));
  CHECK(records.size() > before);
  bool warned = false;
  for (std::size_t i = before; i < records.size(); ++i) {
    for (const auto& a : records[i].actions) warned = warned || a.kind == ActionKind::warning;
  }
  CHECK(warned);
  check_matches_store(records, memory);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE("a change made before any offset was committed goes without offsets") {
  FakeKafka kafka;
  testing::MemoryStore memory;
  Node node(memory);
  Changeset manual;
  IncidentState state;
  state.key = "inc-9";
  manual.incidents.push_back(state);
  node.store.commit(manual);  // as the engine would
  REQUIRE(node.consume(kafka));

  REQUIRE(kafka.transactions().size() == 1);
  CHECK(kafka.transactions()[0].fate == Fate::committed);
  CHECK(kafka.transactions()[0].offsets.empty());
  for (const auto call : kafka.calls()) CHECK(call != Call::send_offsets);
  const auto records = decoded(kafka.committed_on(kState));
  REQUIRE(records.size() == 1);
  CHECK(records[0].state == state);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE(
    "a transaction given up keeps its change records for the next one while its dead letters "
    "and offsets wait for the redelivery") {
  FakeKafka kafka;
  testing::MemoryStore memory;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"), "inc-1");
  kafka.append(kEvents, 0, "not json", "inc-x");
  TxnError lost{TxnError::Kind::abortable, "UNKNOWN_MEMBER_ID: the group does not know this"};
  lost.membership_lost = true;
  kafka.fail_next(Call::send_offsets, lost);

  Node node(memory);
  REQUIRE(node.consume(kafka));

  CHECK(kafka.transactions()[0].fate == Fate::aborted);
  CHECK(kafka.committed_offsets().empty());  // the batch is read again
  CHECK(kafka.committed_on(kDeadLetters).empty());
  const auto records = decoded(kafka.committed_on(kState));
  REQUIRE(records.size() == 1);  // kept, and committed by the next transaction
  CHECK(records[0].incident_key == "inc-1");
  check_matches_store(records, memory);

  REQUIRE(node.consume(kafka));  // the redelivery: a duplicate, and the dead letter again
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 2}});
  CHECK(kafka.committed_on(kDeadLetters).size() == 1);
  CHECK(kafka.committed_on(kState).size() == 1);  // a duplicate changes nothing
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE("without [cluster] nothing is written to the state topic") {
  FakeKafka kafka;
  testing::MemoryStore memory;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"), "inc-1");
  Node node(memory);
  node.config.cluster = ClusterConfig{};
  IngestOptions options;
  options.commit_every = 0s;
  options.checkpoint_every = 0s;
  options.backoff_for_test = [](Duration) {};
  Ingest ingest(
      node.config, node.engine, [](std::function<void()> work) { work(); }, options,
      kafka.clients());
  kafka.on_idle([&ingest] { ingest.request_stop(); });
  ingest.start([](bool) {});
  ingest.join();
  kafka.on_idle({});
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 1}});
  CHECK(kafka.committed_on(kState).empty());
}

}  // namespace
}  // namespace incidentd
