// Notification latency benchmark: event in -> first notification on the wire, with the real
// daemon and a real local Kafka broker (scripts/kafka.sh), in one run:
//   1. starts the broker and a webhook receiver of its own (a plain socket HTTP/1.1 server on
//      127.0.0.1, on a thread) that records when each request arrived and for which incident;
//   2. writes a configuration from config/incidentd.toml whose roster reaches people by webhook
//      first (channels ["webhook", "sms"]; SMS is off) at that receiver, and starts incidentd;
//   3. publishes N level I/II "detected" events, one new incident each, spaced apart, taking the
//      time just before each produce;
//   4. for each incident takes the arrival of its first notification at the receiver (matched by
//      incident_key in the generic webhook body) and prints count, p50, p90, p99 and max.
//
// Alongside, a consumer of its own group reads the events topic and records when each event
// became readable: the Kafka hop, printed apart from incidentd's share (its poll and batch, the
// SQLite commit, the dispatcher's claim, the send). Until 2026-12-05 most of incidentd's share
// was the consumer's 20 ms batch linger; a batch now goes to the loop as soon as librdkafka holds
// no more messages (IngestOptions::quiet, 0), so a lone event is not held back.
//
// Which notification: the events are detected 2 h 1 min before they are published, so
// first_release's 2 h warning (level 0: the responsible units' duty officers) is due on arrival
// and goes out at once, and it alone (a late arrival acts on its latest due step, which
// supersedes the alert at open). The bench was written before the 0 h row; a fresh event's alert
// at open takes the same path.
//
//   build/release/bench/notify_latency_bench [--events N] [--spacing-ms MS] [--dir DIR] [--keep]
//       [--incidentd PATH] [--source-dir DIR] [--log-level info] [--brokers HOST:PORT]
//       [--csv FILE]
// --brokers uses a running broker (that auto-creates topics) instead of starting one. --csv writes
// one line per event (when it was produced, on the wall clock, to line a slow one up with a
// broker's GC log; the Kafka hop; incidentd's share; the whole), for what a percentile hides.
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafkacpp.h>

#include "local_run.hpp"
#include "webhook_receiver.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using incidentd::bench::Arrival;
using incidentd::bench::broker_address;
using incidentd::bench::DaemonProcess;
using incidentd::bench::DaemonRun;
using incidentd::bench::incident_event;
using incidentd::bench::load_average;
using incidentd::bench::LocalBroker;
using incidentd::bench::percentile;
using incidentd::bench::produce;
using incidentd::bench::producer_with_topics;
using incidentd::bench::rfc3339_utc;
using incidentd::bench::WebhookReceiver;
using incidentd::bench::write_config;

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kRun = std::to_string(::getpid());
const incidentd::bench::BenchTopics kTopics{"latency.events." + kRun, "latency.releases." + kRun,
                                            "latency.dlq." + kRun};
const std::string kUnit = "zhaotong-gov";  // its duty officers get the level-0 warning

// Thrown, not exit(): the broker, the daemon and the receiver are stopped on the way out.
struct Fatal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void die(const std::string& why) {
  throw Fatal(why);
}

double ms(Steady::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// ---------------------------------------------------------------------------------------------
// The Kafka hop alone: a consumer of its own group reads the events topic as incidentd does and
// records when each incident's event became readable, so the figure splits into the broker's
// share and incidentd's (poll, commit, dispatcher, send).

class Watcher {
 public:
  explicit Watcher(const std::string& brokers) {
    auto conf = incidentd::bench::kafka_conf({{"bootstrap.servers", brokers},
                                              {"group.id", "latency-watch-" + kRun},
                                              {"auto.offset.reset", "earliest"},
                                              {"enable.auto.commit", "false"}});
    std::string error;
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
    if (!consumer_) die("watcher: " + error);
    if (consumer_->subscribe({kTopics.events}) != RdKafka::ERR_NO_ERROR) die("watcher: subscribe");
    thread_ = std::thread([this] { run(); });
  }
  ~Watcher() {
    stop_ = true;
    thread_.join();
    consumer_->close();
  }
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  std::map<std::string, Steady::time_point> seen() {
    const std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  void run() {
    while (!stop_) {
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
      if (m->err() != RdKafka::ERR_NO_ERROR || m->key() == nullptr) continue;
      const auto at = Steady::now();
      const std::lock_guard lock(mutex_);
      seen_.emplace(*m->key(), at);
    }
  }

  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::map<std::string, Steady::time_point> seen_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// The events

// One event at a time, sent at once: no producer-side batching in the figure.
std::unique_ptr<RdKafka::Producer> make_producer(const std::string& brokers) {
  return producer_with_topics({{"bootstrap.servers", brokers}, {"linger.ms", "0"}, {"acks", "all"}},
                              {kTopics.events, kTopics.releases, kTopics.dead_letters}, 1);
}

int run(int argc, char** argv) {
  std::size_t events = 200;
  long spacing_ms = 50;
  DaemonRun opts;
  opts.incidentd = INCIDENTD_BINARY;
  opts.source_dir = INCIDENTD_SOURCE_DIR;
  std::string command_line = argv[0];
  for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
  CLI::App app("Event in -> first notification on the wire, with the real daemon and broker",
               "notify_latency_bench");
  app.add_option("--events", events, "new incidents, one event each")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  app.add_option("--spacing-ms", spacing_ms, "time between two events")->capture_default_str();
  std::string csv_path;
  app.add_option("--csv", csv_path, "write each event's figures to this file");
  add_options(app, opts);
  CLI11_PARSE(app, argc, argv);
  const fs::path dir = run_dir(opts, "incidentd-latency-bench");
  const std::string& incidentd = opts.incidentd;
  const fs::path& source_dir = opts.source_dir;
  const std::string& log_level = opts.log_level;
  bool keep = opts.keep;  // a failed run keeps its folder
  const auto [port, brokers] = broker_address(opts);

  std::printf("notify_latency_bench: %s\n", command_line.c_str());
  std::printf(
      "  %zu level I/II detected events, one new incident each, %ld ms apart; broker on %s; "
      "load average %s\n",
      events, spacing_ms, brokers.c_str(), load_average().c_str());
  std::fflush(stdout);
  std::optional<LocalBroker> broker;
  if (port != 0) broker.emplace(source_dir, dir / "kafka", port);

  auto producer = make_producer(brokers);
  WebhookReceiver receiver;
  std::optional<Watcher> watcher;
  watcher.emplace(brokers);
  const fs::path config = dir / "incidentd.toml";
  const fs::path db = dir / "latency.db";
  write_config(source_dir, config, brokers, "latency-" + kRun, kTopics, receiver.port());
  DaemonProcess daemon(
      incidentd, {"--config", config.string(), "--database", db.string(), "--log-level", log_level},
      dir / "incidentd.log");
  const fs::path& log = daemon.log();
  const auto alive = [&] { daemon.check_alive(); };
  daemon.wait_assigned(120s);

  // Detected 2 h 1 min ago: first_release's 2 h warning is due on arrival.
  const std::string detected = rfc3339_utc(std::chrono::system_clock::now() - 2h - 1min);
  const auto wait_for = [&](const std::string& key, Steady::duration limit) {
    for (const auto give_up = Steady::now() + limit;;) {
      if (receiver.first_by_incident().count(key) != 0) return true;
      if (Steady::now() > give_up) return false;
      alive();
      std::this_thread::sleep_for(5ms);
    }
  };
  // One warm-up incident, not counted: the first batch, connection and statements.
  produce(*producer, kTopics.events, "latency-" + kRun + "-warmup",
          incident_event("latency-" + kRun + "-warmup", "II", kUnit, detected));
  if (!wait_for("latency-" + kRun + "-warmup", 60s)) {
    die("no notification for the warm-up incident within 60 s; see " + log.string());
  }

  struct Sent {
    std::string key;
    Steady::time_point at;
    std::chrono::system_clock::time_point wall;
  };
  std::vector<Sent> sent;
  const auto start = Steady::now();
  for (std::size_t i = 0; i < events; ++i) {
    const std::string key = "latency-" + kRun + "-" + std::to_string(i);
    const std::string value = incident_event(key, i % 2 == 0 ? "II" : "I", kUnit, detected);
    std::this_thread::sleep_until(start + std::chrono::milliseconds(spacing_ms) *
                                              static_cast<long>(i));  // pacing, not a wait
    sent.push_back({key, Steady::now(), std::chrono::system_clock::now()});
    produce(*producer, kTopics.events, key, value);
  }
  producer->flush(10000);
  for (const auto give_up = Steady::now() + 60s; Steady::now() < give_up;) {
    if (receiver.first_by_incident().size() >= events + 1) break;
    alive();
    std::this_thread::sleep_for(20ms);
  }
  const auto first = receiver.first_by_incident();
  const int status = daemon.stop();

  const auto readable = watcher->seen();
  watcher.reset();

  std::vector<double> latencies;
  std::vector<double> hops;    // event in -> readable by a consumer
  std::vector<double> shares;  // readable -> on the wire
  std::optional<Arrival> example;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> csv(nullptr, &std::fclose);
  if (!csv_path.empty()) {
    csv.reset(std::fopen(csv_path.c_str(), "w"));
    if (!csv) die("cannot write " + csv_path);
    std::fprintf(csv.get(), "incident_key,produced_epoch_ms,hop_ms,incidentd_ms,total_ms\n");
  }
  for (const auto& [key, at, wall] : sent) {
    const auto it = first.find(key);
    if (it == first.end()) continue;
    latencies.push_back(ms(it->second.at - at));
    double hop = -1;
    if (const auto r = readable.find(key); r != readable.end()) {
      hop = ms(r->second - at);
      hops.push_back(hop);
      shares.push_back(ms(it->second.at - r->second));
    }
    if (csv) {
      const auto epoch_ms =
          std::chrono::duration<double, std::milli>(wall.time_since_epoch()).count();
      std::fprintf(csv.get(), "%s,%.3f,%.3f,%.3f,%.3f\n", key.c_str(), epoch_ms, hop,
                   hop < 0 ? -1.0 : latencies.back() - hop, latencies.back());
    }
    if (!example) example = it->second;
  }
  csv.reset();
  std::sort(latencies.begin(), latencies.end());
  std::sort(hops.begin(), hops.end());
  std::sort(shares.begin(), shares.end());
  std::printf(
      "  first notification: first_release warning, level 0 (the responsible unit's duty "
      "officers), due "
      "at detected_at + 2h; events are back-dated 2h01m so it is due on arrival\n");
  if (example) {
    std::printf("  e.g. %s: %s\n", example->notification_id.c_str(),
                example->body.value("notification", nlohmann::json::object()).dump().c_str());
  }
  std::printf("  receiver: %zu requests, %zu not generic JSON with an incident_key\n",
              receiver.requests(), receiver.bad());
  std::printf("  incidents with a notification: %zu of %zu\n", latencies.size(), events);
  if (!latencies.empty()) {
    double sum = 0;
    for (double l : latencies) sum += l;
    std::printf(
        "  event in -> first notification on the wire (ms): min %.1f  p50 %.1f  p90 %.1f  "
        "p99 %.1f  max %.1f  mean %.1f\n",
        latencies.front(), percentile(latencies, 0.50), percentile(latencies, 0.90),
        percentile(latencies, 0.99), latencies.back(), sum / static_cast<double>(latencies.size()));
  }
  if (!hops.empty()) {
    std::printf(
        "  of which the Kafka hop, event in -> readable by a consumer of its own (ms): p50 %.1f  "
        "p99 %.1f; readable -> on the wire (incidentd): p50 %.1f  p99 %.1f  (%zu events)\n",
        percentile(hops, 0.50), percentile(hops, 0.99), percentile(shares, 0.50),
        percentile(shares, 0.99), hops.size());
  }
  std::printf(
      "  bounds: producer linger.ms 0, acks all; incidentd ingest poll_wait 500 ms, a batch "
      "handed off once librdkafka holds no more (quiet 0) or 20 ms after its first (linger), "
      "commit_every 500 ms (IngestOptions defaults); dispatcher woken after each durable batch "
      "(on_batch_durable); load average %s\n",
      load_average().c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "notify_latency_bench: incidentd did not exit 0 on SIGTERM; see %s\n",
                 log.string().c_str());
    keep = true;
  }
  if (latencies.size() != events) {
    std::fprintf(stderr, "notify_latency_bench: %zu incidents got no notification; see %s\n",
                 events - latencies.size(), log.string().c_str());
    keep = true;
  }
  producer.reset();
  if (broker) broker->stop();  // before its folder goes
  if (!keep) {
    fs::remove_all(dir);
  } else {
    std::printf("  kept %s\n", dir.string().c_str());
  }
  return latencies.size() == events ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "notify_latency_bench: %s\n", e.what());
    return 1;
  }
}
