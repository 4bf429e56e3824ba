#include "incidentd/delivery_policy.hpp"

#include <algorithm>
#include <cmath>

namespace incidentd {

Duration retry_delay(const RetrySettings& settings, int failed_attempts, double u) {
  const int doublings = std::clamp(failed_attempts - 1, 0, 40);
  const double base_ms = static_cast<double>(settings.base.count());
  const double max_ms = static_cast<double>(settings.max.count());
  const double backoff_ms = std::min(max_ms, base_ms * std::ldexp(1.0, doublings));
  const double spread =
      std::clamp(settings.jitter, 0.0, 1.0) * (2.0 * std::clamp(u, 0.0, 1.0) - 1.0);
  const double ms = std::max(1.0, backoff_ms * (1.0 + spread));
  return Duration(static_cast<Duration::rep>(std::llround(ms)));
}

std::string address_of(const Person& person, std::string_view channel) {
  if (channel == "sms") return person.phone;
  if (channel == "webhook") return person.webhook;
  return {};
}

std::optional<std::string> next_channel(const Person& person, std::string_view current) {
  const auto& channels = person.channels;
  const auto at = std::find(channels.begin(), channels.end(), current);
  const std::size_t start =
      at == channels.end() ? 0 : static_cast<std::size_t>(at - channels.begin()) + 1;
  for (std::size_t i = 0; i < channels.size(); ++i) {
    const std::string& candidate = channels[(start + i) % channels.size()];
    if (candidate == current) continue;
    if (!address_of(person, candidate).empty()) return candidate;
  }
  return std::nullopt;
}

void ChannelHealth::record(std::string_view channel, std::string_view address, SendOutcome outcome,
                           TimePoint at) {
  std::pair<std::string, std::string> key{channel, address};
  if (outcome == SendOutcome::delivered) {
    down_since_.erase(key);
  } else if (outcome == SendOutcome::transient) {
    down_since_.try_emplace(std::move(key), at);
  }
  // A permanent failure says the message or the address is wrong, not that the channel is down.
}

std::optional<TimePoint> ChannelHealth::down_since(std::string_view channel,
                                                   std::string_view address) const {
  const auto it = down_since_.find(std::pair<std::string, std::string>{channel, address});
  if (it == down_since_.end()) return std::nullopt;
  return it->second;
}

DeliveryDecision decide_after_attempt(const RetrySettings& settings, const Person* person,
                                      const AttemptFacts& facts, double u) {
  DeliveryDecision d;
  d.channel = facts.channel;
  d.next_attempt_at = facts.now;
  if (facts.outcome == SendOutcome::delivered) {
    d.step = DeliveryDecision::Step::done;
    return d;
  }
  const std::optional<std::string> next =
      person != nullptr ? next_channel(*person, facts.channel) : std::nullopt;
  if (facts.outcome == SendOutcome::permanent) {
    if (next && *next != facts.original_channel) {
      d.step = DeliveryDecision::Step::fallback;
      d.channel = *next;
      d.reason = facts.channel + " failed permanently";
    } else {
      d.step = DeliveryDecision::Step::give_up;
      d.reason = next ? "every channel failed permanently"
                      : facts.channel + " failed permanently and there is no other channel";
    }
    return d;
  }
  if (next && facts.channel_down_since &&
      facts.now - *facts.channel_down_since >= settings.fallback_after) {
    d.step = DeliveryDecision::Step::fallback;
    d.channel = *next;
    d.reason = facts.channel + " down since " +
               format_rfc3339(*facts.channel_down_since, std::chrono::minutes{0}) +
               ", longer than " + format_duration(settings.fallback_after);
    return d;
  }
  d.step = DeliveryDecision::Step::retry;
  d.next_attempt_at = facts.now + retry_delay(settings, facts.attempts, u);
  return d;
}

}  // namespace incidentd
