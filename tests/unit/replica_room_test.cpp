// A cluster's replica (store/replica_room.hpp, the ReplicaLog port): the change records an
// engine and a dispatcher wrote over database A, encoded and decoded as on the state topic and
// applied to database B, give B the rows A holds (incidents, deadlines, the timeline with the
// same hashes, outbox, processed ids, confirmations, acknowledgements, incident_figures) and so
// the same verify digest, statistics and reports. Applying them again changes nothing; this
// instance's own records and records below the stored position are not applied; a record that
// contradicts the database is passed over alone; and the engine's writer on the same file learns
// the replica's processed ids, and writes an incident's deadlines and figures again after the
// replica wrote them.
#include "store/sqlite_store.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "ctl/virtual_time.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/replica_log.hpp"
#include "incidentd/state_record.hpp"
#include "kafka/state_changelog.hpp"
#include "report/report.hpp"
#include "report/stats.hpp"
#include "report/verify.hpp"
#include "store/processed_ids.hpp"
#include "support/engine_harness.hpp"
#include "support/temp_dir.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;
using testing::at;
using testing::TempDir;

const std::string kTopic = "incidentd.state";

// The owner: the engine and a dispatcher's results over database A, every commit queued as
// records by "node-a", as the daemon does with [cluster] on.
struct Owner {
  explicit Owner(const std::string& path)
      : config(testing::roster_config()),
        store(path),
        engine_store(store, changelog),
        outbox(store, changelog),
        time(testing::kStart),
        engine(config, engine_store, time) {}

  // Every due row claimed: the even ones delivered (a delivery entry), the odd ones retried,
  // one of those with the operator desk's alert.
  void dispatch(TimePoint now) {
    std::vector<OutboxUpdate> updates;
    const auto due = outbox.due_notifications(now, 100);
    for (std::size_t i = 0; i < due.size(); ++i) {
      const OutboxRow& row = due[i];
      OutboxUpdate u;
      u.notification_id = row.notification_id;
      u.channel = row.channel;
      u.attempts = 1;
      if (i % 2 == 0) {
        Action delivery;
        delivery.at = now;
        delivery.incident_key = row.incident_key;
        delivery.kind = ActionKind::delivery;
        delivery.notification_id = row.notification_id;
        delivery.recipient = row.recipient;
        delivery.channel = std::string(to_string(row.channel));
        delivery.attempt = 1;
        delivery.outcome = "delivered";
        u.state = DeliveryState::delivered;
        u.delivered_at = now;
        u.next_attempt_at = now;
        u.timeline = {delivery};
      } else {
        u.next_attempt_at = now + 1min;
        u.last_error = "timeout";
        u.failing_since = now;
        if (i == 1) {
          OutboxRow desk;
          desk.notification_id = row.incident_key + "/unreached/1";
          desk.incident_key = row.incident_key;
          desk.recipient = "desk";
          desk.unit = row.unit;
          desk.purpose = NotificationPurpose::unreached;
          desk.body = "{}";
          desk.created_at = now;
          desk.next_attempt_at = now;
          u.new_rows = {desk};
        }
      }
      updates.push_back(std::move(u));
    }
    outbox.record_outbox(updates);
  }

  // Two incidents through their clocks, the dispatcher's results between the engine's steps.
  void run() {
    engine.handle(testing::event("e1", "inc-1", Level::II, {"a", "b"}, at(0h)));
    engine.handle(testing::event("e2", "inc-2", Level::I, {"c"}, at(0h)));
    dispatch(at(1min));
    time.advance_to(at(2h + 30min));  // warnings, notifications, re-sends
    dispatch(at(2h + 31min));
    engine.handle(testing::ack("inc-1", "a-duty1", at(2h + 32min)));
    engine.handle(testing::confirmation("c1", "inc-2", Milestone::first_release, "c", at(3h)));
    time.advance_to(at(6h));  // breaches
    dispatch(at(6h + 1min));
    engine.flush();
  }

  // The records as a replica reads them: encoded, decoded, at offsets 0, 1, ... of partition 0.
  std::vector<ReplicaInput> records() {
    std::vector<ReplicaInput> out;
    for (const StateRecord& r : changelog.take()) {
      auto decoded = decode_state_record(encode_state_record(r));
      REQUIRE(decoded);
      out.push_back({kTopic, 0, static_cast<std::int64_t>(out.size()), std::move(*decoded.value)});
    }
    return out;
  }

  Config config;
  SqliteStore store;
  StateChangelog changelog{"node-a"};
  ChangelogStore engine_store;
  ChangelogOutbox outbox;
  VirtualTime time;
  Engine engine;
};

// A table's rows as text, in `sql`'s order.
std::vector<std::string> rows(const std::string& path, const std::string& sql) {
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  SQLite::Statement s(db, sql);
  std::vector<std::string> out;
  while (s.executeStep()) {
    std::string row;
    for (int i = 0; i < s.getColumnCount(); ++i) {
      row.append(s.getColumn(i).isNull() ? "NULL" : s.getColumn(i).getString()).append("|");
    }
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<std::string> processed_ids(const std::string& path) {
  std::vector<std::string> out;
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  SQLite::Statement s(db, "SELECT block FROM processed");
  while (s.executeStep()) {
    const auto column = s.getColumn(0);
    const std::string block(static_cast<const char*>(column.getBlob()),
                            static_cast<std::size_t>(column.getBytes()));
    REQUIRE(decode_processed_block(block,
                                   [&](std::string_view id, std::string_view key, TimePoint when) {
                                     out.push_back(std::string(id) + "|" + std::string(key) + "|" +
                                                   std::to_string(when.time_since_epoch().count()));
                                   }));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Every row a replica must agree on. The file-local columns (seq, updated_seq, the
// acknowledgements' rowid) are left out: replicas number rows in the order they apply them.
std::vector<std::string> contents(const std::string& path) {
  std::vector<std::string> all;
  const auto add = [&](const std::string& name, const std::string& sql) {
    for (auto& row : rows(path, sql)) all.push_back(name + ": " + row);
  };
  add("incident",
      "SELECT incident_key, level, drill, closed, opened_at, clock_start, closed_at, title, "
      "lead_unit, state FROM incidents ORDER BY incident_key");
  add("deadline", "SELECT * FROM deadlines ORDER BY incident_key, milestone, round, at, action");
  add("timeline",
      "SELECT incident_key, incident_seq, at, action, milestone, body, prev_hash, hash "
      "FROM timeline ORDER BY incident_key, incident_seq");
  add("outbox", "SELECT * FROM outbox ORDER BY notification_id");
  add("confirmation", "SELECT * FROM confirmations ORDER BY incident_key, unit, confirmation_id");
  add("ack",
      "SELECT incident_key, recipient, at, via FROM acknowledgements "
      "ORDER BY incident_key, at, recipient");
  add("figures", "SELECT * FROM incident_figures ORDER BY incident_key");
  for (auto& id : processed_ids(path)) all.push_back("processed: " + id);
  return all;
}

std::string stats_of(const std::string& path, const Config& config) {
  SqliteStore store(path, SqliteStore::Mode::read_only);
  report::StatsQuery q;
  q.from = "2026-11-01";
  q.to = "2026-11-30";
  q.by = report::GroupBy::unit;
  q.generated_at = at(7h);
  return report::render_stats(report::compute_stats(store, q, config), report::Format::json);
}

std::string report_of(const std::string& path, const Config& config, const std::string& key) {
  SqliteStore store(path, SqliteStore::Mode::read_only);
  report::ReportOptions options;
  options.config = &config;
  options.generated_at = at(7h);
  options.database = "incidentd.db";
  return report::render_report(report::build_incident_report(store, key, options),
                               report::Format::json);
}

std::string heads_digest(const std::string& path) {
  SqliteStore store(path, SqliteStore::Mode::read_only);
  const auto verified = report::verify_chain(store);
  REQUIRE(verified.intact);
  return verified.heads_digest;
}

TEST_CASE("a replica's database reads as its owner's: rows, hashes, statistics and reports") {
  TempDir dir;
  const std::string a = (dir.path() / "a.db").string();
  const std::string b = (dir.path() / "b.db").string();
  Owner owner(a);
  owner.run();
  const auto inputs = owner.records();
  std::size_t deliveries = 0;
  for (const auto& in : inputs) deliveries += in.record->deliveries.size();
  REQUIRE(inputs.size() > 10);
  REQUIRE(deliveries > 0);  // the dispatcher's records are among them

  SqliteStore replica(b, SqliteStore::Mode::replica);
  const auto log = replica.replica_log("node-b");
  const ReplicaResult result = log->apply_replica(inputs);
  CHECK(result.refused.empty());
  CHECK(result.own == 0);
  CHECK(result.below == 0);
  CHECK(result.positions.at({kTopic, 0}) == static_cast<std::int64_t>(inputs.size()));
  CHECK(log->replica_positions(kTopic) ==
        std::map<std::int32_t, std::int64_t>{{0, static_cast<std::int64_t>(inputs.size())}});
  std::size_t snapshots = 0;
  std::size_t ids = 0;
  for (const auto& in : inputs) {
    snapshots += in.record->state ? 1 : 0;
    ids += in.record->processed.size();
  }
  CHECK(result.applied.incidents.size() == snapshots);
  CHECK(result.applied.processed.size() == ids);

  const auto owned = contents(a);
  CHECK(owned.size() > 50);
  CHECK(contents(b) == owned);
  CHECK(heads_digest(b) == heads_digest(a));
  CHECK(stats_of(b, owner.config) == stats_of(a, owner.config));
  for (const std::string key : {"inc-1", "inc-2"}) {
    CHECK(report_of(b, owner.config, key) == report_of(a, owner.config, key));
  }
}

TEST_CASE("records applied again, whole or from the middle, change nothing") {
  TempDir dir;
  const std::string a = (dir.path() / "a.db").string();
  const std::string b = (dir.path() / "b.db").string();
  Owner owner(a);
  owner.run();
  const auto inputs = owner.records();
  SqliteStore replica(b, SqliteStore::Mode::replica);
  const auto log = replica.replica_log("node-b");
  const std::vector<ReplicaInput> first(inputs.begin(), inputs.begin() + 5);
  CHECK(log->apply_replica(first).below == 0);
  // Redelivered from the start, as after a restart that lost the consumer's place.
  const ReplicaResult again = log->apply_replica(inputs);
  CHECK(again.below == 5);
  CHECK(contents(b) == contents(a));
  const auto before = contents(b);
  const ReplicaResult third = log->apply_replica(inputs);
  CHECK(third.below == inputs.size());
  CHECK(third.applied.incidents.empty());
  CHECK(third.applied.processed.empty());
  CHECK(contents(b) == before);
}

TEST_CASE("a record below the stored position is not applied") {
  TempDir dir;
  Owner owner((dir.path() / "a.db").string());
  owner.run();
  auto inputs = owner.records();
  const std::string b = (dir.path() / "b.db").string();
  SqliteStore replica(b, SqliteStore::Mode::replica);
  const auto log = replica.replica_log("node-b");
  log->apply_replica(inputs);
  // Offset 0 again, with another title: the stored position is past it.
  ReplicaInput changed = inputs.front();
  REQUIRE(changed.record->state);
  changed.record->state->title = "rewritten";
  const ReplicaResult result = log->apply_replica({changed});
  CHECK(result.below == 1);
  CHECK(rows(b, "SELECT 1 FROM incidents WHERE title = 'rewritten'").empty());
}

TEST_CASE("this instance's own records are not applied again, but move the position") {
  TempDir dir;
  Owner owner((dir.path() / "a.db").string());
  owner.run();
  const auto inputs = owner.records();
  const std::string b = (dir.path() / "b.db").string();
  SqliteStore replica(b, SqliteStore::Mode::replica);
  const auto log = replica.replica_log("node-a");  // the writer's own id
  const ReplicaResult result = log->apply_replica(inputs);
  CHECK(result.own == inputs.size());
  CHECK(result.applied.incidents.empty());
  CHECK(log->replica_positions(kTopic).at(0) == static_cast<std::int64_t>(inputs.size()));
  CHECK(rows(b, "SELECT 1 FROM incidents").empty());
  CHECK(rows(b, "SELECT 1 FROM timeline").empty());
}

TEST_CASE(
    "a message that is no record, and a record that contradicts the database, are passed "
    "over alone") {
  TempDir dir;
  const std::string a = (dir.path() / "a.db").string();
  Owner owner(a);
  owner.run();
  auto inputs = owner.records();
  // The confirmation's record once more at the end: its row exists, the insert is refused.
  const auto with_confirmation =
      std::find_if(inputs.begin(), inputs.end(),
                   [](const ReplicaInput& in) { return !in.record->confirmations.empty(); });
  REQUIRE(with_confirmation != inputs.end());
  ReplicaInput twice = *with_confirmation;
  twice.record->state.reset();
  twice.record->actions.clear();
  twice.record->processed.clear();
  const auto n = static_cast<std::int64_t>(inputs.size());
  twice.offset = n + 1;
  inputs.push_back({kTopic, 0, n, std::nullopt});  // did not decode
  inputs.push_back(twice);
  const std::string b = (dir.path() / "b.db").string();
  SqliteStore replica(b, SqliteStore::Mode::replica);
  const auto log = replica.replica_log("node-b");
  const ReplicaResult result = log->apply_replica(inputs);
  REQUIRE(result.refused.size() == 1);
  CHECK(result.refused[0].offset == n + 1);
  CHECK(result.refused[0].incident_key == "inc-2");
  CHECK_THAT(result.refused[0].reason, Catch::Contains("UNIQUE"));
  CHECK(log->replica_positions(kTopic).at(0) == n + 2);
  CHECK(contents(b) == contents(a));  // everything else applied
}

TEST_CASE("the engine's writer on the replica's file learns the ids the replica applied") {
  TempDir dir;
  Owner owner((dir.path() / "a.db").string());
  owner.run();
  const auto inputs = owner.records();
  const std::string b = (dir.path() / "b.db").string();
  SqliteStore writer(b);  // the daemon's own connection, with its processed-id set
  writer.commit(Changeset{{}, {}, {{"own-1", "inc-9", at(0h)}}, {}, {}});
  SqliteStore replica(b, SqliteStore::Mode::replica);
  replica.replica_log("node-b")->apply_replica(inputs);
  // Learnt at the writer's next commit, reading only the blocks added since.
  writer.commit(Changeset{{}, {}, {{"own-2", "inc-9", at(0h)}}, {}, {}});
  CHECK(writer.is_processed("e1"));
  CHECK(writer.is_processed("e2"));
  CHECK(writer.is_processed("own-1"));
  CHECK(writer.is_processed("own-2"));
  // So an event the owner processed is refused here, not applied twice.
  CHECK_THROWS_WITH(writer.commit(Changeset{{}, {}, {{"e1", "inc-1", at(0h)}}, {}, {}}),
                    Catch::Contains("already processed"));
}

TEST_CASE(
    "the engine's writer writes an incident's derived rows again after the replica wrote "
    "them") {
  TempDir dir;
  Owner owner((dir.path() / "a.db").string());
  owner.run();
  auto inputs = owner.records();
  REQUIRE(inputs.front().record->state);
  const IncidentState open = *inputs.front().record->state;  // inc-1 just opened: deadlines ahead
  const std::string b = (dir.path() / "b.db").string();
  SqliteStore writer(b);
  writer.commit(Changeset{{open}, {}, {}, {}, {}});
  const auto deadlines = rows(b, "SELECT * FROM deadlines ORDER BY milestone, round, at, action");
  REQUIRE_FALSE(deadlines.empty());
  // The partition moved: its new owner closed the incident, and this replica applied that.
  IncidentState closed = open;
  closed.closed = true;
  closed.closed_at = at(1h);
  StateRecord record;
  record.incident_key = open.key;
  record.by = "node-c";
  record.state = closed;
  SqliteStore replica(b, SqliteStore::Mode::replica);
  replica.replica_log("node-b")->apply_replica({{kTopic, 0, 0, record}});
  CHECK(rows(b, "SELECT * FROM deadlines").empty());
  CHECK(rows(b, "SELECT closed FROM incident_figures") == std::vector<std::string>{"1|"});
  // It moved back, and this instance's engine writes the snapshot it had: what it remembers
  // having written is not taken for what the table holds.
  writer.commit(Changeset{{open}, {}, {}, {}, {}});
  CHECK(rows(b, "SELECT * FROM deadlines ORDER BY milestone, round, at, action") == deadlines);
  CHECK(rows(b, "SELECT closed FROM incident_figures") == std::vector<std::string>{"0|"});
}

}  // namespace
}  // namespace incidentd
