// The codecs of the domain's messages: events, confirmations, acknowledgements and scenario
// lines read and validated against the configuration, and an action to and from its JSON.
#include "incidentd/codec.hpp"

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/event_fast_path.hpp"
#include "core/json_reader.hpp"

namespace incidentd {
namespace {

using codec_detail::fail;
using codec_detail::field_name;
using codec_detail::Fields;
using codec_detail::json;
using codec_detail::kMaxQuotedBytes;
using codec_detail::list_of;
using codec_detail::ok;
using codec_detail::one_line;
using codec_detail::parse_json;
using codec_detail::quote;
using codec_detail::type_of;

constexpr EventKind kEventKinds[] = {EventKind::detected, EventKind::updated, EventKind::closed};
constexpr Level kLevels[] = {Level::I, Level::II, Level::III, Level::IV};
constexpr ActionKind kActionKinds[] = {
    ActionKind::incident_opened,  ActionKind::level_changed,     ActionKind::warning,
    ActionKind::target_missed,    ActionKind::deadline_breached, ActionKind::notification,
    ActionKind::escalated,        ActionKind::acknowledged,      ActionKind::release_confirmed,
    ActionKind::milestone_met,    ActionKind::incident_closed,   ActionKind::delivery,
    ActionKind::channel_fallback, ActionKind::daemon_outage,
};
constexpr std::string_view kSpeakers[] = {"principal", "deputy", "spokesperson"};
constexpr std::string_view kSpeakerList = "principal, deputy, spokesperson";

bool check_unit(Fields& f, const Config& config, std::string_view field, const std::string& id) {
  if (config.find_unit(id) != nullptr) return true;
  return f.reject("unknown unit " + quote(id) + " in field " + field_name(field));
}

// Built on first use, not at static initialisation, so domain.cpp's names are ready.
const std::string& event_kind_list() {
  static const std::string kList = list_of(kEventKinds);
  return kList;
}
const std::string& level_list() {
  static const std::string kList = list_of(kLevels);
  return kList;
}
const std::string& milestone_list() {
  static const std::string kList = list_of(kMilestones);
  return kList;
}
const std::string& action_kind_list() {
  static const std::string kList = list_of(kActionKinds);
  return kList;
}

Parsed<Event> event_from_object(const json& j, const Config& config, bool scenario) {
  Fields f(j);
  Event e;
  const json* units = nullptr;
  const bool ok_so_far =
      f.schema(true) && f.required_string("event_id", e.event_id, true) &&
      f.required_string("incident_key", e.incident_key, true) &&
      f.required_enum("kind", parse_event_kind, event_kind_list(), e.kind) &&
      f.required_enum("level", parse_level, level_list(), e.level) &&
      f.required_string("lead_unit", e.lead_unit, true) &&
      (units = f.require("units")) != nullptr && f.string_array("units", *units, e.units) &&
      f.required_time("detected_at", e.detected_at) && f.optional_string("title", e.title) &&
      f.optional_string("category", e.category) && f.optional_string("region", e.region) &&
      f.optional_bool("drill", e.drill) && f.optional_object("source") &&
      (!scenario || f.optional_time("arrived_at", e.arrived_at));
  if (!ok_so_far) return fail<Event>(f.error());
  // `source` is the sender's own business (any shape inside): only string values are read.
  if (const json* source = f.find("source")) {
    const auto text_of = [source](const char* name, std::string& out) {
      const auto it = source->find(name);
      if (it != source->end() && it->is_string()) out = it->get<std::string>();
    };
    text_of("platform", e.source_platform);
    text_of("by", e.source_by);
  }

  // The roster checks come after the shape checks so that a malformed message is reported as
  // malformed, not as an unknown unit.
  if (!check_unit(f, config, "lead_unit", e.lead_unit)) return fail<Event>(f.error());
  for (const auto& unit : e.units) {
    if (!check_unit(f, config, "units", unit)) return fail<Event>(f.error());
  }
  bool has_lead = false;
  for (const auto& unit : e.units) has_lead = has_lead || unit == e.lead_unit;
  if (!has_lead) {
    return fail<Event>("field \"units\" must include the lead unit " + quote(e.lead_unit));
  }
  return ok(std::move(e));
}

std::optional<std::string> parse_speaker(std::string_view s) {
  for (auto speaker : kSpeakers) {
    if (s == speaker) return std::string(s);
  }
  return std::nullopt;
}

Parsed<Confirmation> confirmation_from_object(const json& j, const Config& config, bool scenario) {
  Fields f(j);
  Confirmation c;
  std::optional<std::string> speaker;
  const bool ok_so_far =
      f.schema(true) && f.required_string("confirmation_id", c.confirmation_id, true) &&
      f.required_string("incident_key", c.incident_key, true) &&
      f.required_enum("milestone", parse_milestone, milestone_list(), c.milestone) &&
      f.required_string("unit", c.unit, true) && f.required_time("released_at", c.released_at) &&
      f.optional_string("channel", c.channel) && f.optional_string("url", c.url) &&
      f.optional_enum("speaker", parse_speaker, kSpeakerList, speaker) &&
      (!scenario || f.optional_time("arrived_at", c.arrived_at)) &&
      check_unit(f, config, "unit", c.unit);
  if (!ok_so_far) return fail<Confirmation>(f.error());
  c.speaker = speaker.value_or("");
  c.via = scenario ? "scenario" : "";
  return ok(std::move(c));
}

Parsed<Acknowledgement> ack_from_object(const json& j, const Config& config) {
  Fields f(j);
  Acknowledgement a;
  // The contract's ack line carries no schema; one that does must still be ours.
  const bool ok_so_far = f.schema(false) && f.required_time("at", a.at) &&
                         f.required_string("incident_key", a.incident_key, true) &&
                         f.required_string("recipient", a.recipient, true);
  if (!ok_so_far) return fail<Acknowledgement>(f.error());
  if (config.find_person(a.recipient) == nullptr) {
    return fail<Acknowledgement>("unknown person " + quote(a.recipient) +
                                 " in field \"recipient\"");
  }
  a.via = "scenario";
  return ok(std::move(a));
}

template <typename T>
Parsed<ScenarioLine> as_line(Parsed<T> p) {
  if (!p) return fail<ScenarioLine>(std::move(p.error));
  return ok<ScenarioLine>(std::move(*p.value));
}

// These two describe the incident itself, so their `level` is the incident level ("II") and
// they carry the incident's description; every other action's `level` is a ladder level.
bool describes_incident(ActionKind kind) {
  return kind == ActionKind::incident_opened || kind == ActionKind::level_changed;
}

}  // namespace

Parsed<Event> parse_event(std::string_view text, const Config& config) {
  if (auto event = parse_event_fast(text, config)) return ok(std::move(*event));
  return parse_event_reference(text, config);
}

Parsed<Event> parse_event_reference(std::string_view text, const Config& config) {
  std::string error;
  auto j = parse_json(text, error);
  if (!j) return fail<Event>(std::move(error));
  return event_from_object(*j, config, false);
}

Parsed<Confirmation> parse_confirmation(std::string_view text, const Config& config) {
  std::string error;
  auto j = parse_json(text, error);
  if (!j) return fail<Confirmation>(std::move(error));
  return confirmation_from_object(*j, config, false);
}

Parsed<ScenarioLine> parse_scenario_line(std::string_view text, const Config& config) {
  std::string error;
  auto j = parse_json(text, error);
  if (!j) return fail<ScenarioLine>(std::move(error));
  Fields f(*j);
  std::string type = "event";
  if (!f.optional_string("type", type)) return fail<ScenarioLine>(f.error());
  if (type == "event") return as_line(event_from_object(*j, config, true));
  if (type == "release") return as_line(confirmation_from_object(*j, config, true));
  if (type == "ack") return as_line(ack_from_object(*j, config));
  return fail<ScenarioLine>("field \"type\" must be one of event, release, ack (got " +
                            quote(type) + ")");
}

TimePoint arrival_of(const ScenarioLine& line) {
  struct Visitor {
    TimePoint operator()(const Event& e) const { return e.arrived_at.value_or(e.detected_at); }
    TimePoint operator()(const Confirmation& c) const {
      return c.arrived_at.value_or(c.released_at);
    }
    TimePoint operator()(const Acknowledgement& a) const { return a.at; }
  };
  return std::visit(Visitor{}, line);
}

std::string dump_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json to_json(const Action& a, std::chrono::minutes utc_offset) {
  json j = json::object();
  const auto put_string = [&j](const char* name, const std::string& value) {
    if (!value.empty()) j[name] = value;
  };
  const auto put_time = [&j, utc_offset](const char* name, const std::optional<TimePoint>& t) {
    if (t) j[name] = format_rfc3339(*t, utc_offset);
  };

  j["at"] = format_rfc3339(a.at, utc_offset);
  j["incident_key"] = a.incident_key;
  j["action"] = std::string(to_string(a.kind));
  if (a.milestone) j["milestone"] = std::string(to_string(*a.milestone));

  const bool incident = describes_incident(a.kind);
  if (incident) {
    if (a.incident_level) j["level"] = std::string(to_string(*a.incident_level));
    if (a.previous_incident_level) {
      j["previous_level"] = std::string(to_string(*a.previous_incident_level));
    }
  } else {
    if (a.level) j["level"] = *a.level;
    if (a.previous_level) j["previous_level"] = *a.previous_level;
  }
  put_time("due", a.due);
  put_time("deadline", a.deadline);
  if (a.late) {
    switch (*a.late) {
      case Lateness::on_time:
        j["late"] = false;
        break;
      case Lateness::target:
        j["late"] = "target";
        break;
      case Lateness::deadline:
        j["late"] = "deadline";
        break;
    }
  }
  put_string("recipient", a.recipient);
  put_string("unit", a.unit);
  put_string("channel", a.channel);
  put_string("notification_id", a.notification_id);
  put_string("deputy_of", a.deputy_of);
  if (a.cause) j["cause"] = std::string(to_string(*a.cause));
  put_time("released_at", a.released_at);
  put_string("confirmation_id", a.confirmation_id);
  put_string("url", a.url);
  put_string("speaker", a.speaker);
  put_string("via", a.via);
  if (incident) {
    put_string("title", a.title);
    put_string("lead_unit", a.lead_unit);
    if (!a.units.empty()) j["units"] = a.units;
    put_time("detected_at", a.detected_at);
    j["clock"] = a.clock;
  }
  put_string("source", a.source);
  put_string("by", a.by);
  if (a.reminder > 0) j["reminder"] = a.reminder;
  if (a.kind == ActionKind::notification) j["send"] = a.send;
  if (a.round > 0) j["round"] = a.round;
  if (a.catch_up) j["catch_up"] = true;
  if (a.opening) j["opening"] = true;
  if (a.drill) j["drill"] = true;
  if (a.attempt > 0) j["attempt"] = a.attempt;
  put_string("outcome", a.outcome);
  put_string("detail", a.detail);
  put_string("previous_channel", a.previous_channel);
  put_time("from", a.from);
  put_time("to", a.to);
  return j;
}

Parsed<Action> action_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return fail<Action>("action must be a JSON object (got " + type_of(j) + ")");
  Fields f(j);
  Action a;
  bool ok_so_far = f.required_time("at", a.at) &&
                   f.required_string("incident_key", a.incident_key, true) &&
                   f.required_enum("action", parse_action_kind, action_kind_list(), a.kind) &&
                   f.optional_enum("milestone", parse_milestone, milestone_list(), a.milestone);
  if (!ok_so_far) return fail<Action>(f.error());

  if (describes_incident(a.kind)) {
    ok_so_far =
        f.optional_enum("level", parse_level, level_list(), a.incident_level) &&
        f.optional_enum("previous_level", parse_level, level_list(), a.previous_incident_level) &&
        f.optional_string("title", a.title) && f.optional_string("lead_unit", a.lead_unit) &&
        f.optional_time("detected_at", a.detected_at) && f.optional_bool("clock", a.clock);
    if (ok_so_far) {
      if (const json* units = f.find("units")) ok_so_far = f.string_array("units", *units, a.units);
    }
  } else {
    ok_so_far =
        f.optional_int("level", a.level) && f.optional_int("previous_level", a.previous_level);
  }
  if (!ok_so_far) return fail<Action>(f.error());

  if (const json* late = f.find("late")) {
    if (late->is_boolean() && !late->get<bool>()) {
      a.late = Lateness::on_time;
    } else if (late->is_string() && late->get<std::string>() == "target") {
      a.late = Lateness::target;
    } else if (late->is_string() && late->get<std::string>() == "deadline") {
      a.late = Lateness::deadline;
    } else {
      return fail<Action>("field \"late\" must be false, \"target\" or \"deadline\" (got " +
                          one_line(late->dump(), kMaxQuotedBytes) + ")");
    }
  }

  ok_so_far = f.optional_time("due", a.due) && f.optional_time("deadline", a.deadline) &&
              f.optional_string("recipient", a.recipient) && f.optional_string("unit", a.unit) &&
              f.optional_string("channel", a.channel) &&
              f.optional_string("notification_id", a.notification_id) &&
              f.optional_string("deputy_of", a.deputy_of) &&
              f.optional_enum("cause", parse_action_kind, action_kind_list(), a.cause) &&
              f.optional_time("released_at", a.released_at) &&
              f.optional_string("confirmation_id", a.confirmation_id) &&
              f.optional_string("url", a.url) && f.optional_string("speaker", a.speaker) &&
              f.optional_string("via", a.via) && f.optional_int("reminder", a.reminder) &&
              f.optional_int("send", a.send) && f.optional_int("round", a.round) &&
              f.optional_bool("catch_up", a.catch_up) && f.optional_bool("opening", a.opening) &&
              f.optional_bool("drill", a.drill) && f.optional_int("attempt", a.attempt) &&
              f.optional_string("outcome", a.outcome) && f.optional_string("detail", a.detail) &&
              f.optional_string("previous_channel", a.previous_channel) &&
              f.optional_string("source", a.source) && f.optional_string("by", a.by) &&
              f.optional_time("from", a.from) && f.optional_time("to", a.to);
  if (!ok_so_far) return fail<Action>(f.error());
  return ok(std::move(a));
}

}  // namespace incidentd
