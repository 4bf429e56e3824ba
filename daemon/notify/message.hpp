// The text of a notification: what happened (warning, target missed, deadline breached, overdue
// reminder), which incident (title and key), how long is left or how late it is, and how to
// answer (the reply code). Chinese by default; every part can be overridden in [sms.templates]
// with {placeholders} (docs/notifications.md). Pure: the caller passes the time and the names.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/time.hpp"
#include "notify/payload.hpp"

namespace incidentd {

// What the notification action itself does not carry.
struct MessageContext {
  std::string title;           // the incident's title; the key stands in when empty
  std::string recipient_name;  // {recipient}
  std::string deputy_of_name;  // {deputy_of}: whom this deputy stands in for
  std::string unit_name;       // {unit}: the recipient's unit
  std::string reply_code;      // empty: no reply hint (a channel that cannot be answered)
  std::string ack_link;        // {ack_link}, the one-click ack link; empty: no ack_hint
  std::string unreached_name;  // {unreached}: who could not be reached (an operator's alert)
  TimePoint now{};             // "how long is left" counts from here
  std::chrono::minutes utc_offset{8 * 60};
};

class MessageTemplates {
 public:
  // Overrides by template name (kSmsTemplateKeys); the config loader checked the placeholders.
  // `lang` ("zh" or "en", the configuration's) picks the defaults of the texts that have both:
  // the source heartbeat's. The incident texts are Chinese.
  explicit MessageTemplates(const std::map<std::string, std::string>& overrides = {},
                            int max_sms_parts = 6, std::string_view lang = "zh");

  static const std::map<std::string, std::string>& defaults();
  static const std::map<std::string, std::string>& english_defaults();

  // The text of one notification action (ActionKind::notification). The ack_hint (with the link)
  // comes last, on a line of its own outside SMS, so nothing is glued to the end of the URL. For
  // "sms" the link is kept whole: when the text is too long the title is shortened first, and if
  // the link still does not fit it is left out (the reply code still works).
  std::string render(const Action& notification, const MessageContext& context,
                     std::string_view channel = "sms") const;
  // The source heartbeat's notice (templates "source_silent", "source_back"); for "sms" cut to
  // the part limit.
  std::string render_source(const SourceNotice& notice, const MessageContext& context,
                            std::string_view channel = "sms") const;

 private:
  const std::string& get(std::string_view name) const;
  std::map<std::string, std::string, std::less<>> templates_;
  int max_sms_parts_;
  bool english_ = false;
};

// "1小时30分钟", "45分钟", "不到1分钟"; rounded up to whole minutes for what is left (a warning
// never says less time than there is), down for lateness.
std::string chinese_duration(Duration d, bool round_up);
// "11月26日10:00" in the given offset.
std::string chinese_month_day_time(TimePoint t, std::chrono::minutes utc_offset);
// "3h5m", "45m", "<1m": the English counterpart of chinese_duration (rounded down).
std::string english_duration(Duration d);
// "11-26 10:00" in the given offset.
std::string english_month_day_time(TimePoint t, std::chrono::minutes utc_offset);
// "首次权威信息发布", "新闻发布会", "第2轮持续发布".
std::string chinese_milestone(Milestone milestone, int round);

}  // namespace incidentd
