// Walks the timeline's hash chain from the first row and names the first row that was altered,
// inserted or removed. Reads through a store opened read-only; never writes.
// The chain proves the rows agree with each other; rows cut from the end, or a chain rebuilt
// from scratch, show only against a chain head quoted earlier (a printed report), so verify
// prints the head it ends on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "incidentd/timeline_queries.hpp"

namespace incidentd::report {

struct VerifyResult {
  bool intact = true;
  std::size_t rows = 0;           // rows checked
  std::optional<ChainHead> head;  // the last row of the chain, when intact
  // When not intact: the first problem found, in seq order.
  std::int64_t seq = 0;  // the row it is about
  std::string kind;      // "altered", "inserted", "removed"
  std::string detail;    // one sentence for the operator
  // Rewrites by migrations (not tampering: recorded by the migration that made them).
  std::vector<ChainRewrite> rewrites;
};

VerifyResult verify_chain(TimelineQueries& store);

}  // namespace incidentd::report
