#include "report/report.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "incidentd/codec.hpp"
#include "incidentd/timeline_rows.hpp"
#include "report/format.hpp"
#include "report/report_gaps.hpp"
#include "report/report_people.hpp"

namespace incidentd::report {
namespace {

// An action that reaches the store more than this after the instant it is about is late; the
// same tolerance as the engine's catch-up rule (docs/clock-rules.md rule 19).
constexpr Duration kLateTolerance = std::chrono::minutes(1);

using detail::Entry;
using detail::is_ladder;
using detail::People;
using detail::StepDueTimes;

// "<incident>/<alert>/<recipient>/<send>" -> "<incident>/<alert>"
std::string alert_of(const std::string& notification_id) {
  auto last = notification_id.rfind('/');
  if (last == std::string::npos || last == 0) return notification_id;
  auto before = notification_id.rfind('/', last - 1);
  if (before == std::string::npos) return notification_id;
  return notification_id.substr(0, before);
}

// The dispatcher's fields (OutboxUpdate::gave_up) for the renderers; nullopt for rows written
// before them, or fields this build does not know (the English note is shown then).
std::optional<DeliveryReport::GiveUp> give_up_of(const std::string& fields, bool full,
                                                 People& people) {
  if (fields.empty()) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(fields, nullptr, false);
  if (!j.is_object() || !j.contains("reason") || !j["reason"].is_string()) return std::nullopt;
  DeliveryReport::GiveUp g;
  g.reason = j["reason"].get<std::string>();
  static constexpr std::string_view kKnown[] = {"not_delivered_since", "channel_failed",
                                                "every_channel_failed", "not_in_roster",
                                                "superseded"};
  if (std::find(std::begin(kKnown), std::end(kKnown), g.reason) == std::end(kKnown)) {
    return std::nullopt;
  }
  const auto text = [&j](const char* name) {
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  g.channel = text("channel");
  g.error = full ? text("error") : mask_phones_in(text("error"));
  g.since = parse_rfc3339(text("since"));
  g.after = parse_duration(text("after"));
  if (const auto told = j.find("told"); told != j.end() && told->is_array()) {
    for (const auto& id : *told) {
      if (id.is_string()) g.told.push_back(people.display(id.get<std::string>(), ""));
    }
  }
  return g;
}

std::string unit_display(const Config* config, const std::string& id) {
  const Unit* unit = config ? config->find_unit(id) : nullptr;
  if (unit == nullptr || unit->name.empty() || unit->name == id) return id;
  return id + " (" + unit->name + ")";
}

int round_of(const Action& a) {
  return a.milestone == Milestone::follow_up ? a.round : 0;
}

// The instant a ladder action fell due, from the steps resolved in the snapshot; nullopt when
// the snapshot no longer holds them (an earlier follow-up round).
std::optional<TimePoint> step_instant(const IncidentState& st, const Action& a) {
  if (!a.milestone || !a.due || !a.level) return std::nullopt;
  const MilestoneState& ms = st.milestone(*a.milestone);
  if (*a.milestone == Milestone::follow_up && ms.round != a.round) return std::nullopt;
  for (const auto& step : ms.steps) {
    if (step.due != *a.due || step.level != *a.level) continue;
    if (a.reminder > 0 && step.action == ActionKind::deadline_breached) {
      return step.at + st.overdue_every * a.reminder;
    }
    if (a.reminder == 0 && step.action == a.kind) return step.at;
  }
  return std::nullopt;
}

void fill_status(MilestoneReport& m, bool clock, const std::optional<TimePoint>& end) {
  if (m.met_at) {
    if (m.target) m.vs_target = *m.met_at - *m.target;
    if (m.deadline) m.vs_deadline = *m.met_at - *m.deadline;
    switch (m.late.value_or(Lateness::on_time)) {
      case Lateness::on_time:
        m.status = "met on time";
        break;
      case Lateness::target:
        m.status = "met after the target";
        break;
      case Lateness::deadline:
        m.status = "met after the deadline";
        break;
    }
    return;
  }
  if (!clock) {
    m.status = "no clock";
  } else if (m.deadline && end && *end > *m.deadline) {
    m.status = "not met: deadline passed";
  } else if (m.deadline && end) {
    m.status = "not due: incident closed first";
  } else {
    m.status = "not met yet";
  }
}

}  // namespace

std::optional<Format> parse_format(std::string_view name) {
  if (name == "text") return Format::text;
  if (name == "markdown") return Format::markdown;
  if (name == "json") return Format::json;
  if (name == "csv") return Format::csv;
  if (name == "html") return Format::html;
  return std::nullopt;
}

std::string mask_phone(std::string_view phone) {
  if (phone.size() <= 4) return std::string(phone.size(), '*');
  const std::size_t keep_front = phone.size() > 10 ? 6 : 0;
  const std::size_t keep_back = 4;
  std::string out(phone.substr(0, keep_front));
  out += "****";
  out += phone.substr(phone.size() - keep_back);
  return out;
}

std::string mask_phones_in(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = i;
    if (text[j] == '+') ++j;
    std::size_t digits = j;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
      ++digits;
    }
    if (digits - j >= 7) {
      out += mask_phone(text.substr(i, digits - i));
      i = digits;
    } else {
      out += text[i];
      ++i;
    }
  }
  return out;
}

namespace {

std::vector<Entry> read_timeline(TimelineQueries& store, const std::string& incident_key) {
  std::vector<Entry> entries;
  store.scan_timeline(incident_key, [&](const TimelineRow& row) {
    auto parsed =
        timeline_actions(nlohmann::json::parse(row.body, nullptr, false), columns_of(row));
    if (!parsed) {
      throw ReportError("timeline entry " + std::to_string(row.seq) +
                        " is unreadable: " + parsed.error);
    }
    // Numbered by their place in the incident's own chain, not in the file: every replica of a
    // cluster numbers them alike (docs/cluster.md). A step's notifications share their row's.
    for (Action& a : *parsed.value) entries.push_back({row.incident_seq, std::move(a)});
    return true;
  });
  return entries;
}

// The report's header: the incident from its snapshot, the chain heads, and how it is shown.
IncidentReport report_header(TimelineQueries& store, const std::string& incident_key,
                             const IncidentState& st, const std::vector<Entry>& entries,
                             const ReportOptions& options, const Config& settings,
                             const Config* config) {
  IncidentReport r;
  r.key = st.key;
  r.title = st.title;
  r.category = st.category;
  r.region = st.region;
  r.lead_unit = unit_display(config, st.lead_unit);
  for (const auto& u : st.units) r.units.push_back(unit_display(config, u));
  r.level = std::string(to_string(st.level));
  r.drill = st.drill;
  r.closed = st.closed;
  r.closed_at = st.closed_at;
  r.detected_at = st.opened_at;
  r.clock_start = st.clock_start;
  r.timeline_entries = entries.size();
  r.incident_head = store.chain_head(incident_key);
  r.heads_digest = store.chain_heads_digest();
  r.full = options.full;
  r.roster_known = config != nullptr;
  r.timezone = settings.timezone;
  r.utc_offset = settings.utc_offset;
  r.generated_at = options.generated_at;
  r.database = options.database;
  r.lang = options.lang;
  if (!entries.empty()) r.first_recorded_at = entries.front().action.at;
  return r;
}

// One pass over the timeline, in order, filling the level history, the milestones, the ladder
// and one delivery per alert and recipient; acknowledgements and the instants catch-up steps fell
// due are kept for the passes after it.
class TimelineWalk {
 public:
  TimelineWalk(const IncidentState& st, IncidentReport& r, People& people)
      : st_(st), r_(r), people_(people) {}

  // The milestones the snapshot armed, so one never reached still has its row.
  void seed_milestones() {
    if (!st_.clock_start) return;
    for (Milestone m : {Milestone::first_release, Milestone::press_conference}) {
      const MilestoneState& ms = st_.milestone(m);
      MilestoneReport& mr = milestone_entry(m, 0);
      if (ms.armed || ms.met_at) {
        mr.target = ms.target;
        mr.deadline = ms.deadline;
      }
    }
    const MilestoneState& fu = st_.milestone(Milestone::follow_up);
    if (fu.round > 0) milestone_entry(Milestone::follow_up, fu.round).deadline = fu.deadline;
  }

  void add(std::int64_t seq, const Action& a) {
    // Notifications belong to the ladder step just before them; anything else closes that step.
    if (a.kind != ActionKind::notification && a.kind != ActionKind::escalated &&
        a.kind != ActionKind::delivery && a.kind != ActionKind::channel_fallback) {
      open_step_.reset();
    }
    switch (a.kind) {
      case ActionKind::incident_opened:
      case ActionKind::level_changed:
        add_level(seq, a);
        break;
      case ActionKind::release_confirmed:
        add_release(seq, a);
        break;
      case ActionKind::milestone_met:
        add_met(a);
        break;
      case ActionKind::warning:
      case ActionKind::target_missed:
      case ActionKind::deadline_breached:
      case ActionKind::escalated:
        add_ladder(seq, a);
        break;
      case ActionKind::notification:
        add_notification(seq, a);
        break;
      case ActionKind::acknowledged:
        acks_.emplace_back(a.recipient, a.at);
        break;
      case ActionKind::incident_closed:
        if (a.source == kManualPlatform) r_.closed_by = a.by.empty() ? "?" : a.by;
        break;
      case ActionKind::delivery:  // the dispatcher's records: the outbox table says the same
      case ActionKind::channel_fallback:
      case ActionKind::daemon_outage:  // a gap, add_outage_gaps
        break;
    }
  }

  // Fills the follow-up deadlines the snapshot no longer holds and each milestone's status, and
  // moves the milestones into the report, in (milestone, round) order.
  void finish_milestones(Duration follow_up_every, const std::optional<TimePoint>& end) {
    for (auto& [key, mr] : milestones_) {
      if (key.first != Milestone::follow_up || mr.deadline) continue;
      mr.deadline = follow_up_deadline(key.second, mr, follow_up_every);
    }
    for (auto& [key, mr] : milestones_) {
      fill_status(mr, st_.clock_start.has_value(), end);
      r_.milestones.push_back(std::move(mr));
    }
  }

  const std::vector<std::pair<std::string, TimePoint>>& acks() const { return acks_; }
  const StepDueTimes& step_due_at() const { return step_due_at_; }

 private:
  MilestoneReport& milestone_entry(Milestone m, int round) {
    auto [it, inserted] = milestones_.try_emplace({m, round});
    if (inserted) {
      it->second.milestone = m;
      it->second.round = round;
    }
    return it->second;
  }

  void add_level(std::int64_t seq, const Action& a) {
    LevelChange lc;
    lc.seq = seq;
    lc.at = a.at;
    lc.detected_at = a.detected_at;
    lc.level = a.incident_level ? std::string(to_string(*a.incident_level)) : "";
    lc.previous =
        a.previous_incident_level ? std::string(to_string(*a.previous_incident_level)) : "";
    const bool had_clock = std::any_of(r_.levels.begin(), r_.levels.end(),
                                       [](const LevelChange& l) { return l.clock_started; });
    lc.clock_started = a.clock && !had_clock;
    if (a.source == kManualPlatform) lc.by = a.by.empty() ? "?" : a.by;
    r_.levels.push_back(lc);
    if (a.detected_at && a.at - *a.detected_at > kLateTolerance) {
      Gap g;
      g.seq = seq;
      g.at = a.at;
      g.kind = "late_event";
      g.since = a.detected_at;
      g.delay = a.at - *a.detected_at;
      g.what = a.kind == ActionKind::incident_opened
                   ? std::string(msg(r_.lang, "gap.first_event_late"))
                   : msgf(r_.lang, "gap.raising_event_late", lc.level);
      r_.gaps.push_back(std::move(g));
    }
  }

  void add_release(std::int64_t seq, const Action& a) {
    if (!a.milestone) return;
    if (*a.milestone == Milestone::follow_up && a.round == 0) return;  // counted for no round
    Release rel;
    rel.seq = seq;
    rel.recorded_at = a.at;
    rel.released_at = a.released_at.value_or(a.at);
    rel.unit = a.unit;
    rel.channel = a.channel;
    rel.url = a.url;
    rel.speaker = a.speaker;
    rel.via = a.via;
    rel.confirmation_id = a.confirmation_id;
    MilestoneReport& mr = milestone_entry(*a.milestone, round_of(a));
    if (a.speaker == "principal") mr.principal_spoke = true;
    mr.releases.push_back(std::move(rel));
  }

  void add_met(const Action& a) {
    if (!a.milestone) return;
    MilestoneReport& mr = milestone_entry(*a.milestone, round_of(a));
    mr.met_at = a.released_at;
    mr.met_recorded_at = a.at;
    mr.late = a.late;
  }

  void add_ladder(std::int64_t seq, const Action& a) {
    if (!a.milestone) return;
    LadderEntry le;
    le.seq = seq;
    le.at = a.at;
    le.kind = a.kind;
    le.milestone = *a.milestone;
    le.round = round_of(a);
    le.level = a.level.value_or(0);
    le.previous_level = a.previous_level;
    le.due = a.due;
    le.reminder = a.reminder;
    le.catch_up = a.catch_up;
    r_.ladder.push_back(le);
    if (!is_ladder(a.kind)) return;
    open_step_ = r_.ladder.size() - 1;
    if (a.due && *a.milestone == Milestone::follow_up) {
      MilestoneReport& mr = milestone_entry(Milestone::follow_up, a.round);
      mr.deadline = a.due;  // the latest due of the round: a round can move
    }
    if (a.catch_up) step_due_at_[seq] = step_instant(st_, a);
  }

  void add_notification(std::int64_t seq, const Action& a) {
    // Only the first send to the person themself counts as one notified by the step.
    if (open_step_ && a.send == 1 && a.deputy_of.empty() && a.cause &&
        *a.cause == r_.ladder[*open_step_].kind &&
        a.milestone == r_.ladder[*open_step_].milestone) {
      ++r_.ladder[*open_step_].notified;
    }
    const std::string alert = alert_of(a.notification_id);
    auto [it, inserted] = delivery_index_.try_emplace({alert, a.recipient}, r_.deliveries.size());
    if (inserted) r_.deliveries.push_back(first_delivery(seq, alert, a));
    DeliveryReport& d = r_.deliveries[it->second];
    d.last_sent = a.at;
    d.sends = std::max(d.sends, a.send);
  }

  DeliveryReport first_delivery(std::int64_t seq, const std::string& alert, const Action& a) {
    DeliveryReport d;
    d.first_seq = seq;
    d.alert_id = alert;
    d.milestone = a.milestone.value_or(Milestone::first_release);
    d.round = a.round;
    d.cause = a.cause.value_or(ActionKind::warning);
    d.level = a.level.value_or(0);
    d.reminder = a.reminder;
    d.recipient = people_.display(a.recipient, a.unit);
    d.recipient_id = a.recipient;
    d.unit = a.unit;
    d.channel = a.channel;
    d.contact = people_.contact(a.recipient, a.channel);
    if (!a.deputy_of.empty()) d.deputy_of = people_.display(a.deputy_of, "");
    d.first_sent = a.at;
    return d;
  }

  // A follow-up round whose due time no longer is in the snapshot: follow_up_every after the
  // previous round was met, or for round 1 after the later of the first milestones met before it.
  std::optional<TimePoint> follow_up_deadline(int round, const MilestoneReport& mr,
                                              Duration follow_up_every) const {
    if (round > 1) {
      auto prev = milestones_.find({Milestone::follow_up, round - 1});
      if (prev != milestones_.end() && prev->second.met_at) {
        return *prev->second.met_at + follow_up_every;
      }
      return std::nullopt;
    }
    std::optional<TimePoint> base;
    for (Milestone m : {Milestone::first_release, Milestone::press_conference}) {
      auto it = milestones_.find({m, 0});
      if (it == milestones_.end() || !it->second.met_at) continue;
      if (mr.met_recorded_at && it->second.met_recorded_at &&
          *it->second.met_recorded_at > *mr.met_recorded_at) {
        continue;
      }
      base = base ? std::max(*base, *it->second.met_at) : *it->second.met_at;
    }
    if (base) return *base + follow_up_every;
    return std::nullopt;
  }

  const IncidentState& st_;
  IncidentReport& r_;
  People& people_;
  std::map<std::pair<Milestone, int>, MilestoneReport> milestones_;
  std::optional<std::size_t> open_step_;  // the ladder entry whose alert is being sent
  std::map<std::pair<std::string, std::string>, std::size_t> delivery_index_;
  std::vector<std::pair<std::string, TimePoint>> acks_;
  StepDueTimes step_due_at_;
};

// A person's delivery of one alert ends when a newer alert of the same milestone reaches them
// or the milestone is met; nullopt while neither has happened.
std::optional<TimePoint> delivery_end(const IncidentReport& r, const DeliveryReport& d,
                                      const std::vector<std::size_t>& same_person) {
  std::optional<TimePoint> ends;
  for (std::size_t other : same_person) {
    const auto& o = r.deliveries[other];
    if (o.milestone == d.milestone && o.first_sent > d.first_sent) {
      ends = ends ? std::min(*ends, o.first_sent) : o.first_sent;
    }
  }
  for (const auto& mr : r.milestones) {
    if (mr.milestone == d.milestone && mr.round == d.round && mr.met_recorded_at &&
        *mr.met_recorded_at >= d.first_sent) {
      ends = ends ? std::min(*ends, *mr.met_recorded_at) : *mr.met_recorded_at;
    }
  }
  return ends;
}

// An acknowledgement counts for the deliveries open at that moment; the first one does.
void match_acknowledgement(DeliveryReport& d, const std::optional<TimePoint>& ends,
                           const std::vector<std::pair<std::string, TimePoint>>& acks) {
  for (const auto& [person, at] : acks) {
    if (person != d.recipient_id || at < d.first_sent) continue;
    if (ends && at > *ends) continue;
    d.acknowledged_at = at;
    d.time_to_ack = at - d.first_sent;
    return;
  }
}

// Every send is one outbox row; the delivery is as good as its best send.
void apply_outbox(DeliveryReport& d, const std::map<std::string, OutboxRow>& outbox, bool full,
                  People& people) {
  bool delivered = false;
  bool failed = false;
  bool recorded = false;
  for (int send = 1; send <= d.sends; ++send) {
    auto it = outbox.find(d.alert_id + "/" + d.recipient_id + "/" + std::to_string(send));
    if (it == outbox.end()) continue;
    recorded = true;
    const OutboxRow& row = it->second;
    if (row.state == DeliveryState::delivered) {
      delivered = true;
      if (row.delivered_at && (!d.delivered_at || *row.delivered_at < *d.delivered_at)) {
        d.delivered_at = row.delivered_at;
      }
    } else if (row.state == DeliveryState::failed || row.state == DeliveryState::superseded) {
      // Given up (the note says why, and whether the operator desk was told), or replaced by
      // a later alert to the same person before it got through: that says less, so a give-up's
      // note is kept over it.
      const bool replaced = row.state == DeliveryState::superseded;
      if (!replaced || !failed || d.delivery_note.empty()) {
        d.delivery_note = full ? row.last_error : mask_phones_in(row.last_error);
        d.gave_up = give_up_of(row.gave_up, full, people);
      }
      failed = true;
    }
  }
  if (delivered) {
    d.delivery = "delivered";
    d.delivery_note.clear();
  } else if (failed) {
    d.delivery = "failed";
  } else {
    d.delivery = "pending";
    d.delivery_note = recorded ? "no delivery recorded yet" : "not in the outbox";
  }
}

// Each delivery's outbox state and acknowledgement.
void settle_deliveries(IncidentReport& r, std::vector<OutboxRow> rows,
                       const std::vector<std::pair<std::string, TimePoint>>& acks, bool full,
                       People& people) {
  std::map<std::string, OutboxRow> outbox;
  for (auto& row : rows) outbox.emplace(row.notification_id, std::move(row));
  std::map<std::string, std::vector<std::size_t>> by_person;
  for (std::size_t i = 0; i < r.deliveries.size(); ++i) {
    by_person[r.deliveries[i].recipient_id].push_back(i);
  }
  for (auto& d : r.deliveries) {
    match_acknowledgement(d, delivery_end(r, d, by_person[d.recipient_id]), acks);
    apply_outbox(d, outbox, full, people);
  }
}

}  // namespace

IncidentReport build_incident_report(TimelineQueries& store, const std::string& incident_key,
                                     const ReportOptions& options) {
  const auto snapshot = store.load_incident(incident_key);
  if (!snapshot) {
    throw ReportError("no incident \"" + incident_key + "\" in " +
                      (options.database.empty() ? "the database" : options.database));
  }
  const IncidentState& st = *snapshot;
  const Config defaults;
  const Config& settings = options.config ? *options.config : defaults;
  const Config* config = options.config && options.roster ? options.config : nullptr;

  const std::vector<Entry> entries = read_timeline(store, incident_key);
  IncidentReport r = report_header(store, incident_key, st, entries, options, settings, config);
  People people(config, options.full, options.lang);
  const std::optional<TimePoint> end =
      st.closed ? st.closed_at : std::optional<TimePoint>(options.generated_at);

  TimelineWalk walk(st, r, people);
  walk.seed_milestones();
  for (const auto& [seq, a] : entries) walk.add(seq, a);
  walk.finish_milestones(settings.policy.follow_up_every, end);
  settle_deliveries(r, store.outbox(incident_key), walk.acks(), options.full, people);
  detail::add_outage_gaps(r, entries, walk.step_due_at());
  std::stable_sort(r.gaps.begin(), r.gaps.end(),
                   [](const Gap& x, const Gap& y) { return x.seq < y.seq; });
  return r;
}

}  // namespace incidentd::report
