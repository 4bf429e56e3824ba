#include "incidentd/codec.hpp"

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/contract_examples.hpp"

namespace incidentd {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

using test::kExampleEvent;

// The contract's example confirmation, verbatim.
constexpr const char* kExampleConfirmation =
    R"({"schema": 1, "confirmation_id": "rel-0001", "incident_key": "zt-landslide-20261126",
 "milestone": "first_release", "unit": "zhaotong-gov",
 "released_at": "2026-11-26T10:40:00+08:00", "channel": "weibo",
 "url": "https://example.org/release/1", "speaker": "principal"})";

// The example roster's units, each with one duty officer (enough for the codec's roster checks).
Config example_config() {
  Config config;
  const std::vector<std::pair<std::string, std::string>> units = {
      {"zhaotong-gov", "zt-duty-1"},    {"prov-emergency", "em-duty-1"},
      {"prov-cac", "cac-duty-1"},       {"prov-publicsecurity", "ps-duty-1"},
      {"prov-office", "office-duty-1"},
  };
  for (const auto& [unit_id, person_id] : units) {
    Unit unit;
    unit.id = unit_id;
    unit.name = unit_id;
    Person person;
    person.id = person_id;
    person.name = person_id;
    person.role = "duty";
    person.phone = "+8613800000000";
    person.channels = {"sms"};
    unit.people.push_back(person);
    config.units.push_back(unit);
  }
  return config;
}

// Instants written out by hand: 08:00 at +08:00 is 00:00 UTC.
TimePoint utc(int y, unsigned mo, unsigned d, int h, int mi, int s = 0, int ms = 0) {
  using namespace std::chrono;
  return TimePoint{sys_days{year{y} / month{mo} / day{d}}} + hours{h} + minutes{mi} + seconds{s} +
         milliseconds{ms};
}

std::string event_with(const std::function<void(json&)>& change) {
  json j = json::parse(kExampleEvent);
  change(j);
  return j.dump();
}

std::string confirmation_with(const std::function<void(json&)>& change) {
  json j = json::parse(kExampleConfirmation);
  change(j);
  return j.dump();
}

std::string event_error(const std::function<void(json&)>& change) {
  auto parsed = parse_event(event_with(change), example_config());
  REQUIRE_FALSE(parsed);
  return parsed.error;
}

std::string confirmation_error(const std::function<void(json&)>& change) {
  auto parsed = parse_confirmation(confirmation_with(change), example_config());
  REQUIRE_FALSE(parsed);
  return parsed.error;
}

bool is_valid_utf8_one_line(const std::string& s) {
  if (s.find('\n') != std::string::npos || s.find('\r') != std::string::npos) return false;
  try {
    (void)json(s).dump();  // the default handler throws on invalid UTF-8
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

// ---- events: the valid case ----

TEST_CASE("the contract's example event parses with every field", "[codec][event]") {
  auto parsed = parse_event(kExampleEvent, example_config());
  REQUIRE(parsed);
  const Event& e = *parsed.value;
  CHECK(e.event_id == "yq-20261126-0001");
  CHECK(e.incident_key == "zt-landslide-20261126");
  CHECK(e.kind == EventKind::detected);
  CHECK(e.level == Level::II);
  CHECK(e.title == "昭通市某县山体滑坡引发网络关注");
  CHECK(e.category == "disaster");
  CHECK(e.region == "530600");
  CHECK(e.lead_unit == "zhaotong-gov");
  CHECK(e.units == std::vector<std::string>{"zhaotong-gov", "prov-emergency", "prov-cac"});
  CHECK(e.detected_at == utc(2026, 11, 26, 0, 0));
  CHECK_FALSE(e.drill);
  CHECK(e.source_platform == "weibo");
  CHECK(e.source_by.empty());
  CHECK_FALSE(e.arrived_at.has_value());
  CHECK(parsed.error.empty());
}

TEST_CASE("a source's platform and by are read when they are strings, anything else is ignored",
          "[codec][event]") {
  const auto with_source = [](const std::string& source) {
    return R"({"schema":1,"event_id":"a","incident_key":"k","kind":"detected","level":"II",)"
           R"("lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T08:00:00Z",)"
           R"("source":)" +
           source + "}";
  };
  auto manual = parse_event(with_source(R"({"platform":"manual","by":"张伟","via":"http"})"),
                            example_config());
  REQUIRE(manual);
  CHECK(manual.value->source_platform == "manual");
  CHECK(manual.value->source_by == "张伟");
  // The source is the sender's own object: odd members there never reject the event.
  auto odd = parse_event(with_source(R"({"platform":7,"by":{"name":"x"}})"), example_config());
  REQUIRE(odd);
  CHECK(odd.value->source_platform.empty());
  CHECK(odd.value->source_by.empty());
}

TEST_CASE("an event with only the required fields parses, optional ones left empty",
          "[codec][event]") {
  auto parsed = parse_event(event_with([](json& j) {
                              j.erase("title");
                              j.erase("category");
                              j.erase("region");
                              j.erase("source");
                            }),
                            example_config());
  REQUIRE(parsed);
  CHECK(parsed.value->title.empty());
  CHECK(parsed.value->category.empty());
  CHECK(parsed.value->region.empty());
}

TEST_CASE("every event kind and level is accepted", "[codec][event]") {
  const std::vector<std::pair<std::string, EventKind>> kinds = {
      {"detected", EventKind::detected},
      {"updated", EventKind::updated},
      {"closed", EventKind::closed},
  };
  for (const auto& [name, kind] : kinds) {
    auto parsed = parse_event(event_with([&](json& j) { j["kind"] = name; }), example_config());
    REQUIRE(parsed);
    CHECK(parsed.value->kind == kind);
  }
  const std::vector<std::pair<std::string, Level>> levels = {
      {"I", Level::I}, {"II", Level::II}, {"III", Level::III}, {"IV", Level::IV}};
  for (const auto& [name, level] : levels) {
    auto parsed = parse_event(event_with([&](json& j) { j["level"] = name; }), example_config());
    REQUIRE(parsed);
    CHECK(parsed.value->level == level);
  }
}

TEST_CASE("a drill flag is read", "[codec][event]") {
  auto parsed = parse_event(event_with([](json& j) { j["drill"] = true; }), example_config());
  REQUIRE(parsed);
  CHECK(parsed.value->drill);
}

TEST_CASE("timestamps in other offsets and with milliseconds name the same instant",
          "[codec][event]") {
  auto zulu = parse_event(
      event_with([](json& j) { j["detected_at"] = "2026-11-26T00:00:00.125Z"; }), example_config());
  REQUIRE(zulu);
  CHECK(zulu.value->detected_at == utc(2026, 11, 26, 0, 0, 0, 125));
  auto west =
      parse_event(event_with([](json& j) { j["detected_at"] = "2026-11-25T20:30:00-03:30"; }),
                  example_config());
  REQUIRE(west);
  CHECK(west.value->detected_at == utc(2026, 11, 26, 0, 0));
}

TEST_CASE("unknown fields are kept out of the way and the event accepted", "[codec][event]") {
  auto parsed = parse_event(event_with([](json& j) {
                              j["priority"] = "high";
                              j["extra"] = {{"nested", {1, 2, 3}}};
                              j["schema_note"] = nullptr;
                            }),
                            example_config());
  REQUIRE(parsed);
  CHECK(parsed.value->event_id == "yq-20261126-0001");
}

TEST_CASE("an optional field given as null counts as absent", "[codec][event]") {
  auto parsed = parse_event(event_with([](json& j) {
                              j["title"] = nullptr;
                              j["region"] = nullptr;
                              j["drill"] = nullptr;
                              j["source"] = nullptr;
                            }),
                            example_config());
  REQUIRE(parsed);
  CHECK(parsed.value->title.empty());
  CHECK_FALSE(parsed.value->drill);
}

TEST_CASE("arrived_at is a scenario field: a live event ignores it", "[codec][event]") {
  auto parsed =
      parse_event(event_with([](json& j) { j["arrived_at"] = "not a time"; }), example_config());
  REQUIRE(parsed);
  CHECK_FALSE(parsed.value->arrived_at.has_value());
}

// ---- events: rejections ----

TEST_CASE("each missing required event field is named", "[codec][event][reject]") {
  for (const char* field : {"schema", "event_id", "incident_key", "kind", "level", "lead_unit",
                            "units", "detected_at"}) {
    DYNAMIC_SECTION("without " << field) {
      CHECK(event_error([&](json& j) { j.erase(field); }) ==
            std::string("missing required field \"") + field + "\"");
    }
  }
}

TEST_CASE("each ill-typed required event field is named with its expected type",
          "[codec][event][reject]") {
  struct Case {
    const char* field;
    json value;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"schema", "1", R"(field "schema" must be an integer (got string))"},
      {"schema", 1.5, R"(field "schema" must be an integer (got non-integer number))"},
      {"event_id", 42, R"(field "event_id" must be a string (got integer))"},
      {"incident_key", nullptr, R"(field "incident_key" must be a string (got null))"},
      {"kind", json::array({"detected"}), R"(field "kind" must be a string (got array))"},
      {"level", 2, R"(field "level" must be a string (got integer))"},
      {"lead_unit", json::object(), R"(field "lead_unit" must be a string (got object))"},
      {"units", "zhaotong-gov", R"(field "units" must be an array of strings (got string))"},
      {"units", json::array({"zhaotong-gov", 7}),
       R"(field "units" must be an array of strings (element 1 is integer))"},
      {"detected_at", 1795622400, R"(field "detected_at" must be a string (got integer))"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.field << " = " << c.value.dump()) {
      CHECK(event_error([&](json& j) { j[c.field] = c.value; }) == c.message);
    }
  }
}

TEST_CASE("ill-typed optional event fields are rejected", "[codec][event][reject]") {
  CHECK(event_error([](json& j) { j["title"] = 5; }) ==
        R"(field "title" must be a string (got integer))");
  CHECK(event_error([](json& j) { j["category"] = true; }) ==
        R"(field "category" must be a string (got boolean))");
  CHECK(event_error([](json& j) { j["region"] = 530600; }) ==
        R"(field "region" must be a string (got integer))");
  CHECK(event_error([](json& j) { j["drill"] = "yes"; }) ==
        R"(field "drill" must be a boolean (got string))");
  CHECK(event_error([](json& j) { j["source"] = "weibo"; }) ==
        R"(field "source" must be an object (got string))");
}

TEST_CASE("an unknown schema version is rejected", "[codec][event][reject]") {
  CHECK(event_error([](json& j) { j["schema"] = 2; }) ==
        "unknown schema version 2 (this incidentd understands 1)");
  CHECK(event_error([](json& j) { j["schema"] = 0; }) ==
        "unknown schema version 0 (this incidentd understands 1)");
}

TEST_CASE("empty ids are rejected", "[codec][event][reject]") {
  for (const char* field : {"event_id", "incident_key", "lead_unit"}) {
    DYNAMIC_SECTION(field) {
      CHECK(event_error([&](json& j) { j[field] = ""; }) ==
            std::string("field \"") + field + "\" must not be empty");
    }
  }
  CHECK(event_error([](json& j) {
          j["units"] = {"zhaotong-gov", ""};
        }) == R"(field "units" must not contain an empty string)");
}

TEST_CASE("an unknown kind is rejected with the allowed kinds listed", "[codec][event][reject]") {
  CHECK(event_error([](json& j) { j["kind"] = "opened"; }) ==
        R"(field "kind" must be one of detected, updated, closed (got "opened"))");
}

TEST_CASE("an unknown level is rejected with the allowed levels listed", "[codec][event][reject]") {
  CHECK(event_error([](json& j) { j["level"] = "V"; }) ==
        R"(field "level" must be one of I, II, III, IV (got "V"))");
  CHECK(event_error([](json& j) { j["level"] = "ii"; }) ==
        R"(field "level" must be one of I, II, III, IV (got "ii"))");
}

TEST_CASE("a timestamp without an offset or not a timestamp at all is rejected",
          "[codec][event][reject]") {
  CHECK(event_error([](json& j) { j["detected_at"] = "2026-11-26T08:00:00"; }) ==
        R"(field "detected_at" must be an RFC 3339 timestamp with an offset, like )"
        R"("2026-11-26T08:00:00+08:00" (got "2026-11-26T08:00:00"))");
  CHECK(event_error([](json& j) { j["detected_at"] = "yesterday"; }) ==
        R"(field "detected_at" must be an RFC 3339 timestamp with an offset, like )"
        R"("2026-11-26T08:00:00+08:00" (got "yesterday"))");
}

TEST_CASE("units must include the lead unit", "[codec][event][reject]") {
  CHECK(event_error([](json& j) {
          j["units"] = {"prov-emergency", "prov-cac"};
        }) == R"(field "units" must include the lead unit "zhaotong-gov")");
  CHECK(event_error([](json& j) { j["units"] = json::array(); }) ==
        R"(field "units" must include the lead unit "zhaotong-gov")");
}

TEST_CASE("a unit outside the roster is rejected, naming the field", "[codec][event][reject]") {
  CHECK(event_error([](json& j) {
          j["units"] = {"zhaotong-gov", "county-x"};
        }) == R"(unknown unit "county-x" in field "units")");
  CHECK(event_error([](json& j) {
          j["lead_unit"] = "county-x";
          j["units"] = {"county-x"};
        }) == R"(unknown unit "county-x" in field "lead_unit")");
}

TEST_CASE("a unit listed twice is rejected", "[codec][event][reject]") {
  CHECK(event_error([](json& j) {
          j["units"] = {"zhaotong-gov", "prov-cac", "prov-cac"};
        }) == R"(field "units" lists "prov-cac" more than once)");
}

TEST_CASE("the size limit is checked before parsing, at exactly kMaxMessageBytes",
          "[codec][event][reject]") {
  std::string at_limit = kExampleEvent;
  at_limit.append(kMaxMessageBytes - at_limit.size(), ' ');  // JSON allows trailing whitespace
  REQUIRE(at_limit.size() == 65536);
  CHECK(parse_event(at_limit, example_config()));

  auto over = parse_event(at_limit + " ", example_config());
  REQUIRE_FALSE(over);
  CHECK(over.error == "message is 65537 bytes, over the limit of 65536");

  // Not JSON either: the size is what is reported, so the parser never saw it.
  auto garbage = parse_event(std::string(kMaxMessageBytes + 10, 'x'), example_config());
  REQUIRE_FALSE(garbage);
  CHECK(garbage.error == "message is 65546 bytes, over the limit of 65536");
}

TEST_CASE("text that is not JSON is rejected with the byte where it went wrong",
          "[codec][event][reject]") {
  // Byte 13 (counting from 1) is the second comma.
  auto parsed = parse_event(R"({"schema":1,,})", example_config());
  REQUIRE_FALSE(parsed);
  CHECK_THAT(parsed.error, Catch::StartsWith("not JSON at byte 13: syntax error"));
  CHECK(is_valid_utf8_one_line(parsed.error));

  auto empty = parse_event("", example_config());
  REQUIRE_FALSE(empty);
  CHECK_THAT(empty.error, Catch::StartsWith("not JSON at byte 1: "));
}

TEST_CASE("a not-JSON reason stays one line of valid UTF-8 whatever the input holds",
          "[codec][event][reject]") {
  auto newline = parse_event("{\"title\": \"a\nb\"}", example_config());
  REQUIRE_FALSE(newline);
  CHECK_THAT(newline.error, Catch::StartsWith("not JSON at byte "));
  CHECK(is_valid_utf8_one_line(newline.error));

  auto bad_utf8 = parse_event("{\"title\": \"\xff\xfe\"}", example_config());
  REQUIRE_FALSE(bad_utf8);
  CHECK_THAT(bad_utf8.error, Catch::StartsWith("not JSON at byte "));
  CHECK(is_valid_utf8_one_line(bad_utf8.error));

  // An unterminated string makes nlohmann quote the whole token: the reason stays bounded.
  auto long_token = parse_event("{\"title\": \"" + std::string(10000, 'a'), example_config());
  REQUIRE_FALSE(long_token);
  CHECK(long_token.error.size() < 400);
}

TEST_CASE("an event or a confirmation is exactly one JSON value: trailing bytes are rejected",
          "[codec][event][confirmation][reject]") {
  const Config config = example_config();
  for (const std::string& text : {std::string(kExampleEvent), std::string(kExampleConfirmation)}) {
    const bool event = text == kExampleEvent;
    const auto parse = [&](const std::string& t) {
      return event ? parse_event(t, config).error : parse_confirmation(t, config).error;
    };
    REQUIRE(parse(text).empty());
    REQUIRE(parse(text + " \n\t").empty());  // whitespace after the value is JSON's own

    CHECK(parse(text + std::string("\0x", 2)) ==
          "not JSON at byte " + std::to_string(text.size() + 1) +
              ": a NUL byte (a message is exactly one JSON value, nothing may follow it)");
    CHECK(parse(text + std::string(1, '\0')) ==
          "not JSON at byte " + std::to_string(text.size() + 1) +
              ": a NUL byte (a message is exactly one JSON value, nothing may follow it)");
    CHECK(parse(text + text) ==
          "not JSON at byte " + std::to_string(text.size() + 1) +
              ": trailing bytes after the JSON value (a message is exactly one JSON value)");
    CHECK(parse(text + " x") ==
          "not JSON at byte " + std::to_string(text.size() + 2) +
              ": trailing bytes after the JSON value (a message is exactly one JSON value)");
    // A NUL inside a string is no better than one after the value.
    std::string inner = text;
    inner.insert(inner.find("zt-landslide") + 2, 1, '\0');
    CHECK_THAT(parse(inner), Catch::Contains("a NUL byte"));
  }
  // Scenario lines go through the same parser.
  const auto line = parse_scenario_line(std::string(kExampleEvent) + std::string("\0x", 2), config);
  REQUIRE_FALSE(line);
  CHECK_THAT(line.error, Catch::Contains("a NUL byte"));
}

TEST_CASE("JSON that is not an object is rejected", "[codec][event][reject]") {
  auto array = parse_event(R"([{"schema": 1}])", example_config());
  REQUIRE_FALSE(array);
  CHECK(array.error == "message must be a JSON object (got array)");
  auto number = parse_event("42", example_config());
  REQUIRE_FALSE(number);
  CHECK(number.error == "message must be a JSON object (got integer)");
}

TEST_CASE("deeply nested JSON within the size limit is rejected, not a crash",
          "[codec][event][reject]") {
  const std::size_t depth = kMaxMessageBytes / 2;
  auto nested = parse_event(std::string(depth, '[') + std::string(depth, ']'), example_config());
  REQUIRE_FALSE(nested);
  CHECK(nested.error == "message must be a JSON object (got array)");
  auto unclosed = parse_event(std::string(kMaxMessageBytes, '['), example_config());
  REQUIRE_FALSE(unclosed);
  // One past the last byte: the input ended while a value was still open.
  CHECK_THAT(unclosed.error, Catch::StartsWith("not JSON at byte 65537: "));
}

TEST_CASE("a quoted bad value is escaped and cut short so the reason stays one line",
          "[codec][event][reject]") {
  const std::string message = event_error([](json& j) { j["kind"] = "a\nb"; });
  CHECK(message == R"(field "kind" must be one of detected, updated, closed (got "a\nb"))");
  const std::string long_value = event_error([](json& j) { j["level"] = std::string(1000, 'V'); });
  CHECK(long_value == R"(field "level" must be one of I, II, III, IV (got ")" +
                          std::string(64, 'V') + R"(..."))");
}

// ---- confirmations ----

TEST_CASE("the contract's example confirmation parses with every field", "[codec][confirmation]") {
  auto parsed = parse_confirmation(kExampleConfirmation, example_config());
  REQUIRE(parsed);
  const Confirmation& c = *parsed.value;
  CHECK(c.confirmation_id == "rel-0001");
  CHECK(c.incident_key == "zt-landslide-20261126");
  CHECK(c.milestone == Milestone::first_release);
  CHECK(c.unit == "zhaotong-gov");
  CHECK(c.released_at == utc(2026, 11, 26, 2, 40));
  CHECK(c.channel == "weibo");
  CHECK(c.url == "https://example.org/release/1");
  CHECK(c.speaker == "principal");
  CHECK(c.via.empty());
  CHECK_FALSE(c.arrived_at.has_value());
}

TEST_CASE("every milestone and speaker is accepted, optional fields may be left out",
          "[codec][confirmation]") {
  const std::vector<std::pair<std::string, Milestone>> milestones = {
      {"first_release", Milestone::first_release},
      {"press_conference", Milestone::press_conference},
      {"follow_up", Milestone::follow_up}};
  for (const auto& [name, milestone] : milestones) {
    auto parsed = parse_confirmation(confirmation_with([&](json& j) { j["milestone"] = name; }),
                                     example_config());
    REQUIRE(parsed);
    CHECK(parsed.value->milestone == milestone);
  }
  for (const char* speaker : {"principal", "deputy", "spokesperson"}) {
    auto parsed = parse_confirmation(confirmation_with([&](json& j) { j["speaker"] = speaker; }),
                                     example_config());
    REQUIRE(parsed);
    CHECK(parsed.value->speaker == speaker);
  }
  auto bare = parse_confirmation(confirmation_with([](json& j) {
                                   j.erase("channel");
                                   j.erase("url");
                                   j.erase("speaker");
                                   j["reviewed_by"] = "someone";  // unknown: ignored
                                 }),
                                 example_config());
  REQUIRE(bare);
  CHECK(bare.value->channel.empty());
  CHECK(bare.value->url.empty());
  CHECK(bare.value->speaker.empty());
}

TEST_CASE("each missing required confirmation field is named", "[codec][confirmation][reject]") {
  for (const char* field :
       {"schema", "confirmation_id", "incident_key", "milestone", "unit", "released_at"}) {
    DYNAMIC_SECTION("without " << field) {
      CHECK(confirmation_error([&](json& j) { j.erase(field); }) ==
            std::string("missing required field \"") + field + "\"");
    }
  }
}

TEST_CASE("each ill-typed required confirmation field is named", "[codec][confirmation][reject]") {
  struct Case {
    const char* field;
    json value;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"schema", true, R"(field "schema" must be an integer (got boolean))"},
      {"confirmation_id", 1, R"(field "confirmation_id" must be a string (got integer))"},
      {"incident_key", json::array(), R"(field "incident_key" must be a string (got array))"},
      {"milestone", 0, R"(field "milestone" must be a string (got integer))"},
      {"unit", json::array({"zhaotong-gov"}), R"(field "unit" must be a string (got array))"},
      {"released_at", nullptr, R"(field "released_at" must be a string (got null))"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.field << " = " << c.value.dump()) {
      CHECK(confirmation_error([&](json& j) { j[c.field] = c.value; }) == c.message);
    }
  }
}

TEST_CASE("bad confirmation values are rejected with the reason", "[codec][confirmation][reject]") {
  CHECK(confirmation_error([](json& j) { j["schema"] = 2; }) ==
        "unknown schema version 2 (this incidentd understands 1)");
  CHECK(confirmation_error([](json& j) { j["confirmation_id"] = ""; }) ==
        R"(field "confirmation_id" must not be empty)");
  CHECK(confirmation_error([](json& j) { j["milestone"] = "release"; }) ==
        R"(field "milestone" must be one of first_release, press_conference, follow_up )"
        R"((got "release"))");
  CHECK(confirmation_error([](json& j) { j["unit"] = "county-x"; }) ==
        R"(unknown unit "county-x" in field "unit")");
  CHECK(confirmation_error([](json& j) { j["released_at"] = "2026-11-26 10:40"; }) ==
        R"(field "released_at" must be an RFC 3339 timestamp with an offset, like )"
        R"("2026-11-26T08:00:00+08:00" (got "2026-11-26 10:40"))");
  CHECK(confirmation_error([](json& j) { j["speaker"] = "mayor"; }) ==
        R"(field "speaker" must be one of principal, deputy, spokesperson (got "mayor"))");
  CHECK(confirmation_error([](json& j) { j["channel"] = 3; }) ==
        R"(field "channel" must be a string (got integer))");
  CHECK(confirmation_error([](json& j) { j["url"] = json::object(); }) ==
        R"(field "url" must be a string (got object))");
}

// ---- scenario lines ----

TEST_CASE("a scenario line without a type, or with type event, is an event", "[codec][scenario]") {
  auto untyped = parse_scenario_line(event_with([](json&) {}), example_config());
  REQUIRE(untyped);
  REQUIRE(std::holds_alternative<Event>(*untyped.value));
  CHECK(std::get<Event>(*untyped.value).event_id == "yq-20261126-0001");
  CHECK(arrival_of(*untyped.value) == utc(2026, 11, 26, 0, 0));

  auto typed = parse_scenario_line(event_with([](json& j) {
                                     j["type"] = "event";
                                     j["arrived_at"] = "2026-11-26T09:15:00+08:00";
                                   }),
                                   example_config());
  REQUIRE(typed);
  REQUIRE(std::holds_alternative<Event>(*typed.value));
  CHECK(std::get<Event>(*typed.value).arrived_at == utc(2026, 11, 26, 1, 15));
  CHECK(arrival_of(*typed.value) == utc(2026, 11, 26, 1, 15));
}

TEST_CASE("a scenario release line is a confirmation via the scenario", "[codec][scenario]") {
  auto line = parse_scenario_line(confirmation_with([](json& j) { j["type"] = "release"; }),
                                  example_config());
  REQUIRE(line);
  REQUIRE(std::holds_alternative<Confirmation>(*line.value));
  const auto& c = std::get<Confirmation>(*line.value);
  CHECK(c.confirmation_id == "rel-0001");
  CHECK(c.via == "scenario");
  CHECK(arrival_of(*line.value) == utc(2026, 11, 26, 2, 40));

  auto late = parse_scenario_line(confirmation_with([](json& j) {
                                    j["type"] = "release";
                                    j["arrived_at"] = "2026-11-26T11:00:00+08:00";
                                  }),
                                  example_config());
  REQUIRE(late);
  CHECK(arrival_of(*late.value) == utc(2026, 11, 26, 3, 0));
}

TEST_CASE("a scenario ack line names a person in the roster", "[codec][scenario]") {
  auto line = parse_scenario_line(
      R"({"type": "ack", "at": "2026-11-26T10:05:00+08:00",
          "incident_key": "zt-landslide-20261126", "recipient": "zt-duty-1"})",
      example_config());
  REQUIRE(line);
  REQUIRE(std::holds_alternative<Acknowledgement>(*line.value));
  const auto& a = std::get<Acknowledgement>(*line.value);
  CHECK(a.incident_key == "zt-landslide-20261126");
  CHECK(a.recipient == "zt-duty-1");
  CHECK(a.at == utc(2026, 11, 26, 2, 5));
  CHECK(a.via == "scenario");
  CHECK(arrival_of(*line.value) == utc(2026, 11, 26, 2, 5));
}

TEST_CASE("bad scenario lines are rejected with the reason", "[codec][scenario][reject]") {
  const Config config = example_config();
  auto error_of = [&](const std::string& text) {
    auto parsed = parse_scenario_line(text, config);
    REQUIRE_FALSE(parsed);
    return parsed.error;
  };
  CHECK(error_of(R"({"type": "ack", "at": "2026-11-26T10:05:00+08:00",
                     "incident_key": "zt-landslide-20261126", "recipient": "nobody"})") ==
        R"(unknown person "nobody" in field "recipient")");
  CHECK(error_of(R"({"type": "ack", "at": "2026-11-26T10:05:00+08:00",
                     "incident_key": "zt-landslide-20261126"})") ==
        R"(missing required field "recipient")");
  CHECK(error_of(R"({"type": "ack", "incident_key": "k", "recipient": "zt-duty-1"})") ==
        R"(missing required field "at")");
  CHECK(error_of(R"({"type": "note", "text": "hello"})") ==
        R"(field "type" must be one of event, release, ack (got "note"))");
  CHECK(error_of(R"({"type": 3})") == R"(field "type" must be a string (got integer))");
  CHECK(error_of(event_with([](json& j) { j["arrived_at"] = "later"; })) ==
        R"(field "arrived_at" must be an RFC 3339 timestamp with an offset, like )"
        R"("2026-11-26T08:00:00+08:00" (got "later"))");
  CHECK(error_of(confirmation_with([](json& j) {
          j["type"] = "release";
          j.erase("unit");
        })) == R"(missing required field "unit")");
  CHECK(error_of("[]") == "message must be a JSON object (got array)");
}

// ---- actions ----

TEST_CASE("incident_opened carries the incident level as a string and the description",
          "[codec][action]") {
  Action a;
  a.at = utc(2026, 11, 26, 0, 0);
  a.incident_key = "zt-landslide-20261126";
  a.kind = ActionKind::incident_opened;
  a.incident_level = Level::II;
  a.title = "t";
  a.lead_unit = "zhaotong-gov";
  a.units = {"zhaotong-gov", "prov-cac"};
  a.detected_at = utc(2026, 11, 26, 0, 0);
  a.clock = true;
  CHECK(to_json(a, 8h) == json::parse(R"({
    "at": "2026-11-26T08:00:00+08:00", "incident_key": "zt-landslide-20261126",
    "action": "incident_opened", "level": "II", "title": "t", "lead_unit": "zhaotong-gov",
    "units": ["zhaotong-gov", "prov-cac"], "detected_at": "2026-11-26T08:00:00+08:00",
    "clock": true})"));

  a.clock = false;
  CHECK(to_json(a, 8h)["clock"] == false);
}

TEST_CASE("an entry of an incident entered by hand names its source and who entered it",
          "[codec][action]") {
  Action a;
  a.at = utc(2026, 11, 26, 0, 0);
  a.incident_key = "k";
  a.kind = ActionKind::incident_closed;
  a.source = "manual";
  a.by = "zhang.wei";
  CHECK(to_json(a, 8h) == json::parse(R"({"at": "2026-11-26T08:00:00+08:00", "incident_key": "k",
    "action": "incident_closed", "source": "manual", "by": "zhang.wei"})"));
  a.source.clear();
  a.by.clear();
  CHECK_FALSE(to_json(a, 8h).contains("source"));
  CHECK_FALSE(to_json(a, 8h).contains("by"));
}

TEST_CASE("level_changed carries both incident levels as strings", "[codec][action]") {
  Action a;
  a.at = utc(2026, 11, 26, 1, 0);
  a.incident_key = "k";
  a.kind = ActionKind::level_changed;
  a.incident_level = Level::I;
  a.previous_incident_level = Level::III;
  a.lead_unit = "zhaotong-gov";
  a.units = {"zhaotong-gov"};
  a.detected_at = utc(2026, 11, 26, 0, 30);
  a.clock = true;
  CHECK(to_json(a, 8h) == json::parse(R"({
    "at": "2026-11-26T09:00:00+08:00", "incident_key": "k", "action": "level_changed",
    "level": "I", "previous_level": "III", "lead_unit": "zhaotong-gov",
    "units": ["zhaotong-gov"], "detected_at": "2026-11-26T08:30:00+08:00", "clock": true})"));
}

TEST_CASE("ladder actions carry level and due, level 0 is written", "[codec][action]") {
  Action a;
  a.at = utc(2026, 11, 26, 2, 0);
  a.incident_key = "k";
  a.kind = ActionKind::warning;
  a.milestone = Milestone::first_release;
  a.level = 0;
  a.due = utc(2026, 11, 26, 3, 0);
  CHECK(to_json(a, 8h) == json::parse(R"({
    "at": "2026-11-26T10:00:00+08:00", "incident_key": "k", "action": "warning",
    "milestone": "first_release", "level": 0, "due": "2026-11-26T11:00:00+08:00"})"));

  Action e;
  e.at = utc(2026, 11, 26, 5, 0);
  e.incident_key = "k";
  e.kind = ActionKind::escalated;
  e.milestone = Milestone::first_release;
  e.level = 2;
  e.previous_level = 1;
  e.catch_up = true;
  e.drill = true;
  CHECK(to_json(e, 8h) == json::parse(R"({
    "at": "2026-11-26T13:00:00+08:00", "incident_key": "k", "action": "escalated",
    "milestone": "first_release", "level": 2, "previous_level": 1, "catch_up": true,
    "drill": true})"));
}

TEST_CASE("a notification always says which send it is, empty strings are left out",
          "[codec][action]") {
  Action a;
  a.at = utc(2026, 11, 26, 2, 0, 0, 250);
  a.incident_key = "k";
  a.kind = ActionKind::notification;
  a.milestone = Milestone::first_release;
  a.level = 0;
  a.recipient = "zt-duty-1";
  a.unit = "zhaotong-gov";
  a.channel = "sms";
  a.cause = ActionKind::warning;
  a.notification_id = "k/1/zt-duty-1/1";
  a.send = 1;
  CHECK(to_json(a, 0min) == json::parse(R"({
    "at": "2026-11-26T02:00:00.250Z", "incident_key": "k", "action": "notification",
    "milestone": "first_release", "level": 0, "recipient": "zt-duty-1", "unit": "zhaotong-gov",
    "channel": "sms", "cause": "warning", "notification_id": "k/1/zt-duty-1/1", "send": 1})"));
}

TEST_CASE("milestone_met writes late as false, \"target\" or \"deadline\"", "[codec][action]") {
  Action a;
  a.at = utc(2026, 11, 26, 2, 40);
  a.incident_key = "k";
  a.kind = ActionKind::milestone_met;
  a.milestone = Milestone::first_release;
  a.released_at = utc(2026, 11, 26, 2, 40);
  a.late = Lateness::on_time;
  CHECK(to_json(a, 8h) == json::parse(R"({
    "at": "2026-11-26T10:40:00+08:00", "incident_key": "k", "action": "milestone_met",
    "milestone": "first_release", "released_at": "2026-11-26T10:40:00+08:00", "late": false})"));
  a.late = Lateness::target;
  CHECK(to_json(a, 8h)["late"] == "target");
  a.late = Lateness::deadline;
  CHECK(to_json(a, 8h)["late"] == "deadline");
}

// One action of every kind with every field that applies to it set, instants with milliseconds.
std::vector<Action> fully_populated_actions() {
  const TimePoint t0 = utc(2026, 11, 26, 0, 0, 0, 0);
  auto base = [&](ActionKind kind, int minutes_after) {
    Action a;
    a.at = t0 + std::chrono::minutes(minutes_after) + std::chrono::milliseconds(123);
    a.incident_key = "zt-landslide-20261126";
    a.kind = kind;
    a.drill = true;
    a.catch_up = true;
    return a;
  };
  std::vector<Action> out;

  Action opened = base(ActionKind::incident_opened, 5);
  opened.incident_level = Level::II;
  opened.title = "昭通市某县山体滑坡引发网络关注";
  opened.lead_unit = "zhaotong-gov";
  opened.units = {"zhaotong-gov", "prov-emergency", "prov-cac"};
  opened.detected_at = t0 + std::chrono::milliseconds(7);
  opened.clock = true;
  opened.source = "manual";
  opened.by = "张伟";
  out.push_back(opened);

  Action changed = base(ActionKind::level_changed, 60);
  changed.incident_level = Level::I;
  changed.previous_incident_level = Level::III;
  changed.title = "升级";
  changed.lead_unit = "zhaotong-gov";
  changed.units = {"zhaotong-gov", "prov-publicsecurity"};
  changed.detected_at = t0 + std::chrono::minutes(59) + std::chrono::milliseconds(999);
  changed.clock = true;
  out.push_back(changed);

  Action warning = base(ActionKind::warning, 120);
  warning.milestone = Milestone::follow_up;
  warning.level = 0;
  warning.due = t0 + std::chrono::hours(3) + std::chrono::milliseconds(1);
  warning.round = 2;
  out.push_back(warning);

  Action missed = base(ActionKind::target_missed, 180);
  missed.milestone = Milestone::first_release;
  missed.level = 1;
  missed.due = t0 + std::chrono::hours(3);
  out.push_back(missed);

  Action breached = base(ActionKind::deadline_breached, 480);
  breached.milestone = Milestone::press_conference;
  breached.level = 2;
  breached.due = t0 + std::chrono::hours(5);
  breached.reminder = 3;
  out.push_back(breached);

  Action notification = base(ActionKind::notification, 481);
  notification.milestone = Milestone::follow_up;
  notification.level = 1;
  notification.recipient = "zt-deputy-1";
  notification.unit = "zhaotong-gov";
  notification.channel = "webhook";
  notification.notification_id = "zt-landslide-20261126/7/zt-deputy-1/2";
  notification.deputy_of = "zt-duty-1";
  notification.cause = ActionKind::deadline_breached;
  notification.send = 2;
  notification.round = 1;
  out.push_back(notification);

  Action escalated = base(ActionKind::escalated, 300);
  escalated.milestone = Milestone::first_release;
  escalated.level = 2;
  escalated.previous_level = 1;
  out.push_back(escalated);

  Action acknowledged = base(ActionKind::acknowledged, 310);
  acknowledged.recipient = "zt-duty-1";
  acknowledged.via = "sms";
  out.push_back(acknowledged);

  Action confirmed = base(ActionKind::release_confirmed, 160);
  confirmed.milestone = Milestone::first_release;
  confirmed.unit = "zhaotong-gov";
  confirmed.released_at = t0 + std::chrono::minutes(160) + std::chrono::milliseconds(45);
  confirmed.channel = "weibo";
  confirmed.url = "https://example.org/release/1";
  confirmed.speaker = "principal";
  confirmed.confirmation_id = "rel-0001";
  confirmed.via = "kafka";
  out.push_back(confirmed);

  for (Lateness late : {Lateness::on_time, Lateness::target, Lateness::deadline}) {
    Action met = base(ActionKind::milestone_met, 161);
    met.milestone = Milestone::follow_up;
    met.released_at = t0 + std::chrono::minutes(160) + std::chrono::milliseconds(45);
    met.late = late;
    met.round = 4;
    out.push_back(met);
  }

  Action closed = base(ActionKind::incident_closed, 2000);
  out.push_back(closed);
  return out;
}

TEST_CASE("action_from_json inverts to_json for every action kind", "[codec][action]") {
  const auto offset = GENERATE(std::chrono::minutes(8 * 60), std::chrono::minutes(-(3 * 60 + 30)));
  const auto actions = fully_populated_actions();
  std::set<ActionKind> kinds;
  for (const Action& a : actions) {
    kinds.insert(a.kind);
    const json j = to_json(a, offset);
    INFO(j.dump());
    auto back = action_from_json(j);
    REQUIRE(back);
    CHECK(*back.value == a);
    // Through text too, as the timeline is stored and printed.
    auto reparsed = action_from_json(json::parse(j.dump()));
    REQUIRE(reparsed);
    CHECK(*reparsed.value == a);
  }
  CHECK(kinds.size() == 11);
}

TEST_CASE("malformed action JSON is rejected with the field named", "[codec][action][reject]") {
  auto error_of = [](const char* text) {
    auto parsed = action_from_json(json::parse(text));
    REQUIRE_FALSE(parsed);
    return parsed.error;
  };
  CHECK(error_of(R"({"incident_key": "k", "action": "warning"})") ==
        R"(missing required field "at")");
  CHECK(error_of(R"({"at": "2026-11-26T08:00:00+08:00", "incident_key": "k",
                     "action": "alarm"})") ==
        R"(field "action" must be one of incident_opened, level_changed, warning, )"
        R"(target_missed, deadline_breached, notification, escalated, acknowledged, )"
        R"(release_confirmed, milestone_met, incident_closed, delivery, channel_fallback, )"
        R"(daemon_outage )"
        R"((got "alarm"))");
  CHECK(error_of(R"({"at": "2026-11-26T08:00:00+08:00", "incident_key": "k",
                     "action": "warning", "level": "II"})") ==
        R"(field "level" must be an integer (got string))");
  CHECK(error_of(R"({"at": "2026-11-26T08:00:00+08:00", "incident_key": "k",
                     "action": "incident_opened", "level": 2})") ==
        R"(field "level" must be a string (got integer))");
  CHECK(error_of(R"({"at": "2026-11-26T08:00:00+08:00", "incident_key": "k",
                     "action": "milestone_met", "late": true})") ==
        R"(field "late" must be false, "target" or "deadline" (got true))");
  CHECK(error_of("[]") == "action must be a JSON object (got array)");
}

// Found by tests/fuzz (confirmation_parser_fuzz, event_parser_fuzz): a number too large for a
// double made nlohmann throw out_of_range, which parse_json did not catch, so one such message on
// the topic ended the daemon. The crashing inputs, byte for byte, and the smallest such message.
TEST_CASE("a number too large for a double is rejected as not JSON, not a crash", "[codec][fuzz]") {
  const Config config = example_config();
  const std::string confirmation_crash(
      "77111111.1111111111111000000000000000000"
      "0000000000000000000000000000000000000000"
      "E00000000000000003170534137696875189-111"
      "11{\042sc'''''''''\323\330\330\330\330\330\330\322111.1111111111111"
      "0000000000011110000000000000000000000000"
      "0000000000000000000000000111\265{s000000000"
      "000000000000'0000000000000560920772",
      275);
  const std::string event_crash(
      "7205655E054450levelkkkuk\377\377\377\377\377\377\377\377\377\377\377\377\377kkk"
      "kdetecte\377\377\377\377\37708:01:00+09:00\042}",
      69);
  for (const std::string& text : {confirmation_crash, event_crash, std::string("1E400"),
                                  std::string(R"({"schema": 1e999999})")}) {
    const auto confirmation = parse_confirmation(text, config);
    REQUIRE_FALSE(confirmation);
    CHECK(confirmation.error.find("not JSON") == 0);
    const auto event = parse_event(text, config);
    REQUIRE_FALSE(event);
    CHECK(event.error.find("not JSON") == 0);
  }
}

}  // namespace
}  // namespace incidentd
