// How long a replica takes to catch up with the state topic (docs/cluster.md, "Replicas"), on a
// broker of its own (scripts/kafka.sh). An engine on a virtual clock over database A, behind the
// changelog as the daemon's with [cluster] on, opens incidents and lets their 2 h warnings fire
// until it has written at least --records change records; they go to the compacted state topic
// in Kafka transactions of --per-transaction records (as an owner's consumer writes them). Then a
// ReplicaApplier on an empty database B starts, and wait_caught_up() over every partition is
// timed from the applier's start. Before that, a transaction is left open with records in it:
// its records are past the last stable offset, so the wait must not wait for them, and the
// figures printed show which end query_watermark_offsets() answers on a read_committed consumer.
// Not a test: it prints figures, and exits 1 only if B does not end up with A's rows.
//
//   build/release/bench/replica_catch_up_bench [--records 10000] [--partitions 3]
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <librdkafka/rdkafkacpp.h>
#include <CLI/CLI.hpp>

#include "bench_roster.hpp"
#include "ctl/virtual_time.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/state_record.hpp"
#include "kafka/replica_applier.hpp"
#include "kafka/state_changelog.hpp"
#include "local_run.hpp"
#include "store/sqlite_store.hpp"

namespace {

using namespace incidentd;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kTopic = "incidentd.state";

// The owner's records: incidents opened, then the virtual clock moved past their 2 h warnings.
std::vector<StateRecord> owner_records(const std::string& database, std::size_t at_least) {
  const Config config = bench::bench_config();
  SqliteStore store(database);
  StateChangelog changelog("bench-owner");
  ChangelogStore recorded(store, changelog);
  const TimePoint start = std::chrono::sys_days{std::chrono::year{2026} / 11 / 26};
  VirtualTime time(start);
  Engine engine(config, recorded, time);
  std::vector<StateRecord> records;
  std::size_t n = 0;
  while (records.size() < at_least) {
    // A round: 50 incidents opened a second apart, then 2 h 31 min for their warnings and
    // notifications (and the earlier rounds' breaches and reminders).
    for (int i = 0; i < 50; ++i, ++n) {
      Event e;
      e.event_id = "e" + std::to_string(n);
      e.incident_key = "inc-" + std::to_string(n);
      e.level = Level::II;
      e.title = "bench incident";
      e.lead_unit = "u1";
      e.units = {"u1", "u2"};
      e.detected_at = time.now();
      engine.handle(e);
      time.advance_to(time.now() + 1s);
    }
    time.advance_to(time.now() + 2h + 31min);
    engine.flush();
    for (auto& r : changelog.take()) records.push_back(std::move(r));
  }
  return records;
}

void check(RdKafka::Error* raw, const char* what) {
  std::unique_ptr<RdKafka::Error> error(raw);
  if (error) throw std::runtime_error(std::string(what) + ": " + error->str());
}

std::unique_ptr<RdKafka::Producer> transactional(const std::string& brokers) {
  auto conf = bench::kafka_conf({{"bootstrap.servers", brokers},
                                 {"transactional.id", "replica-catch-up-bench"},
                                 {"linger.ms", "5"}});
  std::string error;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), error));
  if (!p) throw std::runtime_error("producer: " + error);
  check(p->init_transactions(30000), "init_transactions");
  return p;
}

void produce(RdKafka::Producer& p, const StateRecord& r) {
  bench::produce(p, kTopic, r.incident_key, encode_state_record(r));
}

// Every partition's end as a consumer of this isolation level is told (query_watermark_offsets).
std::map<std::int32_t, std::int64_t> ends(const std::string& brokers, const char* isolation,
                                          int partitions) {
  auto conf = bench::kafka_conf({{"bootstrap.servers", brokers},
                                 {"group.id", "replica-catch-up-bench-ends"},
                                 {"isolation.level", isolation}});
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!c) throw std::runtime_error("consumer: " + error);
  std::map<std::int32_t, std::int64_t> out;
  for (int p = 0; p < partitions; ++p) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (c->query_watermark_offsets(kTopic, p, &low, &high, 10000) != RdKafka::ERR_NO_ERROR) {
      throw std::runtime_error("query_watermark_offsets failed");
    }
    out[p] = high;
  }
  c->close();
  return out;
}

// Partition 0 read to its end by a read_committed consumer: the last record's offset, where
// the end of the partition was reported, and position() then. Whether the position moves past
// the commit marker that follows the last record is what this shows.
void markers(const std::string& brokers) {
  auto conf = bench::kafka_conf({{"bootstrap.servers", brokers},
                                 {"group.id", "replica-catch-up-bench-markers"},
                                 {"isolation.level", "read_committed"},
                                 {"enable.partition.eof", "true"}});
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!c) throw std::runtime_error("consumer: " + error);
  std::vector<RdKafka::TopicPartition*> parts = {
      RdKafka::TopicPartition::create(kTopic, 0, RdKafka::Topic::OFFSET_BEGINNING)};
  c->assign(parts);
  std::int64_t last = -1;
  std::int64_t eof = -1;
  const auto give_up = bench::Clock::now() + 60s;
  while (eof < 0 && bench::Clock::now() < give_up) {
    std::unique_ptr<RdKafka::Message> m(c->consume(500));
    if (m->err() == RdKafka::ERR_NO_ERROR) last = m->offset();
    if (m->err() == RdKafka::ERR__PARTITION_EOF) eof = m->offset();
  }
  c->position(parts);
  std::cout << "partition 0 read_committed: last record at " << last << ", end of partition "
            << "reported at " << eof << ", position() then " << parts[0]->offset() << "\n";
  RdKafka::TopicPartition::destroy(parts);
  c->close();
}

std::int64_t rows(const std::string& database, const char* table) {
  SQLite::Database db(database, SQLite::OPEN_READONLY);
  return db.execAndGet(std::string("SELECT COUNT(*) FROM ") + table).getInt64();
}

std::string print(const std::map<std::int32_t, std::int64_t>& m) {
  std::string out;
  for (const auto& [p, o] : m) {
    out.append(out.empty() ? "" : " ")
        .append(std::to_string(p))
        .append("@")
        .append(std::to_string(o));
  }
  return out;
}

int catch_up(const fs::path& source_dir, const fs::path& dir, std::size_t at_least, int partitions,
             std::size_t per_transaction) {
  const std::string a = (dir / "a.db").string();
  const std::string b = (dir / "b.db").string();
  auto t = bench::Clock::now();
  const auto records = owner_records(a, at_least);
  std::cout << "owner: " << records.size() << " change records of " << rows(a, "incidents")
            << " incidents (" << rows(a, "timeline") << " timeline rows) in "
            << bench::seconds_since(t) << " s\n";

  const int port = bench::free_port();
  bench::LocalBroker broker(source_dir, dir / "kafka", port);
  const std::string create = bench::shell_quote((source_dir / "scripts" / "kafka.sh").string()) +
                             " create-topic --port " + std::to_string(port) + " " + kTopic +
                             " --partitions " + std::to_string(partitions) +
                             " --config cleanup.policy=compact >&2";
  if (std::system(create.c_str()) != 0) throw std::runtime_error("create-topic failed");

  t = bench::Clock::now();
  auto producer = transactional(broker.brokers());
  for (std::size_t i = 0; i < records.size(); i += per_transaction) {
    check(producer->begin_transaction(), "begin_transaction");
    for (std::size_t j = i; j < records.size() && j < i + per_transaction; ++j) {
      produce(*producer, records[j]);
    }
    check(producer->commit_transaction(60000), "commit_transaction");
  }
  std::cout << "published in " << (records.size() + per_transaction - 1) / per_transaction
            << " transactions in " << bench::seconds_since(t) << " s\n";
  // A transaction left open: its records are after the last stable offset.
  check(producer->begin_transaction(), "begin_transaction");
  for (std::size_t j = 0; j < 30; ++j) produce(*producer, records[j]);
  producer->flush(10000);
  const auto committed = ends(broker.brokers(), "read_committed", partitions);
  const auto uncommitted = ends(broker.brokers(), "read_uncommitted", partitions);
  std::cout << "ends with a transaction open: read_committed " << print(committed)
            << ", read_uncommitted " << print(uncommitted) << "\n";
  markers(broker.brokers());

  Config config = bench::bench_config();
  config.database = b;
  config.kafka.brokers = broker.brokers();
  config.cluster.instance_id = "bench-replica";
  config.cluster.state_topic = kTopic;
  {
    SqliteStore create_b(b);  // the schema, as the daemon's store makes it before the applier
  }
  std::size_t applied = 0;
  ReplicaApplier replica(config,
                         [&applied](ReplicaApplied done) { applied += done.incidents.size(); });
  t = bench::Clock::now();
  replica.start();
  std::vector<std::int32_t> all;
  for (std::int32_t p = 0; p < replica.partition_count(); ++p) all.push_back(p);
  const bool caught_up = replica.wait_caught_up(all, 300s);
  const double took = bench::seconds_since(t);
  replica.stop();
  check(producer->abort_transaction(30000), "abort_transaction");
  const auto incidents_b = rows(b, "incidents");
  const auto timeline_b = rows(b, "timeline");
  std::cout << "replica: caught up " << (caught_up ? "yes" : "NO") << ": " << records.size()
            << " records (" << all.size() << " partitions) in " << took << " s, "
            << static_cast<double>(records.size()) / took << " records/s; B holds " << incidents_b
            << " incidents, " << timeline_b << " timeline rows; " << applied
            << " snapshots applied\n";
  std::cout << "load average " << bench::load_average() << "\n";
  const bool same = incidents_b == rows(a, "incidents") && timeline_b == rows(a, "timeline");
  if (!caught_up || !same) {
    std::cout << "FAILED: B does not hold A's rows\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("replica_catch_up_bench: a replica catching up with the state topic");
  std::size_t records = 10000;
  int partitions = 3;
  std::size_t per_transaction = 1000;
  std::string dir;
  bool keep = false;
  app.add_option("--records", records, "at least this many change records");
  app.add_option("--partitions", partitions, "partitions of the state topic");
  app.add_option("--per-transaction", per_transaction, "records per Kafka transaction");
  app.add_option("--dir", dir, "work folder (default: a new one under /tmp)");
  app.add_flag("--keep", keep, "leave the work folder");
  CLI11_PARSE(app, argc, argv);
  try {
    bench::DaemonRun run;
    run.dir = dir;
    const fs::path work = bench::run_dir(run, "replica-catch-up-bench");
    std::cout << "work folder " << work << "\n";
    const int rc = catch_up(INCIDENTD_SOURCE_DIR, work, records, partitions, per_transaction);
    if (!keep) fs::remove_all(work);
    return rc;
  } catch (const std::exception& e) {
    std::cerr << "replica_catch_up_bench: " << e.what() << "\n";
    return 2;
  }
}
