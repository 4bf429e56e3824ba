// The inputs topic's decoder (incidentd/forwarded_input.hpp) on arbitrary bytes: it never
// crashes, a rejection always has a reason, and what it accepts is a fixed point of encoding, so
// the owner applies exactly what the forwarding instance meant: re-encoded, it decodes to the
// same input, its door (`via`) included.
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "fuzz_support.hpp"
#include "incidentd/forwarded_input.hpp"

namespace {

bool same(const incidentd::ForwardedInput& a, const incidentd::ForwardedInput& b) {
  using incidentd::Acknowledgement;
  using incidentd::Confirmation;
  if (a.from != b.from || a.input.index() != b.input.index()) return false;
  if (const auto* x = std::get_if<Acknowledgement>(&a.input)) {
    const auto& y = std::get<Acknowledgement>(b.input);
    return x->incident_key == y.incident_key && x->recipient == y.recipient && x->at == y.at &&
           x->via == y.via;
  }
  const auto& x = std::get<Confirmation>(a.input);
  const auto& y = std::get<Confirmation>(b.input);
  return x.confirmation_id == y.confirmation_id && x.incident_key == y.incident_key &&
         x.milestone == y.milestone && x.unit == y.unit && x.released_at == y.released_at &&
         x.channel == y.channel && x.url == y.url && x.speaker == y.speaker && x.via == y.via;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace incidentd;
  const Config& config = fuzz::example_config();
  const Parsed<ForwardedInput> first = decode_forwarded_input(fuzz::input(data, size), config);
  if (!first) {
    if (first.error.empty()) fuzz::broken("a rejection without a reason");
    return 0;
  }
  if (first.value->incident_key().empty()) fuzz::broken("an accepted empty incident_key");
  const std::string text = encode_forwarded_input(*first.value);
  const Parsed<ForwardedInput> second = decode_forwarded_input(text, config);
  if (!second) fuzz::broken("an accepted input, encoded, is rejected");
  if (!same(*first.value, *second.value)) fuzz::broken("the input changed on the way");
  if (encode_forwarded_input(*second.value) != text) fuzz::broken("encoding is not a fixed point");
  return 0;
}
