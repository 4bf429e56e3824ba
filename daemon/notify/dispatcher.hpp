// The outbox dispatcher: sends what the engine put in the outbox. On the daemon's loop thread
// (the engine's and the store's), it claims due rows, resolves each recipient's address from the
// roster, decodes the row's body once (notify/payload.hpp) and sends it through the row's channel,
// which renders the text (docs/notifications.md). The
// attempt is leased in the row before the send and its result recorded after, so a crash in
// between re-sends once (same notification id) and loses nothing. Attempts are state in the row;
// the timeline gets only what a report needs (first failure per channel, fallbacks, delivered,
// given up), never an address. A notification given up tells the operator desk who was not
// reached. Retry, backoff, fallback and give-up decisions are the domain core's
// (incidentd/delivery_policy.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/config.hpp"
#include "incidentd/config_snapshot.hpp"
#include "incidentd/delivery_policy.hpp"
#include "incidentd/outbox.hpp"
#include "incidentd/time.hpp"
#include "notify/channel.hpp"

namespace incidentd {

// The operator desk: [notify] operator when set, else the duty officers of the policy's
// supervision units. Pointers into config.units.
std::vector<const Person*> operator_desk(const Config& config);

// Sends and outcomes by channel, for the metrics endpoint.
struct DispatcherCounters {
  // (channel, outcome) -> attempts, by the names of NotificationChannel and DispatchOutcome
  // (superseded: given up unsent, a newer alert to the same person replaced it).
  std::map<std::pair<std::string, std::string>, std::uint64_t> outcomes;
  std::uint64_t in_flight = 0;
};

class Dispatcher {
 public:
  // `random_unit` returns numbers in [0, 1) for the jitter; `channels` are not owned and must
  // outlive the dispatcher. `ack_links` (unset: none) gives each send its ack_url. Nothing
  // happens until start(). The roster is read from `config` at every pass, so a reload's snapshot
  // reaches the next send; [notify] is read once, here.
  Dispatcher(NotificationOutbox& outbox, ConfigView config, TimeSystem& time,
             std::vector<Channel*> channels, std::function<double()> random_unit,
             AckLinkMaker ack_links = {});
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // A full disk (StoreFullError) met by a pass leaves through the timer's callback: the daemon
  // pauses and calls stop(), then start() once there is room (daemon/incidentd/disk_full.hpp).
  void start();
  // Looks at the outbox now rather than at the next poll (call after the engine committed).
  void wake();
  // Records the results not yet recorded and stops claiming rows.
  void stop();
  // Records the results not yet recorded (each pass does; so do stop() and the destructor).
  void flush();

  const DispatcherCounters& counters() const { return counters_; }
  std::size_t in_flight() const { return in_flight_.size(); }

 private:
  struct Claimed;
  // What one pass writes in one transaction: updates[0, results) are the results of sends,
  // the rest the leases of the rows it claims.
  struct PassWrites {
    std::vector<OutboxUpdate> updates;
    std::size_t results = 0;
  };
  void run_pass();
  // One look at the outbox: records the results and claims what is due in one transaction,
  // then sends what it claimed. True when it claimed or decided anything.
  bool look_at_outbox(PassWrites& writes);
  void pull_back_stepped_clock(TimePoint now);
  // The row as this pass would send it, or why it cannot be sent (Claimed::unsendable); its
  // timeline row taken from `steps`, which expands each once per pass.
  Claimed examine(const OutboxRow& row, const Config& roster, DecodedSteps& steps) const;
  OutboxUpdate lease_of(const Claimed& claimed, TimePoint now) const;
  TimePoint next_pass_at(bool claimed_any);
  // Results a full disk did not let us record: put back, ahead of newer ones, for the next pass.
  void keep_unrecorded(std::vector<OutboxUpdate> results);
  void schedule(TimePoint at);
  // The furthest ahead a row is ever scheduled: the longest retry wait (jitter included) or a
  // send's lease, whichever is longer.
  Duration longest_wait() const;
  void send_claimed(const Claimed& claimed);
  void on_result(const Claimed& claimed, const SendResult& result);
  // Marks a failure (the first on each channel is history) and applies the delivery policy's
  // decision to `update`; returns the outcome to count.
  DispatchOutcome decide(const Claimed& claimed, SendOutcome outcome, const std::string& detail,
                         TimePoint now, OutboxUpdate& update);
  // Gives the row up and tells the operator desk, in words and as fields for the report.
  void give_up(const Claimed& claimed, const DeliveryDecision& decision, const std::string& detail,
               TimePoint now, OutboxUpdate& update) const;
  void count(const std::string& channel, DispatchOutcome outcome);
  Action record_of(const Claimed& claimed, std::string outcome, std::string detail) const;
  // The operator desk's "nobody reached" alerts for a row given up ([notify] operator, else the
  // supervision units' duty officers), each on a channel that did not just fail when it can.
  std::vector<OutboxRow> operator_alerts(const Claimed& claimed, const std::string& recorded,
                                         TimePoint now) const;
  Channel* channel_named(std::string_view name) const;

  NotificationOutbox& outbox_;
  ConfigView config_;
  TimeSystem& time_;
  RetrySettings retry_;
  NotifySettings settings_;
  std::vector<Channel*> channels_;
  std::function<double()> random_unit_;
  AckLinkMaker ack_links_;
  std::unique_ptr<Timer> timer_;
  std::optional<TimePoint> armed_at_;
  ChannelHealth health_;
  std::set<std::string> in_flight_;            // notification ids
  std::vector<OutboxUpdate> pending_results_;  // recorded by the next pass
  DispatcherCounters counters_;
  bool running_ = false;
  bool in_pass_ = false;
  bool pass_again_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace incidentd
