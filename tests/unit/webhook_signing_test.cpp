// The webhook wire formats without sockets: each
// vendor's signature against the algorithm its documentation gives (expected values computed
// with Python's hmac, as the vendors' own samples do), the request each format builds, and how
// each side's answer is classified.
#include "notify/webhook_signing.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace incidentd {
namespace {

using nlohmann::json;

// 2023-11-14T22:13:20Z
const TimePoint kAt{std::chrono::milliseconds{1700000000000}};

// The text the channel rendered for the notification.
const std::string kText = "【预警】首次发布将于 1 小时后到期";

OutgoingNotification notification() {
  OutgoingNotification n;
  n.notification_id = "n-42";
  n.incident_key = "inc-1";
  n.recipient = "a-duty1";
  n.unit = "a";
  n.address = "http://127.0.0.1:9/hook";
  n.payload.stored = json::parse(R"({"action":"notification","channel":"webhook"})");
  n.attempt = 2;
  return n;
}

std::string header(const WebhookRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "<absent>";
}

TEST_CASE("the generic signature is HMAC over timestamp, a dot and the body, in hex") {
  CHECK(generic_signature("topsecret", "1700000000", R"({"a":1})") ==
        "sha256=6a939b0c71853d606167625a15168ee9188c6a511c773ef4f42d307f3849e50f");
}

TEST_CASE("DingTalk signs timestamp newline secret with the secret as key") {
  CHECK(dingtalk_sign("SEC0123456789abcdef", "1700000000000") ==
        "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk=");
}

TEST_CASE("Feishu uses timestamp newline secret as the key over an empty message") {
  CHECK(feishu_sign("SEC0123456789abcdef", "1599360473") ==
        "o4rYuzS+vyYu0ScPJVg0TrKMaVksgOXu1MYbxvtUINE=");
}

TEST_CASE("a generic request carries the id, the timestamp and a signature over its body") {
  const WebhookRequest r = build_webhook_request(WebhookFormat::generic, "http://h/x", "topsecret",
                                                 notification(), kText, kAt);
  CHECK(r.url == "http://h/x");
  CHECK(header(r, "X-Incidentd-Notification-Id") == "n-42");
  CHECK(header(r, "X-Incidentd-Timestamp") == "1700000000");
  CHECK(header(r, "X-Incidentd-Signature") == generic_signature("topsecret", "1700000000", r.body));
  const json body = json::parse(r.body);
  CHECK(body["notification_id"] == "n-42");
  CHECK(body["attempt"] == 2);
  CHECK(body["text"] == kText);
  CHECK(body["notification"]["action"] == "notification");

  const WebhookRequest unsigned_request =
      build_webhook_request(WebhookFormat::generic, "http://h/x", "", notification(), kText, kAt);
  CHECK(header(unsigned_request, "X-Incidentd-Signature") == "<absent>");
}

TEST_CASE("a DingTalk request puts timestamp and URL-encoded sign in the query") {
  const WebhookRequest r = build_webhook_request(
      WebhookFormat::dingtalk, "https://oapi.dingtalk.com/robot/send?access_token=T",
      "SEC0123456789abcdef", notification(), kText, kAt);
  CHECK(r.url ==
        "https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1700000000000&sign="
        "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D");
  const json body = json::parse(r.body);
  CHECK(body["msgtype"] == "text");
  CHECK(body["text"]["content"] == kText);
}

TEST_CASE("a WeCom request is a text message to the URL with its key, unsigned") {
  const std::string url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K";
  const WebhookRequest r =
      build_webhook_request(WebhookFormat::wecom, url, "", notification(), kText, kAt);
  CHECK(r.url == url);
  CHECK(json::parse(r.body) == json{{"msgtype", "text"}, {"text", {{"content", kText}}}});
}

TEST_CASE("a Feishu request carries timestamp and sign in its body") {
  const WebhookRequest r =
      build_webhook_request(WebhookFormat::feishu, "https://open.feishu.cn/open-apis/bot/v2/hook/X",
                            "SEC0123456789abcdef", notification(), kText, kAt);
  const json body = json::parse(r.body);
  CHECK(body["timestamp"] == "1700000000");
  CHECK(body["sign"] == feishu_sign("SEC0123456789abcdef", "1700000000"));
  CHECK(body["msg_type"] == "text");
  CHECK(body["content"]["text"] == kText);
}

TEST_CASE("answers: 2xx delivers, 408, 429 and 5xx are transient, other 4xx permanent") {
  using S = SendResult::Status;
  CHECK(classify_webhook_response(WebhookFormat::generic, 204, "").status == S::delivered);
  CHECK(classify_webhook_response(WebhookFormat::generic, 503, "").status == S::transient);
  CHECK(classify_webhook_response(WebhookFormat::generic, 429, "").status == S::transient);
  CHECK(classify_webhook_response(WebhookFormat::generic, 408, "").status == S::transient);
  CHECK(classify_webhook_response(WebhookFormat::generic, 401, "").status == S::permanent);
  CHECK(classify_webhook_response(WebhookFormat::generic, 404, "gone").detail == "HTTP 404: gone");
}

TEST_CASE("robots answer 200 with an error code that decides the outcome") {
  using S = SendResult::Status;
  CHECK(classify_webhook_response(WebhookFormat::dingtalk, 200, R"({"errcode":0,"errmsg":"ok"})")
            .status == S::delivered);
  CHECK(classify_webhook_response(WebhookFormat::dingtalk, 200, R"({"errcode":310000})").status ==
        S::permanent);
  CHECK(classify_webhook_response(WebhookFormat::dingtalk, 200, R"({"errcode":130101})").status ==
        S::transient);
  CHECK(classify_webhook_response(WebhookFormat::wecom, 200, R"({"errcode":45009})").status ==
        S::transient);
  CHECK(classify_webhook_response(WebhookFormat::wecom, 200, R"({"errcode":93000})").status ==
        S::permanent);
  CHECK(classify_webhook_response(WebhookFormat::feishu, 200, R"({"code":0,"msg":"success"})")
            .status == S::delivered);
  CHECK(classify_webhook_response(WebhookFormat::feishu, 200, R"({"StatusCode":0})").status ==
        S::delivered);
  CHECK(classify_webhook_response(WebhookFormat::feishu, 200, R"({"code":19021})").status ==
        S::permanent);
  CHECK(classify_webhook_response(WebhookFormat::feishu, 200, "not json").status == S::transient);
}

}  // namespace
}  // namespace incidentd
