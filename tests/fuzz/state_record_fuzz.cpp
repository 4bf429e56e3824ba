// The state topic's record decoder (incidentd/state_record.hpp) on arbitrary bytes: it never
// crashes, a rejection always has a reason, and what it accepts is a fixed point of encoding:
// encoded and decoded again it reads the same, so a replica that applies a record and one that
// applies its re-encoding agree.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "incidentd/state_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace incidentd;
  const Parsed<StateRecord> first = decode_state_record(fuzz::input(data, size));
  if (!first) {
    if (first.error.empty()) fuzz::broken("a rejection without a reason");
    return 0;
  }
  const std::string text = encode_state_record(*first.value);
  const Parsed<StateRecord> second = decode_state_record(text);
  if (!second) fuzz::broken("an accepted record, encoded, is rejected");
  if (encode_state_record(*second.value) != text) fuzz::broken("encoding is not a fixed point");
  if (second.value->state != first.value->state) fuzz::broken("the state changed on the way");
  if (second.value->actions != first.value->actions) fuzz::broken("the timeline changed");
  if (second.value->deliveries != first.value->deliveries) fuzz::broken("deliveries changed");
  if (second.value->by != first.value->by) fuzz::broken("the writer changed");
  return 0;
}
