#include "fuzz_support.hpp"

#include <cstdlib>
#include <string>

namespace incidentd::fuzz {

const Config& example_config() {
  static const Config config = [] {
    ConfigResult loaded =
        load_config_file(std::string(INCIDENTD_SOURCE_DIR) + "/config/incidentd.toml");
    if (!loaded.config) {
      std::fprintf(stderr, "fuzz: config/incidentd.toml does not load\n");
      std::abort();
    }
    return *loaded.config;
  }();
  return config;
}

}  // namespace incidentd::fuzz
