// The incident-clock engine. It opens a clock for every incident at a clock level, walks each
// milestone's ladder as time passes, notifies and re-notifies the people at each level, and
// stops when the responsible units confirm or the incident closes. It reads time and arms its
// single wake-up through the TimeSystem port, so the same code runs live and simulated.
//
// What fell due before the engine could act (late arrival, downtime) acts once, at the latest
// due step per milestone. Changes accumulate until flush(), which commits them in one
// transaction; after a crash the state is rebuilt from the store by the constructor.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

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
  static Outcome accepted() { return {}; }
  static Outcome duplicate() { return {Status::duplicate, {}}; }
  static Outcome rejected(std::string why) { return {Status::rejected, std::move(why)}; }
};

class Engine {
 public:
  // Loads every open incident from the store and arms the wake-up for the earliest deadline.
  // Nothing is acted on until time next moves (run_due() or the timer).
  Engine(const Config& config, Store& store, TimeSystem& time);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  Outcome handle(const Event& event);
  Outcome handle(const Confirmation& confirmation);
  Outcome handle(const Acknowledgement& ack);

  // Acts on everything due at or before now (the timer calls this too).
  void run_due();
  // Commits what changed since the last flush. Throws StoreError; after a failed flush the
  // in-memory state is ahead of the store and the owner must restart from the store.
  void flush();
  // Flush after every handle() and every timer wake-up (simulation); off for batched ingestion.
  void set_flush_each_step(bool on) { flush_each_step_ = on; }

  // Policy for incidents opened from now on; running clocks keep what they opened with.
  void reload(const Config& config);

  // Called with every action as it is taken (before it is durable).
  void on_action(std::function<void(const Action&)> listener) { listener_ = std::move(listener); }

  std::optional<TimePoint> next_due() const;
  const IncidentState* find(const std::string& key) const;
  std::size_t open_incidents() const { return incidents_.size(); }
  std::size_t pending_deadlines() const { return schedule_.size(); }

 private:
  struct Due {
    TimePoint at;
    std::string key;
    friend auto operator<=>(const Due&, const Due&) = default;
  };

  // The open incident with this key, or nullptr; `closed` tells a closed one from an unknown one.
  IncidentState* lookup(const std::string& key, bool& closed);
  void open_incident(const Event& e);
  void update_incident(IncidentState& s, const Event& e);
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
              TimePoint due, int reminder, TimePoint now);
  void send(IncidentState& s, PendingDelivery& d, TimePoint now);
  void check_met(IncidentState& s, Milestone m, TimePoint now);
  std::set<std::string> owing_units(const IncidentState& s, const MilestoneState& ms) const;
  std::optional<TimePoint> earliest_due(const IncidentState& s) const;
  void emit(IncidentState& s, Action a);
  void touched(IncidentState& s);
  void reschedule(const IncidentState& s);
  void rearm_timer();
  void after_step();

  Config config_;
  Store& store_;
  TimeSystem& time_;
  std::unique_ptr<Timer> timer_;
  std::unordered_map<std::string, IncidentState> incidents_;  // open incidents, never iterated
  std::set<Due> schedule_;                                    // next due instant per incident
  std::unordered_map<std::string, TimePoint> scheduled_at_;
  Changeset pending_;
  std::set<std::string> dirty_;            // changed since the last flush
  std::vector<std::string> step_touched_;  // changed in the current step (one or two)
  std::optional<TimePoint> armed_at_;
  std::unordered_set<std::string> pending_ids_;
  std::function<void(const Action&)> listener_;
  bool flush_each_step_ = true;
};

}  // namespace incidentd
