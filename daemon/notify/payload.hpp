// What an outbox row's body says, typed. The dispatcher decodes the body once, when it claims the
// row, and hands the payload to the channel, which renders its own text from it; no channel
// parses JSON. The engine's and the operator desk's rows hold a notification action (the
// timeline's JSON), the source heartbeat's a SourceNotice.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "incidentd/codec.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/notification.hpp"
#include "incidentd/outbox.hpp"
#include "incidentd/time.hpp"
#include "incidentd/timeline_rows.hpp"

namespace incidentd {

// The source heartbeat's notice to the operator desk (daemon/notify/source_heartbeat.hpp): the
// body of a source_silent or source_back outbox row. No incident, no reply code.
struct SourceNotice {
  bool back = false;
  TimePoint since{};    // the last message before the silence (or the start it counted from)
  TimePoint at{};       // silent: when it was noticed; back: when messages came back
  Duration silence{0};  // [ingest] source_silence
};
std::string source_notice_json(const SourceNotice& notice);

struct NotificationPayload {
  std::variant<Action, SourceNotice> content;
  // The body as it was stored: the generic webhook passes it on whole, as it always did.
  nlohmann::json stored;

  // The notification action (alert, unreached), or nullptr.
  const Action* action() const { return std::get_if<Action>(&content); }
  // The source heartbeat's notice (source_silent, source_back), or nullptr.
  const SourceNotice* notice() const { return std::get_if<SourceNotice>(&content); }
};

// The timeline rows one dispatcher pass has expanded into their entries, by seq. A step's
// recipients fall due together, and without it each of their claims parsed and expanded the
// whole step again: a step of R recipients cost R times what it needs.
class DecodedSteps {
 public:
  // The entries of timeline row `seq`, whose body and columns are these (decoded at first ask).
  const Parsed<std::vector<nlohmann::json>>& entries(std::int64_t seq, std::string_view body,
                                                     const TimelineColumns& columns);

 private:
  std::unordered_map<std::int64_t, Parsed<std::vector<nlohmann::json>>> rows_;
};

// The body of the row `notification_id` with this purpose, or why it cannot be sent (an error
// that says so, kept in the row when it is given up). An alert's body is its timeline row, which
// may hold the notifications of a whole step (incidentd/timeline_rows.hpp): the one of this id is
// taken from it (a body of one notification needs no id). A timeline row's body leaves out what
// the row's columns say: `timeline` gives them (an operator's row keeps its whole JSON: none).
Parsed<NotificationPayload> decode_notification_body(
    NotificationPurpose purpose, std::string_view body, std::string_view notification_id = {},
    const std::optional<TimelineColumns>& timeline = std::nullopt);
// The same for an outbox row as due_notifications() gives it; a row of a timeline row is taken
// from `steps`, which expands each timeline row once.
Parsed<NotificationPayload> decode_notification_body(const OutboxRow& row, DecodedSteps& steps);

}  // namespace incidentd
