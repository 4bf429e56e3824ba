#include "notify/webhook_signing.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "crypto/crypto.hpp"

namespace incidentd {

using nlohmann::json;

WebhookFormat parse_webhook_format(std::string_view name) {
  if (name == "dingtalk") return WebhookFormat::dingtalk;
  if (name == "wecom") return WebhookFormat::wecom;
  if (name == "feishu") return WebhookFormat::feishu;
  return WebhookFormat::generic;
}

std::string generic_signature(std::string_view secret, std::string_view timestamp_seconds,
                              std::string_view body) {
  std::string message;
  message.reserve(timestamp_seconds.size() + 1 + body.size());
  message.append(timestamp_seconds).append(".").append(body);
  return "sha256=" + to_hex(crypto::hmac_sha256(secret, message));
}

std::string dingtalk_sign(std::string_view secret, std::string_view timestamp_ms) {
  std::string to_sign = std::string(timestamp_ms) + "\n" + std::string(secret);
  return crypto::base64(crypto::hmac_sha256(secret, to_sign));
}

std::string feishu_sign(std::string_view secret, std::string_view timestamp_seconds) {
  std::string key = std::string(timestamp_seconds) + "\n" + std::string(secret);
  return crypto::base64(crypto::hmac_sha256(key, ""));
}

namespace {

json text_message(std::string_view text) {
  return {{"msgtype", "text"}, {"text", {{"content", std::string(text)}}}};
}

SendResult by_status(int status, std::string_view body) {
  std::string said = "HTTP " + std::to_string(status);
  if (!body.empty()) said += ": " + std::string(body.substr(0, 200));
  if (status >= 200 && status < 300) return SendResult::delivered(said);
  if (status == 408 || status == 429 || status >= 500) return SendResult::transient(said);
  return SendResult::permanent(said);
}

}  // namespace

WebhookRequest build_webhook_request(WebhookFormat format, std::string_view url,
                                     std::string_view secret, const OutgoingNotification& n,
                                     std::string_view text, TimePoint now) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  const std::string seconds = std::to_string(ms.count() / 1000);
  const std::string millis = std::to_string(ms.count());
  WebhookRequest r;
  r.url = std::string(url);
  r.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
  r.headers.emplace_back("X-Incidentd-Notification-Id", n.notification_id);
  switch (format) {
    case WebhookFormat::generic: {
      json body = {{"notification_id", n.notification_id},
                   {"incident_key", n.incident_key},
                   {"recipient", n.recipient},
                   {"unit", n.unit},
                   {"attempt", n.attempt},
                   {"text", text}};
      if (!n.ack_url.empty()) body["ack_url"] = n.ack_url;
      if (!n.payload.stored.is_null()) body["notification"] = n.payload.stored;
      r.body = body.dump();
      r.headers.emplace_back("X-Incidentd-Timestamp", seconds);
      if (!secret.empty()) {
        r.headers.emplace_back("X-Incidentd-Signature", generic_signature(secret, seconds, r.body));
      }
      break;
    }
    case WebhookFormat::dingtalk:
      r.body = text_message(text).dump();
      if (!secret.empty()) {
        r.url = with_query(
            url, "timestamp=" + millis + "&sign=" + url_encode(dingtalk_sign(secret, millis)));
      }
      break;
    case WebhookFormat::wecom:
      // The robot's key is part of its URL (…/cgi-bin/webhook/send?key=…): nothing to sign.
      r.body = text_message(text).dump();
      break;
    case WebhookFormat::feishu: {
      json body = {{"msg_type", "text"}, {"content", {{"text", text}}}};
      if (!secret.empty()) {
        body["timestamp"] = seconds;
        body["sign"] = feishu_sign(secret, seconds);
      }
      r.body = body.dump();
      break;
    }
  }
  return r;
}

SendResult classify_webhook_response(WebhookFormat format, int status, std::string_view body) {
  SendResult by_http = by_status(status, body);
  if (format == WebhookFormat::generic || by_http.status != SendResult::Status::delivered) {
    return by_http;
  }
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return SendResult::transient("unreadable answer: " + by_http.detail);
  // DingTalk and WeCom say errcode; Feishu says code (older robots StatusCode).
  long code = 0;
  for (const char* field : {"errcode", "code", "StatusCode"}) {
    const auto it = j.find(field);
    if (it != j.end() && it->is_number_integer()) {
      code = it->get<long>();
      break;
    }
  }
  if (code == 0) return SendResult::delivered(by_http.detail);
  // Rate limits: DingTalk 130101, WeCom 45009 and -1 (system busy), Feishu 9499 and 11232.
  const bool rate_limited = (format == WebhookFormat::dingtalk && code == 130101) ||
                            (format == WebhookFormat::wecom && (code == 45009 || code == -1)) ||
                            (format == WebhookFormat::feishu && (code == 9499 || code == 11232));
  if (rate_limited) return SendResult::transient(by_http.detail);
  return SendResult::permanent(by_http.detail);
}

}  // namespace incidentd
