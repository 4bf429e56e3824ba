// The outbox room: the notification queue. The engine's notifications enter it in the engine's
// commit (insert_notification), the operator desk's notices with the dispatcher's and the source
// heartbeat's records (insert_row); the dispatcher claims due rows and records what became of
// them (the NotificationOutbox port, incidentd/outbox.hpp). Internal to daemon/store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "incidentd/domain.hpp"
#include "incidentd/outbox.hpp"
#include "incidentd/state_record.hpp"

namespace incidentd {

class CommitJournal;
class Database;
class HashChain;

class OutboxRoom {
 public:
  OutboxRoom(Database& database, HashChain& chain, CommitJournal& journal);
  OutboxRoom(const OutboxRoom&) = delete;
  OutboxRoom& operator=(const OutboxRoom&) = delete;

  // Inside a write transaction: appends the action to the timeline, and a notification to the
  // outbox too, its row naming the timeline row as its body (schema 15).
  void chain_action(const Action& a);
  // The same for an engine's commit: its actions as timeline rows (incidentd/timeline_rows.hpp),
  // each notification of a step's row naming that row.
  void chain_actions(const std::vector<Action>& actions);
  // Inside a write transaction: a row the dispatcher or the source heartbeat adds, with a body
  // of its own. Left alone when its notification_id exists already, as chain_action's is.
  void insert_row(const OutboxRow& row);
  // Inside a write transaction: the owner's update of an existing row, replicated (whatever
  // state the row is in here: the owner's dispatcher decides). False when there is no such row.
  bool apply_delivery(const DeliveryChange& d);

  // From now on, due_notifications and next_notification_due see only the rows of incidents
  // `owns` admits (a cluster's replica holds other instances' rows too: docs/cluster.md), and
  // rows of no incident (the source heartbeat's notices, which are this instance's own).
  void only_owned(std::function<bool(std::string_view incident_key)> owns);

  std::vector<OutboxRow> due_notifications(TimePoint now, std::size_t limit);
  std::optional<TimePoint> next_notification_due();
  std::size_t pull_back_notifications(TimePoint now, TimePoint beyond);
  std::vector<bool> record_outbox(const std::vector<OutboxUpdate>& updates);
  std::map<std::pair<std::string, std::string>, std::uint64_t> outbox_counts();
  // One incident's rows as a report shows them (without the dispatcher's columns).
  std::vector<OutboxRow> of_incident(const std::string& incident_key);

 private:
  void insert_notification(const Action& a, std::int64_t timeline_seq);
  // The dispatcher's queries, prepared once: each pass runs them, and compiling the due query
  // (two correlated subqueries) cost a pass more than running it.
  SQLite::Statement& due_query();
  SQLite::Statement& next_due_query();

  Database& database_;
  HashChain& chain_;
  CommitJournal& journal_;
  // Every insert goes through this one statement, so the engine's rows and the desk's have the
  // same columns. OR IGNORE: an engine commit never fails on a row that exists.
  SQLite::Statement insert_;
  SQLite::Statement replicate_delivery_;
  SQLite::Statement record_update_;
  SQLite::Statement pending_beyond_;
  SQLite::Statement pull_back_;
  // Prepared at their first use, again after only_owned(): their text depends on it.
  std::optional<SQLite::Statement> due_;
  std::optional<SQLite::Statement> next_due_;
  // Called by SQLite, as the function incidentd_owns(incident_key), from the queries above.
  std::function<bool(std::string_view)> owns_;
};

}  // namespace incidentd
