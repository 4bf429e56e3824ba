#include "store/schema.hpp"

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "crypto/crypto.hpp"
#include "incidentd/delivery_policy.hpp"
#include "store/chain_migration.hpp"
#include "store/database.hpp"
#include "store/hash_chain.hpp"
#include "store/incident_figures_room.hpp"
#include "store/processed_ids.hpp"
#include "store/sql.hpp"

namespace incidentd::schema {
namespace {

using nlohmann::json;
using sql::dump;

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
    // One hash chain per incident instead of one for the file (rechain_per_incident): the
    // replicas of a cluster apply incidents in different interleavings, and must compute the same
    // hashes. incident_seq is a row's place in its incident's chain, hashed instead of the
    // file-local seq; an incident's head is its last row on the (incident_key, seq) index.
    {11, R"sql(
ALTER TABLE timeline ADD COLUMN incident_seq INTEGER;
)sql",
     rechain_per_incident},
    // Statistics read one narrow row per incident (daemon/store/incident_figures_room.hpp): the
    // columns they group and filter by, and what the incident's timeline adds to their figures
    // (incidentd/incident_figures.hpp), kept up to date by every commit. Replaying 9 M timeline
    // rows made `stats` over 100,000 incidents take 10 s. `after` fills it from the snapshots
    // and a replay of the timeline as it stands.
    {12, R"sql(
CREATE TABLE incident_figures (
  incident_key TEXT PRIMARY KEY,
  clock_start  INTEGER,
  level        TEXT NOT NULL,  -- the current level
  drill        INTEGER NOT NULL,
  closed       INTEGER NOT NULL,
  lead_unit    TEXT NOT NULL,
  region       TEXT NOT NULL,
  units        TEXT NOT NULL,  -- encode_string_list
  figures      TEXT NOT NULL   -- IncidentFigures::encode
) WITHOUT ROWID;
CREATE INDEX incident_figures_clock ON incident_figures(clock_start);
)sql",
     fill_incident_figures},
    // A cluster's replica (daemon/store/replica_room.hpp): per partition of the state topic, the
    // offset of the next change record to apply, written in the transaction that applied the
    // records before it, so a record delivered again is not applied twice.
    {13, R"sql(
CREATE TABLE replica_positions (
  topic       TEXT NOT NULL,
  partition   INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
)sql"},
    // A cluster member's commit journal (daemon/store/commit_journal.hpp): per commit, its undo
    // until the commit's change records are read back from the state topic. AUTOINCREMENT: a seq
    // is never used twice, even after every row was forgotten, since records carry it.
    {14, R"sql(
CREATE TABLE commit_journal (
  seq  INTEGER PRIMARY KEY AUTOINCREMENT,
  undo BLOB NOT NULL
);
)sql"},
    // An engine's notification is one timeline row, and its outbox row names that row
    // (timeline_seq) with an empty body instead of a copy of it: the copies were a quarter of the
    // file (issue 18's compact store). Rows of no timeline row (the operator desk's notices) keep
    // their own body. Existing rows are linked where the timeline holds the very same body; the
    // space they free is reused by later rows (VACUUM, with the daemon stopped, returns it).
    {15, R"sql(
ALTER TABLE outbox ADD COLUMN timeline_seq INTEGER;
UPDATE outbox SET timeline_seq = t.seq, body = ''
  FROM (SELECT seq, body, CASE WHEN json_valid(body)
                               THEN json_extract(body, '$.notification_id') END AS id
          FROM timeline WHERE action = 'notification') AS t
  WHERE outbox.notification_id = t.id AND outbox.body = t.body;
)sql"},
    // The notifications of one step are one timeline row (incidentd/timeline_rows.hpp); the
    // outbox rows of a step name that row. Nothing to convert: a row of one notification is
    // written as before, and this build reads both. The version only keeps an earlier build,
    // which would read a step's row as one notification to nobody, off a file that has them.
    {16, R"sql(
-- the notifications of one step share a timeline row
)sql"},
    // A row's body leaves out what its columns say (incident_key, at, action, milestone), and a
    // step's notification ids are its alert's id said once (incidentd/timeline_rows.hpp): a
    // sixth and a quarter of a step's row. Nothing to convert: the readers put back only what a
    // body lacks, so the rows before read as they did and keep their hashes. The version keeps an
    // earlier build, which would read such a row as an action of no kind, off the file.
    {17, R"sql(
-- a row's body without what its columns say
)sql"},
};

static_assert(std::size(kMigrations) > 0 &&
                  kMigrations[std::size(kMigrations) - 1].version == Database::kSchemaVersion,
              "the last migration must produce kSchemaVersion");

// Migration 8: no addresses in the timeline (seed item 95). A "sending" row's detail was the
// address itself; other delivery and fallback rows keep their words with addresses scrubbed
// (scrub_address: URLs and phone-like digit runs). Returns the rows changed.
std::int64_t scrub_delivery_rows(SQLite::Database& db, SQLite::Statement& update) {
  SQLite::Statement select(db,
                           "SELECT seq, body FROM timeline WHERE action IN "
                           "('delivery', 'channel_fallback') ORDER BY seq");
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
  return changed;
}

// SMS confirmations of earlier builds were named "sms-<phone>-<code>-<ms>": the phone goes,
// replaced by a digest of it, in the timeline and in the confirmations table alike (the name
// stays unique, and the same phone gives the same digest). Returns the rows changed.
std::int64_t rename_sms_confirmations(SQLite::Database& db, SQLite::Statement& update) {
  SQLite::Statement sms(db,
                        "SELECT seq, incident_key, body FROM timeline WHERE action = "
                        "'release_confirmed' AND body LIKE '%\"confirmation_id\":\"sms-%'");
  SQLite::Statement rename(db,
                           "UPDATE confirmations SET confirmation_id = ? WHERE incident_key = ? "
                           "AND confirmation_id = ?");
  std::int64_t changed = 0;
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
  return changed;
}

// The outbox's last errors lose their addresses too (they are not chained).
void scrub_outbox_errors(SQLite::Database& db) {
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
}

// Changed rows are rewritten and the whole chain re-hashed; chain_rewrites records the head
// before and after.
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
  SQLite::Statement update(db, "UPDATE timeline SET body = ? WHERE seq = ?");
  std::int64_t changed = scrub_delivery_rows(db, update);
  changed += rename_sms_confirmations(db, update);
  scrub_outbox_errors(db);
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

}  // namespace

std::span<const Migration> migrations() {
  return kMigrations;
}

}  // namespace incidentd::schema
