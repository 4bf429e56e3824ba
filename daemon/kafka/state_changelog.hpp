// The state topic's producing side (docs/cluster.md, "The state topic"), before Kafka: every
// change the daemon commits to SQLite becomes change records (incidentd/state_record.hpp) queued
// here, and the consumer thread takes them into its next Kafka transaction, with the input
// offsets and the dead letters. The two decorators see every commit: ChangelogStore the
// engine's (events, timers, acknowledgements and confirmations from any door), ChangelogOutbox
// the dispatcher's delivery results. A record is queued only once its commit succeeded, so the
// topic never holds what SQLite does not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "incidentd/outbox.hpp"
#include "incidentd/state_record.hpp"
#include "incidentd/store.hpp"

namespace incidentd {

// Records committed to SQLite and not yet handed to a Kafka transaction, in commit order.
// Thread-safe: filled on the loop thread, taken on the consumer thread. Unbounded on purpose:
// what is committed must reach the topic, and while Kafka is away only the clocks and the API
// commit (the input is not consumed), a few records a minute per open incident.
class StateChangelog {
 public:
  // `instance_id` (cluster.instance_id) is stamped on every record queued, as its `by`.
  explicit StateChangelog(std::string instance_id) : instance_id_(std::move(instance_id)) {}

  // `seq`: the commit's number in the store's journal (0: none), stamped on its records.
  void add(std::vector<StateRecord> records, std::int64_t seq = 0);
  std::vector<StateRecord> take();
  std::size_t pending() const;

 private:
  const std::string instance_id_;
  mutable std::mutex mutex_;
  std::vector<StateRecord> records_;
};

// The number the store gave its last commit on this thread (SqliteStore::last_commit_seq: the
// commit journal's), stamped on the commit's records; unset, records carry none.
using CommitSeq = std::function<std::int64_t()>;

// The engine's Store, queueing the records of each commit that succeeded.
class ChangelogStore final : public Store {
 public:
  ChangelogStore(Store& inner, StateChangelog& changelog, CommitSeq commit_seq = {})
      : inner_(inner), changelog_(changelog), commit_seq_(std::move(commit_seq)) {}

  void commit(const Changeset& changes) override;
  std::vector<IncidentState> load_open_incidents() override { return inner_.load_open_incidents(); }
  std::optional<IncidentState> load_incident(const std::string& key) override {
    return inner_.load_incident(key);
  }
  bool is_processed(const std::string& id) override { return inner_.is_processed(id); }
  std::optional<Confirmation> find_confirmation(const std::string& incident_key,
                                                const std::string& unit,
                                                const std::string& confirmation_id) override {
    return inner_.find_confirmation(incident_key, unit, confirmation_id);
  }
  void defer_durability(bool on) override { inner_.defer_durability(on); }

 private:
  Store& inner_;
  StateChangelog& changelog_;
  CommitSeq commit_seq_;
};

// The dispatcher's outbox, queueing the records of the updates that applied. An update's
// incident is its row's, remembered from due_notifications() (a delivery result's timeline
// names it too).
class ChangelogOutbox final : public NotificationOutbox {
 public:
  ChangelogOutbox(NotificationOutbox& inner, StateChangelog& changelog, CommitSeq commit_seq = {})
      : inner_(inner), changelog_(changelog), commit_seq_(std::move(commit_seq)) {}

  std::vector<OutboxRow> due_notifications(TimePoint now, std::size_t limit) override;
  std::optional<TimePoint> next_notification_due() override {
    return inner_.next_notification_due();
  }
  std::size_t pull_back_notifications(TimePoint now, TimePoint beyond) override {
    return inner_.pull_back_notifications(now, beyond);
  }
  std::vector<bool> record_outbox(const std::vector<OutboxUpdate>& updates) override;
  std::map<std::pair<std::string, std::string>, std::uint64_t> outbox_counts() override {
    return inner_.outbox_counts();
  }

 private:
  NotificationOutbox& inner_;
  StateChangelog& changelog_;
  CommitSeq commit_seq_;
  std::map<std::string, std::string> incident_of_;  // notification_id -> incident_key, pending
};

}  // namespace incidentd
