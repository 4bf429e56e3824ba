// Checks the timeline's hash chains, one per incident (store/chain_hash.hpp), and names every row
// altered, inserted, removed or reordered, with its incident and its place in that incident's
// chain. Reads through stores opened read-only; never writes.
// The chains prove the rows agree with each other; rows cut from the end of an incident's chain,
// or a chain rebuilt from scratch, show only against a head quoted earlier (a printed report) or
// as a gap in the file's seqs, so verify prints the heads it ends on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "incidentd/timeline_queries.hpp"

namespace incidentd::report {

// One break of a chain, or of the file's numbering.
struct ChainBreak {
  std::int64_t seq = 0;           // the row it is about, in this file
  std::string incident_key;       // the incident whose chain breaks; empty: a gap in the seqs
  std::int64_t incident_seq = 0;  // the row's place in that chain (0: not known)
  std::string kind;               // "altered", "inserted", "removed", "reordered"
  std::string detail;             // one sentence for the operator
};

struct VerifyResult {
  bool intact = true;
  std::size_t rows = 0;    // rows checked
  std::size_t chains = 0;  // incidents whose chains were checked
  // When intact: the file's last row (a report quotes it), and a SHA-256 over every incident's
  // head in incident_key order (chain_heads_digest), the same on every replica of a cluster that
  // holds the same rows, whatever order they were applied in.
  std::optional<ChainHead> head;
  std::string heads_digest;
  // When not intact: the first break in seq order, and every break (at most kMaxBreaks, in seq
  // order; breaks_found counts them all).
  std::int64_t seq = 0;
  std::string kind;
  std::string detail;
  std::vector<ChainBreak> breaks;
  std::size_t breaks_found = 0;
  // Rewrites by migrations (not tampering: recorded by the migration that made them).
  std::vector<ChainRewrite> rewrites;
};

inline constexpr std::size_t kMaxBreaks = 1000;

// Checks every chain. With a second reader on the same file (its own connection), the file's
// two halves are read and hashed on two threads.
VerifyResult verify_chain(TimelineQueries& store, TimelineQueries* second_reader = nullptr);

}  // namespace incidentd::report
