#include "incidentd/timeline_rows.hpp"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>

namespace incidentd {
namespace {

constexpr std::string_view kRecipients = "recipients";

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

}  // namespace

std::vector<TimelineRowDraft> timeline_rows(const std::vector<Action>& actions) {
  std::vector<Gathering> rows;
  rows.reserve(actions.size());
  // Per incident, the row of its last action when that was a notification: the next one may join.
  std::unordered_map<std::string_view, std::size_t> open_step;
  for (const Action& a : actions) {
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
    TimelineRowDraft draft{std::move(row.actions), std::move(row.body)};
    if (row.recipients.size() > 1) {
      hoist_common_fields(draft.body, row.recipients);
      draft.body[std::string(kRecipients)] = std::move(row.recipients);
    } else if (row.recipients.size() == 1) {
      draft.body.update(row.recipients.front());  // a lone notification: its JSON as it was
    }
    out.push_back(std::move(draft));
  }
  return out;
}

Parsed<std::vector<nlohmann::json>> timeline_entries(const nlohmann::json& body) {
  using Result = Parsed<std::vector<nlohmann::json>>;
  if (!body.is_object()) return Result{std::nullopt, "a timeline row must be a JSON object"};
  const auto list = body.find(kRecipients);
  if (list == body.end()) return Result{std::vector<nlohmann::json>{body}, {}};
  if (!list->is_array() || list->empty()) {
    return Result{std::nullopt, "\"recipients\" must be a list of recipients"};
  }
  nlohmann::json shared = body;
  shared.erase(std::string(kRecipients));
  std::vector<nlohmann::json> entries;
  entries.reserve(list->size());
  for (const nlohmann::json& own : *list) {
    if (!own.is_object()) return Result{std::nullopt, "a recipient must be a JSON object"};
    nlohmann::json entry = shared;
    for (const auto& [key, value] : own.items()) {
      if (!is_recipient_field(key) || shared.contains(key)) {
        return Result{std::nullopt, "a recipient may not carry \"" + key + "\""};
      }
      entry[key] = value;
    }
    entries.push_back(std::move(entry));
  }
  return Result{std::move(entries), {}};
}

Parsed<std::vector<Action>> timeline_actions(const nlohmann::json& body) {
  using Result = Parsed<std::vector<Action>>;
  auto entries = timeline_entries(body);
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
