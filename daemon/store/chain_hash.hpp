// The timeline's hash chain, as a function: every row carries a SHA-256 over its content and its
// predecessor's hash, chained in commit order (tamper evidence). The store writes it
// (hash_chain.hpp); incidentctl verify recomputes it from the rows alone.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "incidentd/timeline_queries.hpp"

namespace incidentd {

// The hash the first row chains to.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// SHA-256 (hex) over a canonical, length-prefixed encoding of prev_hash and the row's seq,
// incident_key, at, action, milestone and body (docs/reports.md spells the encoding out).
// Throws StoreError when the digest cannot be computed.
std::string chain_hash(std::string_view prev_hash, const TimelineRow& row);

// The same over the fields as they are about to be stored; `milestone` null for none.
std::string chain_hash(std::string_view prev_hash, std::int64_t seq, std::string_view incident_key,
                       std::int64_t at_ms, std::string_view action, const std::string* milestone,
                       std::string_view body);

}  // namespace incidentd
