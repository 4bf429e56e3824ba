// One-click ack links: what is signed verifies, anything altered is forged, expiry is exact to
// the second, and the token survives a URL path.
#include "http/ack_link.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <unistd.h>

using incidentd::TimePoint;
using incidentd::http::AckLink;
using incidentd::http::AckLinkSigner;
using Verdict = AckLinkSigner::Verdict;
using namespace std::chrono_literals;

namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef-test-key";
const TimePoint kNow = TimePoint(std::chrono::seconds(1'795'000'000));

AckLink sample_link() {
  return {"zt-landslide-20261126", "zt-duty1", "zt-landslide-20261126/3/zt-duty1/1", kNow + 1h};
}

// Flips one character of the token at `at`, keeping it inside the base64url alphabet.
std::string altered(std::string token, std::size_t at) {
  token[at] = token[at] == 'A' ? 'B' : 'A';
  return token;
}

}  // namespace

TEST_CASE("a signed link verifies and gives back what was signed", "[http][ack_link]") {
  const AckLinkSigner signer(kSecret);
  const auto result = signer.verify(signer.sign(sample_link()), kNow);
  REQUIRE(result.verdict == Verdict::ok);
  CHECK(result.link.incident_key == "zt-landslide-20261126");
  CHECK(result.link.recipient == "zt-duty1");
  CHECK(result.link.notification_id == "zt-landslide-20261126/3/zt-duty1/1");
  CHECK(result.link.expires_at == kNow + 1h);
}

TEST_CASE("a link altered anywhere is forged", "[http][ack_link]") {
  const AckLinkSigner signer(kSecret);
  const std::string token = signer.sign(sample_link());
  const std::size_t dot = token.find('.');
  REQUIRE(dot != std::string::npos);
  CHECK(signer.verify(altered(token, 2), kNow).verdict == Verdict::forged);        // payload
  CHECK(signer.verify(altered(token, dot + 3), kNow).verdict == Verdict::forged);  // signature
}

TEST_CASE("a link for another recipient made without the key is forged", "[http][ack_link]") {
  const AckLinkSigner signer(kSecret);
  const AckLinkSigner impostor("another key that is long enough to be accepted!!");
  AckLink link = sample_link();
  link.recipient = "zt-principal";
  CHECK(signer.verify(impostor.sign(link), kNow).verdict == Verdict::forged);
  // The payload of a genuine link with a signature from a different link.
  const std::string genuine = signer.sign(sample_link());
  const std::string other = signer.sign(link);
  const std::string spliced = genuine.substr(0, genuine.find('.')) + other.substr(other.find('.'));
  CHECK(signer.verify(spliced, kNow).verdict == Verdict::forged);
}

TEST_CASE("a link works until the second it expires", "[http][ack_link]") {
  const AckLinkSigner signer(kSecret);
  const std::string token = signer.sign(sample_link());
  CHECK(signer.verify(token, kNow + 1h - 1ms).verdict == Verdict::ok);
  CHECK(signer.verify(token, kNow + 1h).verdict == Verdict::expired);
  CHECK(signer.verify(token, kNow + 2h).verdict == Verdict::expired);
}

TEST_CASE("an expired link that was also altered is forged, not expired", "[http][ack_link]") {
  const AckLinkSigner signer(kSecret);
  const std::string token = altered(signer.sign(sample_link()), 5);
  CHECK(signer.verify(token, kNow + 2h).verdict == Verdict::forged);
}

TEST_CASE("garbage is malformed", "[http][ack_link]") {
  const AckLinkSigner signer(kSecret);
  CHECK(signer.verify("", kNow).verdict == Verdict::malformed);
  CHECK(signer.verify("no-dot-here", kNow).verdict == Verdict::malformed);
  CHECK(signer.verify("abc$.def", kNow).verdict == Verdict::malformed);
}

TEST_CASE("the url is the base and a token in one path segment", "[http][ack_link]") {
  const AckLinkSigner signer(kSecret);
  const std::string url = signer.url("https://incidentd.example.org/", sample_link());
  const std::string prefix = "https://incidentd.example.org/v1/ack/";
  REQUIRE(url.substr(0, prefix.size()) == prefix);
  const std::string token = url.substr(prefix.size());
  CHECK(token.find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
        std::string::npos);
  CHECK(signer.verify(token, kNow).verdict == Verdict::ok);
}

TEST_CASE("a short key is refused, from a file too", "[http][ack_link]") {
  CHECK_THROWS_AS(AckLinkSigner("too short"), std::invalid_argument);
  const auto dir =
      std::filesystem::temp_directory_path() / ("ack-link-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "key").string();
  { std::ofstream(path) << "short\n"; }
  CHECK_THROWS_WITH(AckLinkSigner::from_file(path), Catch::Contains("at least 32 bytes"));
  { std::ofstream(path) << kSecret << "\n"; }
  const AckLinkSigner from_file = AckLinkSigner::from_file(path);
  // The trailing newline is not part of the key: links agree with a signer given the bare key.
  CHECK(from_file.verify(AckLinkSigner(kSecret).sign(sample_link()), kNow).verdict == Verdict::ok);
  CHECK_THROWS_WITH(AckLinkSigner::from_file((dir / "absent").string()),
                    Catch::Contains("cannot open"));
  std::filesystem::remove_all(dir);
}
