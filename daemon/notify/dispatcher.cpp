#include "notify/dispatcher.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "incidentd/codec.hpp"
#include "incidentd/store.hpp"

namespace incidentd {

// One row this dispatcher has taken on: everything the send and its result record need.
struct Dispatcher::Claimed {
  OutboxRow row;
  // A copy, not a pointer into the roster: a reload (SIGHUP) replaces the roster while the send
  // is in flight, and its result is decided after.
  std::optional<Person> person;
  std::string channel;  // the roster's and the delivery policy's name of the row's channel
  std::string address;
  int attempt = 0;
  std::string unsendable;  // why it cannot even be tried on this channel (then no send)
  // The row's body, decoded once here; a body that cannot be decoded fails the attempt for good.
  Parsed<NotificationPayload> payload;
};

namespace {

// The configuration accepts only the channel names NotificationChannel has, and the delivery
// policy picks among the roster's: any other name here is a bug.
NotificationChannel roster_channel(std::string_view name) {
  const std::optional<NotificationChannel> channel = parse_notification_channel(name);
  if (!channel) {
    spdlog::critical("notify: the roster names an unknown channel \"{}\"", name);
    std::abort();
  }
  return *channel;
}

// The channels that refused this row for good, from its once-only marks.
std::vector<std::string> dead_channels_of(const Person* person, const std::string& recorded) {
  std::vector<std::string> dead;
  if (person == nullptr) return dead;
  for (const std::string& channel : person->channels) {
    if (is_marked(recorded, dead_mark(channel))) dead.push_back(channel);
  }
  return dead;
}

}  // namespace

std::vector<const Person*> operator_desk(const Config& config) {
  std::vector<const Person*> desk;
  for (const std::string& id : config.notify.operators) {
    if (const Person* p = config.find_person(id)) desk.push_back(p);
  }
  if (!config.notify.operators.empty()) return desk;
  std::set<std::string> units;
  for (const EscalationLevel& level : config.policy.escalation) {
    units.insert(level.supervision_units.begin(), level.supervision_units.end());
  }
  for (const std::string& unit_id : units) {
    if (const Unit* unit = config.find_unit(unit_id)) {
      for (const Person& p : unit->people) {
        if (p.role == "duty") desk.push_back(&p);
      }
    }
  }
  return desk;
}

Dispatcher::Dispatcher(NotificationOutbox& outbox, ConfigView config, TimeSystem& time,
                       std::vector<Channel*> channels, std::function<double()> random_unit,
                       AckLinkMaker ack_links)
    : outbox_(outbox),
      config_(config),
      time_(time),
      retry_(RetrySettings::from(config.get()->notify)),
      settings_(config.get()->notify),
      channels_(std::move(channels)),
      random_unit_(std::move(random_unit)),
      ack_links_(std::move(ack_links)),
      timer_(time.create_timer()) {}

Dispatcher::~Dispatcher() {
  *alive_ = false;
  timer_->cancel();
  flush();
}

void Dispatcher::flush() {
  if (pending_results_.empty()) return;
  std::vector<OutboxUpdate> results = std::move(pending_results_);
  pending_results_.clear();
  try {
    outbox_.record_outbox(results);
  } catch (const StoreFullError& e) {
    // Kept: the first pass after the pause records them, so what was sent is not sent again.
    spdlog::warn("notify: {} results wait for room on the disk: {}", results.size(), e.what());
    keep_unrecorded(std::move(results));
  } catch (const std::exception& e) {
    // Their rows keep their leases and are sent again later: a duplicate at most.
    spdlog::error("notify: recording {} results failed: {}", results.size(), e.what());
  }
}

void Dispatcher::keep_unrecorded(std::vector<OutboxUpdate> results) {
  // In the order they came, ahead of any that came since.
  results.insert(results.end(), std::make_move_iterator(pending_results_.begin()),
                 std::make_move_iterator(pending_results_.end()));
  pending_results_ = std::move(results);
}

void Dispatcher::start() {
  running_ = true;
  schedule(time_.now());
}

void Dispatcher::wake() {
  if (running_) schedule(time_.now());
}

void Dispatcher::stop() {
  flush();
  running_ = false;
  armed_at_.reset();
  timer_->cancel();
}

Channel* Dispatcher::channel_named(std::string_view name) const {
  for (Channel* c : channels_) {
    if (c->name() == name) return c;
  }
  return nullptr;
}

void Dispatcher::schedule(TimePoint at) {
  if (!running_) return;
  if (armed_at_ && *armed_at_ <= at) return;
  armed_at_ = at;
  timer_->arm(at, [this] {
    armed_at_.reset();
    run_pass();
  });
}

void Dispatcher::run_pass() {
  if (!running_) return;
  if (in_pass_) {
    pass_again_ = true;
    return;
  }
  in_pass_ = true;
  bool claimed_any = false;
  PassWrites writes;
  try {
    do {
      pass_again_ = false;
      claimed_any = look_at_outbox(writes) || claimed_any;
    } while (pass_again_ && running_);
  } catch (const StoreFullError&) {
    // The daemon pauses on a full disk (daemon/incidentd/disk_full.hpp) and stops this
    // dispatcher until there is room. The results not recorded are kept for the pass after it
    // (sent once, recorded late); the claims were not made, so nothing of them was sent.
    writes.updates.resize(writes.results);
    keep_unrecorded(std::move(writes.updates));
    in_pass_ = false;
    throw;
  } catch (const std::exception& e) {
    // Not kept: a result the store refuses for another reason would fail every pass after.
    // Its row keeps its lease and is sent again: a duplicate at most.
    spdlog::error("notify: outbox pass failed: {}", e.what());
  }
  in_pass_ = false;
  if (running_) schedule(next_pass_at(claimed_any));
}

bool Dispatcher::look_at_outbox(PassWrites& writes) {
  const TimePoint now = time_.now();
  const std::size_t limit = static_cast<std::size_t>(std::max(0, settings_.max_in_flight));
  const std::size_t capacity = in_flight_.size() >= limit ? 0 : limit - in_flight_.size();
  // Results waiting since the last pass go in the same transaction as the new claims: one
  // commit (one fsync) per pass, however many sends completed meanwhile.
  writes.updates = std::move(pending_results_);
  pending_results_.clear();
  writes.results = writes.updates.size();
  std::set<std::string> decided;  // rows whose result is in `writes`: their row is stale
  for (const OutboxUpdate& u : writes.updates) decided.insert(u.notification_id);
  pull_back_stepped_clock(now);
  // Rows still in flight (a lease that ran out before the channel answered) come back too.
  const std::vector<OutboxRow> rows =
      capacity == 0 ? std::vector<OutboxRow>{}
                    : outbox_.due_notifications(now, capacity + in_flight_.size() + writes.results);
  const auto roster = config_.get();  // this pass's snapshot
  std::vector<Claimed> batch;
  std::vector<Claimed> unsendable;
  DecodedSteps steps;
  for (const OutboxRow& row : rows) {
    if (batch.size() + unsendable.size() >= capacity) break;
    if (in_flight_.count(row.notification_id) != 0) continue;
    if (decided.count(row.notification_id) != 0) {
      pass_again_ = true;  // due again once its result is recorded, in this same pass
      continue;
    }
    Claimed c = examine(row, *roster, steps);
    if (!c.unsendable.empty()) {
      unsendable.push_back(std::move(c));
      continue;
    }
    writes.updates.push_back(lease_of(c, now));
    batch.push_back(std::move(c));
  }
  const std::vector<bool> applied = outbox_.record_outbox(writes.updates);
  const std::size_t first_claim = writes.results;  // applied[] follows writes.updates
  writes.updates.clear();
  writes.results = 0;
  bool claimed_any = false;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!applied[first_claim + i]) continue;  // delivered or failed meanwhile: nothing to send
    in_flight_.insert(batch[i].row.notification_id);
    claimed_any = true;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (applied[first_claim + i]) send_claimed(batch[i]);
  }
  for (const Claimed& c : unsendable) {
    claimed_any = true;
    on_result(c, SendResult::permanent(c.unsendable));
  }
  return claimed_any;
}

void Dispatcher::pull_back_stepped_clock(TimePoint now) {
  // A row is never scheduled further ahead than the longest retry wait or a lease. One that is
  // was scheduled on a wall clock that has since stepped back (an NTP correction, an operator's
  // fix): it is due now, not as late as the clock was fast.
  if (const std::size_t pulled = outbox_.pull_back_notifications(now, now + longest_wait());
      pulled > 0) {
    spdlog::warn(
        "notify: {} notifications were scheduled further ahead than any wait: the clock stepped "
        "back; they are due now",
        pulled);
  }
}

Dispatcher::Claimed Dispatcher::examine(const OutboxRow& row, const Config& roster,
                                        DecodedSteps& steps) const {
  Claimed c;
  c.row = row;
  if (const Person* p = roster.find_person(row.recipient)) c.person = *p;
  c.channel = to_string(row.channel);
  c.attempt = row.attempts + 1;
  if (!row.superseded_by.empty()) {
    c.unsendable = "superseded by " + row.superseded_by;
  } else if (!c.person) {
    c.unsendable = "recipient " + row.recipient + " is not in the roster";
  } else if (c.address = address_of(*c.person, c.channel); c.address.empty()) {
    c.unsendable = "recipient has no address for " + c.channel;
  } else if (channel_named(c.channel) == nullptr) {
    c.unsendable = "channel " + c.channel + " is not enabled";
  }
  if (!c.unsendable.empty()) {
    c.attempt = row.attempts;  // nothing was attempted
  } else {
    c.payload = decode_notification_body(row, steps);
  }
  return c;
}

OutboxUpdate Dispatcher::lease_of(const Claimed& c, TimePoint now) const {
  // Leased before the send: a crash after the send re-sends once when the lease runs out. The
  // attempt is state in the row, not a timeline entry.
  OutboxUpdate lease;
  lease.notification_id = c.row.notification_id;
  lease.channel = roster_channel(c.channel);
  lease.attempts = c.attempt;
  lease.next_attempt_at = now + 2 * settings_.send_timeout + settings_.poll_every;
  lease.last_error = c.row.last_error;
  lease.failing_since = c.row.failing_since;
  lease.recorded = c.row.recorded;
  return lease;
}

TimePoint Dispatcher::next_pass_at(bool claimed_any) {
  const TimePoint now = time_.now();
  TimePoint next = now + settings_.poll_every;
  try {
    if (const auto due = outbox_.next_notification_due(); due && *due < next) {
      // Due rows this pass could not take (all in flight, or none claimed) wait for a poll or
      // for a result, never spin.
      if (*due > now || claimed_any) next = std::max(*due, now);
    }
  } catch (const std::exception& e) {
    spdlog::error("notify: reading the outbox failed: {}", e.what());
  }
  if (in_flight_.size() >= static_cast<std::size_t>(settings_.max_in_flight)) {
    next = now + settings_.poll_every;
  }
  return next;
}

Action Dispatcher::record_of(const Claimed& c, std::string outcome, std::string detail) const {
  Action a;
  a.at = time_.now();
  a.incident_key = c.row.incident_key;
  a.kind = ActionKind::delivery;
  a.level = c.row.level;
  a.recipient = c.row.recipient;
  a.unit = c.row.unit;
  a.channel = c.channel;
  a.notification_id = c.row.notification_id;
  a.attempt = c.attempt;
  a.outcome = std::move(outcome);
  a.detail = std::move(detail);
  return a;
}

Duration Dispatcher::longest_wait() const {
  const auto retry = std::chrono::duration_cast<Duration>(
      settings_.retry_max * (1.0 + std::clamp(settings_.jitter, 0.0, 1.0)));
  const Duration lease = 2 * settings_.send_timeout + settings_.poll_every;
  return std::max(retry, lease) + settings_.poll_every;
}

void Dispatcher::send_claimed(const Claimed& c) {
  if (!c.payload) {
    on_result(c, SendResult::permanent(c.payload.error));
    return;
  }
  Channel* channel = channel_named(c.channel);
  OutgoingNotification n;
  n.notification_id = c.row.notification_id;
  n.incident_key = c.row.incident_key;
  n.recipient = c.row.recipient;
  n.unit = c.row.unit;
  n.address = c.address;
  n.payload = *c.payload.value;
  n.attempt = c.attempt;
  n.purpose = c.row.purpose;
  n.created_at = c.row.created_at;
  try {
    if (ack_links_ && c.row.purpose == NotificationPurpose::alert) {
      n.ack_url =
          ack_links_(c.row.incident_key, c.row.recipient, c.row.notification_id, c.row.created_at);
    }
  } catch (const std::exception& e) {
    on_result(c, SendResult::permanent(std::string("rendering the message failed: ") + e.what()));
    return;
  }
  ++counters_.in_flight;
  std::weak_ptr<bool> alive = alive_;
  channel->send(n, [this, alive, c](const SendResult& result) {
    const auto still = alive.lock();
    if (!still || !*still) return;
    --counters_.in_flight;
    on_result(c, result);
  });
}

void Dispatcher::count(const std::string& channel, DispatchOutcome outcome) {
  ++counters_.outcomes[{channel, std::string(to_string(outcome))}];
}

std::vector<OutboxRow> Dispatcher::operator_alerts(const Claimed& c, const std::string& recorded,
                                                   TimePoint now) const {
  std::vector<OutboxRow> rows;
  // Nobody is told that the operator was not told.
  if (c.row.purpose != NotificationPurpose::alert) return rows;
  const auto roster = config_.get();  // held while the desk's pointers are in use
  for (const Person* p : operator_desk(*roster)) {
    if (p->id == c.row.recipient) continue;
    // On a channel that has not just failed for the person nobody reached, when there is one.
    std::string channel;
    for (const std::string& candidate : p->channels) {
      if (address_of(*p, candidate).empty()) continue;
      if (channel.empty()) channel = candidate;
      if (!is_marked(recorded, failure_mark(candidate))) {
        channel = candidate;
        break;
      }
    }
    if (channel.empty()) continue;
    const Unit* unit = roster->unit_of_person(p->id);
    Action alert;
    alert.at = now;
    alert.incident_key = c.row.incident_key;
    alert.kind = ActionKind::notification;
    alert.cause = ActionKind::delivery;  // "nobody reached": MessageTemplates' "unreached"
    alert.milestone = parse_milestone(c.row.milestone);
    alert.level = c.row.level;
    alert.recipient = p->id;
    alert.unit = unit != nullptr ? unit->id : "";
    alert.channel = channel;
    alert.detail = c.row.recipient;  // who could not be reached (an id, never an address)
    // One per incident, person and operator: an outage that fails many alerts tells each
    // operator once about each person.
    alert.notification_id = "unreached/" + c.row.incident_key + "/" + c.row.recipient + "/" + p->id;
    alert.send = 1;
    OutboxRow row;
    row.notification_id = alert.notification_id;
    row.incident_key = alert.incident_key;
    row.recipient = alert.recipient;
    row.unit = alert.unit;
    row.channel = roster_channel(channel);
    row.level = alert.level;
    row.body = to_json(alert, std::chrono::minutes{0}).dump();
    row.created_at = now;
    row.next_attempt_at = now;
    row.milestone = c.row.milestone;
    row.purpose = NotificationPurpose::unreached;
    rows.push_back(std::move(row));
  }
  return rows;
}

void Dispatcher::on_result(const Claimed& c, const SendResult& result) {
  const TimePoint now = time_.now();
  in_flight_.erase(c.row.notification_id);
  const SendOutcome outcome = result.status;
  if (c.unsendable.empty()) health_.record(c.channel, c.address, outcome, now);
  const std::string detail = scrub_address(
      result.detail.empty() ? std::string(to_string(result.status)) : result.detail, c.address);

  OutboxUpdate u;
  u.notification_id = c.row.notification_id;
  u.channel = roster_channel(c.channel);
  u.attempts = c.attempt;
  u.recorded = c.row.recorded;
  u.failing_since = c.row.failing_since;
  u.next_attempt_at = now;
  DispatchOutcome counted = DispatchOutcome::superseded;
  if (!c.row.superseded_by.empty()) {
    u.state = DeliveryState::superseded;
    u.last_error = detail;
    u.gave_up = nlohmann::json{{"reason", "superseded"}, {"by", c.row.superseded_by}}.dump();
    u.timeline.push_back(record_of(c, "gave_up", detail));
  } else {
    counted = decide(c, outcome, detail, now, u);
  }
  // The source heartbeat's notices belong to no incident: their delivery is state in the outbox
  // row only (docs/notifications.md, "Source heartbeat").
  if (c.row.incident_key.empty()) u.timeline.clear();
  count(c.channel, counted);
  // Recorded by the next pass, with the other results and the next claims. Until then the row
  // keeps its lease: a crash before that re-sends it once, it is not lost.
  pending_results_.push_back(std::move(u));
  schedule(now);
}

DispatchOutcome Dispatcher::decide(const Claimed& c, SendOutcome outcome, const std::string& detail,
                                   TimePoint now, OutboxUpdate& u) {
  if (outcome != SendOutcome::delivered) {
    if (!u.failing_since) u.failing_since = now;
    if (outcome == SendOutcome::permanent) u.recorded = with_mark(u.recorded, dead_mark(c.channel));
    // The first failure on each channel is history; the ones after it are state.
    if (!is_marked(u.recorded, failure_mark(c.channel))) {
      u.recorded = with_mark(u.recorded, failure_mark(c.channel));
      u.timeline.push_back(record_of(c, "failed", detail));
    }
  }
  AttemptFacts facts;
  facts.outcome = outcome;
  facts.failures = std::max(1, c.attempt);
  facts.channel = c.channel;
  facts.dead_channels = dead_channels_of(c.person ? &*c.person : nullptr, u.recorded);
  facts.channel_down_since = health_.down_since(c.channel, c.address);
  facts.failing_since = u.failing_since;
  facts.now = now;
  const DeliveryDecision d = decide_after_attempt(retry_, c.person ? &*c.person : nullptr, facts,
                                                  random_unit_ ? random_unit_() : 0.5);
  u.channel = roster_channel(d.channel);
  u.next_attempt_at = d.next_attempt_at;
  switch (d.step) {
    case DeliveryDecision::Step::done:
      u.state = DeliveryState::delivered;
      u.delivered_at = now;
      u.timeline.push_back(record_of(c, "delivered", detail));
      return DispatchOutcome::delivered;
    case DeliveryDecision::Step::retry:
      u.last_error = detail;
      return DispatchOutcome::retry;
    case DeliveryDecision::Step::fallback:
      u.last_error = detail;
      if (!is_marked(u.recorded, fallback_mark(d.channel))) {
        u.recorded = with_mark(u.recorded, fallback_mark(d.channel));
        Action fb = record_of(c, "", d.reason + (c.unsendable.empty() ? "" : ": " + detail));
        fb.kind = ActionKind::channel_fallback;
        fb.attempt = 0;
        fb.previous_channel = c.channel;
        fb.channel = d.channel;
        u.timeline.push_back(std::move(fb));
      }
      return DispatchOutcome::fallback;
    case DeliveryDecision::Step::give_up:
      give_up(c, d, detail, now, u);
      return DispatchOutcome::gave_up;
  }
  return DispatchOutcome::gave_up;
}

void Dispatcher::give_up(const Claimed& c, const DeliveryDecision& d, const std::string& detail,
                         TimePoint now, OutboxUpdate& u) const {
  u.state = DeliveryState::failed;
  u.last_error = detail + "; " + d.reason;
  u.new_rows = operator_alerts(c, u.recorded, now);
  std::string told;
  nlohmann::json told_ids = nlohmann::json::array();
  for (const OutboxRow& row : u.new_rows) {
    told += (told.empty() ? "" : ", ") + row.recipient;
    told_ids.push_back(row.recipient);
  }
  if (!told.empty()) u.last_error += "; operator desk told: " + told;
  // The same as fields, for a report in its reader's language (docs/reports.md).
  nlohmann::json why = {{"reason", d.give_up_reason},
                        {"channel", c.channel},
                        {"error", detail},
                        {"told", std::move(told_ids)}};
  if (d.since) why["since"] = format_rfc3339(*d.since, std::chrono::minutes{0});
  if (d.after > Duration{0}) why["after"] = format_duration(d.after);
  u.gave_up = why.dump();
  u.timeline.push_back(record_of(c, "gave_up", u.last_error));
}

}  // namespace incidentd
