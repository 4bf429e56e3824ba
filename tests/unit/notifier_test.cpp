#include "service/notifier.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "service/start_keepalive.hpp"
#include "service/status.hpp"
#include "service/watchdog.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;

// What systemd does: a datagram socket bound in a directory, named by NOTIFY_SOCKET. Restores
// the environment on destruction so one test's socket never leaks into the next.
class NotifySocket {
 public:
  NotifySocket() {
    char tmpl[] = "/tmp/incidentd-notify-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    path_ = dir_ + "/notify";
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw std::runtime_error(std::string("bind failed: ") + std::strerror(errno));
    }
    setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    close(fd_);
    std::filesystem::remove_all(dir_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The next datagram, or nullopt when none arrives within `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout = 2s) const {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buffer[4096];
    ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

std::uint64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000U +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1'000U;
}

void set_watchdog(const std::string& usec, pid_t pid) {
  setenv("WATCHDOG_USEC", usec.c_str(), 1);
  setenv("WATCHDOG_PID", std::to_string(pid).c_str(), 1);
}

// Runs the loop until a datagram arrives or the deadline passes.
std::optional<std::string> run_until_datagram(boost::asio::io_context& io,
                                              const NotifySocket& socket,
                                              std::chrono::milliseconds deadline = 5s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    io.run_for(20ms);
    if (auto message = socket.receive(0ms)) return message;
  }
  return std::nullopt;
}

TEST_CASE("each lifecycle call sends its exact sd_notify datagram", "[notifier]") {
  NotifySocket socket;
  Notifier notifier;
  REQUIRE(notifier.enabled());

  notifier.ready();
  CHECK(socket.receive() == "READY=1");
  notifier.status("3 open incidents, 12 pending deadlines, lag 0");
  CHECK(socket.receive() == "STATUS=3 open incidents, 12 pending deadlines, lag 0");
  notifier.watchdog();
  CHECK(socket.receive() == "WATCHDOG=1");
  notifier.stopping();
  CHECK(socket.receive() == "STOPPING=1");
}

TEST_CASE("a paused daemon's status says why first", "[notifier][status]") {
  ServiceStatus status{3, 12, 0, std::string("disk full: /var/lib/incidentd/incidentd.db")};
  CHECK(format_status(status) ==
        "PAUSED, disk full: /var/lib/incidentd/incidentd.db; 3 open incidents, 12 pending "
        "deadlines, lag 0");
  status.paused.reset();
  CHECK(format_status(status) == "3 open incidents, 12 pending deadlines, lag 0");
}

TEST_CASE("a status with newlines cannot forge another field", "[notifier]") {
  NotifySocket socket;
  Notifier notifier;
  notifier.status("reading\nREADY=1");
  CHECK(socket.receive() == "STATUS=reading READY=1");
}

TEST_CASE("reloading sends RELOADING=1 with the monotonic time of the reload", "[notifier]") {
  NotifySocket socket;
  Notifier notifier;
  const auto before = monotonic_usec();
  notifier.reloading();
  const auto after = monotonic_usec();
  auto message = socket.receive();
  REQUIRE(message);
  const std::string head = "RELOADING=1\nMONOTONIC_USEC=";
  REQUIRE(message->substr(0, head.size()) == head);
  const auto usec = std::stoull(message->substr(head.size()));
  CHECK(usec >= before);
  CHECK(usec <= after);
}

TEST_CASE("without NOTIFY_SOCKET the notifier is disabled and sends nothing", "[notifier]") {
  NotifySocket socket;
  unsetenv("NOTIFY_SOCKET");
  set_watchdog("2000000", getpid());
  Notifier notifier;
  CHECK_FALSE(notifier.enabled());
  CHECK_FALSE(notifier.watchdog_interval());
  notifier.ready();
  notifier.status("x");
  notifier.watchdog();
  CHECK_FALSE(socket.receive(100ms));
}

TEST_CASE("the watchdog interval is half of WATCHDOG_USEC", "[notifier][watchdog]") {
  NotifySocket socket;
  set_watchdog("3000000", getpid());
  Notifier notifier;
  REQUIRE(notifier.watchdog_interval());
  CHECK(*notifier.watchdog_interval() == 1500ms);
}

TEST_CASE("a watchdog meant for another process is ignored", "[notifier][watchdog]") {
  NotifySocket socket;
  set_watchdog("3000000", getpid() + 1);
  Notifier notifier;
  CHECK_FALSE(notifier.watchdog_interval());

  boost::asio::io_context io;
  WatchdogPinger pinger(io, notifier);
  pinger.start();
  CHECK_FALSE(pinger.active());
  io.run_for(50ms);
  CHECK_FALSE(socket.receive(0ms));
}

TEST_CASE("the pinger pings at once and then from the loop, and only while it turns",
          "[notifier][watchdog]") {
  NotifySocket socket;
  set_watchdog("200000", getpid());  // 200 ms: a ping every 100 ms
  Notifier notifier;
  notifier.ready();  // a running daemon's pings: the start's are below
  REQUIRE(socket.receive() == "READY=1");
  boost::asio::io_context io;
  WatchdogPinger pinger(io, notifier);
  pinger.start();
  REQUIRE(pinger.active());
  CHECK(socket.receive(0ms) == "WATCHDOG=1");  // sent by start(), before the loop runs

  for (int i = 0; i < 3; ++i) CHECK(run_until_datagram(io, socket) == "WATCHDOG=1");

  // A loop that does not run sends nothing, however long: that is what lets systemd notice.
  CHECK_FALSE(socket.receive(500ms));

  pinger.stop();
  io.run_for(300ms);
  CHECK_FALSE(socket.receive(0ms));
}

TEST_CASE("the start is extended until READY=1, and never after it", "[notifier][start]") {
  NotifySocket socket;
  Notifier notifier;
  notifier.extend_start(30s);
  CHECK(socket.receive() == "EXTEND_TIMEOUT_USEC=30000000");
  notifier.extend_start(1500ms, "starting: migrating\nREADY=1");
  CHECK(socket.receive() == "EXTEND_TIMEOUT_USEC=1500000\nSTATUS=starting: migrating READY=1");
  CHECK_FALSE(notifier.ready_sent());
  notifier.ready();
  CHECK(socket.receive() == "READY=1");
  CHECK(notifier.ready_sent());
  // After READY=1 it would stretch the running service's limit instead: nothing goes out, and
  // the next datagram is the status sent after it.
  notifier.extend_start(30s, "late");
  notifier.status("running");
  CHECK(socket.receive() == "STATUS=running");
}

TEST_CASE("until READY=1 each ping from the loop also extends the start",
          "[notifier][watchdog][start]") {
  NotifySocket socket;
  set_watchdog("200000", getpid());  // a ping every 100 ms; the start extended by 300 ms each
  Notifier notifier;
  boost::asio::io_context io;
  WatchdogPinger pinger(io, notifier);
  pinger.start();
  const std::string extension =
      "EXTEND_TIMEOUT_USEC=300000\nSTATUS=starting: the incident "
      "clocks run; waiting for Kafka before consuming (the log says why)";
  CHECK(socket.receive(0ms) == "WATCHDOG=1");  // start() pings before the loop runs
  CHECK(socket.receive(0ms) == extension);
  CHECK(run_until_datagram(io, socket) == "WATCHDOG=1");
  CHECK(socket.receive(0ms) == extension);
  // A loop that does not run extends nothing: systemd then ends a start whose loop is stuck.
  CHECK_FALSE(socket.receive(500ms));

  notifier.ready();
  CHECK(socket.receive() == "READY=1");
  CHECK(run_until_datagram(io, socket) == "WATCHDOG=1");
  CHECK(run_until_datagram(io, socket) == "WATCHDOG=1");  // no extension between the pings
}

TEST_CASE("the start's keepalive extends at once and every tick until it is destroyed",
          "[notifier][start]") {
  NotifySocket socket;
  const std::string extension = "EXTEND_TIMEOUT_USEC=30000000\nSTATUS=starting: migrating";
  {
    StartKeepAlive keepalive("starting: migrating", {20ms, 30s, 1h});
    CHECK(socket.receive() == extension);
    CHECK(socket.receive() == extension);
    CHECK(socket.receive() == extension);
  }
  // Destroyed: what it sent before is in the socket, nothing after the marker.
  Notifier notifier;
  notifier.status("marker");
  std::optional<std::string> next;
  while ((next = socket.receive()) && *next != "STATUS=marker") CHECK(*next == extension);
  CHECK(next == "STATUS=marker");
  CHECK_FALSE(socket.receive(200ms));
}

TEST_CASE("the start's keepalive stops extending at its limit", "[notifier][start]") {
  NotifySocket socket;
  // Extensions of 50 ms every 10 ms, within a limit of 100 ms: sent while the one sent reaches
  // no further than the limit, so at most six (at 0, 10, ..., 50 ms), however the thread runs.
  StartKeepAlive keepalive("starting", {10ms, 50ms, 100ms});
  int extensions = 0;
  while (auto next = socket.receive(1s)) {
    CHECK(*next == "EXTEND_TIMEOUT_USEC=50000\nSTATUS=starting");
    if (++extensions > 20) break;  // without a limit they would never stop
  }
  CHECK(extensions >= 1);
  CHECK(extensions <= 6);
}

TEST_CASE("the status reporter sends the figures at once and again after a refresh",
          "[notifier][status]") {
  NotifySocket socket;
  Notifier notifier;
  boost::asio::io_context io;
  ServiceStatus figures{1, 5, std::nullopt};
  StatusReporter reporter(
      io, notifier, [&] { return figures; }, 10s);
  reporter.start();
  CHECK(socket.receive() == "STATUS=1 open incident, 5 pending deadlines");
  figures = {2, 1, 7};
  reporter.refresh();
  CHECK(socket.receive() == "STATUS=2 open incidents, 1 pending deadline, lag 7");
}

TEST_CASE("the status reporter repeats from the loop", "[notifier][status]") {
  NotifySocket socket;
  Notifier notifier;
  boost::asio::io_context io;
  std::size_t calls = 0;
  StatusReporter reporter(
      io, notifier,
      [&] {
        return ServiceStatus{++calls, 0, 0};
      },
      50ms);
  reporter.start();
  CHECK(socket.receive() == "STATUS=1 open incident, 0 pending deadlines, lag 0");
  CHECK(run_until_datagram(io, socket) == "STATUS=2 open incidents, 0 pending deadlines, lag 0");
}

// The whole hook, in a child process, because it blocks its loop for good: the child pings
// until SIGUSR2, then its pings stop while it stays alive, as a deadlock would look to systemd.
TEST_CASE("the hang hook stops the pings of a live process until it is killed",
          "[notifier][watchdog]") {
  NotifySocket socket;
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    setenv(LoopHangHookForTest::kHangEnvForTest, "1", 1);
    set_watchdog("200000", getpid());
    Notifier notifier;
    boost::asio::io_context io;
    WatchdogPinger pinger(io, notifier);
    auto hook = LoopHangHookForTest::install_if_requested(io);
    if (!hook) _exit(3);
    notifier.ready();
    pinger.start();
    io.run();
    _exit(4);  // unreachable: nothing stops this loop
  }
  struct Reap {
    pid_t pid;
    ~Reap() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reap{child};

  REQUIRE(socket.receive(5s) == "READY=1");
  REQUIRE(socket.receive(5s) == "WATCHDOG=1");
  REQUIRE(socket.receive(5s) == "WATCHDOG=1");
  REQUIRE(kill(child, SIGUSR2) == 0);
  // At most one ping may already be on its way; after that, silence for several intervals.
  auto in_flight = socket.receive(300ms);
  if (in_flight) CHECK(*in_flight == "WATCHDOG=1");
  CHECK_FALSE(socket.receive(600ms));
  int status = 0;
  CHECK(waitpid(child, &status, WNOHANG) == 0);  // alive, just stuck
}

TEST_CASE("without the test variable the hang hook is not installed", "[notifier][watchdog]") {
  unsetenv(LoopHangHookForTest::kHangEnvForTest);
  boost::asio::io_context io;
  CHECK_FALSE(LoopHangHookForTest::install_if_requested(io));
  setenv(LoopHangHookForTest::kHangEnvForTest, "yes", 1);
  CHECK_FALSE(LoopHangHookForTest::install_if_requested(io));
  unsetenv(LoopHangHookForTest::kHangEnvForTest);
}

}  // namespace
}  // namespace incidentd
