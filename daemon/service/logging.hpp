// Logging fit for journald: spdlog to stderr, with sd-daemon(3) priority prefixes ("<3>" error,
// "<4>" warning, "<6>" info, "<7>" debug) when stderr is the journal stream systemd set up, and
// a plain timestamped line when run by hand. Every message has its phone numbers masked and its
// control and bidi characters escaped, so text from outside (incident keys, titles, SMS replies)
// can neither forge a log line nor reorder one on an operator's terminal.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/common.h>

namespace spdlog {
class logger;
}

namespace incidentd {

enum class LogStyle {
  plain,    // "[2026-11-26 08:00:00.000] [info] message"
  journal,  // "<6>message": journald adds time, host and unit and parses the priority
};

// True when $JOURNAL_STREAM names stderr's device and inode, as systemd.exec(5) documents: the
// variable alone is not enough, since a child whose stderr was redirected inherits it.
bool stderr_is_journal_stream();
LogStyle detect_log_style();

// A logger writing to `out` in `style`, masking phone numbers and escaping control characters
// (escape_log_text) in every message. Loggers for
// components should be clones of the default logger (spdlog::default_logger()->clone(name)) so
// they share its masking sink.
std::shared_ptr<spdlog::logger> make_logger(std::string name, spdlog::sink_ptr out, LogStyle style);

// Installs make_logger("incidentd", stderr, detect_log_style()) as spdlog's default logger.
void setup_logging(spdlog::level::level_enum level = spdlog::level::info);

// "trace", "debug", "info", "warn", "error" or "critical"; nullopt for anything else (spdlog's
// own from_str turns an unknown name into "off", which would silence the daemon).
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

// Masks phone numbers as Chinese practice does (138****0101): "+" and 8-15 digits (E.164) keep
// their leading digits and last four, with the four before those starred (+8613800000101 ->
// +86138****0101); an 11-digit mainland mobile number written without "+" (1[3-9] and nine
// digits) becomes 138****0101. Digit runs of other lengths (ids, dates, offsets) are left as
// they are.
std::string mask_phone_numbers(std::string_view text);

// Makes text safe for one log line: C0 controls (newline and tab too), DEL and bytes that are not
// UTF-8 become \xNN; C1 controls (U+0080-U+009F) and the Unicode bidi controls (U+061C, U+200E,
// U+200F, U+202A-U+202E, U+2066-U+2069) become \uNNNN. Everything else, backslashes included,
// is left as it is: the point is a log that shows what arrived, not one that can be parsed back.
std::string escape_log_text(std::string_view text);

}  // namespace incidentd
