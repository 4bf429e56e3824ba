// The snapshot's simdjson reader (state_codec_fast.cpp) on an element of a document parsed
// already: the change record's fast path (state_record_fast.cpp) reads its "state" with it.
// Internal to daemon/core: simdjson stays out of the public headers.
#pragma once

#include <simdjson.h>

#include <optional>

#include "incidentd/incident.hpp"

namespace incidentd {

// What state_from_json() gives for this element, or nullopt wherever that would differ or throw,
// as state_from_json_text_fast(). Keys appear once (the caller checks it).
std::optional<IncidentState> state_from_element_fast(simdjson::dom::element e);

}  // namespace incidentd
