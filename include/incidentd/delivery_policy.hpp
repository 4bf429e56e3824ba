// The outbox dispatcher's decisions, as pure functions of injected time and randomness: how long
// to wait before the next attempt (exponential backoff with jitter, growing across fallbacks),
// when a channel has been down long enough to fall back to the recipient's next channel, when to
// give up, and which attempts are worth a timeline entry. No I/O here; the dispatcher
// (daemon/notify/dispatcher.hpp) carries the decisions out.
//
// Attempts are state (the outbox row), not history: however long an outage lasts, one
// notification writes at most two timeline entries per channel (its first failure there, the
// first fallback to it) and one at the end (delivered or given up).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/config.hpp"
#include "incidentd/notification.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

struct RetrySettings {
  Duration base = std::chrono::seconds(5);
  Duration max = std::chrono::minutes(10);
  double jitter = 0.2;                                 // fraction, 0..1
  Duration fallback_after = std::chrono::minutes(10);  // a channel down this long: fall back
  Duration give_up_after = std::chrono::hours(1);      // failing this long: give up, tell someone

  static RetrySettings from(const NotifySettings& s) {
    return {s.retry_base, s.retry_max, s.jitter, s.fallback_after, s.give_up_after};
  }
};

// The wait after `failed_attempts` (>= 1) failures of one notification, on whichever channels:
// base * 2^(n-1), capped at max, then scaled by 1 + jitter * (2u - 1) for u in [0, 1) so that
// many senders retrying the same receiver spread out. Never below 1 ms.
Duration retry_delay(const RetrySettings& settings, int failed_attempts, double u);

// Where a person is reached on a channel: the phone for "sms", the webhook URL for "webhook";
// empty when the person has no address for it.
std::string address_of(const Person& person, std::string_view channel);

// The channel after `current` in the person's preference order (wrapping around) that has an
// address and is not in `excluded`; nullopt when there is none other than `current`.
std::optional<std::string> next_channel(const Person& person, std::string_view current,
                                        const std::vector<std::string>& excluded = {});

// A channel's answer with the address taken out: the timeline and the API carry channel names,
// never phone numbers, webhook URLs or the keys in their query strings. Removes `address` and
// its parts (a URL's host, path and query), and masks every run of 7 or more digits.
std::string scrub_address(std::string_view detail, std::string_view address);

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
    fallback,  // next channel (`channel`), at next_attempt_at
    give_up,   // failed on every channel worth trying, or for give_up_after: stop, tell someone
  };
  Step step = Step::done;
  std::string channel;  // the channel the row goes by from now on
  TimePoint next_attempt_at{};
  std::string reason;  // for the log and the outbox's last_error, in English words
  // give_up: why, as a word a report translates (docs/reports.md): "not_in_roster",
  // "channel_failed" (the only channel, `channel` below, refused for good), "every_channel_failed"
  // or "not_delivered_since" (with `since` and `after`).
  std::string give_up_reason;
  std::optional<TimePoint> since;
  Duration after{0};
};

struct AttemptFacts {
  SendOutcome outcome = SendOutcome::delivered;
  int failures = 0;     // failed attempts of this notification so far, this one included
  std::string channel;  // the channel just tried
  // Channels that refused this notification for good (this one included when it did): never
  // tried again for it, so two dead channels cannot bounce a notification between them.
  std::vector<std::string> dead_channels;
  std::optional<TimePoint> channel_down_since;  // after recording this attempt
  // The first failure of this notification, or of the one it superseded: give_up_after counts
  // from here, so a chain of re-sends to an unreachable person still ends in a give-up.
  std::optional<TimePoint> failing_since;
  TimePoint now{};
};

// A transient failure retries with backoff, or falls back (still with backoff) once the channel
// has been down for fallback_after. A permanent failure falls back at once to a channel that has
// not refused it; with none left it gives up. Failing for give_up_after also gives up.
DeliveryDecision decide_after_attempt(const RetrySettings& settings, const Person* person,
                                      const AttemptFacts& facts, double u);

// The once-only timeline entries of one notification (the outbox row's `recorded` set).
std::string failure_mark(std::string_view channel);   // "failed:sms"
std::string fallback_mark(std::string_view channel);  // "fallback:webhook"
std::string dead_mark(std::string_view channel);      // "dead:sms": refused this one for good
bool is_marked(std::string_view recorded, std::string_view mark);
// `recorded` with `mark` added (comma-separated, in the order added).
std::string with_mark(std::string_view recorded, std::string_view mark);

}  // namespace incidentd
