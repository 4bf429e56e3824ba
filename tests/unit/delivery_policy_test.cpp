// The dispatcher's decisions on injected time and randomness: exponential backoff capped and
// jittered within bounds and carried across fallbacks, fallback to the next channel exactly when
// a channel has been down for fallback_after (one tick before: not yet), permanent failures moving
// on to channels that have not refused, giving up after give_up_after, and addresses scrubbed.
#include "incidentd/delivery_policy.hpp"

#include <catch2/catch.hpp>
#include <chrono>

namespace incidentd {
namespace {

using namespace std::chrono_literals;

const TimePoint kNow{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}};

RetrySettings settings() {
  RetrySettings s;
  s.base = 5s;
  s.max = 10min;
  s.jitter = 0.2;
  s.fallback_after = 10min;
  s.give_up_after = 1h;
  return s;
}

Person person(std::vector<std::string> channels, std::string phone = "+8613800000001",
              std::string webhook = "http://127.0.0.1:1/hook") {
  Person p;
  p.id = "a-duty1";
  p.phone = std::move(phone);
  p.webhook = std::move(webhook);
  p.channels = std::move(channels);
  return p;
}

AttemptFacts facts(SendOutcome outcome, std::string channel, int failures = 1) {
  AttemptFacts f;
  f.outcome = outcome;
  f.failures = failures;
  f.channel = channel;
  if (outcome == SendOutcome::permanent) f.dead_channels.push_back(f.channel);
  if (outcome != SendOutcome::delivered) f.failing_since = kNow;
  f.now = kNow;
  return f;
}

TEST_CASE("retry waits double from the base and stop growing at the maximum") {
  RetrySettings s = settings();
  s.jitter = 0;
  CHECK(retry_delay(s, 1, 0.5) == 5s);
  CHECK(retry_delay(s, 2, 0.5) == 10s);
  CHECK(retry_delay(s, 3, 0.5) == 20s);
  CHECK(retry_delay(s, 8, 0.5) == 10min);
  CHECK(retry_delay(s, 1000, 0.5) == 10min);
}

TEST_CASE("jitter spreads a wait by at most the configured fraction either way") {
  const RetrySettings s = settings();
  CHECK(retry_delay(s, 1, 0.0) == 4s);
  CHECK(retry_delay(s, 1, 0.5) == 5s);
  CHECK(retry_delay(s, 1, 1.0) == 6s);
  CHECK(retry_delay(s, 100, 0.0) == 8min);
  CHECK(retry_delay(s, 100, 0.999) < 12min);
  for (double u = 0; u < 1; u += 0.01) {
    const Duration d = retry_delay(s, 3, u);
    CHECK(d >= 16s);
    CHECK(d <= 24s);
  }
}

TEST_CASE("a wait is never zero, whatever the settings") {
  RetrySettings s = settings();
  s.base = 1ms;
  s.jitter = 1.0;
  CHECK(retry_delay(s, 1, 0.0) == 1ms);
}

TEST_CASE("the next channel follows the preference order, wraps, and needs an address") {
  CHECK(next_channel(person({"sms", "webhook"}), "sms") == "webhook");
  CHECK(next_channel(person({"sms", "webhook"}), "webhook") == "sms");
  CHECK(next_channel(person({"webhook", "sms"}), "webhook") == "sms");
  CHECK_FALSE(next_channel(person({"sms"}), "sms"));
  CHECK_FALSE(next_channel(person({"sms", "webhook"}, "+8613800000001", ""), "sms"));
  CHECK(address_of(person({"sms"}), "sms") == "+8613800000001");
  CHECK(address_of(person({"sms"}), "webhook") == "http://127.0.0.1:1/hook");
  CHECK(address_of(person({"sms"}), "pigeon").empty());
}

TEST_CASE("a channel is down from its first transient failure until a success") {
  ChannelHealth h;
  CHECK_FALSE(h.down_since("webhook", "u"));
  h.record("webhook", "u", SendOutcome::transient, kNow);
  h.record("webhook", "u", SendOutcome::transient, kNow + 1min);
  CHECK(h.down_since("webhook", "u") == kNow);
  CHECK_FALSE(h.down_since("webhook", "other"));
  h.record("webhook", "u", SendOutcome::delivered, kNow + 2min);
  CHECK_FALSE(h.down_since("webhook", "u"));
  h.record("webhook", "u", SendOutcome::permanent, kNow + 3min);
  CHECK_FALSE(h.down_since("webhook", "u"));
}

TEST_CASE("a delivered attempt is done") {
  const Person p = person({"sms", "webhook"});
  const auto d = decide_after_attempt(settings(), &p, facts(SendOutcome::delivered, "sms"), 0.5);
  CHECK(d.step == DeliveryDecision::Step::done);
  CHECK(d.channel == "sms");
}

TEST_CASE("a transient failure retries with backoff until the channel was down fallback_after") {
  const Person p = person({"sms", "webhook"});
  AttemptFacts f = facts(SendOutcome::transient, "sms", 3);
  f.channel_down_since = kNow - 10min + 1ms;  // one tick before fallback_after
  auto d = decide_after_attempt(settings(), &p, f, 0.5);
  CHECK(d.step == DeliveryDecision::Step::retry);
  CHECK(d.channel == "sms");
  CHECK(d.next_attempt_at == kNow + 20s);

  f.channel_down_since = kNow - 10min;  // exactly fallback_after
  d = decide_after_attempt(settings(), &p, f, 0.5);
  CHECK(d.step == DeliveryDecision::Step::fallback);
  CHECK(d.channel == "webhook");
  // The backoff goes on across the fallback: bouncing between two dead channels is not faster
  // than retrying one.
  CHECK(d.next_attempt_at == kNow + 20s);
  CHECK_THAT(d.reason, Catch::Matchers::Contains("sms down since"));
}

TEST_CASE("failing for give_up_after gives up, one tick before it does not") {
  const Person p = person({"sms"});
  AttemptFacts f = facts(SendOutcome::transient, "sms", 50);
  f.channel_down_since = kNow - 48h;
  f.failing_since = kNow - 1h + 1ms;
  auto d = decide_after_attempt(settings(), &p, f, 0.5);
  CHECK(d.step == DeliveryDecision::Step::retry);
  CHECK(d.next_attempt_at == kNow + 10min);

  f.failing_since = kNow - 1h;
  d = decide_after_attempt(settings(), &p, f, 0.5);
  CHECK(d.step == DeliveryDecision::Step::give_up);
  CHECK_THAT(d.reason, Catch::Matchers::Contains("not delivered since"));
}

TEST_CASE("a permanent failure moves on at once, and gives up when every channel refused") {
  const Person p = person({"sms", "webhook"});
  auto d = decide_after_attempt(settings(), &p, facts(SendOutcome::permanent, "sms"), 0.5);
  CHECK(d.step == DeliveryDecision::Step::fallback);
  CHECK(d.channel == "webhook");
  CHECK(d.next_attempt_at == kNow);

  AttemptFacts f = facts(SendOutcome::permanent, "webhook");
  f.dead_channels = {"sms", "webhook"};
  d = decide_after_attempt(settings(), &p, f, 0.5);
  CHECK(d.step == DeliveryDecision::Step::give_up);
  CHECK_THAT(d.reason, Catch::Matchers::Contains("every channel"));

  const Person only_sms = person({"sms"});
  d = decide_after_attempt(settings(), &only_sms, facts(SendOutcome::permanent, "sms"), 0.5);
  CHECK(d.step == DeliveryDecision::Step::give_up);
  CHECK_THAT(d.reason, Catch::Matchers::Contains("no other channel"));
}

TEST_CASE("a channel that refused for good is never gone back to, so nothing bounces") {
  const Person p = person({"sms", "webhook"});
  // sms refused this notification; webhook is down long enough to fall back: there is nowhere.
  AttemptFacts f = facts(SendOutcome::transient, "webhook", 4);
  f.dead_channels = {"sms"};
  f.channel_down_since = kNow - 1h;
  f.failing_since = kNow - 30min;
  const auto d = decide_after_attempt(settings(), &p, f, 0.5);
  CHECK(d.step == DeliveryDecision::Step::retry);
  CHECK(d.channel == "webhook");
  CHECK(d.next_attempt_at == kNow + 40s);
}

TEST_CASE("a recipient missing from the roster cannot fall back") {
  const auto d =
      decide_after_attempt(settings(), nullptr, facts(SendOutcome::permanent, "sms"), 0.5);
  CHECK(d.step == DeliveryDecision::Step::give_up);
}

TEST_CASE("a channel's answer loses the address, its parts and phone-like numbers") {
  const std::string url = "https://oapi.dingtalk.com/robot/send?access_token=abc123secret";
  CHECK(scrub_address("POST " + url + " refused", url) == "POST <address> refused");
  CHECK(scrub_address("TLS: cannot set the server name oapi.dingtalk.com", url) ==
        "TLS: cannot set the server name <address>");
  CHECK(scrub_address("bad token access_token=abc123secret", url) == "bad token <address>");
  CHECK(scrub_address("gateway said 400 for +8613900001001", "+8613900001001") ==
        "gateway said 400 for <address>");
  CHECK(scrub_address("redirected to http://evil.example/x?k=1, gave up", "") ==
        "redirected to <address>, gave up");
  CHECK(scrub_address("number 13900001001 unknown", "") == "number **** unknown");
  CHECK(scrub_address("HTTP 503 after 10 s", url) == "HTTP 503 after 10 s");
}

TEST_CASE("once-only marks are a set in the order written") {
  std::string r;
  CHECK_FALSE(is_marked(r, failure_mark("sms")));
  r = with_mark(r, failure_mark("sms"));
  r = with_mark(r, fallback_mark("webhook"));
  r = with_mark(r, failure_mark("sms"));
  CHECK(r == "failed:sms,fallback:webhook");
  CHECK(is_marked(r, "failed:sms"));
  CHECK(is_marked(r, "fallback:webhook"));
  CHECK_FALSE(is_marked(r, "failed:webhook"));
  CHECK_FALSE(is_marked(r, "failed:sm"));
}

}  // namespace
}  // namespace incidentd
