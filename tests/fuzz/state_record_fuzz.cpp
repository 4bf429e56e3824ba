// The state topic's record decoder (incidentd/state_record.hpp) on arbitrary bytes: it never
// crashes, a rejection always has a reason, and what it accepts is a fixed point of encoding:
// encoded and decoded again it reads the same, so a replica that applies a record and one that
// applies its re-encoding agree. Its fast path (simdjson, core/state_record_fast.hpp) may decline
// what the reference (nlohmann) accepts, but what it accepts the reference accepts, encoding
// the same; and decode_state_record(), the two together, answers as the reference does.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "core/state_record_fast.hpp"
#include "fuzz_support.hpp"
#include "incidentd/state_record.hpp"

namespace {

using namespace incidentd;

bool same(const StateRecord& a, const StateRecord& b) {
  return a.by == b.by && a.seq == b.seq && a.state == b.state && a.actions == b.actions &&
         a.deliveries == b.deliveries && encode_state_record(a) == encode_state_record(b);
}

void check_parity(std::string_view text, const Parsed<StateRecord>& combined) {
  const std::optional<StateRecord> fast = decode_state_record_fast(text);
  const Parsed<StateRecord> reference = decode_state_record_reference(text);
  if (fast) {
    if (!reference) fuzz::broken("the fast path accepts what the reference decoder rejects");
    if (!same(*fast, *reference.value)) fuzz::broken("the fast path and the reference disagree");
  }
  if (combined.value.has_value() != reference.value.has_value()) {
    fuzz::broken("decode_state_record() and the reference disagree on acceptance");
  }
  if (combined && !same(*combined.value, *reference.value)) {
    fuzz::broken("decode_state_record() and the reference give different records");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = fuzz::input(data, size);
  const Parsed<StateRecord> first = decode_state_record(input);
  check_parity(input, first);
  if (!first) {
    if (first.error.empty()) fuzz::broken("a rejection without a reason");
    return 0;
  }
  const std::string text = encode_state_record(*first.value);
  const Parsed<StateRecord> second = decode_state_record(text);
  if (!second) fuzz::broken("an accepted record, encoded, is rejected");
  check_parity(text, second);
  if (encode_state_record(*second.value) != text) fuzz::broken("encoding is not a fixed point");
  if (second.value->state != first.value->state) fuzz::broken("the state changed on the way");
  if (second.value->actions != first.value->actions) fuzz::broken("the timeline changed");
  if (second.value->deliveries != first.value->deliveries) fuzz::broken("deliveries changed");
  if (second.value->by != first.value->by) fuzz::broken("the writer changed");
  return 0;
}
