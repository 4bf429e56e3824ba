// Is an existing database file whole enough to start on? The daemon asks before it opens the
// file for writing, because SQLite alone would not say: it opens a zero-length file as a new,
// empty database (a truncated database would become a silent fresh start that has forgotten
// every open incident), and it reads a truncated file or a damaged page only when a query
// reaches it, which may be hours later. So: a missing file is a new database; an empty one is
// refused unless the operator asks for an empty start (--init); the header must be SQLite's and
// its page count must fit the file (when no WAL holds later pages); and `PRAGMA quick_check`
// must answer "ok" (about 2 s cold and 0.2 s warm on a 113 MB database here,
// docs/reliability.md). Read-only: nothing is written to the file. A lock held by another
// process past a 5 s wait is not damage: the check passes and the store's open decides.
#pragma once

#include <optional>
#include <string>

namespace incidentd {

struct DatabaseFileProblem {
  // One sentence naming the file, what is wrong and what to do.
  std::string message;
};

// nullopt: the file is absent (a new database is made) or looks whole. `allow_empty`: a
// zero-length file is a new database too.
std::optional<DatabaseFileProblem> check_database_file(const std::string& path, bool allow_empty);

}  // namespace incidentd
