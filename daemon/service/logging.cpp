#include "service/logging.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/hex.hpp"

namespace incidentd {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

void append_masked(std::string& out, std::string_view digits) {
  const std::size_t masked = std::min<std::size_t>(4, digits.size() - 5);
  const std::size_t kept = digits.size() - 4 - masked;
  out.append(digits.substr(0, kept));
  out.append(masked, '*');
  out.append(digits.substr(kept + masked));
}

bool is_mainland_mobile(std::string_view digits) {
  return digits.size() == 11 && digits[0] == '1' && digits[1] >= '3' && digits[1] <= '9';
}

// sd-daemon(3) levels: what journald reads from the start of each stderr line.
std::string_view priority_prefix(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical:
      return "<2>";
    case spdlog::level::err:
      return "<3>";
    case spdlog::level::warn:
      return "<4>";
    case spdlog::level::info:
      return "<6>";
    default:
      return "<7>";
  }
}

class PriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    auto prefix = priority_prefix(msg.level);
    dest.append(prefix.data(), prefix.data() + prefix.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PriorityFlag>();
  }
};

// Rewrites the message before any formatter sees it, so no sink and no pattern can leak a
// number, and escapes it there too: every message is one line (a newline is escaped like any
// control), which is also what journald needs to file the whole of it at its priority. This is
// the one place input-derived text meets the log, whoever formatted it.
class MaskingSink final : public spdlog::sinks::sink {
 public:
  explicit MaskingSink(spdlog::sink_ptr inner) : inner_(std::move(inner)) {}

  void log(const spdlog::details::log_msg& msg) override {
    if (!inner_->should_log(msg.level)) return;
    const std::string text = escape_log_text(
        mask_phone_numbers(std::string_view(msg.payload.data(), msg.payload.size())));
    spdlog::details::log_msg masked = msg;
    masked.payload = spdlog::string_view_t(text.data(), text.size());
    inner_->log(masked);
  }
  void flush() override { inner_->flush(); }
  // The style owns the layout: a stray spdlog::set_pattern() must not drop journald's prefixes.
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

 private:
  spdlog::sink_ptr inner_;
};

void append_escape(std::string& out, char kind, std::uint32_t value, int digits) {
  out += '\\';
  out += kind;
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) out += hex_digit(value >> shift);
}

bool is_bidi_control(std::uint32_t cp) {
  return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

// The length of the well-formed UTF-8 sequence at text[i] (overlongs, surrogates and code points
// past U+10FFFF are not well-formed), with its code point; 0 when there is none.
std::size_t utf8_sequence(std::string_view text, std::size_t i, std::uint32_t& cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char b0 = byte(0);
  std::size_t n = 0;
  std::uint32_t min = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2, cp = b0 & 0x1FU, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3, cp = b0 & 0x0FU, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4, cp = b0 & 0x07U, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(k) & 0xC0U) != 0x80U) return 0;
    cp = (cp << 6) | (byte(k) & 0x3FU);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

std::unique_ptr<spdlog::formatter> make_formatter(LogStyle style) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (style == LogStyle::journal) {
    formatter->add_flag<PriorityFlag>('*').set_pattern("%*%v");
  } else {
    formatter->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  }
  return formatter;
}

}  // namespace

std::string mask_phone_numbers(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const bool plus = text[i] == '+' && i + 1 < text.size() && is_digit(text[i + 1]);
    if (!plus && !is_digit(text[i])) {
      out += text[i++];
      continue;
    }
    // A whole run of digits at once, so a number is never matched inside a longer one.
    const std::size_t start = plus ? i + 1 : i;
    std::size_t end = start;
    while (end < text.size() && is_digit(text[end])) ++end;
    const auto digits = text.substr(start, end - start);
    if (plus && digits.size() >= 8 && digits.size() <= 15) {
      out += '+';
      append_masked(out, digits);
    } else if (!plus && is_mainland_mobile(digits)) {
      append_masked(out, digits);
    } else {
      out.append(text.substr(i, end - i));
    }
    i = end;
  }
  return out;
}

std::string escape_log_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b >= 0x20 && b < 0x7F) {
      out += text[i++];
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t n = b < 0x80 ? 0 : utf8_sequence(text, i, cp);
    if (n == 0) {  // C0, DEL, or a byte that is not UTF-8
      append_escape(out, 'x', b, 2);
      ++i;
    } else if ((cp >= 0x80 && cp <= 0x9F) || is_bidi_control(cp)) {
      append_escape(out, 'u', cp, 4);
      i += n;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

bool stderr_is_journal_stream() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  std::string_view value(env);
  const auto colon = value.find(':');
  if (colon == std::string_view::npos) return false;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  const auto dev_text = value.substr(0, colon);
  const auto ino_text = value.substr(colon + 1);
  auto [dev_end, dev_ec] = std::from_chars(dev_text.data(), dev_text.data() + dev_text.size(), dev);
  auto [ino_end, ino_ec] = std::from_chars(ino_text.data(), ino_text.data() + ino_text.size(), ino);
  if (dev_ec != std::errc{} || dev_end != dev_text.data() + dev_text.size() ||
      ino_ec != std::errc{} || ino_end != ino_text.data() + ino_text.size()) {
    return false;
  }
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<std::uint64_t>(st.st_dev) == dev &&
         static_cast<std::uint64_t>(st.st_ino) == ino;
}

LogStyle detect_log_style() {
  return stderr_is_journal_stream() ? LogStyle::journal : LogStyle::plain;
}

std::shared_ptr<spdlog::logger> make_logger(std::string name, spdlog::sink_ptr out,
                                            LogStyle style) {
  out->set_formatter(make_formatter(style));
  auto sink = std::make_shared<MaskingSink>(std::move(out));
  return std::make_shared<spdlog::logger>(std::move(name), std::move(sink));
}

void setup_logging(spdlog::level::level_enum level) {
  auto logger = make_logger("incidentd", std::make_shared<spdlog::sinks::stderr_sink_mt>(),
                            detect_log_style());
  logger->set_level(level);
  spdlog::set_default_logger(std::move(logger));
}

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 6> kLevels{{
      {"trace", spdlog::level::trace},
      {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},
      {"critical", spdlog::level::critical},
  }};
  for (const auto& [text, level] : kLevels) {
    if (name == text) return level;
  }
  return std::nullopt;
}

}  // namespace incidentd
