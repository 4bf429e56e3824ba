// How a UTF-8 text travels as SMS in UCS-2: its length in UCS-2 characters and the parts it is
// split into (70 characters in a single SMS; 67 per part once concatenated, the user-data header
// takes the other 3). Kannel does the splitting on the wire (its `concatenation` setting); the
// daemon uses the same rule to know how many parts a message costs and to keep within a limit.
// UCS-2 has no characters outside the Basic Multilingual Plane: those (emoji, rare CJK
// extensions) are replaced by U+FFFD before sending, as are invalid UTF-8 sequences, so every
// part decodes on any handset and no part ever ends in half a surrogate pair. Pure code.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace incidentd {

inline constexpr std::size_t kUcs2SingleSmsChars = 70;
inline constexpr std::size_t kUcs2ConcatenatedPartChars = 67;

// UTF-8 to UCS-2 code units; invalid sequences and characters outside the BMP become U+FFFD.
std::u16string utf8_to_ucs2(std::string_view utf8);
std::string ucs2_to_utf8(std::u16string_view ucs2);
// The text as it will arrive: utf8_to_ucs2 and back.
std::string ucs2_safe(std::string_view utf8);
// Length in UCS-2 characters (what an SMS counts).
std::size_t ucs2_length(std::string_view utf8);
// The parts (UTF-8) the text is sent as: one when it fits 70 characters, else 67 per part.
std::vector<std::string> ucs2_segments(std::string_view utf8);
std::size_t ucs2_segment_count(std::string_view utf8);
// The longest prefix of `utf8` (ucs2-safe) that fits `max_parts` parts, with `ellipsis` appended
// when anything was cut (the ellipsis counts too).
std::string fit_ucs2_parts(std::string_view utf8, std::size_t max_parts,
                           std::string_view ellipsis = "…");

}  // namespace incidentd
