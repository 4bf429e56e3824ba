// The event parser: the fast path (simdjson) and the reference parser (nlohmann) must agree on
// every input. The fast path may decline what the reference accepts (parse_event() then falls
// back), but what it accepts the reference accepts with the same Event; and parse_event(), the
// two together, answers exactly as the reference does. Trailing bytes after the value (a NUL, a
// second value) are rejected by both, so no input is set aside.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/event_fast_path.hpp"
#include "fuzz_support.hpp"
#include "incidentd/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace incidentd;
  const std::string_view text = fuzz::input(data, size);
  const Config& config = fuzz::example_config();

  const std::optional<Event> fast = parse_event_fast(text, config);
  const Parsed<Event> reference = parse_event_reference(text, config);
  const Parsed<Event> combined = parse_event(text, config);

  if (fast) {
    if (!reference) fuzz::broken("the fast path accepts what the reference parser rejects");
    if (!(*fast == *reference.value)) fuzz::broken("the fast path and the reference disagree");
  }
  if (combined.value.has_value() != reference.value.has_value()) {
    fuzz::broken("parse_event() and the reference parser disagree on acceptance");
  }
  if (combined && !(*combined.value == *reference.value)) {
    fuzz::broken("parse_event() and the reference parser give different events");
  }
  if (!reference && reference.error.empty()) fuzz::broken("a rejection without a reason");
  return 0;
}
