#include "support/test_config.hpp"

#include <stdexcept>

namespace incidentd::testing {
namespace {

[[noreturn]] void fail(std::string_view what, const std::vector<ConfigError>& errors) {
  std::string message = std::string(what) + " does not load:";
  for (const ConfigError& e : errors) message += "\n  " + e.where + ": " + e.message;
  throw std::runtime_error(message);
}

// One unit of the small roster; `n` keeps the phone numbers distinct per unit.
std::string unit_toml(std::string_view id, std::string_view name, int n,
                      std::string_view channels) {
  const std::string u(id);
  const std::string webhook = "http://127.0.0.1:18080/hooks/" + u;
  struct Row {
    const char* suffix;
    const char* role;
    const char* deputy;
  };
  constexpr Row rows[] = {
      {"duty1", "duty", "duty2"},     {"duty2", "duty", "duty1"},
      {"leader", "leader", "deputy"}, {"principal", "principal", "deputy"},
      {"deputy", "deputy", nullptr},
  };
  std::string out = "\n[[units]]\nid = \"" + u + "\"\nname = \"" + std::string(name) + "\"\n";
  int i = 0;
  for (const Row& row : rows) {
    ++i;
    out += "\n  [[units.people]]\n";
    out += "  id = \"" + u + "-" + row.suffix + "\"\n";
    out += "  name = \"" + u + " " + row.suffix + "\"\n";
    out += "  role = \"" + std::string(row.role) + "\"\n";
    out += "  phone = \"+861390000" + std::to_string(n) + "0" + std::to_string(i) + "\"\n";
    out += "  webhook = \"" + webhook + "\"\n";
    out += "  channels = " + std::string(channels) + "\n";
    if (row.deputy != nullptr) out += "  deputy = \"" + u + "-" + row.deputy + "\"\n";
  }
  return out;
}

}  // namespace

std::string example_config_path() {
  return std::string(INCIDENTD_SOURCE_DIR) + "/config/incidentd.toml";
}

Config load_example_config() {
  const std::string path = example_config_path();
  ConfigResult result = load_config_file(path);
  if (!result.config) fail(path, result.errors);
  return std::move(*result.config);
}

std::string small_config_toml(ConfirmRule rule) {
  std::string out = "[policy]\nconfirm = \"";
  out += rule == ConfirmRule::lead ? "lead" : "all";
  out += "\"\n";
  // The default escalation with the small roster's supervision unit.
  out += R"(
[[policy.escalation]]
level = 0
roles = ["duty"]

[[policy.escalation]]
level = 1
roles = ["duty", "leader"]

[[policy.escalation]]
level = 2
roles = ["duty", "leader", "principal"]
supervision_units = ["office"]
)";
  out += unit_toml("a", "Unit A", 1, R"(["sms", "webhook"])");
  out += unit_toml("b", "Unit B", 2, R"(["webhook", "sms"])");
  out += unit_toml("office", "Supervision Office", 3, R"(["sms", "webhook"])");
  return out;
}

Config small_config(ConfirmRule rule) {
  return config_from_toml(small_config_toml(rule), "small_config.toml");
}

Config config_from_toml(std::string_view toml_text, std::string_view source_name) {
  ConfigResult result = parse_config(toml_text, source_name);
  if (!result.config) fail(source_name, result.errors);
  return std::move(*result.config);
}

}  // namespace incidentd::testing
