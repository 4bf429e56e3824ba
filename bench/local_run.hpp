// What the benchmarks that run the real daemon share: processes, ports, files, a local Kafka
// broker started and stopped through scripts/kafka.sh, the daemon's configuration and process.
// Failures throw std::runtime_error.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <librdkafka/rdkafkacpp.h>
#include <CLI/CLI.hpp>

namespace incidentd::bench {

std::string shell_quote(const std::string& s);
// The first three fields of /proc/loadavg: a busy machine makes any figure meaningless.
std::string load_average();
// A TCP port on 127.0.0.1 that was free a moment ago, and the one after it (a broker's
// controller), both below the ephemeral range.
int free_port();
std::string read_file(const std::filesystem::path& p);
// Starts argv[0] (a path) with stdout and stderr to `log`.
pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& log);

// A librdkafka configuration from properties; an unknown property or value throws.
std::unique_ptr<RdKafka::Conf> kafka_conf(const std::map<std::string, std::string>& props);
// A producer on those properties that has seen each topic with at least `partitions` partitions
// (its metadata requests make the local broker auto-create them).
std::unique_ptr<RdKafka::Producer> producer_with_topics(
    const std::map<std::string, std::string>& props, const std::vector<std::string>& topics,
    std::size_t partitions);

// The options of a bench that runs the real daemon on a broker of its own (or --brokers).
struct DaemonRun {
  std::filesystem::path dir;  // empty: a fresh folder under /tmp
  bool keep = false;          // leave the folder
  std::string incidentd;      // the daemon's binary
  std::filesystem::path source_dir;
  std::string log_level = "info";
  std::string external_brokers;  // empty: start a broker
};
void add_options(CLI::App& app, DaemonRun& run);
// The run's folder: --dir, or a new one named after `prefix`.
std::filesystem::path run_dir(const DaemonRun& run, const std::string& prefix);
// Where the run's broker listens: --brokers, or a free local port for the broker it starts.
struct BrokerAddress {
  int port = 0;         // 0 with --brokers: nothing to start
  std::string brokers;  // bootstrap.servers
};
BrokerAddress broker_address(const DaemonRun& run);

// A single-node broker of scripts/kafka.sh on 127.0.0.1:port, data in `dir`, stopped by stop()
// or the destructor.
class LocalBroker {
 public:
  LocalBroker(const std::filesystem::path& source_dir, std::filesystem::path dir, int port,
              int partitions = 0);
  ~LocalBroker();
  LocalBroker(const LocalBroker&) = delete;
  LocalBroker& operator=(const LocalBroker&) = delete;

  std::string brokers() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }
  void stop();

 private:
  std::string kafka_sh_;
  std::filesystem::path dir_;
  int port_;
  pid_t pid_ = 0;
  bool running_ = false;
};

// The topics of one run (named after it, so runs on one broker never meet).
struct BenchTopics {
  std::string events;
  std::string releases;
  std::string dead_letters;
};
// config/incidentd.toml with the run's broker, consumer group and topics. With a webhook port,
// every webhook of the roster (and the signed generic route) goes to 127.0.0.1:port and is
// everyone's first channel (SMS is off in the example).
void write_config(const std::filesystem::path& source_dir, const std::filesystem::path& out,
                  const std::string& brokers, const std::string& group, const BenchTopics& topics,
                  int webhook_port = 0);

// An event of the contract about incident `key` whose lead (and only) unit is `unit`: its
// event_id is key + "-" + seq, its kind "detected" for seq 0 and "updated" after.
std::string incident_event(const std::string& key, const char* level, const std::string& unit,
                           const std::string& detected_at, std::size_t seq = 0);

// RFC 3339 in UTC with milliseconds, as events carry detected_at.
std::string rfc3339_utc(std::chrono::system_clock::time_point t);
// The q-quantile (0..1) of sorted values, nearest rank; 0 when there are none.
double percentile(const std::vector<double>& sorted, double q);
// Produces one message (copied), waiting while librdkafka's queue is full.
void produce(RdKafka::Producer& p, const std::string& topic, const std::string& key,
             const std::string& value);

// incidentd started with `args` (after the binary), its output in `log`; stopped (SIGTERM, then
// waited for) by stop() or the destructor.
class DaemonProcess {
 public:
  DaemonProcess(const std::string& binary, const std::vector<std::string>& args,
                std::filesystem::path log);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::filesystem::path& log() const { return log_; }
  // Throws if the daemon has exited.
  void check_alive();
  // Waits until its consumer has its partitions ("kafka: assigned" in the log).
  void wait_assigned(std::chrono::steady_clock::duration limit);
  // SIGTERM and wait; the exit status (0 when already stopped).
  int stop();

 private:
  pid_t pid_;
  std::filesystem::path log_;
  bool stopped_ = false;
};

}  // namespace incidentd::bench
