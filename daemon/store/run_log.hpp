// The run-log room: the daemon's runs (table daemon_runs), a start marker, the last instant the
// run knew itself alive and a clean-stop marker; at a start after an unclean stop, the outage
// goes onto the hash chain of every open incident (the RunLog port). Internal to daemon/store.
#pragma once

#include <cstdint>
#include <optional>

#include "incidentd/run_log.hpp"

namespace incidentd {

class Database;
class HashChain;

class RunLogRoom {
 public:
  RunLogRoom(Database& database, HashChain& chain) : database_(database), chain_(chain) {}
  std::optional<RunLog::Outage> begin_run(TimePoint now, RunLog::OutageEntries entries);
  void heartbeat(TimePoint now);
  void end_run(TimePoint now);

 private:
  // The last instant the run before knew itself alive, when it did not stop cleanly.
  std::optional<TimePoint> unclean_stop(TimePoint now);
  // Appends the outage to every open incident's timeline; returns how many.
  std::size_t record_outage(const RunLog::Outage& outage, TimePoint now);

  Database& database_;
  HashChain& chain_;
  std::int64_t run_ = 0;  // this process's row in daemon_runs (begin_run), 0 before
};

}  // namespace incidentd
