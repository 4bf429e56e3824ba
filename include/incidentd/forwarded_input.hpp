// An acknowledgement or a release confirmation that reached an instance of a cluster that does
// not own its incident (HTTP, an SMS reply), as that instance forwards it to the owner on the
// inputs topic (docs/cluster.md, "Inputs from any door"). Versioned JSON, keyed by incident_key;
// a confirmation travels as the releases topic's own message, read by the same codec. The
// decoder is for messages from the broker: anything it could not hand to the engine exactly is
// refused with a reason that names the field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"

namespace incidentd {

// The value of "v" this build writes and the only one it reads.
inline constexpr std::int64_t kForwardedInputVersion = 1;

struct ForwardedInput {
  // Its `via` says through which door it came ("http", "sms", "link"), as if applied there.
  std::variant<Acknowledgement, Confirmation> input;
  std::string from;  // the forwarding instance's [cluster] instance_id; may be empty

  const std::string& incident_key() const;
  std::string_view kind() const;  // "acknowledgement" or "confirmation"
};

// Compact JSON (the format is in docs/cluster.md).
std::string encode_forwarded_input(const ForwardedInput& input);
// The roster of `config` checks a confirmation's unit, as on the releases topic.
Parsed<ForwardedInput> decode_forwarded_input(std::string_view text, const Config& config);

// A confirmation as the releases topic carries it (schema 1; instants in UTC):
// parse_confirmation reads it back the same, but for `via`, which the topic does not carry.
std::string encode_confirmation(const Confirmation& c);

}  // namespace incidentd
