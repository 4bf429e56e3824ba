// The durable store port. A Changeset is everything one step of the engine changed; commit()
// writes all of it in one transaction or none of it, so state and timeline never disagree.
// Adapters turn their library's failures into StoreError, and a full disk into StoreFullError:
// the one failure the daemon waits out instead of restarting (docs/reliability.md).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/incident.hpp"

namespace incidentd {

struct ProcessedId {
  std::string id;  // event_id ("release:" + confirmation_id in databases before version 7)
  std::string incident_key;
  TimePoint at{};
};

struct Changeset {
  std::vector<IncidentState> incidents;  // full snapshots of changed incidents
  std::vector<Action> actions;           // timeline in order; notifications also fill the outbox
  std::vector<ProcessedId> processed;
  std::vector<Confirmation> confirmations;
  std::vector<Acknowledgement> acknowledgements;
  bool empty() const {
    return incidents.empty() && actions.empty() && processed.empty() && confirmations.empty() &&
           acknowledgements.empty();
  }
  // Empties it but keeps the vectors' capacity: the engine fills one changeset per commit, and
  // growing the actions from nothing each time moved every action several times.
  void clear() {
    incidents.clear();
    actions.clear();
    processed.clear();
    confirmations.clear();
    acknowledgements.clear();
  }
};

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The store's file system has no room (SQLite: SQLITE_FULL, or an I/O error whose cause is
// ENOSPC). Nothing of the failed commit was written, and the same commit can be tried again once
// there is room: the caller keeps what it meant to write and retries.
class StoreFullError : public StoreError {
 public:
  StoreFullError(const std::string& what, std::string path)
      : StoreError(what), path_(std::move(path)) {}
  // The database file whose disk is full.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual void commit(const Changeset& changes) = 0;
  virtual std::vector<IncidentState> load_open_incidents() = 0;
  virtual std::optional<IncidentState> load_incident(const std::string& key) = 0;
  virtual bool is_processed(const std::string& id) = 0;
  // The committed confirmation with this identity (incident, unit and id together: units choose
  // their ids independently), if any.
  virtual std::optional<Confirmation> find_confirmation(const std::string& incident_key,
                                                        const std::string& unit,
                                                        const std::string& confirmation_id) = 0;
  // Whether commits carry the actions (the timeline and the outbox). A store that keeps neither
  // (the simulation's, which prints the actions as they are taken) says no, and the engine does
  // not gather them.
  virtual bool records_actions() const { return true; }
  // While on, a commit may be undone by a power cut (never by a crash of the process) until the
  // store's owner makes it durable: for a caller whose promise comes later and waits for that
  // (the Kafka consumer stores a batch's offsets only after the store's make_durable()). A store
  // whose every commit is durable, or that keeps nothing, ignores it.
  virtual void defer_durability(bool on) { (void)on; }
};

// Store::defer_durability for the commits made in a scope (when `on`); durable at once again
// after it, however the scope ends.
class DurableLater {
 public:
  DurableLater(Store& store, bool on) : store_(on ? &store : nullptr) {
    if (store_ != nullptr) store_->defer_durability(true);
  }
  ~DurableLater() {
    if (store_ == nullptr) return;
    try {
      store_->defer_durability(false);
    } catch (const StoreError&) {
      // Outside a transaction SQLite does not refuse it. Should it, the store still counts
      // itself deferred, and the next scope's end tries again.
    }
  }
  DurableLater(const DurableLater&) = delete;
  DurableLater& operator=(const DurableLater&) = delete;

 private:
  Store* store_;
};

}  // namespace incidentd
