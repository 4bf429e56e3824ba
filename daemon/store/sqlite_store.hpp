// The durable store on one SQLite file in WAL mode, as a thin facade (LevelDB's DB over DBImpl):
// it opens the database (migrating it), owns the rooms that share its connection, and answers
// every port the daemon's parts take: Store (the engine), NotificationOutbox (the dispatcher),
// TimelineQueries (reports, verify), AckLinkLog (the HTTP API), RunLog (main), SourceHeartbeatLog
// and IncidentHistory (the API, incidentctl), ReplyCodeStore (reply_codes()), ConsistencyRows
// (consistency_rows(), check-db). Callers depend on those ports; only the code that opens the
// file (the two mains, tools, tests) names this class.
// Every SQLite failure becomes a StoreError naming the operation (StoreFullError: a full disk).
// A read-only instance can read while the daemon writes (reports).
//
// The rooms (daemon/store): database (connection, pragmas) with schema (every table's
// migrations, chain_migration the per-incident chains' one), hash_chain (appending to the
// timeline's chains, one per incident) and chain_hash (the hash itself),
// engine_store (commit, loads, processed ids with processed_ids), outbox, timeline_queries,
// ack_links, run_log, source_heartbeat_record, reply_codes, consistency_rows, wal_checkpointer,
// replica_room (a cluster's replica).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "incidentd/ack_link_log.hpp"
#include "incidentd/consistency_rows.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/incident_history.hpp"
#include "incidentd/outbox.hpp"
#include "incidentd/replica_log.hpp"
#include "incidentd/reply_code_store.hpp"
#include "incidentd/run_log.hpp"
#include "incidentd/source_heartbeat_log.hpp"
#include "incidentd/store.hpp"
#include "incidentd/timeline_queries.hpp"
#include "store/chain_hash.hpp"
#include "store/commit_journal.hpp"
#include "store/wal_checkpoints.hpp"

namespace incidentd {

class SqliteStore final : public Store,
                          public NotificationOutbox,
                          public TimelineQueries,
                          public AckLinkLog,
                          public RunLog,
                          public SourceHeartbeatLog,
                          public IncidentHistory {
 public:
  // replica: read_write for the replica applier's thread (replica_log()), without the engine's
  // processed-id set, which it does not need.
  enum class Mode { read_write, read_only, replica };

  // The schema version this build writes and reads (PRAGMA user_version).
  static constexpr int kSchemaVersion = 17;

  // The hash an incident's first row chains to, and a row's hash (store/chain_hash.hpp).
  static std::string chain_genesis(std::string_view incident_key);
  static std::string chain_hash(std::string_view prev_hash, const TimelineRow& row);

  // read_write creates the file if needed and migrates it to kSchemaVersion; read_only needs a
  // database at exactly kSchemaVersion. Both refuse a newer schema. Throws StoreError.
  explicit SqliteStore(const std::string& path, Mode mode = Mode::read_write,
                       WalCheckpoints checkpoints = {});
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // ---- Store (engine_store) ------------------------------------------------------------------
  void commit(const Changeset& changes) override;
  // synchronous=NORMAL while on: a commit does not wait for the disk (fsync) but stays in the
  // WAL, which SQLite syncs before any checkpoint copies it into the database file; a thread of
  // the store's own then syncs the WAL file at once (WalSyncer). A sync that failed is thrown as
  // StoreError by the next commit.
  void defer_durability(bool on) override;
  // Every commit made so far is on the disk once this returns (fdatasync of the WAL file). On
  // any thread: it does not touch this connection. Throws StoreError.
  void make_durable();
  // Whether this connection's commits wait for the disk now (PRAGMA synchronous is FULL).
  bool commits_wait_for_disk();
  std::vector<IncidentState> load_open_incidents() override;
  // Also TimelineQueries'.
  std::optional<IncidentState> load_incident(const std::string& key) override;
  bool is_processed(const std::string& id) override;
  std::optional<Confirmation> find_confirmation(const std::string& incident_key,
                                                const std::string& unit,
                                                const std::string& confirmation_id) override;

  // ---- A cluster's replica (docs/cluster.md, "Ownership") ------------------------------------
  // The dispatcher's reads of the outbox see only the rows of incidents `owns` admits.
  void send_only_owned(std::function<bool(std::string_view incident_key)> owns);
  // Ids the replica applier wrote on its own connection: is_processed() knows them from now on.
  void remember_processed(const std::vector<ProcessedId>& ids);

  // ---- A cluster member's commit journal (commit_journal) -----------------------------------
  // From now on every commit of the engine and the dispatcher on this connection also keeps its
  // undo until forgotten (docs/cluster.md, "Commits the topic never got").
  void keep_commit_journal();
  // The seq of the last commit journalled on this connection (0: none): its records carry it.
  std::int64_t last_commit_seq() const;
  struct JournalPending {
    std::size_t commits = 0;
    std::int64_t first = 0;
    std::int64_t last = 0;
  };
  JournalPending commit_journal_pending();
  // Every commit numbered up to `seq` is on the state topic: its undo is no longer kept.
  void forget_published_commits(std::int64_t seq);
  // Undoes every journalled commit after `published_through`, newest first, and forgets all.
  JournalRollback roll_back_commits_after(std::int64_t published_through);

  // ---- IncidentHistory (engine_store) --------------------------------------------------------
  std::vector<IncidentState> load_all_incidents() override;
  std::vector<Action> timeline(const std::string& incident_key = "") override;

  // ---- TimelineQueries (timeline_queries, outbox) --------------------------------------------
  void scan_timeline(const std::string& incident_key,
                     const std::function<bool(const TimelineRow&)>& visit,
                     std::int64_t after_seq = 0) override;
  std::vector<IncidentRow> incidents_with_clock(TimePoint from, TimePoint to) override;
  std::vector<OutboxRow> outbox(const std::string& incident_key) override;
  std::optional<ChainHead> chain_head(const std::string& incident_key = "") override;
  std::string chain_heads_digest() override;
  std::vector<ChainRewrite> chain_rewrites() override;
  std::int64_t last_seq_issued() override;

  // ---- NotificationOutbox (outbox) -----------------------------------------------------------
  std::vector<OutboxRow> due_notifications(TimePoint now, std::size_t limit) override;
  std::optional<TimePoint> next_notification_due() override;
  std::size_t pull_back_notifications(TimePoint now, TimePoint beyond) override;
  std::vector<bool> record_outbox(const std::vector<OutboxUpdate>& updates) override;
  std::map<std::pair<std::string, std::string>, std::uint64_t> outbox_counts() override;

  // ---- AckLinkLog (ack_links) ----------------------------------------------------------------
  bool record_used_link(const std::string& link_id, const std::string& incident_key,
                        TimePoint at) override;
  bool is_link_used(const std::string& link_id) override;

  // ---- RunLog (run_log) ----------------------------------------------------------------------
  std::optional<Outage> begin_run(TimePoint now, OutageEntries entries) override;
  void heartbeat(TimePoint now) override;
  void end_run(TimePoint now) override;

  // ---- SourceHeartbeatLog (source_heartbeat_record) ------------------------------------------
  std::optional<SourceHeartbeatRecord> source_heartbeat() override;
  void record_source_heartbeat(const SourceHeartbeatRecord& record,
                               const std::vector<OutboxRow>& rows) override;

  // ---- ReplyCodeStore (reply_codes) ----------------------------------------------------------
  // The reply codes on this store's connection: `code_digits` long, not reused for a phone until
  // `reuse_after` after their incident closed, drawn with `random` (unset: seeded at random).
  // The object must not outlive this store.
  std::unique_ptr<ReplyCodeStore> reply_codes(int code_digits, Duration reuse_after,
                                              std::function<std::uint64_t()> random = {});

  // ---- ReplicaLog (replica_room) -------------------------------------------------------------
  // The replica applier's room on this store's connection (open it in Mode::replica, on the
  // applier's thread): applies other instances' change records; `instance_id` is this one's,
  // whose records it does not apply again. The object must not outlive this store.
  std::unique_ptr<ReplicaLog> replica_log(std::string instance_id);

  // ---- ConsistencyRows (consistency_rows) ----------------------------------------------------
  // check-db's rows on this store's connection. The object must not outlive this store.
  std::unique_ptr<ConsistencyRows> consistency_rows();

  // ---- The file ------------------------------------------------------------------------------
  // Rows in one of the store's tables: incidents, deadlines, confirmations, acknowledgements,
  // processed, timeline, outbox, chain_rewrites, daemon_runs, source_heartbeat. Any other name
  // is a StoreError.
  std::size_t count(std::string_view table);
  int schema_version();

  // Checkpoints that completed, on the store's thread and in commits. `settle` first waits
  // for the thread to finish what was asked of it.
  struct WalCheckpointCounts {
    std::uint64_t background = 0;
    std::uint64_t foreground = 0;
  };
  WalCheckpointCounts wal_checkpoints(bool settle = false);

 private:
  // A write whose promise is only inside the daemon (a dispatcher's record, a heartbeat): it does
  // not wait for the disk, and the store's thread syncs right after (WalSyncer).
  template <typename Write>
  auto synced_after(std::string_view operation, Write&& write) -> decltype(write());

  struct Rooms;
  std::unique_ptr<Rooms> rooms_;
};

}  // namespace incidentd
