#include "service/reload.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "service/notifier.hpp"
#include "support/temp_dir.hpp"
#include "support/test_config.hpp"

namespace incidentd {
namespace {

using testing::TempDir;

using namespace std::chrono_literals;
namespace fs = std::filesystem;

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

constexpr const char* kExtraUnit = R"(
[[units]]
id = "extra-unit"
name = "新增单位"

  [[units.people]]
  id = "extra-duty1"
  name = "值班员乙"
  role = "duty"
  phone = "+8613800009999"
  channels = ["sms"]
)";

struct Fixture {
  TempDir dir{"incidentd-reload"};
  fs::path file = dir.path() / "incidentd.toml";
  std::string example = read_file(testing::example_config_path());
  Config running;
  int applied = 0;
  std::optional<Config> last;

  Fixture() {
    write_file(file, example);
    running = testing::load_example_config();
  }
  ConfigReloader::Apply apply() {
    return [this](const Config& c) {
      ++applied;
      last = c;
    };
  }
};

TEST_CASE("a good file with a changed roster is applied", "[reload]") {
  Fixture f;
  ConfigReloader reloader(f.file.string(), f.running, f.apply());
  const auto units_before = f.running.units.size();
  write_file(f.file, f.example + kExtraUnit);

  auto result = reloader.reload();
  CHECK(result.applied);
  CHECK(result.errors.empty());
  CHECK(result.needs_restart.empty());
  REQUIRE(f.applied == 1);
  CHECK(f.last->units.size() == units_before + 1);
  CHECK(f.last->find_unit("extra-unit") != nullptr);
  CHECK(reloader.current().find_unit("extra-unit") != nullptr);
}

TEST_CASE("a file with errors is refused and the running configuration stays", "[reload]") {
  Fixture f;
  ConfigReloader reloader(f.file.string(), f.running, f.apply());
  write_file(f.file, f.example + kExtraUnit + "\n[policy.first_release]\ndedline = \"5h\"\n");

  auto result = reloader.reload();
  CHECK_FALSE(result.applied);
  REQUIRE_FALSE(result.errors.empty());
  CHECK(result.errors.front().where.find(f.file.string()) == 0);
  CHECK(f.applied == 0);
  CHECK(reloader.current().find_unit("extra-unit") == nullptr);
  CHECK(reloader.current().units.size() == f.running.units.size());
}

TEST_CASE("a missing file is refused", "[reload]") {
  Fixture f;
  ConfigReloader reloader((f.dir.path() / "gone.toml").string(), f.running, f.apply());
  auto result = reloader.reload();
  CHECK_FALSE(result.applied);
  CHECK_FALSE(result.errors.empty());
  CHECK(f.applied == 0);
}

TEST_CASE("a failing apply refuses the reload", "[reload]") {
  Fixture f;
  ConfigReloader reloader(f.file.string(), f.running,
                          [](const Config&) { throw std::runtime_error("channel setup failed"); });
  write_file(f.file, f.example + kExtraUnit);
  auto result = reloader.reload();
  CHECK_FALSE(result.applied);
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors.front().message == "channel setup failed");
  CHECK(reloader.current().find_unit("extra-unit") == nullptr);
}

TEST_CASE("database and kafka keep their running values until a restart", "[reload]") {
  Fixture f;
  f.running.database = "/override/from/the/command/line.db";
  ConfigReloader reloader(f.file.string(), f.running, f.apply());
  std::string changed = f.example;
  const std::string brokers = "brokers = \"127.0.0.1:9092\"";
  REQUIRE(changed.find(brokers) != std::string::npos);
  changed.replace(changed.find(brokers), brokers.size(), "brokers = \"10.0.0.1:9092\"");

  write_file(f.file, changed);
  auto result = reloader.reload();
  CHECK(result.applied);
  CHECK(result.needs_restart == std::vector<std::string>{"database", "kafka"});
  REQUIRE(f.last);
  CHECK(f.last->database == "/override/from/the/command/line.db");
  CHECK(f.last->kafka.brokers == "127.0.0.1:9092");
}

TEST_CASE("a reload neither joins nor leaves a cluster nor changes its instance or timeouts",
          "[reload]") {
  Fixture f;
  ConfigReloader reloader(f.file.string(), f.running, f.apply());
  write_file(f.file,
             f.example + "\n[cluster]\ninstance_id = \"host-b\"\nsession_timeout = \"10s\"\n");
  auto result = reloader.reload();
  CHECK(result.applied);
  CHECK(result.needs_restart == std::vector<std::string>{"cluster"});
  REQUIRE(f.last);
  CHECK_FALSE(f.last->cluster.enabled());
  CHECK(f.last->cluster == f.running.cluster);
  CHECK(reloader.current().cluster == f.running.cluster);
}

TEST_CASE("timezone, notify, sms and http keep their running values, but the API's tokens apply",
          "[reload]") {
  Fixture f;
  ConfigReloader reloader(f.file.string(), f.running, f.apply());
  std::string changed = f.example;
  for (const auto& [from, to] :
       {std::pair<std::string, std::string>{"retry_base = \"5s\"", "retry_base = \"1s\""},
        {"max_parts = 6", "max_parts = 3"},
        {"port = 8480", "port = 8481"},
        {"timezone = \"Asia/Shanghai\"", "timezone = \"UTC\""}}) {
    REQUIRE(changed.find(from) != std::string::npos);
    changed.replace(changed.find(from), from.size(), to);
  }
  changed +=
      "\n[[http.tokens]]\nname = \"incidentctl\"\nsha256 = \"" + std::string(64, 'a') + "\"\n";

  write_file(f.file, changed);
  auto result = reloader.reload();
  CHECK(result.applied);
  CHECK(result.needs_restart == std::vector<std::string>{"timezone", "notify", "sms", "http"});
  REQUIRE(f.last);
  CHECK(f.last->timezone == "Asia/Shanghai");
  CHECK(f.last->utc_offset == f.running.utc_offset);
  CHECK(f.last->notify == f.running.notify);
  CHECK(f.last->sms == f.running.sms);
  CHECK(f.last->http.port == f.running.http.port);
  REQUIRE(f.last->http.tokens.size() == f.running.http.tokens.size() + 1);
  CHECK(f.last->http.tokens.back().name == "incidentctl");
}

// systemd's side of the protocol, as in notifier_test: a datagram socket named by NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const fs::path& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw std::runtime_error("cannot bind " + path.string());
    }
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~NotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  std::optional<std::string> receive(std::chrono::milliseconds timeout) const {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buffer[512];
    ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  int fd_ = -1;
};

void run_until(boost::asio::io_context& io, const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!done() && std::chrono::steady_clock::now() < until) io.run_for(20ms);
}

TEST_CASE("SIGHUP reloads on the loop between RELOADING=1 and READY=1, good file or bad",
          "[reload]") {
  Fixture f;
  NotifySocket socket(f.dir.path() / "notify");
  Notifier notifier;
  boost::asio::io_context io;
  ConfigReloader reloader(f.file.string(), f.running, f.apply());
  SighupReload sighup(io, reloader, notifier);

  write_file(f.file, f.example + kExtraUnit);
  REQUIRE(raise(SIGHUP) == 0);
  run_until(io, [&] { return f.applied == 1; });
  CHECK(f.applied == 1);
  auto reloading = socket.receive(1s);
  REQUIRE(reloading);
  CHECK(reloading->rfind("RELOADING=1\nMONOTONIC_USEC=", 0) == 0);
  CHECK(socket.receive(1s) == "READY=1");

  // A second SIGHUP is handled too; a bad file still ends the reload with READY=1.
  write_file(f.file, "this is = not toml [");
  REQUIRE(raise(SIGHUP) == 0);
  std::optional<std::string> ready;
  run_until(io, [&] {
    if (auto m = socket.receive(0ms); m && *m == "READY=1") ready = m;
    return ready.has_value();
  });
  CHECK(ready == "READY=1");
  CHECK(f.applied == 1);
  CHECK(reloader.current().find_unit("extra-unit") != nullptr);
}

}  // namespace
}  // namespace incidentd
