// The crypto room against published test vectors: SHA-256 (FIPS 180-2 examples), HMAC-SHA256
// (RFC 4231), base64 (RFC 4648 section 10), base64url round trips with one spelling per value.
#include "crypto/crypto.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <thread>

namespace incidentd::crypto {
namespace {

TEST_CASE("SHA-256 matches FIPS 180-2, in one call and in pieces") {
  CHECK(to_hex(sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(to_hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 pieces;
  for (int round = 0; round < 2; ++round) {  // a context is reusable after finish()
    pieces.begin();
    pieces.add("a");
    pieces.add("");
    pieces.add("bc");
    CHECK(pieces.finish() == sha256("abc"));
  }
}

TEST_CASE("HMAC-SHA256 matches RFC 4231") {
  // Test case 2.
  CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 1: key 0x0b x 20, "Hi There".
  CHECK(to_hex(hmac_sha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 6: a key longer than the block size.
  CHECK(to_hex(hmac_sha256(std::string(131, '\xaa'),
                           "Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // An empty message is legal (Feishu signs one), and so is an empty key.
  CHECK(hmac_sha256("key", "").size() == 32);
  CHECK(to_hex(hmac_sha256("", "")) ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  // Each call has its own key: the thread's context is keyed again, nothing of the last stays.
  CHECK(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("HMAC-SHA256 on another thread gives the same answer") {
  std::string other;
  std::thread([&] { other = to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")); }).join();
  CHECK(other == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("base64 of every remainder length") {
  CHECK(base64("") == "");
  CHECK(base64("f") == "Zg==");
  CHECK(base64("fo") == "Zm8=");
  CHECK(base64("foo") == "Zm9v");
  CHECK(base64("foob") == "Zm9vYg==");
  CHECK(base64("foobar") == "Zm9vYmFy");
}

TEST_CASE("base64url round-trips every length and has one spelling") {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    const std::string encoded = base64url(bytes);
    CHECK(encoded.find_first_of("+/=") == std::string::npos);
    const auto decoded = base64url_decode(encoded);
    REQUIRE(decoded);
    CHECK(*decoded == bytes);
    bytes += static_cast<char>(i * 37 + 200);
  }
  CHECK(base64url("f") == "Zg");
  CHECK(base64url("\xfb\xff") == "-_8");  // the two characters that differ from base64
  CHECK_FALSE(base64url_decode("Zh"));    // same byte, non-zero leftover bits
  CHECK_FALSE(base64url_decode("Z"));
  CHECK_FALSE(base64url_decode("Zg=="));  // no padding
  CHECK_FALSE(base64url_decode("Z+"));    // not the URL-safe alphabet
}

TEST_CASE("constant-time equality compares length and bytes") {
  CHECK(equal_in_constant_time("abc", "abc"));
  CHECK(equal_in_constant_time("", ""));
  CHECK_FALSE(equal_in_constant_time("abc", "abd"));
  CHECK_FALSE(equal_in_constant_time("abc", "ab"));
}

TEST_CASE("hex is two lowercase digits per byte") {
  CHECK(to_hex(std::string("\x00\x7f\xab\xff", 4)) == "007fabff");
  CHECK(hex_digit(0x1a) == 'a');
}

}  // namespace
}  // namespace incidentd::crypto
