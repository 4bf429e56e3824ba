// The inputs topic's message (incidentd/forwarded_input.hpp): an acknowledgement or a
// confirmation forwarded by an instance that does not own the incident reads back exactly as it
// was handed over, door (`via`) included; anything else is refused with a reason naming the field.
#include "incidentd/forwarded_input.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

#include "support/test_config.hpp"

namespace incidentd {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const TimePoint kAt = *parse_rfc3339("2026-11-26T10:05:00.250+08:00");

Acknowledgement ack() {
  return Acknowledgement{"zt-landslide", "a-duty1", kAt, "http"};
}

Confirmation confirmation() {
  Confirmation c;
  c.confirmation_id = "sms-a-duty1-4827-1";
  c.incident_key = "zt-landslide";
  c.milestone = Milestone::press_conference;
  c.unit = "a";
  c.released_at = kAt - 5min;
  c.channel = "weibo";
  c.url = "https://example.org/r/1";
  c.speaker = "spokesperson";
  c.via = "sms";
  return c;
}

std::string refusal(const std::string& text) {
  const auto parsed = decode_forwarded_input(text, testing::small_config());
  REQUIRE_FALSE(parsed);
  return parsed.error;
}

TEST_CASE("a forwarded acknowledgement reads back as it was sent, door included", "[inputs]") {
  const std::string text = encode_forwarded_input({ack(), "incidentd-b"});
  CHECK(text ==
        R"({"at":"2026-11-26T02:05:00.250Z","from":"incidentd-b","incident_key":"zt-landslide",)"
        R"("kind":"acknowledgement","recipient":"a-duty1","v":1,"via":"http"})");
  const auto parsed = decode_forwarded_input(text, testing::small_config());
  REQUIRE(parsed);
  CHECK(parsed.value->from == "incidentd-b");
  CHECK(parsed.value->kind() == "acknowledgement");
  const auto& a = std::get<Acknowledgement>(parsed.value->input);
  CHECK(a.incident_key == "zt-landslide");
  CHECK(a.recipient == "a-duty1");
  CHECK(a.at == kAt);
  CHECK(a.via == "http");
}

TEST_CASE("a forwarded confirmation carries the releases topic's message", "[inputs]") {
  const std::string text = encode_forwarded_input({confirmation(), ""});
  const json j = json::parse(text);
  CHECK(j["v"] == 1);
  CHECK(j["kind"] == "confirmation");
  CHECK(j["via"] == "sms");
  CHECK_FALSE(j.contains("from"));
  // The inner object is a releases-topic message: its own parser reads it.
  const auto inner = parse_confirmation(j["confirmation"].dump(), testing::small_config());
  REQUIRE(inner);
  CHECK(inner.value->released_at == kAt - 5min);

  const auto parsed = decode_forwarded_input(text, testing::small_config());
  REQUIRE(parsed);
  CHECK(parsed.value->incident_key() == "zt-landslide");
  const auto& c = std::get<Confirmation>(parsed.value->input);
  CHECK(c.confirmation_id == "sms-a-duty1-4827-1");
  CHECK(c.milestone == Milestone::press_conference);
  CHECK(c.unit == "a");
  CHECK(c.released_at == kAt - 5min);
  CHECK(c.channel == "weibo");
  CHECK(c.url == "https://example.org/r/1");
  CHECK(c.speaker == "spokesperson");
  CHECK(c.via == "sms");
  CHECK(encode_forwarded_input(*parsed.value) == text);
}

TEST_CASE("a forwarded input that cannot be applied exactly is refused naming the field",
          "[inputs][rejection]") {
  CHECK_THAT(refusal("[1]"), Catch::Contains("must be a JSON object"));
  CHECK_THAT(refusal("{"), Catch::StartsWith("not JSON"));
  CHECK_THAT(refusal(R"({"kind":"acknowledgement"})"), Catch::Contains(R"(field "v")"));
  CHECK_THAT(refusal(R"({"v":2,"kind":"acknowledgement"})"),
             Catch::Contains("unknown forwarded input version 2"));
  CHECK_THAT(refusal(R"({"v":1,"kind":"ack"})"),
             Catch::Contains(R"(field "kind" must be one of acknowledgement, confirmation)"));
  CHECK_THAT(refusal(R"({"v":1,"kind":"acknowledgement","incident_key":"k","at":"x","via":"h",)"
                     R"("recipient":"a-duty1"})"),
             Catch::Contains(R"(field "at" must be an RFC 3339 timestamp)"));
  CHECK_THAT(refusal(R"({"v":1,"kind":"acknowledgement","incident_key":"k",)"
                     R"("at":"2026-11-26T00:00:00Z","via":"h"})"),
             Catch::Contains(R"(missing required field "recipient")"));
  CHECK_THAT(refusal(R"({"v":1,"kind":"acknowledgement","incident_key":"k","recipient":"r",)"
                     R"("at":"0001-01-01T00:00:00+01:00","via":"h"})"),
             Catch::Contains("outside the years"));

  json c = json::parse(encode_forwarded_input({confirmation(), ""}));
  c["confirmation"]["unit"] = "nowhere";
  CHECK_THAT(refusal(c.dump()),
             Catch::Contains(R"(field "confirmation": unknown unit "nowhere" in field "unit")"));
  c = json::parse(encode_forwarded_input({confirmation(), ""}));
  c["incident_key"] = "other";
  CHECK_THAT(refusal(c.dump()), Catch::Contains(R"(names incident "zt-landslide", not "other")"));
  c["confirmation"] = "text";
  CHECK_THAT(refusal(c.dump()), Catch::Contains(R"(field "confirmation" must be an object)"));
}

}  // namespace
}  // namespace incidentd
