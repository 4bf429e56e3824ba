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
// was the consumer's 20 ms batch linger; a batch now goes to the loop once 1 ms passes without
// a message (IngestOptions::quiet), so a lone event is not held back.
//
// Which notification: the events are detected 2 h 1 min before they are published, so
// first_release's 2 h warning (level 0: the responsible units' duty officers) is due on arrival
// and goes out at once, and it alone (a late arrival acts on its latest due step, which
// supersedes the alert at open). The bench was written before the 0 h row; a fresh event's alert
// at open takes the same path.
//
//   build/release/bench/notify_latency_bench [--events N] [--spacing-ms MS] [--dir DIR] [--keep]
//       [--incidentd PATH] [--source-dir DIR] [--log-level info] [--brokers HOST:PORT]
// --brokers uses a running broker (that auto-creates topics) instead of starting one.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <librdkafka/rdkafkacpp.h>

#include "local_run.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using incidentd::bench::broker_address;
using incidentd::bench::DaemonRun;
using incidentd::bench::load_average;
using incidentd::bench::LocalBroker;
using incidentd::bench::producer_with_topics;
using incidentd::bench::read_file;
using incidentd::bench::spawn;

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kRun = std::to_string(::getpid());
const std::string kEvents = "latency.events." + kRun;
const std::string kReleases = "latency.releases." + kRun;
const std::string kDeadLetters = "latency.dlq." + kRun;
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
// The webhook receiver: one thread, one connection at a time (each request is a few hundred
// bytes and the daemon opens a connection per notification). Answers 204 and closes.

struct Arrival {
  Steady::time_point at;  // the whole request read
  std::string notification_id;
  nlohmann::json body;
};

class Receiver {
 public:
  Receiver() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 256) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      die("receiver: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Receiver() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  int port() const { return port_; }

  // The first arrival per incident key, and how many requests came in all.
  std::map<std::string, Arrival> first_by_incident() {
    const std::lock_guard lock(mutex_);
    return first_;
  }
  std::size_t requests() {
    const std::lock_guard lock(mutex_);
    return requests_;
  }
  std::size_t bad() {
    const std::lock_guard lock(mutex_);
    return bad_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      serve(c);
      ::close(c);
    }
  }

  void serve(int c) {
    std::string in;
    std::size_t header_end = std::string::npos;
    std::size_t length = 0;
    char buf[8192];
    const auto give_up = Steady::now() + 5s;
    for (;;) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        if (Steady::now() > give_up) return;
        continue;
      }
      const ssize_t n = ::read(c, buf, sizeof buf);
      if (n <= 0) return;
      in.append(buf, static_cast<std::size_t>(n));
      if (header_end == std::string::npos) {
        header_end = in.find("\r\n\r\n");
        if (header_end == std::string::npos) continue;
        std::string head = in.substr(0, header_end);
        std::transform(head.begin(), head.end(), head.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        const auto at = head.find("\r\ncontent-length:");
        if (at != std::string::npos) length = std::stoul(head.substr(at + 17));
      }
      if (in.size() >= header_end + 4 + length) break;
    }
    const auto arrived = Steady::now();
    static const char reply[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    (void)!::write(c, reply, sizeof reply - 1);
    auto body = nlohmann::json::parse(in.substr(header_end + 4, length), nullptr, false);
    const std::lock_guard lock(mutex_);
    ++requests_;
    if (!body.is_object() || !body.contains("incident_key")) {
      ++bad_;
      return;
    }
    const std::string key = body["incident_key"].get<std::string>();
    if (first_.count(key) == 0) {
      first_[key] = {arrived, body.value("notification_id", ""), std::move(body)};
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::map<std::string, Arrival> first_;
  std::size_t requests_ = 0;
  std::size_t bad_ = 0;
};

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
    if (consumer_->subscribe({kEvents}) != RdKafka::ERR_NO_ERROR) die("watcher: subscribe");
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
// The daemon

void write_config(const fs::path& source_dir, const fs::path& out, const std::string& brokers,
                  const std::string& group, int receiver_port) {
  std::string text = read_file(source_dir / "config" / "incidentd.toml");
  const auto set = [&](const std::string& name, const std::string& value) {
    const std::regex line("^" + name + " = \"[^\"]*\"", std::regex::multiline);
    if (!std::regex_search(text, line)) die("config/incidentd.toml has no " + name + " line");
    text = std::regex_replace(text, line, name + " = \"" + value + "\"",
                              std::regex_constants::format_first_only);
  };
  set("brokers", brokers);
  set("group", group);
  set("events", kEvents);
  set("releases", kReleases);
  set("dead_letter", kDeadLetters);
  // Every webhook of the roster (and the signed generic route) goes to the receiver...
  const std::string demo = "http://127.0.0.1:18080";
  if (text.find(demo) == std::string::npos) die("config/incidentd.toml has no " + demo + " URL");
  text = std::regex_replace(text, std::regex(demo),
                            "http://127.0.0.1:" + std::to_string(receiver_port));
  // ...and is everyone's first channel (SMS is off in the example).
  const std::regex both(R"(channels = \["sms", "webhook"\])");
  if (!std::regex_search(text, both)) die("config/incidentd.toml: no channels = [\"sms\", ...]");
  text = std::regex_replace(text, both, R"(channels = ["webhook", "sms"])");
  std::ofstream(out) << text;
}

// ---------------------------------------------------------------------------------------------
// The events

// One event at a time, sent at once: no producer-side batching in the figure.
std::unique_ptr<RdKafka::Producer> make_producer(const std::string& brokers) {
  return producer_with_topics({{"bootstrap.servers", brokers}, {"linger.ms", "0"}, {"acks", "all"}},
                              {kEvents, kReleases, kDeadLetters}, 1);
}

std::string event_json(const std::string& key, const char* level, const std::string& detected) {
  return nlohmann::json{
      {"schema", 1},
      {"event_id", key + "-0"},
      {"incident_key", key},
      {"kind", "detected"},
      {"level", level},
      {"title", "昭通市某县山体滑坡引发网络关注"},
      {"category", "disaster"},
      {"region", "530600"},
      {"lead_unit", kUnit},
      {"units", {kUnit}},
      {"detected_at", detected},
      {"source",
       {{"platform", "weibo"},
        {"url", "https://example.org/post/" + key},
        {"summary", "网民关注山体滑坡救援进展与伤亡情况"}}},
  }
      .dump();
}

std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
  return when;
}

void produce(RdKafka::Producer& p, const std::string& key, const std::string& value) {
  for (;;) {
    const auto rc = p.produce(kEvents, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                              const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
                              0, nullptr);
    if (rc == RdKafka::ERR_NO_ERROR) break;
    if (rc != RdKafka::ERR__QUEUE_FULL) die("produce: " + RdKafka::err2str(rc));
    p.poll(10);
  }
  p.poll(0);
}

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
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
  Receiver receiver;
  std::optional<Watcher> watcher;
  watcher.emplace(brokers);
  const fs::path config = dir / "incidentd.toml";
  const fs::path db = dir / "latency.db";
  const fs::path log = dir / "incidentd.log";
  write_config(source_dir, config, brokers, "latency-" + kRun, receiver.port());
  const pid_t pid = spawn(
      {incidentd, "--config", config.string(), "--database", db.string(), "--log-level", log_level},
      log);
  struct StopDaemon {
    pid_t pid;
    bool stopped = false;
    int stop() {
      if (stopped) return 0;
      stopped = true;
      ::kill(pid, SIGTERM);
      int status = 0;
      ::waitpid(pid, &status, 0);
      return status;
    }
    ~StopDaemon() { stop(); }
  } daemon{pid};

  const auto alive = [&] {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      daemon.stopped = true;
      die("incidentd exited early; see " + log.string());
    }
  };
  // Ready once its consumer has its partitions.
  for (const auto give_up = Steady::now() + 120s;;) {
    alive();
    if (read_file(log).find("kafka: assigned") != std::string::npos) break;
    if (Steady::now() > give_up) die("incidentd was not assigned partitions; see " + log.string());
    std::this_thread::sleep_for(20ms);
  }

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
  produce(*producer, "latency-" + kRun + "-warmup",
          event_json("latency-" + kRun + "-warmup", "II", detected));
  if (!wait_for("latency-" + kRun + "-warmup", 60s)) {
    die("no notification for the warm-up incident within 60 s; see " + log.string());
  }

  std::vector<std::pair<std::string, Steady::time_point>> sent;
  const auto start = Steady::now();
  for (std::size_t i = 0; i < events; ++i) {
    const std::string key = "latency-" + kRun + "-" + std::to_string(i);
    const std::string value = event_json(key, i % 2 == 0 ? "II" : "I", detected);
    std::this_thread::sleep_until(start + std::chrono::milliseconds(spacing_ms) *
                                              static_cast<long>(i));  // pacing, not a wait
    sent.emplace_back(key, Steady::now());
    produce(*producer, key, value);
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
  for (const auto& [key, at] : sent) {
    const auto it = first.find(key);
    if (it == first.end()) continue;
    latencies.push_back(ms(it->second.at - at));
    if (const auto r = readable.find(key); r != readable.end()) {
      hops.push_back(ms(r->second - at));
      shares.push_back(ms(it->second.at - r->second));
    }
    if (!example) example = it->second;
  }
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
      "handed off after 1 ms without a message (quiet) or 20 ms after its first (linger), "
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
