// The one message catalogue of the reports and statistics: every word a reader sees, keyed by a
// message id, in Simplified Chinese (the default: the readers are Chinese government offices)
// and English. The legal terms are worded as the Yunnan provincial plan words them (item 27:
// 首次发布权威信息, 新闻发布会, 持续发布; levels 特别重大/重大/较大/一般). Asking for an id the
// catalogue lacks is a programming error and aborts.
#pragma once

#include <fmt/core.h>

#include <optional>
#include <string>
#include <string_view>

namespace incidentd::report {

enum class Lang { zh, en };

// "zh" or "en"; nothing else.
std::optional<Lang> parse_lang(std::string_view name);
std::string_view lang_name(Lang lang);

// The text of message `id` in `lang`.
std::string_view msg(Lang lang, std::string_view id);

// The message with its {0}, {1}, ... filled in: the languages order the parts differently.
template <typename... Args>
std::string msgf(Lang lang, std::string_view id, const Args&... args) {
  return fmt::format(fmt::runtime(msg(lang, id)), args...);
}

}  // namespace incidentd::report
