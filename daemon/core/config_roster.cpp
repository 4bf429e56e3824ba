// [[units]] of incidentd.toml: the roster of units and people, and the checks that need all of it
// (deputies in other units, operators named in [notify]).
#include "core/config_parser.hpp"

#include <algorithm>

namespace incidentd::config_detail {

void ConfigParser::parse_units(const toml::table& root, Config& config) {
  const toml::node* node = root.get("units");
  const toml::array* units = get_table_array(root, "units", "");
  if (units == nullptr) {
    if (node == nullptr) {
      error_in_file("no units: the roster needs at least one [[units]] table");
    }
    return;
  }
  if (units->empty()) {
    error(*node, "units: the roster needs at least one unit");
    return;
  }
  std::map<std::string, const toml::node*, std::less<>> unit_ids;
  std::map<std::string, const toml::node*, std::less<>> person_ids;
  std::vector<std::pair<const toml::node*, std::string>> deputies;  // node, path
  std::size_t index = 0;
  for (const toml::node& element : *units) {
    ++index;
    const toml::table& t = *element.as_table();
    std::string path = "units[" + std::to_string(index) + "]";
    check_keys(t, {"id", "name", "people"}, path);
    Unit unit;
    if (auto id = get_string(t, "id", path, true, "the unit id used in events")) {
      const toml::node& id_node = *t.get("id");
      if (!valid_id(*id)) {
        error(id_node,
              path + ".id: " + quote(*id) + " may contain only letters, digits, '-', '_' and '.'");
      } else if (auto [it, inserted] = unit_ids.emplace(*id, &id_node); !inserted) {
        error(id_node, path + ".id: duplicate unit id " + quote(*id) + " (first defined at " +
                           position(*it->second) + ")");
      }
      unit.id = *id;
      path = "units[" + unit.id + "]";
    }
    if (auto name = get_string(t, "name", path, true, "the unit's full name")) unit.name = *name;
    if (const toml::array* people = get_table_array(t, "people", path)) {
      std::size_t person_index = 0;
      for (const toml::node& p : *people) {
        ++person_index;
        parse_person(*p.as_table(), path, person_index, unit, person_ids, deputies);
      }
    }
    const bool has_duty = std::any_of(unit.people.begin(), unit.people.end(),
                                      [](const Person& p) { return p.role == "duty"; });
    if (!has_duty) {
      error(t, path +
                   ": no duty officer (a [[units.people]] entry with role = \"duty\"); "
                   "alerts to this unit would reach nobody");
    }
    config.units.push_back(std::move(unit));
  }
  // Deputies may sit in another unit, so they are checked once the whole roster is known.
  for (const auto& [deputy_node, person_path] : deputies) {
    const std::string& deputy = deputy_node->as_string()->get();
    if (person_ids.find(deputy) == person_ids.end()) {
      error(*deputy_node,
            person_path + ".deputy: no person with id " + quote(deputy) + " in the roster");
    }
  }
}

void ConfigParser::parse_person(const toml::table& t, const std::string& unit_path,
                                std::size_t index, Unit& unit,
                                std::map<std::string, const toml::node*, std::less<>>& person_ids,
                                std::vector<std::pair<const toml::node*, std::string>>& deputies) {
  std::string path = unit_path + ".people[" + std::to_string(index) + "]";
  check_keys(t, {"id", "name", "role", "phone", "webhook", "channels", "deputy"}, path);
  Person person;
  if (auto id = get_string(t, "id", path, true, "the person id, unique in the whole roster")) {
    const toml::node& id_node = *t.get("id");
    if (!valid_id(*id)) {
      error(id_node,
            path + ".id: " + quote(*id) + " may contain only letters, digits, '-', '_' and '.'");
    } else if (auto [it, inserted] = person_ids.emplace(*id, &id_node); !inserted) {
      error(id_node, path + ".id: duplicate person id " + quote(*id) + " (first defined at " +
                         position(*it->second) + "); ids are unique across all units");
    }
    person.id = *id;
    path = unit_path + ".people[" + person.id + "]";
  }
  if (auto name = get_string(t, "name", path, true, "the person's name")) person.name = *name;
  if (auto role = get_string(t, "role", path, true, quoted_list(kRoles))) {
    if (!contains(kRoles, *role)) {
      error(*t.get("role"), path + ".role: unknown role " + quote(*role) + " (expected " +
                                quoted_list(kRoles) + ")");
    }
    person.role = *role;
  }
  parse_person_contact(t, path, person);
  parse_person_channels(t, path, person);
  if (auto deputy = get_string(t, "deputy", path, false, "the id of the person's deputy")) {
    const toml::node* node = t.get("deputy");
    if (*deputy == person.id) {
      error(*node, path + ".deputy: a person cannot be their own deputy");
    } else {
      deputies.emplace_back(node, path);
    }
    person.deputy = *deputy;
  }
  unit.people.push_back(std::move(person));
}

// The person's phone and webhook URL; a phone is unique in the whole roster.
void ConfigParser::parse_person_contact(const toml::table& t, const std::string& path,
                                        Person& person) {
  if (auto phone = get_string(t, "phone", path, false, "an E.164 number like \"+8613800000001\"")) {
    if (!valid_e164(*phone)) {
      error(*t.get("phone"), path + ".phone: " + quote(*phone) +
                                 " is not an E.164 number (expected \"+\" and 8 to 15 digits, "
                                 "like \"+8613800000001\")");
    } else if (auto [it, inserted] = phones_.emplace(*phone, t.get("phone")); !inserted) {
      // Reply codes are bound to a phone: a shared number could not tell who answered.
      error(*t.get("phone"), path + ".phone: " + quote(*phone) +
                                 " is already the phone of another person (at line:column " +
                                 position(*it->second) + "); each person needs their own");
    }
    person.phone = *phone;
  }
  if (auto url = get_string(t, "webhook", path, false, "an http:// or https:// URL")) {
    if (!valid_url(*url)) {
      error(*t.get("webhook"),
            path + ".webhook: " + quote(*url) + " is not an http:// or https:// URL");
    }
    person.webhook = *url;
  }
}

// The channels in order of preference; each must be known, listed once and have its address.
void ConfigParser::parse_person_channels(const toml::table& t, const std::string& path,
                                         Person& person) {
  if (t.get("channels") == nullptr) {
    missing(t, path, "channels", "how to reach the person, like [\"sms\", \"webhook\"]");
  }
  const auto channels = get_string_array(
      t, "channels", path, "channels in order of preference: " + quoted_list(kChannels));
  if (const toml::node* node = t.get("channels");
      node != nullptr && node->is_array() && node->as_array()->empty()) {
    error(*node,
          path + ".channels: must name at least one channel (" + quoted_list(kChannels) + ")");
  }
  for (const auto& [channel, node] : channels) {
    const std::string channel_path = path + ".channels";
    if (!contains(kChannels, channel)) {
      error(*node, channel_path + ": unknown channel " + quote(channel) + " (expected " +
                       quoted_list(kChannels) + ")");
      continue;
    }
    if (std::find(person.channels.begin(), person.channels.end(), channel) !=
        person.channels.end()) {
      error(*node, channel_path + ": channel " + quote(channel) + " is listed twice");
      continue;
    }
    if (channel == "sms" && t.get("phone") == nullptr) {
      error(*node, channel_path + ": channel \"sms\" needs a phone number, and phone is not set");
    }
    if (channel == "webhook" && t.get("webhook") == nullptr) {
      error(*node,
            channel_path + ": channel \"webhook\" needs a webhook URL, and webhook is not set");
    }
    person.channels.push_back(channel);
  }
}

std::string ConfigParser::position(const toml::node& node) const {
  return std::to_string(node.source().begin.line) + ":" +
         std::to_string(node.source().begin.column);
}

void ConfigParser::check_operators(const Config& config) {
  if (config.units.empty()) return;  // already reported as an empty roster
  for (const auto& [id, node] : pending_operators_) {
    if (config.find_person(id) == nullptr) {
      error(*node, "notify.operator: no person with id " + quote(id) + " in the roster");
    }
  }
}

}  // namespace incidentd::config_detail
