// [policy] of incidentd.toml: which clocks run, their durations, the escalation levels and the
// ladder of warnings, checked against each other and against the roster.
#include "core/config_parser.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace incidentd::config_detail {

void ConfigParser::parse_policy(const toml::table& root, Config& config) {
  Policy& policy = config.policy;
  policy = Policy::defaults();
  const toml::table* p = get_table(root, "policy", "");
  if (p == nullptr) {
    check_default_escalation(config);
    return;
  }
  check_keys(*p,
             {"clock_levels", "confirm", "overdue_every", "first_release", "press_conference",
              "follow_up", "delivery", "ladder", "escalation"},
             "policy");

  parse_clock_rules(*p, policy);

  const DurationNodes nodes = parse_milestone_durations(*p, policy);
  parse_delivery_policy(*p, policy);

  const toml::node* escalation_node = p->get("escalation");
  std::vector<EscalationSource> escalation_sources;
  if (const toml::array* rows = get_table_array(*p, "escalation", "policy")) {
    policy.escalation = parse_escalation(*rows, escalation_sources);
    check_supervision(config, escalation_sources);
  } else if (escalation_node == nullptr) {
    check_default_escalation(config);
  }

  const toml::node* ladder_node = p->get("ladder");
  if (const toml::array* rows = get_table_array(*p, "ladder", "policy")) {
    policy.ladder = parse_ladder(*rows, policy, escalation_node != nullptr);
  } else if (ladder_node == nullptr &&
             policy.first_release_target < policy.first_release_deadline) {
    check_default_ladder(policy, nodes, escalation_node);
  }
  std::stable_sort(policy.ladder.begin(), policy.ladder.end(),
                   [](const LadderStep& a, const LadderStep& b) {
                     return std::tie(a.milestone, a.offset) < std::tie(b.milestone, b.offset);
                   });
}

// Which levels run a clock, who confirms, and how often an overdue clock reminds.
void ConfigParser::parse_clock_rules(const toml::table& p, Policy& policy) {
  if (const toml::node* node = p.get("clock_levels")) {
    const auto levels =
        get_string_array(p, "clock_levels", "policy", "levels \"I\", \"II\", \"III\", \"IV\"");
    std::set<Level> parsed;
    for (const auto& [text, element] : levels) {
      if (auto level = parse_level(text)) {
        parsed.insert(*level);
      } else {
        error(*element, "policy.clock_levels: unknown level " + quote(text) +
                            " (expected \"I\", \"II\", \"III\" or \"IV\")");
      }
    }
    if (node->is_array() && node->as_array()->empty()) {
      error(*node, "policy.clock_levels: must name at least one level, or no clock ever runs");
    }
    policy.clock_levels = std::move(parsed);
  }
  if (auto confirm = get_string(p, "confirm", "policy", false, "\"all\" or \"lead\"")) {
    if (*confirm == "all") {
      policy.confirm = ConfirmRule::all;
    } else if (*confirm == "lead") {
      policy.confirm = ConfirmRule::lead;
    } else {
      error(*p.get("confirm"), "policy.confirm: unknown rule " + quote(*confirm) +
                                   " (expected \"all\": every responsible unit confirms, or "
                                   "\"lead\": the lead unit alone)");
    }
  }
  read_duration(p, "overdue_every", "policy", policy.overdue_every, std::chrono::minutes(5));
}

// The durations of the milestones, and the nodes that set them, for check_default_ladder.
ConfigParser::DurationNodes ConfigParser::parse_milestone_durations(const toml::table& p,
                                                                    Policy& policy) {
  DurationNodes nodes;
  if (const toml::table* t = get_table(p, "first_release", "policy")) {
    check_keys(*t, {"target", "deadline"}, "policy.first_release");
    nodes.first_release_target =
        read_duration(*t, "target", "policy.first_release", policy.first_release_target);
    nodes.first_release_deadline =
        read_duration(*t, "deadline", "policy.first_release", policy.first_release_deadline);
    if (policy.first_release_target >= policy.first_release_deadline) {
      const toml::node* at = nodes.first_release_target != nullptr ? nodes.first_release_target
                                                                   : nodes.first_release_deadline;
      error(at != nullptr ? at->source() : t->source(),
            "policy.first_release: the target (" + format_duration(policy.first_release_target) +
                ") must come before the deadline (" +
                format_duration(policy.first_release_deadline) + ")");
    }
  }
  if (const toml::table* t = get_table(p, "press_conference", "policy")) {
    check_keys(*t, {"deadline"}, "policy.press_conference");
    nodes.press_conference_deadline =
        read_duration(*t, "deadline", "policy.press_conference", policy.press_conference_deadline);
  }
  if (const toml::table* t = get_table(p, "follow_up", "policy")) {
    check_keys(*t, {"every"}, "policy.follow_up");
    nodes.follow_up_every = read_duration(*t, "every", "policy.follow_up", policy.follow_up_every,
                                          std::chrono::hours(1));
  }
  return nodes;
}

void ConfigParser::parse_delivery_policy(const toml::table& p, Policy& policy) {
  if (const toml::table* t = get_table(p, "delivery", "policy")) {
    check_keys(*t, {"resend_after", "deputy_after_sends"}, "policy.delivery");
    read_duration(*t, "resend_after", "policy.delivery", policy.resend_after,
                  std::chrono::minutes(1));
    if (auto n = get_integer(*t, "deputy_after_sends", "policy.delivery", false,
                             "how many unanswered sends bring in the deputy")) {
      if (*n < 1 || *n > 1000) {
        error(*t->get("deputy_after_sends"),
              "policy.delivery.deputy_after_sends: must be between 1 and 1000, got " +
                  std::to_string(*n));
      } else {
        policy.deputy_after_sends = static_cast<int>(*n);
      }
    }
  }
}

std::vector<EscalationLevel> ConfigParser::parse_escalation(
    const toml::array& rows, std::vector<EscalationSource>& sources) {
  std::vector<EscalationLevel> out;
  std::map<int, const toml::node*> seen;
  std::size_t index = 0;
  for (const toml::node& element : rows) {
    ++index;
    const toml::table& t = *element.as_table();
    const std::string path = "policy.escalation[" + std::to_string(index) + "]";
    check_keys(t, {"level", "roles", "supervision_units"}, path);
    EscalationLevel level;
    EscalationSource source;
    bool ok = true;
    if (auto n = get_integer(t, "level", path, true, "the ladder level, 0 and up")) {
      const toml::node& node = *t.get("level");
      if (*n < 0 || *n > 100) {
        error(node, path + ".level: must be between 0 and 100, got " + std::to_string(*n));
        ok = false;
      } else if (auto [it, inserted] = seen.emplace(static_cast<int>(*n), &node); !inserted) {
        error(node, path + ".level: level " + std::to_string(*n) + " is already defined at " +
                        position(*it->second));
        ok = false;
      }
      level.level = static_cast<int>(*n);
    } else {
      ok = false;
    }
    parse_escalation_recipients(t, path, level, source);
    if (ok) {
      out.push_back(std::move(level));
      sources.push_back(std::move(source));
    }
  }
  // Keep sources parallel to the sorted levels.
  std::vector<std::size_t> order(out.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return out[a].level < out[b].level; });
  std::vector<EscalationLevel> sorted;
  std::vector<EscalationSource> sorted_sources;
  for (std::size_t i : order) {
    sorted.push_back(std::move(out[i]));
    sorted_sources.push_back(std::move(sources[i]));
  }
  sources = std::move(sorted_sources);
  return sorted;
}

// Who a level reaches: roles in every unit that still owes the milestone, supervision units, or
// both.
void ConfigParser::parse_escalation_recipients(const toml::table& t, const std::string& path,
                                               EscalationLevel& level, EscalationSource& source) {
  const auto roles = get_string_array(t, "roles", path, "roles " + quoted_list(kRoles));
  for (const auto& [role, node] : roles) {
    if (!contains(kRoles, role)) {
      error(*node, path + ".roles: unknown role " + quote(role) + " (expected " +
                       quoted_list(kRoles) + ")");
      continue;
    }
    level.roles.push_back(role);
  }
  const auto units = get_string_array(t, "supervision_units", path, "unit ids from [[units]]");
  for (const auto& [unit, node] : units) {
    level.supervision_units.push_back(unit);
    source.supervision_nodes.push_back(node);
  }
  const auto absent_or_array = [&](std::string_view key) {
    const toml::node* node = t.get(key);
    return node == nullptr || node->is_array();
  };
  if (roles.empty() && units.empty() && absent_or_array("roles") &&
      absent_or_array("supervision_units")) {
    error(t, path + ": reaches nobody; give roles, supervision_units or both");
  }
}

// Supervision units are checked against the roster after both are parsed.
void ConfigParser::check_supervision(const Config& config,
                                     const std::vector<EscalationSource>& sources) {
  pending_supervision_.clear();
  for (std::size_t i = 0; i < sources.size(); ++i) {
    const EscalationLevel& level = config.policy.escalation[i];
    for (std::size_t j = 0; j < level.supervision_units.size(); ++j) {
      pending_supervision_.push_back(
          {level.supervision_units[j], level.level, sources[i].supervision_nodes[j]});
    }
  }
}

void ConfigParser::check_default_escalation(const Config& config) {
  pending_supervision_.clear();
  for (const EscalationLevel& level : config.policy.escalation) {
    for (const std::string& unit : level.supervision_units) {
      pending_supervision_.push_back({unit, level.level, nullptr});
    }
  }
}

void ConfigParser::check_supervision_units(const Config& config) {
  if (config.units.empty()) return;  // already reported as an empty roster
  for (const PendingSupervision& s : pending_supervision_) {
    if (config.find_unit(s.unit) != nullptr) continue;
    if (s.node != nullptr) {
      error(*s.node, "policy.escalation: supervision unit " + quote(s.unit) + " of level " +
                         std::to_string(s.level) + " is not in the roster ([[units]])");
    } else {
      error_in_file("the default escalation sends level " + std::to_string(s.level) +
                    " alerts to the supervision unit " + quote(s.unit) +
                    ", which is not in the roster; add that unit to [[units]] or spell out "
                    "[[policy.escalation]]");
    }
  }
}

// What is wrong with one ladder step under this policy's durations, if anything.
std::optional<std::pair<ConfigParser::StepField, std::string>> ConfigParser::step_problem(
    const LadderStep& step, const Policy& policy) {
  const std::string name(to_string(step.milestone));
  const std::string at = format_duration(step.offset);
  if (step.milestone == Milestone::follow_up) {
    if (step.offset.count() > 0) {
      return std::pair{StepField::at,
                       "follow_up steps count from the follow-up's due time, so they are 0 or "
                       "negative (like \"-2h\"), got " +
                           at};
    }
    if (-step.offset >= policy.follow_up_every) {
      return std::pair{StepField::at, at + " is not within one follow-up interval (every = " +
                                          format_duration(policy.follow_up_every) +
                                          ") before the due time"};
    }
  } else {
    const Duration deadline = step.milestone == Milestone::first_release
                                  ? policy.first_release_deadline
                                  : policy.press_conference_deadline;
    if (step.offset.count() < 0) {
      return std::pair{StepField::at, name +
                                          " steps count from the clock's start and must not be "
                                          "negative, got " +
                                          at};
    }
    if (step.offset > deadline) {
      return std::pair{StepField::at, at + " is after the " + name + " deadline (" +
                                          format_duration(deadline) +
                                          "); after a breach, overdue_every reminds instead"};
    }
  }
  const Duration deadline =
      step.milestone == Milestone::first_release      ? policy.first_release_deadline
      : step.milestone == Milestone::press_conference ? policy.press_conference_deadline
                                                      : Duration{0};
  switch (step.action) {
    case ActionKind::target_missed:
      if (step.milestone != Milestone::first_release) {
        return std::pair{StepField::action, name + " has no target, so no target_missed step"};
      }
      if (step.offset != policy.first_release_target) {
        return std::pair{StepField::action, "target_missed must be at the first_release target (" +
                                                format_duration(policy.first_release_target) +
                                                "), not at " + at};
      }
      break;
    case ActionKind::deadline_breached:
      if (step.offset != deadline) {
        return std::pair{StepField::action, "deadline_breached must be at the " + name +
                                                " deadline (" + format_duration(deadline) +
                                                "), not at " + at};
      }
      break;
    default:
      if (step.offset >= deadline) {
        return std::pair{StepField::action, "a warning must come before the " + name +
                                                " deadline (" + format_duration(deadline) +
                                                "), not at " + at};
      }
      break;
  }
  return std::nullopt;
}

std::vector<LadderStep> ConfigParser::parse_ladder(const toml::array& rows, const Policy& policy,
                                                   bool explicit_escalation) {
  std::vector<LadderStep> out;
  std::map<std::pair<Milestone, Duration::rep>, const toml::node*> seen;
  std::size_t index = 0;
  for (const toml::node& element : rows) {
    ++index;
    const toml::table& t = *element.as_table();
    const std::string path = "policy.ladder[" + std::to_string(index) + "]";
    check_keys(t, {"milestone", "at", "action", "level"}, path);
    LadderStep step;
    if (!parse_ladder_step(t, path, policy, explicit_escalation, step)) continue;
    if (auto problem = step_problem(step, policy)) {
      const toml::node& node = *t.get(problem->first == StepField::at ? "at" : "action");
      const std::string field = problem->first == StepField::at ? ".at: " : ".action: ";
      error(node, path + field + problem->second);
      continue;
    }
    const toml::node& at_node = *t.get("at");
    if (auto [it, inserted] =
            seen.emplace(std::pair{step.milestone, step.offset.count()}, &at_node);
        !inserted) {
      error(at_node, path + ".at: " + std::string(to_string(step.milestone)) +
                         " already has a step at " + format_duration(step.offset) + " (" +
                         position(*it->second) + ")");
      continue;
    }
    out.push_back(step);
  }
  return out;
}

// The fields of one [[policy.ladder]] row into `step`; false when one is missing or wrong.
bool ConfigParser::parse_ladder_step(const toml::table& t, const std::string& path,
                                     const Policy& policy, bool explicit_escalation,
                                     LadderStep& step) {
  bool ok = true;
  if (auto m = get_string(t, "milestone", path, true,
                          "\"first_release\", \"press_conference\" or \"follow_up\"")) {
    if (auto milestone = parse_milestone(*m)) {
      step.milestone = *milestone;
    } else {
      error(*t.get("milestone"),
            path + ".milestone: unknown milestone " + quote(*m) +
                " (expected \"first_release\", \"press_conference\" or \"follow_up\")");
      ok = false;
    }
  } else {
    ok = false;
  }
  if (const toml::node* node = t.get("at")) {
    if (auto d = to_duration(*node, path + ".at", Sign::any)) {
      step.offset = *d;
    } else {
      ok = false;
    }
  } else {
    missing(t, path, "at",
            "a duration from the clock's start, or from the follow-up's due "
            "time, like \"2h30m\" or \"-2h\"");
    ok = false;
  }
  if (auto a = get_string(t, "action", path, true,
                          "\"warning\", \"target_missed\" or \"deadline_breached\"")) {
    const auto kind = parse_action_kind(*a);
    if (kind == ActionKind::warning || kind == ActionKind::target_missed ||
        kind == ActionKind::deadline_breached) {
      step.action = *kind;
    } else {
      error(*t.get("action"),
            path + ".action: unknown ladder action " + quote(*a) +
                " (expected \"warning\", \"target_missed\" or \"deadline_breached\")");
      ok = false;
    }
  } else {
    ok = false;
  }
  if (auto n = get_integer(t, "level", path, true, "the escalation level, 0 and up")) {
    const toml::node& node = *t.get("level");
    const auto& levels = policy.escalation;
    const bool known = std::any_of(levels.begin(), levels.end(),
                                   [&](const EscalationLevel& e) { return e.level == *n; });
    if (!known) {
      error(node, path + ".level: level " + std::to_string(*n) +
                      " has no [[policy.escalation]] entry" +
                      (explicit_escalation ? "" : " (the default escalation has levels 0-2)"));
      ok = false;
    }
    step.level = static_cast<int>(std::clamp<std::int64_t>(*n, 0, 100));
  } else {
    ok = false;
  }
  return ok;
}

// The default ladder is written for the default durations; if the administrator changed one of
// them without spelling out a ladder, say so at the changed value rather than guess new rows.
void ConfigParser::check_default_ladder(const Policy& policy, const DurationNodes& nodes,
                                        const toml::node* escalation_node) {
  for (const LadderStep& step : policy.ladder) {
    const toml::node* node = nullptr;
    std::string path;
    if (step.milestone == Milestone::press_conference) {
      node = nodes.press_conference_deadline;
      path = "policy.press_conference.deadline";
    } else if (step.milestone == Milestone::follow_up) {
      node = nodes.follow_up_every;
      path = "policy.follow_up.every";
    } else if (nodes.first_release_target == nullptr ||
               (step.action == ActionKind::deadline_breached &&
                nodes.first_release_deadline != nullptr)) {
      node = nodes.first_release_deadline;
      path = "policy.first_release.deadline";
    } else {
      node = nodes.first_release_target;
      path = "policy.first_release.target";
    }
    if (auto problem = step_problem(step, policy)) {
      const std::string message = "the default ladder does not fit this value (its " +
                                  std::string(to_string(step.milestone)) + " " +
                                  std::string(to_string(step.action)) + " step at " +
                                  format_duration(step.offset) + ": " + problem->second +
                                  "); spell out the ladder in [[policy.ladder]]";
      if (node != nullptr) {
        error(*node, std::string(path).append(": ").append(message));
      } else {
        error_in_file("policy: " + message);
      }
      return;
    }
    const auto& levels = policy.escalation;
    const bool known = std::any_of(levels.begin(), levels.end(),
                                   [&](const EscalationLevel& e) { return e.level == step.level; });
    if (!known && escalation_node != nullptr) {
      error(*escalation_node, "policy.escalation: the default ladder uses level " +
                                  std::to_string(step.level) +
                                  ", which has no [[policy.escalation]] entry");
      return;
    }
  }
}

}  // namespace incidentd::config_detail
