#include "support/engine_harness.hpp"

#include <chrono>
#include <cstdio>
#include <utility>

namespace incidentd::testing {

using namespace std::chrono_literals;

TimePoint at(Duration offset) {
  return kStart + offset;
}

// ---------------------------------------------------------------------------------------------
// The policy of the contract's table and the roster, built by hand.

Policy contract_policy(ConfirmRule rule) {
  using incidentd::LadderStep;
  Policy p;
  p.clock_levels = {Level::I, Level::II};
  p.confirm = rule;
  p.first_release_target = 3h;
  p.first_release_deadline = 5h;
  p.press_conference_deadline = 24h;
  p.follow_up_every = 24h;
  p.overdue_every = 1h;
  p.resend_after = 15min;
  p.deputy_after_sends = 2;
  p.ladder = {
      LadderStep{Milestone::first_release, 2h, ActionKind::warning, 0},
      LadderStep{Milestone::first_release, 2h + 30min, ActionKind::warning, 0},
      LadderStep{Milestone::first_release, 3h, ActionKind::target_missed, 1},
      LadderStep{Milestone::first_release, 4h + 30min, ActionKind::warning, 1},
      LadderStep{Milestone::first_release, 5h, ActionKind::deadline_breached, 2},
      LadderStep{Milestone::press_conference, 20h, ActionKind::warning, 0},
      LadderStep{Milestone::press_conference, 23h, ActionKind::warning, 1},
      LadderStep{Milestone::press_conference, 24h, ActionKind::deadline_breached, 2},
      LadderStep{Milestone::follow_up, -2h, ActionKind::warning, 0},
      LadderStep{Milestone::follow_up, 0h, ActionKind::deadline_breached, 1},
  };
  p.escalation = {
      {0, {"duty"}, {}},
      {1, {"duty", "leader"}, {}},
      {2, {"duty", "leader", "principal"}, {"office"}},
  };
  return p;
}

Person who(std::string id, std::string role, std::vector<std::string> channels,
           std::string deputy) {
  Person p;
  p.id = std::move(id);
  p.name = p.id;
  p.role = std::move(role);
  p.phone = "+8613800000000";
  p.webhook = "http://127.0.0.1:1/hook";
  p.channels = std::move(channels);
  p.deputy = std::move(deputy);
  return p;
}

// Unit "a" lists its people out of role order on purpose: notifications follow the roster.
// a-duty2 prefers webhook. b-duty1's deputy is b-duty2, who is a duty officer too.
Config roster_config(ConfirmRule rule) {
  Config c;
  c.policy = contract_policy(rule);
  c.units = {
      Unit{"a",
           "Unit A",
           {who("a-duty1", "duty", {"sms"}, "a-deputy"),
            who("a-leader", "leader", {"sms"}, "a-deputy"),
            who("a-duty2", "duty", {"webhook", "sms"}), who("a-principal", "principal"),
            who("a-deputy", "deputy")}},
      Unit{"b",
           "Unit B",
           {who("b-duty1", "duty", {"sms"}, "b-duty2"), who("b-duty2", "duty", {"sms"}, "b-deputy"),
            who("b-leader", "leader"), who("b-principal", "principal"), who("b-deputy", "deputy")}},
      Unit{"c",
           "Unit C",
           {who("c-duty", "duty", {"sms"}, "c-deputy1"), who("c-leader", "leader"),
            who("c-principal", "principal"), who("c-deputy1", "deputy", {"sms"}, "c-deputy2"),
            who("c-deputy2", "deputy")}},
      Unit{"office",
           "Supervision office",
           {who("office-duty1", "duty"), who("office-duty2", "duty"),
            who("office-leader", "leader"), who("office-principal", "principal")}},
  };
  return c;
}

// ---------------------------------------------------------------------------------------------
// Inputs.

Event event(std::string id, std::string key, Level level, std::vector<std::string> units,
            TimePoint detected, EventKind kind) {
  Event e;
  e.event_id = std::move(id);
  e.incident_key = std::move(key);
  e.kind = kind;
  e.level = level;
  e.title = "test incident";
  e.lead_unit = units.front();
  e.units = std::move(units);
  e.detected_at = detected;
  return e;
}

Confirmation confirmation(std::string id, std::string key, Milestone m, std::string unit,
                          TimePoint released) {
  Confirmation c;
  c.confirmation_id = std::move(id);
  c.incident_key = std::move(key);
  c.milestone = m;
  c.unit = std::move(unit);
  c.released_at = released;
  c.channel = "weibo";
  c.url = "https://example.org/release";
  c.via = "test";
  return c;
}

Acknowledgement ack(std::string key, std::string person, TimePoint when) {
  return Acknowledgement{std::move(key), std::move(person), when, "sms"};
}

// ---------------------------------------------------------------------------------------------
// Actions as short lines, so an expected timeline reads like the rule book.

std::string rel(TimePoint t) {
  auto d = t - kStart;
  std::string sign;
  if (d < Duration{0}) {
    sign = "-";
    d = -d;
  }
  const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(d);
  const auto rest = d - minutes;
  char text[48];
  std::snprintf(text, sizeof text, "%s%lldh%02lld", sign.c_str(),
                static_cast<long long>(minutes.count() / 60),
                static_cast<long long>(minutes.count() % 60));
  std::string out = text;
  if (rest.count() != 0) out += "+" + std::to_string(rest.count()) + "ms";
  return out;
}

std::string rel(const std::optional<TimePoint>& t) {
  return t ? rel(*t) : std::string("?");
}

std::string num(const std::optional<int>& v) {
  return v ? std::to_string(*v) : std::string("?");
}

std::string late_text(const std::optional<Lateness>& late) {
  if (!late) return "?";
  switch (*late) {
    case Lateness::on_time:
      return "false";
    case Lateness::target:
      return "target";
    case Lateness::deadline:
      return "deadline";
  }
  return "?";
}

bool is_rung(const Action& a) {
  return a.kind == ActionKind::warning || a.kind == ActionKind::target_missed ||
         a.kind == ActionKind::deadline_breached;
}

std::string line(const Action& a) {
  std::string out = rel(a.at) + " " + std::string(to_string(a.kind));
  if (a.milestone) out += " " + std::string(to_string(*a.milestone));
  switch (a.kind) {
    case ActionKind::incident_opened:
    case ActionKind::level_changed:
      out += " " + (a.incident_level ? std::string(to_string(*a.incident_level)) : "?");
      if (a.previous_incident_level) {
        out += " from " + std::string(to_string(*a.previous_incident_level));
      }
      out += a.clock ? " clock" : " no-clock";
      break;
    case ActionKind::warning:
    case ActionKind::target_missed:
    case ActionKind::deadline_breached:
      out += " L" + num(a.level) + " due " + rel(a.due);
      if (a.reminder != 0) out += " reminder " + std::to_string(a.reminder);
      break;
    case ActionKind::escalated:
      out += " L" + num(a.level) + " from " + num(a.previous_level);
      break;
    case ActionKind::notification:
      out += " " + a.recipient + " L" + num(a.level) + " send " + std::to_string(a.send);
      if (!a.deputy_of.empty()) out += " deputy_of " + a.deputy_of;
      break;
    case ActionKind::milestone_met:
      out += " late=" + late_text(a.late) + " released " + rel(a.released_at);
      break;
    case ActionKind::release_confirmed:
      out += " " + a.unit;
      break;
    case ActionKind::acknowledged:
      out += " " + a.recipient;
      break;
    case ActionKind::incident_closed:
    case ActionKind::delivery:  // the dispatcher's, never the engine's
    case ActionKind::channel_fallback:
    case ActionKind::daemon_outage:
      break;
  }
  if (a.round != 0) out += " round " + std::to_string(a.round);
  if (a.catch_up) out += " catch_up";
  return out;
}

std::vector<std::string> lines(const std::vector<Action>& timeline,
                               const std::function<bool(const Action&)>& keep) {
  std::vector<std::string> out;
  for (const auto& a : timeline) {
    if (keep(a)) out.push_back(line(a));
  }
  return out;
}

// The ladder rungs (warning, target_missed, deadline_breached) of one milestone.
std::vector<std::string> rungs(const Harness& h, Milestone m) {
  return lines(h.timeline(), [m](const Action& a) { return is_rung(a) && a.milestone == m; });
}

// Everything but notifications.
std::vector<std::string> story(const Harness& h) {
  return lines(h.timeline(), [](const Action& a) { return a.kind != ActionKind::notification; });
}

// The people a new alert reached at `when`, in order: first sends that are not to a deputy.
// Re-sends of older alerts at the same instant are left out on purpose.
std::vector<std::string> alerted_at(const Harness& h, Duration when) {
  std::vector<std::string> out;
  for (const auto& a : h.timeline()) {
    if (a.kind == ActionKind::notification && a.at == at(when) && a.send == 1 &&
        a.deputy_of.empty()) {
      out.push_back(a.recipient);
    }
  }
  return out;
}

const Action* find_notification(const Harness& h, Duration when, const std::string& recipient,
                                int send) {
  for (const auto& a : h.timeline()) {
    if (a.kind == ActionKind::notification && a.at == at(when) && a.recipient == recipient &&
        a.send == send) {
      return &a;
    }
  }
  return nullptr;
}

}  // namespace incidentd::testing
