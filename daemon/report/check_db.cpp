#include "report/check_db.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include "incidentd/codec.hpp"
#include "incidentd/state_codec.hpp"
#include "report/verify.hpp"
#include "store/processed_ids.hpp"
#include "store/sqlite_store.hpp"

namespace incidentd::report {

namespace {

using nlohmann::json;

void fail(DbCheck& check, std::string problem) {
  ++check.failed;
  if (check.problems.size() < kMaxProblems) check.problems.push_back(std::move(problem));
}

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// What an incident's timeline says about the state it must have reached.
struct TimelineFacts {
  bool opened = false;
  bool closed = false;
  std::optional<Level> level;  // of the last incident_opened / level_changed
  // (milestone, round) -> released_at of each milestone_met; round 0 unless follow_up
  std::map<std::pair<Milestone, int>, std::optional<TimePoint>> met;
};

std::map<std::string, TimelineFacts> timeline_facts(SQLite::Database& db, DbCheck& check) {
  std::map<std::string, TimelineFacts> facts;
  SQLite::Statement rows(db,
                         "SELECT seq, incident_key, body FROM timeline WHERE action IN "
                         "('incident_opened', 'level_changed', 'incident_closed', "
                         "'milestone_met') ORDER BY seq");
  while (rows.executeStep()) {
    const std::int64_t seq = rows.getColumn(0).getInt64();
    const std::string key = rows.getColumn(1).getString();
    const auto parsed =
        action_from_json(json::parse(rows.getColumn(2).getString(), nullptr, false));
    if (!parsed) {
      fail(check, "timeline entry " + std::to_string(seq) + " of " + in_quotes(key) +
                      " is unreadable: " + parsed.error);
      continue;
    }
    const Action& a = *parsed.value;
    TimelineFacts& f = facts[key];
    switch (a.kind) {
      case ActionKind::incident_opened:
        f.opened = true;
        f.level = a.incident_level;
        break;
      case ActionKind::level_changed:
        f.level = a.incident_level;
        break;
      case ActionKind::incident_closed:
        f.closed = true;
        break;
      case ActionKind::milestone_met:
        if (a.milestone) {
          f.met[{*a.milestone, *a.milestone == Milestone::follow_up ? a.round : 0}] = a.released_at;
        }
        break;
      default:
        break;
    }
  }
  return facts;
}

DbCheck check_snapshots(SQLite::Database& db) {
  DbCheck check;
  check.name = "snapshots";
  const std::map<std::string, TimelineFacts> facts = timeline_facts(db, check);
  SQLite::Statement rows(db, "SELECT incident_key, level, closed, state FROM incidents");
  while (rows.executeStep()) {
    ++check.checked;
    const std::string key = rows.getColumn(0).getString();
    const std::string who = "incident " + in_quotes(key);
    IncidentState st;
    try {
      st = state_from_json(json::parse(rows.getColumn(3).getString()));
    } catch (const json::exception& e) {
      fail(check, who + ": its stored state does not decode: " + e.what());
      continue;
    }
    if (st.key != key) fail(check, who + ": its stored state is of " + in_quotes(st.key));
    if (rows.getColumn(1).getString() != to_string(st.level) ||
        (rows.getColumn(2).getInt() != 0) != st.closed) {
      fail(check, who + ": the row's level or closed column differs from its stored state");
    }
    const auto found = facts.find(key);
    if (found == facts.end() || !found->second.opened) {
      fail(check, who + ": no incident_opened in its timeline");
      continue;
    }
    const TimelineFacts& f = found->second;
    if (f.closed != st.closed) {
      fail(check, who + (st.closed ? ": closed, but its timeline has no incident_closed"
                                   : ": open, but its timeline closed it"));
    }
    if (f.level && *f.level != st.level) {
      fail(check, who + ": level " + std::string(to_string(st.level)) + ", but its timeline says " +
                      std::string(to_string(*f.level)));
    }
    for (const MilestoneState& ms : st.milestones) {
      const int round = ms.milestone == Milestone::follow_up ? ms.round : 0;
      const auto met = f.met.find({ms.milestone, round});
      std::string what = who;
      what += ": ";
      what += to_string(ms.milestone);
      if (round > 0) what += " round " + std::to_string(round);
      if (ms.met_at && (met == f.met.end() || met->second != ms.met_at)) {
        fail(check, what + " is met in its state but not so in its timeline");
      }
      // A follow-up round the state has moved past is met in the timeline only.
      if (!ms.met_at && met != f.met.end() && ms.milestone != Milestone::follow_up) {
        fail(check, what + " is met in its timeline but not in its state");
      }
    }
  }
  SQLite::Statement exists(db, "SELECT 1 FROM incidents WHERE incident_key = ?");
  for (const auto& entry : facts) {
    const std::string& key = entry.first;
    exists.reset();
    exists.bind(1, key);
    if (!exists.executeStep()) {
      fail(check, "incident " + in_quotes(key) + ": in the timeline but has no stored state");
    }
  }
  return check;
}

DbCheck check_outbox(SQLite::Database& db) {
  DbCheck check;
  check.name = "outbox";
  check.checked = static_cast<std::size_t>(db.execAndGet("SELECT COUNT(*) FROM outbox").getInt64());
  SQLite::Statement orphans(db,
                            "SELECT notification_id, incident_key FROM outbox o WHERE NOT EXISTS "
                            "(SELECT 1 FROM incidents i WHERE i.incident_key = o.incident_key)");
  while (orphans.executeStep()) {
    fail(check, "notification " + in_quotes(orphans.getColumn(0).getString()) + " is of incident " +
                    in_quotes(orphans.getColumn(1).getString()) + ", which is not in the database");
  }
  return check;
}

DbCheck check_deadlines(SQLite::Database& db) {
  DbCheck check;
  check.name = "deadlines";
  check.checked =
      static_cast<std::size_t>(db.execAndGet("SELECT COUNT(*) FROM deadlines").getInt64());
  SQLite::Statement stale(db,
                          "SELECT d.incident_key, d.milestone, d.action, i.incident_key IS NULL "
                          "FROM deadlines d LEFT JOIN incidents i ON i.incident_key = "
                          "d.incident_key WHERE i.incident_key IS NULL OR i.closed != 0");
  while (stale.executeStep()) {
    fail(check, "a pending " + stale.getColumn(2).getString() + " of " +
                    stale.getColumn(1).getString() + " for " +
                    (stale.getColumn(3).getInt() != 0 ? "missing" : "closed") + " incident " +
                    in_quotes(stale.getColumn(0).getString()));
  }
  return check;
}

DbCheck check_processed(SQLite::Database& db) {
  DbCheck check;
  check.name = "processed";
  std::unordered_set<std::string> seen;
  SQLite::Statement blocks(db, "SELECT seq, ids, block FROM processed ORDER BY seq");
  while (blocks.executeStep()) {
    const std::int64_t seq = blocks.getColumn(0).getInt64();
    const SQLite::Column block = blocks.getColumn(2);
    std::size_t ids = 0;
    const bool whole = decode_processed_block(
        std::string_view(static_cast<const char*>(block.getBlob()),
                         static_cast<std::size_t>(block.getBytes())),
        [&](std::string_view id, std::string_view, TimePoint) {
          ++ids;
          if (!seen.emplace(id).second) {
            fail(check, "id " + in_quotes(id) + " is processed twice (again in block " +
                            std::to_string(seq) + ")");
          }
        });
    check.checked += ids;
    if (!whole) fail(check, "block " + std::to_string(seq) + " is damaged (cut short or overlong)");
    if (whole && static_cast<std::int64_t>(ids) != blocks.getColumn(1).getInt64()) {
      fail(check, "block " + std::to_string(seq) + " says it holds " +
                      std::to_string(blocks.getColumn(1).getInt64()) + " ids but holds " +
                      std::to_string(ids));
    }
  }
  return check;
}

DbCheck check_chain(const std::string& path) {
  DbCheck check;
  check.name = "chain";
  SqliteStore store(path, SqliteStore::Mode::read_only);
  const VerifyResult v = verify_chain(store);
  check.checked = v.rows;
  if (!v.intact) fail(check, v.kind + " at seq " + std::to_string(v.seq) + ": " + v.detail);
  return check;
}

}  // namespace

bool DbCheckResult::ok() const {
  for (const DbCheck& c : checks) {
    if (!c.ok()) return false;
  }
  return true;
}

DbCheckResult check_database(const std::string& path) {
  DbCheckResult result;
  result.database = path;
  // Opening through the store first refuses a file that is not an incidentd database at this
  // build's schema version, with the store's own message.
  { SqliteStore probe(path, SqliteStore::Mode::read_only); }
  try {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    SQLite::Transaction snapshot(db, SQLite::TransactionBehavior::DEFERRED);
    result.checks.push_back(check_snapshots(db));
    result.checks.push_back(check_outbox(db));
    result.checks.push_back(check_deadlines(db));
    result.checks.push_back(check_processed(db));
  } catch (const SQLite::Exception& e) {
    throw StoreError("check-db (" + path + "): " + e.what());
  }
  result.checks.push_back(check_chain(path));
  return result;
}

std::string render_db_check_text(const DbCheckResult& result) {
  std::string out;
  std::size_t failed = 0;
  for (const DbCheck& c : result.checks) {
    out += c.name + ": " + (c.ok() ? "ok" : "FAILED") + ", " + std::to_string(c.checked) +
           " checked, " + std::to_string(c.failed) + " failed\n";
    for (const std::string& p : c.problems) out += "  " + p + "\n";
    if (c.failed > c.problems.size()) {
      out += "  ... and " + std::to_string(c.failed - c.problems.size()) + " more\n";
    }
    if (!c.ok()) ++failed;
  }
  out += result.database + ": " +
         (failed == 0 ? std::string("consistent")
                      : std::to_string(failed) + " of " + std::to_string(result.checks.size()) +
                            " checks failed") +
         "\n";
  return out;
}

std::string render_db_check_json(const DbCheckResult& result) {
  nlohmann::ordered_json j;
  j["database"] = result.database;
  j["ok"] = result.ok();
  j["checks"] = nlohmann::ordered_json::array();
  for (const DbCheck& c : result.checks) {
    j["checks"].push_back({{"name", c.name},
                           {"ok", c.ok()},
                           {"checked", c.checked},
                           {"failed", c.failed},
                           {"problems", c.problems}});
  }
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace incidentd::report
