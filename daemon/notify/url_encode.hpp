// Percent-encoding for query strings and form bodies, shared by the SMS gateways and the
// webhook signers.
#pragma once

#include <string>
#include <string_view>

namespace incidentd {

// Percent-encodes everything but the unreserved characters of RFC 3986 (A-Z a-z 0-9 - . _ ~),
// which is also valid application/x-www-form-urlencoded.
std::string url_encode(std::string_view text);

}  // namespace incidentd
