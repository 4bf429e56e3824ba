// One-click ack links (docs/http-api.md), /v1/ack/{token}.
//
// GET (and HEAD) of a link shows who and what it is about and a button; only the POST that
// button sends acknowledges, so a chat app's link preview or a mail scanner that opens the URL
// acknowledges nothing. The token in the path is the capability: no further CSRF token, but a
// POST whose Origin is present and not ours is refused.
#include "http/api_routes.hpp"

#include <exception>

#include "core/html_escape.hpp"
#include "incidentd/ack_link_log.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/engine.hpp"

namespace incidentd::http::routes {

// The page for a link, or the page that says why it does not work.
Response Api::ack_link_page(const Request& request) const {
  const bool english = english_only(request);
  auto opened = open_link(request, english);
  if (auto* refused = std::get_if<Response>(&opened)) return *refused;
  const AckLink& link = std::get<AckLink>(opened);
  const LinkFacts facts = link_facts(link);
  const std::string action =
      "./" + html_escape(request.params.at("token")) + (english ? "?lang=en" : "");
  const std::string button = english ? "Acknowledge" : "确认收到 / Acknowledge";
  const std::string form = "<form method=\"post\" action=\"" + action +
                           "\"><button type=\"submit\">" + button + "</button></form>\n";
  const std::string zh =
      "<h1>确认收到预警</h1>\n" + facts.zh + form +
      "<p>点击上面的按钮，即表示您本人已看到这条预警。仅打开本页面不会确认。</p>\n";
  const std::string en = "<h1>Acknowledge an alert</h1>\n" + facts.en +
                         (english ? form : std::string()) + "<p>Pressing the button " +
                         (english ? "" : "above ") +
                         "says that you yourself have seen this alert. Opening this page alone "
                         "acknowledges nothing.</p>\n";
  return html_page(200, english, "确认收到预警", zh, "Acknowledge an alert", en);
}

Response Api::ack_link_post(const Request& request) {
  const bool english = english_only(request);
  if (const std::string& origin = request.header("origin");
      !origin.empty() && !own_origin(origin, request.header("host"))) {
    return message_page(403, english, "请求被拒绝",
                        "此确认不是从本系统的页面提交的，未予处理。请直接打开通知中的链接。",
                        "Request refused",
                        "This acknowledgement was not sent from this service's own page and "
                        "was not recorded. Open the link in the notification itself.");
  }
  auto opened = open_link(request, english);
  if (auto* refused = std::get_if<Response>(&opened)) return *refused;
  const AckLink& link = std::get<AckLink>(opened);
  if (!owned(link.incident_key)) return forward_link(link, english);
  const Response done = acknowledge(link.incident_key, link.recipient, "link");
  if (done.status != 200) return failure_page(done, english);
  if (c_.used_links != nullptr) {
    try {
      // Recorded after the acknowledgement is durable: a crash in between lets the link work
      // once more, which acknowledges again and changes nothing.
      if (!c_.used_links->record_used_link(link.notification_id, link.incident_key,
                                           c_.time->now())) {
        return used_page(english);
      }
    } catch (const std::exception& e) {
      if (c_.on_store_failure) c_.on_store_failure(e);
      return failure_page(Response::error(503, "store_failed", e.what()), english);
    }
  }
  const LinkFacts facts = link_facts(link);
  return html_page(200, english, "已确认收到",
                   "<h1>已确认收到</h1>\n" + facts.zh + "<p>已记录您的确认，不再重复提醒您。</p>\n",
                   "Acknowledged",
                   "<h1>Acknowledged</h1>\n" + facts.en +
                       "<p>Your acknowledgement is recorded; you will not be reminded of this "
                       "alert again.</p>\n");
}

// An incident another instance owns ([cluster]): the acknowledgement goes to its owner through
// the inputs topic (forward()), and the page says so once the broker has it; the link is
// marked used here then. Only values are captured: the answer may come after the server is gone.
Response Api::forward_link(const AckLink& link, bool english) const {
  Response forwarded =
      forward({Acknowledgement{link.incident_key, link.recipient, c_.time->now(), "link"}, {}},
              json::object());
  if (!forwarded.on_later) return failure_page(forwarded, english);
  const LinkFacts facts = link_facts(link);
  return Response::later([start = std::move(forwarded.on_later), link, english, facts,
                          used = c_.used_links, time = c_.time, on_failure = c_.on_store_failure](
                             const std::function<void(Response)>& respond) {
    start([respond, link, english, facts, used, time, on_failure](const Response& r) {
      if (r.status != 202) {
        respond(message_page(r.status, english, "无法确认",
                             "系统暂时无法转交您的确认，请稍后再试，或联系值班台。",
                             "Cannot acknowledge", html_escape(r.body)));
        return;
      }
      if (used != nullptr) {
        try {
          used->record_used_link(link.notification_id, link.incident_key, time->now());
        } catch (const std::exception& e) {
          if (on_failure) on_failure(e);
        }
      }
      respond(html_page(202, english, "已收到确认",
                        "<h1>已收到确认</h1>\n" + facts.zh +
                            "<p>已转交负责此事件的服务器记录，稍后生效，不再重复提醒您。</p>\n",
                        "Acknowledgement received",
                        "<h1>Acknowledgement received</h1>\n" + facts.en +
                            "<p>It was passed on to the server in charge of this incident, which "
                            "records it shortly; you will not be reminded of this alert "
                            "again.</p>\n"));
    });
  });
}

bool Api::english_only(const Request& request) {
  const auto lang = request.query.find("lang");
  return lang != request.query.end() && lang->second == "en";
}

// The link if it may be used now, else the page that says why not.
std::variant<AckLink, Response> Api::open_link(const Request& request, bool english) const {
  if (c_.links == nullptr) {
    return message_page(404, english, "链接不可用",
                        "本系统未启用一键确认链接。请按短信提示回复，或联系值班台。",
                        "Link not available",
                        "One-click acknowledgement links are off on this service. Reply to "
                        "the SMS as it says, or call the duty desk.");
  }
  const auto verified = c_.links->verify(request.params.at("token"), c_.time->now());
  using Verdict = AckLinkSigner::Verdict;
  switch (verified.verdict) {
    case Verdict::malformed:
    case Verdict::forged:
      return message_page(403, english, "链接无效",
                          "此链接无效：它不完整或被改动过。请打开通知中的原始链接。",
                          "Invalid link",
                          "This link is not valid: it is incomplete or was altered. Open the "
                          "link exactly as the notification gave it.");
    case Verdict::expired: {
      const std::string at =
          html_escape(format_rfc3339(verified.link.expires_at, config()->utc_offset));
      return message_page(410, english, "链接已过期",
                          "此链接已于 " + at + " 过期。请按短信提示回复确认，或联系值班台。",
                          "Link expired",
                          "This link expired at " + at +
                              ". Acknowledge by replying to the SMS, or call the duty desk.");
    }
    case Verdict::ok:
      break;
  }
  const AckLink& link = verified.link;
  if (c_.used_links != nullptr && c_.used_links->is_link_used(link.notification_id)) {
    return used_page(english);
  }
  if (auto missing = require_open(link.incident_key)) return failure_page(*missing, english);
  return link;
}

Api::LinkFacts Api::link_facts(const AckLink& link) const {
  std::string title;
  const PendingDelivery* delivery = nullptr;
  if (const IncidentState* s = c_.engine->find(link.incident_key)) {
    title = s->title;
    for (const PendingDelivery& d : s->deliveries) {
      // The notification id is alert_id + "/" + recipient + "/" + send number.
      const std::string prefix = d.alert_id + "/" + d.recipient + "/";
      if (d.recipient == link.recipient && link.notification_id.starts_with(prefix)) {
        delivery = &d;
      }
    }
  }
  const auto roster = config();  // held while `person` and `unit` point into it
  const Person* person = roster->find_person(link.recipient);
  const Unit* unit = roster->unit_of_person(link.recipient);
  const std::string who = html_escape(person != nullptr ? person->name : link.recipient) +
                          (unit != nullptr ? "（" + html_escape(unit->name) + "）" : "");
  const std::string who_en = html_escape(person != nullptr ? person->name : link.recipient) +
                             (unit != nullptr ? " (" + html_escape(unit->name) + ")" : "");
  const std::string incident = html_escape(title) + (title.empty() ? "" : " ") + "<code>" +
                               html_escape(link.incident_key) + "</code>";
  std::string alert_zh = "通知 <code>" + html_escape(link.notification_id) + "</code>";
  std::string alert_en = "notification <code>" + html_escape(link.notification_id) + "</code>";
  if (delivery != nullptr) {
    const std::string due = html_escape(format_rfc3339(delivery->due, config()->utc_offset));
    const auto [cause_zh, cause_en] = cause_words(delivery->cause);
    alert_zh = std::string(milestone_zh(delivery->milestone)) + cause_zh + "，时限 " + due;
    alert_en = std::string(cause_en) + ", " + milestone_en(delivery->milestone) + ", due " + due;
  }
  return {"<dl><dt>事件</dt><dd>" + incident + "</dd><dt>预警</dt><dd>" + alert_zh +
              "</dd><dt>接收人</dt><dd>" + who + "</dd></dl>\n",
          "<dl><dt>Incident</dt><dd>" + incident + "</dd><dt>Alert</dt><dd>" + alert_en +
              "</dd><dt>Recipient</dt><dd>" + who_en + "</dd></dl>\n"};
}

std::string_view Api::milestone_zh(Milestone m) {
  switch (m) {
    case Milestone::first_release:
      return "首次权威信息发布";
    case Milestone::press_conference:
      return "新闻发布会";
    case Milestone::follow_up:
      return "持续发布";
  }
  return "发布";
}

std::string Api::milestone_en(Milestone m) {
  std::string words(to_string(m));
  for (char& ch : words) ch = ch == '_' ? ' ' : ch;
  return words;
}

std::pair<std::string, std::string> Api::cause_words(ActionKind cause) {
  switch (cause) {
    case ActionKind::warning:
      return {"时限预警", "deadline warning"};
    case ActionKind::target_missed:
      return {"已超目标时限", "target time missed"};
    case ActionKind::deadline_breached:
      return {"已超最迟时限", "deadline breached"};
    case ActionKind::escalated:
      return {"升级通知", "escalation"};
    default:
      return {"通知", "notice"};
  }
}

// Whether `origin` (an Origin header) is this service: the origin of public_url, or the
// scheme and Host of the request itself.
bool Api::own_origin(const std::string& origin, const std::string& host) const {
  const auto lower = [](std::string text) {
    for (char& ch : text) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    return text;
  };
  const std::string presented = lower(origin);
  const std::string public_url = config()->http.public_url;
  if (const std::size_t scheme = public_url.find("://"); scheme != std::string::npos) {
    const std::size_t path = public_url.find('/', scheme + 3);
    if (presented == lower(public_url.substr(0, path))) return true;
  }
  const bool tls = !config()->http.tls_cert.empty();
  return !host.empty() && presented == lower((tls ? "https://" : "http://") + host);
}

Response Api::used_page(bool english) const {
  return message_page(409, english, "链接已使用", "此链接已经用过一次，确认已记录，无需再次操作。",
                      "Link already used",
                      "This link was used already: the acknowledgement is recorded, nothing "
                      "more is needed.");
}

// An API error (JSON) from acknowledge()/require_open() as a page with the same status.
Response Api::failure_page(const Response& failed, bool english) const {
  const json body = json::parse(failed.body, nullptr, false);
  const std::string detail =
      body.is_object() && body.contains("detail") && body["detail"].is_string()
          ? body["detail"].get<std::string>()
          : std::string();
  std::string zh = "无法确认。";
  if (failed.status == 404) zh = "找不到此链接所指的事件。";
  if (failed.status == 409) zh = "此事件已结束，无需确认。";
  if (failed.status == 503) zh = "系统暂时无法记录确认，请稍后再试，或联系值班台。";
  return message_page(failed.status, english, "无法确认", html_escape(zh), "Cannot acknowledge",
                      html_escape(detail));
}

// A page with one message (already escaped) in each language.
Response Api::message_page(int status, bool english, std::string_view title_zh,
                           const std::string& text_zh, std::string_view title_en,
                           const std::string& text_en) {
  return html_page(status, english, title_zh,
                   "<h1>" + std::string(title_zh) + "</h1>\n<p>" + text_zh + "</p>\n", title_en,
                   "<h1>" + std::string(title_en) + "</h1>\n<p>" + text_en + "</p>\n");
}

// A self-contained page: Chinese first, English beneath; only English with ?lang=en. Nothing
// is loaded from elsewhere, the URL (the capability) is not sent on as a Referer, and no other
// site may frame the page or take its form.
Response Api::html_page(int status, bool english, std::string_view title_zh,
                        const std::string& body_zh, std::string_view title_en,
                        const std::string& body_en) {
  std::string page = "<!DOCTYPE html>\n<html lang=\"";
  page += english ? "en" : "zh-CN";
  page +=
      "\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"robots\" content=\"noindex\">\n<title>";
  page += english ? title_en : title_zh;
  page +=
      "</title>\n<style>body{font-family:sans-serif;max-width:36em;margin:1em auto;padding:0 "
      "1em;line-height:1.5}dt{font-weight:bold}dd{margin:0 0 .5em 0}button{font-size:1.2em;"
      "padding:.5em 1.5em}section+section{border-top:1px solid #ccc;margin-top:2em;color:#444}"
      "</style>\n</head>\n<body>\n";
  if (!english) page += "<section>\n" + body_zh + "</section>\n";
  page += english ? "<section>\n" : "<section lang=\"en\">\n";
  page += body_en + "</section>\n</body>\n</html>\n";
  Response r = Response::text(status, std::move(page), "text/html; charset=utf-8");
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                         "frame-ancestors 'none'; base-uri 'none'");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

}  // namespace incidentd::http::routes
