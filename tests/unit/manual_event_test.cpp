// The event an incident entered by hand publishes (incidentctl open/close/level, POST
// /v1/incidents): the exact JSON for a fixed id and instant, and the daemon's own reasons for
// what it would refuse.
#include "incidentd/manual_event.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

namespace incidentd {
namespace {

using namespace std::chrono_literals;

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

ManualEvent telephone_report() {
  ManualEvent e;
  e.event_id = "manual-zt-call-1-0001";
  e.incident_key = "zt-call-1";
  e.level = Level::II;
  e.title = "电话报告：某县山体滑坡";
  e.region = "530600";
  e.lead_unit = "zhaotong-gov";
  e.units = {"prov-emergency", "prov-cac"};
  e.detected_at = *parse_rfc3339("2026-11-26T08:00:00+08:00");
  e.by = "张伟";
  e.via = "incidentctl";
  return e;
}

TEST_CASE("a telephone report becomes the contract event, lead unit first, source manual") {
  const auto text = manual_event_json(telephone_report(), roster(), 8h);
  REQUIRE(text);
  CHECK(*text.value ==
        R"({"schema":1,"event_id":"manual-zt-call-1-0001","incident_key":"zt-call-1",)"
        R"("kind":"detected","level":"II","title":"电话报告：某县山体滑坡","region":"530600",)"
        R"("lead_unit":"zhaotong-gov","units":["zhaotong-gov","prov-emergency","prov-cac"],)"
        R"("detected_at":"2026-11-26T08:00:00+08:00",)"
        R"("source":{"platform":"manual","by":"张伟","via":"incidentctl"}})");
  // What the daemon reads back from it.
  const auto event = parse_event(*text.value, roster());
  REQUIRE(event);
  CHECK(event.value->source_platform == "manual");
  CHECK(event.value->source_by == "张伟");
}

TEST_CASE("a close and a level change carry the incident's units, a drill stays a drill") {
  ManualEvent e = telephone_report();
  e.kind = EventKind::closed;
  e.title.clear();
  e.region.clear();
  e.units = {"zhaotong-gov", "prov-cac"};
  e.drill = true;
  e.via = "http";
  e.token = "duty-office";
  const auto text = manual_event_json(e, roster(), 0min);
  REQUIRE(text);
  CHECK(*text.value ==
        R"({"schema":1,"event_id":"manual-zt-call-1-0001","incident_key":"zt-call-1",)"
        R"("kind":"closed","level":"II","lead_unit":"zhaotong-gov",)"
        R"("units":["zhaotong-gov","prov-cac"],"detected_at":"2026-11-26T00:00:00Z","drill":true,)"
        R"("source":{"platform":"manual","by":"张伟","via":"http","token":"duty-office"}})");
}

TEST_CASE("what the daemon would refuse is refused before publishing, with its reason") {
  ManualEvent e = telephone_report();
  e.lead_unit = "zhaotong-gv";
  CHECK(manual_event_json(e, roster(), 8h).error ==
        R"(unknown unit "zhaotong-gv" in field "lead_unit")");
  e = telephone_report();
  e.units = {"prov-cac", "prov-cac"};
  CHECK(manual_event_json(e, roster(), 8h).error ==
        R"(field "units" lists "prov-cac" more than once)");
  e = telephone_report();
  e.incident_key.clear();
  CHECK(manual_event_json(e, roster(), 8h).error == R"(field "incident_key" must not be empty)");
  e = telephone_report();
  e.by.clear();
  CHECK(manual_event_json(e, roster(), 8h).error ==
        R"(who entered the event is required (source "by"))");
}

TEST_CASE("generated ids and keys say they were entered by hand, and differ") {
  CHECK(manual_event_id("zt-call-1", "ab12") == "manual-zt-call-1-ab12");
  CHECK(manual_event_id("manual-20261126-080000-9f3c", "ab12") ==
        "manual-20261126-080000-9f3c-ab12");
  CHECK(manual_incident_key(*parse_rfc3339("2026-11-26T00:00:00.250Z"), 8h, "9f3c") ==
        "manual-20261126-080000-9f3c");
  CHECK(random_suffix(8).size() == 8);
  CHECK(random_suffix(16) != random_suffix(16));
}

}  // namespace
}  // namespace incidentd
