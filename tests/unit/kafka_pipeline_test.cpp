// The Kafka input on a fake Kafka (tests/support/fake_kafka.hpp) that fails on purpose: a batch's
// dead letters and offsets are committed in one transaction, an aborted transaction is redone,
// a revocation in the middle of a poll keeps what was durable and leaves the rest to the next
// owner, a failed offset commit, a fenced producer and a poll error. Each test says what is
// durable (the engine's store, the committed offsets and dead letters) and what is redone; a
// message applied twice would fail the store's commit. Deterministic: the engine runs on the
// consumer thread (an inline loop), the fake stops the Ingest when it has nothing more to give,
// and the commit's back-off is recorded instead of slept.
#include "kafka/ingest.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/virtual_time.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/forwarded_input.hpp"
#include "kafka/kafka_transaction.hpp"
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
const TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 26} + 1h + 5min;

std::string event_json(const std::string& id, const std::string& key) {
  return nlohmann::json{{"schema", 1},         {"event_id", id},
                        {"incident_key", key}, {"kind", "detected"},
                        {"level", "II"},       {"lead_unit", "a"},
                        {"units", {"a", "b"}}, {"detected_at", "2026-11-26T09:00:00+08:00"}}
      .dump();
}

std::size_t opened(const testing::MemoryStore& store, const std::string& key) {
  std::size_t n = 0;
  for (const auto& a : store.timeline()) {
    if (a.incident_key == key && a.kind == ActionKind::incident_opened) ++n;
  }
  return n;
}

// One daemon's life on the fake: an engine over `store`, its Ingest on `kafka`'s clients,
// consuming until the fake has nothing more to give.
struct Run {
  bool ok = false;
  IngestStats stats;
  std::vector<Duration> backoffs;
};

// The engine's own thread, as the daemon's Asio loop: runs what is posted, in order.
class LoopThread {
 public:
  LoopThread() : thread_([this] { run(); }) {}
  ~LoopThread() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  void post(std::function<void()> work) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(work));
    }
    cv_.notify_all();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto work = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      work();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest exists
};

// `loop`: the engine runs there; without one, inline on the consumer thread.
Run consume(FakeKafka& kafka, testing::MemoryStore& store,
            std::vector<FakeKafka::TopicPartition> assignment = {}, std::size_t max_batch = 100,
            LoopThread* loop = nullptr, const Config& config = testing::small_config(),
            const std::function<void(IngestOptions&)>& adjust = {}) {
  VirtualTime time(kNow);
  Engine engine(config, store, time);
  Run run;
  IngestOptions options;
  options.max_batch = max_batch;
  options.commit_every = 0s;       // every poll commits what is durable
  options.checkpoint_every = 0s;   // and every batch is durable as a whole (no backlog mode)
  options.stop_commit_grace = 1h;  // the back-off is not slept: retry until the faults run out
  options.backoff_for_test = [&run](Duration d) { run.backoffs.push_back(d); };
  options.slice_items = 3;  // every batch goes to the engine in slices, posted one by one
  if (adjust) adjust(options);
  Ingest::PostToLoop post = [loop](std::function<void()> work) {
    if (loop != nullptr) {
      loop->post(std::move(work));
    } else {
      work();
    }
  };
  Ingest ingest(config, engine, post, options, kafka.clients(std::move(assignment)));
  kafka.on_idle([&ingest] { ingest.request_stop(); });
  ingest.start([&run](bool ok) { run.ok = ok; });
  ingest.join();
  run.stats = ingest.stats();
  kafka.on_idle({});
  return run;
}

TxnError abortable(std::string message) {
  return TxnError{TxnError::Kind::abortable, std::move(message)};
}

TEST_CASE("a batch's dead letters and its offsets are committed in one transaction") {
  FakeKafka kafka;
  testing::MemoryStore store;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"));
  kafka.append(kEvents, 0, "not json", "inc-x");
  kafka.append(kEvents, 1, event_json("e2", "inc-2"));

  const Run run = consume(kafka, store);

  REQUIRE(run.ok);
  CHECK(opened(store, "inc-1") == 1);
  CHECK(opened(store, "inc-2") == 1);
  CHECK(store.processed().size() == 2);
  REQUIRE(kafka.transactions().size() == 1);
  const auto& txn = kafka.transactions()[0];
  CHECK(txn.fate == Fate::committed);
  CHECK(txn.letters.size() == 1);
  CHECK(txn.offsets == Offsets{{{kEvents, 0}, 2}, {{kEvents, 1}, 1}});
  REQUIRE(kafka.committed_letters().size() == 1);
  CHECK(kafka.committed_letters()[0].key == "inc-x");
  CHECK(nlohmann::json::parse(kafka.committed_letters()[0].value)["offset"] == 1);
  CHECK(kafka.committed_offsets() == txn.offsets);
  CHECK(run.stats.dead_lettered == 1);
  CHECK(kafka.consumer_closed());
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE("a batch's commits are made durable once, before its offsets go to Kafka") {
  FakeKafka kafka;
  testing::MemoryStore store;
  for (int i = 0; i < 12; ++i) {
    kafka.append(kEvents, i % 2, event_json("e" + std::to_string(i), "inc-" + std::to_string(i)));
  }
  std::size_t barriers = 0;
  std::vector<std::size_t> at_risk_when_committed;
  kafka.on_commit([&](const FakeKafka::Transaction&) {
    at_risk_when_committed.push_back(store.commits_at_risk());
  });
  const Run run =
      consume(kafka, store, {}, 4, nullptr, testing::small_config(), [&](IngestOptions& o) {
        o.make_durable = [&] {
          store.make_durable();
          ++barriers;
        };
      });
  kafka.on_commit({});

  REQUIRE(run.ok);
  CHECK(store.processed().size() == 12);
  // The batches' commits did not wait for the disk, and none was at risk when Kafka took offsets.
  CHECK(store.deferred_commits() >= 3);
  REQUIRE_FALSE(at_risk_when_committed.empty());
  for (const std::size_t at_risk : at_risk_when_committed) CHECK(at_risk == 0);
  CHECK(barriers >= at_risk_when_committed.size());
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 6}, {{kEvents, 1}, 6}});
}

TEST_CASE("a batch whose commit cannot be made durable ends the consumer, its offsets left") {
  FakeKafka kafka;
  testing::MemoryStore store;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"));
  const Run run =
      consume(kafka, store, {}, 100, nullptr, testing::small_config(), [](IngestOptions& o) {
        o.make_durable = [] {
          throw StoreError("sync (test.db): fdatasync of test.db-wal: I/O error");
        };
      });
  CHECK_FALSE(run.ok);
  CHECK(store.processed().contains("e1"));  // committed, never made durable
  CHECK(kafka.committed_offsets().empty());
  for (const auto& txn : kafka.transactions()) CHECK(txn.fate != Fate::committed);
}

TEST_CASE("a coordinator out of reach is asked again a second at a time, then consumed from") {
  FakeKafka kafka;
  testing::MemoryStore store;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"));
  kafka.fail_next(Call::init, TxnError{TxnError::Kind::retriable, "_TIMED_OUT: test"}, 3);

  const Run run = consume(kafka, store);

  REQUIRE(run.ok);
  CHECK(store.processed().contains("e1"));
  const auto& calls = kafka.calls();
  REQUIRE(calls.size() >= 4);
  CHECK(std::count(calls.begin(), calls.begin() + 4, Call::init) == 4);
  // Each call given a step, so that a stop waits for no more than that; the refusals came at
  // once, and each waited out the rest of its step.
  CHECK(kafka.init_timeouts() == std::vector<Duration>(4, Duration(1s)));
  REQUIRE(run.backoffs.size() >= 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(run.backoffs[i] > 0ms);
    CHECK(run.backoffs[i] <= 1s);
  }
}

TEST_CASE("with [cluster] a forwarded input is applied in a batch and its offset committed") {
  FakeKafka kafka;
  testing::MemoryStore store;
  Config clustered = testing::small_config();
  clustered.cluster.instance_id = "node-a";
  const std::string inputs = clustered.cluster.inputs_topic;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"), "inc-1");
  REQUIRE(consume(kafka, store, {}, 100, nullptr, clustered).ok);
  REQUIRE(opened(store, "inc-1") == 1);

  const auto ack = encode_forwarded_input({Acknowledgement{"inc-1", "a-duty1", kNow, "sms"}, "b"});
  kafka.append(inputs, 0, ack, "inc-1");
  kafka.append(inputs, 0, ack, "inc-1");  // forwarded twice: a duplicate
  kafka.append(inputs, 0, R"({"v":1,"kind":"acknowledgement"})", "inc-1");
  const Run run = consume(kafka, store, {}, 100, nullptr, clustered);

  REQUIRE(run.ok);
  REQUIRE(store.acknowledgements().size() == 1);
  CHECK(store.acknowledgements()[0].via == "sms");
  CHECK(run.stats.duplicates == 1);
  // The bad one is a dead letter, in the transaction that commits the inputs' offsets.
  const auto& txn = kafka.transactions().back();
  CHECK(txn.fate == Fate::committed);
  REQUIRE(txn.letters.size() == 1);
  CHECK_THAT(nlohmann::json::parse(txn.letters[0].value)["reason"].get<std::string>(),
             Catch::StartsWith("forwarded input: "));
  CHECK(kafka.committed_offsets().at({inputs, 0}) == 3);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE("an aborted transaction is redone: its dead letters appear once, with the offsets") {
  FakeKafka kafka;
  testing::MemoryStore store;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"));
  kafka.append(kEvents, 0, "not json");
  kafka.fail_next(Call::commit, abortable("_STATE: the coordinator aborted it"));

  const Run run = consume(kafka, store);

  REQUIRE(run.ok);
  REQUIRE(kafka.transactions().size() == 2);
  CHECK(kafka.transactions()[0].fate == Fate::aborted);
  CHECK(kafka.transactions()[1].fate == Fate::committed);
  CHECK(kafka.transactions()[1].letters.size() == 1);  // produced again after the abort
  CHECK(kafka.committed_letters().size() == 1);
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 2}});
  CHECK(run.backoffs == std::vector<Duration>{200ms});
  CHECK(opened(store, "inc-1") == 1);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE(
    "a revocation in the middle of a poll: the durable batch is committed, the rest is "
    "read by the next owner, nothing is applied twice") {
  FakeKafka kafka;
  testing::MemoryStore store;
  kafka.append(kEvents, 0, event_json("a1", "inc-a1"));
  kafka.append(kEvents, 1, event_json("b1", "inc-b1"));
  kafka.append(kEvents, 0, event_json("a2", "inc-a2"));
  kafka.append(kEvents, 1, event_json("b2", "inc-b2"));
  kafka.append(kEvents, 1, "not json");
  // Poll 1 takes a1 and b1 (the batch in flight); poll 2 takes a2 and b2, then partition 1 goes.
  kafka.revoke(2, {{kEvents, 1}}, 2);

  const Run first = consume(kafka, store, {}, 2);

  REQUIRE(first.ok);
  // The batch in flight was durable: its offsets were committed inside the revocation.
  REQUIRE(kafka.transactions().size() >= 1);
  CHECK(kafka.transactions()[0].offsets == Offsets{{{kEvents, 0}, 1}, {{kEvents, 1}, 1}});
  CHECK(kafka.transactions()[0].fate == Fate::committed);
  // b2, taken in the poll that lost partition 1, was not handled here.
  CHECK(opened(store, "inc-a2") == 1);
  CHECK(opened(store, "inc-b2") == 0);
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 2}, {{kEvents, 1}, 1}});
  CHECK(kafka.committed_letters().empty());

  const Run next_owner = consume(kafka, store, {{kEvents, 1}});

  REQUIRE(next_owner.ok);
  CHECK(next_owner.stats.consumed == 2);  // b2 and the malformed one, from the committed offset
  CHECK(next_owner.stats.duplicates == 0);
  for (const auto* key : {"inc-a1", "inc-b1", "inc-a2", "inc-b2"}) CHECK(opened(store, key) == 1);
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 2}, {{kEvents, 1}, 3}});
  CHECK(kafka.committed_letters().size() == 1);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE(
    "a revocation whose commit fails: what was durable stays, the next owner reads it "
    "again as duplicates") {
  FakeKafka kafka;
  testing::MemoryStore store;
  kafka.append(kEvents, 0, event_json("a1", "inc-a1"));
  kafka.append(kEvents, 1, event_json("b1", "inc-b1"));
  kafka.append(kEvents, 1, "not json");
  kafka.revoke(2, {{kEvents, 1}}, 0);
  // Inside the revocation an abortable failure gives the transaction up at once.
  kafka.fail_next(Call::commit, abortable("_STATE: aborted"));

  const Run first = consume(kafka, store, {}, 2);

  REQUIRE(first.ok);
  CHECK(kafka.transactions()[0].fate == Fate::aborted);
  CHECK(opened(store, "inc-b1") == 1);  // durable in the store
  CHECK(kafka.committed_offsets().count({kEvents, 1}) == 0);
  CHECK(first.backoffs.empty());

  const Run next_owner = consume(kafka, store, {{kEvents, 1}});

  REQUIRE(next_owner.ok);
  CHECK(next_owner.stats.consumed == 2);
  CHECK(next_owner.stats.duplicates == 1);  // b1: redelivered, deduplicated
  CHECK(opened(store, "inc-b1") == 1);
  CHECK(kafka.committed_offsets().at({kEvents, 1}) == 2);
  CHECK(kafka.committed_letters().size() == 1);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE("a failed offset commit is redone in a new transaction") {
  FakeKafka kafka;
  testing::MemoryStore store;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"));
  kafka.append(kEvents, 0, "not json");

  SECTION("abortable: the transaction is aborted and its letters produced again") {
    kafka.fail_next(Call::send_offsets, abortable("_STATE: cannot send offsets"));
    const Run run = consume(kafka, store);
    REQUIRE(run.ok);
    REQUIRE(kafka.transactions().size() == 2);
    CHECK(kafka.transactions()[0].fate == Fate::aborted);
    CHECK(kafka.transactions()[1].letters.size() == 1);
    CHECK(run.backoffs.size() == 1);
  }
  SECTION("retriable: the offsets are sent again in the same transaction") {
    kafka.fail_next(Call::send_offsets, TxnError{TxnError::Kind::retriable, "_TIMED_OUT"}, 2);
    const Run run = consume(kafka, store);
    REQUIRE(run.ok);
    REQUIRE(kafka.transactions().size() == 1);
    CHECK(run.backoffs == std::vector<Duration>{200ms, 400ms});
  }
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 2}});
  CHECK(kafka.committed_letters().size() == 1);
  CHECK(opened(store, "inc-1") == 1);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE(
    "an offset commit refused because the group forgot the consumer is given up, and a "
    "restart redoes it") {
  FakeKafka kafka;
  testing::MemoryStore store;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"));
  kafka.append(kEvents, 0, "not json");
  TxnError lost = abortable("UNKNOWN_MEMBER_ID: the group does not know this member");
  lost.membership_lost = true;
  kafka.fail_next(Call::send_offsets, lost);

  const Run first = consume(kafka, store);

  REQUIRE(first.ok);
  CHECK(kafka.transactions()[0].fate == Fate::aborted);
  CHECK(kafka.committed_offsets().empty());
  CHECK(kafka.committed_letters().empty());
  CHECK(opened(store, "inc-1") == 1);

  const Run restart = consume(kafka, store);

  REQUIRE(restart.ok);
  CHECK(restart.stats.duplicates == 1);
  CHECK(opened(store, "inc-1") == 1);
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 2}});
  CHECK(kafka.committed_letters().size() == 1);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE(
    "a fenced producer stops the consumer with a fatal error, and the next owner redoes "
    "the batches") {
  FakeKafka kafka;
  testing::MemoryStore store;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"));
  kafka.append(kEvents, 0, "not json");
  kafka.append(kEvents, 0, event_json("e2", "inc-2"));
  kafka.append(kEvents, 0, event_json("e3", "inc-3"));
  kafka.append(kEvents, 0, event_json("e4", "inc-4"));
  kafka.fail_next(Call::commit, TxnError{TxnError::Kind::fatal, "PRODUCER_FENCED: fenced"});

  const Run fenced = consume(kafka, store, {}, 2);

  CHECK_FALSE(fenced.ok);
  CHECK(kafka.consumer_closed());
  // The first commit, after poll 2 handed the second batch over, was refused: no poll after it.
  CHECK(kafka.polls() == 2);
  CHECK(kafka.calls().back() == Call::abort);  // what was begun is aborted on the way out
  CHECK(kafka.committed_offsets().empty());
  CHECK(kafka.committed_letters().empty());
  // Durable in the store before Kafka heard of it.
  CHECK(opened(store, "inc-1") == 1);
  CHECK(opened(store, "inc-3") == 1);
  CHECK(opened(store, "inc-4") == 0);

  const Run next_owner = consume(kafka, store);

  REQUIRE(next_owner.ok);
  CHECK(next_owner.stats.consumed == 5);
  CHECK(next_owner.stats.duplicates == 3);  // e1, e2, e3
  for (const auto* key : {"inc-1", "inc-2", "inc-3", "inc-4"}) CHECK(opened(store, key) == 1);
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 5}});
  CHECK(kafka.committed_letters().size() == 1);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE(
    "batches handed to the engine's own thread come back in order, each durable before its "
    "offsets are committed") {
  FakeKafka kafka;
  testing::MemoryStore store;
  for (int i = 0; i < 40; ++i) {
    const std::string n = std::to_string(i);
    kafka.append(kEvents, i % 3, i % 10 == 9 ? "not json" : event_json("e" + n, "inc-" + n));
  }
  kafka.revoke(4, {{kEvents, 2}}, 3);

  {
    LoopThread loop;
    const Run run = consume(kafka, store, {}, 4, &loop);
    REQUIRE(run.ok);
  }
  {
    LoopThread loop;
    const Run next_owner = consume(kafka, store, {{kEvents, 2}}, 4, &loop);
    REQUIRE(next_owner.ok);
    CHECK(next_owner.stats.duplicates == 0);
  }

  for (int i = 0; i < 40; ++i) {
    if (i % 10 != 9) CHECK(opened(store, "inc-" + std::to_string(i)) == 1);
  }
  CHECK(store.processed().size() == 36);
  CHECK(kafka.committed_offsets() ==
        Offsets{{{kEvents, 0}, 14}, {{kEvents, 1}, 13}, {{kEvents, 2}, 13}});
  CHECK(kafka.committed_letters().size() == 4);
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE("a poll error is waited out, a fatal one stops the consumer") {
  FakeKafka kafka;
  testing::MemoryStore store;
  kafka.append(kEvents, 0, event_json("e1", "inc-1"));

  SECTION("not fatal: consumption goes on") {
    kafka.poll_error(1, "_TRANSPORT", "broker down", false);
    const Run run = consume(kafka, store);
    REQUIRE(run.ok);
    CHECK(opened(store, "inc-1") == 1);
    CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 1}});
  }
  SECTION("fatal: nothing is consumed or committed") {
    kafka.poll_error(1, "_FATAL", "the client can do no more", true);
    const Run run = consume(kafka, store);
    CHECK_FALSE(run.ok);
    CHECK(kafka.polls() == 1);
    CHECK(kafka.consumer_closed());
    CHECK(store.timeline().empty());
    CHECK(kafka.committed_offsets().empty());
  }
  CHECK(kafka.violations() == std::vector<std::string>{});
}

// `count` events to the events topic, of incidents inc-<prefix>0, inc-<prefix>1, ..., the i-th
// i * `spacing` after the fake's clock.
void append_events(FakeKafka& kafka, int count, Duration spacing, const std::string& prefix) {
  for (int i = 0; i < count; ++i) {
    const std::string n = std::to_string(i);
    kafka.append_after(spacing * i, kEvents, 0, event_json(prefix + n, "inc-" + prefix + n));
  }
}

// Runs the pipeline on `kafka` until `messages` have been delivered, and returns each batch as
// when it was handed to the loop (counted from `t0`, the fake's clock) and how many messages it
// brought. A slice after a batch's first brings none and is not counted (a slice's budget is
// real time, which a sanitized build can overrun; the slices have tests in kafka_batch_test).
std::vector<std::pair<Duration, std::size_t>> batches_handed_off(FakeKafka& kafka,
                                                                 testing::MemoryStore& store,
                                                                 IngestOptions options,
                                                                 FakeKafka::Clock::time_point t0,
                                                                 std::size_t messages) {
  const Config config = testing::small_config();
  VirtualTime time(kNow);
  Engine engine(config, store, time);
  options.clock_for_test = kafka.clock();
  std::vector<std::pair<Duration, std::size_t>> batches;
  std::size_t before = 0;
  Ingest::PostToLoop post = [&](std::function<void()> work) {
    const std::size_t delivered = kafka.delivered().size();
    if (delivered != before) {
      batches.emplace_back(std::chrono::duration_cast<Duration>(kafka.now() - t0),
                           delivered - before);
      before = delivered;
    }
    work();
  };
  Ingest ingest(config, engine, post, options, kafka.clients());
  kafka.on_idle([&] {
    if (kafka.delivered().size() == messages) ingest.request_stop();
  });
  bool ok = false;
  ingest.start([&ok](bool done) { ok = done; });
  ingest.join();
  kafka.on_idle({});
  REQUIRE(ok);
  return batches;
}

TEST_CASE(
    "a batch fills only while messages keep coming: a burst is one batch, a lone event goes "
    "at once, not a linger later") {
  FakeKafka kafka;
  testing::MemoryStore store;
  const auto t0 = kafka.now();
  // A burst: ten events 1 ms apart. Then, 100 ms after the first, a lone one.
  append_events(kafka, 10, 1ms, "burst");
  kafka.append_after(100ms, kEvents, 0, event_json("lone", "inc-lone"));
  IngestOptions options;
  options.max_batch = 100;
  options.linger = 20ms;
  options.quiet = 2ms;
  const auto batches = batches_handed_off(kafka, store, options, t0, 11);

  // The burst: one batch, handed off `quiet` after its last message (9 ms), not the linger
  // after its first (20 ms).
  REQUIRE(batches.size() == 2);
  CHECK(batches[0] == std::pair{Duration(11), std::size_t{10}});
  // The lone event: `quiet` after it came, not a linger.
  CHECK(batches[1] == std::pair{Duration(102), std::size_t{1}});
  CHECK(opened(store, "inc-lone") == 1);
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 11}});
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE(
    "by default a batch takes what librdkafka already holds and goes: no wait for a next "
    "message") {
  FakeKafka kafka;
  testing::MemoryStore store;
  const auto t0 = kafka.now();
  // Five events there at once, then a lone one 100 ms later.
  append_events(kafka, 5, Duration(0), "held");
  kafka.append_after(100ms, kEvents, 0, event_json("lone", "inc-lone"));
  const auto batches = batches_handed_off(kafka, store, IngestOptions{}, t0, 6);

  // Each handed off at the instant its last message came.
  REQUIRE(batches.size() == 2);
  CHECK(batches[0] == std::pair{Duration(0), std::size_t{5}});
  CHECK(batches[1] == std::pair{Duration(100), std::size_t{1}});
  CHECK(kafka.committed_offsets() == Offsets{{{kEvents, 0}, 6}});
  CHECK(kafka.violations() == std::vector<std::string>{});
}

TEST_CASE("a batch that keeps filling is handed off `linger` after its first message") {
  FakeKafka kafka;
  testing::MemoryStore store;
  const auto t0 = kafka.now();
  append_events(kafka, 50, 1ms, "e");
  IngestOptions options;
  options.max_batch = 100;
  options.linger = 20ms;
  options.quiet = 2ms;
  const auto batches = batches_handed_off(kafka, store, options, t0, 50);

  // A message every 1 ms never pauses for `quiet`: the linger bounds the batch (0-20 ms, then
  // 21-41 ms, then the rest).
  REQUIRE(batches.size() >= 3);
  CHECK(batches[0] == std::pair{Duration(20), std::size_t{21}});
  CHECK(batches[1] == std::pair{Duration(41), std::size_t{21}});
  CHECK(store.processed().size() == 50);
}

TEST_CASE("the transaction's states: an abortable failure is aborted before it is begun again") {
  using S = TxnState;
  using T = TxnStep;
  CHECK(next_state(S::idle, T::begun) == S::filling);
  CHECK(next_state(S::idle, T::begin_failed) == S::must_begin);
  CHECK(next_state(S::filling, T::offsets_sent) == S::offsets_sent);
  CHECK(next_state(S::offsets_sent, T::added) == S::filling);  // new offsets: sent again
  CHECK(next_state(S::offsets_sent, T::committed) == S::idle);
  CHECK(next_state(S::offsets_sent, T::failed) == S::must_abort);
  CHECK(next_state(S::must_abort, T::failed) == S::must_abort);
  CHECK(next_state(S::must_abort, T::aborted) == S::must_begin);
  CHECK(next_state(S::must_begin, T::begun) == S::filling);
  CHECK(next_state(S::must_abort, T::discarded) == S::idle);
}

}  // namespace
}  // namespace incidentd
