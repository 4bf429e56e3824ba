// How the engine's actions are kept on the timeline. Each action is one timeline entry (the
// contract's action vocabulary); a stored row holds one entry, or the notifications of one step
// together. A step alerts several people at one instant (a warning to every duty officer of the
// units, an escalation to their leaders): those notifications differ only in who receives them,
// and as a row each they were 85 % of a year's rows and two thirds of its file (issue 18). A
// step's row keeps what its notifications share once and, under "recipients", what each one alone
// has (of kRecipientFields, those that are not the same for all of them: most steps go by one
// channel); each entry of it is the shared fields with one recipient's, the very JSON that
// notification's own row would have held. A row of one action is that action's JSON,
// as every row was before schema 16, so the readers read old rows and new ones alike.
//
// Since schema 17 a body also leaves out what the row's columns say (TimelineColumns: the
// incident, the instant, the action and the milestone were a sixth of a year's bytes), and a
// step's notification ids, which the engine makes of its alert's id, the recipient and the send
// (Incident::alert_id), are its alert's id said once. The readers put both back, so an entry reads
// the same from a row of any schema. The hash chain covers rows as they are stored, body and
// columns (chain_hash.hpp).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "incidentd/codec.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

// What one notification of a step may have alone; everything else of its JSON is the step's,
// and so is any of these that all of the step's notifications have alike.
inline constexpr std::array<std::string_view, 6> kRecipientFields = {
    "channel", "deputy_of", "notification_id", "recipient", "send", "unit"};

// A row's columns: what every entry of it has alike, and what the row is found by.
struct TimelineColumns {
  std::string incident_key;
  TimePoint at{};
  std::string action;
  std::optional<std::string> milestone;
};

// The columns of the row `a` is stored in (the first of its actions).
TimelineColumns timeline_columns(const Action& a);

// A timeline row about to be stored: its actions (one, or a step's notifications in order) and
// its body. The row's columns are timeline_columns(*actions.front()).
struct TimelineRowDraft {
  std::vector<const Action*> actions;
  nlohmann::json body;
};

// The body of a row holding `a` alone.
nlohmann::json timeline_body(const Action& a);

// The rows `actions` are stored as, in the order of each row's first action. Consecutive
// notifications of one incident (no other action of that incident between them) whose JSON is
// the same but for kRecipientFields share a row; so the rows of an incident depend only on that
// incident's own actions, and a replica applying one incident's record writes the rows its owner
// wrote. The drafts point into `actions`.
std::vector<TimelineRowDraft> timeline_rows(const std::vector<Action>& actions);

// The entries a stored row holds, in order: its body, or each of a step's notifications, with
// what its columns say. Fails when "recipients" is not a list of objects of recipient fields
// only, or one of them says again a field the step says, or the step's alert id cannot make a
// recipient's notification id.
Parsed<std::vector<nlohmann::json>> timeline_entries(nlohmann::json body,
                                                     const TimelineColumns& columns);

// The same, as actions (each through action_from_json).
Parsed<std::vector<Action>> timeline_actions(nlohmann::json body, const TimelineColumns& columns);

}  // namespace incidentd
