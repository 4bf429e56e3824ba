// The daemon's runs: a start marker, proof of life every few seconds and a clean-stop marker.
// A run that did not stop cleanly is an outage, which the next start records, chained, in the
// timeline of every open incident (docs/reliability.md). Implementations throw StoreError.
#pragma once

#include <cstddef>
#include <optional>

#include "incidentd/time.hpp"

namespace incidentd {

class RunLog {
 public:
  // The daemon was not running from `from` (the last instant it had recorded itself alive: a
  // heartbeat, or a timeline entry after it) to `to` (its next start).
  struct Outage {
    TimePoint from{};
    TimePoint to{};
    std::size_t incidents = 0;  // open incidents whose timeline records it
  };
  virtual ~RunLog() = default;
  // Where an outage goes besides the run log: the timeline of every open incident (a single
  // instance, whose stop stopped their clocks), or nowhere else (a member of a cluster: the
  // other instances kept its partitions' clocks running, and its replica's timelines are the
  // owners', docs/cluster.md).
  enum class OutageEntries { every_open_incident, run_log_only };
  // Records a run starting at `now`. When the run before it did not stop cleanly, appends a
  // daemon_outage entry (from, to) to the timeline of every open incident in the same
  // transaction (unless run_log_only), and returns the outage. Call it before the engine acts
  // on what fell due.
  virtual std::optional<Outage> begin_run(TimePoint now, OutageEntries entries) = 0;
  // This run is alive at `now`: the daemon calls it every few seconds. No-op before begin_run.
  virtual void heartbeat(TimePoint now) = 0;
  // This run stopped cleanly at `now`: the next start records no outage.
  virtual void end_run(TimePoint now) = 0;
};

}  // namespace incidentd
