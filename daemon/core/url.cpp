#include "incidentd/url.hpp"

#include <charconv>

namespace incidentd {
namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

bool valid_port(std::string_view port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return !port.empty() && ec == std::errc{} && end == port.data() + port.size() && value >= 1 &&
         value <= 65535 && port.find_first_not_of("0123456789") == std::string_view::npos;
}

}  // namespace

std::string Url::authority() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  std::string out;
  out.reserve(host.size() + port.size() + 3);
  if (ipv6) out += '[';
  out += host;
  if (ipv6) out += ']';
  if (port != (tls ? "443" : "80")) out.append(":").append(port);
  return out;
}

std::optional<Url> parse_url(std::string_view text) {
  for (const char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  }
  Url url;
  std::string_view rest;
  if (text.substr(0, 7) == "http://") {
    rest = text.substr(7);
  } else if (text.substr(0, 8) == "https://") {
    url.tls = true;
    rest = text.substr(8);
  } else {
    return std::nullopt;
  }
  rest = rest.substr(0, rest.find('#'));
  const std::size_t slash = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view target = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (target.empty() || target.front() == '?') url.target = "/";
  url.target += target;
  if (authority.find('@') != std::string_view::npos) return std::nullopt;

  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6] or [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
      if (!valid_port(port)) return std::nullopt;
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (!valid_port(port) || host.find(':') != std::string_view::npos) return std::nullopt;
  }
  if (host.empty() || host.find_first_of("[]") != std::string_view::npos) return std::nullopt;
  url.host = std::string(host);
  url.port = port.empty() ? (url.tls ? "443" : "80") : std::string(port);
  return url;
}

std::string url_encode(std::string_view text) {
  static constexpr char kUpperHex[] = "0123456789ABCDEF";  // RFC 3986 prefers uppercase
  std::string out;
  out.reserve(text.size() * 3);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kUpperHex[c >> 4U]);
      out.push_back(kUpperHex[c & 0x0fU]);
    }
  }
  return out;
}

std::string with_query(std::string_view url, std::string_view query) {
  std::string out(url);
  if (query.empty()) return out;
  out += url.find('?') == std::string_view::npos ? '?' : '&';
  out += query;
  return out;
}

}  // namespace incidentd
