// The one-click ack-link token: any bytes are malformed, forged or expired, never a crash, and
// never "ok" without the key; a link that verifies signs back to the same token.
#include <cstddef>
#include <cstdint>
#include <string>

#include "crypto/crypto.hpp"
#include "fuzz_support.hpp"
#include "http/ack_link.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace incidentd;
  using http::AckLinkSigner;
  static const AckLinkSigner signer(std::string(40, 'k'));
  const std::string_view token = fuzz::input(data, size);
  const TimePoint now{std::chrono::hours(24 * 20600)};

  const AckLinkSigner::Verified v = signer.verify(token, now);
  if (v.verdict == AckLinkSigner::Verdict::ok || v.verdict == AckLinkSigner::Verdict::expired) {
    // Only a token made with the key gets this far: re-signing the link must give it back.
    if (signer.sign(v.link) != token) fuzz::broken("a verified token that its link does not sign");
  } else if (v.detail.empty()) {
    fuzz::broken("a refused token without a reason");
  }

  // Base64url: what decodes encodes back to the same text.
  if (const auto decoded = crypto::base64url_decode(token)) {
    if (crypto::base64url(*decoded) != token) fuzz::broken("base64url does not round-trip");
  }
  return 0;
}
