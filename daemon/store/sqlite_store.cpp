#include "store/sqlite_store.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>
#include <tsl/robin_set.h>

#include <nlohmann/json.hpp>

#include "crypto/crypto.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/delivery_policy.hpp"
#include "incidentd/state_codec.hpp"

namespace incidentd {
namespace {

using nlohmann::json;

// Each migration takes the schema from version - 1 to version, in one transaction together with
// the PRAGMA user_version that records it, then runs `after` (data the SQL cannot compute) in the
// same transaction. Add a version as one more entry; never edit one that has shipped.
struct Migration {
  int version;
  const char* sql;
  void (*after)(SQLite::Database&) = nullptr;
};

void chain_existing_rows(SQLite::Database& db);
void pack_processed_rows(SQLite::Database& db);
void remove_addresses(SQLite::Database& db);

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
    // The hash chain (tamper evidence). Rows written by version 1 are chained as they stand.
    {2, R"sql(
ALTER TABLE timeline ADD COLUMN prev_hash TEXT;
ALTER TABLE timeline ADD COLUMN hash TEXT;
)sql",
     chain_existing_rows},
    // One-click ack links that were used (daemon/http/ack_link.hpp): a replay is refused, also
    // after a restart.
    {3, R"sql(
CREATE TABLE used_links (
  link_id      TEXT PRIMARY KEY,
  incident_key TEXT NOT NULL,
  used_at      INTEGER NOT NULL
) WITHOUT ROWID;
)sql"},
    // SMS reply codes (daemon/notify/reply_codes.hpp): one short code per phone and incident,
    // not reused for that phone until a while after the incident closed (incidents.closed_at).
    {4, R"sql(
CREATE TABLE reply_codes (
  phone           TEXT NOT NULL,
  code            TEXT NOT NULL,
  incident_key    TEXT NOT NULL,
  recipient       TEXT NOT NULL,
  unit            TEXT NOT NULL,
  milestone       TEXT,
  round           INTEGER NOT NULL,
  notification_id TEXT NOT NULL,
  issued_at       INTEGER NOT NULL,
  PRIMARY KEY (phone, code)
) WITHOUT ROWID;
CREATE UNIQUE INDEX reply_codes_incident ON reply_codes(phone, incident_key);
CREATE INDEX reply_codes_code ON reply_codes(code);
)sql"},
    // Processed ids are appended in commit order and never looked up by id in the table (the
    // writer holds them in memory, ProcessedIds): keyed by id, every event cost a write to a
    // random page of a large b-tree, and a batch rewrote most of it.
    {5, R"sql(
CREATE TABLE processed_log (
  seq          INTEGER PRIMARY KEY,
  id           TEXT NOT NULL,
  incident_key TEXT NOT NULL,
  at           INTEGER NOT NULL
);
INSERT INTO processed_log(id, incident_key, at)
  SELECT id, incident_key, at FROM processed ORDER BY at, id;
DROP TABLE processed;
ALTER TABLE processed_log RENAME TO processed;
)sql"},
    // Processed ids are written one row per commit (encode_processed): inserting a row per id was
    // up to a quarter of a commit of everything (100,000 ids) under a backlog. The rows of
    // version 5 are packed in `after`, which then replaces the table.
    {6, R"sql(
CREATE TABLE processed_blocks (
  seq   INTEGER PRIMARY KEY,
  ids   INTEGER NOT NULL,  -- how many ids the block holds
  block BLOB NOT NULL      -- encode_processed: per id its id, incident_key and at
);
)sql",
     pack_processed_rows},
    // A confirmation is identified by its incident, unit and confirmation_id together
    // (docs/contract.md): units choose their ids independently, so the id alone must not be the
    // key. Rows of version 6 had unique ids, so every one of them keeps its place; the table keeps
    // its columns and their order, and the key serves as the by-incident index.
    {7, R"sql(
CREATE TABLE confirmations_v7 (
  confirmation_id TEXT NOT NULL,
  incident_key    TEXT NOT NULL,
  milestone       TEXT NOT NULL,
  unit            TEXT NOT NULL,
  released_at     INTEGER NOT NULL,
  channel         TEXT NOT NULL,
  url             TEXT NOT NULL,
  speaker         TEXT NOT NULL,
  via             TEXT NOT NULL,
  PRIMARY KEY (incident_key, unit, confirmation_id)
);
INSERT INTO confirmations_v7(rowid, confirmation_id, incident_key, milestone, unit, released_at,
                             channel, url, speaker, via)
  SELECT rowid, confirmation_id, incident_key, milestone, unit, released_at, channel, url, speaker,
         via FROM confirmations ORDER BY rowid;
DROP TABLE confirmations;
ALTER TABLE confirmations_v7 RENAME TO confirmations;
)sql"},
    // Delivery attempts are state in the outbox row, not history in the timeline (issue 16): the
    // row keeps when it started failing, which once-only entries it wrote, its milestone (a newer
    // alert to the same person about it supersedes it) and its purpose. Timeline rows written
    // before carry addresses (a "sending" row per attempt, and channels' answers): `after` takes
    // them out and re-chains, and chain_rewrites keeps the old head so a head printed before can
    // still be accounted for (docs/reports.md, "Rewrites of the chain").
    {8, R"sql(
ALTER TABLE outbox ADD COLUMN milestone TEXT;
ALTER TABLE outbox ADD COLUMN purpose TEXT NOT NULL DEFAULT 'alert';
ALTER TABLE outbox ADD COLUMN failing_since INTEGER;
ALTER TABLE outbox ADD COLUMN recorded TEXT NOT NULL DEFAULT '';
UPDATE outbox SET milestone = json_extract(body, '$.milestone');
CREATE INDEX outbox_recipient ON outbox(incident_key, recipient, milestone, created_at);
CREATE TABLE chain_rewrites (
  seq           INTEGER PRIMARY KEY,
  at            INTEGER NOT NULL,
  reason        TEXT NOT NULL,
  rows_changed  INTEGER NOT NULL,
  old_head_seq  INTEGER,
  old_head_hash TEXT,
  new_head_hash TEXT
);
)sql",
     remove_addresses},
    // The daemon's runs (begin_run, heartbeat, end_run): a start marker, the last instant the run
    // knew itself alive, and a clean-stop marker. A run without a clean stop is an outage, which
    // the next start records in the timeline.
    {9, R"sql(
CREATE TABLE daemon_runs (
  run        INTEGER PRIMARY KEY,
  started_at INTEGER NOT NULL,
  alive_at   INTEGER NOT NULL,  -- the last heartbeat (or the start): durable proof of life
  stopped_at INTEGER            -- set by a clean stop only
);
)sql"},
    // The source heartbeat ([ingest] source_silence): one row, whether the monitoring source is
    // silent and since when, written in the same transaction as the operator desk's outbox rows
    // that say so; a restart neither alerts again nor forgets the all-clear.
    {10, R"sql(
CREATE TABLE source_heartbeat (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  silent     INTEGER NOT NULL,
  since      INTEGER NOT NULL,  -- silent: the last event (or the start counted from); else the return
  changed_at INTEGER NOT NULL   -- when the daemon decided it (the alert, the all-clear)
);
-- Why a notification was given up, as fields a report translates (JSON, docs/reports.md); older
-- rows have only last_error's English sentence, which reports show as it is.
ALTER TABLE outbox ADD COLUMN gave_up TEXT;
)sql"},
};

static_assert(std::size(kMigrations) > 0 &&
                  kMigrations[std::size(kMigrations) - 1].version == SqliteStore::kSchemaVersion,
              "the last migration must produce kSchemaVersion");

std::string compute_chain_hash(std::string_view prev_hash, std::int64_t seq,
                               std::string_view incident_key, std::int64_t at_ms,
                               std::string_view action, const std::string* milestone,
                               std::string_view body) {
  // One context per thread: the algorithm is looked up once, not for every row of the hot path.
  thread_local crypto::Sha256 sha;
  // A field as "<byte length>:<bytes>", so no two different rows encode the same.
  const auto field = [](std::string_view bytes) {
    char length[24];
    const int n = std::snprintf(length, sizeof length, "%zu:", bytes.size());
    sha.add(std::string_view(length, static_cast<std::size_t>(n)));
    sha.add(bytes);
  };
  try {
    sha.begin();
    sha.add("incidentd-timeline-v1\n");
    field(prev_hash);
    field(std::to_string(seq));
    field(incident_key);
    field(std::to_string(at_ms));
    field(action);
    if (milestone != nullptr) {
      field(*milestone);
    } else {
      sha.add(
          "-");  // no length prefix starts with '-': a NULL milestone encodes apart from any text
    }
    field(body);
    return to_hex(sha.finish());
  } catch (const std::runtime_error& e) {
    throw StoreError(e.what());
  }
}

void chain_existing_rows(SQLite::Database& db) {
  SQLite::Statement select(db,
                           "SELECT seq, incident_key, at, action, milestone, body FROM timeline "
                           "ORDER BY seq");
  SQLite::Statement update(db, "UPDATE timeline SET prev_hash = ?, hash = ? WHERE seq = ?");
  std::string prev(SqliteStore::kGenesisHash);
  while (select.executeStep()) {
    const std::int64_t seq = select.getColumn(0).getInt64();
    const std::string milestone = select.getColumn(4).getString();
    std::string hash = compute_chain_hash(
        prev, seq, select.getColumn(1).getString(), select.getColumn(2).getInt64(),
        select.getColumn(3).getString(), select.getColumn(4).isNull() ? nullptr : &milestone,
        select.getColumn(5).getString());
    update.reset();
    update.bind(1, prev);
    update.bind(2, hash);
    update.bind(3, seq);
    update.exec();
    prev = std::move(hash);
  }
}

constexpr std::array<std::string_view, 10> kTables = {
    "incidents", "deadlines", "confirmations",  "acknowledgements", "processed",
    "timeline",  "outbox",    "chain_rewrites", "daemon_runs",      "source_heartbeat"};

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

// Migration 8: no addresses in the timeline (seed item 95). A "sending" row's detail was the
// address itself; other delivery and fallback rows keep their words with addresses scrubbed
// (scrub_address: URLs and phone-like digit runs). Changed rows are rewritten and the whole chain
// re-hashed; chain_rewrites records the head before and after.
void remove_addresses(SQLite::Database& db) {
  std::int64_t old_seq = 0;
  std::string old_hash;
  {
    SQLite::Statement head(db, "SELECT seq, hash FROM timeline ORDER BY seq DESC LIMIT 1");
    if (head.executeStep()) {
      old_seq = head.getColumn(0).getInt64();
      old_hash = head.getColumn(1).getString();
    }
  }
  SQLite::Statement select(db,
                           "SELECT seq, body FROM timeline WHERE action IN "
                           "('delivery', 'channel_fallback') ORDER BY seq");
  SQLite::Statement update(db, "UPDATE timeline SET body = ? WHERE seq = ?");
  std::int64_t changed = 0;
  while (select.executeStep()) {
    json body = json::parse(select.getColumn(1).getString(), nullptr, false);
    if (!body.is_object()) continue;
    const auto detail = body.find("detail");
    if (detail == body.end() || !detail->is_string()) continue;
    const std::string before = detail->get<std::string>();
    if (body.value("outcome", "") == "sending") {
      body.erase("detail");
    } else {
      const std::string after = scrub_address(before, "");
      if (after == before) continue;
      *detail = after;
    }
    update.reset();
    update.bind(1, dump(body));
    update.bind(2, select.getColumn(0).getInt64());
    update.exec();
    ++changed;
  }
  // SMS confirmations of earlier builds were named "sms-<phone>-<code>-<ms>": the phone goes,
  // replaced by a digest of it, in the timeline and in the confirmations table alike (the name
  // stays unique, and the same phone gives the same digest).
  SQLite::Statement sms(db,
                        "SELECT seq, incident_key, body FROM timeline WHERE action = "
                        "'release_confirmed' AND body LIKE '%\"confirmation_id\":\"sms-%'");
  SQLite::Statement rename(db,
                           "UPDATE confirmations SET confirmation_id = ? WHERE incident_key = ? "
                           "AND confirmation_id = ?");
  while (sms.executeStep()) {
    json body = json::parse(sms.getColumn(2).getString(), nullptr, false);
    if (!body.is_object() || !body["confirmation_id"].is_string()) continue;
    const std::string id = body["confirmation_id"].get<std::string>();
    const std::size_t dash = id.find('-', 4);
    const std::string phone = id.substr(4, dash == std::string::npos ? 0 : dash - 4);
    if (phone.size() < 7 || phone.find_first_not_of("+0123456789") != std::string::npos) continue;
    const std::string renamed =
        "sms-p" + to_hex(crypto::sha256(phone)).substr(0, 16) + id.substr(dash);
    body["confirmation_id"] = renamed;
    update.reset();
    update.bind(1, dump(body));
    update.bind(2, sms.getColumn(0).getInt64());
    update.exec();
    rename.reset();
    rename.bind(1, renamed);
    rename.bind(2, sms.getColumn(1).getString());
    rename.bind(3, id);
    rename.exec();
    ++changed;
  }
  SQLite::Statement errors(db,
                           "SELECT notification_id, last_error FROM outbox "
                           "WHERE last_error IS NOT NULL AND last_error != ''");
  SQLite::Statement fix(db, "UPDATE outbox SET last_error = ? WHERE notification_id = ?");
  while (errors.executeStep()) {
    const std::string before = errors.getColumn(1).getString();
    const std::string after = scrub_address(before, "");
    if (after == before) continue;
    fix.reset();
    fix.bind(1, after);
    fix.bind(2, errors.getColumn(0).getString());
    fix.exec();
  }
  if (changed == 0) return;
  chain_existing_rows(db);
  SQLite::Statement head(db, "SELECT hash FROM timeline ORDER BY seq DESC LIMIT 1");
  head.executeStep();
  SQLite::Statement record(db,
                           "INSERT INTO chain_rewrites(at, reason, rows_changed, old_head_seq, "
                           "old_head_hash, new_head_hash) VALUES (?, ?, ?, ?, ?, ?)");
  // The store's one read of the wall clock: a migration runs before any clock is wired, and this
  // instant only says when the rewrite happened.
  record.bind(1, static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count()));
  record.bind(2, "schema 8: addresses removed from delivery records (seed item 95)");
  record.bind(3, changed);
  record.bind(4, old_seq);
  record.bind(5, old_hash);
  record.bind(6, head.getColumn(0).getString());
  record.exec();
}

int user_version(SQLite::Database& db) {
  return db.execAndGet("PRAGMA user_version").getInt();
}

// The contract names as NUL-terminated strings that live for the whole program, so they can be
// bound without a copy.
template <typename E, E kLast>
const std::string& name_of(E value) {
  static const auto kNames = [] {
    std::array<std::string, static_cast<std::size_t>(kLast) + 1> all;
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = std::string(to_string(static_cast<E>(i)));
    return all;
  }();
  return kNames.at(static_cast<std::size_t>(value));
}
const std::string& name(Level v) {
  return name_of<Level, Level::IV>(v);
}
const std::string& name(Milestone v) {
  return name_of<Milestone, Milestone::follow_up>(v);
}
const std::string& name(ActionKind v) {
  return name_of<ActionKind, ActionKind::daemon_outage>(v);  // the last kind
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

// A block of the processed table, byte for byte: for each id in the order it was processed, the
// id, then its incident_key (each an unsigned LEB128 byte count and the bytes), then `at` in
// milliseconds since the epoch (LEB128 of its two's complement). Ids are kept exactly as they
// came, valid UTF-8 or not.
void put_varint(std::string& out, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7U) out += static_cast<char>((v & 0x7fU) | 0x80U);
  out += static_cast<char>(v);
}

void put_bytes(std::string& out, std::string_view bytes) {
  put_varint(out, bytes.size());
  out.append(bytes);
}

std::string encode_processed(const std::vector<ProcessedId>& processed) {
  std::string out;
  std::size_t size = 0;
  for (const auto& p : processed) size += p.id.size() + p.incident_key.size() + 12;
  out.reserve(size);
  for (const auto& p : processed) {
    put_bytes(out, p.id);
    put_bytes(out, p.incident_key);
    put_varint(out, static_cast<std::uint64_t>(millis(p.at)));
  }
  return out;
}

// Calls visit(id, incident_key, at_ms) for each id in a block; false when the block is cut short
// or overlong (what was visited before stays visited).
template <typename Visit>
bool decode_block(std::span<const unsigned char> rest, Visit visit) {
  bool ok = true;
  const auto varint = [&rest, &ok]() {
    std::uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (rest.empty()) break;
      const unsigned char byte = rest.front();
      rest = rest.subspan(1);
      v |= static_cast<std::uint64_t>(byte & 0x7fU) << shift;
      if ((byte & 0x80U) == 0) return v;
    }
    ok = false;
    return std::uint64_t{0};
  };
  const auto bytes = [&]() {
    const std::uint64_t n = varint();
    if (!ok || n > rest.size()) {
      ok = false;
      return std::string_view();
    }
    const std::string_view out(reinterpret_cast<const char*>(rest.data()),
                               static_cast<std::size_t>(n));
    rest = rest.subspan(static_cast<std::size_t>(n));
    return out;
  };
  while (!rest.empty()) {
    const std::string_view id = bytes();
    const std::string_view key = ok ? bytes() : std::string_view();
    const std::uint64_t at = ok ? varint() : 0;
    if (!ok) return false;
    visit(id, key, static_cast<std::int64_t>(at));
  }
  return true;
}

// Calls visit(id) for each id in a block; a block cut short or overlong is a StoreError that
// names the operation reading it and the file (`path`).
template <typename Visit>
void decode_processed(const SQLite::Column& column, std::string_view operation,
                      const std::string& path, Visit visit) {
  const auto* data = static_cast<const unsigned char*>(column.getBlob());
  const std::span<const unsigned char> block(data, static_cast<std::size_t>(column.getBytes()));
  if (!decode_block(block,
                    [&visit](std::string_view id, std::string_view, std::int64_t) { visit(id); })) {
    throw StoreError(std::string(operation) + " (" + path +
                     "): the processed table holds a damaged block");
  }
}

// The rows of schema version 5, one per id, packed into blocks of 100,000 in the same order.
void pack_processed_rows(SQLite::Database& db) {
  constexpr std::size_t kIdsPerBlock = 100'000;
  SQLite::Statement insert(db, "INSERT INTO processed_blocks(ids, block) VALUES (?, ?)");
  std::vector<ProcessedId> block;
  const auto flush = [&]() {
    if (block.empty()) return;
    const std::string bytes = encode_processed(block);
    insert.bind(1, static_cast<std::int64_t>(block.size()));
    insert.bindNoCopy(2, bytes.data(), static_cast<int>(bytes.size()));
    insert.exec();
    insert.reset();
    block.clear();
  };
  {
    SQLite::Statement rows(db, "SELECT id, incident_key, at FROM processed ORDER BY seq");
    while (rows.executeStep()) {
      const SQLite::Column id = rows.getColumn(0);
      block.push_back({std::string(static_cast<const char*>(id.getBlob()),
                                   static_cast<std::size_t>(id.getBytes())),
                       rows.getColumn(1).getString(),
                       TimePoint(std::chrono::milliseconds(rows.getColumn(2).getInt64()))});
      if (block.size() == kIdsPerBlock) flush();
    }
  }
  flush();
  db.exec("DROP TABLE processed; ALTER TABLE processed_blocks RENAME TO processed;");
}

// Every id in the processed table, held by the writer: is_processed() is answered without a
// query, and the table is only appended to. The ids live in large blocks and are never removed;
// the set over them is open-addressed with each id's hash stored next to it (24-byte slots), so a
// lookup rarely touches more than one slot, and never an id's bytes unless the hashes agree.
class ProcessedIds {
 public:
  void rebuild(SQLite::Database& db, std::string_view operation, const std::string& path) {
    ids_.clear();
    blocks_.clear();
    free_ = {};
    const auto ids = db.execAndGet("SELECT COALESCE(SUM(ids), 0) FROM processed").getInt64();
    ids_.reserve(static_cast<std::size_t>(ids));
    SQLite::Statement all(db, "SELECT block FROM processed");
    while (all.executeStep()) {
      decode_processed(all.getColumn(0), operation, path, [this](std::string_view id) { add(id); });
    }
  }

  bool contains(std::string_view id) const { return ids_.contains(id); }

  // False when the id was there already.
  bool add(std::string_view id) {
    if (free_.size() < id.size()) {
      const std::size_t size = std::max(kBlockSize, id.size());
      blocks_.push_back(std::make_unique<char[]>(size));
      free_ = std::span<char>(blocks_.back().get(), size);
    }
    std::copy(id.begin(), id.end(), free_.begin());
    if (!ids_.insert(std::string_view(free_.data(), id.size())).second) return false;
    free_ = free_.subspan(id.size());
    return true;
  }

  // Takes back ids added by a commit that failed (their bytes stay in the block, unused).
  void remove(std::string_view id) { ids_.erase(id); }

 private:
  static constexpr std::size_t kBlockSize = 1 << 20;
  tsl::robin_set<std::string_view, std::hash<std::string_view>, std::equal_to<std::string_view>,
                 std::allocator<std::string_view>, true>
      ids_;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::span<char> free_;
};

// Copies the WAL back into the database file on a thread and a connection of its own, when a
// commit asks. SQLite's automatic checkpoint runs inside the COMMIT that crosses
// wal_autocheckpoint: under a backlog that stalled the loop thread (timers, the API, ingestion)
// for 125-160 ms every 64 MB of WAL, about a tenth of its time in ingest_loop_bench. SQLite's
// documentation proposes this split for applications that cannot take that pause
// (https://sqlite.org/wal.html, "Application-Initiated Checkpoints"). A PASSIVE checkpoint never
// waits for the writer or for readers, and the writer restarts the WAL from its beginning at its
// next transaction once every frame is back in the database file. As with SQLite's own automatic
// checkpoint, one that fails is retried at the next request and the WAL grows meanwhile.
class WalCheckpointer {
 public:
  WalCheckpointer(const std::string& path, int busy_timeout_ms)
      : db_(path, SQLite::OPEN_READWRITE, busy_timeout_ms) {
    // A connection learns that the database is in WAL mode when it first reads it; until then a
    // checkpoint through it does nothing.
    db_.execAndGet("SELECT count(*) FROM sqlite_schema");
    thread_ = std::thread([this] { run(); });
  }
  ~WalCheckpointer() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  void request() {
    {
      const std::lock_guard lock(mutex_);
      requested_ = true;
    }
    wake_.notify_one();
  }
  void wait_idle() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return !requested_ && !running_; });
  }
  std::uint64_t done() const { return done_.load(); }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return requested_ || stopping_; });
      if (stopping_) return;
      requested_ = false;
      running_ = true;
      lock.unlock();
      int wal_pages = -1;  // stays -1 when the connection does not see the WAL
      const int rc = sqlite3_wal_checkpoint_v2(db_.getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                               &wal_pages, nullptr);
      if (rc == SQLITE_OK && wal_pages >= 0) ++done_;
      lock.lock();
      running_ = false;
      idle_.notify_all();
    }
  }

  SQLite::Database db_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  bool requested_ = false;
  bool running_ = false;
  bool stopping_ = false;
  std::atomic<std::uint64_t> done_{0};
  std::thread thread_;
};

}  // namespace

// Every write in commit() says OR ROLLBACK (the outbox: OR IGNORE) and the one foreign key is
// deferred: a failure then ends the whole transaction, which is what commit() wants anyway, and
// SQLite needs no statement journal. With the default ABORT it copies every page a statement
// touches so it can undo that statement alone; that was a third of the commit's CPU.
struct SqliteStore::Impl {
  struct Statements {
    explicit Statements(SQLite::Database& db)
        : insert_timeline(db,
                          "INSERT OR ROLLBACK INTO timeline(seq, incident_key, at, action, "
                          "milestone, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
          insert_outbox(db,
                        "INSERT OR IGNORE INTO outbox(notification_id, incident_key, recipient, "
                        "unit, channel, level, body, created_at, next_attempt_at, milestone, "
                        "purpose) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
          last_row(db, "SELECT seq, hash FROM timeline ORDER BY seq DESC LIMIT 1"),
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
          update_incident(db,
                          "UPDATE OR ROLLBACK incidents SET level = ?2, drill = ?3, "
                          "opened_at = ?5, clock_start = ?6, closed_at = ?7, title = ?8, "
                          "lead_unit = ?9, state = ?10, updated_seq = ?11 "
                          "WHERE incident_key = ?1 AND closed = ?4"),
          delete_deadlines(db, "DELETE FROM deadlines WHERE incident_key = ?"),
          insert_processed(db, "INSERT INTO processed(ids, block) VALUES (?, ?)"),
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
          select_processed(db, "SELECT block FROM processed ORDER BY seq"),
          data_version(db, "PRAGMA data_version"),
          select_timeline(db, "SELECT seq, body FROM timeline ORDER BY seq"),
          select_incident_timeline(
              db, "SELECT seq, body FROM timeline WHERE incident_key = ? ORDER BY seq") {}

    SQLite::Statement insert_timeline;
    SQLite::Statement insert_outbox;
    SQLite::Statement last_row;
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

  Impl(const std::string& p, Mode m, WalCheckpoints when)
      : path(p),
        db(p,
           m == Mode::read_only ? SQLite::OPEN_READONLY
                                : SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
           kBusyTimeoutMs),
        checkpoints(when) {
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
      // A batch of hundreds of events writes megabytes: the default cache is 2 MB. Temporary
      // b-trees stay in memory rather than in files under /var/tmp.
      db.exec("PRAGMA cache_size = -65536");
      db.exec("PRAGMA temp_store = MEMORY");
      migrate();
      load_head();
      // Replaces SQLite's automatic checkpoint (wal_autocheckpoint is this same hook).
      if (checkpoints.background_after > 0) checkpointer.emplace(path, kBusyTimeoutMs);
      sqlite3_wal_hook(db.getHandle(), &Impl::after_wal_commit, this);
    } else {
      check_readable_version();
    }
    statements.emplace(db);
    if (m == Mode::read_write) {
      processed_ids.emplace();
      processed_ids->rebuild(db, "open", path);
      data_version = read_data_version();
    }
  }

  // After every commit of this connection, with the WAL's length in pages.
  static int after_wal_commit(void* self, sqlite3* handle, const char* schema, int pages) {
    auto& impl = *static_cast<Impl*>(self);
    if (pages >= impl.checkpoints.foreground_after) {
      // The thread has fallen behind, or there is none: the WAL does not grow on unchecked.
      const int rc =
          sqlite3_wal_checkpoint_v2(handle, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      if (rc == SQLITE_OK) ++impl.foreground_checkpoints;
    } else if (pages >= impl.checkpoints.background_after && impl.checkpointer) {
      impl.checkpointer->request();
    }
    return SQLITE_OK;  // an error here would fail a COMMIT that has already happened
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
      if (migration.after != nullptr) migration.after(db);
      db.exec("PRAGMA user_version = " + std::to_string(migration.version));
      tx.commit();
    }
  }

  // The chain continues from the last row. A seq above it that AUTOINCREMENT already handed out
  // means rows were removed from the end while we were not running: the next row takes the next
  // seq anyway, so verify shows the gap instead of the chain silently closing over it.
  void load_head() {
    head = {0, std::string(kGenesisHash)};
    SQLite::Statement last(db, "SELECT seq, hash FROM timeline ORDER BY seq DESC LIMIT 1");
    if (last.executeStep()) {
      head.seq = last.getColumn(0).getInt64();
      head.hash = last.getColumn(1).getString();
    }
    SQLite::Statement handed_out(db, "SELECT seq FROM sqlite_sequence WHERE name = 'timeline'");
    if (handed_out.executeStep()) head.seq = std::max(head.seq, handed_out.getColumn(0).getInt64());
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

  // Throws what `e` means for the caller: StoreFullError when the disk is full, which the daemon
  // waits out (the transaction was rolled back, so the same commit can be tried again), else
  // StoreError. SQLite's unix VFS reports ENOSPC on a write as SQLITE_FULL; growing the WAL index
  // (-shm) or syncing on a full disk comes back as an SQLITE_IOERR_* whose errno says ENOSPC.
  [[noreturn]] void raise(std::string_view operation, const std::exception& e) {
    if (const auto* failure = dynamic_cast<const SQLite::Exception*>(&e)) {
      const int primary = failure->getErrorCode() & 0xff;
      if (primary == SQLITE_FULL ||
          (primary == SQLITE_IOERR && sqlite3_system_errno(db.getHandle()) == ENOSPC)) {
        throw StoreFullError(std::string(operation) + " (" + path + "): disk full: " + e.what(),
                             path);
      }
    }
    throw error(operation, e);
  }

  void write_action(const Action& a) {
    const std::string body = dump(to_json(a, std::chrono::minutes{0}));
    const std::int64_t seq = staged_head.seq + 1;
    const std::string* milestone = a.milestone ? &name(*a.milestone) : nullptr;
    std::string hash = compute_chain_hash(staged_head.hash, seq, a.incident_key, millis(a.at),
                                          name(a.kind), milestone, body);
    {
      Use s(statements->insert_timeline);
      s.integer(1, seq);
      s.text(2, a.incident_key);
      s.instant(3, a.at);
      s.text(4, name(a.kind));
      if (milestone != nullptr) {
        s.text(5, *milestone);
      } else {
        s->bind(5);
      }
      s.text(6, body);
      s.text(7, staged_head.hash);
      s.text(8, hash);
      s->exec();
    }
    staged_head = {seq, std::move(hash)};
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
    if (a.milestone) {
      s->bind(10, std::string(to_string(*a.milestone)));
    } else {
      s->bind(10);
    }
    s->bind(11, "alert");
    s->exec();
  }

  // A row the dispatcher or the source heartbeat adds (the operator desk's notices), through the
  // statement commit() fills the engine's notifications with: the same columns.
  void insert_outbox_row(const OutboxRow& row) {
    Use n(statements->insert_outbox);
    n.text(1, row.notification_id);
    n.text(2, row.incident_key);
    n.text(3, row.recipient);
    n.text(4, row.unit);
    n.text(5, row.channel);
    if (row.level) {
      n.integer(6, *row.level);
    } else {
      n->bind(6);
    }
    n.text(7, row.body);
    n.instant(8, row.created_at);
    n.instant(9, row.next_attempt_at);
    n.text(10, row.milestone);
    n.text(11, row.purpose);
    n->exec();
  }

  void write_incident(const IncidentState& st, std::int64_t seq) {
    const std::string state = state_to_json_text(st);
    // An incident that stays open (or closed) is updated in place: leaving `closed` alone spares
    // SQLite the partial index on it, which the upsert rewrites every time. A new incident, or one
    // that opens or closes, changes no row there and goes through the upsert.
    if (exec_incident(statements->update_incident, st, state, seq) == 0) {
      exec_incident(statements->upsert_incident, st, state, seq);
    }
    write_deadlines(st);
  }

  // Both incident statements number their parameters alike. Returns the rows changed.
  static int exec_incident(SQLite::Statement& statement, const IncidentState& st,
                           const std::string& state, std::int64_t seq) {
    Use s(statement);
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
    return s->exec();
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

  // One row for all of a commit's ids.
  void write_processed(const std::vector<ProcessedId>& processed) {
    if (processed.empty()) return;
    const std::string block = encode_processed(processed);
    Use s(statements->insert_processed);
    s.integer(1, static_cast<std::int64_t>(processed.size()));
    s->bindNoCopy(2, block.data(), static_cast<int>(block.size()));
    s->exec();
  }

  // An id is processed once: one already in the table, or twice in `c`, fails the commit. The
  // ids are added to the set here; `added` counts them, for taking them back if the commit fails.
  void add_new_ids(const Changeset& c, std::size_t& added) {
    if (!processed_ids) return;
    for (const auto& p : c.processed) {
      if (!processed_ids->add(p.id)) {
        throw StoreError("commit (" + path + "): id '" + p.id + "' is already processed");
      }
      ++added;
    }
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
    std::size_t added = 0;
    try {
      commit(c, added);
    } catch (...) {
      for (std::size_t i = 0; i < added; ++i) processed_ids->remove(c.processed[i].id);
      throw;
    }
  }

  void commit(const Changeset& c, std::size_t& added) {
    staged_deadlines.clear();
    // IMMEDIATE takes the write lock up front, so a reader never makes us fail half-way.
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    staged_head = head;
    {
      // Another writer on the file (a test, a migration tool) may have appended since: chain to
      // its last row. A last row below our head means rows were removed from the end while we
      // ran: keep chaining to what we wrote, so verify sees the gap.
      Use s(statements->last_row);
      if (s->executeStep() && s->getColumn(0).getInt64() > staged_head.seq) {
        staged_head = {s->getColumn(0).getInt64(), s->getColumn(1).getString()};
      }
    }
    if (processed_ids) {
      if (const std::int64_t version = read_data_version(); version != data_version) {
        // Another connection committed since our last commit.
        processed_ids->rebuild(db, "commit", path);
        data_version = version;
      }
    }
    add_new_ids(c, added);
    for (const auto& a : c.actions) write_action(a);
    const std::int64_t seq = staged_head.seq;
    for (const auto& st : c.incidents) write_incident(st, seq);
    write_processed(c.processed);
    for (const auto& conf : c.confirmations) write_confirmation(conf);
    for (const auto& ack : c.acknowledgements) write_ack(ack);
    tx.commit();
    head = std::move(staged_head);
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

  // Changes when another connection commits; our own commits leave it as it is.
  std::int64_t read_data_version() {
    Use s(statements->data_version);
    s->executeStep();
    return s->getColumn(0).getInt64();
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
  SQLite::Database db;  // declared before the statements: outlives them
  WalCheckpoints checkpoints;
  std::optional<Statements> statements;  // prepared once the schema exists
  std::unordered_map<std::string, std::uint64_t> written_deadlines;                // committed
  std::unordered_map<std::string, std::optional<std::uint64_t>> staged_deadlines;  // this commit
  std::vector<DeadlineRow> rows;  // scratch, reused
  ChainHead head;                 // the last committed row of the hash chain
  ChainHead staged_head;          // the last row written by the commit in progress
  std::int64_t run = 0;           // this process's row in daemon_runs (begin_run), 0 before
  // The ids this connection committed, and those it found in the table (read_write only). Another
  // connection's commits are noticed at our next commit (PRAGMA data_version) and the set is
  // rebuilt then; until that commit an id only they processed can look new, and the engine's
  // step for it then fails that commit's add_new_ids(), rolling the whole commit back.
  std::optional<ProcessedIds> processed_ids;
  std::int64_t data_version = 0;
  std::uint64_t foreground_checkpoints = 0;
  // Declared after db: stopped and closed before the writer's connection, whose close then
  // checkpoints what is left and removes the WAL.
  std::optional<WalCheckpointer> checkpointer;
};

SqliteStore::SqliteStore(const std::string& path, Mode mode, WalCheckpoints checkpoints) {
  try {
    impl_ = std::make_unique<Impl>(path, mode, checkpoints);
  } catch (const SQLite::Exception& e) {
    throw StoreError("open (" + path + "): " + e.what());
  }
}

SqliteStore::~SqliteStore() = default;

SqliteStore::WalCheckpointCounts SqliteStore::wal_checkpoints(bool settle) {
  if (impl_->checkpointer && settle) impl_->checkpointer->wait_idle();
  return {impl_->checkpointer ? impl_->checkpointer->done() : 0, impl_->foreground_checkpoints};
}

void SqliteStore::commit(const Changeset& changes) {
  if (changes.empty()) return;  // no transaction, no fsync
  try {
    impl_->commit(changes);
  } catch (const SQLite::Exception& e) {
    impl_->raise("commit", e);
  } catch (const json::exception& e) {
    impl_->raise("commit", e);
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
    impl_->raise("load_open_incidents", e);
  }
  return out;
}

std::vector<IncidentState> SqliteStore::load_all_incidents() {
  std::vector<IncidentState> out;
  try {
    // For tools (incidentctl list --all), not the daemon's path: no prepared statement.
    SQLite::Statement s(impl_->db,
                        "SELECT incident_key, state FROM incidents ORDER BY incident_key");
    while (s.executeStep()) {
      out.push_back(impl_->decode_state("load_all_incidents", s.getColumn(0).getString(),
                                        s.getColumn(1).getText()));
    }
  } catch (const SQLite::Exception& e) {
    impl_->raise("load_all_incidents", e);
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
    impl_->raise("load_incident", e);
  }
}

std::optional<Confirmation> SqliteStore::find_confirmation(const std::string& incident_key,
                                                           const std::string& unit,
                                                           const std::string& confirmation_id) {
  try {
    SQLite::Statement s(impl_->db,
                        "SELECT milestone, released_at, channel, url, speaker, via "
                        "FROM confirmations "
                        "WHERE incident_key = ? AND unit = ? AND confirmation_id = ?");
    s.bind(1, incident_key);
    s.bind(2, unit);
    s.bind(3, confirmation_id);
    if (!s.executeStep()) return std::nullopt;
    Confirmation c;
    c.confirmation_id = confirmation_id;
    c.incident_key = incident_key;
    c.unit = unit;
    const std::string milestone = s.getColumn(0).getString();
    const auto m = parse_milestone(milestone);
    if (!m) {
      throw StoreError("find_confirmation (" + impl_->path + "): unknown milestone '" + milestone +
                       "'");
    }
    c.milestone = *m;
    c.released_at = TimePoint(Duration(s.getColumn(1).getInt64()));
    c.channel = s.getColumn(2).getString();
    c.url = s.getColumn(3).getString();
    c.speaker = s.getColumn(4).getString();
    c.via = s.getColumn(5).getString();
    return c;
  } catch (const SQLite::Exception& e) {
    impl_->raise("find_confirmation", e);
  }
}

bool SqliteStore::is_processed(const std::string& id) {
  try {
    if (impl_->processed_ids) return impl_->processed_ids->contains(id);
    Use s(impl_->statements->select_processed);  // read-only: a scan, for tools
    bool found = false;
    while (!found && s->executeStep()) {
      decode_processed(s->getColumn(0), "is_processed", impl_->path,
                       [&](std::string_view seen) { found = found || seen == id; });
    }
    return found;
  } catch (const SQLite::Exception& e) {
    impl_->raise("is_processed", e);
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
    impl_->raise("timeline", e);
  }
  return out;
}

std::size_t SqliteStore::count(std::string_view table) {
  bool known = false;
  for (auto t : kTables) known = known || t == table;
  if (!known) throw StoreError("count: unknown table '" + std::string(table) + "'");
  try {
    // The processed table holds a block of ids per row.
    const std::string what = table == "processed" ? "COALESCE(SUM(ids), 0)" : "COUNT(*)";
    const auto n =
        impl_->db.execAndGet("SELECT " + what + " FROM " + std::string(table)).getInt64();
    return static_cast<std::size_t>(n);
  } catch (const SQLite::Exception& e) {
    impl_->raise("count", e);
  }
}

std::string SqliteStore::chain_hash(std::string_view prev_hash, const TimelineRow& row) {
  return compute_chain_hash(prev_hash, row.seq, row.incident_key, row.at_ms, row.action,
                            row.milestone ? &*row.milestone : nullptr, row.body);
}

namespace {

constexpr const char* kTimelineColumns =
    "t.seq, t.incident_key, t.at, t.action, t.milestone, t.body, t.prev_hash, t.hash";

TimelineRow read_timeline_row(SQLite::Statement& s) {
  TimelineRow row;
  row.seq = s.getColumn(0).getInt64();
  row.incident_key = s.getColumn(1).getString();
  row.at_ms = s.getColumn(2).getInt64();
  row.action = s.getColumn(3).getString();
  if (!s.getColumn(4).isNull()) row.milestone = s.getColumn(4).getString();
  row.body = s.getColumn(5).getString();
  row.prev_hash = s.getColumn(6).getString();
  row.hash = s.getColumn(7).getString();
  return row;
}

TimePoint instant_of(std::int64_t ms) {
  return TimePoint(Duration(ms));
}

}  // namespace

void SqliteStore::scan_timeline(const std::string& incident_key,
                                const std::function<bool(const TimelineRow&)>& visit,
                                std::int64_t after_seq) {
  try {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::DEFERRED);
    SQLite::Statement s(
        impl_->db, std::string("SELECT ") + kTimelineColumns + " FROM timeline t WHERE t.seq > ?" +
                       (incident_key.empty() ? "" : " AND t.incident_key = ?") + " ORDER BY t.seq");
    s.bind(1, static_cast<std::int64_t>(after_seq));
    if (!incident_key.empty()) s.bind(2, incident_key);
    while (s.executeStep()) {
      if (!visit(read_timeline_row(s))) break;
    }
  } catch (const SQLite::Exception& e) {
    impl_->raise("scan_timeline", e);
  }
}

void SqliteStore::scan_timeline_of_clocks(TimePoint from, TimePoint to,
                                          const std::vector<ActionKind>& actions,
                                          const std::function<void(const TimelineRow&)>& visit) {
  std::string sql = std::string(
                        "SELECT t.seq, t.incident_key, t.at, t.action, t.milestone, "
                        "CASE t.action WHEN 'notification' THEN '' ELSE t.body END, '', '', "
                        "CASE t.action WHEN 'notification' THEN "
                        "json_extract(t.body, '$.recipient') ELSE '' END") +
                    // CROSS JOIN keeps incidents outside: each one's rows come from the
                    // (incident_key, seq) index already in order, instead of a sort of them all.
                    " FROM incidents i CROSS JOIN timeline t ON t.incident_key = i.incident_key"
                    " WHERE i.clock_start >= ? AND i.clock_start < ?";
  if (!actions.empty()) {
    sql += " AND t.action IN (";
    for (std::size_t i = 0; i < actions.size(); ++i) sql += i == 0 ? "?" : ", ?";
    sql += ")";
  }
  sql += " ORDER BY i.incident_key, t.seq";
  try {
    SQLite::Transaction tx(impl_->db, SQLite::TransactionBehavior::DEFERRED);
    SQLite::Statement s(impl_->db, sql);
    s.bind(1, static_cast<std::int64_t>(millis(from)));
    s.bind(2, static_cast<std::int64_t>(millis(to)));
    for (std::size_t i = 0; i < actions.size(); ++i) {
      s.bind(static_cast<int>(i + 3), name(actions[i]));
    }
    while (s.executeStep()) {
      TimelineRow row = read_timeline_row(s);
      row.recipient = s.getColumn(8).getString();
      visit(row);
    }
  } catch (const SQLite::Exception& e) {
    impl_->raise("scan_timeline_of_clocks", e);
  }
}

std::vector<IncidentRow> SqliteStore::incidents_with_clock(TimePoint from, TimePoint to) {
  std::vector<IncidentRow> out;
  try {
    // The grouping columns come out of the snapshot with SQLite's JSON functions: decoding
    // 100,000 whole snapshots would cost more than the statistics themselves.
    SQLite::Statement s(impl_->db,
                        "SELECT incident_key, level, drill, closed, clock_start, lead_unit, "
                        "json_extract(state, '$.region'), json_extract(state, '$.units') "
                        "FROM incidents WHERE clock_start >= ? AND clock_start < ? "
                        "ORDER BY clock_start, incident_key");
    s.bind(1, static_cast<std::int64_t>(millis(from)));
    s.bind(2, static_cast<std::int64_t>(millis(to)));
    while (s.executeStep()) {
      IncidentRow row;
      row.key = s.getColumn(0).getString();
      row.level = s.getColumn(1).getString();
      row.drill = s.getColumn(2).getInt() != 0;
      row.closed = s.getColumn(3).getInt() != 0;
      row.clock_start = instant_of(s.getColumn(4).getInt64());
      row.lead_unit = s.getColumn(5).getString();
      row.region = s.getColumn(6).getString();
      const std::string units = s.getColumn(7).getString();
      if (!units.empty()) {
        const json parsed = json::parse(units, nullptr, false);
        if (parsed.is_array()) {
          for (const auto& u : parsed) {
            if (u.is_string()) row.units.push_back(u.get<std::string>());
          }
        }
      }
      out.push_back(std::move(row));
    }
  } catch (const SQLite::Exception& e) {
    impl_->raise("incidents_with_clock", e);
  }
  return out;
}

std::vector<OutboxRow> SqliteStore::outbox(const std::string& incident_key) {
  std::vector<OutboxRow> out;
  try {
    SQLite::Statement s(impl_->db,
                        "SELECT notification_id, recipient, unit, channel, state, attempts, "
                        "delivered_at, last_error, gave_up FROM outbox WHERE incident_key = ? "
                        "ORDER BY created_at, notification_id");
    s.bind(1, incident_key);
    while (s.executeStep()) {
      OutboxRow row;
      row.notification_id = s.getColumn(0).getString();
      row.recipient = s.getColumn(1).getString();
      row.unit = s.getColumn(2).getString();
      row.channel = s.getColumn(3).getString();
      row.state = s.getColumn(4).getString();
      row.attempts = s.getColumn(5).getInt();
      if (!s.getColumn(6).isNull()) row.delivered_at = instant_of(s.getColumn(6).getInt64());
      row.last_error = s.getColumn(7).getString();
      row.gave_up = s.getColumn(8).getString();
      out.push_back(std::move(row));
    }
  } catch (const SQLite::Exception& e) {
    impl_->raise("outbox", e);
  }
  return out;
}

std::vector<ChainRewrite> SqliteStore::chain_rewrites() {
  std::vector<ChainRewrite> out;
  try {
    SQLite::Statement s(impl_->db,
                        "SELECT at, reason, rows_changed, old_head_seq, old_head_hash, "
                        "new_head_hash FROM chain_rewrites ORDER BY seq");
    while (s.executeStep()) {
      ChainRewrite r;
      r.at = instant_of(s.getColumn(0).getInt64());
      r.reason = s.getColumn(1).getString();
      r.rows_changed = s.getColumn(2).getInt64();
      r.old_head = {s.getColumn(3).getInt64(), s.getColumn(4).getString()};
      r.new_head_hash = s.getColumn(5).getString();
      out.push_back(std::move(r));
    }
  } catch (const SQLite::Exception& e) {
    impl_->raise("chain_rewrites", e);
  }
  return out;
}

std::optional<ChainHead> SqliteStore::chain_head(const std::string& incident_key) {
  try {
    SQLite::Statement s(impl_->db, incident_key.empty()
                                       ? "SELECT seq, hash FROM timeline ORDER BY seq DESC LIMIT 1"
                                       : "SELECT seq, hash FROM timeline WHERE incident_key = ? "
                                         "ORDER BY seq DESC LIMIT 1");
    if (!incident_key.empty()) s.bind(1, incident_key);
    if (!s.executeStep()) return std::nullopt;
    return ChainHead{s.getColumn(0).getInt64(), s.getColumn(1).getString()};
  } catch (const SQLite::Exception& e) {
    impl_->raise("chain_head", e);
  }
}

std::int64_t SqliteStore::last_seq_issued() {
  try {
    SQLite::Statement s(impl_->db,
                        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence "
                        "WHERE name = 'timeline'), 0), COALESCE((SELECT MAX(seq) FROM timeline), "
                        "0))");
    s.executeStep();
    return s.getColumn(0).getInt64();
  } catch (const SQLite::Exception& e) {
    impl_->raise("last_seq_issued", e);
  }
}

bool SqliteStore::record_used_link(const std::string& link_id, const std::string& incident_key,
                                   TimePoint at) {
  try {
    SQLite::Statement s(impl_->db,
                        "INSERT OR IGNORE INTO used_links(link_id, incident_key, used_at) "
                        "VALUES (?, ?, ?)");
    s.bind(1, link_id);
    s.bind(2, incident_key);
    s.bind(3, static_cast<std::int64_t>(millis(at)));
    return s.exec() == 1;
  } catch (const SQLite::Exception& e) {
    impl_->raise("record_used_link", e);
  }
}

std::map<std::pair<std::string, std::string>, std::uint64_t> SqliteStore::outbox_counts() {
  try {
    std::map<std::pair<std::string, std::string>, std::uint64_t> out;
    SQLite::Statement s(impl_->db,
                        "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state");
    while (s.executeStep()) {
      out[{s.getColumn(0).getString(), s.getColumn(1).getString()}] =
          static_cast<std::uint64_t>(s.getColumn(2).getInt64());
    }
    return out;
  } catch (const SQLite::Exception& e) {
    impl_->raise("outbox_counts", e);
  }
}

bool SqliteStore::is_link_used(const std::string& link_id) {
  try {
    SQLite::Statement s(impl_->db, "SELECT 1 FROM used_links WHERE link_id = ?");
    s.bind(1, link_id);
    return s.executeStep();
  } catch (const SQLite::Exception& e) {
    impl_->raise("is_link_used", e);
  }
}

// ---- The outbox dispatcher ------------------------------------------------------------------

std::vector<OutboxRow> SqliteStore::due_notifications(TimePoint now, std::size_t limit) {
  std::vector<OutboxRow> out;
  try {
    // In the order of the outbox_pending index, so LIMIT stops early: no sort of every due row.
    // superseded_by looks up the newest later alert on the outbox_recipient index.
    SQLite::Statement s(
        impl_->db,
        "SELECT o.notification_id, o.recipient, o.unit, o.channel, o.state, "
        "o.attempts, o.delivered_at, o.last_error, o.incident_key, o.level, "
        "o.body, o.created_at, o.next_attempt_at, o.milestone, o.purpose, "
        "o.failing_since, o.recorded, "
        "CASE WHEN o.purpose = 'alert' THEN (SELECT n.notification_id FROM outbox n "
        "WHERE n.incident_key = o.incident_key AND n.recipient = o.recipient AND "
        "n.milestone IS o.milestone AND n.created_at > o.created_at AND "
        "n.purpose = 'alert' ORDER BY n.created_at DESC LIMIT 1) END, "
        "(SELECT MIN(p.failing_since) FROM outbox p WHERE p.incident_key = "
        "o.incident_key AND p.recipient = o.recipient AND p.milestone IS "
        "o.milestone AND p.created_at <= o.created_at AND p.purpose = o.purpose "
        "AND p.state IN ('pending', 'superseded')) "
        "FROM outbox o WHERE o.state = 'pending' AND o.next_attempt_at <= ? "
        "ORDER BY o.next_attempt_at LIMIT ?");
    s.bind(1, static_cast<std::int64_t>(millis(now)));
    s.bind(2, static_cast<std::int64_t>(limit));
    while (s.executeStep()) {
      OutboxRow row;
      row.notification_id = s.getColumn(0).getString();
      row.recipient = s.getColumn(1).getString();
      row.unit = s.getColumn(2).getString();
      row.channel = s.getColumn(3).getString();
      row.state = s.getColumn(4).getString();
      row.attempts = s.getColumn(5).getInt();
      if (!s.getColumn(6).isNull()) row.delivered_at = instant_of(s.getColumn(6).getInt64());
      row.last_error = s.getColumn(7).getString();
      row.incident_key = s.getColumn(8).getString();
      if (!s.getColumn(9).isNull()) row.level = s.getColumn(9).getInt();
      row.body = s.getColumn(10).getString();
      row.created_at = instant_of(s.getColumn(11).getInt64());
      row.next_attempt_at = instant_of(s.getColumn(12).getInt64());
      row.milestone = s.getColumn(13).getString();
      row.purpose = s.getColumn(14).getString();
      if (!s.getColumn(15).isNull()) row.failing_since = instant_of(s.getColumn(15).getInt64());
      row.recorded = s.getColumn(16).getString();
      row.superseded_by = s.getColumn(17).getString();
      if (!s.getColumn(18).isNull()) row.failing_since = instant_of(s.getColumn(18).getInt64());
      out.push_back(std::move(row));
    }
  } catch (const SQLite::Exception& e) {
    impl_->raise("due_notifications", e);
  }
  return out;
}

std::optional<TimePoint> SqliteStore::next_notification_due() {
  try {
    SQLite::Statement s(impl_->db,
                        "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'");
    if (!s.executeStep() || s.getColumn(0).isNull()) return std::nullopt;
    return instant_of(s.getColumn(0).getInt64());
  } catch (const SQLite::Exception& e) {
    impl_->raise("next_notification_due", e);
  }
}

std::size_t SqliteStore::pull_back_notifications(TimePoint now, TimePoint beyond) {
  try {
    // The read first (one step down the outbox_pending index): a pass that finds nothing writes
    // nothing, which is every pass but the one after a step back.
    SQLite::Statement any(impl_->db,
                          "SELECT 1 FROM outbox WHERE state = 'pending' AND next_attempt_at > ? "
                          "LIMIT 1");
    any.bind(1, static_cast<std::int64_t>(millis(beyond)));
    if (!any.executeStep()) return 0;
    SQLite::Statement pull(impl_->db,
                           "UPDATE outbox SET next_attempt_at = ? WHERE state = 'pending' AND "
                           "next_attempt_at > ?");
    pull.bind(1, static_cast<std::int64_t>(millis(now)));
    pull.bind(2, static_cast<std::int64_t>(millis(beyond)));
    return static_cast<std::size_t>(pull.exec());
  } catch (const SQLite::Exception& e) {
    impl_->raise("pull_back_notifications", e);
  }
}

std::vector<bool> SqliteStore::record_outbox(const std::vector<OutboxUpdate>& updates) {
  std::vector<bool> applied;
  if (updates.empty()) return applied;
  Impl& im = *impl_;
  try {
    SQLite::Transaction tx(im.db, SQLite::TransactionBehavior::IMMEDIATE);
    // The same chaining as commit(): continue from our head, or from a row another writer added.
    im.staged_head = im.head;
    {
      Use s(im.statements->last_row);
      if (s->executeStep() && s->getColumn(0).getInt64() > im.staged_head.seq) {
        im.staged_head = {s->getColumn(0).getInt64(), s->getColumn(1).getString()};
      }
    }
    SQLite::Statement update(im.db,
                             "UPDATE outbox SET state = ?, channel = ?, attempts = ?, "
                             "next_attempt_at = ?, delivered_at = ?, last_error = ?, "
                             "failing_since = ?, recorded = ?, gave_up = ? "
                             "WHERE notification_id = ? AND state = 'pending'");
    for (const OutboxUpdate& u : updates) {
      Use s(update);
      s.text(1, u.state);
      s.text(2, u.channel);
      s.integer(3, u.attempts);
      s.instant(4, u.next_attempt_at);
      s.instant(5, u.delivered_at);
      s.text(6, u.last_error);
      s.instant(7, u.failing_since);
      s.text(8, u.recorded);
      if (u.gave_up.empty()) {
        s->bind(9);
      } else {
        s.text(9, u.gave_up);
      }
      s.text(10, u.notification_id);
      const bool changed = s->exec() == 1;
      applied.push_back(changed);
      if (!changed) continue;
      for (const Action& a : u.timeline) im.write_action(a);
      for (const OutboxRow& row : u.new_rows) im.insert_outbox_row(row);
    }
    tx.commit();
    im.head = std::move(im.staged_head);
  } catch (const SQLite::Exception& e) {
    im.raise("record_outbox", e);
  } catch (const json::exception& e) {
    im.raise("record_outbox", e);
  }
  return applied;
}

bool decode_processed_block(
    std::string_view block,
    const std::function<void(std::string_view id, std::string_view incident_key, TimePoint at)>&
        visit) {
  const std::span<const unsigned char> bytes(reinterpret_cast<const unsigned char*>(block.data()),
                                             block.size());
  return decode_block(bytes, [&visit](std::string_view id, std::string_view key, std::int64_t at) {
    visit(id, key, instant_of(at));
  });
}

std::optional<SqliteStore::Outage> SqliteStore::begin_run(TimePoint now) {
  Impl& im = *impl_;
  std::optional<Outage> outage;
  try {
    SQLite::Transaction tx(im.db, SQLite::TransactionBehavior::IMMEDIATE);
    std::optional<TimePoint> last_alive;
    {
      SQLite::Statement last(im.db,
                             "SELECT alive_at, stopped_at FROM daemon_runs ORDER BY run DESC "
                             "LIMIT 1");
      if (last.executeStep() && last.getColumn(1).isNull()) {
        last_alive = instant_of(last.getColumn(0).getInt64());
      }
    }
    if (last_alive) {
      // A commit after the last heartbeat also proves the daemon was up: the latest timeline
      // instant not in the future is a bound too.
      SQLite::Statement latest(im.db, "SELECT MAX(at) FROM timeline WHERE at <= ?");
      latest.bind(1, static_cast<std::int64_t>(millis(now)));
      if (latest.executeStep() && !latest.getColumn(0).isNull()) {
        last_alive = std::max(*last_alive, instant_of(latest.getColumn(0).getInt64()));
      }
      outage = Outage{std::min(*last_alive, now), now, 0};
      im.staged_head = im.head;
      {
        Use s(im.statements->last_row);
        if (s->executeStep() && s->getColumn(0).getInt64() > im.staged_head.seq) {
          im.staged_head = {s->getColumn(0).getInt64(), s->getColumn(1).getString()};
        }
      }
      std::vector<std::string> open;
      {
        Use s(im.statements->select_open);
        while (s->executeStep()) open.push_back(s->getColumn(0).getString());
      }
      for (const std::string& key : open) {
        Action a;
        a.at = now;
        a.incident_key = key;
        a.kind = ActionKind::daemon_outage;
        a.from = outage->from;
        a.to = outage->to;
        im.write_action(a);
      }
      outage->incidents = open.size();
    }
    SQLite::Statement insert(im.db, "INSERT INTO daemon_runs(started_at, alive_at) VALUES (?, ?)");
    insert.bind(1, static_cast<std::int64_t>(millis(now)));
    insert.bind(2, static_cast<std::int64_t>(millis(now)));
    insert.exec();
    const std::int64_t run = im.db.getLastInsertRowid();
    tx.commit();
    im.run = run;
    if (outage) im.head = std::move(im.staged_head);
  } catch (const SQLite::Exception& e) {
    im.raise("begin_run", e);
  } catch (const json::exception& e) {
    im.raise("begin_run", e);
  }
  return outage;
}

void SqliteStore::heartbeat(TimePoint now) {
  if (impl_->run == 0) return;
  try {
    // MAX: a wall clock stepped back must not move the proof of life backwards.
    SQLite::Statement s(impl_->db,
                        "UPDATE daemon_runs SET alive_at = MAX(alive_at, ?) WHERE run = ?");
    s.bind(1, static_cast<std::int64_t>(millis(now)));
    s.bind(2, impl_->run);
    s.exec();
  } catch (const SQLite::Exception& e) {
    impl_->raise("heartbeat", e);
  }
}

void SqliteStore::end_run(TimePoint now) {
  if (impl_->run == 0) return;
  try {
    SQLite::Statement s(impl_->db,
                        "UPDATE daemon_runs SET alive_at = MAX(alive_at, ?1), stopped_at = ?1 "
                        "WHERE run = ?2");
    s.bind(1, static_cast<std::int64_t>(millis(now)));
    s.bind(2, impl_->run);
    s.exec();
  } catch (const SQLite::Exception& e) {
    impl_->raise("end_run", e);
  }
}

std::optional<SourceHeartbeatRecord> SqliteStore::source_heartbeat() {
  try {
    SQLite::Statement s(impl_->db,
                        "SELECT silent, since, changed_at FROM source_heartbeat WHERE id = 1");
    if (!s.executeStep()) return std::nullopt;
    SourceHeartbeatRecord r;
    r.silent = s.getColumn(0).getInt() != 0;
    r.since = instant_of(s.getColumn(1).getInt64());
    r.changed_at = instant_of(s.getColumn(2).getInt64());
    return r;
  } catch (const SQLite::Exception& e) {
    throw impl_->error("source_heartbeat", e);
  }
}

void SqliteStore::record_source_heartbeat(const SourceHeartbeatRecord& record,
                                          const std::vector<OutboxRow>& rows) {
  Impl& im = *impl_;
  try {
    SQLite::Transaction tx(im.db, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement upsert(im.db,
                             "INSERT INTO source_heartbeat(id, silent, since, changed_at) "
                             "VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
                             "silent = excluded.silent, since = excluded.since, "
                             "changed_at = excluded.changed_at");
    upsert.bind(1, record.silent ? 1 : 0);
    upsert.bind(2, static_cast<std::int64_t>(millis(record.since)));
    upsert.bind(3, static_cast<std::int64_t>(millis(record.changed_at)));
    upsert.exec();
    for (const OutboxRow& row : rows) im.insert_outbox_row(row);
    tx.commit();
  } catch (const SQLite::Exception& e) {
    throw im.error("record_source_heartbeat", e);
  }
}

int SqliteStore::schema_version() {
  try {
    return user_version(impl_->db);
  } catch (const SQLite::Exception& e) {
    impl_->raise("schema_version", e);
  }
}

}  // namespace incidentd
