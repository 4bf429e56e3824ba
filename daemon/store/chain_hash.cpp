#include "store/chain_hash.hpp"

#include <cstdio>
#include <stdexcept>

#include "crypto/crypto.hpp"
#include "incidentd/store.hpp"

namespace incidentd {

std::string chain_hash(std::string_view prev_hash, std::int64_t seq, std::string_view incident_key,
                       std::int64_t at_ms, std::string_view action, const std::string* milestone,
                       std::string_view body) {
  // One context per thread: the algorithm is looked up once, not for every row of the hot path.
  thread_local crypto::Sha256 sha;
  // A field as "<byte length>:<bytes>", so no two different rows encode the same.
  const auto field = [](std::string_view bytes) {
    char length[24];
    const int n = std::snprintf(length, sizeof length, "%zu:", bytes.size());
    sha.add(std::string_view(length, static_cast<std::size_t>(n)));
    sha.add(bytes);
  };
  try {
    sha.begin();
    sha.add("incidentd-timeline-v1\n");
    field(prev_hash);
    field(std::to_string(seq));
    field(incident_key);
    field(std::to_string(at_ms));
    field(action);
    if (milestone != nullptr) {
      field(*milestone);
    } else {
      sha.add(
          "-");  // no length prefix starts with '-': a NULL milestone encodes apart from any text
    }
    field(body);
    return to_hex(sha.finish());
  } catch (const std::runtime_error& e) {
    throw StoreError(e.what());
  }
}

std::string chain_hash(std::string_view prev_hash, const TimelineRow& row) {
  return chain_hash(prev_hash, row.seq, row.incident_key, row.at_ms, row.action,
                    row.milestone ? &*row.milestone : nullptr, row.body);
}

}  // namespace incidentd
