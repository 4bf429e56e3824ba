// The outbox dispatcher's decisions, as pure functions of injected time and randomness: how long
// to wait before the next attempt (exponential backoff with jitter), when a channel has been down
// long enough to fall back to the recipient's next channel, and when to give up. No I/O here; the
// dispatcher (daemon/notify/dispatcher.hpp) carries the decisions out.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/config.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

enum class SendOutcome { delivered, transient, permanent };

struct RetrySettings {
  Duration base = std::chrono::seconds(5);
  Duration max = std::chrono::minutes(10);
  double jitter = 0.2;                                 // fraction, 0..1
  Duration fallback_after = std::chrono::minutes(10);  // a channel down this long: fall back

  static RetrySettings from(const NotifySettings& s) {
    return {s.retry_base, s.retry_max, s.jitter, s.fallback_after};
  }
};

// The wait after `failed_attempts` (>= 1) failures in a row: base * 2^(n-1), capped at max, then
// scaled by 1 + jitter * (2u - 1) for u in [0, 1) so that many senders retrying the same receiver
// spread out. Never below 1 ms.
Duration retry_delay(const RetrySettings& settings, int failed_attempts, double u);

// Where a person is reached on a channel: the phone for "sms", the webhook URL for "webhook";
// empty when the person has no address for it.
std::string address_of(const Person& person, std::string_view channel);

// The channel after `current` in the person's preference order (wrapping around) that has an
// address; nullopt when there is none other than `current`.
std::optional<std::string> next_channel(const Person& person, std::string_view current);

// When each (channel, address) started failing; a success clears it. The dispatcher keeps one.
class ChannelHealth {
 public:
  void record(std::string_view channel, std::string_view address, SendOutcome outcome,
              TimePoint at);
  std::optional<TimePoint> down_since(std::string_view channel, std::string_view address) const;

 private:
  std::map<std::pair<std::string, std::string>, TimePoint, std::less<>> down_since_;
};

// What to do with an outbox row after one attempt.
struct DeliveryDecision {
  enum class Step {
    done,      // delivered: mark it so, once
    retry,     // same channel, at next_attempt_at
    fallback,  // next channel (`channel`), right away
    give_up,   // permanently failed on every channel worth trying
  };
  Step step = Step::done;
  std::string channel;  // the channel the row goes by from now on
  TimePoint next_attempt_at{};
  std::string reason;  // for the timeline, in words
};

struct AttemptFacts {
  SendOutcome outcome = SendOutcome::delivered;
  int attempts = 1;              // attempts made so far, this one included
  std::string channel;           // the channel just tried
  std::string original_channel;  // the channel the engine chose (a permanent failure there ends it)
  std::optional<TimePoint> channel_down_since;  // after recording this attempt
  TimePoint now{};
};

// A transient failure retries with backoff, or falls back once the channel has been down for
// fallback_after. A permanent failure falls back at once, unless that would return to the
// original channel (every channel then failed for good): it gives up.
DeliveryDecision decide_after_attempt(const RetrySettings& settings, const Person* person,
                                      const AttemptFacts& facts, double u);

}  // namespace incidentd
