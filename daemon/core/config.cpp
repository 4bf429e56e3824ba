// The configuration's entry points (parse_config, load_config_file), the default policy and the
// roster look-ups. The parser itself is config_parser.hpp and the config_*.cpp files beside it.
#include "incidentd/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "core/config_parser.hpp"

namespace incidentd {

Policy Policy::defaults() {
  using std::chrono::hours;
  using std::chrono::minutes;
  Policy p;
  p.ladder = {
      {Milestone::first_release, hours(0), ActionKind::warning, 0},
      {Milestone::first_release, hours(2), ActionKind::warning, 0},
      {Milestone::first_release, hours(2) + minutes(30), ActionKind::warning, 0},
      {Milestone::first_release, hours(3), ActionKind::target_missed, 1},
      {Milestone::first_release, hours(4) + minutes(30), ActionKind::warning, 1},
      {Milestone::first_release, hours(5), ActionKind::deadline_breached, 2},
      {Milestone::press_conference, hours(20), ActionKind::warning, 0},
      {Milestone::press_conference, hours(23), ActionKind::warning, 1},
      {Milestone::press_conference, hours(24), ActionKind::deadline_breached, 2},
      {Milestone::follow_up, -hours(2), ActionKind::warning, 0},
      {Milestone::follow_up, hours(0), ActionKind::deadline_breached, 1},
  };
  p.escalation = {
      {0, {"duty"}, {}},
      {1, {"duty", "leader"}, {}},
      {2, {"duty", "leader", "principal"}, {"prov-office"}},
  };
  return p;
}

const Unit* Config::find_unit(std::string_view id) const {
  for (const Unit& u : units) {
    if (u.id == id) return &u;
  }
  return nullptr;
}

const Person* Config::find_person(std::string_view id) const {
  for (const Unit& u : units) {
    for (const Person& p : u.people) {
      if (p.id == id) return &p;
    }
  }
  return nullptr;
}

const Unit* Config::unit_of_person(std::string_view person_id) const {
  for (const Unit& u : units) {
    for (const Person& p : u.people) {
      if (p.id == person_id) return &u;
    }
  }
  return nullptr;
}

ConfigResult parse_config(std::string_view toml_text, std::string_view source_name,
                          const ConfigChecks& checks) {
  return config_detail::ConfigParser(source_name, checks).run(toml_text);
}

SecretFile read_sms_callback_secret(const std::string& path) {
  SecretFile out;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.error = "cannot open \"" + path + "\": " + std::strerror(errno);
    return out;
  }
  std::ostringstream text;
  text << in.rdbuf();
  out.secret = text.str();
  while (!out.secret.empty() && std::isspace(static_cast<unsigned char>(out.secret.back())) != 0) {
    out.secret.pop_back();
  }
  const auto url_safe = [](unsigned char ch) {
    return std::isalnum(ch) != 0 || ch == '-' || ch == '.' || ch == '_' || ch == '~';
  };
  if (out.secret.size() < kMinSmsCallbackSecret ||
      !std::all_of(out.secret.begin(), out.secret.end(),
                   [&](char ch) { return url_safe(static_cast<unsigned char>(ch)); })) {
    out.error = "\"" + path + "\" must hold at least " + std::to_string(kMinSmsCallbackSecret) +
                " characters of A-Z a-z 0-9 - . _ ~ (make one with: openssl rand -hex 32 > FILE)";
    out.secret.clear();
  }
  return out;
}

ConfigResult load_config_file(const std::string& path, const ConfigChecks& checks) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigResult result;
    result.errors.push_back({path, std::string("cannot open the file: ") + std::strerror(errno)});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    ConfigResult result;
    result.errors.push_back({path, std::string("cannot read the file: ") + std::strerror(errno)});
    return result;
  }
  return parse_config(text.str(), path, checks);
}

const std::map<std::string, std::string>& managed_kafka_properties() {
  static const std::map<std::string, std::string> kManaged = {
      {"bootstrap.servers", "use kafka.brokers"},
      {"metadata.broker.list", "use kafka.brokers"},
      {"group.id", "use kafka.group"},
      {"enable.auto.commit", "offsets are committed with the dead letters, in one transaction"},
      {"enable.auto.offset.store", "offsets are committed with the dead letters"},
      {"transactional.id", "derived from kafka.group and cluster.instance_id"},
      {"group.instance.id", "use cluster.instance_id"},
      {"enable.idempotence", "the dead-letter producer is transactional"},
  };
  return kManaged;
}

}  // namespace incidentd
