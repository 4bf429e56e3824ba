#include "notify/sms_segments.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace incidentd;

namespace {
std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}
}  // namespace

TEST_CASE("Chinese text counts one UCS-2 character per Han character") {
  CHECK(ucs2_length("昭通市山体滑坡") == 7);
  CHECK(ucs2_length("K7Q1 收到") == 7);
  CHECK(ucs2_length("") == 0);
}

TEST_CASE("70 characters fit one SMS, 71 need two concatenated parts of up to 67") {
  CHECK(ucs2_segment_count(repeat("长", 70)) == 1);
  const auto parts = ucs2_segments(repeat("长", 71));
  REQUIRE(parts.size() == 2);
  CHECK(ucs2_length(parts[0]) == 67);
  CHECK(ucs2_length(parts[1]) == 4);
  CHECK(ucs2_segment_count(repeat("长", 134)) == 2);
  CHECK(ucs2_segment_count(repeat("长", 135)) == 3);
}

TEST_CASE("the parts put back together are the text") {
  const std::string text = repeat("舆情处置时限预警：", 20) + "end";
  std::string joined;
  for (const auto& part : ucs2_segments(text)) joined += part;
  CHECK(joined == text);
}

TEST_CASE("characters outside the BMP and invalid UTF-8 become U+FFFD, one character each") {
  // U+1F600 (an emoji) would need a surrogate pair, which UCS-2 does not have.
  CHECK(ucs2_safe("收到\xF0\x9F\x98\x80") == "收到\xEF\xBF\xBD");
  CHECK(ucs2_length("\xF0\x9F\x98\x80") == 1);
  CHECK(ucs2_safe("a\xFF"
                  "b") ==
        "a\xEF\xBF\xBD"
        "b");
  CHECK(ucs2_safe("a\xE6\x94") == "a\xEF\xBF\xBD");  // truncated sequence
  CHECK(ucs2_safe("\xC0\xAF") == "\xEF\xBF\xBD");    // overlong "/"
}

TEST_CASE("a text too long for the part limit is cut with an ellipsis that counts too") {
  const std::string cut = fit_ucs2_parts(repeat("长", 200), 2);
  CHECK(ucs2_length(cut) == 134);
  CHECK(cut.substr(cut.size() - 3) == "…");
  CHECK(fit_ucs2_parts("短信", 1) == "短信");
  CHECK(ucs2_length(fit_ucs2_parts(repeat("长", 71), 1)) == 70);
}
