#include "crypto/crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <stdexcept>

namespace incidentd::crypto {
namespace {

constexpr std::string_view kBase64Url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const unsigned char* bytes_of(std::string_view s) {
  // OpenSSL wants a non-null pointer even for no bytes (Feishu signs the empty message).
  static const unsigned char kNothing = 0;
  return s.empty() ? &kNothing : reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

std::string sha256(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(bytes_of(bytes), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr) !=
      1) {
    throw std::runtime_error("OpenSSL: SHA-256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), length);
}

Sha256::Sha256() : md_(EVP_MD_fetch(nullptr, "SHA2-256", nullptr)), ctx_(EVP_MD_CTX_new()) {
  if (md_ == nullptr || ctx_ == nullptr) {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
    throw std::runtime_error("OpenSSL: SHA-256 is not available");
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
  EVP_MD_free(md_);
}

void Sha256::begin() {
  if (EVP_DigestInit_ex2(ctx_, md_, nullptr) != 1) throw std::runtime_error("OpenSSL: digest init");
}

void Sha256::add(std::string_view bytes) {
  if (EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()) != 1) {
    throw std::runtime_error("OpenSSL: digest update");
  }
}

std::string Sha256::finish() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx_, digest.data(), &size) != 1) {
    throw std::runtime_error("OpenSSL: digest final");
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), size);
}

std::string Sha256::hex_digest_of(std::string_view bytes) {
  std::array<unsigned char, 32> digest{};
  digest_into(bytes, digest);
  std::string hex(2 * digest.size(), '\0');
  for (std::size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = hex_digit(digest[i] >> 4U);
    hex[2 * i + 1] = hex_digit(digest[i]);
  }
  return hex;
}

void Sha256::digest_into(std::string_view bytes, std::array<unsigned char, 32>& out) {
  begin();
  add(bytes);
  // SHA-256's digest is 32 bytes: the context was made for SHA2-256 alone.
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx_, out.data(), &size) != 1 || size != out.size()) {
    throw std::runtime_error("OpenSSL: digest final");
  }
}

namespace {

// One HMAC-SHA256 context per thread, its digest set once. OpenSSL 3's one-shot HMAC() fetches
// the MAC and the digest from the provider on every call: 4.4 % of the daemon's loop in a profile
// of notify_latency_bench, 1.7 % with a context keyed again per call, which keeps them (OpenSSL's
// crypto(7), "Performance").
class HmacSha256 {
 public:
  HmacSha256() {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac != nullptr) ctx_ = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);  // the context keeps its own reference
    char digest[] = "SHA2-256";
    const std::array<OSSL_PARAM, 2> params{
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
    if (ctx_ == nullptr || EVP_MAC_CTX_set_params(ctx_, params.data()) != 1) {
      EVP_MAC_CTX_free(ctx_);
      throw std::runtime_error("OpenSSL: HMAC-SHA256 is not available");
    }
  }
  ~HmacSha256() { EVP_MAC_CTX_free(ctx_); }
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  std::string mac(std::string_view key, std::string_view message) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    std::size_t length = 0;
    if (EVP_MAC_init(ctx_, bytes_of(key), key.size(), nullptr) != 1 ||
        EVP_MAC_update(ctx_, bytes_of(message), message.size()) != 1 ||
        EVP_MAC_final(ctx_, out.data(), &length, out.size()) != 1) {
      throw std::runtime_error("OpenSSL: HMAC-SHA256 failed");
    }
    return std::string(reinterpret_cast<const char*>(out.data()), length);
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
};

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view message) {
  thread_local HmacSha256 context;
  return context.mac(key, message);
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes_of(bytes),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n < 0 ? 0 : n));
  return out;
}

std::string base64url(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : bytes) {
    buffer = (buffer << 8U) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64Url[(buffer >> static_cast<unsigned>(bits)) & 63U];
    }
  }
  if (bits > 0) out += kBase64Url[(buffer << static_cast<unsigned>(6 - bits)) & 63U];
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const std::size_t v = kBase64Url.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    buffer = ((buffer << 6U) | static_cast<unsigned>(v)) & 0xffffU;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> static_cast<unsigned>(bits)) & 0xffU);
    }
  }
  // Leftover bits must be zero, so each byte string has exactly one spelling.
  if ((buffer & ((1U << static_cast<unsigned>(bits)) - 1U)) != 0) return std::nullopt;
  return out;
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace incidentd::crypto
