// What the benchmarks that run the real daemon share: processes, ports, files, and a local Kafka
// broker started and stopped through scripts/kafka.sh. Failures throw std::runtime_error.
#pragma once

#include <sys/types.h>

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
// A TCP port on 127.0.0.1 that was free a moment ago.
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

}  // namespace incidentd::bench
