#include "incidentd/delivery_policy.hpp"

#include <algorithm>
#include <cctype>
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

std::optional<std::string> next_channel(const Person& person, std::string_view current,
                                        const std::vector<std::string>& excluded) {
  const auto& channels = person.channels;
  const auto at = std::find(channels.begin(), channels.end(), current);
  const std::size_t start =
      at == channels.end() ? 0 : static_cast<std::size_t>(at - channels.begin()) + 1;
  for (std::size_t i = 0; i < channels.size(); ++i) {
    const std::string& candidate = channels[(start + i) % channels.size()];
    if (candidate == current) continue;
    if (std::find(excluded.begin(), excluded.end(), candidate) != excluded.end()) continue;
    if (!address_of(person, candidate).empty()) return candidate;
  }
  return std::nullopt;
}

namespace {

void replace_all(std::string& text, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (std::size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + with.size())) {
    text.replace(at, what.size(), with);
  }
}

// The parts of a URL that identify a receiver or carry its key, longest first.
std::vector<std::string_view> url_parts(std::string_view url) {
  std::vector<std::string_view> parts;
  const std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return parts;
  const std::string_view rest = url.substr(scheme + 3);
  parts.push_back(rest);  // host, port, path and query
  const std::size_t path = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, path);
  if (path != std::string_view::npos) parts.push_back(rest.substr(path));  // path and query
  if (const std::size_t query = rest.find('?'); query != std::string_view::npos) {
    parts.push_back(rest.substr(query + 1));
  }
  const std::size_t at = authority.rfind('@');  // user:password@ goes too
  parts.push_back(authority);
  if (at != std::string_view::npos) parts.push_back(authority.substr(0, at));
  std::erase_if(parts, [](std::string_view p) { return p.size() < 3; });
  return parts;
}

// Any URL left in the text (one not given as the address: a redirect, an older record).
std::string remove_urls(std::string text) {
  for (std::size_t at = text.find("://"); at != std::string::npos; at = text.find("://", at)) {
    std::size_t begin = at;
    while (begin > 0 && std::isalpha(static_cast<unsigned char>(text[begin - 1])) != 0) --begin;
    std::size_t end = at + 3;
    while (end < text.size() && std::isspace(static_cast<unsigned char>(text[end])) == 0 &&
           text[end] != '"' && text[end] != '\'' && text[end] != ')' && text[end] != ',') {
      ++end;
    }
    if (begin == at) {  // no scheme before "://": not a URL, look further on
      at += 3;
      continue;
    }
    text.replace(begin, end - begin, "<address>");
    at = begin + 9;
  }
  return text;
}

std::string mask_digit_runs(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) != 0) ++j;
    if (j - i >= 7) {
      out += "****";
    } else {
      out.append(text, i, j - i);
    }
    if (j == i) out += text[j++];
    i = j;
  }
  return out;
}

}  // namespace

std::string scrub_address(std::string_view detail, std::string_view address) {
  std::string out(detail);
  replace_all(out, address, "<address>");
  for (std::string_view part : url_parts(address)) replace_all(out, part, "<address>");
  return mask_digit_runs(remove_urls(std::move(out)));
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
  if (person == nullptr) {
    d.step = DeliveryDecision::Step::give_up;
    d.reason = "the recipient is not in the roster";
    d.give_up_reason = "not_in_roster";
    return d;
  }
  const std::optional<std::string> next = next_channel(*person, facts.channel, facts.dead_channels);
  if (facts.outcome == SendOutcome::permanent) {
    if (next) {
      d.step = DeliveryDecision::Step::fallback;
      d.channel = *next;
      d.reason = facts.channel + " failed permanently";
    } else {
      d.step = DeliveryDecision::Step::give_up;
      d.reason = facts.dead_channels.size() > 1
                     ? "every channel failed permanently"
                     : facts.channel + " failed permanently and there is no other channel";
      d.give_up_reason = facts.dead_channels.size() > 1 ? "every_channel_failed" : "channel_failed";
    }
    return d;
  }
  if (facts.failing_since && facts.now - *facts.failing_since >= settings.give_up_after) {
    d.step = DeliveryDecision::Step::give_up;
    d.reason = "not delivered since " +
               format_rfc3339(*facts.failing_since, std::chrono::minutes{0}) + ", " +
               format_duration(settings.give_up_after) + " or longer";
    d.give_up_reason = "not_delivered_since";
    d.since = facts.failing_since;
    d.after = settings.give_up_after;
    return d;
  }
  // The backoff carries on across a fallback: bouncing between two channels that are both down
  // waits as long as retrying one of them would.
  d.next_attempt_at = facts.now + retry_delay(settings, facts.failures, u);
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
  return d;
}

std::string failure_mark(std::string_view channel) {
  return "failed:" + std::string(channel);
}
std::string fallback_mark(std::string_view channel) {
  return "fallback:" + std::string(channel);
}
std::string dead_mark(std::string_view channel) {
  return "dead:" + std::string(channel);
}

bool is_marked(std::string_view recorded, std::string_view mark) {
  while (!recorded.empty()) {
    const std::size_t comma = recorded.find(',');
    if (recorded.substr(0, comma) == mark) return true;
    if (comma == std::string_view::npos) break;
    recorded.remove_prefix(comma + 1);
  }
  return false;
}

std::string with_mark(std::string_view recorded, std::string_view mark) {
  std::string out(recorded);
  if (is_marked(recorded, mark)) return out;
  if (!out.empty()) out += ',';
  out += mark;
  return out;
}

}  // namespace incidentd
