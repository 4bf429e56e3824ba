// The statistics' room: one narrow row per incident in `incident_figures` (schema 12), with the
// columns statistics group and filter by (clock start, level, drill, units, region) and the
// figures of its timeline so far (incidentd/incident_figures.hpp), kept up to date inside every
// commit of the engine. `stats` reads these rows alone: no timeline row, no snapshot's JSON
// (docs/reports.md, "How statistics are read"). Internal to daemon/store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "incidentd/incident_figures.hpp"
#include "incidentd/store.hpp"
#include "incidentd/timeline_queries.hpp"

namespace incidentd {

class Database;

// Migration 11: a row for every incident, its figures replayed from the timeline as it stands.
void fill_incident_figures(SQLite::Database& db);

class IncidentFiguresRoom {
 public:
  explicit IncidentFiguresRoom(Database& database);
  IncidentFiguresRoom(const IncidentFiguresRoom&) = delete;
  IncidentFiguresRoom& operator=(const IncidentFiguresRoom&) = delete;

  // Inside the commit's transaction: the changeset's actions, in order, into each incident's
  // figures, and its snapshots' columns (those that changed).
  void write(const Changeset& c);
  // The transaction of the last write() committed.
  void committed();
  // Another connection may have written the rows this one remembers writing: write them again.
  void forget_written() { written_.clear(); }
  // Incidents whose clock started in [from, to), ordered by clock start then key.
  std::vector<IncidentRow> incidents_with_clock(TimePoint from, TimePoint to);

 private:
  struct Touched {
    IncidentFigures figures;
    std::string stored;  // the figures as read: unchanged ones are not written back
    bool loaded = false;
    const IncidentState* state = nullptr;
  };
  Touched& load(const std::string& key);
  void write_one(const std::string& key, Touched& t);

  Database& database_;
  SQLite::Statement select_;
  SQLite::Statement upsert_all_;
  SQLite::Statement upsert_columns_;
  SQLite::Statement upsert_figures_;
  std::unordered_map<std::string, Touched> touched_;  // scratch, one commit
  // A fingerprint of the columns this connection wrote for each incident, so that a snapshot
  // that changed none of them (most do not) costs no write; staged until the commit is durable.
  // Bounded: past kMaxWritten entries it starts again (a miss only costs a write).
  static constexpr std::size_t kMaxWritten = 1 << 20;
  std::unordered_map<std::string, std::uint64_t> written_;
  std::vector<std::pair<std::string, std::uint64_t>> staged_;
};

}  // namespace incidentd
