#include "incidentd/timeline_rows.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "incidentd/incident.hpp"

namespace incidentd {
namespace {

constexpr std::string_view kRecipients = "recipients";
// A step's alert, whose id with the recipient and the send makes each notification's id.
constexpr std::string_view kAlertId = "alert_id";

// The fields of an action's JSON that the row's columns hold (TimelineColumns).
constexpr std::array<std::string_view, 4> kColumnFields = {"action", "at", "incident_key",
                                                           "milestone"};

// The JSON of an action as a row keeps it: without what the row's columns say. Each of these is
// the column's value by construction (both are of the same action), so the reader's copy from the
// columns gives back the same field.
nlohmann::json without_columns(nlohmann::json j) {
  for (const std::string_view field : kColumnFields) j.erase(std::string(field));
  return j;
}

// The fields the columns hold that `entry` lacks: every row's since schema 17, none before.
void put_columns(nlohmann::json& entry, const TimelineColumns& columns) {
  if (!entry.contains("action")) entry["action"] = columns.action;
  if (!entry.contains("at")) entry["at"] = format_rfc3339(columns.at, std::chrono::minutes{0});
  if (!entry.contains("incident_key")) entry["incident_key"] = columns.incident_key;
  if (columns.milestone && !entry.contains("milestone")) entry["milestone"] = *columns.milestone;
}

bool is_recipient_field(std::string_view key) {
  return std::find(kRecipientFields.begin(), kRecipientFields.end(), key) != kRecipientFields.end();
}

// A notification's JSON as what its step shares and what it has alone.
struct Split {
  nlohmann::json shared = nlohmann::json::object();
  nlohmann::json own = nlohmann::json::object();
};

Split split(nlohmann::json j) {
  Split s;
  for (auto& [key, value] : j.items()) {
    (is_recipient_field(key) ? s.own : s.shared)[key] = std::move(value);
  }
  return s;
}

// A row being gathered: one action's JSON, or a notification's shared part and each
// recipient's (one of them: a lone notification; more: a step).
struct Gathering {
  std::vector<const Action*> actions;
  nlohmann::json body;                     // not a notification: its JSON; else the shared part
  std::vector<nlohmann::json> recipients;  // a notification's own fields, one per recipient
};

// A recipient field with the same value for every recipient of a step (most steps go by one
// channel, many to one unit) is said once, with what they share.
void hoist_common_fields(nlohmann::json& shared, std::vector<nlohmann::json>& recipients) {
  for (const std::string_view field : kRecipientFields) {
    const std::string key(field);
    const auto first = recipients.front().find(key);
    if (first == recipients.front().end()) continue;
    const bool common = std::all_of(recipients.begin(), recipients.end(), [&](const auto& own) {
      const auto it = own.find(key);
      return it != own.end() && *it == *first;
    });
    if (!common) continue;
    shared[key] = *first;
    for (nlohmann::json& own : recipients) own.erase(key);
  }
}

// The id the engine gives the notification of `alert` to `recipient`, send `send` (JSON values
// checked to be a string and an integer).
std::string engine_id(std::string_view alert, const nlohmann::json& recipient,
                      const nlohmann::json& send) {
  return notification_id_of(alert, recipient.get_ref<const std::string&>(),
                            send.get<std::int64_t>());
}

// The value of `key` for one recipient of a step: its own, else the step's.
const nlohmann::json* field_of(const nlohmann::json& shared, const nlohmann::json& own,
                               const std::string& key) {
  if (const auto it = own.find(key); it != own.end()) return &*it;
  if (const auto it = shared.find(key); it != shared.end()) return &*it;
  return nullptr;
}

// When every notification id of a step is the engine's id of one alert, the step says that
// alert's id once instead (the ids were a quarter of a step's row). Ids made otherwise stay.
void derive_notification_ids(nlohmann::json& shared, std::vector<nlohmann::json>& recipients) {
  const std::string id_key = "notification_id";
  std::optional<std::string> alert;
  for (const nlohmann::json& own : recipients) {
    const auto id_it = own.find(id_key);
    const nlohmann::json* id = id_it == own.end() ? nullptr : &*id_it;
    const nlohmann::json* recipient = field_of(shared, own, "recipient");
    const nlohmann::json* send = field_of(shared, own, "send");
    if (id == nullptr || !id->is_string() || recipient == nullptr || !recipient->is_string() ||
        send == nullptr || !send->is_number_integer()) {
      return;
    }
    const std::string& text = id->get_ref<const std::string&>();
    const std::string suffix = engine_id("", *recipient, *send);
    if (text.size() <= suffix.size() ||
        text.compare(text.size() - suffix.size(), suffix.size(), suffix) != 0) {
      return;
    }
    std::string prefix = text.substr(0, text.size() - suffix.size());
    if (alert && *alert != prefix) return;
    alert = std::move(prefix);
  }
  if (!alert) return;
  shared[std::string(kAlertId)] = *alert;
  for (nlohmann::json& own : recipients) own.erase(id_key);
}

}  // namespace

TimelineColumns timeline_columns(const Action& a) {
  TimelineColumns c{a.incident_key, a.at, std::string(to_string(a.kind)), std::nullopt};
  if (a.milestone) c.milestone = std::string(to_string(*a.milestone));
  return c;
}

nlohmann::json timeline_body(const Action& a) {
  return without_columns(to_json(a, std::chrono::minutes{0}));
}

std::vector<TimelineRowDraft> timeline_rows(const std::vector<Action>& actions) {
  std::vector<Gathering> rows;
  rows.reserve(actions.size());
  // Per incident, the row of its last action when that was a notification: the next one may join.
  std::unordered_map<std::string_view, std::size_t> open_step;
  for (const Action& a : actions) {
    // Whole, so that notifications join only when they agree on the columns too (the instant).
    nlohmann::json j = to_json(a, std::chrono::minutes{0});
    if (a.kind != ActionKind::notification) {
      open_step.erase(a.incident_key);
      rows.push_back({{&a}, std::move(j), {}});
      continue;
    }
    Split s = split(std::move(j));
    if (const auto open = open_step.find(a.incident_key); open != open_step.end()) {
      Gathering& row = rows[open->second];
      if (row.body == s.shared) {
        row.actions.push_back(&a);
        row.recipients.push_back(std::move(s.own));
        continue;
      }
    }
    open_step[a.incident_key] = rows.size();
    rows.push_back({{&a}, std::move(s.shared), {}});
    rows.back().recipients.push_back(std::move(s.own));
  }
  std::vector<TimelineRowDraft> out;
  out.reserve(rows.size());
  for (Gathering& row : rows) {
    TimelineRowDraft draft{std::move(row.actions), without_columns(std::move(row.body))};
    if (row.recipients.size() > 1) {
      hoist_common_fields(draft.body, row.recipients);
      derive_notification_ids(draft.body, row.recipients);
      draft.body[std::string(kRecipients)] = std::move(row.recipients);
    } else if (row.recipients.size() == 1) {
      draft.body.update(row.recipients.front());  // a lone notification: its JSON as it was
    }
    out.push_back(std::move(draft));
  }
  return out;
}

Parsed<std::vector<nlohmann::json>> timeline_entries(nlohmann::json body,
                                                     const TimelineColumns& columns) {
  using Result = Parsed<std::vector<nlohmann::json>>;
  if (!body.is_object()) return Result{std::nullopt, "a timeline row must be a JSON object"};
  put_columns(body, columns);
  const auto list = body.find(kRecipients);
  if (list == body.end()) return Result{std::vector<nlohmann::json>{std::move(body)}, {}};
  if (!list->is_array() || list->empty()) {
    return Result{std::nullopt, "\"recipients\" must be a list of recipients"};
  }
  const nlohmann::json recipients = std::move(*list);
  body.erase(std::string(kRecipients));
  std::optional<std::string> alert;
  if (const auto it = body.find(kAlertId); it != body.end()) {
    if (!it->is_string()) return Result{std::nullopt, "\"alert_id\" must be a string"};
    alert = it->get<std::string>();
    body.erase(it);
  }
  std::vector<nlohmann::json> entries;
  entries.reserve(recipients.size());
  for (const nlohmann::json& own : recipients) {
    if (!own.is_object()) return Result{std::nullopt, "a recipient must be a JSON object"};
    nlohmann::json entry = body;
    for (const auto& [key, value] : own.items()) {
      if (!is_recipient_field(key) || body.contains(key)) {
        return Result{std::nullopt, "a recipient may not carry \"" + key + "\""};
      }
      entry[key] = value;
    }
    if (alert && !entry.contains("notification_id")) {
      const auto recipient = entry.find("recipient");
      const auto send = entry.find("send");
      if (recipient == entry.end() || !recipient->is_string() || send == entry.end() ||
          !send->is_number_integer()) {
        return Result{std::nullopt,
                      "a recipient of a step with an alert id needs its "
                      "\"recipient\" and \"send\""};
      }
      entry["notification_id"] = engine_id(*alert, *recipient, *send);
    }
    entries.push_back(std::move(entry));
  }
  return Result{std::move(entries), {}};
}

Parsed<std::vector<Action>> timeline_actions(nlohmann::json body, const TimelineColumns& columns) {
  using Result = Parsed<std::vector<Action>>;
  auto entries = timeline_entries(std::move(body), columns);
  if (!entries) return Result{std::nullopt, std::move(entries.error)};
  std::vector<Action> out;
  out.reserve(entries.value->size());
  for (const nlohmann::json& entry : *entries.value) {
    auto parsed = action_from_json(entry);
    if (!parsed) return Result{std::nullopt, std::move(parsed.error)};
    out.push_back(std::move(*parsed.value));
  }
  return Result{std::move(out), {}};
}

}  // namespace incidentd
