// The monitoring stream the ingestion benchmarks replay: `n` events spread over `incidents` keys
// in random order (each key's own events in order), 2% of them sent twice, levels mostly III/IV
// with a fifth opening a clock. Every event re-describes its incident (a new title), the
// heaviest update a monitoring system sends. Seeded: every run gets the same stream.
#pragma once

#include <chrono>
#include <cstddef>
#include <ctime>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace incidentd::bench {

struct Stream {
  std::vector<std::pair<std::string, std::string>> messages;  // key, value
  std::size_t distinct_ids = 0;
  std::size_t bytes = 0;
};

inline Stream make_stream(std::size_t n, std::size_t incidents) {
  using Clock = std::chrono::system_clock;
  std::mt19937_64 rng(2026);
  const char* levels[] = {"I",  "II", "II",  "II", "III", "III", "III", "III", "IV", "IV",
                          "IV", "IV", "III", "IV", "III", "IV",  "IV",  "III", "IV", "III"};
  const std::vector<std::vector<std::string>> unit_sets = {
      {"zhaotong-gov", "prov-emergency", "prov-cac"},
      {"zhaotong-gov", "prov-publicsecurity"},
      {"zhaotong-gov", "prov-emergency"},
  };
  const auto detected =
      std::chrono::floor<std::chrono::seconds>(Clock::now() - std::chrono::minutes(1));
  const std::time_t t = Clock::to_time_t(detected);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));

  std::vector<std::size_t> seq(incidents, 0);
  std::vector<std::string> level(incidents);
  std::vector<std::string> last(incidents);
  Stream s;
  s.messages.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t k = rng() % incidents;
    const std::string key = "bench-" + std::to_string(k);
    if (seq[k] > 0 && rng() % 50 == 0) {  // the monitoring system sends one again
      s.messages.emplace_back(key, last[k]);
      s.bytes += last[k].size();
      continue;
    }
    const bool first = seq[k] == 0;
    if (first) level[k] = levels[rng() % 20];
    if (!first && rng() % 30 == 0) level[k] = levels[rng() % 20];
    const auto& units = unit_sets[k % unit_sets.size()];
    nlohmann::json e = {
        {"schema", 1},
        {"event_id", key + "-" + std::to_string(seq[k]++)},
        {"incident_key", key},
        {"kind", first ? "detected" : "updated"},
        {"level", level[k]},
        {"title", "昭通市某县山体滑坡引发网络关注（第" + std::to_string(seq[k]) + "次更新）"},
        {"category", "disaster"},
        {"region", "530600"},
        {"lead_unit", units[0]},
        {"units", units},
        {"detected_at", when},
        {"source",
         {{"platform", "weibo"},
          {"url", "https://example.org/post/" + key + "/" + std::to_string(seq[k])},
          {"summary",
           "网民关注山体滑坡救援进展与伤亡情况，部分帖子质疑信息发布迟缓，转发量持续上升"}}},
    };
    last[k] = e.dump();
    ++s.distinct_ids;
    s.bytes += last[k].size();
    s.messages.emplace_back(key, last[k]);
  }
  return s;
}

}  // namespace incidentd::bench
