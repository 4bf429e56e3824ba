#include "store/sqlite_store.hpp"

#include <optional>
#include <type_traits>
#include <utility>

#include "store/ack_links.hpp"
#include "store/commit_journal.hpp"
#include "store/consistency_rows.hpp"
#include "store/database.hpp"
#include "store/engine_store.hpp"
#include "store/hash_chain.hpp"
#include "store/incident_figures_room.hpp"
#include "store/outbox.hpp"
#include "store/replica_room.hpp"
#include "store/reply_codes.hpp"
#include "store/run_log.hpp"
#include "store/schema.hpp"
#include "store/source_heartbeat_record.hpp"
#include "store/timeline_queries.hpp"
#include "store/wal_checkpointer.hpp"

namespace incidentd {

static_assert(SqliteStore::kSchemaVersion == Database::kSchemaVersion);

// In dependency order: each room is built on those before it and gone before them.
struct SqliteStore::Rooms {
  Rooms(const std::string& path, Mode mode, WalCheckpoints when)
      : database(path,
                 mode == Mode::read_only ? Database::Mode::read_only : Database::Mode::read_write),
        chain(database),
        journal(database),
        outbox(database, chain, journal),
        figures(database),
        engine(database, chain, outbox, figures, journal,
               mode == Mode::replica ? EngineStore::ProcessedIdSet::none
                                     : EngineStore::ProcessedIdSet::kept),
        reader(database),
        ack_links(database),
        runs(database, chain),
        source_heartbeat(database, outbox) {
    if (mode == Mode::read_only) return;
    if (when.background_after > 0) checkpointer.emplace(path, Database::kBusyTimeoutMs);
    wal_hook.emplace(database.db(), when, checkpointer ? &*checkpointer : nullptr);
    syncer.emplace(database);
  }

  Database database;
  HashChain chain;
  CommitJournal journal;
  OutboxRoom outbox;
  IncidentFiguresRoom figures;
  EngineStore engine;
  TimelineReader reader;
  AckLinkRoom ack_links;
  RunLogRoom runs;
  SourceHeartbeatRoom source_heartbeat;
  // Declared after the database: stopped and closed before the writer's connection, whose close
  // then checkpoints what is left and removes the WAL.
  std::optional<WalCheckpointer> checkpointer;
  std::optional<WalCommitHook> wal_hook;
  std::optional<WalSyncer> syncer;  // makes deferred commits durable (defer_durability)
};

SqliteStore::SqliteStore(const std::string& path, Mode mode, WalCheckpoints checkpoints) {
  try {
    rooms_ = std::make_unique<Rooms>(path, mode, checkpoints);
  } catch (const SQLite::Exception& e) {
    throw StoreError("open (" + path + "): " + e.what());
  }
}

SqliteStore::~SqliteStore() = default;

std::string SqliteStore::chain_genesis(std::string_view incident_key) {
  return incidentd::chain_genesis(incident_key);
}

std::string SqliteStore::chain_hash(std::string_view prev_hash, const TimelineRow& row) {
  return incidentd::chain_hash(prev_hash, row);
}

void SqliteStore::commit(const Changeset& changes) {
  if (rooms_->syncer) {
    if (auto failed = rooms_->syncer->take_failure()) throw StoreError(*failed);
  }
  rooms_->engine.commit(changes);
  if (rooms_->syncer && rooms_->database.durability_deferred()) rooms_->syncer->request();
}

void SqliteStore::defer_durability(bool on) {
  rooms_->database.defer_durability(on);
}

void SqliteStore::make_durable() {
  rooms_->database.sync_wal();
}

bool SqliteStore::commits_wait_for_disk() {
  return guarded(rooms_->database, "synchronous", [&] {
    return rooms_->database.db().execAndGet("PRAGMA synchronous").getInt() == 2;  // FULL
  });
}

// The write runs with durability deferred (unless the caller deferred it already, which stays),
// and the store's thread syncs the WAL right after (docs/kafka.md, "Durable before its offsets").
template <typename Write>
auto SqliteStore::synced_after(std::string_view operation, Write&& write) -> decltype(write()) {
  Database& database = rooms_->database;
  if (rooms_->syncer) {
    if (auto failed = rooms_->syncer->take_failure()) {
      throw StoreError(std::string(operation) + ": " + *failed);
    }
  }
  const bool was_deferred = database.durability_deferred();
  database.defer_durability(true);
  struct Restore {
    Database& database;
    bool was_deferred;
    ~Restore() {
      try {
        database.defer_durability(was_deferred);
      } catch (const StoreError&) {
        // Outside a transaction SQLite does not refuse it; should it, the next write tries again.
      }
    }
  } restore{database, was_deferred};
  if constexpr (std::is_void_v<decltype(write())>) {
    write();
    if (rooms_->syncer) rooms_->syncer->request();
  } else {
    auto result = write();
    if (rooms_->syncer) rooms_->syncer->request();
    return result;
  }
}

void SqliteStore::keep_commit_journal() {
  rooms_->journal.enable();
}

std::int64_t SqliteStore::last_commit_seq() const {
  return rooms_->journal.last_seq();
}

SqliteStore::JournalPending SqliteStore::commit_journal_pending() {
  return guarded(rooms_->database, "commit_journal", [&] {
    const auto p = rooms_->journal.pending();
    return JournalPending{p.commits, p.first, p.last};
  });
}

void SqliteStore::forget_published_commits(std::int64_t seq) {
  guarded_write(rooms_->database, "forget_published_commits",
                [&] { rooms_->journal.forget_through(seq); });
}

JournalRollback SqliteStore::roll_back_commits_after(std::int64_t published_through) {
  return guarded_write(rooms_->database, "roll_back_commits", [&] {
    return rooms_->journal.roll_back_after(
        published_through,
        [this](const std::vector<std::string>& keys) { rooms_->engine.rederive_deadlines(keys); });
  });
}
std::vector<IncidentState> SqliteStore::load_open_incidents() {
  return rooms_->engine.load_open_incidents();
}
std::optional<IncidentState> SqliteStore::load_incident(const std::string& key) {
  return rooms_->engine.load_incident(key);
}
void SqliteStore::send_only_owned(std::function<bool(std::string_view incident_key)> owns) {
  rooms_->outbox.only_owned(std::move(owns));
}
void SqliteStore::remember_processed(const std::vector<ProcessedId>& ids) {
  rooms_->engine.remember_processed(ids);
}
bool SqliteStore::is_processed(const std::string& id) {
  return rooms_->engine.is_processed(id);
}
std::optional<Confirmation> SqliteStore::find_confirmation(const std::string& incident_key,
                                                           const std::string& unit,
                                                           const std::string& confirmation_id) {
  return rooms_->engine.find_confirmation(incident_key, unit, confirmation_id);
}
std::vector<IncidentState> SqliteStore::load_all_incidents() {
  return rooms_->engine.load_all_incidents();
}
std::vector<Action> SqliteStore::timeline(const std::string& incident_key) {
  return rooms_->engine.timeline(incident_key);
}

void SqliteStore::scan_timeline(const std::string& incident_key,
                                const std::function<bool(const TimelineRow&)>& visit,
                                std::int64_t after_seq) {
  rooms_->reader.scan_timeline(incident_key, visit, after_seq);
}
std::vector<IncidentRow> SqliteStore::incidents_with_clock(TimePoint from, TimePoint to) {
  return rooms_->figures.incidents_with_clock(from, to);
}
std::vector<OutboxRow> SqliteStore::outbox(const std::string& incident_key) {
  return rooms_->outbox.of_incident(incident_key);
}
std::optional<ChainHead> SqliteStore::chain_head(const std::string& incident_key) {
  return rooms_->reader.chain_head(incident_key);
}
std::string SqliteStore::chain_heads_digest() {
  return rooms_->reader.chain_heads_digest();
}
std::vector<ChainRewrite> SqliteStore::chain_rewrites() {
  return rooms_->reader.chain_rewrites();
}
std::int64_t SqliteStore::last_seq_issued() {
  return rooms_->reader.last_seq_issued();
}

std::vector<OutboxRow> SqliteStore::due_notifications(TimePoint now, std::size_t limit) {
  return rooms_->outbox.due_notifications(now, limit);
}
std::optional<TimePoint> SqliteStore::next_notification_due() {
  return rooms_->outbox.next_notification_due();
}
std::size_t SqliteStore::pull_back_notifications(TimePoint now, TimePoint beyond) {
  return rooms_->outbox.pull_back_notifications(now, beyond);
}
// The dispatcher's claims and results promise nothing outside the daemon: a power cut that undoes
// one sends its notification again (at least once), as a crash between send and record does. So
// the dispatcher's pass, on the loop thread, does not wait for the disk either.
std::vector<bool> SqliteStore::record_outbox(const std::vector<OutboxUpdate>& updates) {
  return synced_after("record_outbox", [&] { return rooms_->outbox.record_outbox(updates); });
}
std::map<std::pair<std::string, std::string>, std::uint64_t> SqliteStore::outbox_counts() {
  return rooms_->outbox.outbox_counts();
}

bool SqliteStore::record_used_link(const std::string& link_id, const std::string& incident_key,
                                   TimePoint at) {
  return rooms_->ack_links.record_used_link(link_id, incident_key, at);
}
bool SqliteStore::is_link_used(const std::string& link_id) {
  return rooms_->ack_links.is_link_used(link_id);
}

std::optional<RunLog::Outage> SqliteStore::begin_run(TimePoint now, OutageEntries entries) {
  return rooms_->runs.begin_run(now, entries);
}
// A proof of life a power cut undoes only makes the outage it ends start a few seconds earlier.
void SqliteStore::heartbeat(TimePoint now) {
  synced_after("heartbeat", [&] { rooms_->runs.heartbeat(now); });
}
void SqliteStore::end_run(TimePoint now) {
  rooms_->runs.end_run(now);
}

std::optional<SourceHeartbeatRecord> SqliteStore::source_heartbeat() {
  return rooms_->source_heartbeat.source_heartbeat();
}
void SqliteStore::record_source_heartbeat(const SourceHeartbeatRecord& record,
                                          const std::vector<OutboxRow>& rows) {
  rooms_->source_heartbeat.record_source_heartbeat(record, rows);
}

std::unique_ptr<ReplyCodeStore> SqliteStore::reply_codes(int code_digits, Duration reuse_after,
                                                         std::function<std::uint64_t()> random) {
  return std::make_unique<SqliteReplyCodes>(rooms_->database, code_digits, reuse_after,
                                            std::move(random));
}

std::unique_ptr<ReplicaLog> SqliteStore::replica_log(std::string instance_id) {
  return std::make_unique<ReplicaRoom>(rooms_->database, rooms_->chain, rooms_->outbox,
                                       rooms_->engine, rooms_->journal, std::move(instance_id));
}

std::unique_ptr<ConsistencyRows> SqliteStore::consistency_rows() {
  return std::make_unique<ConsistencyReader>(rooms_->database);
}

std::size_t SqliteStore::count(std::string_view table) {
  bool known = false;
  for (auto t : schema::kTables) known = known || t == table;
  if (!known) throw StoreError("count: unknown table '" + std::string(table) + "'");
  return guarded(rooms_->database, "count", [&] {
    // The processed table holds a block of ids per row.
    const std::string what = table == "processed" ? "COALESCE(SUM(ids), 0)" : "COUNT(*)";
    const auto n =
        rooms_->database.db().execAndGet("SELECT " + what + " FROM " + std::string(table));
    return static_cast<std::size_t>(n.getInt64());
  });
}

int SqliteStore::schema_version() {
  return guarded(rooms_->database, "schema_version",
                 [&] { return rooms_->database.user_version(); });
}

SqliteStore::WalCheckpointCounts SqliteStore::wal_checkpoints(bool settle) {
  auto& checkpointer = rooms_->checkpointer;
  if (checkpointer && settle) checkpointer->wait_idle();
  return {checkpointer ? checkpointer->done() : 0,
          rooms_->wal_hook ? rooms_->wal_hook->foreground() : 0};
}

}  // namespace incidentd
