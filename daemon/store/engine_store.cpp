#include "store/engine_store.hpp"

#include <algorithm>
#include <exception>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "incidentd/codec.hpp"
#include "incidentd/state_codec.hpp"
#include "incidentd/timeline_rows.hpp"
#include "store/commit_journal.hpp"
#include "store/database.hpp"
#include "store/hash_chain.hpp"
#include "store/incident_figures_room.hpp"
#include "store/outbox.hpp"
#include "store/sql.hpp"

namespace incidentd {
namespace {

using nlohmann::json;
using sql::millis;
using sql::name;
using sql::Use;
using DeadlineRow = EngineStore::DeadlineRow;

// The rows the deadlines table must hold for this snapshot, and a fingerprint of them.
std::uint64_t pending_deadlines(const IncidentState& st, std::vector<DeadlineRow>& rows) {
  rows.clear();
  std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a
  const auto mix = [&hash](std::int64_t v) {
    for (int i = 0; i < 8; ++i) {
      hash ^= static_cast<std::uint64_t>(v >> (8 * i)) & 0xffU;
      hash *= 1099511628211ULL;
    }
  };
  if (st.closed) return hash;
  for (const auto& ms : st.milestones) {
    if (!ms.armed || ms.met_at) continue;
    for (std::size_t i = ms.next_step; i < ms.steps.size(); ++i) {
      const ScheduledStep& step = ms.steps[i];
      rows.push_back(
          {&name(ms.milestone), ms.round, step.at, &name(step.action), step.level, step.due});
      mix(static_cast<std::int64_t>(ms.milestone));
      mix(ms.round);
      mix(millis(step.at));
      mix(static_cast<std::int64_t>(step.action));
      mix(step.level);
      mix(millis(step.due));
    }
  }
  return hash;
}

std::string insert_deadlines_sql(std::size_t rows) {
  std::string sql =
      "INSERT OR ROLLBACK INTO deadlines(incident_key, milestone, round, at, action, level, due) "
      "VALUES ";
  for (std::size_t i = 0; i < rows; ++i)
    sql += i == 0 ? "(?, ?, ?, ?, ?, ?, ?)" : ", (?, ?, ?, ?, ?, ?, ?)";
  return sql;
}

// Both incident statements number their parameters alike. Returns the rows changed.
int exec_incident(SQLite::Statement& statement, const IncidentState& st, const std::string& state,
                  std::int64_t seq) {
  Use s(statement);
  s.text(1, st.key);
  s.text(2, name(st.level));
  s.integer(3, st.drill ? 1 : 0);
  s.integer(4, st.closed ? 1 : 0);
  s.instant(5, st.opened_at);
  s.instant(6, st.clock_start);
  s.instant(7, st.closed_at);
  s.text(8, st.title);
  s.text(9, st.lead_unit);
  s.text(10, state);
  s.integer(11, seq);
  return s->exec();
}

}  // namespace

// Every write in commit() says OR ROLLBACK (the outbox: OR IGNORE) and the one foreign key is
// deferred: a failure then ends the whole transaction, which is what commit() wants anyway, and
// SQLite needs no statement journal. With the default ABORT it copies every page a statement
// touches so it can undo that statement alone; that was a third of the commit's CPU.
EngineStore::Statements::Statements(SQLite::Database& db)
    : upsert_incident(db,
                      "INSERT OR ROLLBACK INTO incidents(incident_key, level, drill, closed, "
                      "opened_at, clock_start, closed_at, title, lead_unit, state, updated_seq) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT(incident_key) DO UPDATE SET level = excluded.level, "
                      "drill = excluded.drill, closed = excluded.closed, "
                      "opened_at = excluded.opened_at, clock_start = excluded.clock_start, "
                      "closed_at = excluded.closed_at, title = excluded.title, "
                      "lead_unit = excluded.lead_unit, state = excluded.state, "
                      "updated_seq = excluded.updated_seq"),
      update_incident(db,
                      "UPDATE OR ROLLBACK incidents SET level = ?2, drill = ?3, "
                      "opened_at = ?5, clock_start = ?6, closed_at = ?7, title = ?8, "
                      "lead_unit = ?9, state = ?10, updated_seq = ?11 "
                      "WHERE incident_key = ?1 AND closed = ?4"),
      delete_deadlines(db, "DELETE FROM deadlines WHERE incident_key = ?"),
      insert_processed(db, "INSERT INTO processed(ids, block) VALUES (?, ?)"),
      insert_confirmation(db,
                          "INSERT OR ROLLBACK INTO confirmations(confirmation_id, incident_key, "
                          "milestone, unit, released_at, channel, url, speaker, via) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      insert_ack(db,
                 "INSERT OR ROLLBACK INTO acknowledgements(incident_key, recipient, at, via) "
                 "VALUES (?, ?, ?, ?)"),
      select_open(db,
                  "SELECT incident_key, state FROM incidents WHERE closed = 0 "
                  "ORDER BY incident_key"),
      select_incident(db, "SELECT state FROM incidents WHERE incident_key = ?"),
      select_processed(db, "SELECT block FROM processed ORDER BY seq"),
      data_version(db, "PRAGMA data_version"),
      select_timeline(db,
                      "SELECT seq, incident_key, at, action, milestone, body FROM timeline "
                      "ORDER BY seq"),
      select_incident_timeline(
          db,
          "SELECT seq, incident_key, at, action, milestone, body FROM timeline "
          "WHERE incident_key = ? ORDER BY seq") {}

EngineStore::EngineStore(Database& database, HashChain& chain, OutboxRoom& outbox,
                         IncidentFiguresRoom& figures, CommitJournal& journal,
                         ProcessedIdSet processed_ids)
    : database_(database),
      chain_(chain),
      outbox_(outbox),
      figures_(figures),
      journal_(journal),
      statements_(database.db()) {
  if (database.mode() == Database::Mode::read_write) {
    if (processed_ids == ProcessedIdSet::kept) {
      processed_ids_.emplace();
      processed_ids_->rebuild(database.db(), "open", database.path());
    }
    data_version_ = read_data_version();
  }
}

void EngineStore::write_incident(const IncidentState& st, std::int64_t seq) {
  const std::string state = state_to_json_text(st);
  // An incident that stays open (or closed) is updated in place: leaving `closed` alone spares
  // SQLite the partial index on it, which the upsert rewrites every time. A new incident, or one
  // that opens or closes, changes no row there and goes through the upsert.
  if (exec_incident(statements_.update_incident, st, state, seq) == 0) {
    exec_incident(statements_.upsert_incident, st, state, seq);
  }
  write_deadlines(st);
}

// Most snapshots (a re-send, an acknowledgement, a confirmation) leave the pending steps as they
// were: those rewrite nothing. The fingerprints of what is in the table are kept for the open
// incidents this connection wrote (one writer per database); an incident not among them is
// rewritten.
void EngineStore::write_deadlines(const IncidentState& st) {
  const std::uint64_t fingerprint = pending_deadlines(st, rows_);
  if (auto it = staged_deadlines_.find(st.key); it != staged_deadlines_.end()) {
    if (it->second == fingerprint) return;
  } else if (auto w = written_deadlines_.find(st.key);
             w != written_deadlines_.end() && w->second == fingerprint) {
    return;
  }
  {
    Use s(statements_.delete_deadlines);
    s.text(1, st.key);
    s->exec();
  }
  for (std::size_t first = 0; first < rows_.size(); first += kDeadlinesPerInsert) {
    const std::size_t n = std::min(kDeadlinesPerInsert, rows_.size() - first);
    auto& statement = statements_.insert_deadlines[n - 1];
    if (!statement) statement.emplace(database_.db(), insert_deadlines_sql(n));
    Use s(*statement);
    for (std::size_t i = 0; i < n; ++i) {
      const DeadlineRow& row = rows_[first + i];
      const int base = static_cast<int>(7 * i);
      s.text(base + 1, st.key);
      s.text(base + 2, *row.milestone);
      s.integer(base + 3, row.round);
      s.instant(base + 4, row.at);
      s.text(base + 5, *row.action);
      s.integer(base + 6, row.level);
      s.instant(base + 7, row.due);
    }
    s->exec();
  }
  staged_deadlines_[st.key] = st.closed ? std::nullopt : std::optional(fingerprint);
}

void EngineStore::rederive_deadlines(const std::vector<std::string>& incident_keys) {
  staged_deadlines_.clear();
  written_deadlines_.clear();
  for (const auto& key : incident_keys) {
    if (auto st = load_incident(key)) {
      write_deadlines(*st);
      continue;
    }
    Use s(statements_.delete_deadlines);
    s.text(1, key);
    s->exec();
  }
  staged_deadlines_.clear();
}

// One row for all of a commit's ids.
void EngineStore::write_processed(const std::vector<ProcessedId>& processed) {
  if (processed.empty()) return;
  const std::string block = encode_processed(processed);
  Use s(statements_.insert_processed);
  s.integer(1, static_cast<std::int64_t>(processed.size()));
  s->bindNoCopy(2, block.data(), static_cast<int>(block.size()));
  s->exec();
  staged_block_ = database_.db().getLastInsertRowid();
}

// An id is processed once: one already in the table, or twice in `c`, fails the commit. The ids
// are added to the set here; `added` counts them, for taking them back if the commit fails.
void EngineStore::add_new_ids(const Changeset& c, std::size_t& added) {
  if (!processed_ids_) return;
  for (const auto& p : c.processed) {
    if (!processed_ids_->add(p.id)) {
      throw StoreError("commit (" + database_.path() + "): id '" + p.id + "' is already processed");
    }
    ++added;
  }
}

void EngineStore::remember_processed(const std::vector<ProcessedId>& ids) {
  if (!processed_ids_) return;
  for (const auto& p : ids) processed_ids_->add(p.id);  // false: known already, which is fine
}

void EngineStore::write_confirmation(const Confirmation& c) {
  Use s(statements_.insert_confirmation);
  s.text(1, c.confirmation_id);
  s.text(2, c.incident_key);
  s.text(3, name(c.milestone));
  s.text(4, c.unit);
  s.instant(5, c.released_at);
  s.text(6, c.channel);
  s.text(7, c.url);
  s.text(8, c.speaker);
  s.text(9, c.via);
  s->exec();
}

void EngineStore::write_ack(const Acknowledgement& a) {
  Use s(statements_.insert_ack);
  s.text(1, a.incident_key);
  s.text(2, a.recipient);
  s.instant(3, a.at);
  s.text(4, a.via);
  s->exec();
}

void EngineStore::commit(const Changeset& changes) {
  if (changes.empty()) return;  // no transaction, no fsync
  std::size_t added = 0;
  try {
    guarded_write(database_, "commit", [&] { commit(changes, added); });
  } catch (...) {
    for (std::size_t i = 0; i < added; ++i) processed_ids_->remove(changes.processed[i].id);
    throw;
  }
}

void EngineStore::commit(const Changeset& c, std::size_t& added) {
  staged_deadlines_.clear();
  staged_block_ = 0;
  // IMMEDIATE takes the write lock up front, so a reader never makes us fail half-way.
  SQLite::Transaction tx(database_.db(), SQLite::TransactionBehavior::IMMEDIATE);
  CommitJournal::Capture undo(journal_);
  chain_.stage();
  notice_other_writers();
  add_new_ids(c, added);
  write_changes(c);
  undo.finish();
  tx.commit();
  chain_.committed();
  if (processed_ids_ && staged_block_ != 0) processed_ids_->block_committed(staged_block_);
  deadlines_committed();
  figures_.committed();
}

// Inside the write lock. Another connection (the replica applier's, a tool) committed since our
// last commit: its processed ids join the set (only its new blocks are read), and what this
// connection remembers of the deadlines and figures rows it wrote may be stale now (the replica
// may have written the same incident after its partition moved), so it is forgotten.
void EngineStore::notice_other_writers() {
  if (database_.mode() != Database::Mode::read_write) return;
  const std::int64_t version = read_data_version();
  if (version == data_version_) return;
  data_version_ = version;
  if (processed_ids_) processed_ids_->catch_up(database_.db(), "commit", database_.path());
  written_deadlines_.clear();
  figures_.forget_written();
}

void EngineStore::write_changes(const Changeset& c) {
  outbox_.chain_actions(c.actions);
  const std::int64_t seq = chain_.staged_seq();
  for (const auto& st : c.incidents) write_incident(st, seq);
  figures_.write(c);
  write_processed(c.processed);
  for (const auto& conf : c.confirmations) write_confirmation(conf);
  for (const auto& ack : c.acknowledgements) write_ack(ack);
}

void EngineStore::begin_replicated() {
  staged_deadlines_.clear();
  notice_other_writers();
}

void EngineStore::write_replicated(const Changeset& c) {
  write_changes(c);
}

void EngineStore::replicated_committed() {
  deadlines_committed();
  figures_.committed();
}

// Only now does the table hold what was staged.
void EngineStore::deadlines_committed() {
  for (auto& [key, fingerprint] : staged_deadlines_) {
    if (fingerprint) {
      written_deadlines_[key] = *fingerprint;
    } else {
      written_deadlines_.erase(key);
    }
  }
  staged_deadlines_.clear();
}

// Changes when another connection commits; our own commits leave it as it is.
std::int64_t EngineStore::read_data_version() {
  Use s(statements_.data_version);
  s->executeStep();
  return s->getColumn(0).getInt64();
}

IncidentState EngineStore::decode_state(std::string_view operation, const std::string& key,
                                        const char* text) const {
  if (auto fast = state_from_json_text_fast(text)) return std::move(*fast);
  try {
    return state_from_json(json::parse(text));
  } catch (const json::exception& e) {
    throw StoreError(std::string(operation) + " (" + database_.path() +
                     "): stored state of incident '" + key + "' is unreadable: " + e.what());
  }
}

std::vector<IncidentState> EngineStore::load_open_incidents() {
  // At a start with many open incidents, decoding their snapshots (JSON) is most of the engine's
  // load: the texts are read first, then decoded half on this thread and half on another.
  constexpr std::size_t kDecodeAloneBelow = 2000;
  struct Stored {
    std::string key;
    std::string state;
  };
  std::vector<Stored> stored = guarded(database_, "load_open_incidents", [&] {
    std::vector<Stored> rows;
    Use s(statements_.select_open);
    while (s->executeStep()) {
      rows.push_back({s->getColumn(0).getString(), s->getColumn(1).getString()});
    }
    return rows;
  });
  std::vector<IncidentState> out(stored.size());
  const auto decode = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      out[i] = decode_state("load_open_incidents", stored[i].key, stored[i].state.c_str());
      std::string().swap(stored[i].state);  // the text is no longer needed
    }
  };
  if (stored.size() < kDecodeAloneBelow) {
    decode(0, stored.size());
    return out;
  }
  const std::size_t half = stored.size() / 2;
  std::exception_ptr failed;
  std::thread other([&] {
    try {
      decode(half, stored.size());
    } catch (...) {
      failed = std::current_exception();
    }
  });
  try {
    decode(0, half);
  } catch (...) {
    other.join();
    throw;
  }
  other.join();
  if (failed) std::rethrow_exception(failed);
  return out;
}

std::vector<IncidentState> EngineStore::load_all_incidents() {
  return guarded(database_, "load_all_incidents", [&] {
    std::vector<IncidentState> out;
    // For tools (incidentctl list --all), not the daemon's path: no prepared statement.
    SQLite::Statement s(database_.db(),
                        "SELECT incident_key, state FROM incidents ORDER BY incident_key");
    while (s.executeStep()) {
      out.push_back(
          decode_state("load_all_incidents", s.getColumn(0).getString(), s.getColumn(1).getText()));
    }
    return out;
  });
}

std::optional<IncidentState> EngineStore::load_incident(const std::string& key) {
  return guarded(database_, "load_incident", [&]() -> std::optional<IncidentState> {
    Use s(statements_.select_incident);
    s.text(1, key);
    if (!s->executeStep()) return std::nullopt;
    return decode_state("load_incident", key, s->getColumn(0).getText());
  });
}

std::optional<Confirmation> EngineStore::find_confirmation(const std::string& incident_key,
                                                           const std::string& unit,
                                                           const std::string& confirmation_id) {
  return guarded(database_, "find_confirmation", [&]() -> std::optional<Confirmation> {
    SQLite::Statement s(database_.db(),
                        "SELECT milestone, released_at, channel, url, speaker, via "
                        "FROM confirmations "
                        "WHERE incident_key = ? AND unit = ? AND confirmation_id = ?");
    s.bind(1, incident_key);
    s.bind(2, unit);
    s.bind(3, confirmation_id);
    if (!s.executeStep()) return std::nullopt;
    Confirmation c;
    c.confirmation_id = confirmation_id;
    c.incident_key = incident_key;
    c.unit = unit;
    const std::string milestone = s.getColumn(0).getString();
    const auto m = parse_milestone(milestone);
    if (!m) {
      throw StoreError("find_confirmation (" + database_.path() + "): unknown milestone '" +
                       milestone + "'");
    }
    c.milestone = *m;
    c.released_at = sql::instant_of(s.getColumn(1).getInt64());
    c.channel = s.getColumn(2).getString();
    c.url = s.getColumn(3).getString();
    c.speaker = s.getColumn(4).getString();
    c.via = s.getColumn(5).getString();
    return c;
  });
}

bool EngineStore::is_processed(const std::string& id) {
  if (processed_ids_) return processed_ids_->contains(id);
  return guarded(database_, "is_processed", [&] {
    Use s(statements_.select_processed);  // read-only: a scan, for tools
    bool found = false;
    while (!found && s->executeStep()) {
      visit_processed_ids(s->getColumn(0), "is_processed", database_.path(),
                          [&](std::string_view seen) { found = found || seen == id; });
    }
    return found;
  });
}

std::vector<Action> EngineStore::timeline(const std::string& incident_key) {
  return guarded(database_, "timeline", [&] {
    std::vector<Action> out;
    auto& statement =
        incident_key.empty() ? statements_.select_timeline : statements_.select_incident_timeline;
    Use s(statement);
    if (!incident_key.empty()) s.text(1, incident_key);
    while (s->executeStep()) {
      const std::int64_t seq = s->getColumn(0).getInt64();
      std::string why;
      try {
        auto parsed =
            timeline_actions(json::parse(s->getColumn(5).getText()), sql::timeline_columns(*s, 1));
        if (parsed) {
          for (Action& a : *parsed.value) out.push_back(std::move(a));
          continue;
        }
        why = parsed.error;
      } catch (const json::exception& e) {
        why = e.what();
      }
      throw StoreError("timeline (" + database_.path() + "): entry " + std::to_string(seq) +
                       " is unreadable: " + why);
    }
    return out;
  });
}

}  // namespace incidentd
