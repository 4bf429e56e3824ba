#include "report/check_db.hpp"

#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include "incidentd/codec.hpp"
#include "incidentd/state_codec.hpp"
#include "incidentd/timeline_rows.hpp"
#include "report/verify.hpp"
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

std::map<std::string, TimelineFacts> timeline_facts(ConsistencyRows& db, DbCheck& check) {
  std::map<std::string, TimelineFacts> facts;
  db.scan_lifecycle_entries([&](const LifecycleEntry& entry) {
    const std::string& key = entry.columns.incident_key;
    const auto parsed = timeline_actions(json::parse(entry.body, nullptr, false), entry.columns);
    if (!parsed || parsed.value->size() != 1) {
      fail(check,
           "timeline entry " + std::to_string(entry.seq) + " of " + in_quotes(key) +
               " is unreadable: " + (parsed ? "it holds more than one action" : parsed.error));
      return;
    }
    const Action& a = parsed.value->front();
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
  });
  return facts;
}

// One stored incident against what its timeline says.
void check_snapshot(DbCheck& check, const StoredIncident& row,
                    const std::map<std::string, TimelineFacts>& facts) {
  ++check.checked;
  const std::string& key = row.incident_key;
  const std::string who = "incident " + in_quotes(key);
  IncidentState st;
  try {
    st = state_from_json(json::parse(row.state));
  } catch (const json::exception& e) {
    fail(check, who + ": its stored state does not decode: " + e.what());
    return;
  }
  if (st.key != key) fail(check, who + ": its stored state is of " + in_quotes(st.key));
  if (row.level != to_string(st.level) || row.closed != st.closed) {
    fail(check, who + ": the row's level or closed column differs from its stored state");
  }
  const auto found = facts.find(key);
  if (found == facts.end() || !found->second.opened) {
    fail(check, who + ": no incident_opened in its timeline");
    return;
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

DbCheck check_snapshots(ConsistencyRows& db) {
  DbCheck check;
  check.name = "snapshots";
  const std::map<std::string, TimelineFacts> facts = timeline_facts(db, check);
  db.scan_incidents([&](const StoredIncident& row) { check_snapshot(check, row, facts); });
  for (const auto& entry : facts) {
    const std::string& key = entry.first;
    if (!db.has_incident(key)) {
      fail(check, "incident " + in_quotes(key) + ": in the timeline but has no stored state");
    }
  }
  return check;
}

DbCheck check_outbox(ConsistencyRows& db) {
  DbCheck check;
  check.name = "outbox";
  check.checked = db.count_outbox();
  db.scan_orphan_notifications([&](const OrphanNotification& orphan) {
    fail(check, "notification " + in_quotes(orphan.notification_id) + " is of incident " +
                    in_quotes(orphan.incident_key) + ", which is not in the database");
  });
  db.scan_unlinked_notifications([&](const UnlinkedNotification& row) {
    fail(check, "notification " + in_quotes(row.notification_id) + ": its body is timeline row " +
                    std::to_string(row.timeline_seq) + ", which is not a notification of " +
                    in_quotes(row.incident_key));
  });
  return check;
}

DbCheck check_deadlines(ConsistencyRows& db) {
  DbCheck check;
  check.name = "deadlines";
  check.checked = db.count_deadlines();
  db.scan_stale_deadlines([&](const StaleDeadline& stale) {
    fail(check, "a pending " + stale.action + " of " + stale.milestone + " for " +
                    (stale.incident_missing ? "missing" : "closed") + " incident " +
                    in_quotes(stale.incident_key));
  });
  return check;
}

DbCheck check_processed(ConsistencyRows& db) {
  DbCheck check;
  check.name = "processed";
  std::unordered_set<std::string> seen;
  db.scan_processed_blocks([&](const ProcessedBlock& block) {
    const std::int64_t seq = block.seq;
    for (const std::string_view id : block.ids) {
      if (!seen.emplace(id).second) {
        fail(check, "id " + in_quotes(id) + " is processed twice (again in block " +
                        std::to_string(seq) + ")");
      }
    }
    const std::size_t ids = block.ids.size();
    check.checked += ids;
    if (!block.whole) {
      fail(check, "block " + std::to_string(seq) + " is damaged (cut short or overlong)");
    }
    if (block.whole && static_cast<std::int64_t>(ids) != block.declared) {
      fail(check, "block " + std::to_string(seq) + " says it holds " +
                      std::to_string(block.declared) + " ids but holds " + std::to_string(ids));
    }
  });
  return check;
}

DbCheck check_chain(TimelineQueries& timeline) {
  DbCheck check;
  check.name = "chain";
  const VerifyResult v = verify_chain(timeline);
  check.checked = v.rows;
  for (const ChainBreak& b : v.breaks) {
    fail(check, b.kind + " at seq " + std::to_string(b.seq) + ": " + b.detail);
  }
  // Breaks verify counted beyond those it kept.
  for (std::size_t i = v.breaks.size(); i < v.breaks_found; ++i) ++check.failed;
  return check;
}

}  // namespace

bool DbCheckResult::ok() const {
  for (const DbCheck& c : checks) {
    if (!c.ok()) return false;
  }
  return true;
}

DbCheckResult check_database(ConsistencyRows& rows, TimelineQueries& timeline,
                             const std::string& database) {
  DbCheckResult result;
  result.database = database;
  rows.in_snapshot([&] {
    result.checks.push_back(check_snapshots(rows));
    result.checks.push_back(check_outbox(rows));
    result.checks.push_back(check_deadlines(rows));
    result.checks.push_back(check_processed(rows));
  });
  result.checks.push_back(check_chain(timeline));
  return result;
}

DbCheckResult check_database(const std::string& path) {
  // Opening through the store refuses a file that is not an incidentd database at this build's
  // schema version, with the store's own message.
  SqliteStore store(path, SqliteStore::Mode::read_only);
  return check_database(*store.consistency_rows(), store, path);
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
