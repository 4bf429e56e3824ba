// What a cluster member does at its start about commits its last run made to SQLite and may never
// have written to the state topic (docs/cluster.md, "Commits the topic never got"). Killed
// between a commit and the Kafka transaction that carries its change records, a member's database
// holds changes no replica will ever see, and the next owner acts without them. So, before the
// store opens for the daemon:
//  1. the transactional id of the last run is taken over (init_transactions), which ends any
//     transaction that run left open: from then on the topic's committed records are all there
//     will ever be of it;
//  2. the state topic is read, read_committed, from the replica's stored positions to its end,
//     for this instance's own records: the highest commit number (StateRecord::seq) among them is
//     the last published commit (a transaction carries whole commits, in order);
//  3. the commit journal undoes every later commit, newest first.
// The inputs those commits applied come back by themselves (their Kafka offsets were never
// committed), and their steps fire again under whichever instance owns them; but acknowledgements
// and confirmations that came through this instance's API or SMS replies do not: they are
// returned, to be forwarded to their owner through the inputs topic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "incidentd/config.hpp"
#include "store/commit_journal.hpp"

namespace incidentd {

struct UnpublishedCommits {
  std::size_t published = 0;  // journalled commits found on the topic
  std::int64_t published_through = 0;
  JournalRollback rolled_back;  // the commits that were not, undone
};

// Nothing to do (no [cluster], or a journal with nothing in it): nullopt, without contacting
// Kafka. Otherwise waits for the broker up to `patience`, then throws std::runtime_error (the
// daemon exits 1 and systemd starts it again). Throws StoreError, and KafkaSetupError for a
// configuration librdkafka refuses.
std::optional<UnpublishedCommits> resolve_unpublished_commits(const Config& config,
                                                              Duration patience);

}  // namespace incidentd
