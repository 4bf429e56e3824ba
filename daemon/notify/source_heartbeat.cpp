#include "notify/source_heartbeat.hpp"

#include <spdlog/spdlog.h>

#include <string>
#include <utility>

#include "notify/dispatcher.hpp"
#include "notify/message.hpp"

namespace incidentd {
namespace {

// A failed write is tried again this much later (the next message retries an all-clear sooner).
constexpr Duration kRetryAfterStoreError = std::chrono::seconds(5);

}  // namespace

SourceHeartbeat::SourceHeartbeat(SourceHeartbeatLog& store, ConfigView config, TimeSystem& time,
                                 Duration silence,
                                 std::function<void(const SourceState&)> on_change)
    : store_(store),
      config_(config),
      time_(time),
      silence_(silence),
      on_change_(std::move(on_change)),
      timer_(time.create_timer()) {}

SourceHeartbeat::~SourceHeartbeat() {
  timer_->cancel();
}

void SourceHeartbeat::start() {
  const TimePoint now = time_.now();
  started_ = true;
  count_from_ = now;
  if (const auto recorded = store_.source_heartbeat()) {
    state_.since = recorded->since;
    if (recorded->silent) {
      // Told already, before a restart: wait for the all-clear, do not alert again.
      state_.silent = true;
      if (on_change_) on_change_(state_);
      return;
    }
  }
  arm(now + silence_);
}

void SourceHeartbeat::events_arrived() {
  if (!started_) return;
  const TimePoint now = time_.now();
  state_.last_event = now;
  count_from_ = now;
  if (!state_.silent) return;  // the armed timer re-checks count_from_ when it fires
  back_pending_ = true;
  on_due();
}

void SourceHeartbeat::arm(TimePoint at) {
  timer_->arm(at, [this] { on_due(); });
}

void SourceHeartbeat::on_due() {
  const TimePoint now = time_.now();
  if (state_.silent) {
    if (!back_pending_) return;
    const TimePoint back = state_.last_event.value_or(now);
    if (!record(false, back, now)) {
      arm(now + kRetryAfterStoreError);
      return;
    }
    back_pending_ = false;
    spdlog::info("source heartbeat: events again since {} (silent since {}); operator desk told",
                 format_rfc3339(back, config_.get()->utc_offset),
                 format_rfc3339(state_.since.value_or(back), config_.get()->utc_offset));
    state_.silent = false;
    state_.since = back;
    if (on_change_) on_change_(state_);
    arm(count_from_ + silence_);
    return;
  }
  // Timers fire no earlier than asked; a message since then moves the instant on.
  if (now < count_from_ + silence_) {
    arm(count_from_ + silence_);
    return;
  }
  if (!record(true, count_from_, now)) {
    arm(now + kRetryAfterStoreError);
    return;
  }
  spdlog::warn(
      "source heartbeat: no message at all on {} since {} ({} and more): operator desk told",
      config_.get()->kafka.events_topic, format_rfc3339(count_from_, config_.get()->utc_offset),
      format_duration(silence_));
  state_.silent = true;
  state_.since = count_from_;
  if (on_change_) on_change_(state_);
}

bool SourceHeartbeat::record(bool silent, TimePoint since, TimePoint now) {
  // The rows of both notices are named after the silence they are about: one per person each.
  const TimePoint silence_since = silent ? since : state_.since.value_or(since);
  try {
    store_.record_source_heartbeat(
        SourceHeartbeatRecord{silent, since, now},
        desk_rows(silent ? NotificationPurpose::source_silent : NotificationPurpose::source_back,
                  silence_since, now));
    return true;
  } catch (const StoreError& e) {
    spdlog::error("source heartbeat: {}; trying again", e.what());
    return false;
  }
}

std::vector<OutboxRow> SourceHeartbeat::desk_rows(NotificationPurpose purpose,
                                                  TimePoint silence_since, TimePoint now) const {
  SourceNotice notice;
  notice.back = purpose == NotificationPurpose::source_back;
  notice.since = silence_since;
  notice.at = now;
  notice.silence = silence_;
  const std::string body = source_notice_json(notice);
  std::vector<OutboxRow> rows;
  const auto roster = config_.get();  // held while the desk's pointers are in use
  for (const Person* p : operator_desk(*roster)) {
    std::optional<NotificationChannel> channel;
    for (const std::string& candidate : p->channels) {
      if (!address_of(*p, candidate).empty()) {
        channel = parse_notification_channel(candidate);
        break;
      }
    }
    if (!channel) continue;
    const Unit* unit = roster->unit_of_person(p->id);
    OutboxRow row;
    row.notification_id = std::string(to_string(purpose)) + "/" +
                          std::to_string(silence_since.time_since_epoch().count()) + "/" + p->id;
    row.recipient = p->id;
    row.unit = unit != nullptr ? unit->id : "";
    row.channel = *channel;
    row.body = body;
    row.created_at = now;
    row.next_attempt_at = now;
    row.purpose = purpose;
    rows.push_back(std::move(row));
  }
  if (rows.empty()) {
    spdlog::warn("source heartbeat: the operator desk has nobody with an address to tell");
  }
  return rows;
}

}  // namespace incidentd
