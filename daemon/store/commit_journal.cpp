// The commit journal (commit_journal.hpp) on SQLite's session extension: a session records the
// changes of one transaction, sqlite3changeset_invert() turns them into their undo, and
// sqlite3changeset_apply() plays an undo back.
//
// The session extension's declarations are only visible with these two defined before the first
// inclusion of sqlite3.h; Debian's libsqlite3 is built with both.
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>

#include "store/commit_journal.hpp"

#include <array>
#include <cstring>
#include <limits>
#include <set>
#include <stdexcept>

#include "store/database.hpp"
#include "store/sql.hpp"

namespace incidentd {

namespace {

// The tables a commit of the engine or the dispatcher writes and the session can follow (it
// follows only tables with a primary key). The deadlines rows are derived from the snapshot and
// re-derived after an undo; the journal's own table is not one of them.
constexpr std::array<const char*, 7> kJournalledTables = {
    "incidents",     "timeline",         "outbox",          "processed",
    "confirmations", "acknowledgements", "incident_figures"};

struct SqliteBuffer {
  void* data = nullptr;
  ~SqliteBuffer() { sqlite3_free(data); }
};

void check(int rc, sqlite3* db, const char* what) {
  if (rc == SQLITE_OK) return;
  throw std::runtime_error(std::string("commit journal: ") + what + ": " + sqlite3_errmsg(db) +
                           " (" + sqlite3_errstr(rc) + ")");
}

std::string text_of(sqlite3_value* v) {
  const auto* p = v == nullptr ? nullptr : sqlite3_value_text(v);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p));
}

std::int64_t integer_of(sqlite3_value* v) {
  return v == nullptr ? 0 : sqlite3_value_int64(v);
}

// Looks through one undo for what it takes away that matters beyond this file.
class UndoReader {
 public:
  explicit UndoReader(JournalRollback& out) : out_(out) {}

  void read(const void* undo, int size) {
    sqlite3_changeset_iter* it = nullptr;
    if (sqlite3changeset_start(&it, size, const_cast<void*>(undo)) != SQLITE_OK) return;
    while (sqlite3changeset_next(it) == SQLITE_ROW) note(it);
    sqlite3changeset_finalize(it);
  }

  std::set<std::string> incidents;

 private:
  static sqlite3_value* old_value(sqlite3_changeset_iter* it, int column) {
    sqlite3_value* v = nullptr;
    return sqlite3changeset_old(it, column, &v) == SQLITE_OK ? v : nullptr;
  }
  static sqlite3_value* new_value(sqlite3_changeset_iter* it, int column) {
    sqlite3_value* v = nullptr;
    return sqlite3changeset_new(it, column, &v) == SQLITE_OK ? v : nullptr;
  }

  void note(sqlite3_changeset_iter* it) {
    const char* table = nullptr;
    int columns = 0;
    int op = 0;
    int indirect = 0;
    if (sqlite3changeset_op(it, &table, &columns, &op, &indirect) != SQLITE_OK) return;
    const std::string_view t(table);
    if (t == "incidents") {
      // The key is the first column, in every operation (a delete's old, an insert's new).
      sqlite3_value* key = op == SQLITE_INSERT ? new_value(it, 0) : old_value(it, 0);
      incidents.insert(text_of(key));
    } else if (op == SQLITE_DELETE && t == "acknowledgements" && columns >= 5) {
      out_.acknowledgements.push_back({text_of(old_value(it, 1)), text_of(old_value(it, 2)),
                                       sql::instant_of(integer_of(old_value(it, 3))),
                                       text_of(old_value(it, 4))});
    } else if (op == SQLITE_DELETE && t == "confirmations" && columns >= 9) {
      Confirmation c;
      c.confirmation_id = text_of(old_value(it, 0));
      c.incident_key = text_of(old_value(it, 1));
      c.milestone = parse_milestone(text_of(old_value(it, 2))).value_or(Milestone::first_release);
      c.unit = text_of(old_value(it, 3));
      c.released_at = sql::instant_of(integer_of(old_value(it, 4)));
      c.channel = text_of(old_value(it, 5));
      c.url = text_of(old_value(it, 6));
      c.speaker = text_of(old_value(it, 7));
      c.via = text_of(old_value(it, 8));
      out_.confirmations.push_back(std::move(c));
    }
  }

  JournalRollback& out_;
};

// An undo is played back onto the rows its commit left. A row another writer changed since
// (the replica applier, when the incident's partition had moved) is left as that writer left
// it: counted, not forced.
int on_conflict(void* conflicts, int /*kind*/, sqlite3_changeset_iter* /*it*/) {
  ++*static_cast<std::size_t*>(conflicts);
  return SQLITE_CHANGESET_OMIT;
}

}  // namespace

CommitJournal::Capture::Capture(CommitJournal& journal) : journal_(journal) {
  if (!journal_.enabled_) return;
  sqlite3* db = journal_.database_.db().getHandle();
  check(sqlite3session_create(db, "main", &session_), db, "sqlite3session_create");
  for (const char* table : kJournalledTables) {
    check(sqlite3session_attach(session_, table), db, "sqlite3session_attach");
  }
}

CommitJournal::Capture::~Capture() {
  if (session_ != nullptr) sqlite3session_delete(session_);
}

std::int64_t CommitJournal::Capture::finish() {
  if (session_ == nullptr) return 0;
  sqlite3* db = journal_.database_.db().getHandle();
  int size = 0;
  SqliteBuffer changes;
  check(sqlite3session_changeset(session_, &size, &changes.data), db, "sqlite3session_changeset");
  int undo_size = 0;
  SqliteBuffer undo;
  if (size > 0) {
    check(sqlite3changeset_invert(size, changes.data, &undo_size, &undo.data), db,
          "sqlite3changeset_invert");
  }
  SQLite::Statement insert(journal_.database_.db(), "INSERT INTO commit_journal(undo) VALUES (?)");
  insert.bindNoCopy(1, undo.data == nullptr ? "" : undo.data, undo_size);
  insert.exec();
  journal_.last_seq_ = journal_.database_.db().getLastInsertRowid();
  return journal_.last_seq_;
}

void CommitJournal::forget_through(std::int64_t seq) {
  if (seq <= 0) return;
  SQLite::Statement forget(database_.db(), "DELETE FROM commit_journal WHERE seq <= ?");
  forget.bind(1, static_cast<std::int64_t>(seq));
  forget.exec();
}

CommitJournal::Pending CommitJournal::pending() {
  SQLite::Statement q(database_.db(),
                      "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) "
                      "FROM commit_journal");
  q.executeStep();
  return {static_cast<std::size_t>(q.getColumn(0).getInt64()), q.getColumn(1).getInt64(),
          q.getColumn(2).getInt64()};
}

JournalRollback CommitJournal::roll_back_after(
    std::int64_t published_through,
    const std::function<void(const std::vector<std::string>&)>& rederive) {
  JournalRollback out;
  sqlite3* db = database_.db().getHandle();
  SQLite::Transaction tx(database_.db(), SQLite::TransactionBehavior::IMMEDIATE);
  UndoReader reader(out);
  {
    SQLite::Statement newest_first(
        database_.db(), "SELECT undo FROM commit_journal WHERE seq > ? ORDER BY seq DESC");
    newest_first.bind(1, static_cast<std::int64_t>(published_through));
    while (newest_first.executeStep()) {
      const auto column = newest_first.getColumn(0);
      const int size = column.getBytes();
      ++out.commits;
      if (size == 0) continue;
      // sqlite3changeset_apply() reads the buffer as it goes: a copy the statement cannot move.
      std::string undo(static_cast<const char*>(column.getBlob()), static_cast<std::size_t>(size));
      reader.read(undo.data(), size);
      check(sqlite3changeset_apply(db, size, undo.data(), nullptr, on_conflict, &out.conflicts), db,
            "sqlite3changeset_apply");
    }
  }
  forget_through(std::numeric_limits<std::int64_t>::max());
  out.incidents.assign(reader.incidents.begin(), reader.incidents.end());
  if (rederive) rederive(out.incidents);
  tx.commit();
  return out;
}

}  // namespace incidentd
