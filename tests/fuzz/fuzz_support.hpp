// What the fuzz targets share: the shipped example configuration (config/incidentd.toml), loaded
// once per process, and the input as a string_view. A target aborts (libFuzzer reports a crash)
// when a property it checks does not hold; __builtin_trap keeps that true in every build type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "incidentd/config.hpp"

namespace incidentd::fuzz {

const Config& example_config();

inline std::string_view input(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A property of the code under test failed: say which, then crash so libFuzzer keeps the input.
[[noreturn]] inline void broken(const char* what) {
  std::fprintf(stderr, "fuzz: property broken: %s\n", what);
  __builtin_trap();
}

}  // namespace incidentd::fuzz
