// The pure parts of the reply codes that storage and the SMS side share: the one spelling of a
// phone number, and the choice of a free code.
#include "incidentd/reply_code_store.hpp"

namespace incidentd {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

std::string normalize_phone(std::string_view phone) {
  std::string digits;
  for (const char c : phone) {
    if (is_digit(c)) digits.push_back(c);
  }
  const std::size_t first = phone.find_first_not_of(" \t\r\n");
  const bool plus = first != std::string_view::npos && phone[first] == '+';
  if (plus) return "+" + digits;
  if (digits.starts_with("00")) return "+" + digits.substr(2);
  // A mainland mobile number as carriers often write it: 11 digits starting with 1.
  if (digits.size() == 11 && digits.front() == '1') return "+86" + digits;
  if (digits.size() == 13 && digits.starts_with("86")) return "+" + digits;
  return digits;
}

std::string choose_code(const std::set<std::string>& in_use, int digits,
                        const std::function<std::uint64_t()>& random) {
  std::uint64_t low = 1;
  for (int i = 1; i < digits; ++i) low *= 10;
  const std::uint64_t span = low * 9;  // first digit 1-9
  if (in_use.size() >= span) return {};
  // Random draws while codes are plentiful; then a scan from a random start finds a free one.
  for (int attempt = 0; attempt < 32; ++attempt) {
    std::string code = std::to_string(low + random() % span);
    if (!in_use.contains(code)) return code;
  }
  const std::uint64_t start = random() % span;
  for (std::uint64_t k = 0; k < span; ++k) {
    std::string code = std::to_string(low + (start + k) % span);
    if (!in_use.contains(code)) return code;
  }
  return {};
}

}  // namespace incidentd
