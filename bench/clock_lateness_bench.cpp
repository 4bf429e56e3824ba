// Clock lateness benchmark (issue 18): how late the daemon fires a step that falls due, idle and
// under a sustained flood of valid events, and how long from the due instant to the webhook on
// the wire. The real daemon and a real local broker (scripts/kafka.sh), in one run:
//   1. starts the broker, a webhook receiver of its own (bench/webhook_receiver.hpp) and incidentd,
//      its roster reaching everyone by webhook first at that receiver;
//   2. opens 2 x N level II incidents before anything falls due, back-dated so that their 2 h
//      first_release warnings fall due spread evenly over two windows of W seconds: the idle
//      window from T0 (after a lead-in for the alerts at open to go out), and the flood window
//      from T1 = T0 + W + gap;
//   3. from T1 - 3 s to the last due instant of the flood window + 1 s, publishes level III
//      events (no clock, only recorded; `--flood-incidents` keys in turn, each event a new id)
//      at `--flood-rate` per second, so the daemon ingests through the whole window;
//   4. once every warning is in the timeline, stops the daemon and reads its database: lateness
//      = the timeline entry's `at` (the instant the engine acted on the step, which the daemon
//      records) minus the due instant; from the receiver, due instant to the warning's
//      notification read whole.
// The flood's rate is what the daemon processed over the flood window (its processed ids, read
// from the database at T1 and T1 + W), beside the rate produced.
//
//   build/release/bench/clock_lateness_bench [--incidents N] [--window S] [--flood-rate R]
//       [--flood-incidents K] [--lead S] [--gap S] [--batch B] [--dir DIR] [--keep]
//       [--incidentd PATH] [--source-dir DIR] [--log-level info] [--brokers HOST:PORT]
// A smoke run: --incidents 100 --window 10 --flood-rate 20000 (under a minute).
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
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

namespace {

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
using Wall = std::chrono::system_clock;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string kRun = std::to_string(::getpid());
const incidentd::bench::BenchTopics kTopics{"clock.events." + kRun, "clock.releases." + kRun,
                                            "clock.dlq." + kRun};
const std::string kUnit = "zhaotong-gov";  // its duty officers get the level-0 warnings

double ms(Wall::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

struct Incident {
  std::string key;
  Wall::time_point due;  // of its 2 h warning, to the millisecond
  bool flood = false;
};

// Events processed by the daemon so far (its processed ids), read beside it (WAL: no lock).
std::int64_t processed_count(const fs::path& db) {
  SQLite::Database sqlite(db.string(), SQLite::OPEN_READONLY);
  sqlite.setBusyTimeout(5000);
  return sqlite.execAndGet("SELECT COALESCE(SUM(ids), 0) FROM processed").getInt64();
}

// The 2 h warnings in the timeline (first_release warnings that are not the alert at open), by
// incident key: the instants they were acted on.
std::map<std::string, std::vector<Wall::time_point>> fired(const fs::path& db) {
  SQLite::Database sqlite(db.string(), SQLite::OPEN_READONLY);
  sqlite.setBusyTimeout(5000);
  SQLite::Statement q(sqlite,
                      "SELECT incident_key, at, body FROM timeline WHERE action = 'warning' AND "
                      "milestone = 'first_release' AND incident_key LIKE ?");
  q.bind(1, "clock-" + kRun + "-%");
  std::map<std::string, std::vector<Wall::time_point>> out;
  while (q.executeStep()) {
    const auto body = nlohmann::json::parse(q.getColumn(2).getString(), nullptr, false);
    if (body.is_object() && body.value("opening", false)) continue;
    out[q.getColumn(0).getString()].push_back(
        Wall::time_point(std::chrono::milliseconds(q.getColumn(1).getInt64())));
  }
  return out;
}

// Level III events at `rate` per second from `from` to `until`, `keys` incidents in turn, each
// event a new id; on a thread of its own. Only the event id changes from one event to the next.
class Flood {
 public:
  Flood(const std::string& brokers, double rate, std::size_t keys, Steady::time_point from,
        Steady::time_point until)
      : producer_(producer_with_topics({{"bootstrap.servers", brokers},
                                        {"linger.ms", "5"},
                                        {"acks", "1"},
                                        {"queue.buffering.max.messages", "1000000"}},
                                       {kTopics.events}, 1)) {
    const std::string detected = rfc3339_utc(Wall::now());
    for (std::size_t k = 0; k < keys; ++k) {
      const std::string key = "flood-" + kRun + "-" + std::to_string(k);
      const std::string event = incident_event(key, "III", kUnit, detected, 1);
      const std::string id = "\"" + key + "-1\"";
      const auto at = event.find(id);
      if (at == std::string::npos) throw std::runtime_error("flood: no event_id in the event");
      templates_.push_back(
          {key, event.substr(0, at + 1 + key.size() + 1), event.substr(at + id.size() - 1)});
    }
    thread_ = std::thread([this, rate, from, until] { run(rate, from, until); });
  }
  ~Flood() { join(); }
  Flood(const Flood&) = delete;
  Flood& operator=(const Flood&) = delete;

  void join() {
    if (thread_.joinable()) thread_.join();
  }
  std::size_t produced() const { return produced_; }
  double seconds() const { return seconds_; }
  const std::string& error() const { return error_; }

 private:
  struct Template {
    std::string key;
    std::string head;  // up to the event id's sequence number
    std::string tail;  // from the closing quote of the event id
  };

  void run(double rate, Steady::time_point from, Steady::time_point until) {
    try {
      std::this_thread::sleep_until(from);  // pacing, not a wait for anything
      const auto start = Steady::now();
      std::string value;
      std::size_t n = 0;
      for (auto now = start; now < until; now = Steady::now()) {
        // Everything owed by now, in slices of 10 ms.
        const auto owed =
            static_cast<std::size_t>(rate * std::chrono::duration<double>(now - start).count());
        if (n >= owed) {
          std::this_thread::sleep_for(10ms);
          continue;
        }
        for (const std::size_t end = std::min(owed, n + 20'000); n < end; ++n) {
          const Template& t = templates_[n % templates_.size()];
          value.assign(t.head);
          value += std::to_string(n / templates_.size() + 1);
          value += t.tail;
          produce(*producer_, kTopics.events, t.key, value);
        }
        produced_ = n;
      }
      seconds_ = std::chrono::duration<double>(Steady::now() - start).count();
      producer_->flush(60'000);
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }

  std::unique_ptr<RdKafka::Producer> producer_;
  std::vector<Template> templates_;
  std::atomic<std::size_t> produced_{0};
  double seconds_ = 0;
  std::string error_;
  std::thread thread_;
};

struct Figures {
  std::vector<double> lateness;  // ms, sorted
  std::vector<double> on_wire;   // ms, sorted
  std::size_t fired = 0, early = 0, twice = 0, notified = 0;
  // The latest firing: which incident, and its due instant, to line it up with a trace stamped
  // by the wall clock (`perf record -k realtime`).
  std::string latest_key;
  Wall::time_point latest_due;
  Wall::time_point latest_fired;
};

Figures figures(const std::vector<Incident>& incidents, bool flood,
                const std::map<std::string, std::vector<Wall::time_point>>& timeline,
                const std::vector<incidentd::bench::Arrival>& arrivals) {
  std::map<std::string, Wall::time_point> wire;  // the first 2 h warning on the wire
  for (const auto& a : arrivals) {
    const auto& n = a.body.value("notification", nlohmann::json::object());
    if (n.value("opening", false) || n.value("cause", "") != "warning") continue;
    wire.try_emplace(a.incident_key, a.wall);
  }
  Figures f;
  for (const auto& i : incidents) {
    if (i.flood != flood) continue;
    if (const auto it = timeline.find(i.key); it != timeline.end()) {
      ++f.fired;
      if (it->second.size() > 1) ++f.twice;
      const auto first = *std::min_element(it->second.begin(), it->second.end());
      if (first < i.due) ++f.early;
      f.lateness.push_back(ms(first - i.due));
      if (f.latest_key.empty() || ms(first - i.due) > ms(f.latest_fired - f.latest_due)) {
        f.latest_key = i.key;
        f.latest_due = i.due;
        f.latest_fired = first;
      }
    }
    if (const auto it = wire.find(i.key); it != wire.end()) {
      ++f.notified;
      f.on_wire.push_back(ms(it->second - i.due));
    }
  }
  std::sort(f.lateness.begin(), f.lateness.end());
  std::sort(f.on_wire.begin(), f.on_wire.end());
  return f;
}

void print_line(const char* what, const std::vector<double>& v, const std::string& extra = "") {
  std::printf("%s (ms): p50 %.1f p99 %.1f max %.1f%s\n", what, percentile(v, 0.50),
              percentile(v, 0.99), v.empty() ? 0.0 : v.back(), extra.c_str());
}

int run(int argc, char** argv) {
  std::size_t n = 1000;
  double window_s = 60;
  double flood_rate = 150'000;
  std::size_t flood_incidents = 10'000;
  double lead_s = 0;  // 0: 15 s + 20 ms per incident
  double gap_s = 5;
  std::size_t batch = 0;
  DaemonRun opts;
  opts.incidentd = INCIDENTD_BINARY;
  opts.source_dir = INCIDENTD_SOURCE_DIR;
  std::string command_line = argv[0];
  for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
  CLI::App app("Clock lateness, idle and under a flood of events, with the real daemon and broker",
               "clock_lateness_bench");
  app.add_option("--incidents", n, "level II incidents per window (idle, flood)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  app.add_option("--window", window_s, "seconds over which their 2 h warnings fall due")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));
  app.add_option("--flood-rate", flood_rate, "level III events per second published")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 10'000'000.0));
  app.add_option("--flood-incidents", flood_incidents, "level III incidents the flood updates")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
  app.add_option("--lead", lead_s, "seconds from opening to the first due instant (0: 15 + N/50)")
      ->capture_default_str();
  app.add_option("--gap", gap_s, "seconds between the idle and the flood window")
      ->capture_default_str();
  app.add_option("--batch", batch, "incidentd --batch (0: its default)")->capture_default_str();
  add_options(app, opts);
  CLI11_PARSE(app, argc, argv);
  if (lead_s <= 0) lead_s = 15 + static_cast<double>(n) / 50;
  const fs::path dir = run_dir(opts, "incidentd-clock-bench");
  bool keep = opts.keep;
  const auto [port, brokers] = broker_address(opts);

  std::printf("clock_lateness_bench: %s\n", command_line.c_str());
  std::printf(
      "  %zu level II incidents per window, 2 h warnings due over %.0f s idle, then %.0f s under "
      "a flood of level III events at %.0f/s over %zu incidents; broker on %s; load average %s\n",
      n, window_s, window_s, flood_rate, flood_incidents, brokers.c_str(), load_average().c_str());
  std::fflush(stdout);
  std::optional<LocalBroker> broker;
  if (port != 0) broker.emplace(opts.source_dir, dir / "kafka", port);

  auto producer =
      producer_with_topics({{"bootstrap.servers", brokers}, {"linger.ms", "0"}, {"acks", "all"}},
                           {kTopics.events, kTopics.releases, kTopics.dead_letters}, 1);
  WebhookReceiver receiver;
  const fs::path config = dir / "incidentd.toml";
  const fs::path db = dir / "clock.db";
  write_config(opts.source_dir, config, brokers, "clock-" + kRun, kTopics, receiver.port());
  std::vector<std::string> args{"--config",  config.string(), "--database",
                                db.string(), "--log-level",   opts.log_level};
  if (batch != 0) args.insert(args.end(), {"--batch", std::to_string(batch)});
  DaemonProcess daemon(opts.incidentd, args, dir / "incidentd.log");
  daemon.wait_assigned(120s);

  // Every incident is opened now, before the first due instant: the flood's backlog must not
  // hold back an opening event past its warning's due instant (that would be a catch-up).
  const auto window =
      std::chrono::duration_cast<Wall::duration>(std::chrono::duration<double>(window_s));
  const auto wall0 = Wall::now();
  const auto steady0 = Steady::now();
  const auto t0 = std::chrono::floor<std::chrono::milliseconds>(
      wall0 + std::chrono::duration_cast<Wall::duration>(std::chrono::duration<double>(lead_s)));
  const auto t1 = t0 + window +
                  std::chrono::duration_cast<Wall::duration>(std::chrono::duration<double>(gap_s));
  const auto steady_of = [&](Wall::time_point t) { return steady0 + (t - wall0); };
  std::vector<Incident> incidents;
  for (const bool flood : {false, true}) {
    for (std::size_t i = 0; i < n; ++i) {
      const auto due = std::chrono::floor<std::chrono::milliseconds>(
          (flood ? t1 : t0) + window * static_cast<double>(i) / static_cast<double>(n));
      Incident inc{"clock-" + kRun + (flood ? "-flood-" : "-idle-") + std::to_string(i), due,
                   flood};
      produce(*producer, kTopics.events, inc.key,
              incident_event(inc.key, "II", kUnit, rfc3339_utc(due - 2h)));
      incidents.push_back(std::move(inc));
    }
  }
  producer->flush(30'000);
  // The alerts at open go out before the idle window, or the figures say so.
  for (;;) {
    if (receiver.first_by_incident().size() >= 2 * n) break;
    if (Wall::now() > t0 - 1s) {
      std::printf(
          "  warning: %zu of %zu alerts at open were on the wire 1 s before the window; "
          "raise --lead\n",
          receiver.first_by_incident().size(), 2 * n);
      break;
    }
    daemon.check_alive();
    std::this_thread::sleep_for(20ms);
  }
  std::printf(
      "  %zu incidents opened and their alerts at open sent in %.1f s; the idle window "
      "starts %.1f s later\n",
      2 * n, std::chrono::duration<double>(Wall::now() - wall0).count(),
      std::chrono::duration<double>(t0 - Wall::now()).count());
  std::fflush(stdout);

  // The flood runs from 3 s before the flood window to 1 s after its last due instant.
  std::optional<Flood> flood;
  flood.emplace(brokers, flood_rate, flood_incidents, steady_of(t1 - 3s),
                steady_of(t1 + window + 1s));
  std::this_thread::sleep_until(steady_of(t1));  // pacing: the samples are taken at T1, T1 + W
  const std::int64_t processed_at_t1 = processed_count(db);
  const std::size_t produced_at_t1 = flood->produced();
  std::this_thread::sleep_until(steady_of(t1 + window));
  const std::int64_t processed_at_end = processed_count(db);
  const std::size_t produced_at_end = flood->produced();
  flood->join();
  if (!flood->error().empty()) throw std::runtime_error("flood: " + flood->error());
  const std::size_t flood_events = flood->produced();
  const double flood_seconds = flood->seconds();
  flood.reset();  // its producer, before the broker stops

  // Every warning in the timeline and on the wire (the backlog may still be draining).
  std::map<std::string, std::vector<Wall::time_point>> timeline;
  for (const auto give_up = Steady::now() + 300s;;) {
    daemon.check_alive();
    timeline = fired(db);
    std::size_t wired = 0;
    for (const auto& a : receiver.arrivals()) {
      const auto& body = a.body.value("notification", nlohmann::json::object());
      if (!body.value("opening", false) && body.value("cause", "") == "warning") ++wired;
    }
    if (timeline.size() >= 2 * n && wired >= 2 * n) break;
    if (Steady::now() > give_up) {
      std::printf("  gave up waiting: %zu of %zu warnings fired, %zu on the wire\n",
                  timeline.size(), 2 * n, wired);
      break;
    }
    std::this_thread::sleep_for(500ms);
  }
  const int status = daemon.stop();
  timeline = fired(db);
  const auto arrivals = receiver.arrivals();
  const Figures idle = figures(incidents, false, timeline, arrivals);
  const Figures flooded = figures(incidents, true, timeline, arrivals);

  const double handled = static_cast<double>(processed_at_end - processed_at_t1) / window_s;
  const double published = static_cast<double>(produced_at_end - produced_at_t1) / window_s;
  print_line("lateness idle", idle.lateness);
  char rate[160];
  std::snprintf(rate, sizeof rate, "; flood %.0f events/s handled (%.0f/s published)", handled,
                published);
  print_line("lateness under flood", flooded.lateness, rate);
  if (!flooded.latest_key.empty()) {
    std::printf("  the latest under flood: %s, due %s (%.3f s since the epoch), %.1f ms late\n",
                flooded.latest_key.c_str(), rfc3339_utc(flooded.latest_due).c_str(),
                std::chrono::duration<double>(flooded.latest_due.time_since_epoch()).count(),
                flooded.lateness.back());
  }
  print_line("due to on the wire", idle.on_wire);
  print_line("due to on the wire under flood", flooded.on_wire);
  std::printf("fired %zu of %zu, early %zu, twice %zu\n", idle.fired + flooded.fired, 2 * n,
              idle.early + flooded.early, idle.twice + flooded.twice);
  std::printf(
      "  lateness: the timeline entry's `at` minus the due instant; on the wire: the receiver's "
      "clock when the warning's request was read whole; %zu and %zu warnings on the wire; flood "
      "published %zu events in %.1f s; receiver %zu requests, %zu not generic JSON; load "
      "average %s\n",
      idle.notified, flooded.notified, flood_events, flood_seconds, receiver.requests(),
      receiver.bad(), load_average().c_str());
  const bool complete = idle.fired + flooded.fired == 2 * n && idle.early + flooded.early == 0 &&
                        idle.twice + flooded.twice == 0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "clock_lateness_bench: incidentd did not exit 0 on SIGTERM; see %s\n",
                 daemon.log().string().c_str());
    keep = true;
  }
  if (!complete) keep = true;
  producer.reset();
  if (broker) broker->stop();  // before its folder goes
  if (!keep) {
    fs::remove_all(dir);
  } else {
    std::printf("  kept %s\n", dir.string().c_str());
  }
  return complete ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "clock_lateness_bench: %s\n", e.what());
    return 1;
  }
}
