// The commit journal room (docs/cluster.md, "Commits the topic never got"): with [cluster] on, each
// commit of the engine and of the dispatcher also writes, in its own SQLite transaction, what
// would undo it: SQLite's session extension records the transaction's changes and inverts them.
// The row's seq numbers the commit; the commit's change records carry it (StateRecord::seq).
// When the replica applier reads this instance's records back from the state topic they are
// published, and the rows up to their seq are forgotten. At a start, what is left and was never
// published is undone, newest first, so the database holds no change the topic lacks (the next
// owner redoes them from the inputs, which were never acknowledged to Kafka). Internal to
// daemon/store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "incidentd/domain.hpp"

struct sqlite3_session;

namespace incidentd {

class Database;

// What undoing the unpublished commits did.
struct JournalRollback {
  std::size_t commits = 0;             // commits undone
  std::size_t conflicts = 0;           // changes passed over: the row was not as the commit left it
  std::vector<std::string> incidents;  // whose snapshots were undone (deadlines re-derived)
  // Inputs through this instance's API or SMS replies that the undone commits had applied: the
  // topic never got them and no redelivery brings them back.
  std::vector<Acknowledgement> acknowledgements;
  std::vector<Confirmation> confirmations;
};

class CommitJournal {
 public:
  explicit CommitJournal(Database& database) : database_(database) {}
  CommitJournal(const CommitJournal&) = delete;
  CommitJournal& operator=(const CommitJournal&) = delete;

  // Off until enabled (one instance keeps no journal).
  void enable() { enabled_ = true; }
  bool enabled() const { return enabled_; }

  // Records the changes of a write transaction of this connection: begin it after the
  // transaction's BEGIN, finish() it before its COMMIT. Does nothing when the journal is off.
  class Capture {
   public:
    explicit Capture(CommitJournal& journal);
    ~Capture();
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;
    // Writes the undo of what was captured; the commit's seq (0 when the journal is off).
    std::int64_t finish();

   private:
    CommitJournal& journal_;
    sqlite3_session* session_ = nullptr;
  };

  // The seq of the last commit journalled on this connection (0: none yet).
  std::int64_t last_seq() const { return last_seq_; }

  // The instance's records up to `seq` are on the topic: their undo is no longer needed.
  void forget_through(std::int64_t seq);
  // Commits journalled and not forgotten, and the highest seq among them.
  struct Pending {
    std::size_t commits = 0;
    std::int64_t first = 0;
    std::int64_t last = 0;
  };
  Pending pending();
  // Undoes, newest first, every commit after `published_through`, and forgets all, in one
  // transaction, inside which `rederive` re-derives what the session cannot follow (the
  // deadlines rows) for the incidents whose snapshots were undone.
  JournalRollback roll_back_after(
      std::int64_t published_through,
      const std::function<void(const std::vector<std::string>&)>& rederive);

 private:
  Database& database_;
  bool enabled_ = false;
  std::int64_t last_seq_ = 0;
};

}  // namespace incidentd
