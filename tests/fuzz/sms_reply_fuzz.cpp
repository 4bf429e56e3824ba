// The SMS reply parser: any text, from any sender, gives a reply or nothing; a code it returns is
// exactly code_digits ASCII digits, and decide_reply always has an answer for the sender.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "notify/reply_codes.hpp"
#include "one_code.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace incidentd;
  const std::string_view bytes = fuzz::input(data, size);
  // The first line is the sender, the rest the text, so both are fuzzed.
  const std::size_t newline = bytes.find('\n');
  const std::string_view from = newline == std::string_view::npos ? "" : bytes.substr(0, newline);
  const std::string_view text =
      newline == std::string_view::npos ? bytes : bytes.substr(newline + 1);

  for (const int digits : {4, 6}) {
    const std::optional<ParsedReply> reply = parse_reply(text, digits);
    if (reply && !reply->code.empty()) {
      if (reply->code.size() != static_cast<std::size_t>(digits)) fuzz::broken("code length");
      for (const char c : reply->code) {
        if (c < '0' || c > '9') fuzz::broken("a code with a character other than a digit");
      }
    }
  }
  const std::string phone = normalize_phone(from);
  for (const char c : phone.empty() ? std::string() : phone.substr(1)) {
    if (c < '0' || c > '9') fuzz::broken("a normalized phone with a character other than a digit");
  }

  fuzz::OneCode codes;
  const TimePoint now{std::chrono::hours(24 * 20600)};
  const ReplyDecision decision = decide_reply(from, text, 4, codes, now, std::chrono::hours(72));
  if (decision.answer.empty()) fuzz::broken("a reply without an answer");
  if (decision.kind != ReplyDecision::Kind::rejected && !decision.code) {
    fuzz::broken("a decision to act without the code it acts on");
  }
  return 0;
}
