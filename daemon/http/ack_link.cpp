#include "http/ack_link.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "crypto/crypto.hpp"

namespace incidentd::http {

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
  return crypto::hmac_sha256(secret_, payload);
}

std::string AckLinkSigner::sign(const AckLink& link) const {
  const auto expires =
      std::chrono::duration_cast<std::chrono::seconds>(link.expires_at.time_since_epoch()).count();
  const nlohmann::json j = {
      {"i", link.incident_key}, {"r", link.recipient}, {"n", link.notification_id}, {"e", expires}};
  const std::string payload = j.dump();
  return crypto::base64url(payload) + "." + crypto::base64url(mac(payload));
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
  const auto payload = crypto::base64url_decode(token.substr(0, dot));
  const auto signature = crypto::base64url_decode(token.substr(dot + 1));
  if (!payload || !signature) {
    result.detail = "the link is not base64url";
    return result;
  }
  const std::string expected = mac(*payload);
  if (!crypto::equal_in_constant_time(*signature, expected)) {
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
