#include "notify/reply_codes.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <random>

#include "store/sqlite_store.hpp"
#include "support/temp_dir.hpp"
#include "support/test_config.hpp"

using namespace incidentd;
namespace fs = std::filesystem;

namespace {

using testing::TempDir;

TimePoint at(const char* rfc3339) {
  return *parse_rfc3339(rfc3339);
}

class FakeCodes final : public ReplyCodeLookup {
 public:
  std::vector<ReplyCode> codes;
  std::vector<ReplyCode> with_code(const std::string& code) override {
    std::vector<ReplyCode> out;
    for (const auto& c : codes) {
      if (c.code == code) out.push_back(c);
    }
    return out;
  }
  std::optional<ReplyCode> latest_open_for_phone(const std::string& phone) override {
    std::optional<ReplyCode> best;
    for (const auto& c : codes) {
      if (c.phone == phone && !c.incident_closed_at && (!best || c.issued_at > best->issued_at)) {
        best = c;
      }
    }
    return best;
  }
};

ReplyCode code(std::string value, std::string phone, std::string incident) {
  ReplyCode c;
  c.code = std::move(value);
  c.phone = std::move(phone);
  c.incident_key = std::move(incident);
  c.recipient = "zt-duty1";
  c.unit = "zhaotong-gov";
  c.milestone = Milestone::first_release;
  c.notification_id = "n1";
  c.issued_at = at("2026-11-26T10:00:00+08:00");
  return c;
}

constexpr auto k72h = std::chrono::hours(72);

class FixedTime final : public TimeSource {
 public:
  TimePoint t{};
  TimePoint now() const override { return t; }
};

void add_incident(const std::string& db_path, const std::string& key,
                  std::optional<TimePoint> closed_at) {
  SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
  SQLite::Statement q(db,
                      "INSERT INTO incidents (incident_key, level, drill, closed, opened_at, "
                      "clock_start, closed_at, title, lead_unit, state, updated_seq) VALUES "
                      "(?, 'II', 0, ?, 0, 0, ?, '', 'zhaotong-gov', '{}', 0) "
                      "ON CONFLICT (incident_key) DO UPDATE SET closed = excluded.closed, "
                      "closed_at = excluded.closed_at");
  q.bind(1, key);
  q.bind(2, closed_at ? 1 : 0);
  if (closed_at) {
    q.bind(3, static_cast<std::int64_t>(closed_at->time_since_epoch().count()));
  } else {
    q.bind(3);
  }
  q.exec();
}

}  // namespace

TEST_CASE("replies are read as code plus 1 or 2, or as 收到 / 已发布") {
  auto r = parse_reply("48271", 4);
  REQUIRE(r);
  CHECK(r->code == "4827");
  CHECK(r->intent == ReplyIntent::acknowledge);

  r = parse_reply(" 4827 2  https://example.org/release/1 ", 4);
  REQUIRE(r);
  CHECK(r->intent == ReplyIntent::confirm_release);
  CHECK(r->url == "https://example.org/release/1");

  r = parse_reply("４８２７１。", 4);  // full-width digits, a full stop
  REQUIRE(r);
  CHECK(r->code == "4827");

  r = parse_reply("收到", 4);
  REQUIRE(r);
  CHECK(r->code.empty());
  CHECK(r->intent == ReplyIntent::acknowledge);

  r = parse_reply("已发布 https://example.org/r", 4);
  REQUIRE(r);
  CHECK(r->intent == ReplyIntent::confirm_release);
  CHECK(r->url == "https://example.org/r");

  r = parse_reply("4827已发布", 4);
  REQUIRE(r);
  CHECK(r->code == "4827");
  CHECK(r->intent == ReplyIntent::confirm_release);

  CHECK_FALSE(parse_reply("48273", 4));                  // no action 3
  CHECK_FALSE(parse_reply("48271", 3));                  // a four-digit run with three-digit codes
  CHECK_FALSE(parse_reply("4827 1 thanks", 4));          // an ack takes no text
  CHECK_FALSE(parse_reply("4827 2 released today", 4));  // only a URL after a release
  CHECK_FALSE(parse_reply("好的", 4));
  CHECK_FALSE(parse_reply("", 4));
}

TEST_CASE("phone numbers match whatever way the carrier writes them") {
  CHECK(normalize_phone("+8613800000101") == "+8613800000101");
  CHECK(normalize_phone("8613800000101") == "+8613800000101");
  CHECK(normalize_phone("13800000101") == "+8613800000101");
  CHECK(normalize_phone("+86 138-0000-0101") == "+8613800000101");
  CHECK(normalize_phone("008613800000101") == "+8613800000101");
}

TEST_CASE("a new code avoids the codes in use for the phone, and fails only when all are") {
  std::uint64_t next = 0;
  const auto counting = [&next] { return next++; };
  CHECK(choose_code({}, 3, counting) == "100");
  std::set<std::string> in_use;
  for (int i = 100; i < 999; ++i) in_use.insert(std::to_string(i));
  next = 0;
  CHECK(choose_code(in_use, 3, counting) == "999");
  in_use.insert("999");
  CHECK(choose_code(in_use, 3, counting).empty());
}

TEST_CASE("a reply from the phone the code was sent to acknowledges or confirms") {
  FakeCodes codes;
  codes.codes.push_back(code("4827", "+8613800000101", "zt-1"));
  const TimePoint now = at("2026-11-26T10:05:00+08:00");

  auto d = decide_reply("8613800000101", "48271", 4, codes, now, k72h);
  CHECK(d.kind == ReplyDecision::Kind::acknowledge);
  REQUIRE(d.code);
  CHECK(d.code->incident_key == "zt-1");
  CHECK(d.answer == "已确认您收到事件zt-1的通知，将不再重复提醒您。");

  d = decide_reply("+8613800000101", "48272 https://example.org/r/1", 4, codes, now, k72h);
  CHECK(d.kind == ReplyDecision::Kind::confirm_release);
  CHECK(d.url == "https://example.org/r/1");
  CHECK(d.answer == "已记录zhaotong-gov完成首次权威信息发布（事件zt-1），谢谢。");

  // A code-less 收到 acknowledges for the phone's latest code: it only stops re-sends.
  d = decide_reply("+8613800000101", "收到", 4, codes, now, k72h);
  CHECK(d.kind == ReplyDecision::Kind::acknowledge);
  CHECK(d.code->code == "4827");
}

TEST_CASE("a release needs the code: a bare 已发布 from a roster phone records nothing") {
  FakeCodes codes;
  codes.codes.push_back(code("4827", "+8613800000101", "zt-1"));
  const TimePoint now = at("2026-11-26T10:05:00+08:00");
  const std::string asks_for_code =
      "确认发布须附回复码，未作处理。请回复通知短信中的回复码加2（可附链接），例如“12342 "
      "https://...”。";
  for (const char* text : {"已发布", "已发布 https://attacker.example/r"}) {
    INFO(text);
    const auto d = decide_reply("+8613800000101", text, 4, codes, now, k72h);
    CHECK(d.kind == ReplyDecision::Kind::rejected);
    CHECK_FALSE(d.code);
    CHECK(d.answer == asks_for_code);
  }
  // With the code, from the phone it was sent to, the same reply confirms.
  const auto d =
      decide_reply("+8613800000101", "4827已发布 https://example.org/r", 4, codes, now, k72h);
  CHECK(d.kind == ReplyDecision::Kind::confirm_release);
  CHECK(d.url == "https://example.org/r");
  // The code from any other phone does not.
  CHECK(decide_reply("+8613900000999", "48272", 4, codes, now, k72h).kind ==
        ReplyDecision::Kind::rejected);
}

TEST_CASE("foreign, unknown, closed and expired codes change nothing and say why") {
  FakeCodes codes;
  codes.codes.push_back(code("4827", "+8613800000101", "zt-1"));
  ReplyCode closed = code("5555", "+8613800000101", "zt-0");
  closed.incident_closed_at = at("2026-11-25T10:00:00+08:00");
  codes.codes.push_back(closed);
  const TimePoint now = at("2026-11-26T10:05:00+08:00");

  auto d = decide_reply("+8613900000999", "48271", 4, codes, now, k72h);
  CHECK(d.kind == ReplyDecision::Kind::rejected);
  CHECK(d.answer == "回复码4827不是发给本号码的，未作处理。");

  d = decide_reply("+8613800000101", "12341", 4, codes, now, k72h);
  CHECK(d.kind == ReplyDecision::Kind::rejected);
  CHECK(d.answer == "回复码1234不存在或已失效，未作处理。");

  d = decide_reply("+8613800000101", "55552", 4, codes, now, k72h);
  CHECK(d.kind == ReplyDecision::Kind::rejected);
  CHECK(d.answer == "事件zt-0已结束，回复码5555已失效，未作处理。");

  // 72 h after the close the code is as good as unknown, even if not yet purged.
  d = decide_reply("+8613800000101", "55551", 4, codes, at("2026-11-28T10:00:00+08:00"), k72h);
  CHECK(d.answer == "回复码5555不存在或已失效，未作处理。");

  d = decide_reply("+8613900000999", "收到", 4, codes, now, k72h);
  CHECK(d.kind == ReplyDecision::Kind::rejected);
  CHECK(d.answer == "本号码没有待回复的舆情处置通知，未作处理。");

  d = decide_reply("+8613800000101", "好的", 4, codes, now, k72h);
  CHECK(d.kind == ReplyDecision::Kind::rejected);
  CHECK(d.answer.find("未能识别您的回复") == 0);
}

TEST_CASE("codes persist: one per phone and incident, reused only 72 h after the close") {
  TempDir dir{"incidentd-reply-codes"};
  const std::string db = dir.file("incidentd.db");
  SqliteStore store(db);  // creates the schema, reply_codes included
  add_incident(db, "zt-1", std::nullopt);
  add_incident(db, "zt-2", std::nullopt);
  // Draws that always hit the same code: the second incident must get another one.
  const auto owned = store.reply_codes(4, k72h, [] { return std::uint64_t{0}; });
  ReplyCodeStore& codes = *owned;
  const TimePoint t0 = at("2026-11-26T10:00:00+08:00");

  const ReplyCode first = codes.issue("13800000101", "zt-1", "zt-duty1", "zhaotong-gov",
                                      Milestone::first_release, 0, "n1", t0);
  CHECK(first.code == "1000");
  CHECK(first.phone == "+8613800000101");
  const ReplyCode again =
      codes.issue("+8613800000101", "zt-1", "zt-duty1", "zhaotong-gov", Milestone::press_conference,
                  0, "n2", t0 + std::chrono::hours(1));
  CHECK(again.code == "1000");
  const ReplyCode other = codes.issue("+8613800000101", "zt-2", "zt-duty1", "zhaotong-gov",
                                      Milestone::first_release, 0, "n3", t0);
  CHECK(other.code != "1000");
  // Another phone may hold the same code value.
  CHECK(codes
            .issue("+8613800000202", "zt-1", "b-duty1", "prov-cac", Milestone::first_release, 0,
                   "n4", t0)
            .code == "1000");

  auto found = codes.with_code("1000");
  REQUIRE(found.size() == 2);
  const auto mine = found[0].phone == "+8613800000101" ? found[0] : found[1];
  CHECK(mine.milestone == Milestone::press_conference);  // the latest notification's
  CHECK(mine.notification_id == "n2");
  CHECK_FALSE(mine.incident_closed_at);
  auto latest = codes.latest_open_for_phone("+8613800000101");
  REQUIRE(latest);
  CHECK(latest->incident_key == "zt-1");  // issued last (t0 + 1 h)

  // zt-1 closes: its code answers "closed" and is kept for 72 h for this phone.
  const TimePoint closed = t0 + std::chrono::hours(2);
  add_incident(db, "zt-1", closed);
  found = codes.with_code("1000");
  REQUIRE(found.size() == 2);
  CHECK(found[0].incident_closed_at == closed);
  CHECK(codes.latest_open_for_phone("+8613800000101")->incident_key == "zt-2");
  add_incident(db, "zt-3", std::nullopt);
  const ReplyCode before =
      codes.issue("+8613800000101", "zt-3", "zt-duty1", "zhaotong-gov", Milestone::first_release, 0,
                  "n5", closed + k72h - std::chrono::minutes(1));
  CHECK(before.code != "1000");
  add_incident(db, "zt-4", std::nullopt);
  const ReplyCode after = codes.issue("+8613800000101", "zt-4", "zt-duty1", "zhaotong-gov",
                                      Milestone::first_release, 0, "n6", closed + k72h);
  CHECK(after.code == "1000");
}

TEST_CASE("the reply handler turns a reply into an acknowledgement or a confirmation") {
  FakeCodes codes;
  codes.codes.push_back(code("4827", "+8613800000101", "zt-1"));
  FixedTime time;
  time.t = at("2026-11-26T10:05:00+08:00");
  SmsReplyHandler handler(codes, time, 4, k72h);

  auto out = handler.handle_sms_reply("+8613800000101", "10690000", "48271");
  REQUIRE(out.acknowledgement);
  CHECK_FALSE(out.confirmation);
  CHECK(out.acknowledgement->recipient == "zt-duty1");
  CHECK(out.acknowledgement->via == "sms");
  CHECK(out.acknowledgement->at == time.t);

  out = handler.handle_sms_reply("+8613800000101", "10690000", "已发布 https://example.org/r");
  CHECK_FALSE(out.acknowledgement);
  CHECK_FALSE(out.confirmation);
  CHECK_THAT(out.answer, Catch::StartsWith("确认发布须附回复码，未作处理。"));

  out = handler.handle_sms_reply("+8613800000101", "10690000", "48272 https://example.org/r");
  REQUIRE(out.confirmation);
  CHECK(out.confirmation->unit == "zhaotong-gov");
  CHECK(out.confirmation->milestone == Milestone::first_release);
  CHECK(out.confirmation->url == "https://example.org/r");
  CHECK(out.confirmation->via == "sms");
  CHECK_FALSE(out.confirmation->confirmation_id.empty());

  out = handler.handle_sms_reply("+8613900000999", "10690000", "48272");
  CHECK_FALSE(out.acknowledgement);
  CHECK_FALSE(out.confirmation);
  CHECK(out.answer == "回复码4827不是发给本号码的，未作处理。");
}

TEST_CASE("[sms] settings load, and unknown keys or placeholders are errors") {
  const std::string base = testing::small_config_toml();
  const Config c = testing::config_from_toml(base + R"(
[sms]
enabled = true
gateway = "kannel"
url = "http://127.0.0.1:13013/cgi-bin/sendsms"
sender = "10690000"
max_parts = 4
reply_code_digits = 5
[sms.templates]
warning = "{title}：还剩{remaining}"
)");
  CHECK(c.sms.enabled);
  CHECK(c.sms.max_parts == 4);
  CHECK(c.sms.reply_code_digits == 5);
  CHECK(c.sms.templates.at("warning") == "{title}：还剩{remaining}");

  auto bad = parse_config(base + R"(
[sms]
gatway = "kannel"
[sms.templates]
warning = "{titel}"
overdue = "{title"
)",
                          "bad.toml");
  REQUIRE(bad.errors.size() == 3);
  CHECK(bad.errors[0].message.find("did you mean \"gateway\"") != std::string::npos);
  CHECK(bad.errors[1].message.find("unknown placeholder {titel}") != std::string::npos);
  CHECK(bad.errors[2].message.find("unmatched") != std::string::npos);
}
