// The port between the outbox dispatcher and the ways a person is reached (SMS through a gateway,
// webhooks). A channel sends one notification and reports the outcome once; the dispatcher owns
// retries, backoff, fallback to the next channel and the timeline records.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "incidentd/notification.hpp"
#include "incidentd/time.hpp"
#include "notify/payload.hpp"

namespace incidentd {

// The signed one-click ack link of one notification, `<[http] public_url>/v1/ack/<token>`
// (the Daemon binds http::notification_link_maker), or "" when links are off. A pure function of
// its arguments: every rendering and every retry of one notification carries the same link.
using AckLinkMaker =
    std::function<std::string(const std::string& incident_key, const std::string& recipient,
                              const std::string& notification_id, TimePoint issued_at)>;

// One send of one outbox row, with everything the channel needs already resolved from the
// roster, and the row's body decoded (once, by the dispatcher). The channel renders the text.
struct OutgoingNotification {
  std::string notification_id;  // stable across attempts: receivers deduplicate on it
  std::string incident_key;
  std::string recipient;  // person id from the roster
  std::string unit;       // the recipient's unit
  std::string address;    // phone number (sms) or URL (webhook)
  NotificationPayload payload;
  std::string ack_url;  // the one-click ack link of an alert; empty when links are off
  int attempt = 1;      // 1 for the first try of this row
  // The outbox row's purpose: source_silent / source_back have no incident and nothing to
  // reply to.
  NotificationPurpose purpose = NotificationPurpose::alert;
  TimePoint created_at{};  // when the row was written: the time an ack link is issued at
};

// The text of one notification for one channel ("sms", "webhook"). Throws when the payload is not
// one it can render (the channel answers that as a permanent failure).
using NotificationRenderer =
    std::function<std::string(const OutgoingNotification& notification, std::string_view channel)>;

// A plain rendering for channels without templates: what, which incident, which milestone.
std::string plain_notification_text(const OutgoingNotification& notification,
                                    std::string_view channel);

struct SendResult {
  using Status = SendOutcome;
  Status status = Status::delivered;
  std::string detail;  // what the other side said, for the timeline and the log

  static SendResult delivered(std::string detail = {}) {
    return {Status::delivered, std::move(detail)};
  }
  static SendResult transient(std::string detail) { return {Status::transient, std::move(detail)}; }
  static SendResult permanent(std::string detail) { return {Status::permanent, std::move(detail)}; }
};

class Channel {
 public:
  virtual ~Channel() = default;
  // "sms" or "webhook": the names used in the roster's `channels` and in the outbox.
  virtual std::string_view name() const = 0;
  // Starts one send. `done` is called exactly once, on the daemon's Asio loop thread, also when
  // the channel is destroyed with the send in flight (then with a transient result).
  virtual void send(const OutgoingNotification& notification,
                    std::function<void(SendResult)> done) = 0;
};

}  // namespace incidentd
