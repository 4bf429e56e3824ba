// The read side for reports, statistics and verification: the timeline rows as stored (with
// their place in the hash chain), the incidents a period's statistics group with their figures,
// and an incident's
// outbox. Each query runs in one read transaction (a consistent snapshot) and never blocks the
// writer. Implementations throw StoreError on failure.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/incident_figures.hpp"
#include "incidentd/outbox.hpp"
#include "incidentd/time.hpp"
#include "incidentd/timeline_rows.hpp"

namespace incidentd {

// One timeline row as stored, with its place in its incident's hash chain.
struct TimelineRow {
  std::int64_t seq = 0;           // the row's place in this file (replicas number rows differently)
  std::int64_t incident_seq = 0;  // its place in its incident's chain, from 1 (the same everywhere)
  std::string incident_key;
  std::int64_t at_ms = 0;  // milliseconds since the epoch, UTC
  std::string action;
  std::optional<std::string> milestone;
  std::string body;       // the action as JSON (UTC instants)
  std::string prev_hash;  // hex; empty when the row has none (written outside incidentd)
  std::string hash;       // hex; empty when the row has none
};

// What the row's body leaves out (incidentd/timeline_rows.hpp).
inline TimelineColumns columns_of(const TimelineRow& row) {
  return {row.incident_key, TimePoint(Duration(row.at_ms)), row.action, row.milestone};
}

// The last row of a chain (an incident's, or the file's last row): a printed report quotes it
// so it can be checked later.
struct ChainHead {
  std::int64_t seq = 0;
  std::string hash;
};

// The columns of an incident that statistics group and filter by, and what its timeline adds to
// the figures (kept by the store at every commit, not replayed from the timeline).
struct IncidentRow {
  std::string key;
  std::string level;  // the current level
  std::string region;
  std::string lead_unit;
  std::vector<std::string> units;
  bool drill = false;
  bool closed = false;
  std::optional<TimePoint> clock_start;
  IncidentFigures figures;
};

// A rewrite of the chain by a migration (schema 8 took addresses out of old delivery records;
// schema 11 re-chained every row per incident): the head before it, so a head printed before can
// still be accounted for.
struct ChainRewrite {
  TimePoint at{};
  std::string reason;
  std::int64_t rows_changed = 0;
  ChainHead old_head;
  std::string new_head_hash;
};

class TimelineQueries {
 public:
  virtual ~TimelineQueries() = default;
  // The incident's snapshot (open or closed), if any.
  virtual std::optional<IncidentState> load_incident(const std::string& key) = 0;
  // Timeline rows in seq order, of one incident or (empty key) of all, from seq after_seq + 1;
  // `visit` returns false to stop early.
  virtual void scan_timeline(const std::string& incident_key,
                             const std::function<bool(const TimelineRow&)>& visit,
                             std::int64_t after_seq = 0) = 0;
  // Incidents whose clock started in [from, to), ordered by clock start then key.
  virtual std::vector<IncidentRow> incidents_with_clock(TimePoint from, TimePoint to) = 0;
  // The incident's outbox rows (without the dispatcher's columns), oldest first.
  virtual std::vector<OutboxRow> outbox(const std::string& incident_key) = 0;
  // The last row of the timeline (seq: its place in the file), or of one incident: the head of
  // its chain (seq: its place in that chain, incident_seq, the same on every replica).
  virtual std::optional<ChainHead> chain_head(const std::string& incident_key = "") = 0;
  // A SHA-256 over every incident's chain head, in incident_key order (what `incidentctl verify`
  // prints): the same on every replica holding the same rows. Empty for an empty timeline.
  virtual std::string chain_heads_digest() = 0;
  // Rewrites of the chain by migrations, oldest first.
  virtual std::vector<ChainRewrite> chain_rewrites() = 0;
  // The highest seq ever handed out: above the last row's seq when rows were removed from the
  // end.
  virtual std::int64_t last_seq_issued() = 0;
};

}  // namespace incidentd
