#include "store/hash_chain.hpp"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "incidentd/codec.hpp"
#include "store/chain_hash.hpp"
#include "store/database.hpp"
#include "store/sql.hpp"

namespace incidentd {

void chain_existing_rows(SQLite::Database& db) {
  SQLite::Statement select(db,
                           "SELECT seq, incident_key, at, action, milestone, body FROM timeline "
                           "ORDER BY seq");
  SQLite::Statement update(db, "UPDATE timeline SET prev_hash = ?, hash = ? WHERE seq = ?");
  std::string prev(kGenesisHash);
  while (select.executeStep()) {
    const std::int64_t seq = select.getColumn(0).getInt64();
    const std::string milestone = select.getColumn(4).getString();
    std::string hash = chain_hash(prev, seq, select.getColumn(1).getString(),
                                  select.getColumn(2).getInt64(), select.getColumn(3).getString(),
                                  select.getColumn(4).isNull() ? nullptr : &milestone,
                                  select.getColumn(5).getString());
    update.reset();
    update.bind(1, prev);
    update.bind(2, hash);
    update.bind(3, seq);
    update.exec();
    prev = std::move(hash);
  }
}

// Every write says OR ROLLBACK: a failure ends the whole transaction, which is what a writer
// wants anyway, and SQLite needs no statement journal (docs in engine_store.cpp).
HashChain::HashChain(Database& database)
    : insert_(database.db(),
              "INSERT OR ROLLBACK INTO timeline(seq, incident_key, at, action, milestone, body, "
              "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
      last_row_(database.db(), "SELECT seq, hash FROM timeline ORDER BY seq DESC LIMIT 1") {
  if (database.mode() == Database::Mode::read_write) {
    head_ = {0, std::string(kGenesisHash)};
    load_head();
    // A seq above the last row that AUTOINCREMENT already handed out means rows were removed
    // from the end while we were not running: the next row takes the next seq anyway, so verify
    // shows the gap instead of the chain silently closing over it.
    SQLite::Statement handed_out(database.db(),
                                 "SELECT seq FROM sqlite_sequence WHERE name = 'timeline'");
    if (handed_out.executeStep()) {
      head_.seq = std::max(head_.seq, handed_out.getColumn(0).getInt64());
    }
  }
}

void HashChain::load_head() {
  sql::Use s(last_row_);
  if (s->executeStep()) head_ = {s->getColumn(0).getInt64(), s->getColumn(1).getString()};
}

void HashChain::stage() {
  staged_ = head_;
  // Another writer on the file (a test, a migration tool) may have appended since: chain to its
  // last row. A last row below our head means rows were removed from the end while we ran: keep
  // chaining to what we wrote, so verify sees the gap.
  sql::Use s(last_row_);
  if (s->executeStep() && s->getColumn(0).getInt64() > staged_.seq) {
    staged_ = {s->getColumn(0).getInt64(), s->getColumn(1).getString()};
  }
}

std::string HashChain::append(const Action& a) {
  std::string body = sql::dump(to_json(a, std::chrono::minutes{0}));
  const std::int64_t seq = staged_.seq + 1;
  const std::string* milestone = a.milestone ? &sql::name(*a.milestone) : nullptr;
  std::string hash = chain_hash(staged_.hash, seq, a.incident_key, sql::millis(a.at),
                                sql::name(a.kind), milestone, body);
  sql::Use s(insert_);
  s.integer(1, seq);
  s.text(2, a.incident_key);
  s.instant(3, a.at);
  s.text(4, sql::name(a.kind));
  if (milestone != nullptr) {
    s.text(5, *milestone);
  } else {
    s->bind(5);
  }
  s.text(6, body);
  s.text(7, staged_.hash);
  s.text(8, hash);
  s->exec();
  staged_ = {seq, std::move(hash)};
  return body;
}

void HashChain::committed() {
  head_ = std::move(staged_);
}

}  // namespace incidentd
