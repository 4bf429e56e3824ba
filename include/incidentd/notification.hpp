// The vocabulary of a notification on its way out, as enums: the channel it goes by, what its
// outbox row is for, the row's delivery state, what a channel answers about one attempt, and what
// the dispatcher made of that answer. Their names are the strings the database, the
// configuration, the API and the metrics use; to_string and the parse_* functions here are the
// only place that spells them, so what is stored and shown does not change.
#pragma once

#include <optional>
#include <string_view>

namespace incidentd {

// The ways a person is reached: the roster's `channels` (the configuration checks the names).
enum class NotificationChannel { sms, webhook };

// What an outbox row is for: the engine's alert, or an operator's notice (somebody could not be
// reached; the monitoring source went silent or came back: these have no incident).
enum class NotificationPurpose { alert, unreached, source_silent, source_back };

// An outbox row's state: pending until the dispatcher records delivered, failed (given up) or
// superseded (given up unsent or unfinished: a newer alert to the same person replaced it).
enum class DeliveryState { pending, delivered, failed, superseded };

// What a channel answers about one attempt.
enum class SendOutcome {
  delivered,  // the gateway or receiver accepted it
  transient,  // try again later (timeout, 5xx, connection refused)
  permanent,  // retrying cannot help (4xx other than 408/429, bad address)
};

// What the dispatcher made of one attempt (counted per channel for the metrics).
enum class DispatchOutcome { delivered, retry, fallback, gave_up, superseded };

constexpr std::string_view to_string(NotificationChannel v) {
  switch (v) {
    case NotificationChannel::sms:
      return "sms";
    case NotificationChannel::webhook:
      return "webhook";
  }
  return "sms";
}

constexpr std::string_view to_string(NotificationPurpose v) {
  switch (v) {
    case NotificationPurpose::alert:
      return "alert";
    case NotificationPurpose::unreached:
      return "unreached";
    case NotificationPurpose::source_silent:
      return "source_silent";
    case NotificationPurpose::source_back:
      return "source_back";
  }
  return "alert";
}

constexpr std::string_view to_string(DeliveryState v) {
  switch (v) {
    case DeliveryState::pending:
      return "pending";
    case DeliveryState::delivered:
      return "delivered";
    case DeliveryState::failed:
      return "failed";
    case DeliveryState::superseded:
      return "superseded";
  }
  return "pending";
}

constexpr std::string_view to_string(SendOutcome v) {
  switch (v) {
    case SendOutcome::delivered:
      return "delivered";
    case SendOutcome::transient:
      return "transient";
    case SendOutcome::permanent:
      return "permanent";
  }
  return "permanent";
}

constexpr std::string_view to_string(DispatchOutcome v) {
  switch (v) {
    case DispatchOutcome::delivered:
      return "delivered";
    case DispatchOutcome::retry:
      return "retry";
    case DispatchOutcome::fallback:
      return "fallback";
    case DispatchOutcome::gave_up:
      return "gave_up";
    case DispatchOutcome::superseded:
      return "superseded";
  }
  return "gave_up";
}

constexpr std::optional<NotificationChannel> parse_notification_channel(std::string_view s) {
  if (s == "sms") return NotificationChannel::sms;
  if (s == "webhook") return NotificationChannel::webhook;
  return std::nullopt;
}

constexpr std::optional<NotificationPurpose> parse_notification_purpose(std::string_view s) {
  for (const auto v : {NotificationPurpose::alert, NotificationPurpose::unreached,
                       NotificationPurpose::source_silent, NotificationPurpose::source_back}) {
    if (s == to_string(v)) return v;
  }
  return std::nullopt;
}

// Also an older schema's names, which reports still read: "sent" (delivered), "dead" (given up).
constexpr std::optional<DeliveryState> parse_delivery_state(std::string_view s) {
  for (const auto v : {DeliveryState::pending, DeliveryState::delivered, DeliveryState::failed,
                       DeliveryState::superseded}) {
    if (s == to_string(v)) return v;
  }
  if (s == "sent") return DeliveryState::delivered;
  if (s == "dead") return DeliveryState::failed;
  return std::nullopt;
}

}  // namespace incidentd
