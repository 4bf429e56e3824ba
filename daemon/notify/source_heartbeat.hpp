// The source heartbeat ([ingest] source_silence, docs/notifications.md "Source heartbeat"): when
// no message at all (valid or not) arrives on the events topic for that long, the operator desk
// is told once; when messages come back, it is told once more (the all-clear). The state and the
// outbox rows that tell of it are written in one transaction (table source_heartbeat), so a
// restart during a silence neither alerts again nor forgets the all-clear. Silence is counted
// from the later of the last message and this run's start. Time comes from the injected
// TimeSystem, as the engine's does; everything runs on the daemon's loop thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "incidentd/config.hpp"
#include "incidentd/config_snapshot.hpp"
#include "incidentd/source_heartbeat_log.hpp"
#include "incidentd/store.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

// What the API, the board and /metrics show.
struct SourceState {
  bool silent = false;
  // silent: the last message before the silence (or the start it was counted from); not
  // silent: when messages came back; unset while nothing has happened yet in this database.
  std::optional<TimePoint> since;
  std::optional<TimePoint> last_event;  // the last message this run saw
};

class SourceHeartbeat {
 public:
  // `silence` > 0. `on_change` is called after each change of state is durable, and once from
  // start() when the database says the source is silent.
  // The operator desk is read from `config` at each notice, so a reload's roster reaches it.
  SourceHeartbeat(SourceHeartbeatLog& store, ConfigView config, TimeSystem& time, Duration silence,
                  std::function<void(const SourceState&)> on_change = {});
  ~SourceHeartbeat();
  SourceHeartbeat(const SourceHeartbeat&) = delete;
  SourceHeartbeat& operator=(const SourceHeartbeat&) = delete;

  // Reads the recorded state and starts counting from now. Throws StoreError.
  void start();
  // Messages arrived on the events topic (any number, valid or not).
  void events_arrived();
  const SourceState& state() const { return state_; }

 private:
  void arm(TimePoint at);
  void on_due();
  // Records the change and the desk's rows; false (logged, retried later) when the store fails.
  bool record(bool silent, TimePoint since, TimePoint now);
  std::vector<OutboxRow> desk_rows(NotificationPurpose purpose, TimePoint silence_since,
                                   TimePoint now) const;

  SourceHeartbeatLog& store_;
  ConfigView config_;
  TimeSystem& time_;
  Duration silence_;
  std::function<void(const SourceState&)> on_change_;
  std::unique_ptr<Timer> timer_;
  SourceState state_;
  TimePoint count_from_{};     // the last message, or the start
  bool back_pending_ = false;  // messages came back while silent; the all-clear is not recorded
  bool started_ = false;
};

}  // namespace incidentd
