#include "ctl/timeline_text.hpp"

namespace incidentd {
namespace {

// "2026-11-26 10:00" from the RFC 3339 form: the date and the minute are what people read.
std::string short_time(TimePoint t, std::chrono::minutes utc_offset) {
  std::string s = format_rfc3339(t, utc_offset);
  s[10] = ' ';
  return s.substr(0, 16);
}

std::string_view lateness(Lateness l) {
  switch (l) {
    case Lateness::on_time:
      return "on time";
    case Lateness::target:
      return "LATE (after the target)";
    case Lateness::deadline:
      return "LATE (after the deadline)";
  }
  return "";
}

}  // namespace

std::string format_action_text(const Action& a, std::chrono::minutes utc_offset) {
  std::string line = short_time(a.at, utc_offset) + "  " + a.incident_key + "  ";
  line += to_string(a.kind);
  if (a.milestone) line += " " + std::string(to_string(*a.milestone));
  if (a.round > 0) line += " #" + std::to_string(a.round);
  switch (a.kind) {
    case ActionKind::incident_opened:
    case ActionKind::level_changed:
      if (a.incident_level) line += " level " + std::string(to_string(*a.incident_level));
      line += a.clock ? " (clock running)" : " (no clock)";
      if (!a.title.empty()) line += "  " + a.title;
      break;
    case ActionKind::warning:
    case ActionKind::target_missed:
    case ActionKind::deadline_breached:
      line += " level " + std::to_string(a.level.value_or(0));
      if (a.due) line += ", due " + short_time(*a.due, utc_offset);
      if (a.reminder > 0) line += ", reminder " + std::to_string(a.reminder);
      break;
    case ActionKind::escalated:
      line += " to level " + std::to_string(a.level.value_or(0));
      break;
    case ActionKind::notification:
      line += " -> " + a.recipient + " (" + a.unit + ") by " + a.channel;
      if (a.send > 1) line += ", send " + std::to_string(a.send);
      if (!a.deputy_of.empty()) line += ", deputy of " + a.deputy_of;
      break;
    case ActionKind::acknowledged:
      line += " by " + a.recipient;
      break;
    case ActionKind::release_confirmed:
      line += " by " + a.unit;
      if (a.released_at) line += ", released " + short_time(*a.released_at, utc_offset);
      if (!a.url.empty()) line += " " + a.url;
      break;
    case ActionKind::milestone_met:
      if (a.late) line += " " + std::string(lateness(*a.late));
      break;
    case ActionKind::incident_closed:
      break;
    case ActionKind::delivery:
      line += " " + a.notification_id + " attempt " + std::to_string(a.attempt) + " by " +
              a.channel + ": " + a.outcome;
      if (!a.detail.empty()) line += " (" + a.detail + ")";
      break;
    case ActionKind::channel_fallback:
      line += " " + a.notification_id + " " + a.previous_channel + " -> " + a.channel;
      if (!a.detail.empty()) line += " (" + a.detail + ")";
      break;
    case ActionKind::daemon_outage:
      if (a.from) line += " from " + short_time(*a.from, utc_offset);
      if (a.to) line += " to " + short_time(*a.to, utc_offset);
      break;
  }
  if (a.catch_up) line += "  [catch-up]";
  if (a.drill) line += "  [DRILL]";
  return line;
}

}  // namespace incidentd
