// The JSON reader's functions (json_reader.hpp): bounded one-line reasons, JSON types named for
// people, and a message parsed as exactly one JSON object within its size limit.
#include "core/json_reader.hpp"

#include <limits>

namespace incidentd::codec_detail {

// Cuts at a UTF-8 boundary so a truncated value is still valid UTF-8.
std::string truncate_utf8(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0U) == 0x80U) --end;
  return std::string(s.substr(0, end)) + "...";
}

// Makes arbitrary bytes safe for a one-line reason: invalid UTF-8 becomes U+FFFD, control
// characters become spaces.
std::string one_line(std::string_view s, std::size_t max_bytes) {
  std::string valid =
      json::parse(json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace))
          .get<std::string>();
  for (char& c : valid) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20U || u == 0x7FU) c = ' ';
  }
  return truncate_utf8(valid, max_bytes);
}

// A value from the message, quoted as JSON so that quotes and control characters stay visible.
std::string quote(std::string_view value) {
  return json(truncate_utf8(value, kMaxQuotedBytes))
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string field_name(std::string_view name) {
  return "\"" + std::string(name) + "\"";
}

std::string type_of(const json& j) {
  switch (j.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "non-integer number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "unsupported value";
  }
}

std::optional<std::int64_t> as_int64(const json& j) {
  if (j.is_number_unsigned()) {
    const auto u = j.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(u);
  }
  if (j.is_number_integer()) return j.get<std::int64_t>();
  return std::nullopt;
}

std::optional<json> parse_json(std::string_view text, std::string& error) {
  if (text.size() > kMaxMessageBytes) {
    error = "message is " + std::to_string(text.size()) + " bytes, over the limit of " +
            std::to_string(kMaxMessageBytes);
    return std::nullopt;
  }
  // A message is exactly one JSON value, with only whitespace around it. nlohmann's lexer takes
  // a NUL byte for the end of its input, so `{...}\0garbage` would parse as `{...}`; no JSON text
  // holds a raw NUL (not even in a string), so any NUL makes the message invalid.
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    error = "not JSON at byte " + std::to_string(nul + 1) +
            ": a NUL byte (a message is exactly one JSON value, nothing may follow it)";
    return std::nullopt;
  }
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // Keep nlohmann's description ("syntax error while parsing value - ...") but not its
    // "[json.exception...] parse error at line 1, column N:" prefix: the byte says where.
    std::string_view what = e.what();
    const auto colon = what.find(": ");
    const std::string_view detail = colon == std::string_view::npos ? what : what.substr(colon + 2);
    // nlohmann words a second value or garbage after the first as "expected end of input".
    const bool trailing = detail.find("expected end of input") != std::string_view::npos;
    error = "not JSON at byte " + std::to_string(e.byte) + ": " +
            (trailing ? "trailing bytes after the JSON value (a message is exactly one JSON value)"
                      : one_line(detail, kMaxDetailBytes));
    return std::nullopt;
  } catch (const json::out_of_range& e) {
    // A number too large for a double (1E400): nlohmann throws out_of_range, not parse_error.
    // Uncaught, one such message ended the process (found by tests/fuzz).
    std::string_view what = e.what();
    const auto bracket = what.find("] ");
    error =
        "not JSON: " + one_line(bracket == std::string_view::npos ? what : what.substr(bracket + 2),
                                kMaxDetailBytes);
    return std::nullopt;
  }
  if (!j.is_object()) {
    error = "message must be a JSON object (got " + type_of(j) + ")";
    return std::nullopt;
  }
  return j;
}

}  // namespace incidentd::codec_detail
