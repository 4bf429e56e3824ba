// A Store kept in memory for engine unit tests, with the same semantics as the SQLite store
// (all-or-nothing commits, a processed id or a confirmation's (incident, unit, id) stored twice is
// an error, the outbox keeps one entry per notification_id) and fault injection:
// fail_next_commits(n), and a full disk: set_full(true).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/incident_history.hpp"
#include "incidentd/store.hpp"

namespace incidentd::testing {

class MemoryStore final : public Store {
 public:
  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  void commit(const Changeset& changes) override;
  std::vector<IncidentState> load_open_incidents() override;
  std::optional<IncidentState> load_incident(const std::string& key) override;
  bool is_processed(const std::string& id) override;
  std::optional<Confirmation> find_confirmation(const std::string& incident_key,
                                                const std::string& unit,
                                                const std::string& confirmation_id) override;

  // The next n commits throw StoreError and apply nothing.
  void fail_next_commits(int n) { fail_next_ = n; }
  // While full, every commit throws StoreFullError (path "memory") and applies nothing.
  void set_full(bool full) { full_ = full; }
  // A power cut's view of durability: commits made while deferred are at risk until
  // make_durable().
  void defer_durability(bool on) override { deferred_ = on; }
  void make_durable() { at_risk_ = 0; }
  std::size_t commits_at_risk() const { return at_risk_; }
  std::size_t deferred_commits() const { return deferred_commits_; }

  const std::vector<Action>& timeline() const { return timeline_; }
  const std::vector<Action>& outbox() const { return outbox_; }  // notifications, first of each id
  const std::map<std::string, IncidentState>& incidents() const { return incidents_; }
  const std::vector<Confirmation>& confirmations() const { return confirmations_; }
  const std::vector<Acknowledgement>& acknowledgements() const { return acknowledgements_; }
  const std::map<std::string, ProcessedId>& processed() const { return processed_; }
  // Commits applied. An empty changeset is ignored (no transaction, as SqliteStore) and neither
  // counts nor consumes an injected failure.
  std::size_t commits() const { return commits_; }
  std::size_t failed_commits() const { return failed_commits_; }
  // Incident snapshots the applied commits carried, in all.
  std::size_t snapshots_written() const { return snapshots_written_; }

 private:
  std::map<std::string, IncidentState> incidents_;
  std::vector<Action> timeline_;
  std::vector<Action> outbox_;
  std::set<std::string> outbox_ids_;
  std::map<std::string, ProcessedId> processed_;
  std::vector<Confirmation> confirmations_;
  std::set<std::tuple<std::string, std::string, std::string>> confirmation_ids_;
  std::vector<Acknowledgement> acknowledgements_;
  int fail_next_ = 0;
  bool full_ = false;
  std::size_t commits_ = 0;
  std::size_t failed_commits_ = 0;
  std::size_t snapshots_written_ = 0;
  bool deferred_ = false;
  std::size_t at_risk_ = 0;
  std::size_t deferred_commits_ = 0;
};

// The IncidentHistory port over a MemoryStore (the daemon's is the SQLite store): every incident
// it holds, and the timeline of one incident or of all.
class MemoryHistory final : public IncidentHistory {
 public:
  explicit MemoryHistory(const MemoryStore& store) : store_(store) {}
  std::vector<IncidentState> load_all_incidents() override;
  std::vector<Action> timeline(const std::string& incident_key = "") override;

 private:
  const MemoryStore& store_;
};

}  // namespace incidentd::testing
