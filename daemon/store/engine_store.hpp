// The engine's room: the Store port (incidentd/store.hpp). commit() writes a whole Changeset in
// one transaction: incident snapshots and the deadlines and statistics' figures derived from
// them and from the actions, timeline rows on the hash chain, the engine's notifications into the
// outbox, processed ids, confirmations and acknowledgements. Loads the snapshots back at a start.
// Internal to daemon/store.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "incidentd/store.hpp"
#include "store/processed_ids.hpp"

namespace incidentd {

class Database;
class CommitJournal;
class HashChain;
class IncidentFiguresRoom;
class OutboxRoom;

class EngineStore {
 public:
  // Whether this connection holds the processed-id set (the engine's writer does; the replica
  // applier's connection does not need one: its records' ids were checked by their owner).
  enum class ProcessedIdSet { kept, none };

  EngineStore(Database& database, HashChain& chain, OutboxRoom& outbox,
              IncidentFiguresRoom& figures, CommitJournal& journal,
              ProcessedIdSet processed_ids = ProcessedIdSet::kept);
  EngineStore(const EngineStore&) = delete;
  EngineStore& operator=(const EngineStore&) = delete;

  void commit(const Changeset& changes);
  std::vector<IncidentState> load_open_incidents();
  std::optional<IncidentState> load_incident(const std::string& key);
  std::vector<IncidentState> load_all_incidents();
  bool is_processed(const std::string& id);
  // Ids another writer put in the processed table (a cluster's replica applier, on a connection
  // of its own): the in-memory set learns them, so is_processed() answers for them too.
  void remember_processed(const std::vector<ProcessedId>& ids);
  std::optional<Confirmation> find_confirmation(const std::string& incident_key,
                                                const std::string& unit,
                                                const std::string& confirmation_id);
  // The timeline in commit order, of one incident or (empty key) of all, as actions.
  std::vector<Action> timeline(const std::string& incident_key);

  // The replica's writes (replica_room), in a write transaction the caller began, after the
  // chain's stage(): begin_replicated() first, write_replicated() for each change, which writes
  // exactly what commit() writes for it but does not check its processed ids (their owner did),
  // and replicated_committed() once the transaction committed.
  // Inside a write transaction: the deadlines rows of these incidents written again from their
  // snapshots as the file holds them (none for an incident it no longer holds), after the commit
  // journal undid commits (the session extension cannot follow the deadlines table).
  void rederive_deadlines(const std::vector<std::string>& incident_keys);

  void begin_replicated();
  void write_replicated(const Changeset& c);
  void replicated_committed();

  // Deadline rows are inserted this many to a statement: one statement per row costs about
  // half again as much on the hot path.
  static constexpr std::size_t kDeadlinesPerInsert = 8;

  // One row of the deadlines table, without its incident_key.
  struct DeadlineRow {
    const std::string* milestone;
    int round;
    TimePoint at;
    const std::string* action;
    int level;
    TimePoint due;
  };

 private:
  struct Statements {
    explicit Statements(SQLite::Database& db);
    SQLite::Statement upsert_incident;
    SQLite::Statement update_incident;
    SQLite::Statement delete_deadlines;
    SQLite::Statement insert_processed;
    SQLite::Statement insert_confirmation;
    SQLite::Statement insert_ack;
    SQLite::Statement select_open;
    SQLite::Statement select_incident;
    SQLite::Statement select_processed;
    SQLite::Statement data_version;
    SQLite::Statement select_timeline;
    SQLite::Statement select_incident_timeline;
    // [k - 1] inserts k deadline rows; prepared on first use.
    std::array<std::optional<SQLite::Statement>, kDeadlinesPerInsert> insert_deadlines;
  };

  void commit(const Changeset& c, std::size_t& added);
  void notice_other_writers();
  void write_changes(const Changeset& c);
  void write_incident(const IncidentState& st, std::int64_t seq);
  void write_deadlines(const IncidentState& st);
  void write_processed(const std::vector<ProcessedId>& processed);
  void add_new_ids(const Changeset& c, std::size_t& added);
  void write_confirmation(const Confirmation& c);
  void write_ack(const Acknowledgement& a);
  void deadlines_committed();
  std::int64_t read_data_version();
  IncidentState decode_state(std::string_view operation, const std::string& key,
                             const char* text) const;

  Database& database_;
  HashChain& chain_;
  OutboxRoom& outbox_;
  IncidentFiguresRoom& figures_;
  CommitJournal& journal_;
  Statements statements_;
  std::unordered_map<std::string, std::uint64_t> written_deadlines_;                // committed
  std::unordered_map<std::string, std::optional<std::uint64_t>> staged_deadlines_;  // this commit
  std::vector<DeadlineRow> rows_;  // scratch, reused
  // The ids this connection committed, and those it found in the table (read_write only).
  // Another connection's commits are noticed at our next commit (PRAGMA data_version) and the
  // set is rebuilt then; until that commit an id only they processed can look new, and the
  // engine's step for it then fails that commit's add_new_ids(), rolling the whole commit back.
  std::optional<ProcessedIds> processed_ids_;
  std::int64_t data_version_ = 0;
  std::int64_t staged_block_ = 0;  // the processed block the transaction in progress wrote
};

}  // namespace incidentd
