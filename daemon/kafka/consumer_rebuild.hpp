// [cluster] on, the rule for a fenced consumer (docs/cluster.md, "What fences what"): when the
// group coordinator's broker dies, librdkafka times the group session out itself, rejoins under
// the same group.instance.id, and the new coordinator may then fence the old member, which is
// this same consumer (FENCED_INSTANCE_ID, librdkafka issue #3437). That is not a second process,
// and the pipeline builds its consumer and producer again in place (ConsumerPipeline's rebuild,
// consumer_rebuild.cpp). A fence without a session time-out of its own is another process with
// the same instance_id, a configuration error: the daemon stops, as it always did. FenceRebuilds
// decides which, and bounds the rebuilds.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>

#include "kafka/ingest.hpp"

namespace incidentd {

class FenceRebuilds {
 public:
  using SteadyClock = std::chrono::steady_clock;

  explicit FenceRebuilds(FenceRebuildRules rules) : rules_(rules) {}

  // A fence at `now`, `session_timeout` being when librdkafka last timed its session out
  // (KafkaHealth::last_session_timeout). nullopt: rebuild, and it is counted; otherwise why the
  // daemon must stop instead.
  std::optional<std::string> admit(SteadyClock::time_point now,
                                   std::optional<SteadyClock::time_point> session_timeout);
  // Rebuilds within the window, the one just admitted included.
  std::size_t in_window() const { return rebuilds_.size(); }
  const FenceRebuildRules& rules() const { return rules_; }

 private:
  const FenceRebuildRules rules_;
  std::deque<SteadyClock::time_point> rebuilds_;  // within the window, oldest first
  std::optional<SteadyClock::time_point> last_;   // the last rebuild, however long ago
};

}  // namespace incidentd
