// The fast path of decode_state_record(): simdjson's validating DOM parser, read straight into a
// StateRecord (a replica decodes every record of the state topic, and nlohmann's tree was half of
// its catch-up: docs/cluster.md, "Replicas"). It answers only where the reference decoder
// (nlohmann) accepts the record and gives the same StateRecord; anything unusual (a repeated or
// unsorted key, a float, a null, a surrogate escape, an entry that does not read back as
// written, any rejection) returns nothing, and decode_state_record() takes the reference path,
// whose message says what is wrong. So rejections have one author, and the fast path can only
// make an accepted record cheaper: tests/unit/state_record_fast_test.cpp and the
// state_record_fuzz target hold the two to the same answers.
#pragma once

#include <optional>
#include <string_view>

#include "incidentd/state_record.hpp"

namespace incidentd {

std::optional<StateRecord> decode_state_record_fast(std::string_view text);
// decode_state_record() without the fast path: the reference, and the author of every rejection.
Parsed<StateRecord> decode_state_record_reference(std::string_view text);

}  // namespace incidentd
