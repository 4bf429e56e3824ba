// The fast path of parse_event(): simdjson's validating DOM parser for the one message shape that
// arrives by the million (a well-formed monitoring event from a known unit). It accepts a message
// only when every field is exactly what parse_event() accepts, and gives the same Event. Anything
// else (an error, an odd type, a duplicated field) returns nothing, and parse_event() falls back to
// the nlohmann path, which says precisely what is wrong. So the error messages have one author,
// and the fast path can only make an accepted message cheaper, never change its meaning:
// tests/unit/event_fast_path_test.cpp holds the two paths to the same answers.
#pragma once

#include <optional>
#include <string_view>

#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"

namespace incidentd {

std::optional<Event> parse_event_fast(std::string_view text, const Config& config);
// parse_event() without the fast path: the reference, and the author of every rejection.
Parsed<Event> parse_event_reference(std::string_view text, const Config& config);

}  // namespace incidentd
