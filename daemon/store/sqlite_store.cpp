#include "store/sqlite_store.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "incidentd/codec.hpp"
#include "incidentd/state_codec.hpp"

namespace incidentd {
namespace {

using nlohmann::json;

// Each migration takes the schema from version - 1 to version, in one transaction together with
// the PRAGMA user_version that records it. Add version 2 as one more entry; never edit one that
// has shipped.
struct Migration {
  int version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE incidents (
  incident_key TEXT PRIMARY KEY,
  level        TEXT NOT NULL,
  drill        INTEGER NOT NULL,
  closed       INTEGER NOT NULL,
  opened_at    INTEGER NOT NULL,
  clock_start  INTEGER,
  closed_at    INTEGER,
  title        TEXT NOT NULL,
  lead_unit    TEXT NOT NULL,
  state        TEXT NOT NULL,   -- state_to_json: the record the engine is rebuilt from
  updated_seq  INTEGER NOT NULL -- the last timeline seq this snapshot reflects
);
CREATE INDEX incidents_open ON incidents(incident_key) WHERE closed = 0;

-- Derived from the snapshots at every commit, so operators and metrics can query what falls due.
CREATE TABLE deadlines (
  incident_key TEXT NOT NULL REFERENCES incidents(incident_key) ON DELETE CASCADE
               DEFERRABLE INITIALLY DEFERRED,
  milestone    TEXT NOT NULL,
  round        INTEGER NOT NULL,
  at           INTEGER NOT NULL,
  action       TEXT NOT NULL,
  level        INTEGER NOT NULL,
  due          INTEGER NOT NULL
);
CREATE INDEX deadlines_at ON deadlines(at);
CREATE INDEX deadlines_incident ON deadlines(incident_key);

CREATE TABLE confirmations (
  confirmation_id TEXT PRIMARY KEY,
  incident_key    TEXT NOT NULL,
  milestone       TEXT NOT NULL,
  unit            TEXT NOT NULL,
  released_at     INTEGER NOT NULL,
  channel         TEXT NOT NULL,
  url             TEXT NOT NULL,
  speaker         TEXT NOT NULL,
  via             TEXT NOT NULL
);
CREATE INDEX confirmations_incident ON confirmations(incident_key);

CREATE TABLE acknowledgements (
  id           INTEGER PRIMARY KEY,
  incident_key TEXT NOT NULL,
  recipient    TEXT NOT NULL,
  at           INTEGER NOT NULL,
  via          TEXT NOT NULL
);
CREATE INDEX acknowledgements_incident ON acknowledgements(incident_key);

-- Looked up and inserted once per event: without rowid the key is the table, one b-tree.
CREATE TABLE processed (
  id           TEXT PRIMARY KEY,
  incident_key TEXT NOT NULL,
  at           INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE timeline (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  incident_key TEXT NOT NULL,
  at           INTEGER NOT NULL,
  action       TEXT NOT NULL,
  milestone    TEXT,
  body         TEXT NOT NULL
);
CREATE INDEX timeline_incident ON timeline(incident_key, seq);

CREATE TABLE outbox (
  notification_id TEXT PRIMARY KEY,
  incident_key    TEXT NOT NULL,
  recipient       TEXT NOT NULL,
  unit            TEXT NOT NULL,
  channel         TEXT NOT NULL,
  level           INTEGER,
  body            TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  state           TEXT NOT NULL DEFAULT 'pending',
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  delivered_at    INTEGER,
  last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE state = 'pending';
)sql"},
};

static_assert(std::size(kMigrations) > 0 &&
                  kMigrations[std::size(kMigrations) - 1].version == SqliteStore::kSchemaVersion,
              "the last migration must produce kSchemaVersion");

constexpr std::array<std::string_view, 7> kTables = {
    "incidents", "deadlines", "confirmations", "acknowledgements",
    "processed", "timeline",  "outbox"};

// Deadline rows are inserted this many to a statement: one statement per row costs about half
// again as much on the hot path.
constexpr std::size_t kDeadlinesPerInsert = 8;

std::int64_t millis(TimePoint t) {
  return t.time_since_epoch().count();
}

// Text from the outside world may carry invalid UTF-8; storing it with U+FFFD beats a commit
// that fails on every retry and stalls the partition.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

int user_version(SQLite::Database& db) {
  return db.execAndGet("PRAGMA user_version").getInt();
}

// The contract names as NUL-terminated strings that live for the whole program, so they can be
// bound without a copy.
template <typename E, E kLast>
const std::string& name_of(E value) {
  static const auto names = [] {
    std::array<std::string, static_cast<std::size_t>(kLast) + 1> all;
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = std::string(to_string(static_cast<E>(i)));
    return all;
  }();
  return names.at(static_cast<std::size_t>(value));
}
const std::string& name(Level v) {
  return name_of<Level, Level::IV>(v);
}
const std::string& name(Milestone v) {
  return name_of<Milestone, Milestone::follow_up>(v);
}
const std::string& name(ActionKind v) {
  return name_of<ActionKind, ActionKind::incident_closed>(v);
}

// Resets the statement before use (a failed step leaves it unreset) and after, so that no read
// statement keeps a snapshot open and holds back WAL checkpoints. Text is bound without a copy
// (bindNoCopy), so every bound string must outlive the Use.
class Use {
 public:
  explicit Use(SQLite::Statement& s) : s_(s) { s_.tryReset(); }
  ~Use() { s_.tryReset(); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  SQLite::Statement* operator->() { return &s_; }

  void text(int index, const std::string& value) { s_.bindNoCopy(index, value); }
  void integer(int index, std::int64_t value) { s_.bind(index, value); }
  void instant(int index, TimePoint t) { s_.bind(index, static_cast<std::int64_t>(millis(t))); }
  void instant(int index, const std::optional<TimePoint>& t) {
    if (t) {
      instant(index, *t);
    } else {
      s_.bind(index);
    }
  }

 private:
  SQLite::Statement& s_;
};

// One row of the deadlines table, without its incident_key.
struct DeadlineRow {
  const std::string* milestone;
  int round;
  TimePoint at;
  const std::string* action;
  int level;
  TimePoint due;
};

// The rows the deadlines table must hold for this snapshot, and a fingerprint of them.
std::uint64_t pending_deadlines(const IncidentState& st, std::vector<DeadlineRow>& rows) {
  rows.clear();
  std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a
  const auto mix = [&hash](std::int64_t v) {
    for (int i = 0; i < 8; ++i) {
      hash ^= static_cast<std::uint64_t>(v >> (8 * i)) & 0xffU;
      hash *= 1099511628211ULL;
    }
  };
  if (st.closed) return hash;
  for (const auto& ms : st.milestones) {
    if (!ms.armed || ms.met_at) continue;
    for (std::size_t i = ms.next_step; i < ms.steps.size(); ++i) {
      const ScheduledStep& step = ms.steps[i];
      rows.push_back(
          {&name(ms.milestone), ms.round, step.at, &name(step.action), step.level, step.due});
      mix(static_cast<std::int64_t>(ms.milestone));
      mix(ms.round);
      mix(millis(step.at));
      mix(static_cast<std::int64_t>(step.action));
      mix(step.level);
      mix(millis(step.due));
    }
  }
  return hash;
}

std::string insert_deadlines_sql(std::size_t rows) {
  std::string sql =
      "INSERT OR ROLLBACK INTO deadlines(incident_key, milestone, round, at, action, level, due) "
      "VALUES ";
  for (std::size_t i = 0; i < rows; ++i)
    sql += i == 0 ? "(?, ?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?, ?)";
  return sql;
}

}  // namespace

// Every write in commit() says OR ROLLBACK (the outbox: OR IGNORE) and the one foreign key is
// deferred: a failure then ends the whole transaction, which is what commit() wants anyway, and
// SQLite needs no statement journal. With the default ABORT it copies every page a statement
// touches so it can undo that statement alone; that was a third of the commit's CPU.
struct SqliteStore::Impl {
  struct Statements {
    explicit Statements(SQLite::Database& db)
        : insert_timeline(
              db,
              "INSERT OR ROLLBACK INTO timeline(incident_key, at, action, milestone, body) "
              "VALUES (?, ?, ?, ?, ?)"),
          insert_outbox(db,
                        "INSERT OR IGNORE INTO outbox(notification_id, incident_key, recipient, "
                        "unit, channel, level, body, created_at, next_attempt_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
          last_seq(db, "SELECT COALESCE(MAX(seq), 0) FROM timeline"),
          upsert_incident(
              db,
              "INSERT OR ROLLBACK INTO incidents(incident_key, level, drill, closed, opened_at, "
              "clock_start, closed_at, title, lead_unit, state, updated_seq) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
              "ON CONFLICT(incident_key) DO UPDATE SET level = excluded.level, "
              "drill = excluded.drill, closed = excluded.closed, "
              "opened_at = excluded.opened_at, clock_start = excluded.clock_start, "
              "closed_at = excluded.closed_at, title = excluded.title, "
              "lead_unit = excluded.lead_unit, state = excluded.state, "
              "updated_seq = excluded.updated_seq"),
          delete_deadlines(db, "DELETE FROM deadlines WHERE incident_key = ?"),
          insert_processed(
              db, "INSERT OR ROLLBACK INTO processed(id, incident_key, at) VALUES (?, ?, ?)"),
          insert_confirmation(
              db,
              "INSERT OR ROLLBACK INTO confirmations(confirmation_id, incident_key, "
              "milestone, unit, released_at, channel, url, speaker, via) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
          insert_ack(db,
                     "INSERT OR ROLLBACK INTO acknowledgements(incident_key, recipient, at, via) "
                     "VALUES (?, ?, ?, ?)"),
          select_open(db,
                      "SELECT incident_key, state FROM incidents WHERE closed = 0 "
                      "ORDER BY incident_key"),
          select_incident(db, "SELECT state FROM incidents WHERE incident_key = ?"),
          select_processed(db, "SELECT 1 FROM processed WHERE id = ?"),
          select_timeline(db, "SELECT seq, body FROM timeline ORDER BY seq"),
          select_incident_timeline(
              db, "SELECT seq, body FROM timeline WHERE incident_key = ? ORDER BY seq") {}

    SQLite::Statement insert_timeline;
    SQLite::Statement insert_outbox;
    SQLite::Statement last_seq;
    SQLite::Statement upsert_incident;
    SQLite::Statement delete_deadlines;
    SQLite::Statement insert_processed;
    SQLite::Statement insert_confirmation;
    SQLite::Statement insert_ack;
    SQLite::Statement select_open;
    SQLite::Statement select_incident;
    SQLite::Statement select_processed;
    SQLite::Statement select_timeline;
    SQLite::Statement select_incident_timeline;
    // [k - 1] inserts k deadline rows; prepared on first use.
    std::array<std::optional<SQLite::Statement>, kDeadlinesPerInsert> insert_deadlines;
  };

  Impl(const std::string& p, Mode m)
      : path(p),
        db(p,
           m == Mode::read_only ? SQLite::OPEN_READONLY
                                : SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
           kBusyTimeoutMs) {
    if (m == Mode::read_write) {
      const std::string journal = db.execAndGet("PRAGMA journal_mode = WAL").getString();
      if (journal != "wal" && journal != "memory") {
        throw StoreError("open (" + path + "): cannot enable WAL (journal_mode is " + journal +
                         ")");
      }
      // FULL syncs the WAL on every commit. With NORMAL a power loss can undo the last commits
      // even though commit() returned, and the caller stores its Kafka offsets right after
      // commit(): those events would be lost for good. A batched commit pays the fsync once.
      db.exec("PRAGMA synchronous = FULL");
      db.exec("PRAGMA foreign_keys = ON");
      // A batch of hundreds of events writes megabytes: with the default 2 MB cache and
      // 1000-page (4 MB) checkpoints nearly every commit would also checkpoint. Temporary
      // b-trees stay in memory rather than in files under /var/tmp.
      db.exec("PRAGMA cache_size = -65536");
      db.exec("PRAGMA temp_store = MEMORY");
      db.exec("PRAGMA wal_autocheckpoint = 16384");
      migrate();
    } else {
      check_readable_version();
    }
    statements.emplace(db);
  }

  void migrate() {
    const int found = user_version(db);
    if (found > kSchemaVersion) throw newer_schema(found);
    for (const auto& migration : kMigrations) {
      if (migration.version <= found) continue;
      SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
      // Another process may have migrated between our read and taking the write lock.
      if (user_version(db) >= migration.version) continue;
      db.exec(migration.sql);
      db.exec("PRAGMA user_version = " + std::to_string(migration.version));
      tx.commit();
    }
  }

  void check_readable_version() {
    const int found = user_version(db);
    if (found > kSchemaVersion) throw newer_schema(found);
    if (found < kSchemaVersion) {
      throw StoreError("open (" + path + "): schema version " + std::to_string(found) +
                       " is older than version " + std::to_string(kSchemaVersion) +
                       " that this build reads; start incidentd once on it to migrate it" +
                       (found == 0 ? " (or it is not an incidentd database)" : ""));
    }
  }

  StoreError newer_schema(int found) const {
    return StoreError("open (" + path + "): schema version " + std::to_string(found) +
                      " is newer than version " + std::to_string(kSchemaVersion) +
                      " that this build knows; use a newer incidentd");
  }

  StoreError error(std::string_view operation, const std::exception& e) const {
    return StoreError(std::string(operation) + " (" + path + "): " + e.what());
  }

  void write_action(const Action& a) {
    const std::string body = dump(to_json(a, std::chrono::minutes{0}));
    {
      Use s(statements->insert_timeline);
      s.text(1, a.incident_key);
      s.instant(2, a.at);
      s.text(3, name(a.kind));
      if (a.milestone) {
        s.text(4, name(*a.milestone));
      } else {
        s->bind(4);
      }
      s.text(5, body);
      s->exec();
    }
    if (a.kind != ActionKind::notification) return;
    Use s(statements->insert_outbox);
    s.text(1, a.notification_id);
    s.text(2, a.incident_key);
    s.text(3, a.recipient);
    s.text(4, a.unit);
    s.text(5, a.channel);
    if (a.level) {
      s.integer(6, *a.level);
    } else {
      s->bind(6);
    }
    s.text(7, body);
    s.instant(8, a.at);
    s.instant(9, a.at);
    s->exec();
  }

  void write_incident(const IncidentState& st, std::int64_t seq) {
    const std::string state = state_to_json_text(st);
    {
      Use s(statements->upsert_incident);
      s.text(1, st.key);
      s.text(2, name(st.level));
      s.integer(3, st.drill ? 1 : 0);
      s.integer(4, st.closed ? 1 : 0);
      s.instant(5, st.opened_at);
      s.instant(6, st.clock_start);
      s.instant(7, st.closed_at);
      s.text(8, st.title);
      s.text(9, st.lead_unit);
      s.text(10, state);
      s.integer(11, seq);
      s->exec();
    }
    write_deadlines(st);
  }

  // Most snapshots (a re-send, an acknowledgement, a confirmation) leave the pending steps as
  // they were: those rewrite nothing. The fingerprints of what is in the table are kept for the
  // open incidents this connection wrote (one writer per database); an incident not among them
  // is rewritten.
  void write_deadlines(const IncidentState& st) {
    const std::uint64_t fingerprint = pending_deadlines(st, rows);
    if (auto it = staged_deadlines.find(st.key); it != staged_deadlines.end()) {
      if (it->second == fingerprint) return;
    } else if (auto w = written_deadlines.find(st.key);
               w != written_deadlines.end() && w->second == fingerprint) {
      return;
    }
    {
      Use s(statements->delete_deadlines);
      s.text(1, st.key);
      s->exec();
    }
    for (std::size_t first = 0; first < rows.size(); first += kDeadlinesPerInsert) {
      const std::size_t n = std::min(kDeadlinesPerInsert, rows.size() - first);
      auto& statement = statements->insert_deadlines[n - 1];
      if (!statement) statement.emplace(db, insert_deadlines_sql(n));
      Use s(*statement);
      for (std::size_t i = 0; i < n; ++i) {
        const DeadlineRow& row = rows[first + i];
        const int base = static_cast<int>(7 * i);
        s.text(base + 1, st.key);
        s.text(base + 2, *row.milestone);
        s.integer(base + 3, row.round);
        s.instant(base + 4, row.at);
        s.text(base + 5, *row.action);
        s.integer(base + 6, row.level);
        s.instant(base + 7, row.due);
      }
      s->exec();
    }
    staged_deadlines[st.key] = st.closed ? std::nullopt : std::optional(fingerprint);
  }

  void write_processed(const ProcessedId& p) {
    Use s(statements->insert_processed);
    s.text(1, p.id);
    s.text(2, p.incident_key);
    s.instant(3, p.at);
    s->exec();
  }

  void write_confirmation(const Confirmation& c) {
    Use s(statements->insert_confirmation);
    s.text(1, c.confirmation_id);
    s.text(2, c.incident_key);
    s.text(3, name(c.milestone));
    s.text(4, c.unit);
    s.instant(5, c.released_at);
    s.text(6, c.channel);
    s.text(7, c.url);
    s.text(8, c.speaker);
    s.text(9, c.via);
    s->exec();
  }

  void write_ack(const Acknowledgement& a) {
    Use s(statements->insert_ack);
    s.text(1, a.incident_key);
    s.text(2, a.recipient);
    s.instant(3, a.at);
    s.text(4, a.via);
    s->exec();
  }

  void commit(const Changeset& c) {
    staged_deadlines.clear();
    // IMMEDIATE takes the write lock up front, so a reader never makes us fail half-way.
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    for (const auto& a : c.actions) write_action(a);
    std::int64_t seq = 0;
    {
      Use s(statements->last_seq);
      s->executeStep();
      seq = s->getColumn(0).getInt64();
    }
    for (const auto& st : c.incidents) write_incident(st, seq);
    for (const auto& p : c.processed) write_processed(p);
    for (const auto& conf : c.confirmations) write_confirmation(conf);
    for (const auto& ack : c.acknowledgements) write_ack(ack);
    tx.commit();
    // Only now does the table hold what was staged.
    for (auto& [key, fingerprint] : staged_deadlines) {
      if (fingerprint) {
        written_deadlines[key] = *fingerprint;
      } else {
        written_deadlines.erase(key);
      }
    }
    staged_deadlines.clear();
  }

  IncidentState decode_state(std::string_view operation, const std::string& key,
                             const char* text) const {
    try {
      return state_from_json(json::parse(text));
    } catch (const json::exception& e) {
      throw StoreError(std::string(operation) + " (" + path + "): stored state of incident '" +
                       key + "' is unreadable: " + e.what());
    }
  }

  static constexpr int kBusyTimeoutMs = 5000;

  std::string path;
  SQLite::Database db;                   // declared before the statements: outlives them
  std::optional<Statements> statements;  // prepared once the schema exists
  std::unordered_map<std::string, std::uint64_t> written_deadlines;                // committed
  std::unordered_map<std::string, std::optional<std::uint64_t>> staged_deadlines;  // this commit
  std::vector<DeadlineRow> rows;  // scratch, reused
};

SqliteStore::SqliteStore(const std::string& path, Mode mode) {
  try {
    impl_ = std::make_unique<Impl>(path, mode);
  } catch (const SQLite::Exception& e) {
    throw StoreError("open (" + path + "): " + e.what());
  }
}

SqliteStore::~SqliteStore() = default;

void SqliteStore::commit(const Changeset& changes) {
  if (changes.empty()) return;  // no transaction, no fsync
  try {
    impl_->commit(changes);
  } catch (const SQLite::Exception& e) {
    throw impl_->error("commit", e);
  } catch (const json::exception& e) {
    throw impl_->error("commit", e);
  }
}

std::vector<IncidentState> SqliteStore::load_open_incidents() {
  std::vector<IncidentState> out;
  try {
    Use s(impl_->statements->select_open);
    while (s->executeStep()) {
      out.push_back(impl_->decode_state("load_open_incidents", s->getColumn(0).getString(),
                                        s->getColumn(1).getText()));
    }
  } catch (const SQLite::Exception& e) {
    throw impl_->error("load_open_incidents", e);
  }
  return out;
}

std::optional<IncidentState> SqliteStore::load_incident(const std::string& key) {
  try {
    Use s(impl_->statements->select_incident);
    s.text(1, key);
    if (!s->executeStep()) return std::nullopt;
    return impl_->decode_state("load_incident", key, s->getColumn(0).getText());
  } catch (const SQLite::Exception& e) {
    throw impl_->error("load_incident", e);
  }
}

bool SqliteStore::is_processed(const std::string& id) {
  try {
    Use s(impl_->statements->select_processed);
    s.text(1, id);
    return s->executeStep();
  } catch (const SQLite::Exception& e) {
    throw impl_->error("is_processed", e);
  }
}

std::vector<Action> SqliteStore::timeline(const std::string& incident_key) {
  std::vector<Action> out;
  try {
    auto& statement = incident_key.empty() ? impl_->statements->select_timeline
                                           : impl_->statements->select_incident_timeline;
    Use s(statement);
    if (!incident_key.empty()) s.text(1, incident_key);
    while (s->executeStep()) {
      const std::int64_t seq = s->getColumn(0).getInt64();
      std::string why;
      try {
        auto parsed = action_from_json(json::parse(s->getColumn(1).getText()));
        if (parsed) {
          out.push_back(std::move(*parsed.value));
          continue;
        }
        why = parsed.error;
      } catch (const json::exception& e) {
        why = e.what();
      }
      throw StoreError("timeline (" + impl_->path + "): entry " + std::to_string(seq) +
                       " is unreadable: " + why);
    }
  } catch (const SQLite::Exception& e) {
    throw impl_->error("timeline", e);
  }
  return out;
}

std::size_t SqliteStore::count(std::string_view table) {
  bool known = false;
  for (auto t : kTables) known = known || t == table;
  if (!known) throw StoreError("count: unknown table '" + std::string(table) + "'");
  try {
    const auto n = impl_->db.execAndGet("SELECT COUNT(*) FROM " + std::string(table)).getInt64();
    return static_cast<std::size_t>(n);
  } catch (const SQLite::Exception& e) {
    throw impl_->error("count", e);
  }
}

int SqliteStore::schema_version() {
  try {
    return user_version(impl_->db);
  } catch (const SQLite::Exception& e) {
    throw impl_->error("schema_version", e);
  }
}

}  // namespace incidentd
