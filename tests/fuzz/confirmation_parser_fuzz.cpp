// The confirmation parser: any bytes give either a confirmation that names a known milestone and
// a unit of the roster, or a rejection with a reason; never a crash.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "incidentd/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace incidentd;
  const Config& config = fuzz::example_config();
  const Parsed<Confirmation> parsed = parse_confirmation(fuzz::input(data, size), config);
  if (!parsed) {
    if (parsed.error.empty()) fuzz::broken("a rejection without a reason");
    return 0;
  }
  const Confirmation& c = *parsed.value;
  if (c.confirmation_id.empty() || c.incident_key.empty()) fuzz::broken("an accepted empty id");
  if (config.find_unit(c.unit) == nullptr) fuzz::broken("an accepted unit not in the roster");
  return 0;
}
