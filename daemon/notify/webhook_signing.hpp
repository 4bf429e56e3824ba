// The wire formats of outgoing webhooks, without any I/O: the generic signed JSON webhook and the
// DingTalk, WeCom and Feishu chat robots, each with its own signing scheme (docs/notifications.md
// says how a receiver verifies them), and how each side's answer is read.
#pragma once

#include "incidentd/url.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "incidentd/time.hpp"
#include "notify/channel.hpp"

namespace incidentd {

enum class WebhookFormat { generic, dingtalk, wecom, feishu };
// nullopt-free: unknown names are rejected when the configuration is read.
WebhookFormat parse_webhook_format(std::string_view name);

// Generic webhook: "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body).
std::string generic_signature(std::string_view secret, std::string_view timestamp_seconds,
                              std::string_view body);
// DingTalk robot: base64 HMAC-SHA256(key = secret, message = timestamp_ms + "\n" + secret)
// (not yet URL-encoded).
std::string dingtalk_sign(std::string_view secret, std::string_view timestamp_ms);
// Feishu robot: base64 HMAC-SHA256(key = timestamp_s + "\n" + secret, message = "").
std::string feishu_sign(std::string_view secret, std::string_view timestamp_seconds);

struct WebhookRequest {
  std::string url;  // with the signature's query parameters where the format wants them
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// The request for one notification with its rendered `text` at `now`; `secret` empty means
// unsigned. The generic format also carries the notification's body as it was stored.
WebhookRequest build_webhook_request(WebhookFormat format, std::string_view url,
                                     std::string_view secret, const OutgoingNotification& n,
                                     std::string_view text, TimePoint now);

// Reads the receiver's answer: 2xx is delivered for the generic webhook; the robots also answer
// 200 with an error code in the body. 408, 429, 5xx and the robots' rate limits are transient;
// other refusals are permanent.
SendResult classify_webhook_response(WebhookFormat format, int status, std::string_view body);

}  // namespace incidentd
