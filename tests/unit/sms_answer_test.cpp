// Answers to SMS replies (SmsAnswerSender) on a virtual clock with a scripted gateway: a failed
// answer is retried with the dispatcher's backoff until sent, a permanent refusal is not retried,
// and an answer that could only go out later than its maximum age is given up.
#include <catch2/catch.hpp>

#include <deque>
#include <vector>

#include "ctl/virtual_time.hpp"
#include "incidentd/time.hpp"
#include "notify/sms.hpp"
#include "notify/sms_service.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;

const TimePoint kStart = *parse_rfc3339("2026-11-26T10:00:00+08:00");

// Answers each send at once with the next scripted result; delivered when the script is empty.
class ScriptedGateway final : public SmsGateway {
 public:
  std::string_view kind() const override { return "fake"; }
  void send(const SmsMessage& message, std::function<void(SendResult)> done) override {
    sent.push_back(message);
    sent_at.push_back(time->now());
    SendResult result = SendResult::delivered("0: Accepted for delivery");
    if (!script.empty()) {
      result = script.front();
      script.pop_front();
    }
    done(std::move(result));
  }
  const TimeSource* time = nullptr;
  std::deque<SendResult> script;
  std::vector<SmsMessage> sent;
  std::vector<TimePoint> sent_at;
};

struct Harness {
  Harness() { gateway.time = &time; }
  VirtualTime time{kStart};
  ScriptedGateway gateway;
  // base 5 s, doubling, capped at 1 min; no jitter (u = 0.5 is the middle of the range anyway).
  RetrySettings retry{5s, 1min, 0.2, 10min};
  SmsAnswerSender answers{gateway, time, retry, [] { return 0.5; }};
};

}  // namespace

TEST_CASE("an answer the gateway fails twice is sent three times, with backoff, then stops") {
  Harness h;
  h.gateway.script = {SendResult::transient("HTTP 503"), SendResult::transient("timed out")};
  h.answers.send("+8613900001001", "回复码4827不存在或已失效，未作处理。");
  REQUIRE(h.gateway.sent.size() == 1);
  CHECK(h.answers.pending() == 1);

  h.time.advance_to(kStart + 5s - 1ms);
  CHECK(h.gateway.sent.size() == 1);  // not before the first backoff
  h.time.advance_to(kStart + 5s);
  CHECK(h.gateway.sent.size() == 2);
  h.time.advance_to(kStart + 5s + 10s);  // the second wait is doubled
  REQUIRE(h.gateway.sent.size() == 3);
  CHECK(h.answers.pending() == 0);
  CHECK(h.time.armed_timers() == 0);

  h.time.advance_by(2h);
  CHECK(h.gateway.sent.size() == 3);  // delivered: never again
  for (const SmsMessage& m : h.gateway.sent) {
    CHECK(m.phone == "+8613900001001");
    CHECK(m.text == "回复码4827不存在或已失效，未作处理。");
  }
  CHECK(h.gateway.sent_at == std::vector<TimePoint>{kStart, kStart + 5s, kStart + 15s});
}

TEST_CASE("an answer sent at once is not sent again") {
  Harness h;
  h.answers.send("+8613900001001", "已确认您收到。");
  CHECK(h.gateway.sent.size() == 1);
  CHECK(h.answers.pending() == 0);
  h.time.advance_by(1h);
  CHECK(h.gateway.sent.size() == 1);
}

TEST_CASE("a permanent refusal of an answer is not retried") {
  Harness h;
  h.gateway.script = {SendResult::permanent("HTTP 403: Authorization failed")};
  h.answers.send("+8613900001001", "已确认您收到。");
  CHECK(h.answers.pending() == 0);
  h.time.advance_by(1h);
  CHECK(h.gateway.sent.size() == 1);
}

TEST_CASE("an answer the gateway keeps failing is given up once it would be older than an hour") {
  Harness h;
  for (int i = 0; i < 1000; ++i) h.gateway.script.push_back(SendResult::transient("HTTP 503"));
  h.answers.send("+8613900001001", "已确认您收到。");
  h.time.advance_by(3h);
  CHECK(h.answers.pending() == 0);
  CHECK(h.time.armed_timers() == 0);
  // 5 s, 10 s, 20 s, 40 s, then every minute: the last try is within the hour of the first.
  REQUIRE(h.gateway.sent.size() >= 5);
  CHECK(h.gateway.sent_at.back() - kStart <= kSmsAnswerMaxAge);
  CHECK(h.gateway.sent_at.back() - kStart > kSmsAnswerMaxAge - 1min);
  const std::size_t tries = h.gateway.sent.size();
  h.time.advance_by(3h);
  CHECK(h.gateway.sent.size() == tries);
}

TEST_CASE("answers to several phones are retried each on its own") {
  Harness h;
  h.gateway.script = {SendResult::transient("HTTP 503"), SendResult::delivered()};
  h.answers.send("+8613900001001", "一");  // fails
  h.answers.send("+8613900001002", "二");  // delivered
  CHECK(h.answers.pending() == 1);
  h.time.advance_by(5s);
  REQUIRE(h.gateway.sent.size() == 3);
  CHECK(h.gateway.sent[2].phone == "+8613900001001");
  CHECK(h.answers.pending() == 0);
}

}  // namespace incidentd
