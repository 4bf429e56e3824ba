#include "notify/message.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <vector>

#include "incidentd/codec.hpp"
#include "notify/sms_segments.hpp"

using namespace incidentd;

namespace {

TimePoint at(const char* rfc3339) {
  return *parse_rfc3339(rfc3339);
}

Action notification(ActionKind cause, const char* due) {
  Action a;
  a.kind = ActionKind::notification;
  a.at = at("2026-11-26T10:00:00+08:00");
  a.incident_key = "zt-landslide-20261126";
  a.milestone = Milestone::first_release;
  a.cause = cause;
  a.level = 0;
  a.due = at(due);
  a.recipient = "zt-duty1";
  a.unit = "zhaotong-gov";
  a.channel = "sms";
  a.notification_id = "zt-landslide-20261126/first_release/0/zt-duty1/1";
  a.send = 1;
  return a;
}

MessageContext context(const char* now, std::string code = "4827") {
  MessageContext c;
  c.title = "昭通市某县山体滑坡引发网络关注";
  c.reply_code = std::move(code);
  c.now = at(now);
  return c;
}

}  // namespace

TEST_CASE("a warning says what, which incident, how long is left and how to answer") {
  const MessageTemplates templates;
  const std::string text =
      templates.render(notification(ActionKind::warning, "2026-11-26T11:00:00+08:00"),
                       context("2026-11-26T10:00:00+08:00"));
  CHECK(text ==
        "【舆情处置时限预警】昭通市某县山体滑坡引发网络关注（zt-landslide-20261126）："
        "首次权威信息发布须在11月26日11:00前完成，还剩1小时。"
        "回复48271或“收到”表示已知悉；本单位已发布请回复48272，可附链接。");
}

TEST_CASE("the alert at open names the target and how long is left and the hard deadline") {
  const MessageTemplates templates;
  Action n = notification(ActionKind::warning, "2026-11-26T11:00:00+08:00");
  n.at = at("2026-11-26T08:00:00+08:00");
  n.opening = true;
  n.deadline = at("2026-11-26T13:00:00+08:00");
  const std::string text = templates.render(n, context("2026-11-26T08:00:00+08:00"));
  CHECK(text ==
        "【重大舆情处置计时开始】昭通市某县山体滑坡引发网络关注（zt-landslide-20261126）："
        "首次权威信息发布目标时限11月26日11:00（还剩3小时），最迟11月26日13:00前必须发布。"
        "回复48271或“收到”表示已知悉；本单位已发布请回复48272，可附链接。");
  // Through the outbox: the notification's JSON keeps the flag and the deadline.
  const auto decoded = decode_notification_body(NotificationPurpose::alert,
                                                to_json(n, std::chrono::minutes(0)).dump());
  REQUIRE(decoded);
  CHECK(templates.render(*decoded.value->action(), context("2026-11-26T08:00:00+08:00")) == text);
}

TEST_CASE("what is left rounds up to the minute, lateness down") {
  CHECK(chinese_duration(std::chrono::minutes(90), true) == "1小时30分钟");
  CHECK(chinese_duration(std::chrono::seconds(61), true) == "2分钟");
  CHECK(chinese_duration(std::chrono::seconds(61), false) == "1分钟");
  CHECK(chinese_duration(std::chrono::seconds(20), false) == "不到1分钟");
  CHECK(chinese_duration(std::chrono::hours(26), false) == "1天2小时");
}

TEST_CASE("a breach, an overdue reminder and a missed target say how late it is") {
  const MessageTemplates templates;
  auto breach = notification(ActionKind::deadline_breached, "2026-11-26T13:00:00+08:00");
  breach.level = 2;
  CHECK(templates.render(breach, context("2026-11-26T13:15:00+08:00", "")) ==
        "【舆情处置超最迟时限】昭通市某县山体滑坡引发网络关注（zt-landslide-20261126）："
        "首次权威信息发布最迟时限11月26日13:00已过15分钟，请立即发布并报告。");
  breach.reminder = 2;
  CHECK(templates.render(breach, context("2026-11-26T15:00:00+08:00", "")) ==
        "【舆情处置超期提醒·第2次】昭通市某县山体滑坡引发网络关注（zt-landslide-20261126）："
        "首次权威信息发布最迟时限11月26日13:00已过2小时，仍未确认发布。");
  const auto missed = notification(ActionKind::target_missed, "2026-11-26T11:00:00+08:00");
  CHECK(templates.render(missed, context("2026-11-26T11:00:00+08:00", "")) ==
        "【舆情处置超目标时限】昭通市某县山体滑坡引发网络关注（zt-landslide-20261126）："
        "首次权威信息发布目标时限11月26日11:00已过不到1分钟，请尽快发布权威信息。");
}

TEST_CASE("drills, re-sends and deputies are marked, follow-ups name their round") {
  const MessageTemplates templates;
  auto n = notification(ActionKind::warning, "2026-11-27T13:00:00+08:00");
  n.milestone = Milestone::follow_up;
  n.round = 2;
  n.drill = true;
  n.send = 3;
  n.deputy_of = "zt-duty1";
  auto c = context("2026-11-27T11:00:00+08:00", "");
  c.deputy_of_name = "李明远";
  CHECK(templates.render(n, c) ==
        "【演练】【舆情处置时限预警】昭通市某县山体滑坡引发网络关注（zt-landslide-20261126）："
        "第2轮持续发布须在11月27日13:00前完成，还剩2小时。（第3次通知，尚未收到您的回复）"
        "（李明远未回复，现转告您）");
}

TEST_CASE("templates from the configuration replace the defaults part by part") {
  const MessageTemplates templates(
      {{"warning", "{incident_key} {milestone} 剩{remaining}"}, {"reply_hint", " 回{code}1"}});
  CHECK(templates.render(notification(ActionKind::warning, "2026-11-26T12:00:00+08:00"),
                         context("2026-11-26T10:30:00+08:00", "512")) ==
        "zt-landslide-20261126 首次权威信息发布 剩1小时30分钟 回5121");
}

TEST_CASE("a long title is shortened so the SMS keeps to its part limit and its reply hint") {
  const MessageTemplates templates({}, 2);
  auto c = context("2026-11-26T10:00:00+08:00");
  c.title.clear();
  for (int i = 0; i < 40; ++i) c.title += "很长的标题";
  const std::string text =
      templates.render(notification(ActionKind::warning, "2026-11-26T11:00:00+08:00"), c);
  CHECK(ucs2_segment_count(text) == 2);
  CHECK(ucs2_length(text) == 134);
  CHECK(text.find("…（zt-landslide-20261126）") != std::string::npos);
  CHECK(text.find("回复48271") != std::string::npos);
}

TEST_CASE("an outbox body renders as its notification, other bodies are refused with a reason") {
  const MessageTemplates templates;
  const Action n = notification(ActionKind::warning, "2026-11-26T11:00:00+08:00");
  const std::string body = to_json(n, std::chrono::hours(8)).dump();
  const auto ok = decode_notification_body(NotificationPurpose::alert, body);
  REQUIRE(ok);
  REQUIRE(ok.value->action() != nullptr);
  CHECK(templates.render(*ok.value->action(), context("2026-11-26T10:00:00+08:00")) ==
        templates.render(n, context("2026-11-26T10:00:00+08:00")));

  Action opened = n;
  opened.kind = ActionKind::incident_opened;
  const auto wrong = decode_notification_body(NotificationPurpose::alert,
                                              to_json(opened, std::chrono::hours(8)).dump());
  CHECK_FALSE(wrong);
  CHECK(wrong.error.find("incident_opened") != std::string::npos);
  CHECK_FALSE(decode_notification_body(NotificationPurpose::alert, "{"));
}

TEST_CASE("the default templates are exactly the ones the configuration may override") {
  std::vector<std::string> defaults;
  for (const auto& [name, text] : MessageTemplates::defaults()) defaults.push_back(name);
  std::vector<std::string> keys(std::begin(kSmsTemplateKeys), std::end(kSmsTemplateKeys));
  std::sort(keys.begin(), keys.end());
  CHECK(defaults == keys);
}
