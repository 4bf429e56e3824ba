// Configurations for tests: the shipped example (config/incidentd.toml) and a small roster with
// easy ids. Both go through the real parser; a configuration that does not load throws
// std::runtime_error listing every error, since a broken fixture is a bug in the test suite.
//
// small_config() roster, in this order (the order notifications follow within a unit):
//
//   unit "a"       (Unit A; the tests use it as the lead unit)
//   unit "b"       (Unit B)
//   unit "office"  (Supervision Office; its duty officers are the supervision desk)
//
// Each unit U has five people, in this order:
//   U-duty1      role "duty",      deputy U-duty2
//   U-duty2      role "duty",      deputy U-duty1
//   U-leader     role "leader",    deputy U-deputy
//   U-principal  role "principal", deputy U-deputy
//   U-deputy     role "deputy",    no deputy
// Everyone has a phone and a webhook. People of "a" and "office" have channels
// ["sms", "webhook"]; people of "b" have ["webhook", "sms"] (so a notification to them goes by
// webhook first).
//
// Policy: the contract's default (Policy::defaults(): ladder, durations, confirm = "all"), with
// `confirm` set from the argument, and one difference: level 2's supervision unit is "office"
// instead of "prov-office". So level 0 = duty officers, level 1 = duty officers and leaders,
// level 2 = duty officers, leaders, principals, then office-duty1 and office-duty2.
// Change `policy` on the returned Config to test other policies.
#pragma once

#include <string>
#include <string_view>

#include "incidentd/config.hpp"

namespace incidentd::testing {

// Absolute path of config/incidentd.toml in the source tree.
std::string example_config_path();

// config/incidentd.toml, loaded with load_config_file().
Config load_example_config();

// The small roster described above, with the default policy and the given confirm rule.
Config small_config(ConfirmRule rule = ConfirmRule::all);

// The TOML text small_config() parses; a test may append to it before parsing.
std::string small_config_toml(ConfirmRule rule = ConfirmRule::all);

// Parses TOML text with parse_config(); throws std::runtime_error listing every error.
Config config_from_toml(std::string_view toml_text, std::string_view source_name = "test.toml");

}  // namespace incidentd::testing
