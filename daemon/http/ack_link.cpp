#include "http/ack_link.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace incidentd::http {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sextet(char c) {
  const std::size_t at = kAlphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    const unsigned v = byte(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = sextet(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  // Leftover bits must be zero, so each token has exactly one spelling.
  if ((buffer & ((1U << bits) - 1)) != 0) return std::nullopt;
  return out;
}

AckLinkSigner::AckLinkSigner(std::string secret) : secret_(std::move(secret)) {
  if (secret_.size() < kMinSecretBytes) {
    throw std::invalid_argument("the ack link key must have at least " +
                                std::to_string(kMinSecretBytes) + " bytes, it has " +
                                std::to_string(secret_.size()));
  }
}

AckLinkSigner AckLinkSigner::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open the ack link key file \"" + path + "\"");
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back())) != 0) {
    secret.pop_back();
  }
  try {
    return AckLinkSigner(std::move(secret));
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("ack link key file \"" + path + "\": " + e.what() +
                             " (make one with: head -c 32 /dev/urandom | base64 > FILE)");
  }
}

std::string AckLinkSigner::mac(std::string_view payload) const {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int length = 0;
  const unsigned char* ok = HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
                                 reinterpret_cast<const unsigned char*>(payload.data()),
                                 payload.size(), out.data(), &length);
  if (ok == nullptr) throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(out.data()), length);
}

std::string AckLinkSigner::sign(const AckLink& link) const {
  const auto expires =
      std::chrono::duration_cast<std::chrono::seconds>(link.expires_at.time_since_epoch()).count();
  const nlohmann::json j = {
      {"i", link.incident_key}, {"r", link.recipient}, {"n", link.notification_id}, {"e", expires}};
  const std::string payload = j.dump();
  return base64url_encode(payload) + "." + base64url_encode(mac(payload));
}

std::string AckLinkSigner::url(std::string_view base_url, const AckLink& link) const {
  std::string out(base_url);
  while (!out.empty() && out.back() == '/') out.pop_back();
  return out + "/v1/ack/" + sign(link);
}

AckLinkSigner::Verified AckLinkSigner::verify(std::string_view token, TimePoint now) const {
  Verified result;
  const std::size_t dot = token.find('.');
  if (dot == std::string_view::npos) {
    result.detail = "the link is not \"<payload>.<signature>\"";
    return result;
  }
  const auto payload = base64url_decode(token.substr(0, dot));
  const auto signature = base64url_decode(token.substr(dot + 1));
  if (!payload || !signature) {
    result.detail = "the link is not base64url";
    return result;
  }
  const std::string expected = mac(*payload);
  if (signature->size() != expected.size() ||
      CRYPTO_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    result.verdict = Verdict::forged;
    result.detail = "the link's signature does not match: it was altered or not made by us";
    return result;
  }
  // Signed by us, so the payload is ours; still, parse defensively.
  const nlohmann::json j = nlohmann::json::parse(*payload, nullptr, false);
  if (!j.is_object() || !j.contains("i") || !j["i"].is_string() || !j.contains("r") ||
      !j["r"].is_string() || !j.contains("n") || !j["n"].is_string() || !j.contains("e") ||
      !j["e"].is_number_integer()) {
    result.detail = "the link's payload lacks a field";
    return result;
  }
  result.link.incident_key = j["i"].get<std::string>();
  result.link.recipient = j["r"].get<std::string>();
  result.link.notification_id = j["n"].get<std::string>();
  result.link.expires_at = TimePoint(std::chrono::seconds(j["e"].get<std::int64_t>()));
  if (now >= result.link.expires_at) {
    result.verdict = Verdict::expired;
    result.detail = "the link expired";
    return result;
  }
  result.verdict = Verdict::ok;
  return result;
}

std::function<std::string(const std::string&, const std::string&, const std::string&, TimePoint)>
notification_link_maker(const AckLinkSigner& signer, std::string public_url, Duration ttl) {
  return [&signer, public_url = std::move(public_url), ttl](
             const std::string& incident_key, const std::string& recipient,
             const std::string& notification_id, TimePoint issued_at) {
    return signer.url(public_url, {incident_key, recipient, notification_id, issued_at + ttl});
  };
}

}  // namespace incidentd::http
