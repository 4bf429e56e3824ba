#include "store/run_log.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "store/database.hpp"
#include "store/hash_chain.hpp"
#include "store/sql.hpp"

namespace incidentd {

using sql::instant_of;
using sql::millis;

std::optional<TimePoint> RunLogRoom::unclean_stop(TimePoint now) {
  std::optional<TimePoint> last_alive;
  SQLite::Statement last(database_.db(),
                         "SELECT alive_at, stopped_at FROM daemon_runs ORDER BY run DESC LIMIT 1");
  if (last.executeStep() && last.getColumn(1).isNull()) {
    last_alive = instant_of(last.getColumn(0).getInt64());
  }
  if (!last_alive) return std::nullopt;
  // A commit after the last heartbeat also proves the daemon was up: the latest timeline instant
  // not in the future is a bound too.
  SQLite::Statement latest(database_.db(), "SELECT MAX(at) FROM timeline WHERE at <= ?");
  latest.bind(1, static_cast<std::int64_t>(millis(now)));
  if (latest.executeStep() && !latest.getColumn(0).isNull()) {
    last_alive = std::max(*last_alive, instant_of(latest.getColumn(0).getInt64()));
  }
  return last_alive;
}

std::size_t RunLogRoom::record_outage(const RunLog::Outage& outage, TimePoint now) {
  chain_.stage();
  std::vector<std::string> open;
  {
    SQLite::Statement s(database_.db(),
                        "SELECT incident_key FROM incidents WHERE closed = 0 "
                        "ORDER BY incident_key");
    while (s.executeStep()) open.push_back(s.getColumn(0).getString());
  }
  for (const std::string& key : open) {
    Action a;
    a.at = now;
    a.incident_key = key;
    a.kind = ActionKind::daemon_outage;
    a.from = outage.from;
    a.to = outage.to;
    chain_.append(a);
  }
  return open.size();
}

std::optional<RunLog::Outage> RunLogRoom::begin_run(TimePoint now, RunLog::OutageEntries entries) {
  std::optional<RunLog::Outage> outage;
  guarded_write(database_, "begin_run", [&] {
    SQLite::Transaction tx(database_.db(), SQLite::TransactionBehavior::IMMEDIATE);
    if (const auto last_alive = unclean_stop(now)) {
      outage = RunLog::Outage{std::min(*last_alive, now), now, 0};
      if (entries == RunLog::OutageEntries::every_open_incident) {
        outage->incidents = record_outage(*outage, now);
      }
    }
    SQLite::Statement insert(database_.db(),
                             "INSERT INTO daemon_runs(started_at, alive_at) VALUES (?, ?)");
    insert.bind(1, static_cast<std::int64_t>(millis(now)));
    insert.bind(2, static_cast<std::int64_t>(millis(now)));
    insert.exec();
    const std::int64_t run = database_.db().getLastInsertRowid();
    tx.commit();
    run_ = run;
    if (outage) chain_.committed();
  });
  return outage;
}

void RunLogRoom::heartbeat(TimePoint now) {
  if (run_ == 0) return;
  guarded(database_, "heartbeat", [&] {
    // MAX: a wall clock stepped back must not move the proof of life backwards.
    SQLite::Statement s(database_.db(),
                        "UPDATE daemon_runs SET alive_at = MAX(alive_at, ?) WHERE run = ?");
    s.bind(1, static_cast<std::int64_t>(millis(now)));
    s.bind(2, run_);
    s.exec();
  });
}

void RunLogRoom::end_run(TimePoint now) {
  if (run_ == 0) return;
  guarded(database_, "end_run", [&] {
    SQLite::Statement s(database_.db(),
                        "UPDATE daemon_runs SET alive_at = MAX(alive_at, ?1), stopped_at = ?1 "
                        "WHERE run = ?2");
    s.bind(1, static_cast<std::int64_t>(millis(now)));
    s.bind(2, run_);
    s.exec();
  });
}

}  // namespace incidentd
