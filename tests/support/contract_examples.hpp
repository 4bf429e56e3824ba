// The contract's example messages (docs/contract.md), verbatim, for the tests that read them.
#pragma once

namespace incidentd::test {

inline constexpr const char* kExampleEvent = R"({
  "schema": 1,
  "event_id": "yq-20261126-0001",
  "incident_key": "zt-landslide-20261126",
  "kind": "detected",
  "level": "II",
  "title": "昭通市某县山体滑坡引发网络关注",
  "category": "disaster",
  "region": "530600",
  "lead_unit": "zhaotong-gov",
  "units": ["zhaotong-gov", "prov-emergency", "prov-cac"],
  "detected_at": "2026-11-26T08:00:00+08:00",
  "source": {"platform": "weibo", "url": "https://example.org/post/1"}
})";

}  // namespace incidentd::test
