#include "local_run.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

namespace incidentd::bench {

namespace fs = std::filesystem;

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

namespace {

bool port_is_free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("cannot open a socket to look for a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return free;
}

}  // namespace

// As scripts/free_port.py picks for the tests: at random below Linux's ephemeral range (32768
// and up), where no outgoing connection of another program takes the port (or the next one)
// before the broker binds it. A port from bind(0) was in that range, and its successor, which
// scripts/kafka.sh gives the controller, was once taken in between ("Address already in use").
int free_port() {
  static std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(10000, 19998);
  for (int tries = 0; tries < 1000; ++tries) {
    const int port = pick(rng);
    if (port_is_free(port) && port_is_free(port + 1)) return port;
  }
  throw std::runtime_error("cannot find two free ports in a row in 10000-19999");
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

pid_t spawn(const std::vector<std::string>& argv, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  return pid;
}

std::unique_ptr<RdKafka::Conf> kafka_conf(const std::map<std::string, std::string>& props) {
  std::unique_ptr<RdKafka::Conf> c(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  for (const auto& [k, v] : props) {
    if (c->set(k, v, err) != RdKafka::Conf::CONF_OK) throw std::runtime_error(k + ": " + err);
  }
  return c;
}

std::unique_ptr<RdKafka::Producer> producer_with_topics(
    const std::map<std::string, std::string>& props, const std::vector<std::string>& topics,
    std::size_t partitions) {
  std::string err;
  const auto c = kafka_conf(props);
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(c.get(), err));
  if (!p) throw std::runtime_error("producer: " + err);
  for (const auto& topic : topics) {
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(p.get(), topic, nullptr, err));
    for (int attempt = 0;; ++attempt) {
      RdKafka::Metadata* md = nullptr;
      const auto rc = p->metadata(false, t.get(), &md, 5000);
      std::size_t parts = 0;
      if (rc == RdKafka::ERR_NO_ERROR && !md->topics()->empty()) {
        parts = (*md->topics())[0]->partitions()->size();
      }
      delete md;
      if (parts >= partitions) break;
      if (attempt > 100) throw std::runtime_error("topic " + topic + " did not appear");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return p;
}

void add_options(CLI::App& app, DaemonRun& run) {
  app.add_option("--dir", run.dir, "folder for the broker, the database and the logs");
  app.add_flag("--keep", run.keep, "keep that folder afterwards");
  app.add_option("--incidentd", run.incidentd, "the incidentd binary")->capture_default_str();
  app.add_option("--source-dir", run.source_dir, "the source tree (config, scripts/kafka.sh)")
      ->capture_default_str();
  app.add_option("--log-level", run.log_level, "incidentd --log-level")->capture_default_str();
  app.add_option("--brokers", run.external_brokers,
                 "a running broker that auto-creates topics, instead of a new one");
}

BrokerAddress broker_address(const DaemonRun& run) {
  if (!run.external_brokers.empty()) return {0, run.external_brokers};
  const int port = free_port();
  return {port, "127.0.0.1:" + std::to_string(port)};
}

fs::path run_dir(const DaemonRun& run, const std::string& prefix) {
  fs::path dir = run.dir;
  if (dir.empty()) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
  }
  fs::create_directories(dir);
  return dir;
}

LocalBroker::LocalBroker(const fs::path& source_dir, fs::path dir, int port, int partitions)
    : kafka_sh_((source_dir / "scripts" / "kafka.sh").string()), dir_(std::move(dir)), port_(port) {
  std::string start = shell_quote(kafka_sh_) + " start --port " + std::to_string(port_) +
                      " --dir " + shell_quote(dir_.string());
  if (partitions > 0) start += " --partitions " + std::to_string(partitions);
  if (std::system((start + " >&2").c_str()) != 0) {
    throw std::runtime_error("the broker did not start (" + start + ")");
  }
  running_ = true;
  std::ifstream(dir_ / "kafka.pid") >> pid_;
}

LocalBroker::~LocalBroker() {
  stop();
}

void LocalBroker::stop() {
  if (!running_) return;
  running_ = false;
  const std::string cmd = shell_quote(kafka_sh_) + " stop --dir " + shell_quote(dir_.string());
  (void)std::system((cmd + " >&2").c_str());
}

void write_config(const fs::path& source_dir, const fs::path& out, const std::string& brokers,
                  const std::string& group, const BenchTopics& topics, int webhook_port) {
  std::string text = read_file(source_dir / "config" / "incidentd.toml");
  const auto set = [&](const std::string& name, const std::string& value) {
    const std::regex line("^" + name + " = \"[^\"]*\"", std::regex::multiline);
    if (!std::regex_search(text, line)) {
      throw std::runtime_error("config/incidentd.toml has no " + name + " line");
    }
    text = std::regex_replace(text, line, name + " = \"" + value + "\"",
                              std::regex_constants::format_first_only);
  };
  set("brokers", brokers);
  set("group", group);
  set("events", topics.events);
  set("releases", topics.releases);
  set("dead_letter", topics.dead_letters);
  if (webhook_port != 0) {
    const std::string demo = "http://127.0.0.1:18080";
    if (text.find(demo) == std::string::npos) {
      throw std::runtime_error("config/incidentd.toml has no " + demo + " URL");
    }
    text = std::regex_replace(text, std::regex(demo),
                              "http://127.0.0.1:" + std::to_string(webhook_port));
    const std::regex both(R"(channels = \["sms", "webhook"\])");
    if (!std::regex_search(text, both)) {
      throw std::runtime_error("config/incidentd.toml: no channels = [\"sms\", \"webhook\"]");
    }
    text = std::regex_replace(text, both, R"(channels = ["webhook", "sms"])");
  }
  std::ofstream(out) << text;
}

std::string incident_event(const std::string& key, const char* level, const std::string& unit,
                           const std::string& detected_at, std::size_t seq) {
  return nlohmann::json{
      {"schema", 1},
      {"event_id", key + "-" + std::to_string(seq)},
      {"incident_key", key},
      {"kind", seq == 0 ? "detected" : "updated"},
      {"level", level},
      {"title", "昭通市某县山体滑坡引发网络关注"},
      {"category", "disaster"},
      {"region", "530600"},
      {"lead_unit", unit},
      {"units", {unit}},
      {"detected_at", detected_at},
      {"source",
       {{"platform", "weibo"},
        {"url", "https://example.org/post/" + key},
        {"summary", "网民关注山体滑坡救援进展与伤亡情况"}}},
  }
      .dump();
}

std::string rfc3339_utc(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const std::time_t tt =
      std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(ms));
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", std::gmtime(&tt));
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", when,
                static_cast<int>((ms.time_since_epoch() % std::chrono::seconds(1)).count()));
  return out;
}

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

void produce(RdKafka::Producer& p, const std::string& topic, const std::string& key,
             const std::string& value) {
  for (;;) {
    const auto rc = p.produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                              const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
                              0, nullptr);
    if (rc == RdKafka::ERR_NO_ERROR) break;
    if (rc != RdKafka::ERR__QUEUE_FULL)
      throw std::runtime_error("produce: " + RdKafka::err2str(rc));
    p.poll(10);
  }
  p.poll(0);
}

DaemonProcess::DaemonProcess(const std::string& binary, const std::vector<std::string>& args,
                             fs::path log)
    : log_(std::move(log)) {
  std::vector<std::string> argv{binary};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn(argv, log_);
}

DaemonProcess::~DaemonProcess() {
  stop();
}

void DaemonProcess::check_alive() {
  int status = 0;
  if (!stopped_ && ::waitpid(pid_, &status, WNOHANG) == pid_) {
    stopped_ = true;
    throw std::runtime_error("incidentd exited early; see " + log_.string());
  }
}

void DaemonProcess::wait_assigned(std::chrono::steady_clock::duration limit) {
  for (const auto give_up = std::chrono::steady_clock::now() + limit;;) {
    check_alive();
    if (read_file(log_).find("kafka: assigned") != std::string::npos) return;
    if (std::chrono::steady_clock::now() > give_up) {
      throw std::runtime_error("incidentd was not assigned partitions; see " + log_.string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

int DaemonProcess::stop() {
  if (stopped_) return 0;
  stopped_ = true;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  return status;
}

}  // namespace incidentd::bench
