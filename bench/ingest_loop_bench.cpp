// The daemon's ingestion without Kafka: the stream kafka_ingest_bench publishes, classified as
// the consumer thread classifies it, then handed to the engine batch by batch and committed to
// a SQLite file exactly as the loop thread does it. It prints what each side costs per event, so
// a change to the engine or the store can be measured in seconds, without a broker.
//
//   build/release/bench/ingest_loop_bench [--events N] [--incidents M] [--batch B] [--dir DIR]
//   [--keep]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "ctl/virtual_time.hpp"
#include "event_stream.hpp"
#include "incidentd/config.hpp"
#include "incidentd/engine.hpp"
#include "kafka/batch.hpp"
#include "kafka/ingest.hpp"
#include "store/sqlite_store.hpp"

namespace {

using namespace incidentd;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

double us_per(std::chrono::nanoseconds d, std::size_t n) {
  return static_cast<double>(d.count()) / 1e3 / static_cast<double>(n);
}

int run(int argc, char** argv) {
  std::size_t events = 1'000'000;
  std::size_t incidents = 10'000;
  std::size_t batch = 10'000;
  auto checkpoint_ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(IngestOptions{}.checkpoint_every)
          .count());
  std::string dir = fs::temp_directory_path() / "incidentd-ingest-loop-bench";
  std::string source_dir = INCIDENTD_SOURCE_DIR;
  CLI::App app("The daemon's ingestion loop without Kafka: classify, engine, SQLite",
               "ingest_loop_bench");
  app.add_option("--events", events, "messages in the stream")->capture_default_str();
  app.add_option("--incidents", incidents, "incident keys they spread over")->capture_default_str();
  app.add_option("--batch", batch, "messages per batch (incidentd --batch)")->capture_default_str();
  app.add_option("--checkpoint-every", checkpoint_ms,
                 "ms between batches that commit everything (the others commit what acted)")
      ->capture_default_str();
  app.add_option("--dir", dir, "where the database goes (removed first)")->capture_default_str();
  bool keep = false;
  app.add_flag("--keep", keep, "leave the database in --dir, to inspect it");
  app.add_option("--source-dir", source_dir, "for config/incidentd.toml")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto loaded = load_config_file(source_dir + "/config/incidentd.toml");
  if (!loaded.config) {
    std::fprintf(stderr, "ingest_loop_bench: config/incidentd.toml: %s\n",
                 loaded.errors.front().message.c_str());
    return 1;
  }
  const Config& config = *loaded.config;
  const auto stream = bench::make_stream(events, incidents);

  // The consumer thread's share: copying each message out of the client, and classify().
  const IngestRules rules = IngestRules::from(config.kafka, std::nullopt);
  std::vector<Inbound> inbound;
  inbound.reserve(stream.messages.size());
  const auto cpu0 = thread_cpu_time();
  for (std::size_t i = 0; i < stream.messages.size(); ++i) {
    const auto& [key, value] = stream.messages[i];
    KafkaRecord record{config.kafka.events_topic, static_cast<std::int32_t>(i % 3),
                       static_cast<std::int64_t>(i), key, value};
    inbound.push_back(classify(record, config, rules));
  }
  const auto classify_cpu = thread_cpu_time() - cpu0;

  fs::remove_all(dir);
  fs::create_directories(dir);
  SqliteStore store((fs::path(dir) / "bench.db").string());
  VirtualTime time(std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()));
  Engine engine(config, store, time);

  std::chrono::nanoseconds engine_wall{}, flush_wall{}, loop_cpu{}, full_commits{};
  std::chrono::nanoseconds longest_acted{};  // the loop's longest pause for a commit of what acted
  std::size_t accepted = 0, duplicates = 0, rejected = 0, batches = 0, checkpoints = 0;
  const auto started = Steady::now();
  auto last_checkpoint = started;
  for (std::size_t first = 0; first < inbound.size(); first += batch) {
    const std::size_t n = std::min(batch, inbound.size() - first);
    const std::vector<Inbound> slice(std::make_move_iterator(inbound.begin() + first),
                                     std::make_move_iterator(inbound.begin() + first + n));
    // As the consumer decides: everything at the end and when checkpoint_every has passed.
    const bool everything =
        first + n == inbound.size() ||
        Steady::now() - last_checkpoint >= std::chrono::milliseconds(checkpoint_ms);
    if (everything) {
      last_checkpoint = Steady::now();
      ++checkpoints;
    }
    const BatchOutcome out =
        apply_batch(engine, slice, everything ? BatchCommit::everything : BatchCommit::acted);
    engine_wall += out.engine_time;
    flush_wall += out.flush_time;
    if (everything) {
      full_commits += out.flush_time;
    } else {
      longest_acted = std::max(longest_acted, out.flush_time);
    }
    loop_cpu += out.cpu_time;
    accepted += out.accepted;
    duplicates += out.duplicates;
    rejected += out.rejected;
    ++batches;
  }
  const auto took = std::chrono::duration<double>(Steady::now() - started).count();
  const std::size_t n = stream.messages.size();
  std::printf(
      "ingest_loop_bench: %zu events (%zu distinct, %.0f bytes on average) over %zu incidents, "
      "batches of %zu, everything committed every %d ms\n",
      n, stream.distinct_ids, static_cast<double>(stream.bytes) / static_cast<double>(n), incidents,
      batch, checkpoint_ms);
  std::printf("  consumer side: classify %.2f us per event (CPU)\n", us_per(classify_cpu, n));
  std::printf(
      "  loop side: %.2f s for %zu batches (%zu committing everything), %.0f events/s; engine "
      "%.2f us, commits %.2f us per event (wall); CPU %.2f us per event\n",
      took, batches, checkpoints, static_cast<double>(n) / took, us_per(engine_wall, n),
      us_per(flush_wall, n), us_per(loop_cpu, n));
  std::printf(
      "  commits of everything: %.3f s each; of what acted: %.3f s each, the longest %.3f s\n",
      std::chrono::duration<double>(full_commits).count() / static_cast<double>(checkpoints),
      std::chrono::duration<double>(flush_wall - full_commits).count() /
          static_cast<double>(std::max<std::size_t>(batches - checkpoints, 1)),
      std::chrono::duration<double>(longest_acted).count());
  std::printf("  %zu accepted, %zu duplicates, %zu rejected; %zu incidents, %zu processed ids\n",
              accepted, duplicates, rejected, store.count("incidents"), store.count("processed"));
  {
    // What a restart pays before it consumes: the processed ids into memory, then the open
    // incidents into a new engine (its catch-up has nothing to do on this clock).
    const auto opening = Steady::now();
    SqliteStore reopened((fs::path(dir) / "bench.db").string());
    const auto opened = Steady::now();
    Engine restarted(config, reopened, time);
    const auto ready = Steady::now();
    std::printf(
        "  restart: store open (processed ids) %.3f s, engine with its open incidents %.3f s\n",
        std::chrono::duration<double>(opened - opening).count(),
        std::chrono::duration<double>(ready - opened).count());
  }
  if (!keep) fs::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ingest_loop_bench: %s\n", e.what());
    return 1;
  }
}
