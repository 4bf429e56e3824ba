// The Kafka input's pure parts: how a message is classified by topic (and in drill mode), how a
// batch goes through the engine (in order, duplicates no-ops, the engine's refusals reported by
// position, one commit per batch, a failed commit surfacing as StoreError), and the dead-letter
// record (reason, stage, origin, and the exact original bytes in base64).
#include "kafka/batch.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/virtual_time.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/forwarded_input.hpp"
#include "kafka/dead_letter.hpp"
#include "support/memory_store.hpp"
#include "support/test_config.hpp"

namespace incidentd {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 11 / 26} + 1h;

std::string event_json(const std::string& id, const std::string& key, bool drill = false,
                       const std::string& kind = "detected", const std::string& level = "II") {
  json j = {{"schema", 1},         {"event_id", id},
            {"incident_key", key}, {"kind", kind},
            {"level", level},      {"lead_unit", "a"},
            {"units", {"a", "b"}}, {"detected_at", "2026-11-26T09:00:00+08:00"}};
  if (drill) j["drill"] = true;
  return j.dump();
}

std::string confirmation_json(const std::string& id, const std::string& key,
                              const std::string& unit = "a") {
  return json{{"schema", 1},         {"confirmation_id", id},
              {"incident_key", key}, {"milestone", "first_release"},
              {"unit", unit},        {"released_at", "2026-11-26T09:30:00+08:00"}}
      .dump();
}

KafkaRecord record(std::string topic, std::string value, std::int64_t offset = 0) {
  KafkaRecord r;
  r.topic = std::move(topic);
  r.partition = 2;
  r.offset = offset;
  r.key = "inc-1";
  r.value = std::move(value);
  return r;
}

const IngestRules kRules{"opinion.events", "opinion.releases", std::nullopt, {}};

const Rejection* rejection_of(const Inbound& in) {
  return std::get_if<Rejection>(&in.item);
}

// An independent decoder, so the encoder is checked against something it does not share.
std::string base64_decode(const std::string& text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const auto pos = alphabet.find(c);
    if (pos == std::string::npos) return "<not base64>";
    buffer = (buffer << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFFu));
    }
  }
  return out;
}

TEST_CASE("a valid event on the events topic becomes an Event") {
  const Config config = testing::small_config();
  const Inbound in = classify(record("opinion.events", event_json("e1", "inc-1")), config, kRules);
  REQUIRE(std::holds_alternative<Event>(in.item));
  CHECK(std::get<Event>(in.item).event_id == "e1");
}

TEST_CASE("a confirmation on the releases topic comes out with via kafka") {
  const Config config = testing::small_config();
  const Inbound in =
      classify(record("opinion.releases", confirmation_json("c1", "inc-1")), config, kRules);
  REQUIRE(std::holds_alternative<Confirmation>(in.item));
  CHECK(std::get<Confirmation>(in.item).via == "kafka");
}

TEST_CASE("bad messages are rejected at validation with the codec's reason") {
  const Config config = testing::small_config();
  SECTION("not JSON") {
    const auto in = classify(record("opinion.events", "\xff\xfe not json"), config, kRules);
    REQUIRE(rejection_of(in));
    CHECK(rejection_of(in)->stage == RejectStage::validation);
    CHECK_THAT(rejection_of(in)->reason, Catch::Contains("not JSON"));
  }
  SECTION("a schema violation names the field") {
    json j = json::parse(event_json("e1", "inc-1"));
    j.erase("units");
    const auto in = classify(record("opinion.events", j.dump()), config, kRules);
    REQUIRE(rejection_of(in));
    CHECK_THAT(rejection_of(in)->reason, Catch::Contains("units"));
  }
  SECTION("an unknown unit") {
    json j = json::parse(event_json("e1", "inc-1"));
    j["units"] = {"a", "nowhere"};
    const auto in = classify(record("opinion.events", j.dump()), config, kRules);
    REQUIRE(rejection_of(in));
    CHECK_THAT(rejection_of(in)->reason, Catch::Contains("unknown unit \"nowhere\""));
  }
  SECTION("oversize") {
    json j = json::parse(event_json("e1", "inc-1"));
    j["title"] = std::string(kMaxMessageBytes, 'x');
    const auto in = classify(record("opinion.events", j.dump()), config, kRules);
    REQUIRE(rejection_of(in));
    CHECK_THAT(rejection_of(in)->reason, Catch::Contains("over the limit"));
  }
  SECTION("a message on a topic incidentd does not read") {
    const auto in = classify(record("elsewhere", event_json("e1", "inc-1")), config, kRules);
    REQUIRE(rejection_of(in));
    CHECK_THAT(rejection_of(in)->reason, Catch::Contains("elsewhere"));
  }
}

TEST_CASE("in drill mode only drill events are accepted") {
  const Config config = testing::small_config();
  const IngestRules drill_rules{"opinion.events", "opinion.releases", 3600.0, {}};
  const auto live =
      classify(record("opinion.events", event_json("e1", "inc-1")), config, drill_rules);
  REQUIRE(rejection_of(live));
  CHECK(rejection_of(live)->stage == RejectStage::drill_mode);
  CHECK_THAT(rejection_of(live)->reason, Catch::Contains("--time-scale 3600"));
  const auto drill =
      classify(record("opinion.events", event_json("e2", "inc-2", true)), config, drill_rules);
  CHECK(std::holds_alternative<Event>(drill.item));
}

TEST_CASE("a batch goes through the engine in order and is committed once") {
  const Config config = testing::small_config();
  testing::MemoryStore store;
  VirtualTime time(kNow);
  Engine engine(config, store, time);

  std::vector<Inbound> batch;
  for (const auto& [topic, value] : std::vector<std::pair<std::string, std::string>>{
           {"opinion.events", event_json("e1", "inc-1")},
           {"opinion.events", event_json("e1", "inc-1")},                 // duplicate
           {"opinion.events", "not json"},                                // rejected before
           {"opinion.releases", confirmation_json("c1", "inc-unknown")},  // engine refuses
           {"opinion.releases", confirmation_json("c2", "inc-1")},
           {"opinion.events", event_json("e2", "inc-1", false, "closed")},
       }) {
    batch.push_back(classify(record(topic, value), config, kRules));
  }
  const BatchOutcome out = apply_batch(engine, batch);
  CHECK(out.accepted == 3);
  CHECK(out.duplicates == 1);
  CHECK(out.rejected == 2);
  REQUIRE(out.engine_rejections.size() == 1);
  CHECK(out.engine_rejections[0].first == 3);
  CHECK_THAT(out.engine_rejections[0].second, Catch::Contains("unknown incident"));
  CHECK(store.commits() == 1);
  std::vector<ActionKind> kinds;
  for (const auto& a : store.timeline()) kinds.push_back(a.kind);
  // The alert at open (the 0 h warning) reaches the duty officers of a and b (two each).
  const auto n = ActionKind::notification;
  CHECK(kinds == std::vector<ActionKind>{ActionKind::incident_opened, ActionKind::warning, n, n, n,
                                         n, ActionKind::release_confirmed,
                                         ActionKind::incident_closed});

  SECTION("the same batch again (a redelivery) changes nothing") {
    const BatchOutcome again = apply_batch(engine, batch);
    CHECK(again.accepted == 0);
    CHECK(again.duplicates == 4);
    CHECK(store.timeline().size() == 8);
  }
}

TEST_CASE("a batch applied in slices lets a timer that fell due fire between two slices") {
  const Config config = testing::small_config();
  testing::MemoryStore store;
  VirtualTime time(kNow);
  Engine engine(config, store, time);
  // A level II incident: its 2 h warning falls due while the next batch is being applied.
  apply_batch(engine, {classify(record("opinion.events", event_json("open", "inc-clock")), config,
                                kRules)});
  std::vector<Inbound> batch;
  for (int i = 0; i < 6; ++i) {
    const std::string n = std::to_string(i);
    batch.push_back(classify(record("opinion.events", event_json("flood-" + n, "inc-flood-" + n,
                                                                 false, "detected", "III")),
                             config, kRules));
  }
  const auto warned_at = [&]() -> std::optional<std::size_t> {
    const auto& timeline = store.timeline();
    for (std::size_t i = 0; i < timeline.size(); ++i) {
      const Action& a = timeline[i];
      if (a.incident_key == "inc-clock" && a.kind == ActionKind::warning && !a.opening) return i;
    }
    return std::nullopt;
  };

  BatchApplication application(batch);
  REQUIRE_FALSE(application.apply_slice(engine, 2, std::chrono::hours(1)));
  REQUIRE_FALSE(warned_at());
  // Between two slices the loop runs the timer that fell due: the warning is taken at its due
  // instant and committed at once, not after the rest of the batch.
  time.advance_to(kNow + 2h);
  const auto warning = warned_at();
  REQUIRE(warning);
  CHECK(store.timeline()[*warning].at == kNow + 2h);
  CHECK_FALSE(store.processed().contains("flood-2"));

  while (!application.apply_slice(engine, 2, std::chrono::hours(1))) {
  }
  CHECK_FALSE(store.processed().contains("flood-5"));  // applied, not yet committed
  const BatchOutcome out = application.finish(engine, BatchCommit::everything);
  CHECK(out.accepted == 6);
  CHECK(store.processed().contains("flood-5"));
  // The incidents of the later slices were opened after the warning.
  std::size_t opened_last = 0;
  for (std::size_t i = 0; i < store.timeline().size(); ++i) {
    const Action& a = store.timeline()[i];
    if (a.incident_key == "inc-flood-5" && a.kind == ActionKind::incident_opened) opened_last = i;
  }
  CHECK(opened_last > *warning);
}

TEST_CASE("a commit of everything in parts lets a timer that fell due fire between two parts") {
  const Config config = testing::small_config();
  testing::MemoryStore store;
  VirtualTime time(kNow);
  Engine engine(config, store, time);
  std::vector<Inbound> opening{
      classify(record("opinion.events", event_json("open", "inc-clock")), config, kRules)};
  std::vector<Inbound> batch;
  for (int i = 0; i < 6; ++i) {
    const std::string n = std::to_string(i);
    const std::string key = "inc-flood-" + n;
    opening.push_back(
        classify(record("opinion.events", event_json("open-" + n, key, false, "detected", "III")),
                 config, kRules));
    batch.push_back(
        classify(record("opinion.events", event_json("flood-" + n, key, false, "updated", "III")),
                 config, kRules));
  }
  apply_batch(engine, opening);
  BatchApplication application(batch);
  REQUIRE(application.apply_slice(engine, batch.size(), std::chrono::hours(1)));
  const std::size_t commits = store.commits();
  // Updates that only re-describe their incidents take no action: each part takes two of them.
  REQUIRE_FALSE(application.commit_part(engine, 2));
  CHECK(store.commits() == commits + 1);
  CHECK(store.processed().contains("flood-1"));
  CHECK_FALSE(store.processed().contains("flood-2"));
  // Between two parts the loop runs the timer that fell due; its warning is committed at once.
  time.advance_to(kNow + 2h);
  bool warned = false;
  for (const auto& a : store.timeline()) {
    warned = warned || (a.incident_key == "inc-clock" && a.kind == ActionKind::warning &&
                        !a.opening && a.at == kNow + 2h);
  }
  CHECK(warned);
  CHECK_FALSE(store.processed().contains("flood-2"));

  const std::size_t after_timer = store.commits();
  REQUIRE_FALSE(application.commit_part(engine, 2));
  REQUIRE(application.commit_part(engine, 2));
  CHECK(store.commits() == after_timer + 2);
  const BatchOutcome out = application.finish(engine, BatchCommit::everything);
  CHECK(out.accepted == 6);
  CHECK_FALSE(out.disk_full);
  CHECK(store.processed().contains("flood-5"));
  CHECK(store.commits() == after_timer + 2);  // nothing was left for finish()
}

TEST_CASE("a slice ends when its time budget is spent, after at least a few items") {
  const Config config = testing::small_config();
  testing::MemoryStore store;
  VirtualTime time(kNow);
  Engine engine(config, store, time);
  std::vector<Inbound> batch;
  for (int i = 0; i < 40; ++i) {
    const std::string n = std::to_string(i);
    batch.push_back(
        classify(record("opinion.events", event_json("e" + n, "inc-" + n)), config, kRules));
  }
  BatchApplication application(batch);
  // No budget: the clock is looked at every 16 items, so each slice makes progress.
  int slices = 1;
  while (!application.apply_slice(engine, batch.size(), std::chrono::nanoseconds(0))) ++slices;
  CHECK(slices == 3);  // 16, 16, 8
  CHECK(application.finish(engine, BatchCommit::everything).accepted == 40);
  CHECK(store.processed().size() == 40);
}

// ---- [cluster]: inputs forwarded by instances that do not own the incident --------------------

const IngestRules kClusterRules{"opinion.events", "opinion.releases", std::nullopt,
                                "incidentd.inputs"};

std::string forwarded_ack(const std::string& recipient, const std::string& via = "http") {
  return encode_forwarded_input({Acknowledgement{"inc-1", recipient, kNow, via}, "incidentd-b"});
}

std::string forwarded_confirmation(const std::string& id) {
  Confirmation c;
  c.confirmation_id = id;
  c.incident_key = "inc-1";
  c.milestone = Milestone::first_release;
  c.unit = "b";
  c.released_at = kNow - 10min;
  c.via = "sms";
  return encode_forwarded_input({c, "incidentd-b"});
}

TEST_CASE("the inputs topic is read only in a cluster") {
  const Config config = testing::small_config();
  const auto alone = classify(record("incidentd.inputs", forwarded_ack("a-duty1")), config, kRules);
  REQUIRE(rejection_of(alone));
  CHECK_THAT(rejection_of(alone)->reason, Catch::Contains("is not one incidentd consumes"));
  Config clustered = config;
  clustered.cluster.instance_id = "incidentd-a";
  CHECK(IngestRules::from(clustered.kafka, std::nullopt, clustered.cluster).inputs_topic ==
        "incidentd.inputs");
  CHECK(IngestRules::from(config.kafka, std::nullopt, config.cluster).inputs_topic.empty());
}

TEST_CASE("forwarded inputs reach the engine with their door, a repeat is a duplicate") {
  const Config config = testing::small_config();
  testing::MemoryStore store;
  VirtualTime time(kNow);
  Engine engine(config, store, time);
  const auto in = [&](const std::string& topic, const std::string& value) {
    return classify(record(topic, value), config, kClusterRules);
  };
  std::vector<Inbound> batch{
      in("opinion.events", event_json("e1", "inc-1")),
      in("incidentd.inputs", forwarded_ack("a-duty1")),
      in("incidentd.inputs", forwarded_ack("a-duty1")),  // the same again: a duplicate
      in("incidentd.inputs", forwarded_confirmation("sms-b-1")),
      in("incidentd.inputs", forwarded_ack("a-leader")),  // never notified: the engine refuses
      in("incidentd.inputs", "{\"v\":1}"),                // refused before the engine
  };
  REQUIRE(std::holds_alternative<Acknowledgement>(batch[1].item));
  CHECK(std::get<Acknowledgement>(batch[1].item).via == "http");
  REQUIRE(std::holds_alternative<Confirmation>(batch[3].item));
  CHECK(std::get<Confirmation>(batch[3].item).via == "sms");
  REQUIRE(rejection_of(batch[5]));
  CHECK(rejection_of(batch[5])->stage == RejectStage::validation);
  CHECK_THAT(rejection_of(batch[5])->reason, Catch::StartsWith("forwarded input: "));

  const BatchOutcome out = apply_batch(engine, batch);
  CHECK(out.accepted == 3);
  CHECK(out.duplicates == 1);
  CHECK(out.rejected == 2);
  REQUIRE(out.engine_rejections.size() == 1);
  CHECK(out.engine_rejections[0].first == 4);
  CHECK_THAT(out.engine_rejections[0].second, Catch::Contains("was never notified"));
  CHECK(store.commits() == 1);
  REQUIRE(store.acknowledgements().size() == 1);
  CHECK(store.acknowledgements()[0].via == "http");
  REQUIRE(store.confirmations().size() == 1);
  CHECK(store.confirmations()[0].via == "sms");
  bool acknowledged = false;
  for (const auto& a : store.timeline()) {
    acknowledged = acknowledged || (a.kind == ActionKind::acknowledged &&
                                    a.recipient == "a-duty1" && a.via == "http");
  }
  CHECK(acknowledged);

  SECTION("redelivered, the forwarded inputs change nothing") {
    const BatchOutcome again = apply_batch(engine, {batch[1], batch[3]});
    CHECK(again.accepted == 0);
    CHECK(again.duplicates == 2);
  }
}

TEST_CASE("a forwarded input whose key is not its incident is refused") {
  const Config config = testing::small_config();
  KafkaRecord r = record("incidentd.inputs", forwarded_ack("a-duty1"));
  r.key = "inc-2";
  const auto in = classify(r, config, kClusterRules);
  REQUIRE(rejection_of(in));
  CHECK_THAT(rejection_of(in)->reason, Catch::Contains("the message key is not its incident_key"));
}

TEST_CASE("a forwarded input for an incident this instance does not own is refused by the engine") {
  const Config config = testing::small_config();
  testing::MemoryStore store;
  VirtualTime time(kNow);
  Engine engine(config, store, time, [](const std::string&) { return false; });
  const BatchOutcome out = apply_batch(
      engine,
      {classify(record("incidentd.inputs", forwarded_ack("a-duty1")), config, kClusterRules)});
  REQUIRE(out.engine_rejections.size() == 1);
  CHECK_THAT(out.engine_rejections[0].second,
             Catch::Contains("belongs to a partition this instance does not own"));
}

TEST_CASE("a failed commit surfaces as StoreError and the engine flushes each step again after") {
  const Config config = testing::small_config();
  testing::MemoryStore store;
  VirtualTime time(kNow);
  Engine engine(config, store, time);
  std::vector<Inbound> batch{
      classify(record("opinion.events", event_json("e1", "inc-1")), config, kRules)};
  store.fail_next_commits(1);
  CHECK_THROWS_AS(apply_batch(engine, batch), StoreError);
  CHECK(store.timeline().empty());
  // Flushing each step again: the next step commits at once what it touched.
  const Inbound other =
      classify(record("opinion.events", event_json("e2", "inc-2")), config, kRules);
  REQUIRE(engine.handle(std::get<Event>(other.item)).status == Outcome::Status::accepted);
  CHECK(store.commits() == 1);
  // incident_opened, and the alert at open with its four notifications.
  CHECK(store.timeline().size() == 6);
  // What failed stays pending for the owner's flush() (the daemon retries a full disk so).
  CHECK(engine.uncommitted_incidents() == 1);
  engine.flush();
  CHECK(store.commits() == 2);
  CHECK(store.timeline().size() == 12);
}

TEST_CASE("a dead letter carries the reason, the origin and the exact original bytes") {
  KafkaRecord r = record("opinion.events", std::string("\xff\x00\x01 bin\n", 8), 41);
  const Rejection why{RejectStage::validation, "not JSON at byte 0: \xff bad"};
  const json j = json::parse(dead_letter_value(r, why, kNow));
  CHECK(j["reason"].get<std::string>().find("not JSON at byte 0") == 0);
  CHECK(j["stage"] == "validation");
  CHECK(j["topic"] == "opinion.events");
  CHECK(j["partition"] == 2);
  CHECK(j["offset"] == 41);
  CHECK(j["key"] == "inc-1");
  CHECK(base64_decode(j["key_base64"]) == "inc-1");
  CHECK(j["raw_size"] == 8);
  CHECK(j["raw_truncated"] == false);
  CHECK(base64_decode(j["raw_base64"]) == r.value);
  CHECK(j["dead_lettered_at"] == "2026-11-26T01:00:00Z");
  CHECK(j["source"] == "incidentd");
}

TEST_CASE("a dead letter without a key, or with a key that is not UTF-8") {
  KafkaRecord r = record("opinion.events", "x");
  r.key.reset();
  json j = json::parse(dead_letter_value(r, {RejectStage::engine, "r"}, kNow));
  CHECK(j["key"].is_null());
  CHECK(j["key_base64"].is_null());
  CHECK(j["stage"] == "engine");

  r.key = std::string("\xc3\x28", 2);
  j = json::parse(dead_letter_value(r, {RejectStage::engine, "r"}, kNow));
  CHECK(j["key"].is_null());
  CHECK(base64_decode(j["key_base64"]) == *r.key);
}

TEST_CASE("an original over the dead-letter limit is cut, and says so") {
  KafkaRecord r = record("opinion.events", std::string(kDeadLetterRawLimit + 10, 'y'));
  const json j = json::parse(dead_letter_value(r, {RejectStage::validation, "oversize"}, kNow));
  CHECK(j["raw_size"] == kDeadLetterRawLimit + 10);
  CHECK(j["raw_truncated"] == true);
  CHECK(base64_decode(j["raw_base64"]) == r.value.substr(0, kDeadLetterRawLimit));
}

TEST_CASE("a commit's parts are sized to the time budget by the last full part, within bounds") {
  using namespace std::chrono_literals;
  // A part of 128 that took 8 ms: 2 ms fits a quarter of it.
  CHECK(next_part_incidents(128, 8ms, 2ms, 128) == 32);
  // One that took half the budget may double, up to the most allowed.
  CHECK(next_part_incidents(32, 1ms, 2ms, 128) == 64);
  CHECK(next_part_incidents(100, 1ms, 2ms, 128) == 128);
  // However slow, a part takes at least one incident; an instant one takes the most.
  CHECK(next_part_incidents(4, 1s, 2ms, 128) == 1);
  CHECK(next_part_incidents(4, 0ms, 2ms, 128) == 128);
  CHECK(next_part_incidents(4, 1ms, 2ms, 0) == 1);
}

}  // namespace
}  // namespace incidentd
