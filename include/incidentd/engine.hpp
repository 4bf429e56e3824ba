// The incident-clock engine. It opens a clock for every incident at a clock level, walks each
// milestone's ladder as time passes, notifies and re-notifies the people at each level, and
// stops when the responsible units confirm or the incident closes. It reads time and arms its
// single wake-up through the TimeSystem port, so the same code runs live and simulated.
//
// What fell due before the engine could act (late arrival, downtime) acts once, at the latest
// due step per milestone. Changes accumulate until flush(), which commits them in one
// transaction; after a crash the state is rebuilt from the store by the constructor.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <tsl/robin_map.h>
#include <tsl/robin_set.h>

#include "incidentd/config.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/store.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

struct Outcome {
  enum class Status { accepted, duplicate, rejected };
  Status status = Status::accepted;
  std::string reason;  // for rejected
  // Rejected because it reuses the identity of something already recorded with other content
  // (a confirmation's incident, unit and id): the API answers 409 instead of 422.
  bool conflict = false;
  static Outcome accepted() { return {}; }
  static Outcome duplicate() { return {Status::duplicate, {}}; }
  static Outcome rejected(std::string why) { return {Status::rejected, std::move(why)}; }
  static Outcome conflicting(std::string why) { return {Status::rejected, std::move(why), true}; }
};

class Engine {
 public:
  // Which incidents this engine acts on (docs/cluster.md, "Ownership"). A single instance owns
  // every incident (an empty Owns); an instance of a cluster owns the incidents of the partitions
  // assigned to it, and its store also holds, as a replica, incidents it must not act on.
  using Owns = std::function<bool(const std::string& incident_key)>;

  // Loads every open incident it owns from the store and arms the wake-up for the earliest
  // deadline. Nothing is acted on until time next moves (run_due() or the timer).
  Engine(const Config& config, Store& store, TimeSystem& time, Owns owns = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  Outcome handle(const Event& event);
  Outcome handle(const Confirmation& confirmation);
  Outcome handle(const Acknowledgement& ack);

  // Acts on everything due at or before now (the timer calls this too).
  void run_due();

  // A takeover: the open incidents of the partitions just assigned, as the store holds them
  // once the replica has caught up. Their clocks are armed and whatever fell due meanwhile acts
  // now, once (the catch-up rule). An incident already held keeps its slot. Returns how many
  // were taken.
  std::size_t adopt(std::vector<IncidentState> incidents);
  // While `in_doubt` says so, no clock fires: due steps wait (a cluster member that may have
  // lost its partitions without hearing of it yet). Inputs are still taken.
  void hold_clocks_while(std::function<bool()> in_doubt) { in_doubt_ = std::move(in_doubt); }
  // A revocation, after `owns` has dropped the partitions: commits everything pending (their
  // last changes go out before they do), then forgets every incident it no longer owns, timers
  // with them. From the return on, this engine acts on none of them. Returns how many went.
  // Throws StoreError like flush(); nothing is forgotten then.
  std::size_t release();
  // Commits what changed since the last flush. Throws StoreError; after a failed flush the
  // in-memory state is ahead of the store: what failed stays pending, so the owner either
  // restarts from the store or (StoreFullError: a full disk) calls flush() again until it
  // succeeds. Meanwhile the engine keeps working, its timer armed, and every later step's
  // changes join the pending ones.
  void flush();
  // Commits what the engine decided since the last flush: every incident that took an action
  // (a timeline entry, a notification), with the events and confirmations applied to it. An
  // incident that events only re-described (title, units, region) stays uncommitted until
  // flush(), and so do those events: they are not yet marked processed, so their source must be
  // able to deliver them again after a crash (Kafka: offsets are committed only after flush()).
  // Re-applied, such an event gives the same description, so nothing is lost and nothing acts
  // twice. Throws StoreError like flush().
  void flush_acted();
  // flush() in parts, so that a loop can fire due timers between them: commits at most
  // `max_incidents` incidents, those that acted first, each with the events applied to it and
  // the actions, confirmations and acknowledgements it took. True once nothing is left
  // uncommitted. Each part is a commit of its own, consistent by itself: an incident's snapshot
  // goes with its events and its actions. Throws StoreError like flush().
  bool flush_part(std::size_t max_incidents);
  // flush_acted() in parts the same way: at most `max_incidents` of the incidents that acted.
  // True once none is left.
  bool flush_acted_part(std::size_t max_incidents);
  // After every handle() and every timer wake-up, commit what that step touched (simulation,
  // API, timers); off for batched ingestion.
  void set_flush_each_step(bool on) { flush_each_step_ = on; }
  // Store::defer_durability for the commits made while the result lives (when `on`): they wait
  // for their caller's own point of promise to be made durable (the Kafka consumer's, before it
  // stores their offsets).
  [[nodiscard]] DurableLater durable_later(bool on) { return {store_, on}; }
  // Incidents changed and not yet committed (flush() writes them).
  std::size_t uncommitted_incidents() const { return dirty_.size(); }

  // Policy for incidents opened from now on; running clocks keep what they opened with.
  void reload(const Config& config);

  // Called with every action as it is taken (before it is durable).
  void on_action(std::function<void(const Action&)> listener) { listener_ = std::move(listener); }
  // Called after every commit that succeeded, with the snapshots it wrote (the incidents it
  // changed, a closed one included): readers of the store see the change from here on.
  void on_commit(std::function<void(const std::vector<IncidentState>&)> listener) {
    commit_listener_ = std::move(listener);
  }

  std::optional<TimePoint> next_due() const;
  const IncidentState* find(const std::string& key) const;
  std::size_t open_incidents() const { return incidents_.size(); }
  std::size_t pending_deadlines() const { return schedule_.size(); }
  // How late the clock fired: for each incident a timer acted on, the instant it acted minus the
  // instant the incident fell due (its earliest due step), counted against these upper bounds.
  // A catch-up after downtime, or a hold while ownership is in doubt, counts all of its wait.
  // GET /metrics gives it as the histogram incidentd_step_lateness_seconds.
  struct StepLateness {
    static constexpr std::array<Duration, 8> kBounds{Duration{1},    Duration{5},    Duration{10},
                                                     Duration{50},   Duration{100},  Duration{500},
                                                     Duration{1000}, Duration{10000}};
    std::array<std::uint64_t, kBounds.size()> within{};  // fired at most kBounds[i] late
    std::uint64_t count = 0;
    Duration sum{};
    void add(Duration late);
  };
  const StepLateness& step_lateness() const { return step_lateness_; }

 private:
  struct Due {
    TimePoint at;
    std::string key;
    friend auto operator<=>(const Due&, const Due&) = default;
  };
  // An open incident with the engine's bookkeeping about it, which is not part of its state.
  struct Slot {
    IncidentState state;
    std::optional<TimePoint> scheduled_at;  // its entry in schedule_
    bool dirty = false;                     // changed since it was last committed
    // Its snapshot changed since it was last committed. An event that says again what the
    // incident already holds changes nothing but the processed ids: the commit then writes no
    // snapshot (a monitoring system re-sending its backlog, docs/architecture.md, "A flood that
    // says nothing new").
    bool changed = false;
    bool acted = false;                  // to be committed by the next flush_acted()
    std::vector<ProcessedId> processed;  // applied to it since it was last committed
    std::size_t pending_actions = 0;     // its actions in pending_.actions
  };

  // The answer to an input for an incident this instance does not own, if it does not.
  std::optional<Outcome> refuse_unowned(const std::string& key) const;
  // The confirmation already recorded (committed or pending) under c's incident, unit and id.
  std::optional<Confirmation> recorded_confirmation(const Confirmation& c);
  // The open incident with this key, or nullptr; `closed` tells a closed one from an unknown one.
  Slot* lookup(const std::string& key, bool& closed);
  Slot& slot_for(const std::string& key);  // the slot, created empty when there is none
  Slot& open_incident(const Event& e);
  // Whether a descriptive field changed (units, lead unit, title, category, region); a change
  // of level emits an action.
  bool update_incident(IncidentState& s, const Event& e);
  void close_incident(IncidentState& s, const Event& e);
  void start_clock(IncidentState& s, TimePoint start);
  void arm_milestone(IncidentState& s, Milestone m, TimePoint base, int round);
  void arm_follow_up(IncidentState& s);
  void act_due(IncidentState& s, TimePoint now);
  void act_ladder(IncidentState& s, MilestoneState& ms, TimePoint now);
  void act_deliveries(IncidentState& s, TimePoint now);
  void fire_step(IncidentState& s, MilestoneState& ms, const ScheduledStep& step, int reminder,
                 TimePoint now, bool catch_up);
  void notify(IncidentState& s, const MilestoneState& ms, ActionKind cause, int level,
              TimePoint due, int reminder, TimePoint now, bool opening);
  void send(IncidentState& s, PendingDelivery& d, TimePoint now);
  void check_met(IncidentState& s, Milestone m, TimePoint now);
  std::set<std::string> owing_units(const IncidentState& s, const MilestoneState& ms) const;
  std::optional<TimePoint> earliest_due(const IncidentState& s) const;
  void emit(IncidentState& s, Action a);
  // This step touched the incident; `acted` when it took actions (actions_before is
  // actions_taken_ when the step began). Its snapshot changed when it took actions or when
  // `described` says a field changed without one; every change of state the engine makes
  // otherwise emits an action.
  void touched(Slot& slot, std::uint64_t actions_before, bool described = true);
  void reschedule(Slot& slot);
  void rearm_timer();
  void after_step();
  // Commits these slots, with the events applied to them and the pending actions, confirmations
  // and acknowledgements of their incidents (every pending one when every acted slot is among
  // them).
  void commit(const std::vector<Slot*>& slots);
  // Moves the pending items of these slots' incidents to part_changes_, and back on a failure.
  void take_pending_of(const std::vector<Slot*>& slots);
  void take_pending_actions(std::size_t count);
  void drop_taken_actions();
  void give_back_pending();

  Config config_;
  Store& store_;
  const Owns owns_;
  std::function<bool()> in_doubt_;
  TimeSystem& time_;
  std::unique_ptr<Timer> timer_;
  // Looked up for every event: open addressing with the hash stored, one probe in the common
  // case. Slots are held by pointer so the Slot* lists below survive a rehash.
  using SlotMap =
      tsl::robin_map<std::string, std::unique_ptr<Slot>, std::hash<std::string>,
                     std::equal_to<std::string>,
                     std::allocator<std::pair<std::string, std::unique_ptr<Slot>>>, true>;
  using StringSet = tsl::robin_set<std::string, std::hash<std::string>, std::equal_to<std::string>,
                                   std::allocator<std::string>, true>;
  SlotMap incidents_;                // open incidents, never iterated
  std::set<Due> schedule_;           // next due instant per incident
  Changeset pending_;                // actions and the like, not yet committed
  std::uint64_t actions_taken_ = 0;  // every action emitted, whether or not the store keeps it
  StepLateness step_lateness_;
  const bool store_records_actions_;
  std::vector<Slot*> dirty_;  // the slots marked dirty
  // The slots that must be committed before what they decided is acted on: they took an action
  // (which the outbox will send), or changed outside a batch whose source redelivers.
  std::vector<Slot*> acted_;
  std::vector<Slot*> step_touched_;  // changed in the current step (one or two)
  std::vector<Slot*> part_;          // the slots of a commit of some of them
  Changeset part_changes_;           // what such a commit takes from pending_
  // The front of pending_.actions that parts have taken (moved-from, to be dropped), and the
  // actions a part's scan passed over, on their way back.
  std::size_t taken_actions_ = 0;
  std::vector<Action> passed_over_;
  tsl::robin_set<std::string_view> part_keys_;  // its incidents
  std::optional<TimePoint> armed_at_;
  // Due incidents whose ownership is in doubt wait this long before the engine looks again.
  static constexpr Duration kHoldBack = std::chrono::milliseconds(100);
  std::optional<TimePoint> held_until_;
  StringSet pending_ids_;  // ids applied and not yet committed
  std::function<void(const Action&)> listener_;
  std::function<void(const std::vector<IncidentState>&)> commit_listener_;
  bool flush_each_step_ = true;
};

}  // namespace incidentd
