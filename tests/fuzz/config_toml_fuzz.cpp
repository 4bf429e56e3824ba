// The TOML configuration: any bytes give a Config or a list of errors (each with a message), never
// a crash; every error says what is wrong, and a Config that loads names at least one unit.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace incidentd;
  const std::string_view text = fuzz::input(data, size);
  const ConfigResult result = parse_config(text, "fuzz.toml");
  if (!result.config) {
    if (result.errors.empty()) fuzz::broken("a refused configuration without an error");
    for (const ConfigError& e : result.errors) {
      if (e.message.empty()) fuzz::broken("an error without a message");
    }
    return 0;
  }
  if (!result.errors.empty()) fuzz::broken("a configuration with errors that still loads");
  return 0;
}
