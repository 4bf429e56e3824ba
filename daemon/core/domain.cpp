#include "incidentd/domain.hpp"

#include <array>
#include <utility>

namespace incidentd {
namespace {

template <typename E, std::size_t N>
std::optional<E> lookup(const std::array<std::pair<E, std::string_view>, N>& table,
                        std::string_view s) {
  for (const auto& [value, name] : table) {
    if (name == s) return value;
  }
  return std::nullopt;
}

template <typename E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E v) {
  for (const auto& [value, name] : table) {
    if (value == v) return name;
  }
  return "?";
}

constexpr std::array<std::pair<Level, std::string_view>, 4> kLevelNames{{
    {Level::I, "I"},
    {Level::II, "II"},
    {Level::III, "III"},
    {Level::IV, "IV"},
}};
constexpr std::array<std::pair<Milestone, std::string_view>, 3> kMilestoneNames{{
    {Milestone::first_release, "first_release"},
    {Milestone::press_conference, "press_conference"},
    {Milestone::follow_up, "follow_up"},
}};
constexpr std::array<std::pair<EventKind, std::string_view>, 3> kEventKindNames{{
    {EventKind::detected, "detected"},
    {EventKind::updated, "updated"},
    {EventKind::closed, "closed"},
}};
constexpr std::array<std::pair<ActionKind, std::string_view>, 14> kActionNames{{
    {ActionKind::incident_opened, "incident_opened"},
    {ActionKind::level_changed, "level_changed"},
    {ActionKind::warning, "warning"},
    {ActionKind::target_missed, "target_missed"},
    {ActionKind::deadline_breached, "deadline_breached"},
    {ActionKind::notification, "notification"},
    {ActionKind::escalated, "escalated"},
    {ActionKind::acknowledged, "acknowledged"},
    {ActionKind::release_confirmed, "release_confirmed"},
    {ActionKind::milestone_met, "milestone_met"},
    {ActionKind::incident_closed, "incident_closed"},
    {ActionKind::delivery, "delivery"},
    {ActionKind::channel_fallback, "channel_fallback"},
    {ActionKind::daemon_outage, "daemon_outage"},
}};

}  // namespace

std::string_view to_string(Level v) {
  return name_of(kLevelNames, v);
}
std::string_view to_string(Milestone v) {
  return name_of(kMilestoneNames, v);
}
std::string_view to_string(EventKind v) {
  return name_of(kEventKindNames, v);
}
std::string_view to_string(ActionKind v) {
  return name_of(kActionNames, v);
}
std::optional<Level> parse_level(std::string_view s) {
  return lookup(kLevelNames, s);
}
std::optional<Milestone> parse_milestone(std::string_view s) {
  return lookup(kMilestoneNames, s);
}
std::optional<EventKind> parse_event_kind(std::string_view s) {
  return lookup(kEventKindNames, s);
}
std::optional<ActionKind> parse_action_kind(std::string_view s) {
  return lookup(kActionNames, s);
}

}  // namespace incidentd
