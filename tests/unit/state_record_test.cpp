// The state topic's change record (incidentd/state_record.hpp): what the engine commits becomes
// one record per incident, which reads back exactly (the snapshot, the timeline entries, the
// outbox rows, the processed ids, confirmations and acknowledgements), and together the records
// hold what the store holds; the dispatcher's updates go with their incident; and a record that
// could not be applied exactly is rejected with a reason.
#include "incidentd/state_record.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "incidentd/state_codec.hpp"
#include "kafka/state_changelog.hpp"
#include "support/engine_harness.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;
using testing::at;

// The engine over a store that queues the records of each commit, as the daemon's with
// [cluster] on.
struct Recorded {
  Recorded()
      : config(testing::roster_config()), time(testing::kStart), engine(config, store, time) {}

  Config config;
  testing::MemoryStore memory;
  StateChangelog changelog{"node-a"};
  ChangelogStore store{memory, changelog};
  VirtualTime time;
  Engine engine;
};

// Two incidents through their clocks: opened, warned and notified, acknowledged, confirmed.
std::vector<StateRecord> run_two_incidents(Recorded& r) {
  r.engine.handle(testing::event("e1", "inc-1", Level::II, {"a", "b"}, at(0h)));
  r.engine.handle(testing::event("e2", "inc-2", Level::I, {"c"}, at(0h)));
  r.time.advance_to(at(2h + 30min));  // warnings, notifications, re-sends
  r.engine.handle(testing::ack("inc-1", "a-duty1", at(2h + 30min)));
  r.engine.handle(testing::confirmation("c1", "inc-2", Milestone::first_release, "c", at(3h)));
  r.time.advance_to(at(4h));
  r.engine.flush();
  return r.changelog.take();
}

StateRecord round_trip(const StateRecord& record) {
  const std::string text = encode_state_record(record);
  auto decoded = decode_state_record(text);
  INFO(decoded.error);
  REQUIRE(decoded);
  CHECK(encode_state_record(*decoded.value) == text);
  return std::move(*decoded.value);
}

TEST_CASE("every committed change reads back from its record exactly") {
  Recorded r;
  const auto records = run_two_incidents(r);
  REQUIRE(records.size() >= 4);
  std::size_t notifications = 0;
  for (const auto& record : records) {
    const StateRecord back = round_trip(record);
    CHECK(back.incident_key == record.incident_key);
    CHECK(record.by == "node-a");  // stamped by the changelog with its instance id
    CHECK(back.by == "node-a");
    CHECK(back.state == record.state);
    CHECK(back.actions == record.actions);
    REQUIRE(back.outbox.size() == record.outbox.size());
    for (std::size_t i = 0; i < back.outbox.size(); ++i) {
      CHECK(back.outbox[i].notification_id == record.outbox[i].notification_id);
      CHECK(back.outbox[i].body == record.outbox[i].body);
      CHECK(back.outbox[i].channel == record.outbox[i].channel);
      CHECK(back.outbox[i].level == record.outbox[i].level);
      CHECK(back.outbox[i].milestone == record.outbox[i].milestone);
      CHECK(back.outbox[i].next_attempt_at == record.outbox[i].next_attempt_at);
    }
    notifications += back.outbox.size();
    REQUIRE(back.processed.size() == record.processed.size());
    for (std::size_t i = 0; i < back.processed.size(); ++i) {
      CHECK(back.processed[i].id == record.processed[i].id);
      CHECK(back.processed[i].at == record.processed[i].at);
    }
    REQUIRE(back.confirmations.size() == record.confirmations.size());
    for (std::size_t i = 0; i < back.confirmations.size(); ++i) {
      CHECK(back.confirmations[i].confirmation_id == record.confirmations[i].confirmation_id);
      CHECK(back.confirmations[i].released_at == record.confirmations[i].released_at);
      CHECK(back.confirmations[i].url == record.confirmations[i].url);
    }
    REQUIRE(back.acknowledgements.size() == record.acknowledgements.size());
    for (std::size_t i = 0; i < back.acknowledgements.size(); ++i) {
      CHECK(back.acknowledgements[i].recipient == record.acknowledgements[i].recipient);
      CHECK(back.acknowledgements[i].at == record.acknowledgements[i].at);
    }
  }
  CHECK(notifications > 0);
}

TEST_CASE("the records of an incident in order hold what the store holds of it") {
  Recorded r;
  const auto records = run_two_incidents(r);
  std::map<std::string, std::vector<Action>> timeline;
  std::map<std::string, IncidentState> last;
  std::map<std::string, std::size_t> processed, confirmations, acks, outbox;
  for (const auto& record : records) {
    const StateRecord back = round_trip(record);
    for (const auto& a : back.actions) timeline[back.incident_key].push_back(a);
    if (back.state) last[back.incident_key] = *back.state;
    processed[back.incident_key] += back.processed.size();
    confirmations[back.incident_key] += back.confirmations.size();
    acks[back.incident_key] += back.acknowledgements.size();
    outbox[back.incident_key] += back.outbox.size();
    for (const auto& row : back.outbox) CHECK(row.incident_key == back.incident_key);
  }
  for (const std::string key : {"inc-1", "inc-2"}) {
    INFO(key);
    std::vector<Action> stored;
    std::size_t notifications = 0;
    for (const auto& a : r.memory.timeline()) {
      if (a.incident_key != key) continue;
      stored.push_back(a);
      if (a.kind == ActionKind::notification) ++notifications;
    }
    CHECK(timeline[key] == stored);
    REQUIRE(r.memory.incidents().count(key) == 1);
    CHECK(last[key] == r.memory.incidents().at(key));
    CHECK(outbox[key] == notifications);
  }
  CHECK(processed["inc-1"] == 1);  // its event
  CHECK(processed["inc-2"] == 2);  // its event and the confirmation
  CHECK(acks["inc-1"] == 1);
  CHECK(confirmations["inc-2"] == 1);
}

TEST_CASE("a commit that fails queues no record") {
  Recorded r;
  r.memory.fail_next_commits(1);
  CHECK_THROWS_AS(r.engine.handle(testing::event("e1", "inc-1", Level::II, {"a"}, at(0h))),
                  StoreError);
  CHECK(r.changelog.pending() == 0);
  r.engine.flush();  // the same change, committed now
  const auto records = r.changelog.take();
  REQUIRE(records.size() == 1);
  CHECK(records[0].incident_key == "inc-1");
  CHECK(records[0].state == r.memory.incidents().at("inc-1"));
}

TEST_CASE("the dispatcher's updates go with their incident and a source notice makes none") {
  Action delivery;
  delivery.at = at(1h);
  delivery.incident_key = "inc-1";
  delivery.kind = ActionKind::delivery;
  delivery.notification_id = "inc-1/a/1/a-duty1";
  delivery.recipient = "a-duty1";
  delivery.channel = "sms";
  delivery.attempt = 1;
  delivery.outcome = "delivered";

  OutboxUpdate delivered;
  delivered.notification_id = delivery.notification_id;
  delivered.state = DeliveryState::delivered;
  delivered.attempts = 1;
  delivered.next_attempt_at = at(1h);
  delivered.delivered_at = at(1h);
  delivered.timeline = {delivery};

  OutboxUpdate retry;  // no timeline entry: its incident comes from the row
  retry.notification_id = "inc-2/a/1/b-duty1";
  retry.attempts = 2;
  retry.next_attempt_at = at(1h + 1min);
  retry.last_error = "timeout";
  OutboxRow unreached;
  unreached.notification_id = "inc-2/unreached/1";
  unreached.incident_key = "inc-2";
  unreached.purpose = NotificationPurpose::unreached;
  unreached.body = "{}";
  retry.new_rows = {unreached};

  OutboxUpdate notice;  // the source heartbeat's: no incident
  notice.notification_id = "source-silent/1";
  notice.state = DeliveryState::delivered;

  const auto records = state_records_of({delivered, retry, notice}, [](const std::string& id) {
    return id.rfind("inc-2/", 0) == 0 ? std::string("inc-2") : std::string();
  });
  REQUIRE(records.size() == 2);
  CHECK(records[0].incident_key == "inc-1");
  CHECK_FALSE(records[0].state.has_value());
  CHECK(records[0].actions == std::vector<Action>{delivery});
  REQUIRE(records[0].deliveries.size() == 1);
  CHECK(records[0].deliveries[0].state == DeliveryState::delivered);
  CHECK(records[1].incident_key == "inc-2");
  REQUIRE(records[1].deliveries.size() == 1);
  CHECK(records[1].deliveries[0].last_error == "timeout");
  REQUIRE(records[1].outbox.size() == 1);
  CHECK(records[1].outbox[0].purpose == NotificationPurpose::unreached);
  for (const auto& record : records) {
    const StateRecord back = round_trip(record);
    CHECK(back.deliveries == record.deliveries);
  }
}

TEST_CASE("a record that could not be applied exactly is rejected with a reason") {
  Recorded r;
  const auto records = run_two_incidents(r);
  const nlohmann::json good = nlohmann::json::parse(encode_state_record(records.front()));
  const auto rejected = [](const std::string& text) {
    auto d = decode_state_record(text);
    CHECK_FALSE(d);
    CHECK_FALSE(d.error.empty());
    return d.error;
  };
  auto j = good;
  j["v"] = 2;
  CHECK_THAT(rejected(j.dump()), Catch::Contains("unknown record version 2"));
  j = good;
  j.erase("incident_key");
  CHECK_THAT(rejected(j.dump()), Catch::Contains("incident_key"));
  j = good;
  j["incident_key"] = "other";
  CHECK_THAT(rejected(j.dump()), Catch::Contains("another incident"));
  j = good;
  j["processed"] = nlohmann::json::array({{{"id", "x"}, {"at", 1.5}}});
  CHECK_THAT(rejected(j.dump()), Catch::Contains("integer"));
  j = good;
  j["actions"] = nlohmann::json::array({{{"action", "warning"}}});
  CHECK_THAT(rejected(j.dump()), Catch::Contains("timeline entry"));
  rejected("");
  rejected("[]");
  rejected(good.dump() + "x");
  rejected(good.dump() + std::string(1, '\0'));
  rejected(R"({"v":1,"incident_key":"k","outbox":[{"notification_id":""}]})");
}

TEST_CASE("a record's optional parts may be left out") {
  auto d = decode_state_record(R"({"v":1,"incident_key":"inc-9"})");
  INFO(d.error);
  REQUIRE(d);
  CHECK(d.value->incident_key == "inc-9");
  CHECK_FALSE(d.value->state.has_value());
  CHECK(d.value->actions.empty());
  CHECK(d.value->by.empty());  // a writer that did not say: unknown
  CHECK(encode_state_record(*d.value) == R"({"incident_key":"inc-9","v":1})");
}

TEST_CASE(
    "a record names the instance that wrote it, and a reader without it takes it as unknown") {
  auto d = decode_state_record(R"({"by":"node-b","incident_key":"inc-9","v":1})");
  INFO(d.error);
  REQUIRE(d);
  CHECK(d.value->by == "node-b");
  CHECK(encode_state_record(*d.value) == R"({"by":"node-b","incident_key":"inc-9","v":1})");
  auto wrong = decode_state_record(R"({"by":7,"incident_key":"inc-9","v":1})");
  CHECK_FALSE(wrong);
  CHECK_THAT(wrong.error, Catch::Contains("\"by\""));
}

}  // namespace
}  // namespace incidentd
