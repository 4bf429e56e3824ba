#include "notify/sms_segments.hpp"

#include <cstdint>

namespace incidentd {
namespace {

constexpr char16_t kReplacement = u'\uFFFD';

std::size_t parts_for(std::size_t chars) {
  if (chars <= kUcs2SingleSmsChars) return 1;
  return (chars + kUcs2ConcatenatedPartChars - 1) / kUcs2ConcatenatedPartChars;
}

}  // namespace

std::u16string utf8_to_ucs2(std::string_view utf8) {
  std::u16string out;
  out.reserve(utf8.size());
  std::size_t i = 0;
  while (i < utf8.size()) {
    const auto lead = static_cast<unsigned char>(utf8[i]);
    std::size_t length = 0;
    std::uint32_t cp = 0;
    if (lead < 0x80) {
      length = 1;
      cp = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2;
      cp = lead & 0x1Fu;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3;
      cp = lead & 0x0Fu;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4;
      cp = lead & 0x07u;
    } else {
      out.push_back(kReplacement);  // a stray continuation byte or an invalid lead byte
      ++i;
      continue;
    }
    bool valid = i + length <= utf8.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      const auto byte = static_cast<unsigned char>(utf8[i + k]);
      if ((byte & 0xC0) != 0x80) {
        valid = false;
      } else {
        cp = (cp << 6) | (byte & 0x3Fu);
      }
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid UTF-8.
    constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    if (valid && (cp < kMinimum[length] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)) {
      valid = false;
    }
    if (!valid) {
      out.push_back(kReplacement);
      ++i;  // resynchronise on the next byte
      while (i < utf8.size() && (static_cast<unsigned char>(utf8[i]) & 0xC0) == 0x80) ++i;
      continue;
    }
    out.push_back(cp > 0xFFFF ? kReplacement : static_cast<char16_t>(cp));
    i += length;
  }
  return out;
}

std::string ucs2_to_utf8(std::u16string_view ucs2) {
  std::string out;
  out.reserve(ucs2.size() * 3);
  for (const char16_t unit : ucs2) {
    const auto cp = static_cast<std::uint32_t>(unit);
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      out += "\xEF\xBF\xBD";  // a lone surrogate: not a character in UCS-2
    } else if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

std::string ucs2_safe(std::string_view utf8) {
  return ucs2_to_utf8(utf8_to_ucs2(utf8));
}

std::size_t ucs2_length(std::string_view utf8) {
  return utf8_to_ucs2(utf8).size();
}

std::vector<std::string> ucs2_segments(std::string_view utf8) {
  const std::u16string text = utf8_to_ucs2(utf8);
  std::vector<std::string> parts;
  if (text.size() <= kUcs2SingleSmsChars) {
    parts.push_back(ucs2_to_utf8(text));
    return parts;
  }
  for (std::size_t at = 0; at < text.size(); at += kUcs2ConcatenatedPartChars) {
    parts.push_back(ucs2_to_utf8(std::u16string_view(text).substr(at, kUcs2ConcatenatedPartChars)));
  }
  return parts;
}

std::size_t ucs2_segment_count(std::string_view utf8) {
  return parts_for(ucs2_length(utf8));
}

std::string fit_ucs2_parts(std::string_view utf8, std::size_t max_parts,
                           std::string_view ellipsis) {
  std::u16string text = utf8_to_ucs2(utf8);
  if (max_parts == 0) return {};
  const std::size_t limit =
      max_parts == 1 ? kUcs2SingleSmsChars : max_parts * kUcs2ConcatenatedPartChars;
  if (text.size() <= limit) return ucs2_to_utf8(text);
  const std::u16string tail = utf8_to_ucs2(ellipsis);
  const std::size_t keep = limit > tail.size() ? limit - tail.size() : 0;
  text.resize(keep);
  text += tail.substr(0, limit - keep);
  return ucs2_to_utf8(text);
}

}  // namespace incidentd
