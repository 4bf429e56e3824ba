// Lowercase hexadecimal: the one digit table of the project. Header-only and free of OpenSSL, so
// the domain core (its JSON escapes) and the service's log escapes use it as the digests do.
#pragma once

#include <string>
#include <string_view>

namespace incidentd {

// The lowercase hex digit of the low four bits of `nibble`.
constexpr char hex_digit(unsigned nibble) {
  return "0123456789abcdef"[nibble & 0xfU];
}

// Two lowercase hex digits per byte.
inline std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += hex_digit(b >> 4U);
    out += hex_digit(b);
  }
  return out;
}

}  // namespace incidentd
