// Signed, expiring one-click acknowledgement links, put inside notifications. A link names the
// incident, the recipient, the notification it came with and when it expires, and carries an
// HMAC-SHA256 over exactly that, so nobody without the key can make or alter one. The token is
// "<base64url(payload)>.<base64url(mac)>"; the payload is compact JSON. That a link works only
// once is the caller's part: it records the link id (the notification id) when it is used.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "incidentd/time.hpp"

namespace incidentd::http {

struct AckLink {
  std::string incident_key;
  std::string recipient;
  std::string notification_id;  // also the link's id: one link per notification
  TimePoint expires_at{};       // whole seconds
};

class AckLinkSigner {
 public:
  static constexpr std::size_t kMinSecretBytes = 32;

  // Throws std::invalid_argument when the secret is shorter than kMinSecretBytes.
  explicit AckLinkSigner(std::string secret);
  // Reads the key from a file (trailing whitespace dropped); throws std::runtime_error naming
  // the file when it is missing, unreadable or too short.
  static AckLinkSigner from_file(const std::string& path);

  std::string sign(const AckLink& link) const;
  // base_url + "/v1/ack/" + sign(link)
  std::string url(std::string_view base_url, const AckLink& link) const;

  enum class Verdict { ok, malformed, forged, expired };
  struct Verified {
    Verdict verdict = Verdict::malformed;
    AckLink link;        // set for ok and expired
    std::string detail;  // why, for the error body
  };
  // Checks the signature first: an altered link is "forged" even when it has also expired.
  Verified verify(std::string_view token, TimePoint now) const;

 private:
  std::string mac(std::string_view payload) const;
  std::string secret_;
};

// The links put into notifications (notify/channel.hpp AckLinkMaker, which this matches):
// <public_url>/v1/ack/<token> for that incident, recipient and notification, expiring `ttl` after
// the notification was issued. It depends on nothing else, so the text and the webhook's ack_url
// of one notification, and every retry of it, carry the same link. `signer` must outlive it.
std::function<std::string(const std::string& incident_key, const std::string& recipient,
                          const std::string& notification_id, TimePoint issued_at)>
notification_link_maker(const AckLinkSigner& signer, std::string public_url, Duration ttl);

}  // namespace incidentd::http
