// The one URL parser (include/incidentd/url.hpp): what the configuration accepts is what the SMS
// gateways, the webhooks and incidentctl connect to, so every refusal here is a refusal at load.
#include "incidentd/url.hpp"

#include <catch2/catch.hpp>

namespace incidentd {
namespace {

TEST_CASE("URLs are split into host, port and target, anything else is refused") {
  auto u = parse_url("http://127.0.0.1:13013/cgi-bin/sendsms");
  REQUIRE(u);
  CHECK_FALSE(u->tls);
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == "13013");
  CHECK(u->target == "/cgi-bin/sendsms");
  u = parse_url("https://sms.example.cn?x=1");
  REQUIRE(u);
  CHECK(u->port == "443");
  CHECK(u->target == "/?x=1");
  CHECK_FALSE(parse_url("ftp://x/"));
  CHECK_FALSE(parse_url("http://user:pw@x/"));
  CHECK_FALSE(parse_url("http://:80/"));
}

TEST_CASE("IPv6 hosts lose their brackets and get them back in the Host header") {
  auto u = parse_url("http://[::1]:8080/hook");
  REQUIRE(u);
  CHECK(u->host == "::1");
  CHECK(u->port == "8080");
  CHECK(u->authority() == "[::1]:8080");
  u = parse_url("https://[2001:db8::1]");
  REQUIRE(u);
  CHECK(u->port == "443");
  CHECK(u->target == "/");
  CHECK(u->authority() == "[2001:db8::1]");
  CHECK_FALSE(parse_url("http://[::1/x"));   // unclosed
  CHECK_FALSE(parse_url("http://[::1]x/"));  // junk after the bracket
  CHECK_FALSE(parse_url("http://::1:80/"));  // an IPv6 address needs its brackets
}

TEST_CASE("the port is a number from 1 to 65535, and the default port stays out of Host") {
  CHECK_FALSE(parse_url("http://x:/"));
  CHECK_FALSE(parse_url("http://x:0/"));
  CHECK_FALSE(parse_url("http://x:65536/"));
  CHECK_FALSE(parse_url("http://x:+80/"));
  CHECK_FALSE(parse_url("http://x:8o/"));
  REQUIRE(parse_url("http://x:65535/"));
  CHECK(parse_url("http://x:80/")->authority() == "x");
  CHECK(parse_url("https://x:80/")->authority() == "x:80");
}

TEST_CASE("spaces, control characters and a bare scheme are refused, and a fragment is dropped") {
  CHECK_FALSE(parse_url(""));
  CHECK_FALSE(parse_url("http://"));
  CHECK_FALSE(parse_url("https://"));
  CHECK_FALSE(parse_url("http://a b/"));
  CHECK_FALSE(parse_url("http://x/\n"));
  CHECK_FALSE(parse_url("HTTP://x/"));  // schemes are matched as the configuration writes them
  const auto u = parse_url("http://x/p?q=1#part");
  REQUIRE(u);
  CHECK(u->target == "/p?q=1");
}

TEST_CASE("URL encoding") {
  CHECK(url_encode("a+b/c=d e~") == "a%2Bb%2Fc%3Dd%20e~");
  CHECK(url_encode("预警") == "%E9%A2%84%E8%AD%A6");
}

TEST_CASE("a query is appended after ? or &, and nothing is appended for none") {
  CHECK(with_query("/send", "a=1") == "/send?a=1");
  CHECK(with_query("/send?x=2", "a=1") == "/send?x=2&a=1");
  CHECK(with_query("/send", "") == "/send");
}

}  // namespace
}  // namespace incidentd
