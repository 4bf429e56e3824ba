// Configuration: the policy (milestones, ladder, reminders, delivery assurance), the roster of
// units and people, and the daemon's settings. Loaded from TOML; every error names the file,
// line and column it is about, so `incidentctl check-config` can say precisely what is wrong.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

struct Person {
  std::string id;
  std::string name;
  std::string role;  // "duty", "leader", "principal", "deputy"
  std::string phone;
  std::string webhook;                // URL, optional
  std::vector<std::string> channels;  // in order of preference: "sms", "webhook"
  std::string deputy;                 // person id, optional
};

struct Unit {
  std::string id;
  std::string name;
  std::vector<Person> people;
};

// Who is reached at one ladder level: these roles in every unit that still owes the milestone,
// plus the duty officers of the supervision units (the provincial office's supervision desk).
struct EscalationLevel {
  int level = 0;
  std::vector<std::string> roles;
  std::vector<std::string> supervision_units;
};

// One rung of the ladder. For first_release and press_conference `offset` counts from the clock's
// start; for follow_up it counts from the follow-up's due time (so it is usually <= 0).
struct LadderStep {
  Milestone milestone = Milestone::first_release;
  Duration offset{};
  ActionKind action = ActionKind::warning;  // warning, target_missed or deadline_breached
  int level = 0;
};

struct Policy {
  std::set<Level> clock_levels{Level::I, Level::II};
  ConfirmRule confirm = ConfirmRule::all;
  Duration first_release_target = std::chrono::hours(3);
  Duration first_release_deadline = std::chrono::hours(5);
  Duration press_conference_deadline = std::chrono::hours(24);
  Duration follow_up_every = std::chrono::hours(24);
  Duration overdue_every = std::chrono::hours(1);
  Duration resend_after = std::chrono::minutes(15);
  int deputy_after_sends = 2;
  std::vector<LadderStep> ladder;           // sorted by milestone, then offset
  std::vector<EscalationLevel> escalation;  // sorted by level

  static Policy defaults();  // the contract's default policy, ladder table included
};

struct KafkaSettings {
  std::string brokers = "127.0.0.1:9092";
  std::string group = "incidentd";
  std::string events_topic = "opinion.events";
  std::string releases_topic = "opinion.releases";
  std::string dlq_topic = "opinion.events.dlq";
  std::map<std::string, std::string> properties;  // passed through to librdkafka
};

struct Config {
  Policy policy = Policy::defaults();
  std::vector<Unit> units;
  std::string timezone = "Asia/Shanghai";
  std::chrono::minutes utc_offset{8 * 60};  // of `timezone`, used to print instants
  std::string database = "/var/lib/incidentd/incidentd.db";
  KafkaSettings kafka;

  const Unit* find_unit(std::string_view id) const;
  const Person* find_person(std::string_view id) const;
  const Unit* unit_of_person(std::string_view person_id) const;
};

struct ConfigError {
  std::string where;  // "file:line:col" or "file"
  std::string message;
};

struct ConfigResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;  // empty when config is set
};

ConfigResult load_config_file(const std::string& path);
ConfigResult parse_config(std::string_view toml_text, std::string_view source_name);

}  // namespace incidentd
