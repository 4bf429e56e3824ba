#include "ctl/manual_commands.hpp"

#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/client.hpp"
#include "http/ctl_commands.hpp"
#include "incidentd/config.hpp"
#include "incidentd/manual_event.hpp"
#include "kafka/kafka_client.hpp"
#include "store/sqlite_store.hpp"

namespace incidentd::ctl {

using nlohmann::json;

struct ManualCommands::Options {
  CLI::App* open = nullptr;
  CLI::App* close = nullptr;
  CLI::App* level = nullptr;
  std::string config_path;
  std::string brokers;
  std::string topic;
  std::string by;
  std::string event_id;
  std::string detected_at;
  bool dry_run = false;
  double timeout_s = 10;
  // open
  std::string key;
  std::string level_text;
  std::string title, category, region, lead_unit;
  std::vector<std::string> units;
  bool drill = false;
  // close, level: where the incident's units are read
  std::string url = "http://127.0.0.1:8480";
  std::string token_file;
  std::string ca_file;
  std::string database;
};

namespace {

constexpr const char* kDefaultConfig = "/etc/incidentd/incidentd.toml";

// Exit 1: refused; 2: not reached or not read.
struct Failed : std::runtime_error {
  Failed(int exit_code, const std::string& what) : std::runtime_error(what), code(exit_code) {}
  int code;
};

Config load_config(const ManualCommands::Options& o) {
  std::string path = o.config_path;
  if (path.empty() && std::filesystem::exists(kDefaultConfig)) path = kDefaultConfig;
  // The roster is what checks the units: without it a typo would become a dead letter.
  if (path.empty()) {
    throw Failed(2, std::string("no configuration: give --config FILE (") + kDefaultConfig +
                        " does not exist); its roster checks the units");
  }
  auto loaded = load_config_file(path);
  if (!loaded.config) {
    std::string errors;
    for (const auto& e : loaded.errors) errors += "\n  " + e.where + ": " + e.message;
    throw Failed(2, path + ": not a valid configuration:" + errors);
  }
  return std::move(*loaded.config);
}

// Who is at the keyboard, when --by does not say: the login name of the effective user.
std::string login_name() {
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  if (const char* user = std::getenv("USER"); user != nullptr && *user != '\0') return user;
  throw Failed(1, "cannot tell who you are: give --by NAME");
}

struct Current {
  Level level = Level::II;
  std::string lead_unit;
  std::vector<std::string> units;
  bool drill = false;
};

Current from_database(const ManualCommands::Options& o, const std::string& key) {
  SqliteStore store(o.database, SqliteStore::Mode::read_only);
  const auto state = store.load_incident(key);
  if (!state) throw Failed(1, "no incident \"" + key + "\" in " + o.database);
  if (state->closed) throw Failed(1, "incident \"" + key + "\" is closed");
  return {state->level, state->lead_unit, state->units, state->drill};
}

Current from_api(const ManualCommands::Options& o, const std::string& key) {
  http::ClientRequest r;
  r.base_url = o.url;
  r.target = "/v1/incidents/" + http::path_segment(key);
  r.ca_file = o.ca_file;
  http::ClientReply reply;
  try {
    r.bearer_token = http::read_token(o.token_file);
    reply = http::send_request(r);
  } catch (const std::runtime_error& e) {
    throw Failed(2, std::string(e.what()) +
                        " (or give --database, or --lead-unit and --units, to read no API)");
  }
  if (reply.status != 200) {
    throw Failed(1, "the API answered " + std::to_string(reply.status) + ": " + reply.body);
  }
  const json j = json::parse(reply.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Failed(2, "the API's answer is not JSON");
  if (j.value("closed", false)) throw Failed(1, "incident \"" + key + "\" is closed");
  Current c;
  const auto level = parse_level(j.value("level", std::string()));
  if (!level) throw Failed(2, "the API's answer has no level");
  c.level = *level;
  c.lead_unit = j.value("lead_unit", std::string());
  for (const json& u : j.value("units", json::array())) {
    if (u.is_string()) c.units.push_back(u.get<std::string>());
  }
  c.drill = j.value("drill", false);
  return c;
}

TimePoint now() {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

// The incident's lead unit, units, drill flag and level for close and level: as given with
// --lead-unit, else as the API or the database has them now.
void fill_change(const ManualCommands::Options& o, ManualEvent& e) {
  e.kind = *o.close ? EventKind::closed : EventKind::updated;
  e.incident_key = o.key;
  Current c;
  if (!o.lead_unit.empty()) {
    c.lead_unit = o.lead_unit;
    c.units = o.units;
    c.drill = o.drill;
    if (*o.close) {
      if (o.level_text.empty()) throw Failed(1, "close with --lead-unit also needs --level");
      c.level = *parse_level(o.level_text);
    }
  } else {
    c = o.database.empty() ? from_api(o, o.key) : from_database(o, o.key);
  }
  e.lead_unit = c.lead_unit;
  e.units = c.units;
  e.drill = c.drill;
  e.level = c.level;
  if (*o.level) {
    const Level wanted = *parse_level(o.level_text);
    if (o.lead_unit.empty() && wanted == c.level) {
      throw Failed(
          1, "incident \"" + o.key + "\" is level " + std::string(to_string(wanted)) + " already");
    }
    e.level = wanted;
  }
}

// The event the options describe.
ManualEvent event_of(const ManualCommands::Options& o, const Config& config) {
  ManualEvent e;
  e.by = o.by.empty() ? login_name() : o.by;
  e.via = "incidentctl";
  e.detected_at = now();
  if (!o.detected_at.empty()) {
    const auto t = parse_rfc3339(o.detected_at);
    if (!t) {
      throw Failed(1, "--detected-at: not an RFC 3339 instant with an offset: " + o.detected_at);
    }
    e.detected_at = *t;
  }
  if (*o.open) {
    e.kind = EventKind::detected;
    e.incident_key = o.key.empty()
                         ? manual_incident_key(e.detected_at, config.utc_offset, random_suffix(4))
                         : o.key;
    e.level = *parse_level(o.level_text);  // CLI11 checked it
    e.title = o.title;
    e.category = o.category;
    e.region = o.region;
    e.lead_unit = o.lead_unit;
    e.units = o.units;
    e.drill = o.drill;
  } else {
    fill_change(o, e);
  }
  e.event_id = o.event_id.empty() ? manual_event_id(e.incident_key, random_suffix(8)) : o.event_id;
  return e;
}

// Publishes the event's text to the events topic and says where it went; Failed when the broker
// did not take it (1: refused, 2: not reached in time).
void publish(const ManualCommands::Options& o, const Config& config, const ManualEvent& e,
             const std::string& text) {
  KafkaSettings kafka = config.kafka;
  if (!o.brokers.empty()) kafka.brokers = o.brokers;
  const std::string topic = o.topic.empty() ? kafka.events_topic : o.topic;
  const auto timeout =
      std::chrono::duration_cast<Duration>(std::chrono::duration<double>(o.timeout_s));
  std::string last_error;  // what librdkafka said on the way, for a failure's message
  KafkaHooks hooks;
  hooks.error = [&last_error](const std::string& code, const std::string& message, bool) {
    last_error = code + ": " + message;
  };
  std::optional<PublishResult> result;
  {
    EventPublisher publisher(kafka, timeout, std::move(hooks));
    publisher.publish(topic, e.incident_key, text,
                      [&result](const PublishResult& r) { result = r; });
    publisher.flush(timeout + std::chrono::seconds(2));
  }  // a report still missing is given (failed) as the publisher goes
  if (!result || !result->ok) {
    std::string why = result ? result->error : "no delivery report";
    if (!last_error.empty()) why += " (last error: " + last_error + ")";
    const bool refused = result && result->error.find("_TIMED_OUT") == std::string::npos &&
                         result->error.find("_PURGE") == std::string::npos &&
                         result->error.find("_MSG_TIMED_OUT") == std::string::npos;
    throw Failed(refused ? 1 : 2, "event " + e.event_id + " was not published to " + topic +
                                      " at " + kafka.brokers + ": " + why);
  }
  std::cout << "published " << e.event_id << " (" << to_string(e.kind) << " " << e.incident_key
            << ", level " << to_string(e.level) << ", by " << e.by << ") to " << result->topic
            << " partition " << result->partition << " offset " << result->offset << '\n';
}

int run(const ManualCommands::Options& o) {
  const Config config = load_config(o);
  const ManualEvent e = event_of(o, config);
  const Parsed<std::string> text = manual_event_json(e, config, config.utc_offset);
  if (!text) throw Failed(1, "the event would be refused: " + text.error);
  if (o.dry_run) {
    std::cout << *text.value << '\n';
    return 0;
  }
  publish(o, config, e, *text.value);
  return 0;
}

}  // namespace

ManualCommands::ManualCommands(CLI::App& app) : options_(std::make_unique<Options>()) {
  Options& o = *options_;
  const auto levels = CLI::IsMember({"I", "II", "III", "IV"});
  const auto add_common = [&o](CLI::App* cmd) {
    cmd->add_option("--config", o.config_path,
                    std::string("configuration: [kafka] brokers and topic, the roster that "
                                "checks the units (default ") +
                        kDefaultConfig + ")");
    cmd->add_option("--brokers", o.brokers, "Kafka bootstrap servers (default: [kafka] brokers)");
    cmd->add_option("--topic", o.topic, "the events topic (default: [kafka] events_topic)");
    cmd->add_option("--by", o.by,
                    "who enters it, recorded in the timeline (default: your login name)");
    cmd->add_option("--event-id", o.event_id,
                    "the event's id (default: manual-KEY-RANDOM); publishing the same id again "
                    "counts once");
    cmd->add_option("--detected-at", o.detected_at,
                    "when it was detected or changed, RFC 3339 with an offset (default: now)");
    cmd->add_flag("--dry-run", o.dry_run, "print the checked event and publish nothing");
    cmd->add_option("--timeout", o.timeout_s, "seconds to wait for the broker's acknowledgement")
        ->capture_default_str();
  };
  const auto add_lookup = [&o](CLI::App* cmd) {
    cmd->add_option("--url", o.url, "the daemon's API, to read the incident's units")
        ->capture_default_str();
    cmd->add_option("--token-file", o.token_file,
                    "file holding the API token (default: $INCIDENTD_TOKEN)");
    cmd->add_option("--ca-file", o.ca_file, "https: trust this CA instead of the system's");
    cmd->add_option("--database", o.database,
                    "read the incident from this SQLite database (read-only) instead of the API");
  };

  o.open = app.add_subcommand("open", "Open an incident entered by hand (a telephone report)");
  add_common(o.open);
  o.open->add_option("--key", o.key, "the incident's key (default: manual-DATE-TIME-RANDOM)");
  o.open->add_option("--level", o.level_text, "I, II, III or IV")->required()->check(levels);
  o.open->add_option("--title", o.title, "what happened")->required();
  o.open->add_option("--lead-unit", o.lead_unit, "the lead unit's id")->required();
  o.open
      ->add_option("--units", o.units,
                   "the responsible units' ids, comma-separated (the lead unit is always one)")
      ->delimiter(',');
  o.open->add_option("--category", o.category, "category, e.g. disaster");
  o.open->add_option("--region", o.region, "region code, e.g. 530600");
  o.open->add_flag("--drill", o.drill, "a drill: the same clock, left out of the statistics");

  o.close = app.add_subcommand("close", "Close an incident, by hand");
  o.close->add_option("incident_key", o.key, "the incident's key")->required();
  add_common(o.close);
  add_lookup(o.close);
  o.close->add_option("--lead-unit", o.lead_unit,
                      "with --units and --level: the incident as it stands, read from nowhere");
  o.close->add_option("--units", o.units, "with --lead-unit")->delimiter(',');
  o.close->add_option("--level", o.level_text, "with --lead-unit: its current level")
      ->check(levels);
  o.close->add_flag("--drill", o.drill, "with --lead-unit: the incident is a drill");

  o.level = app.add_subcommand("level", "Raise or lower an incident's level, by hand");
  o.level->add_option("incident_key", o.key, "the incident's key")->required();
  o.level->add_option("new_level", o.level_text, "I, II, III or IV")->required()->check(levels);
  add_common(o.level);
  add_lookup(o.level);
  o.level->add_option("--lead-unit", o.lead_unit,
                      "with --units: the incident's units as they stand, read from nowhere");
  o.level->add_option("--units", o.units, "with --lead-unit")->delimiter(',');
  o.level->add_flag("--drill", o.drill, "with --lead-unit: the incident is a drill");
}

ManualCommands::~ManualCommands() = default;

std::optional<int> ManualCommands::run() const {
  const Options& o = *options_;
  if (!*o.open && !*o.close && !*o.level) return std::nullopt;
  try {
    return ctl::run(o);
  } catch (const Failed& e) {
    std::cerr << "incidentctl: " << e.what() << '\n';
    return e.code;
  } catch (const KafkaSetupError& e) {
    std::cerr << "incidentctl: " << e.what() << '\n';
    return 2;
  } catch (const StoreError& e) {
    std::cerr << "incidentctl: " << e.what() << '\n';
    return 2;
  }
}

}  // namespace incidentd::ctl
