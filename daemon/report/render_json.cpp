// The json rendering of one incident's report: every field of the model, times in RFC 3339 in the
// configured offset, durations in seconds, null where there is no value.
#include <nlohmann/json.hpp>

#include "report/format.hpp"
#include "report/render.hpp"

namespace incidentd::report {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

std::string late_word(const std::optional<Lateness>& late) {
  if (!late) return "";
  switch (*late) {
    case Lateness::on_time:
      return "false";
    case Lateness::target:
      return "target";
    case Lateness::deadline:
      return "deadline";
  }
  return "";
}

ordered_json time_json(const std::optional<TimePoint>& t, std::chrono::minutes offset) {
  return t ? ordered_json(format_rfc3339(*t, offset)) : ordered_json(nullptr);
}

ordered_json seconds_json(const std::optional<Duration>& d) {
  return d ? ordered_json(std::chrono::duration_cast<std::chrono::seconds>(*d).count())
           : ordered_json(nullptr);
}

ordered_json head_json(const std::optional<ChainHead>& h) {
  if (!h) return nullptr;
  return {{"seq", h->seq}, {"hash", h->hash}};
}

ordered_json incident_json(const IncidentReport& r) {
  const auto off = r.utc_offset;
  ordered_json inc;
  inc["key"] = r.key;
  inc["title"] = r.title;
  inc["level"] = r.level;
  inc["category"] = r.category;
  inc["region"] = r.region;
  inc["lead_unit"] = r.lead_unit;
  inc["units"] = r.units;
  inc["drill"] = r.drill;
  inc["detected_at"] = format_rfc3339(r.detected_at, off);
  inc["first_recorded_at"] = time_json(r.first_recorded_at, off);
  inc["clock_start"] = time_json(r.clock_start, off);
  inc["closed"] = r.closed;
  inc["closed_at"] = time_json(r.closed_at, off);
  if (!r.closed_by.empty()) inc["closed_by_hand"] = r.closed_by;
  inc["timeline_entries"] = r.timeline_entries;
  return inc;
}

ordered_json levels_json(const IncidentReport& r) {
  const auto off = r.utc_offset;
  ordered_json levels = ordered_json::array();
  for (const auto& l : r.levels) {
    levels.push_back(
        {{"seq", l.seq},
         {"at", format_rfc3339(l.at, off)},
         {"detected_at", time_json(l.detected_at, off)},
         {"level", l.level},
         {"previous_level", l.previous.empty() ? ordered_json(nullptr) : ordered_json(l.previous)},
         {"clock_started", l.clock_started}});
    if (!l.by.empty()) levels.back()["by_hand"] = l.by;
  }
  return levels;
}

ordered_json releases_json(const MilestoneReport& m, std::chrono::minutes off) {
  ordered_json releases = ordered_json::array();
  for (const auto& rel : m.releases) {
    releases.push_back({{"seq", rel.seq},
                        {"unit", rel.unit},
                        {"released_at", format_rfc3339(rel.released_at, off)},
                        {"recorded_at", format_rfc3339(rel.recorded_at, off)},
                        {"channel", rel.channel},
                        {"url", rel.url},
                        {"speaker", rel.speaker},
                        {"via", rel.via},
                        {"confirmation_id", rel.confirmation_id}});
  }
  return releases;
}

ordered_json milestone_json(const MilestoneReport& m, std::chrono::minutes off) {
  ordered_json mj{{"milestone", std::string(to_string(m.milestone))},
                  {"round", m.round},
                  {"target", time_json(m.target, off)},
                  {"deadline", time_json(m.deadline, off)},
                  {"met_at", time_json(m.met_at, off)},
                  {"met_recorded_at", time_json(m.met_recorded_at, off)},
                  {"late", m.late ? (m.late == Lateness::on_time ? ordered_json(false)
                                                                 : ordered_json(late_word(m.late)))
                                  : ordered_json(nullptr)},
                  {"vs_target_seconds", seconds_json(m.vs_target)},
                  {"vs_deadline_seconds", seconds_json(m.vs_deadline)},
                  {"status", m.status},
                  {"releases", releases_json(m, off)}};
  if (m.milestone == Milestone::press_conference) mj["principal_spoke"] = m.principal_spoke;
  return mj;
}

ordered_json ladder_json(const LadderEntry& e, std::chrono::minutes off) {
  ordered_json ej{{"seq", e.seq},
                  {"at", format_rfc3339(e.at, off)},
                  {"action", std::string(to_string(e.kind))},
                  {"milestone", std::string(to_string(e.milestone))},
                  {"round", e.round},
                  {"level", e.level},
                  {"due", time_json(e.due, off)},
                  {"reminder", e.reminder},
                  {"catch_up", e.catch_up},
                  {"notified", e.notified}};
  if (e.previous_level) ej["previous_level"] = *e.previous_level;
  return ej;
}

ordered_json notification_json(const IncidentReport& r, const DeliveryReport& d) {
  const auto off = r.utc_offset;
  ordered_json dj{{"first_seq", d.first_seq}, {"milestone", std::string(to_string(d.milestone))},
                  {"round", d.round},         {"cause", std::string(to_string(d.cause))},
                  {"level", d.level},         {"reminder", d.reminder},
                  {"recipient", d.recipient}};
  if (r.full) dj["recipient_id"] = d.recipient_id;  // a person's id is personal data
  dj["unit"] = d.unit;
  dj["channel"] = d.channel;
  dj["contact"] = d.contact;
  dj["deputy_of"] = d.deputy_of.empty() ? ordered_json(nullptr) : ordered_json(d.deputy_of);
  dj["first_sent"] = format_rfc3339(d.first_sent, off);
  dj["last_sent"] = format_rfc3339(d.last_sent, off);
  dj["sends"] = d.sends;
  dj["delivery"] = d.delivery;
  dj["delivered_at"] = time_json(d.delivered_at, off);
  dj["delivery_note"] = d.delivery_note;
  dj["acknowledged_at"] = time_json(d.acknowledged_at, off);
  dj["time_to_ack_seconds"] = seconds_json(d.time_to_ack);
  return dj;
}

ordered_json gap_json(const Gap& g, std::chrono::minutes off) {
  return {{"seq", g.seq},
          {"kind", g.kind},
          {"at", format_rfc3339(g.at, off)},
          {"since", time_json(g.since, off)},
          {"delay_seconds", seconds_json(g.delay)},
          {"what", g.what}};
}

}  // namespace

std::string render_json(const IncidentReport& r) {
  const auto off = r.utc_offset;
  ordered_json j;
  j["report"] = "incident";
  j["generated_at"] = format_rfc3339(r.generated_at, off);
  j["timezone"] = r.timezone;
  j["personal_data"] = r.full ? "full" : "de-identified";
  j["notice"] = privacy_notice(r);
  j["incident"] = incident_json(r);
  j["levels"] = levels_json(r);
  j["milestones"] = ordered_json::array();
  for (const auto& m : r.milestones) j["milestones"].push_back(milestone_json(m, off));
  j["ladder"] = ordered_json::array();
  for (const auto& e : r.ladder) j["ladder"].push_back(ladder_json(e, off));
  j["notifications"] = ordered_json::array();
  for (const auto& d : r.deliveries) j["notifications"].push_back(notification_json(r, d));
  j["gaps"] = ordered_json::array();
  for (const auto& g : r.gaps) j["gaps"].push_back(gap_json(g, off));
  j["chain"] = {{"heads_digest", r.heads_digest.empty() ? json(nullptr) : json(r.heads_digest)},
                {"incident_last_entry", head_json(r.incident_head)}};
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace incidentd::report
