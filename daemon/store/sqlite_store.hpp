// The durable store on one SQLite file in WAL mode: per-incident state snapshots, the append-only
// timeline, the notification outbox, the idempotence set and derived indexes (pending deadlines).
// commit() writes a whole Changeset in one transaction; every SQLite failure becomes a StoreError
// naming the operation. A read-only instance can read while the daemon writes (reports).
// Every timeline row carries a SHA-256 hash over its content and its predecessor's hash, chained
// in commit order (tamper evidence; incidentctl verify walks the chain).
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

#include "incidentd/domain.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/store.hpp"

namespace incidentd {

// One timeline row as stored, with its place in the hash chain.
struct TimelineRow {
  std::int64_t seq = 0;
  std::string incident_key;
  std::int64_t at_ms = 0;  // milliseconds since the epoch, UTC
  std::string action;
  std::optional<std::string> milestone;
  std::string body;       // the action as JSON (UTC instants)
  std::string prev_hash;  // hex; empty when the row has none (written outside incidentd)
  std::string hash;       // hex; empty when the row has none
  // scan_timeline_of_clocks only: a notification row carries its recipient here instead of its
  // body (there are millions of them, and statistics need no more).
  std::string recipient;
};

// The last row of the chain: a printed report quotes it so it can be checked later.
struct ChainHead {
  std::int64_t seq = 0;
  std::string hash;
};

// One outbox row: a notification send and what the dispatcher recorded about its delivery.
struct OutboxRow {
  std::string notification_id;
  std::string recipient;
  std::string unit;
  std::string channel;
  // "pending" until a dispatcher records "delivered", "failed" (given up) or "superseded" (given
  // up unsent or unfinished: a newer alert to the same person about the same milestone replaced
  // it, and carries on its failing_since).
  std::string state;
  int attempts = 0;
  std::optional<TimePoint> delivered_at;
  std::string last_error;  // the last failure, in English words
  // Given up or superseded: why, as JSON fields a report translates (OutboxUpdate::gave_up);
  // empty for rows written before schema 10 and rows not given up. Filled by outbox().
  std::string gave_up;
  // Filled by due_notifications() (the dispatcher needs them; outbox() leaves them empty).
  std::string incident_key;
  std::optional<int> level;
  std::string body;  // the notification action as JSON
  TimePoint created_at{};
  TimePoint next_attempt_at{};
  std::string milestone;  // of the alert; empty when it has none
  // "alert" (the engine's), "unreached" (an operator's: somebody could not be reached), or
  // "source_silent" / "source_back" (an operator's: the source heartbeat; such rows have no
  // incident, an empty incident_key, and their delivery goes into no timeline).
  std::string purpose = "alert";
  // The first failed attempt of this row or of an older one it superseded; due_notifications()
  // gives the earliest of that chain.
  std::optional<TimePoint> failing_since;
  std::string recorded;  // the once-only timeline entries written (delivery_policy.hpp marks)
  // due_notifications() only: a newer alert to the same person about the same milestone of the
  // same incident, which makes this one obsolete (it is given up, not sent).
  std::string superseded_by;
};

// What the dispatcher records about one outbox row, with the timeline entries that say so.
// Applied only while the row is still 'pending' (so a row is marked delivered exactly once).
struct OutboxUpdate {
  std::string notification_id;
  std::string state = "pending";  // "pending", "delivered", "failed" or "superseded"
  std::string channel;            // the channel the row now goes by (changes on fallback)
  int attempts = 0;
  TimePoint next_attempt_at{};
  std::optional<TimePoint> delivered_at;
  std::string last_error;
  // Given up or superseded: {"reason": ..., "error": the channel's last answer, "channel",
  // "since", "after", "by" (superseded), "told": [operator ids]} (docs/reports.md).
  std::string gave_up;
  std::optional<TimePoint> failing_since;
  std::string recorded;
  std::vector<Action> timeline;  // delivery / channel_fallback entries, chained like any other
  // Rows to add when this update applies (the operator desk's "nobody reached" alerts); a row
  // whose notification_id exists already is left alone, so each is sent once.
  std::vector<OutboxRow> new_rows;
};

// The columns of an incident that statistics group and filter by.
struct IncidentRow {
  std::string key;
  std::string level;  // the current level
  std::string region;
  std::string lead_unit;
  std::vector<std::string> units;
  bool drill = false;
  bool closed = false;
  std::optional<TimePoint> clock_start;
};

// The source heartbeat's durable state (table source_heartbeat, docs/notifications.md).
struct SourceHeartbeatRecord {
  bool silent = false;
  // silent: the last message before the silence (or the start the silence was counted from);
  // not silent: when messages came back.
  TimePoint since{};
  TimePoint changed_at{};  // when the daemon decided it: the alert or the all-clear
};

// A rewrite of the chain by a migration (schema 8 took addresses out of old delivery records):
// the head before it, so a head printed before can still be accounted for.
struct ChainRewrite {
  TimePoint at{};
  std::string reason;
  std::int64_t rows_changed = 0;
  ChainHead old_head;
  std::string new_head_hash;
};

// When a read_write SqliteStore copies its WAL back into the database file, in pages of the WAL
// after a commit. From `background_after` on, a thread of the store's checkpoints while the
// committer goes on (0: no thread); from `foreground_after` on (the thread has fallen behind, or
// a reader holds old pages), the commit checkpoints before it returns.
struct WalCheckpoints {
  int background_after = 16384;  // 64 MB of 4 KB pages
  int foreground_after = 65536;  // 256 MB
};

// One block of the processed table (a row's `block`): visit is called for each id in the order
// it was processed. False when the block is cut short or overlong (incidentctl check-db).
bool decode_processed_block(
    std::string_view block,
    const std::function<void(std::string_view id, std::string_view incident_key, TimePoint at)>&
        visit);

class SqliteStore final : public Store {
 public:
  enum class Mode { read_write, read_only };

  // The schema version this build writes and reads (PRAGMA user_version).
  static constexpr int kSchemaVersion = 10;

  // The hash the first row chains to.
  static constexpr std::string_view kGenesisHash =
      "0000000000000000000000000000000000000000000000000000000000000000";
  // SHA-256 (hex) over a canonical, length-prefixed encoding of prev_hash and the row's seq,
  // incident_key, at, action, milestone and body (docs/reports.md spells the encoding out).
  static std::string chain_hash(std::string_view prev_hash, const TimelineRow& row);

  // read_write creates the file if needed and migrates it to kSchemaVersion; read_only needs a
  // database at exactly kSchemaVersion. Both refuse a newer schema. Throws StoreError.
  explicit SqliteStore(const std::string& path, Mode mode = Mode::read_write,
                       WalCheckpoints checkpoints = {});
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void commit(const Changeset& changes) override;
  std::vector<IncidentState> load_open_incidents() override;
  std::optional<IncidentState> load_incident(const std::string& key) override;
  // Every incident, open and closed, by key (incidentctl list --all).
  std::vector<IncidentState> load_all_incidents();
  bool is_processed(const std::string& id) override;
  std::optional<Confirmation> find_confirmation(const std::string& incident_key,
                                                const std::string& unit,
                                                const std::string& confirmation_id) override;

  // The timeline in commit order, of one incident or (empty key) of all.
  std::vector<Action> timeline(const std::string& incident_key = "");
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

  // Read-only queries for reports, statistics and verification. Each runs in one read
  // transaction (a consistent snapshot); in WAL mode it never blocks the writer.

  // Timeline rows in seq order, of one incident or (empty key) of all, from seq after_seq + 1;
  // `visit` returns false to stop early.
  void scan_timeline(const std::string& incident_key,
                     const std::function<bool(const TimelineRow&)>& visit,
                     std::int64_t after_seq = 0);
  // Timeline rows of the given actions (all when empty) for incidents whose clock started in
  // [from, to), ordered by incident key then seq, without their hashes; notification rows
  // without their body (see TimelineRow::recipient).
  void scan_timeline_of_clocks(TimePoint from, TimePoint to, const std::vector<ActionKind>& actions,
                               const std::function<void(const TimelineRow&)>& visit);
  // Incidents whose clock started in [from, to), ordered by clock start then key.
  std::vector<IncidentRow> incidents_with_clock(TimePoint from, TimePoint to);
  std::vector<OutboxRow> outbox(const std::string& incident_key);
  // The last row of the timeline (of all incidents, or of one).
  std::optional<ChainHead> chain_head(const std::string& incident_key = "");
  // Rewrites of the chain by migrations, oldest first.
  std::vector<ChainRewrite> chain_rewrites();
  // The highest seq ever handed out (AUTOINCREMENT's record): above the last row's seq when
  // rows were removed from the end.
  std::int64_t last_seq_issued();

  // One-click ack links (daemon/http/ack_link.hpp) work once. record_used_link() is true when
  // the link id was not recorded before (it is now, durably); false for a replay.
  bool record_used_link(const std::string& link_id, const std::string& incident_key, TimePoint at);
  bool is_link_used(const std::string& link_id);
  // Outbox rows by (channel, state), for the notifications metric.
  std::map<std::pair<std::string, std::string>, std::uint64_t> outbox_counts();

  // ---- The outbox dispatcher (daemon/notify/dispatcher.hpp) ---------------------------------
  // Pending rows with next_attempt_at <= now, the earliest first, at most `limit`.
  std::vector<OutboxRow> due_notifications(TimePoint now, std::size_t limit);
  // The earliest next_attempt_at of a pending row, if any.
  std::optional<TimePoint> next_notification_due();
  // Pending rows scheduled after `beyond` become due at `now`; returns how many. The dispatcher
  // never schedules a row further ahead than its longest wait, so such a row was scheduled on a
  // wall clock that has since stepped back.
  std::size_t pull_back_notifications(TimePoint now, TimePoint beyond);
  // Applies the updates and appends their timeline entries to the hash chain, all in one
  // transaction. Returns, per update, whether it applied (false: the row was no longer pending).
  std::vector<bool> record_outbox(const std::vector<OutboxUpdate>& updates);

  // ---- The daemon's runs: start, heartbeat and clean-stop markers (table daemon_runs) --------
  // An outage: the daemon was not running from `from` (the last instant it had recorded itself
  // alive: a heartbeat, or a timeline entry after it) to `to` (its next start).
  struct Outage {
    TimePoint from{};
    TimePoint to{};
    std::size_t incidents = 0;  // open incidents whose timeline records it
  };
  // Records a run starting at `now`. When the run before it did not stop cleanly, appends a
  // daemon_outage entry (from, to) to the timeline of every open incident, chained, in the same
  // transaction, and returns the outage. Call it before the engine acts on what fell due.
  std::optional<Outage> begin_run(TimePoint now);
  // This run is alive at `now`: the daemon calls it every few seconds. No-op before begin_run.
  void heartbeat(TimePoint now);
  // This run stopped cleanly at `now`: the next start records no outage.
  void end_run(TimePoint now);

  // ---- The source heartbeat (daemon/notify/source_heartbeat.hpp) -----------------------------
  // The recorded state; nullopt when none was ever recorded.
  std::optional<SourceHeartbeatRecord> source_heartbeat();
  // Records the state and adds the operator desk's rows that tell of it, in one transaction; a
  // row whose notification_id exists already is left alone.
  void record_source_heartbeat(const SourceHeartbeatRecord& record,
                               const std::vector<OutboxRow>& rows);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace incidentd
