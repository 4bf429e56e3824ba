// The text of `incidentctl list`, `show` and `watch` for a fixed clock, in both languages,
// against golden files (tests/ctl/golden/), and the pieces it is built of: display width of
// Chinese text, countdowns. The input is the API's JSON view in tests/ctl/list.json.
// INCIDENTD_UPDATE_GOLDEN=1 rewrites the golden files instead of comparing (review the diff).
#include "ctl/state_text.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using namespace incidentd;
using namespace incidentd::ctl;
using namespace std::chrono_literals;
using nlohmann::json;

const std::string kDir = std::string(INCIDENTD_SOURCE_DIR) + "/tests/ctl/";
// 09:46 (+08:00): the landslide's 2 h warning is 14 min away, its target 1 h 14 min.
const TimePoint kNow = *parse_rfc3339("2026-11-26T09:46:00+08:00");

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

json fixture() {
  return json::parse(read(kDir + "list.json"));
}

void check_golden(const std::string& name, const std::string& actual) {
  const std::string path = kDir + "golden/" + name;
  if (const char* update = std::getenv("INCIDENTD_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  INFO("golden file " << path);
  CHECK(actual == read(path));
}

TEST_CASE("list prints aligned columns with countdowns, in Chinese by default") {
  check_golden("list.zh.txt", render_list(fixture(), kNow, {}));
}

TEST_CASE("list in English") {
  check_golden("list.en.txt", render_list(fixture(), kNow, {.lang = Lang::en}));
}

TEST_CASE("show prints the clock, confirmations, steps to come and who was told") {
  const json incident = fixture()["incidents"][0];
  check_golden("show.zh.txt", render_show(incident, kNow, {}));
  check_golden("show.en.txt", render_show(incident, kNow, {.lang = Lang::en}));
}

TEST_CASE("show of a breached drill says how late it is") {
  const json incident = fixture()["incidents"][1];
  check_golden("show-breached.zh.txt", render_show(incident, kNow, {}));
  check_golden("show-breached.en.txt", render_show(incident, kNow, {.lang = Lang::en}));
}

// The line of `text` that starts with `start`.
std::string line_of(const std::string& text, const std::string& start) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(start, 0) == 0) return line;
  }
  return "(no line starting with " + start + ")";
}

TEST_CASE("show says who entered an incident by hand, and who closed it") {
  json incident = fixture()["incidents"][0];
  incident["closed"] = true;
  incident["closed_at"] = "2026-11-26T09:40:00+08:00";
  incident["timeline"] = json::array({
      {{"at", "2026-11-26T08:01:00+08:00"},
       {"incident_key", "zt"},
       {"action", "incident_opened"},
       {"source", "manual"},
       {"by", "张伟"}},
      {{"at", "2026-11-26T09:40:00+08:00"},
       {"incident_key", "zt"},
       {"action", "incident_closed"},
       {"source", "manual"},
       {"by", "王强"}},
  });
  const std::string zh = render_show(incident, kNow, {});
  CHECK(line_of(zh, "首次监测") == "首次监测：11-26 08:00（张伟人工录入）");
  CHECK(line_of(zh, "已结束") == "已结束：11-26 09:40（王强人工录入）");
  const std::string en = render_show(incident, kNow, {.lang = Lang::en});
  CHECK(line_of(en, "First detected") == "First detected: 11-26 08:00 (by hand by 张伟)");
  CHECK(line_of(en, "Closed") == "Closed: 11-26 09:40 (by hand by 王强)");
  // From another system: nothing said.
  incident["timeline"][0]["source"] = "weibo";
  CHECK(line_of(render_show(incident, kNow, {}), "首次监测") == "首次监测：11-26 08:00");
}

TEST_CASE("watch draws the list under a title with the instant and the source status") {
  check_golden(
      "watch.zh.txt",
      render_watch(fixture(), kNow, {}, source_silent_line("2026-11-26T08:10:00+08:00", Lang::zh)));
  check_golden("watch.en.txt",
               render_watch(fixture(), kNow, {.lang = Lang::en},
                            source_silent_line("2026-11-26T08:10:00+08:00", Lang::en)));
}

TEST_CASE("the columns line up by display width when titles are Chinese") {
  const std::string text = render_list(fixture(), kNow, {});
  std::istringstream lines(text);
  std::string header;
  std::string first;
  std::getline(lines, header);
  std::getline(lines, first);
  // The level column starts at the same display column on every line.
  const auto column_of = [](const std::string& line, const std::string& cell) {
    return display_width(line.substr(0, line.find(cell)));
  };
  CHECK(column_of(header, "级别") == column_of(first, "II 重大"));
  CHECK(column_of(header, "下一步") == column_of(first, "首发预警"));
}

TEST_CASE("colour only when asked, and never inside the padding") {
  const std::string plain = render_list(fixture(), kNow, {.lang = Lang::en});
  const std::string coloured = render_list(fixture(), kNow, {.lang = Lang::en, .color = true});
  CHECK(plain.find('\x1b') == std::string::npos);
  CHECK(coloured.find("\x1b[31mbreached 46m ago") != std::string::npos);
}

TEST_CASE("display width counts CJK as two columns") {
  CHECK(display_width("abc") == 3);
  CHECK(display_width("山体滑坡") == 8);
  CHECK(display_width("II 重大") == 7);
  CHECK(display_width("【演练】") == 8);
}

TEST_CASE("countdowns say how long is left or how late, in both languages") {
  CHECK(countdown(kNow + 2h + 14min, kNow, Lang::en, true) == "2h14m left");
  CHECK(countdown(kNow - 35min, kNow, Lang::en, true) == "breached 35m ago");
  CHECK(countdown(kNow - 35min, kNow, Lang::en, false) == "target missed 35m ago");
  CHECK(countdown(kNow + 2h + 14min, kNow, Lang::zh, true) == "剩2小时14分");
  CHECK(countdown(kNow - 35min, kNow, Lang::zh, true) == "已超时35分");
  CHECK(countdown(kNow + 26h + 5min, kNow, Lang::en, true) == "1d2h left");
  CHECK(countdown(kNow + 30s, kNow, Lang::en, true) == "<1m left");
  // One tick before, at and after the instant.
  CHECK(countdown(kNow + 1min, kNow, Lang::en, true) == "1m left");
  CHECK(countdown(kNow, kNow, Lang::en, true) == "breached <1m ago");
  CHECK(countdown(kNow - 1min, kNow, Lang::en, true) == "breached 1m ago");
}

TEST_CASE("no open incidents is said in words") {
  CHECK(render_list(json{{"incidents", json::array()}}, kNow, {.lang = Lang::en}) ==
        "No open incidents.\n");
  CHECK(render_list(json{{"incidents", json::array()}}, kNow, {}) == "没有未结束的事件。\n");
}

}  // namespace
