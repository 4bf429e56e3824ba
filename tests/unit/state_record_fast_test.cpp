// The change record's fast decoder (core/state_record_fast.hpp) against the reference
// (nlohmann): on the records an engine and a dispatcher write it answers, and gives what the
// reference gives; on thousands of variants of them (each field removed, given another type, a
// float, a null, a repeated or unsorted key, a surrogate escape, the text cut short) and on the
// fuzz corpus, whenever it answers the reference accepts the same record, and otherwise
// decode_state_record() says what the reference says.
#include "core/state_record_fast.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "incidentd/state_record.hpp"
#include "kafka/state_changelog.hpp"
#include "support/engine_harness.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::at;

// Several incidents through their clocks, as the daemon's [cluster] engine records them.
std::vector<StateRecord> engine_records() {
  const Config config = testing::roster_config();
  testing::MemoryStore memory;
  StateChangelog changelog{"node-a"};
  ChangelogStore store{memory, changelog};
  VirtualTime time(testing::kStart);
  Engine engine(config, store, time);
  engine.handle(testing::event("e1", "inc-1", Level::II, {"a", "b"}, at(0h)));
  engine.handle(testing::event("e2", "inc-2", Level::I, {"c"}, at(0h)));
  engine.handle(testing::event("e3", "inc-3", Level::III, {"a", "c"}, at(10min)));
  time.advance_to(at(2h + 30min));
  engine.handle(testing::ack("inc-1", "a-duty1", at(2h + 30min)));
  engine.handle(testing::confirmation("c1", "inc-2", Milestone::first_release, "c", at(3h)));
  time.advance_to(at(9h));  // breaches, reminders
  engine.flush();
  return changelog.take();
}

// The dispatcher's: a delivery entry, its row's update, a new row.
std::vector<StateRecord> dispatcher_records() {
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
  delivered.failing_since = at(30min);
  delivered.recorded = "yes";
  delivered.timeline = {delivery};
  OutboxRow unreached;
  unreached.notification_id = "inc-1/unreached/1";
  unreached.incident_key = "inc-1";
  unreached.purpose = NotificationPurpose::unreached;
  unreached.level = 2;
  unreached.milestone = "first_release";
  unreached.body = "{\"a\":\"\\u0001 \\\" 中文\"}";
  delivered.new_rows = {unreached};
  return state_records_of({delivered}, {});
}

bool same_record(const StateRecord& a, const StateRecord& b) {
  return a.incident_key == b.incident_key && a.by == b.by && a.seq == b.seq && a.state == b.state &&
         a.actions == b.actions && a.deliveries == b.deliveries &&
         encode_state_record(a) == encode_state_record(b);
}

// Whenever the fast path answers, the reference accepts and gives the same record; and the
// decoder's answer is the reference's. True when the fast path answered.
bool parity(const std::string& text) {
  const auto fast = decode_state_record_fast(text);
  const auto reference = decode_state_record_reference(text);
  const auto decoded = decode_state_record(text);
  INFO(text.substr(0, 400));
  if (fast) {
    INFO(reference.error);
    REQUIRE(reference);
    CHECK(same_record(*fast, *reference.value));
  }
  REQUIRE(decoded.value.has_value() == reference.value.has_value());
  if (decoded) {
    CHECK(same_record(*decoded.value, *reference.value));
  } else {
    CHECK(decoded.error == reference.error);
  }
  return fast.has_value();
}

// Odd values for a field: other types, nulls, floats, numbers out of range.
std::vector<json> odd_values(const json& v) {
  std::vector<json> out = {nullptr,       1.5, 2.0, -1,   0,     std::int64_t{1} << 40,
                           UINT64_MAX,    "",  "x", true, false, json::array(),
                           json::object()};
  if (v.is_string()) {
    out.emplace_back(v.get<std::string>() + " ");
    out.emplace_back("2026-11-26T08:00:00+08:00");
    out.emplace_back("2026-11-26T00:00:00Z");
  }
  return out;
}

// The member names of an object, in order: its shape.
std::string shape_of(const json& j) {
  std::string shape;
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) shape += key + ",";
  }
  return shape;
}

// Every variant of `j` with one member (at any depth, in objects) removed or replaced. Of an
// array's elements, the first of each shape: a record's actions repeat a few shapes many times.
void variants(json& j, const json& root, std::vector<std::string>& out) {
  if (j.is_array()) {
    std::set<std::string> shapes;
    for (auto& x : j) {
      if (shapes.insert(shape_of(x)).second) variants(x, root, out);
    }
    return;
  }
  if (!j.is_object()) return;
  const json copy = j;
  for (const auto& [key, value] : copy.items()) {
    j.erase(key);
    out.push_back(root.dump());
    for (const json& odd : odd_values(value)) {
      j[key] = odd;
      out.push_back(root.dump());
    }
    j[key] = value;
    variants(j[key], root, out);
  }
}

TEST_CASE("the fast decoder answers for the records an engine and a dispatcher write") {
  auto records = engine_records();
  for (auto& r : dispatcher_records()) records.push_back(std::move(r));
  REQUIRE(records.size() > 10);
  std::size_t actions = 0;
  std::size_t states = 0;
  for (auto& r : records) {
    r.seq = 7;
    const std::string text = encode_state_record(r);
    CHECK(parity(text));
    const auto fast = decode_state_record_fast(text);
    REQUIRE(fast);
    CHECK(same_record(*fast, r));
    actions += r.actions.size();
    states += r.state ? 1 : 0;
  }
  CHECK(actions > 20);
  CHECK(states > 5);
}

TEST_CASE("the fast decoder agrees with the reference on variants of every field") {
  auto records = engine_records();
  for (auto& r : dispatcher_records()) records.push_back(std::move(r));
  std::size_t answered = 0;
  std::size_t total = 0;
  // Every sixteenth record (under a sanitizer every 48th), whole: each variant of each is
  // decoded three ways.
#ifdef INCIDENTD_UNDER_SANITIZER
  constexpr std::size_t kStride = 48;
#else
  constexpr std::size_t kStride = 16;
#endif
  for (std::size_t i = 0; i < records.size(); i += kStride) {
    json root = json::parse(encode_state_record(records[i]));
    std::vector<std::string> texts;
    variants(root, root, texts);
    for (const auto& t : texts) {
      answered += parity(t) ? 1 : 0;
      ++total;
    }
  }
  // The dispatcher's record has every delivery field.
  json root = json::parse(encode_state_record(dispatcher_records().front()));
  std::vector<std::string> texts;
  variants(root, root, texts);
  for (const auto& t : texts) {
    answered += parity(t) ? 1 : 0;
    ++total;
  }
  INFO(answered << " of " << total << " answered by the fast path");
  CHECK(total > 1000);
  CHECK(answered > 0);
  CHECK(answered < total);
}

TEST_CASE(
    "the fast decoder leaves repeated and unsorted keys, escapes and cut text to the reference") {
  const std::string text = encode_state_record(engine_records().front());
  REQUIRE(parity(text));
  // A repeated key: simdjson would take the first, nlohmann the last.
  std::string repeated = text;
  repeated.insert(1, R"("incident_key":"other",)");
  CHECK_FALSE(parity(repeated));
  CHECK_FALSE(parity(R"({"v":1,"incident_key":"inc-9"})"));  // unsorted: valid, the reference's
  CHECK_FALSE(parity(R"({"incident_key":"inc-\ud800","v":1})"));
  CHECK_FALSE(parity(R"({"incident_key":"inc-\udc00","v":1})"));
  CHECK(parity(R"({"incident_key":"inc-\u00e9\n","v":1})"));
  CHECK_FALSE(parity(R"({"incident_key":"inc-9","v":1} x)"));
  CHECK_FALSE(parity(std::string(R"({"incident_key":"inc-9","v":1})") + '\0'));
  CHECK_FALSE(parity("\xff"));
  for (std::size_t cut = 0; cut < text.size(); cut += 7) parity(text.substr(0, cut));
}

TEST_CASE("the fast decoder agrees with the reference on the fuzz corpus") {
  const std::filesystem::path corpus =
      std::filesystem::path(INCIDENTD_SOURCE_DIR) / "tests/fuzz/corpus/state_record_fuzz";
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    parity(text.str());
    ++files;
  }
  CHECK(files >= 5);
}

}  // namespace
}  // namespace incidentd
