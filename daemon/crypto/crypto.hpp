// The crypto room: SHA-256, HMAC-SHA256 and base64 (plain and URL-safe), once, over OpenSSL's
// libcrypto. Everything that hashes, signs or encodes bytes goes through here: the timeline's
// hash chain, API token digests, the duty board's CSP hashes, webhook and ack-link signatures,
// the dead letters' copies of the original bytes. Digests and MACs are raw bytes; `to_hex`
// (core/hex.hpp) or `base64` spell them. Failures of OpenSSL itself throw std::runtime_error.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "core/hex.hpp"

// Opaque OpenSSL handles, so this header does not pull in <openssl/evp.h>.
struct evp_md_st;
struct evp_md_ctx_st;

namespace incidentd::crypto {

// The 32-byte SHA-256 digest of `bytes`.
std::string sha256(std::string_view bytes);

// SHA-256 over several pieces, reusing one context: the hash chain hashes a row of fields per
// timeline entry on the hot path, so the algorithm is looked up once, not per row.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void begin();
  void add(std::string_view bytes);
  // The digest of everything added since begin(), 32 raw bytes.
  std::string finish();
  // begin(), add(bytes), finish() spelled in lowercase hex (64 digits), without the raw
  // digest's own string: the hash chain's rows are hashed this way.
  std::string hex_digest_of(std::string_view bytes);
  // begin(), add(bytes), finish() into `out`, allocating nothing: verify checks millions of
  // rows' hashes against the hex they carry without spelling each digest in a string.
  void digest_into(std::string_view bytes, std::array<unsigned char, 32>& out);

 private:
  evp_md_st* md_;
  evp_md_ctx_st* ctx_;
};

// HMAC-SHA256 (RFC 2104), 32 raw bytes. An empty key or message is legal.
std::string hmac_sha256(std::string_view key, std::string_view message);

// Standard base64 with padding (RFC 4648 section 4).
std::string base64(std::string_view bytes);

// URL-safe base64 without padding (RFC 4648 section 5), as links and tokens carry it.
std::string base64url(std::string_view bytes);
// Strict decoding: only the URL-safe alphabet, no padding, zero leftover bits, so every byte
// string has exactly one spelling. Nothing when `text` is not such a spelling.
std::optional<std::string> base64url_decode(std::string_view text);

// Compares two byte strings in time that depends on their length only (secrets, signatures).
bool equal_in_constant_time(std::string_view a, std::string_view b);

}  // namespace incidentd::crypto
