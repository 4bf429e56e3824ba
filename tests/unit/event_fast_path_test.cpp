// The fast path of parse_event() against the reference parser: whatever the fast path accepts,
// the reference accepts as the same Event; the common well-formed shapes do take the fast path;
// and every rejection still carries the reference's reason.
#include "core/event_fast_path.hpp"

#include <cstddef>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "incidentd/codec.hpp"
#include "support/contract_examples.hpp"

namespace incidentd {
namespace {

Config roster() {
  Config config;
  for (const char* id : {"zhaotong-gov", "prov-emergency", "prov-cac"}) {
    Unit unit;
    unit.id = id;
    unit.name = id;
    config.units.push_back(unit);
  }
  return config;
}

// The contract's example, with a source that holds an array of mixed values.
const std::string kEvent = [] {
  std::string text = test::kExampleEvent;
  const std::string from = R"("url": "https://example.org/post/1")";
  text.replace(text.find(from), from.size(), from + R"(, "tags": [1, 2.5, null])");
  return text;
}();

// Well-formed events in the shapes producers send: each must take the fast path.
const std::vector<std::string> kAccepted = {
    kEvent,
    R"({"schema":1,"event_id":"a","incident_key":"k","kind":"updated","level":"IV",)"
    R"("lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T00:00:00Z"})",
    // null optional fields count as absent; unknown fields are ignored; escapes are decoded
    R"({"schema":1,"event_id":"e\u00e9\"x","incident_key":"k\n","kind":"closed","level":"I",)"
    R"("lead_unit":"prov-cac","units":["zhaotong-gov","prov-cac"],)"
    R"("detected_at":"2026-11-26T08:00:00.250+08:00","title":null,"category":null,)"
    R"("region":null,"drill":null,"source":null,"extra":{"deep":[[{"x":true}]]}})",
    R"({"drill":true,"schema":1,"units":["prov-cac"],"event_id":"b","incident_key":"k",)"
    R"("kind":"detected","level":"III","lead_unit":"prov-cac","detected_at":"2026-11-26T08:00:00Z",)"
    R"("title":"","category":"","region":""})",
    // an incident entered by hand: who entered it is read; odd source members are ignored
    R"({"schema":1,"event_id":"m","incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T08:00:00Z",)"
    R"("source":{"platform":"manual","by":"\u5f20\u4f1f","via":"incidentctl"}})",
    R"({"schema":1,"event_id":"m","incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T08:00:00Z",)"
    R"("source":{"platform":["manual"],"by":null,"url":"u"}})",
};

// Messages the reference rejects or reads in its own way: the fast path must not decide them.
const std::vector<std::string> kNotFast = {
    "",
    "not json",
    "[]",
    R"({"schema":1})",
    // a field given twice: which one counts is the JSON library's business
    R"({"schema":1,"event_id":"a","event_id":"b","incident_key":"k","kind":"detected",)"
    R"("level":"II","lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T08:00:00Z"})",
    // schema 1.0, 2, a string
    R"({"schema":1.0,"event_id":"a","incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T08:00:00Z"})",
    R"({"schema":2,"event_id":"a","incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T08:00:00Z"})",
    // unknown unit, lead not among the units, a unit twice, an empty unit
    R"({"schema":1,"event_id":"a","incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"nobody","units":["nobody"],"detected_at":"2026-11-26T08:00:00Z"})",
    R"({"schema":1,"event_id":"a","incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"prov-cac","units":["zhaotong-gov"],"detected_at":"2026-11-26T08:00:00Z"})",
    R"({"schema":1,"event_id":"a","incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"prov-cac","units":["prov-cac","prov-cac"],"detected_at":"2026-11-26T08:00:00Z"})",
    R"({"schema":1,"event_id":"a","incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"prov-cac","units":["prov-cac",""],"detected_at":"2026-11-26T08:00:00Z"})",
    // a timestamp without an offset, a required field that is null, a boolean that is a string
    R"({"schema":1,"event_id":"a","incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T08:00:00"})",
    R"({"schema":1,"event_id":null,"incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T08:00:00Z"})",
    R"({"schema":1,"event_id":"a","incident_key":"k","kind":"detected","level":"II","drill":"yes",)"
    R"("lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T08:00:00Z"})",
    // trailing bytes (garbage, a NUL, a second value), invalid UTF-8, a lone surrogate
    kEvent + " x",
    kEvent + std::string("\0x", 2),
    kEvent + std::string(1, '\0'),
    kEvent + kEvent,
    kEvent + "\n" + kEvent,
    std::string(R"({"schema":1,"event_id":"a)") + "\xff" +
        R"(","incident_key":"k","kind":"detected","level":"II","lead_unit":"prov-cac",)"
        R"("units":["prov-cac"],"detected_at":"2026-11-26T08:00:00Z"})",
    R"({"schema":1,"event_id":"\ud800","incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T08:00:00Z"})",
    std::string(kMaxMessageBytes + 1, ' '),
    // who entered it given twice: which one counts is the JSON library's business
    R"({"schema":1,"event_id":"m","incident_key":"k","kind":"detected","level":"II",)"
    R"("lead_unit":"prov-cac","units":["prov-cac"],"detected_at":"2026-11-26T08:00:00Z",)"
    R"("source":{"platform":"manual","by":"a","by":"b"}})",
};

TEST_CASE("well-formed events take the fast path and read as the reference reads them") {
  const Config config = roster();
  for (const auto& text : kAccepted) {
    INFO(text);
    const auto fast = parse_event_fast(text, config);
    const auto reference = parse_event_reference(text, config);
    REQUIRE(reference);
    REQUIRE(fast.has_value());
    CHECK(*fast == *reference.value);
    CHECK(*parse_event(text, config).value == *reference.value);
  }
}

TEST_CASE("what the fast path leaves alone gets the reference's answer and reason") {
  const Config config = roster();
  for (const auto& text : kNotFast) {
    INFO(text.substr(0, 200));
    CHECK_FALSE(parse_event_fast(text, config).has_value());
    const auto reference = parse_event_reference(text, config);
    const auto parsed = parse_event(text, config);
    CHECK(parsed.value.has_value() == reference.value.has_value());
    CHECK(parsed.error == reference.error);
  }
}

TEST_CASE("trailing bytes after the event make it invalid on both paths, with the reason") {
  const Config config = roster();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {kEvent + std::string("\0x", 2), "a NUL byte"},
      {kEvent + kEvent, "trailing bytes after the JSON value"},
      {kEvent + " x", "trailing bytes after the JSON value"},
  };
  for (const auto& [text, reason] : cases) {
    INFO(text.substr(text.size() - 10));
    CHECK_FALSE(parse_event_fast(text, config).has_value());
    const auto parsed = parse_event(text, config);
    REQUIRE_FALSE(parsed);
    CHECK_THAT(parsed.error, Catch::StartsWith("not JSON at byte ") && Catch::Contains(reason));
  }
  // The NUL is at the byte right after the value, counting from 1.
  CHECK(parse_event(kEvent + std::string("\0x", 2), config).error ==
        "not JSON at byte " + std::to_string(kEvent.size() + 1) +
            ": a NUL byte (a message is exactly one JSON value, nothing may follow it)");
  // Whitespace around the value is JSON's own: both paths accept it.
  const std::string spaced = " \t\r\n" + kEvent + " \n\t\r ";
  REQUIRE(parse_event_fast(spaced, config).has_value());
  CHECK(*parse_event_fast(spaced, config) == *parse_event_reference(spaced, config).value);
}

// Random byte edits of a valid event (deletions, insertions, replacements drawn from JSON's
// punctuation and the event's own bytes): wherever the fast path accepts, the reference must
// accept the same Event. Most edits make the message invalid, which is the point.
TEST_CASE("mutated events: the fast path never accepts what the reference reads differently") {
  const Config config = roster();
  const std::string alphabet = std::string("{}[]\":,\\ 0123456789.-eEtrufalsn") + kEvent;
  std::mt19937 rng(27);
  std::size_t fast_accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = kEvent;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < edits; ++i) {
      const std::size_t at = rng() % text.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          text.erase(at, 1);
          break;
        case 1:
          text.insert(at, 1, c);
          break;
        default:
          text[at] = c;
      }
    }
    const auto fast = parse_event_fast(text, config);
    if (!fast) continue;
    ++fast_accepted;
    const auto reference = parse_event_reference(text, config);
    INFO(text);
    REQUIRE(reference);
    REQUIRE(*fast == *reference.value);
  }
  // Edits inside strings and whitespace keep the message valid: the comparison did happen.
  CHECK(fast_accepted > 100);
}

}  // namespace
}  // namespace incidentd
