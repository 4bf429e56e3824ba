#include "store/chain_hash.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>

#include "crypto/crypto.hpp"
#include "incidentd/store.hpp"

namespace incidentd {
namespace {

// The row's canonical encoding, built in one buffer so the digest runs once over it: `verify`
// hashes millions of rows, and a digest update per field (with a formatted length each) cost
// more than the SHA-256 itself.
class Encoding {
 public:
  void begin(std::string_view tag) { bytes_.assign(tag); }
  // A field as "<byte length>:<bytes>", so no two different rows encode the same.
  void field(std::string_view bytes) {
    decimal(static_cast<std::uint64_t>(bytes.size()));
    bytes_ += ':';
    bytes_.append(bytes);
  }
  // An integer field: its decimal text as a field.
  void field(std::int64_t value) {
    char text[24];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, value);
    field(std::string_view(text, static_cast<std::size_t>(end - text)));
  }
  void raw(std::string_view bytes) { bytes_.append(bytes); }
  std::string_view bytes() const { return bytes_; }

 private:
  void decimal(std::uint64_t value) {
    char text[24];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, value);
    bytes_.append(text, end);
  }

  std::string bytes_;
};

crypto::Sha256& sha() {
  thread_local crypto::Sha256 sha;
  return sha;
}

std::string digest(const Encoding& encoding) {
  try {
    return sha().hex_digest_of(encoding.bytes());
  } catch (const std::runtime_error& e) {
    throw StoreError(e.what());
  }
}

// Whether `hex` spells the digest of `encoding` in lowercase hex.
bool digest_is(const Encoding& encoding, std::string_view hex) {
  std::array<unsigned char, 32> d{};
  try {
    sha().digest_into(encoding.bytes(), d);
  } catch (const std::runtime_error& e) {
    throw StoreError(e.what());
  }
  if (hex.size() != 2 * d.size()) return false;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (hex[2 * i] != hex_digit(d[i] >> 4U) || hex[2 * i + 1] != hex_digit(d[i])) return false;
  }
  return true;
}

// One buffer per thread: it grows to the longest row once, not for every row of the hot path.
// The number is the incident_seq (v2) or the global seq (v1).
const Encoding& row_encoding(std::string_view tag, std::string_view prev_hash, std::int64_t number,
                             std::string_view incident_key, std::int64_t at_ms,
                             std::string_view action, const std::string* milestone,
                             std::string_view body) {
  thread_local Encoding encoding;
  encoding.begin(tag);
  encoding.field(prev_hash);
  encoding.field(number);
  encoding.field(incident_key);
  encoding.field(at_ms);
  encoding.field(action);
  if (milestone != nullptr) {
    encoding.field(*milestone);
  } else {
    encoding.raw(
        "-");  // no length prefix starts with '-': a NULL milestone encodes apart from any text
  }
  encoding.field(body);
  return encoding;
}

constexpr std::string_view kTagV2 = "incidentd-timeline-v2\n";

}  // namespace

std::string chain_genesis(std::string_view incident_key) {
  thread_local Encoding encoding;
  encoding.begin("incidentd-timeline-v2-genesis\n");
  encoding.field(incident_key);
  return digest(encoding);
}

std::string chain_hash(std::string_view prev_hash, std::int64_t incident_seq,
                       std::string_view incident_key, std::int64_t at_ms, std::string_view action,
                       const std::string* milestone, std::string_view body) {
  return digest(
      row_encoding(kTagV2, prev_hash, incident_seq, incident_key, at_ms, action, milestone, body));
}

std::string chain_hash(std::string_view prev_hash, const TimelineRow& row) {
  return chain_hash(prev_hash, row.incident_seq, row.incident_key, row.at_ms, row.action,
                    row.milestone ? &*row.milestone : nullptr, row.body);
}

bool chain_hash_matches(std::string_view prev_hash, const TimelineRow& row, std::string_view hex) {
  return digest_is(row_encoding(kTagV2, prev_hash, row.incident_seq, row.incident_key, row.at_ms,
                                row.action, row.milestone ? &*row.milestone : nullptr, row.body),
                   hex);
}

std::string chain_heads_digest(std::vector<IncidentChainHead> heads) {
  std::sort(heads.begin(), heads.end(),
            [](const auto& a, const auto& b) { return a.incident_key < b.incident_key; });
  Encoding encoding;
  encoding.begin("incidentd-chain-heads-v1\n");
  for (const IncidentChainHead& h : heads) {
    encoding.field(h.incident_key);
    encoding.field(h.incident_seq);
    encoding.field(h.hash);
  }
  return digest(encoding);
}

std::string chain_hash_v1(std::string_view prev_hash, std::int64_t seq,
                          std::string_view incident_key, std::int64_t at_ms,
                          std::string_view action, const std::string* milestone,
                          std::string_view body) {
  return digest(row_encoding("incidentd-timeline-v1\n", prev_hash, seq, incident_key, at_ms, action,
                             milestone, body));
}

}  // namespace incidentd
