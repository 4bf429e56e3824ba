#include "notify/reply_codes.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <random>

#include "incidentd/store.hpp"
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

std::string normalize_phone(std::string_view phone) {
  std::string digits;
  for (const char c : phone) {
    if (is_digit(c)) digits.push_back(c);
  }
  const bool plus = !phone.empty() && trim(phone).front() == '+';
  if (plus) return "+" + digits;
  if (starts_with(digits, "00")) return "+" + digits.substr(2);
  // A mainland mobile number as carriers often write it: 11 digits starting with 1.
  if (digits.size() == 11 && digits.front() == '1') return "+86" + digits;
  if (digits.size() == 13 && starts_with(digits, "86")) return "+" + digits;
  return digits;
}

std::string choose_code(const std::set<std::string>& in_use, int digits,
                        const std::function<std::uint64_t()>& random) {
  std::uint64_t low = 1;
  for (int i = 1; i < digits; ++i) low *= 10;
  const std::uint64_t span = low * 9;  // first digit 1-9
  if (in_use.size() >= span) return {};
  // Random draws while codes are plentiful; then a scan from a random start finds a free one.
  for (int attempt = 0; attempt < 32; ++attempt) {
    std::string code = std::to_string(low + random() % span);
    if (!in_use.contains(code)) return code;
  }
  const std::uint64_t start = random() % span;
  for (std::uint64_t k = 0; k < span; ++k) {
    std::string code = std::to_string(low + (start + k) % span);
    if (!in_use.contains(code)) return code;
  }
  return {};
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

// ---- persistence --------------------------------------------------------------------------

struct ReplyCodeStore::Impl {
  SQLite::Database db;
  int digits;
  Duration reuse_after;
  std::function<std::uint64_t()> random;

  StoreError error(std::string_view what, const std::exception& e) const {
    return StoreError("reply codes: " + std::string(what) + ": " + e.what());
  }

  static ReplyCode row(SQLite::Statement& q) {
    ReplyCode c;
    c.phone = q.getColumn(0).getString();
    c.code = q.getColumn(1).getString();
    c.incident_key = q.getColumn(2).getString();
    c.recipient = q.getColumn(3).getString();
    c.unit = q.getColumn(4).getString();
    if (!q.getColumn(5).isNull()) c.milestone = parse_milestone(q.getColumn(5).getString());
    c.round = q.getColumn(6).getInt();
    c.notification_id = q.getColumn(7).getString();
    c.issued_at = TimePoint{Duration{q.getColumn(8).getInt64()}};
    if (!q.getColumn(9).isNull())
      c.incident_closed_at = TimePoint{Duration{q.getColumn(9).getInt64()}};
    return c;
  }
};

namespace {
// incidents.closed_at is set by the store when an incident closes: no separate bookkeeping.
constexpr const char* kSelect =
    "SELECT r.phone, r.code, r.incident_key, r.recipient, r.unit, r.milestone, r.round, "
    "r.notification_id, r.issued_at, i.closed_at FROM reply_codes r "
    "LEFT JOIN incidents i ON i.incident_key = r.incident_key AND i.closed = 1 ";
}  // namespace

ReplyCodeStore::ReplyCodeStore(const std::string& database_path, int code_digits,
                               Duration reuse_after, std::function<std::uint64_t()> random) {
  try {
    impl_ = std::make_unique<Impl>(Impl{SQLite::Database(database_path, SQLite::OPEN_READWRITE),
                                        code_digits, reuse_after, std::move(random)});
  } catch (const SQLite::Exception& e) {
    throw StoreError("reply codes: open " + database_path + ": " + e.what());
  }
  if (!impl_->random) {
    impl_->random = [engine = std::mt19937_64(std::random_device{}())]() mutable {
      return engine();
    };
  }
  try {
    impl_->db.setBusyTimeout(5000);
    const int version = impl_->db.execAndGet("PRAGMA user_version").getInt();
    if (version < 4) {
      throw StoreError("reply codes: " + database_path + " is at schema version " +
                       std::to_string(version) + "; open it with the store first (needs 4)");
    }
  } catch (const SQLite::Exception& e) {
    throw impl_->error("open", e);
  }
}

ReplyCodeStore::~ReplyCodeStore() = default;

ReplyCode ReplyCodeStore::issue(const std::string& phone_in, const std::string& incident_key,
                                const std::string& recipient, const std::string& unit,
                                std::optional<Milestone> milestone, int round,
                                const std::string& notification_id, TimePoint now) {
  const std::string phone = normalize_phone(phone_in);
  try {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement purge(impl_->db,
                            "DELETE FROM reply_codes WHERE phone = ? AND incident_key IN "
                            "(SELECT incident_key FROM incidents WHERE closed = 1 AND "
                            "closed_at IS NOT NULL AND closed_at <= ?)");
    purge.bind(1, phone);
    purge.bind(2, static_cast<std::int64_t>((now - impl_->reuse_after).time_since_epoch().count()));
    purge.exec();

    SQLite::Statement existing(impl_->db,
                               "SELECT code FROM reply_codes WHERE phone = ? AND "
                               "incident_key = ?");
    existing.bind(1, phone);
    existing.bind(2, incident_key);
    std::string code;
    if (existing.executeStep()) {
      code = existing.getColumn(0).getString();
    } else {
      std::set<std::string> in_use;
      SQLite::Statement used(impl_->db, "SELECT code FROM reply_codes WHERE phone = ?");
      used.bind(1, phone);
      while (used.executeStep()) in_use.insert(used.getColumn(0).getString());
      code = choose_code(in_use, impl_->digits, impl_->random);
      if (code.empty()) throw StoreError("reply codes: every code is in use for " + phone);
    }
    SQLite::Statement upsert(
        impl_->db,
        "INSERT INTO reply_codes (phone, code, incident_key, recipient, unit, milestone, round, "
        "notification_id, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (phone, code) DO UPDATE SET recipient = excluded.recipient, "
        "unit = excluded.unit, milestone = excluded.milestone, round = excluded.round, "
        "notification_id = excluded.notification_id, issued_at = excluded.issued_at");
    upsert.bind(1, phone);
    upsert.bind(2, code);
    upsert.bind(3, incident_key);
    upsert.bind(4, recipient);
    upsert.bind(5, unit);
    if (milestone) {
      upsert.bind(6, std::string(to_string(*milestone)));
    } else {
      upsert.bind(6);
    }
    upsert.bind(7, round);
    upsert.bind(8, notification_id);
    upsert.bind(9, static_cast<std::int64_t>(now.time_since_epoch().count()));
    upsert.exec();
    tx.commit();
    return ReplyCode{phone,     code,  incident_key,    recipient, unit,
                     milestone, round, notification_id, now,       std::nullopt};
  } catch (const SQLite::Exception& e) {
    throw impl_->error("issue", e);
  }
}

std::vector<ReplyCode> ReplyCodeStore::with_code(const std::string& code) {
  try {
    SQLite::Statement q(impl_->db, std::string(kSelect) + "WHERE r.code = ?");
    q.bind(1, code);
    std::vector<ReplyCode> out;
    while (q.executeStep()) out.push_back(Impl::row(q));
    return out;
  } catch (const SQLite::Exception& e) {
    throw impl_->error("find code", e);
  }
}

std::optional<ReplyCode> ReplyCodeStore::latest_open_for_phone(const std::string& phone) {
  try {
    SQLite::Statement q(impl_->db, std::string(kSelect) +
                                       "WHERE r.phone = ? AND i.closed_at IS NULL "
                                       "ORDER BY r.issued_at DESC LIMIT 1");
    q.bind(1, normalize_phone(phone));
    if (q.executeStep()) return Impl::row(q);
    return std::nullopt;
  } catch (const SQLite::Exception& e) {
    throw impl_->error("latest code", e);
  }
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
