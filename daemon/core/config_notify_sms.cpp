// [sms] and [notify] of incidentd.toml: the SMS gateway, its templates and reply callback, and the
// delivery settings with their webhook routes.
#include "core/config_parser.hpp"

#include <cmath>

namespace incidentd::config_detail {

void ConfigParser::parse_sms(const toml::table& sms, SmsSettings& out) {
  check_keys(
      sms,
      {"enabled", "gateway", "url", "credentials_file", "sender", "method", "params",
       "success_contains", "timeout", "max_parts", "reply_code_digits", "reply_code_reuse_after",
       "ack_links", "templates", "callback_secret_file", "callback_address", "callback_port"},
      "sms");
  parse_sms_sending(sms, out);
  parse_sms_limits(sms, out);
  if (out.enabled && out.url.empty()) {
    error(sms, "sms: enabled needs url (Kannel's sendsms URL or the SMS API's)");
  }
  parse_sms_callback(sms, out);
  if (out.enabled && out.gateway == "http" && out.params.empty()) {
    error(sms, "sms: gateway \"http\" needs [sms.params] (at least the phone and the text)");
  }
  if (const toml::table* templates = get_table(sms, "templates", "sms")) {
    parse_sms_templates(*templates, out);
  }
}

// How a message goes out: the gateway, its URL and credentials, and the request it is sent as.
void ConfigParser::parse_sms_sending(const toml::table& sms, SmsSettings& out) {
  read_bool(sms, "enabled", "sms", out.enabled);
  read_bool(sms, "ack_links", "sms", out.ack_links);
  if (auto v = get_string(sms, "gateway", "sms", false, "\"kannel\" or \"http\"")) {
    if (*v == "kannel" || *v == "http") {
      out.gateway = *v;
    } else {
      error(*sms.get("gateway"), "sms.gateway: expected \"kannel\" or \"http\", got " + quote(*v));
    }
  }
  if (auto v = get_string(sms, "url", "sms", false, "the gateway's http:// or https:// URL")) {
    if (valid_url(*v)) {
      out.url = *v;
    } else {
      error(*sms.get("url"), "sms.url: expected an http:// or https:// URL, got " + quote(*v));
    }
  }
  if (const toml::node* node = sms.get("credentials_file"); node != nullptr && node->is_string()) {
    read_files_.push_back({node, "sms.credentials_file", node->as_string()->get(), false});
  }
  if (auto v = get_string(sms, "credentials_file", "sms", false,
                          "a file holding \"username:password\"")) {
    out.credentials_file = *v;
  }
  if (auto v = get_string(sms, "sender", "sms", false, "the sender number")) out.sender = *v;
  if (auto v = get_string(sms, "method", "sms", false, "\"GET\" or \"POST\"")) {
    if (*v == "GET" || *v == "POST") {
      out.method = *v;
    } else {
      error(*sms.get("method"), "sms.method: expected \"GET\" or \"POST\", got " + quote(*v));
    }
  }
  if (const toml::table* params = get_table(sms, "params", "sms")) parse_sms_params(*params, out);
  if (auto v = get_string(sms, "success_contains", "sms", false, "text a success reply holds")) {
    out.success_contains = *v;
  }
}

void ConfigParser::parse_sms_params(const toml::table& params, SmsSettings& out) {
  for (auto&& [key, value] : params) {
    const std::string path = "sms.params." + std::string(key.str());
    if (const auto* text = value.as_string()) {
      check_placeholders(value, path, text->get(),
                         {"phone", "text", "sender", "username", "password"});
      out.params[std::string(key.str())] = text->get();
    } else {
      wrong_type(value, path, "a string");
    }
  }
}

void ConfigParser::parse_sms_limits(const toml::table& sms, SmsSettings& out) {
  read_duration(sms, "timeout", "sms", out.timeout, kMinSendTimeout);
  read_duration(sms, "reply_code_reuse_after", "sms", out.reply_code_reuse_after,
                std::chrono::hours(1));
  if (auto v = get_integer_in(sms, "max_parts", "sms", "1 to 10 message parts", 1, 10)) {
    out.max_parts = static_cast<int>(*v);
  }
  if (auto v = get_integer_in(sms, "reply_code_digits", "sms", "3 to 6 digits", 3, 6)) {
    out.reply_code_digits = static_cast<int>(*v);
  }
}

// Where the gateway posts replies: the shared secret and, optionally, a listener of its own.
void ConfigParser::parse_sms_callback(const toml::table& sms, SmsSettings& out) {
  if (auto v = get_string(sms, "callback_secret_file", "sms", false,
                          "a file holding the secret of the SMS reply callback")) {
    out.callback_secret_file = *v;
    // Checked here, as the daemon reads it at start, so check-config refuses what it would.
    if (const SecretFile file = read_sms_callback_secret(*v); !file.error.empty()) {
      error(*sms.get("callback_secret_file"), "sms.callback_secret_file: " + file.error);
    }
  }
  if (auto v = get_string(sms, "callback_address", "sms", false, "an IP address to listen on")) {
    out.callback_address = *v;
  }
  if (auto v = get_integer_in(sms, "callback_port", "sms", "a TCP port, 1 to 65535", 1, 65535)) {
    out.callback_port = static_cast<int>(*v);
  }
  if (sms.get("callback_address") != nullptr && sms.get("callback_port") == nullptr) {
    error(*sms.get("callback_address"),
          "sms.callback_address: needs callback_port (without it the callback is served on the "
          "API's listener)");
  }
}

void ConfigParser::parse_sms_templates(const toml::table& templates, SmsSettings& out) {
  // The same names as kSmsTemplateKeys (check_keys takes a list).
  check_keys(
      templates,
      {"opened", "warning", "target_missed", "deadline_breached", "overdue", "resend", "deputy",
       "drill", "reply_hint", "ack_hint", "unreached", "source_silent", "source_back"},
      "sms.templates");
  for (auto&& [key, value] : templates) {
    const std::string name(key.str());
    const std::string path = "sms.templates." + name;
    const auto* text = value.as_string();
    if (text == nullptr) {
      wrong_type(value, path, "a string");
      continue;
    }
    check_placeholders(value, path, text->get(),
                       std::vector<std::string_view>(std::begin(kSmsTemplatePlaceholders),
                                                     std::end(kSmsTemplatePlaceholders)));
    out.templates[name] = text->get();
  }
}

// `{name}` placeholders must be known ones; a brace without its partner is an error too, so a
// typo never reaches a phone as literal braces.
void ConfigParser::check_placeholders(const toml::node& node, const std::string& path,
                                      std::string_view text,
                                      const std::vector<std::string_view>& known) {
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t open = text.find_first_of("{}", at);
    if (open == std::string_view::npos) return;
    const std::size_t close = text[open] == '{' ? text.find('}', open) : std::string_view::npos;
    if (close == std::string_view::npos) {
      error(node, path + ": unmatched " + quote(std::string(1, text[open])) +
                      " (placeholders are written {name})");
      return;
    }
    const std::string_view name = text.substr(open + 1, close - open - 1);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string message = path + ": unknown placeholder {";
      message.append(name).append("} (known: ");
      for (std::size_t i = 0; i < known.size(); ++i) {
        message.append(i == 0 ? "{" : ", {").append(known[i]).append("}");
      }
      error(node, message + ")");
    }
    at = close + 1;
  }
}

void ConfigParser::parse_notify(const toml::table& notify, NotifySettings& out) {
  check_keys(notify,
             {"retry_base", "retry_max", "jitter", "fallback_after", "send_timeout", "poll_every",
              "max_in_flight", "give_up_after", "operator", "webhooks"},
             "notify");
  read_duration(notify, "retry_base", "notify", out.retry_base, kMinRetry);
  if (const toml::node* node =
          read_duration(notify, "retry_max", "notify", out.retry_max, kMinRetry)) {
    if (out.retry_max < out.retry_base) {
      error(*node, "notify.retry_max: must not be shorter than notify.retry_base");
    }
  }
  read_jitter(notify, out);
  read_duration(notify, "fallback_after", "notify", out.fallback_after, std::chrono::seconds(1));
  read_duration(notify, "send_timeout", "notify", out.send_timeout, kMinSendTimeout);
  read_duration(notify, "poll_every", "notify", out.poll_every, kMinRetry);
  if (const toml::node* node = read_duration(notify, "give_up_after", "notify", out.give_up_after,
                                             std::chrono::seconds(1))) {
    if (out.give_up_after < out.fallback_after) {
      error(*node, "notify.give_up_after: must not be shorter than notify.fallback_after");
    }
  }
  // Checked against the roster once it is parsed (check_operators).
  pending_operators_ = get_string_array(notify, "operator", "notify", "person ids from [[units]]");
  for (const auto& [id, node] : pending_operators_) out.operators.push_back(id);
  if (auto v = get_integer_in(notify, "max_in_flight", "notify", "sends, 1 to 10000", 1, 10000)) {
    out.max_in_flight = static_cast<int>(*v);
  }
  const toml::array* routes = get_table_array(notify, "webhooks", "notify");
  if (routes == nullptr) return;
  std::size_t index = 0;
  for (const toml::node& element : *routes) {
    ++index;
    const toml::table& t = *element.as_table();
    const std::string path = "notify.webhooks[" + std::to_string(index) + "]";
    out.webhooks.push_back(parse_webhook_route(t, path));
  }
}

// Each retry wait is randomised by +- this fraction, so failed sends do not all return at once.
void ConfigParser::read_jitter(const toml::table& notify, NotifySettings& out) {
  const toml::node* node = notify.get("jitter");
  if (node == nullptr) return;
  const std::optional<double> v = node->value<double>();
  if (!v || node->is_boolean()) {
    wrong_type(*node, "notify.jitter", "a number from 0 to 1 (a fraction of each wait)");
  } else if (!std::isfinite(*v)) {
    // nan compares false with everything, so a range check alone would let it through.
    error(*node, "notify.jitter: must be a finite number from 0 to 1, got " +
                     std::string(std::isnan(*v) ? "nan" : "inf"));
  } else if (*v < 0 || *v > 1) {
    error(*node, "notify.jitter: must be from 0 to 1, got " + std::to_string(*v));
  } else {
    out.jitter = *v;
  }
}

// One [[notify.webhooks]] route: how calls to URLs under `match` are formatted and signed.
WebhookRoute ConfigParser::parse_webhook_route(const toml::table& t, const std::string& path) {
  check_keys(t, {"match", "format", "secret", "secret_file"}, path);
  WebhookRoute route;
  if (auto v = get_string(t, "match", path, true, "the URL prefix this route applies to")) {
    route.match = *v;
  }
  if (auto v = get_string(t, "format", path, false, "generic, dingtalk, wecom or feishu")) {
    static constexpr std::string_view kFormats[] = {"generic", "dingtalk", "wecom", "feishu"};
    if (contains(kFormats, *v)) {
      route.format = *v;
    } else {
      error(*t.get("format"), path + ".format: unknown format " + quote(*v) +
                                  " (expected \"generic\", \"dingtalk\", \"wecom\" or "
                                  "\"feishu\")");
    }
  }
  if (auto v = get_string(t, "secret", path, false, "the signing secret")) route.secret = *v;
  if (auto v = get_string(t, "secret_file", path, false, "a file holding the secret")) {
    route.secret_file = *v;
    read_files_.push_back({t.get("secret_file"), path + ".secret_file", *v, true});
  }
  if (!route.secret.empty() && !route.secret_file.empty()) {
    error(t, path + ": secret and secret_file exclude each other (set one)");
  }
  return route;
}

}  // namespace incidentd::config_detail
