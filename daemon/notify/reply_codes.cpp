#include "notify/reply_codes.hpp"

#include <random>

#include "notify/message.hpp"

namespace incidentd {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Full-width digits and spaces (what a Chinese input method often types) to ASCII; the rest as is.
std::string to_ascii_digits(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
    if (i + 2 < text.size() && b(0) == 0xEF && b(1) == 0xBC && b(2) >= 0x90 && b(2) <= 0x99) {
      out.push_back(static_cast<char>('0' + (b(2) - 0x90)));  // U+FF10..U+FF19
      i += 2;
    } else if (i + 2 < text.size() && b(0) == 0xE3 && b(1) == 0x80 && b(2) == 0x80) {
      out.push_back(' ');  // U+3000 ideographic space
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string_view trim(std::string_view s) {
  // Spaces, and the punctuation people end a short reply with ("收到。", "48271!").
  constexpr std::string_view kTrailing[] = {"。", "！", "!", ".", " ", "\t", "\r", "\n"};
  bool changed = true;
  while (changed) {
    changed = false;
    while (!s.empty() &&
           (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
      s.remove_prefix(1);
      changed = true;
    }
    for (const auto t : kTrailing) {
      if (s.size() >= t.size() && s.substr(s.size() - t.size()) == t) {
        s.remove_suffix(t.size());
        changed = true;
      }
    }
  }
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Empty or one http(s) URL without spaces.
std::optional<std::string> optional_url(std::string_view rest) {
  rest = trim(rest);
  if (rest.empty()) return std::string();
  if (!(starts_with(rest, "http://") || starts_with(rest, "https://"))) return std::nullopt;
  if (rest.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  return std::string(rest);
}

constexpr std::string_view kAck = "收到";
constexpr std::string_view kReleased = "已发布";

std::optional<ParsedReply> parse_word(std::string_view rest, std::string code) {
  rest = trim(rest);
  if (starts_with(rest, kAck) && trim(rest.substr(kAck.size())).empty()) {
    return ParsedReply{std::move(code), ReplyIntent::acknowledge, {}};
  }
  if (starts_with(rest, kReleased)) {
    if (auto url = optional_url(rest.substr(kReleased.size()))) {
      return ParsedReply{std::move(code), ReplyIntent::confirm_release, *url};
    }
  }
  return std::nullopt;
}

std::optional<ParsedReply> parse_action_digit(char digit, std::string_view rest, std::string code) {
  if (digit == '1' && trim(rest).empty()) {
    return ParsedReply{std::move(code), ReplyIntent::acknowledge, {}};
  }
  if (digit == '2') {
    if (auto url = optional_url(rest)) {
      return ParsedReply{std::move(code), ReplyIntent::confirm_release, *url};
    }
  }
  return std::nullopt;
}

std::string millis_text(TimePoint t) {
  return std::to_string(t.time_since_epoch().count());
}

}  // namespace

std::optional<ParsedReply> parse_reply(std::string_view text, int code_digits) {
  const std::string ascii = to_ascii_digits(text);
  const std::string_view s = trim(ascii);
  if (s.empty()) return std::nullopt;
  if (!is_digit(s.front())) return parse_word(s, {});
  const auto n = static_cast<std::size_t>(code_digits);
  std::size_t run = 0;
  while (run < s.size() && is_digit(s[run])) ++run;
  if (run == n + 1) return parse_action_digit(s[n], s.substr(run), std::string(s.substr(0, n)));
  if (run != n) return std::nullopt;
  std::string code(s.substr(0, n));
  std::string_view rest = trim(s.substr(n));
  if (!rest.empty() && is_digit(rest.front())) {
    if (rest.size() > 1 && is_digit(rest[1])) return std::nullopt;
    return parse_action_digit(rest.front(), rest.substr(1), std::move(code));
  }
  return parse_word(rest, std::move(code));
}

ReplyDecision decide_reply(std::string_view from, std::string_view text, int code_digits,
                           ReplyCodeLookup& codes, TimePoint now, Duration reuse_after) {
  ReplyDecision decision;
  const std::string phone = normalize_phone(from);
  const std::optional<ParsedReply> reply = parse_reply(text, code_digits);
  if (!reply) {
    decision.answer =
        "未能识别您的回复，未作处理。请回复短信中的回复码加1表示收到，加2表示已发布"
        "（可附链接），例如“12341”；或回复“收到”。";
    return decision;
  }
  // A release confirmation meets a milestone and stops the escalation, so it needs the code that
  // was sent to this phone: a bare 已发布 carries nothing a forger of the sender could not know.
  // A code-less 收到 only stops re-sends to this person (it never meets a milestone).
  if (reply->code.empty() && reply->intent == ReplyIntent::confirm_release) {
    decision.answer =
        "确认发布须附回复码，未作处理。请回复通知短信中的回复码加2（可附链接），例如“12342 "
        "https://...”。";
    return decision;
  }
  std::optional<ReplyCode> code;
  if (reply->code.empty()) {
    code = codes.latest_open_for_phone(phone);
    if (!code) {
      decision.answer = "本号码没有待回复的舆情处置通知，未作处理。";
      return decision;
    }
  } else {
    const std::vector<ReplyCode> found = codes.with_code(reply->code);
    for (const auto& c : found) {
      if (c.phone == phone) code = c;
    }
    // A code closed longer than reuse_after ago may still be stored until it is reused: it has
    // expired all the same.
    const bool expired =
        code && code->incident_closed_at && *code->incident_closed_at + reuse_after <= now;
    if (!code || expired) {
      decision.answer = found.empty() || expired
                            ? "回复码" + reply->code + "不存在或已失效，未作处理。"
                            : "回复码" + reply->code + "不是发给本号码的，未作处理。";
      return decision;
    }
    if (code->incident_closed_at) {
      decision.answer =
          "事件" + code->incident_key + "已结束，回复码" + reply->code + "已失效，未作处理。";
      return decision;
    }
  }
  decision.code = code;
  if (reply->intent == ReplyIntent::acknowledge) {
    decision.kind = ReplyDecision::Kind::acknowledge;
    decision.answer = "已确认您收到事件" + code->incident_key + "的通知，将不再重复提醒您。";
    return decision;
  }
  if (!code->milestone) {
    decision.answer = "事件" + code->incident_key + "没有待确认的发布事项，未作处理。";
    return decision;
  }
  decision.kind = ReplyDecision::Kind::confirm_release;
  decision.url = reply->url;
  decision.answer = "已记录" + code->unit + "完成" +
                    chinese_milestone(*code->milestone, code->round) + "（事件" +
                    code->incident_key + "），谢谢。";
  return decision;
}

// ---- the callback --------------------------------------------------------------------------

SmsReplyHandler::SmsReplyHandler(ReplyCodeLookup& codes, const TimeSource& time, int code_digits,
                                 Duration reuse_after)
    : codes_(codes), time_(time), code_digits_(code_digits), reuse_after_(reuse_after) {}

SmsReplyOutcome SmsReplyHandler::handle_sms_reply(std::string_view from, std::string_view to,
                                                  std::string_view text) {
  const TimePoint now = time_.now();
  ReplyDecision decision = decide_reply(from, text, code_digits_, codes_, now, reuse_after_);
  SmsReplyOutcome out;
  out.answer = decision.answer;
  const std::string who = "sms reply from " + normalize_phone(from) + " to " + std::string(to);
  switch (decision.kind) {
    case ReplyDecision::Kind::rejected:
      out.log = who + ": changes nothing: " + decision.answer;
      break;
    case ReplyDecision::Kind::acknowledge:
      out.acknowledgement =
          Acknowledgement{decision.code->incident_key, decision.code->recipient, now, "sms"};
      out.log = who + ": acknowledges " + decision.code->incident_key + " for " +
                decision.code->recipient + " (code " + decision.code->code + ")";
      break;
    case ReplyDecision::Kind::confirm_release: {
      Confirmation c;
      // Unique per reply: the same code may confirm again later (the next follow-up round). The
      // person's roster id, never the phone: the id goes into the timeline and the API.
      c.confirmation_id =
          "sms-" + decision.code->recipient + "-" + decision.code->code + "-" + millis_text(now);
      c.incident_key = decision.code->incident_key;
      c.milestone = *decision.code->milestone;
      c.unit = decision.code->unit;
      c.released_at = now;
      c.url = decision.url;
      c.via = "sms";
      out.log = who + ": confirms " + std::string(to_string(c.milestone)) + " of " +
                c.incident_key + " for " + c.unit + " (code " + decision.code->code + ")";
      out.confirmation = std::move(c);
      break;
    }
  }
  return out;
}

}  // namespace incidentd
