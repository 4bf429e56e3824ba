#include "notify/message.hpp"

#include <algorithm>

#include "incidentd/codec.hpp"
#include "notify/channel.hpp"
#include "notify/sms_segments.hpp"

namespace incidentd {
namespace {

using Values = std::map<std::string, std::string, std::less<>>;

// Replaces each {name} with its value; names without a value are left as they are (the config
// loader already refused unknown ones).
std::string fill(std::string_view text, const Values& values) {
  std::string out;
  out.reserve(text.size() + 64);
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t open = text.find('{', at);
    if (open == std::string_view::npos) break;
    const std::size_t close = text.find('}', open);
    if (close == std::string_view::npos) break;
    out.append(text.substr(at, open - at));
    const auto found = values.find(text.substr(open + 1, close - open - 1));
    if (found != values.end()) {
      out += found->second;
    } else {
      out.append(text.substr(open, close - open + 1));
    }
    at = close + 1;
  }
  out.append(text.substr(at));
  return out;
}

}  // namespace

std::string chinese_duration(Duration d, bool round_up) {
  using std::chrono::minutes;
  if (d < Duration{0}) d = Duration{0};
  auto total = std::chrono::duration_cast<minutes>(d);
  if (round_up && total < d) total += minutes(1);
  if (total < minutes(1)) return "不到1分钟";
  const auto hours = total.count() / 60;
  const auto rest = total.count() % 60;
  std::string out;
  if (hours >= 24) {
    out += std::to_string(hours / 24) + "天";
    if (hours % 24 != 0) out += std::to_string(hours % 24) + "小时";
  } else if (hours > 0) {
    out += std::to_string(hours) + "小时";
  }
  if (rest > 0) out += std::to_string(rest) + "分钟";
  return out;
}

std::string chinese_month_day_time(TimePoint t, std::chrono::minutes utc_offset) {
  const auto local = t + utc_offset;
  const auto day = std::chrono::floor<std::chrono::days>(local);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss time{std::chrono::floor<std::chrono::minutes>(local - day)};
  const auto two = [](long v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  return std::to_string(static_cast<unsigned>(ymd.month())) + "月" +
         std::to_string(static_cast<unsigned>(ymd.day())) + "日" + two(time.hours().count()) + ":" +
         two(time.minutes().count());
}

std::string chinese_milestone(Milestone milestone, int round) {
  switch (milestone) {
    case Milestone::first_release:
      return "首次权威信息发布";
    case Milestone::press_conference:
      return "新闻发布会";
    case Milestone::follow_up:
      return round > 0 ? "第" + std::to_string(round) + "轮持续发布" : "持续发布";
  }
  return "发布";
}

const std::map<std::string, std::string>& MessageTemplates::defaults() {
  static const std::map<std::string, std::string> kDefaults = {
      {"drill", "【演练】"},
      // The alert at open (the ladder's 0 h row): the target and the hard deadline both.
      {"opened",
       "【重大舆情处置计时开始】{title}（{incident_key}）：{milestone}目标时限{due}（还剩{"
       "remaining}"
       "），最迟{deadline}前必须发布。"},
      {"warning",
       "【舆情处置时限预警】{title}（{incident_key}）：{milestone}须在{due}前完成，还剩{remaining}"
       "。"},
      {"target_missed",
       "【舆情处置超目标时限】{title}（{incident_key}）：{milestone}目标时限{due}已过{late}，"
       "请尽快发布权威信息。"},
      {"deadline_breached",
       "【舆情处置超最迟时限】{title}（{incident_key}）：{milestone}最迟时限{due}已过{late}，"
       "请立即发布并报告。"},
      {"overdue",
       "【舆情处置超期提醒·第{reminder}次】{title}（{incident_key}）：{milestone}最迟时限{due}"
       "已过{late}，仍未确认发布。"},
      {"resend", "（第{send}次通知，尚未收到您的回复）"},
      // To the operator desk when every channel to a person failed (docs/notifications.md).
      {"unreached",
       "【通知未能送达】{title}（{incident_key}）：{milestone}提醒无法送达{unreached}，"
       "各渠道均已失败，请设法另行联系。"},
      {"deputy", "（{deputy_of}未回复，现转告您）"},
      {"reply_hint", "回复{code}1或“收到”表示已知悉；本单位已发布请回复{code}2，可附链接。"},
      // Last in the text, so that nothing follows the URL.
      {"ack_hint", "一键确认收到：{ack_link}"},
      // The source heartbeat, to the operator desk (docs/notifications.md, "Source heartbeat").
      {"source_silent",
       "【舆情监测系统无事件】自{since}起已{silent_for}未收到任何监测事件（阈值{silence}），"
       "请立即核实监测系统及其与incidentd的连接是否正常。"},
      {"source_back",
       "【舆情监测系统已恢复】{back}起重新收到监测事件；此前自{since}起中断约{silent_for}。"},
  };
  return kDefaults;
}

const std::map<std::string, std::string>& MessageTemplates::english_defaults() {
  static const std::map<std::string, std::string> kEnglish = {
      {"source_silent",
       "[Monitoring source silent] No event at all since {since} ({silent_for}; threshold "
       "{silence}): check the monitoring system and its link to incidentd now."},
      {"source_back",
       "[Monitoring source back] Events again since {back}, after about {silent_for} of silence "
       "(since {since})."},
  };
  return kEnglish;
}

MessageTemplates::MessageTemplates(const std::map<std::string, std::string>& overrides,
                                   int max_sms_parts, std::string_view lang)
    : templates_(defaults().begin(), defaults().end()),
      max_sms_parts_(max_sms_parts),
      english_(lang == "en") {
  if (english_) {
    for (const auto& [name, text] : english_defaults()) templates_[name] = text;
  }
  for (const auto& [name, text] : overrides) templates_[name] = text;
}

std::string english_duration(Duration d) {
  if (d < Duration{0}) d = Duration{0};
  const long total = std::chrono::duration_cast<std::chrono::minutes>(d).count();
  if (total < 1) return "<1m";
  constexpr long kDay = 24L * 60L;
  std::string out;
  if (total >= kDay) out += std::to_string(total / kDay) + "d";
  if (total % kDay >= 60) out += std::to_string(total % kDay / 60) + "h";
  if (total % 60 != 0) out += std::to_string(total % 60) + "m";
  return out;
}

std::string english_month_day_time(TimePoint t, std::chrono::minutes utc_offset) {
  const auto local = t + utc_offset;
  const auto day = std::chrono::floor<std::chrono::days>(local);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss time{std::chrono::floor<std::chrono::minutes>(local - day)};
  const auto two = [](long v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  return two(static_cast<unsigned>(ymd.month())) + "-" + two(static_cast<unsigned>(ymd.day())) +
         " " + two(time.hours().count()) + ":" + two(time.minutes().count());
}

std::string MessageTemplates::render_source(const SourceNotice& notice,
                                            const MessageContext& context,
                                            std::string_view channel) const {
  const auto when = [&](TimePoint t) {
    return english_ ? english_month_day_time(t, context.utc_offset)
                    : chinese_month_day_time(t, context.utc_offset);
  };
  const auto span = [&](Duration d) {
    return english_ ? english_duration(d) : chinese_duration(d, false);
  };
  const Values values{
      {"since", when(notice.since)},
      {"back", when(notice.at)},
      {"silent_for", span((notice.back ? notice.at : context.now) - notice.since)},
      {"silence", span(notice.silence)},
      {"recipient", context.recipient_name},
      {"unit", context.unit_name},
  };
  std::string text = fill(get(notice.back ? "source_back" : "source_silent"), values);
  if (channel != "sms") return text;
  const auto parts = static_cast<std::size_t>(std::max(1, max_sms_parts_));
  if (ucs2_segment_count(text) <= parts) return ucs2_safe(text);
  return fit_ucs2_parts(text, parts);
}

const std::string& MessageTemplates::get(std::string_view name) const {
  static const std::string kEmpty;
  const auto found = templates_.find(name);
  return found == templates_.end() ? kEmpty : found->second;
}

std::string MessageTemplates::render(const Action& n, const MessageContext& context,
                                     std::string_view channel) const {
  const ActionKind cause = n.cause.value_or(ActionKind::warning);
  const Milestone milestone = n.milestone.value_or(Milestone::first_release);
  Values values{
      {"incident_key", n.incident_key},
      {"milestone", chinese_milestone(milestone, n.round)},
      {"level", std::to_string(n.level.value_or(0))},
      {"round", std::to_string(n.round)},
      {"reminder", std::to_string(n.reminder)},
      {"send", std::to_string(n.send)},
      {"recipient", context.recipient_name.empty() ? n.recipient : context.recipient_name},
      {"deputy_of", context.deputy_of_name.empty() ? n.deputy_of : context.deputy_of_name},
      {"unit", context.unit_name.empty() ? n.unit : context.unit_name},
      {"code", context.reply_code},
      {"unreached", context.unreached_name.empty() ? n.detail : context.unreached_name},
  };
  if (n.due) {
    values["due"] = chinese_month_day_time(*n.due, context.utc_offset);
    values["remaining"] = chinese_duration(*n.due - context.now, true);
    values["late"] = chinese_duration(context.now - *n.due, false);
  }
  // Without a separate deadline the due instant is the deadline.
  if (const auto deadline = n.deadline ? n.deadline : n.due) {
    values["deadline"] = chinese_month_day_time(*deadline, context.utc_offset);
  }

  std::string_view main = n.opening ? "opened" : "warning";
  if (cause == ActionKind::delivery) main = "unreached";
  if (cause == ActionKind::target_missed) main = "target_missed";
  if (cause == ActionKind::deadline_breached)
    main = n.reminder > 0 ? "overdue" : "deadline_breached";

  // Everything but the title first: for SMS the title is what gets shortened to fit the parts.
  const auto compose = [&](const std::string& title, bool with_link) {
    values["title"] = title;
    std::string text;
    if (n.drill) text += fill(get("drill"), values);
    text += fill(get(main), values);
    if (n.send > 1) text += fill(get("resend"), values);
    if (!n.deputy_of.empty()) text += fill(get("deputy"), values);
    if (!context.reply_code.empty()) text += fill(get("reply_hint"), values);
    if (with_link && !get("ack_hint").empty()) {
      text += (channel == "sms" ? "" : "\n") + fill(get("ack_hint"), values);
    }
    return text;
  };
  values["ack_link"] = context.ack_link;
  const bool link = !context.ack_link.empty();
  const std::string title = context.title.empty() ? n.incident_key : context.title;
  std::string text = compose(title, link);
  if (channel != "sms") return text;

  const auto parts = static_cast<std::size_t>(std::max(1, max_sms_parts_));
  if (ucs2_segment_count(text) <= parts) return ucs2_safe(text);
  const std::size_t limit = parts == 1 ? kUcs2SingleSmsChars : parts * kUcs2ConcatenatedPartChars;
  // The text with the title cut (keeping at least one character and an ellipsis) to fit; nullopt
  // when even that is too long.
  const auto shortened = [&](bool with_link) -> std::optional<std::string> {
    const std::size_t without_title = ucs2_length(compose("", with_link));
    if (without_title + 2 > limit) return std::nullopt;
    const std::u16string full = utf8_to_ucs2(title);
    const std::size_t room = limit - without_title;
    return compose(ucs2_to_utf8(std::u16string_view(full).substr(0, room - 1)) + "…", with_link);
  };
  if (link) {
    // A link cut short does not work: keep it whole or leave it out.
    if (auto fitted = shortened(true); fitted && ucs2_segment_count(*fitted) <= parts) {
      return ucs2_safe(*fitted);
    }
    text = compose(title, false);
    if (ucs2_segment_count(text) <= parts) return ucs2_safe(text);
  }
  if (auto fitted = shortened(false)) text = std::move(*fitted);
  return fit_ucs2_parts(text, parts);
}

std::string plain_notification_text(const OutgoingNotification& n, std::string_view /*channel*/) {
  // The fields as the body spelled them (its times in the offset it was written with).
  const nlohmann::json& j = n.payload.stored;
  const auto field = [&j](const char* name) -> std::string {
    if (!j.is_object()) return {};
    const auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (n.purpose == NotificationPurpose::source_silent) {
    return "[incidentd] monitoring source silent: no event since " + field("since");
  }
  if (n.purpose == NotificationPurpose::source_back) {
    return "[incidentd] monitoring source back at " + field("at") + " (silent since " +
           field("since") + ")";
  }
  std::string text = "[incidentd] " + field("cause");
  if (!field("milestone").empty()) text += " " + field("milestone");
  text += " · incident " + n.incident_key;
  if (!field("due").empty()) text += " · due " + field("due");
  if (j.is_object() && j.value("drill", false)) text += " · DRILL";
  return text;
}

}  // namespace incidentd
