// The outbox dispatcher: sends what the engine put in the outbox. On the daemon's loop thread
// (the engine's and the store's), it claims due rows, resolves each recipient's address from the
// roster, renders the text, sends it through the row's channel and records every attempt and its
// result in the timeline (docs/notifications.md). The attempt is recorded before the send and the
// result after it, so a crash in between re-sends once (same notification id) and loses nothing.
// Retry, backoff and fallback decisions are the domain core's (incidentd/delivery_policy.hpp).
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
#include "incidentd/delivery_policy.hpp"
#include "incidentd/time.hpp"
#include "notify/channel.hpp"
#include "store/sqlite_store.hpp"

namespace incidentd {

// Renders the text of one outbox row for one channel (the Chinese templates live elsewhere).
using NotificationRenderer =
    std::function<std::string(const OutboxRow& row, std::string_view channel)>;

// Sends and outcomes by channel, for the metrics endpoint.
struct DispatcherCounters {
  // (channel, outcome) -> count; outcome is "delivered", "retry", "failed" or "fallback".
  std::map<std::pair<std::string, std::string>, std::uint64_t> outcomes;
  std::uint64_t in_flight = 0;
};

class Dispatcher {
 public:
  // `random_unit` returns numbers in [0, 1) for the jitter; `channels` are not owned and must
  // outlive the dispatcher. `ack_links` (unset: none) gives each send its ack_url. Nothing
  // happens until start(). The roster is read from `config` at every claim, so a reload that
  // replaces config.units on the loop thread reaches the next send; [notify] is read once, here.
  Dispatcher(SqliteStore& store, const Config& config, TimeSystem& time,
             std::vector<Channel*> channels, NotificationRenderer renderer,
             std::function<double()> random_unit, AckLinkMaker ack_links = {});
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

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
  void run_pass();
  void schedule(TimePoint at);
  void send_claimed(const Claimed& claimed);
  void on_result(const Claimed& claimed, const SendResult& result);
  void count(const std::string& channel, const std::string& outcome);
  Action record_of(const Claimed& claimed, std::string outcome, std::string detail) const;
  Channel* channel_named(std::string_view name) const;

  SqliteStore& store_;
  const Config& config_;
  TimeSystem& time_;
  RetrySettings retry_;
  NotifySettings settings_;
  std::vector<Channel*> channels_;
  NotificationRenderer renderer_;
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
