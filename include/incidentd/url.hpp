// The one URL type: what the configuration accepts (gateways, webhooks, public_url) is what the
// SMS gateways, the webhooks and incidentctl's client connect to. Only absolute http:// and
// https:// URLs; no user:password@ (credentials belong in files, never in a URL that is logged).
// A value type without I/O, so the domain core validates the configuration with it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace incidentd {

struct Url {
  bool tls = false;    // https
  std::string host;    // a name, an IPv4 address, or an IPv6 address without its brackets
  std::string port;    // digits; "80" or "443" when the URL has none
  std::string target;  // path and query, at least "/"; a #fragment is dropped (never sent)

  // The Host header's value: the port only when it is not the scheme's default.
  std::string authority() const;
};

// Nothing when `text` is not such a URL: another scheme, no host, userinfo, a port that is not
// a number from 1 to 65535, an unclosed IPv6 bracket, or spaces or control characters.
std::optional<Url> parse_url(std::string_view text);

// Percent-encodes everything but the unreserved characters of RFC 3986 (A-Z a-z 0-9 - . _ ~),
// which is also valid application/x-www-form-urlencoded.
std::string url_encode(std::string_view text);

// `url` with `query` appended after "?" or "&" (`url` itself when `query` is empty).
std::string with_query(std::string_view url, std::string_view query);

}  // namespace incidentd
