// The timeline's hash chains, as functions: every row carries a SHA-256 over its content and the
// hash of the row before it in its incident (tamper evidence). One chain per incident, each
// starting from a genesis hash derived from the incident's key, so every replica of a cluster
// that holds the same rows of an incident computes the same hashes, whatever order it applied
// the incidents in. The store writes them (hash_chain.hpp); incidentctl verify recomputes them
// from the rows alone. docs/reports.md spells the encoding out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/timeline_queries.hpp"

namespace incidentd {

// The hash an incident's first row chains to: SHA-256 (hex) over
// "incidentd-timeline-v2-genesis\n" field(incident_key). Throws StoreError.
std::string chain_genesis(std::string_view incident_key);

// SHA-256 (hex) over a canonical, length-prefixed encoding of prev_hash and the row's
// incident_seq (its place in its incident's chain, from 1), incident_key, at, action, milestone
// and body. The file-local seq is not covered: replicas number rows differently.
// Throws StoreError when the digest cannot be computed.
std::string chain_hash(std::string_view prev_hash, const TimelineRow& row);

// Whether `hex` is chain_hash(prev_hash, row), computed without spelling the digest in a string
// (verify checks millions of rows). Throws StoreError as chain_hash does.
bool chain_hash_matches(std::string_view prev_hash, const TimelineRow& row, std::string_view hex);

// The same over the fields as they are about to be stored; `milestone` null for none.
std::string chain_hash(std::string_view prev_hash, std::int64_t incident_seq,
                       std::string_view incident_key, std::int64_t at_ms, std::string_view action,
                       const std::string* milestone, std::string_view body);

// The head of one incident's chain.
struct IncidentChainHead {
  std::string incident_key;
  std::int64_t incident_seq = 0;
  std::string hash;
};

// SHA-256 (hex) over "incidentd-chain-heads-v1\n" and, per chain in incident_key order,
// field(incident_key) field(incident_seq) field(hash): the whole timeline in one hash that every
// replica holding the same rows computes alike (the file's last row differs between replicas).
std::string chain_heads_digest(std::vector<IncidentChainHead> heads);

// Schema 2 to 10: one global chain in seq order, from 64 zeros, over the row's seq instead of
// its incident_seq ("incidentd-timeline-v1"). Only the migrations that wrote it and the one that
// checks it before re-chaining per incident (schema 11) use it.
inline constexpr std::string_view kGlobalGenesisHashV1 =
    "0000000000000000000000000000000000000000000000000000000000000000";
std::string chain_hash_v1(std::string_view prev_hash, std::int64_t seq,
                          std::string_view incident_key, std::int64_t at_ms,
                          std::string_view action, const std::string* milestone,
                          std::string_view body);

}  // namespace incidentd
