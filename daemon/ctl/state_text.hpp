// The text `incidentctl list`, `show` and `watch` print for people: from the JSON view of the
// incidents (GET /v1/incidents, include/incidentd/incident_view.hpp) and the time `now`, aligned
// columns (a CJK character takes two columns), countdowns ("2h14m left", "breached 35m ago"),
// colour only when asked (a terminal). Chinese by default, English on request; every word comes
// from the one message catalogue (daemon/report/messages.cpp, ids "state.*"), the reports'.
// Pure: the caller passes the clock, so tests fix it.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "incidentd/time.hpp"
#include "report/messages.hpp"

namespace incidentd::ctl {

using Lang = report::Lang;

struct TextOptions {
  Lang lang = Lang::zh;
  bool color = false;
  std::chrono::minutes utc_offset{8 * 60};  // for the instant `watch` says it drew the view
};

// Columns a terminal gives the UTF-8 text: East Asian wide and fullwidth characters take two.
std::size_t display_width(std::string_view utf8);
// "2h14m", "35m", "1d3h", "<1m" (en); "2小时14分", "35分", "1天3小时", "不到1分" (zh).
std::string short_duration(Duration d, Lang lang);
// "2h14m left" / "breached 35m ago" for an instant against now (rounded down to minutes).
std::string countdown(TimePoint at, TimePoint now, Lang lang, bool deadline);

// `list`: one line per incident of {"incidents": [...]}, with a header line.
std::string render_list(const nlohmann::json& list, TimePoint now, const TextOptions& options);
// `show`: one incident (the view of GET /v1/incidents/{key}, timeline optional).
std::string render_show(const nlohmann::json& incident, TimePoint now, const TextOptions& options);
// `watch`: the list under a title line saying when it was drawn and whether the source is
// silent ("" when the daemon did not say).
std::string render_watch(const nlohmann::json& list, TimePoint now, const TextOptions& options,
                         const std::string& status_line);
// "monitoring source silent (last event 11-26 08:10)" for the stream's status event.
std::string source_silent_line(const nlohmann::json& since, Lang lang);
// Words of the catalogue by key (without "state."), for the callers' own messages ("lost the
// daemon, reconnecting"). An unknown key aborts, as the catalogue does.
std::string_view word(std::string_view key, Lang lang);

}  // namespace incidentd::ctl
