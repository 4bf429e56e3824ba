// incidentctl check-db: the database agrees with itself. Each check reads one consistent
// snapshot of the file (one read transaction) and counts what it checked and what failed:
//   snapshots  every incident's stored state decodes, matches its row's columns, and agrees with
//              its timeline (open or closed, level, milestones met)
//   outbox     no outbox row whose incident is missing
//   deadlines  no pending deadline of a closed or missing incident
//   processed  every block of processed ids decodes, no id twice, counts add up
//   chain      the timeline's hash chain verifies (report/verify.hpp)
// Never writes; the rows come through the store's ConsistencyRows port, which runs the SQL.
// Problems are listed (the first few per check) for the operator.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "incidentd/consistency_rows.hpp"
#include "incidentd/timeline_queries.hpp"

namespace incidentd::report {

struct DbCheck {
  std::string name;
  std::size_t checked = 0;  // rows or incidents looked at
  std::size_t failed = 0;
  std::vector<std::string> problems;  // the first kMaxProblems, one sentence each
  bool ok() const { return failed == 0; }
};

struct DbCheckResult {
  std::string database;
  std::vector<DbCheck> checks;
  bool ok() const;
};

inline constexpr std::size_t kMaxProblems = 10;

// The checks over the store's ports (`database` names the file in the result). Throws StoreError.
DbCheckResult check_database(ConsistencyRows& rows, TimelineQueries& timeline,
                             const std::string& database);
// Opens the file read-only and checks it. Throws StoreError when the file cannot be opened at
// this build's schema version.
DbCheckResult check_database(const std::string& path);

std::string render_db_check_text(const DbCheckResult& result);
std::string render_db_check_json(const DbCheckResult& result);

}  // namespace incidentd::report
