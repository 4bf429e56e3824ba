#include "notify/payload.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "incidentd/timeline_rows.hpp"

namespace incidentd {
namespace {

Parsed<NotificationPayload> decode_action(nlohmann::json j) {
  Parsed<Action> action = action_from_json(j);
  if (!action) return {std::nullopt, "outbox body: " + action.error};
  if (action.value->kind != ActionKind::notification) {
    return {std::nullopt, "outbox body is a \"" + std::string(to_string(action.value->kind)) +
                              "\" action, not a notification"};
  }
  return {NotificationPayload{std::move(*action.value), std::move(j)}, {}};
}

// The entry of `notification_id` among a timeline row's (of one notification: that one).
Parsed<nlohmann::json> entry_of(const Parsed<std::vector<nlohmann::json>>& entries,
                                std::string_view notification_id) {
  if (!entries) return {std::nullopt, entries.error};
  if (entries.value->size() == 1 && notification_id.empty()) {
    return {entries.value->front(), {}};
  }
  for (const nlohmann::json& entry : *entries.value) {
    const auto id = entry.find("notification_id");
    if (id != entry.end() && id->is_string() &&
        id->get_ref<const std::string&>() == notification_id) {
      return {entry, {}};
    }
  }
  return {std::nullopt,
          "outbox body: its step has no notification " + std::string(notification_id)};
}

// Whether a row of this purpose with these columns has its step's timeline row for a body (an
// operator's alert keeps its own JSON, and has no columns).
bool of_timeline_row(NotificationPurpose purpose, bool has_columns) {
  return has_columns &&
         (purpose == NotificationPurpose::alert || purpose == NotificationPurpose::unreached);
}

// A timeline row's body as its entries, or why it cannot be (an error about the outbox body).
Parsed<std::vector<nlohmann::json>> expand(std::string_view body, const TimelineColumns& columns) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return {std::nullopt, "outbox body is not a JSON object"};
  auto entries = timeline_entries(std::move(j), columns);
  if (!entries) return {std::nullopt, "outbox body: " + entries.error};
  return entries;
}

Parsed<NotificationPayload> decode_entry(const Parsed<std::vector<nlohmann::json>>& entries,
                                         std::string_view notification_id) {
  auto entry = entry_of(entries, notification_id);
  if (!entry) return {std::nullopt, std::move(entry.error)};
  return decode_action(std::move(*entry.value));
}

Parsed<NotificationPayload> decode_source_notice(nlohmann::json j, NotificationPurpose purpose) {
  const auto text = [&j](const char* name) {
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const bool back = purpose == NotificationPurpose::source_back;
  const auto since = parse_rfc3339(text("since"));
  const auto at = parse_rfc3339(text("at"));
  const auto silence = parse_duration(text("silence"));
  if (text("action") != to_string(purpose) || !since || !at || !silence) {
    return {std::nullopt, "outbox body is not a source heartbeat notice"};
  }
  return {NotificationPayload{SourceNotice{back, *since, *at, *silence}, std::move(j)}, {}};
}

}  // namespace

std::string source_notice_json(const SourceNotice& notice) {
  const NotificationPurpose purpose =
      notice.back ? NotificationPurpose::source_back : NotificationPurpose::source_silent;
  nlohmann::json j = {
      {"action", to_string(purpose)},
      {"since", format_rfc3339(notice.since, std::chrono::minutes{0})},
      {"at", format_rfc3339(notice.at, std::chrono::minutes{0})},
      {"silence", format_duration(notice.silence)},
  };
  return j.dump();
}

Parsed<NotificationPayload> decode_notification_body(
    NotificationPurpose purpose, std::string_view body, std::string_view notification_id,
    const std::optional<TimelineColumns>& timeline) {
  if (of_timeline_row(purpose, timeline.has_value())) {
    return decode_entry(expand(body, *timeline), notification_id);
  }
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) return {std::nullopt, "outbox body is not a JSON object"};
  switch (purpose) {
    case NotificationPurpose::alert:
    case NotificationPurpose::unreached:
      return decode_action(std::move(j));  // an operator's row: the whole notification
    case NotificationPurpose::source_silent:
    case NotificationPurpose::source_back:
      return decode_source_notice(std::move(j), purpose);
  }
  return {std::nullopt, "outbox row of no known purpose"};
}

Parsed<NotificationPayload> decode_notification_body(const OutboxRow& row, DecodedSteps& steps) {
  if (!row.timeline_seq || !of_timeline_row(row.purpose, row.timeline.has_value())) {
    return decode_notification_body(row.purpose, row.body, row.notification_id, row.timeline);
  }
  return decode_entry(steps.entries(*row.timeline_seq, row.body, *row.timeline),
                      row.notification_id);
}

const Parsed<std::vector<nlohmann::json>>& DecodedSteps::entries(std::int64_t seq,
                                                                 std::string_view body,
                                                                 const TimelineColumns& columns) {
  auto it = rows_.find(seq);
  if (it == rows_.end()) it = rows_.emplace(seq, expand(body, columns)).first;
  return it->second;
}

}  // namespace incidentd
