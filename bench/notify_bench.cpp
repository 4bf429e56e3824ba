// Notifications per second through the outbox dispatcher to a local webhook receiver over real
// sockets: N notifications are committed to a fresh SQLite outbox, then the dispatcher (generic
// signed webhooks, Boost.Beast client, one connection per send) delivers them to an HTTP server
// on 127.0.0.1 running on its own thread. Every attempt and result goes through the store with
// its timeline entries, as in the daemon. Prints the figure; never fails on a number.
//
//   notify_bench [N=5000] [max_in_flight=64]
#include <utility>

#include <unistd.h>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>

#include "asio/asio_time.hpp"
#include "notify/dispatcher.hpp"
#include "notify/webhook.hpp"
#include "store/sqlite_store.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Answers every POST with 204 and closes: what a webhook receiver does, as fast as it can.
class Receiver {
 public:
  Receiver() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Receiver() {
    io_.stop();
    thread_.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::size_t requests() const { return requests_.load(); }

 private:
  struct Connection : std::enable_shared_from_this<Connection> {
    explicit Connection(tcp::socket s, Receiver& r) : stream(std::move(s)), owner(r) {}
    void start() {
      http::async_read(
          stream, buffer, request, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return;
            ++self->owner.requests_;
            self->response.result(http::status::no_content);
            self->response.version(11);
            self->response.keep_alive(false);
            http::async_write(self->stream, self->response, [self](beast::error_code, std::size_t) {
              beast::error_code ignored;
              self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
            });
          });
    }
    beast::tcp_stream stream;
    Receiver& owner;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::empty_body> response;
  };

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket s) {
      if (!ec) std::make_shared<Connection>(std::move(s), *this)->start();
      accept();
    });
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::atomic<std::size_t> requests_{0};
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace incidentd;
  int n = 5000;
  int in_flight = 64;
  CLI::App app("notifications per second through the dispatcher to a local webhook receiver");
  app.add_option("notifications", n, "notifications sent")->check(CLI::PositiveNumber);
  app.add_option("max_in_flight", in_flight, "sends in flight at once")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  Receiver receiver;
  const auto dir =
      std::filesystem::temp_directory_path() / ("notify_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);

  Config config;
  Unit unit;
  unit.id = "bench";
  Person person;
  person.id = "bench-duty";
  person.role = "duty";
  person.webhook = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  person.channels = {"webhook"};
  unit.people.push_back(person);
  config.units.push_back(unit);
  config.notify.max_in_flight = in_flight;
  config.notify.poll_every = std::chrono::milliseconds(100);
  config.notify.webhooks.push_back({"http://127.0.0.1:", "generic", "bench-secret", ""});

  {
    SqliteStore store((dir / "bench.db").string());
    const TimePoint now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
    constexpr int kPerCommit = 1000;
    for (int first = 0; first < n; first += kPerCommit) {
      Changeset c;
      for (int i = first; i < std::min(n, first + kPerCommit); ++i) {
        Action a;
        a.at = now;
        a.incident_key = "bench-" + std::to_string(i % 100);
        a.kind = ActionKind::notification;
        a.milestone = Milestone::first_release;
        a.level = 0;
        a.recipient = person.id;
        a.unit = unit.id;
        a.channel = "webhook";
        a.notification_id = "n-" + std::to_string(i);
        a.cause = ActionKind::warning;
        a.send = 1;
        c.actions.push_back(std::move(a));
      }
      store.commit(c);
    }

    asio::io_context io;
    AsioTimeSystem time(io);
    WebhookChannel webhook(io, config.notify, time,
                           [](const OutgoingNotification& note, std::string_view) {
                             return "bench " + note.notification_id;
                           });
    Dispatcher dispatcher(store, config, time, {&webhook}, [] { return 0.5; });
    const auto started = std::chrono::steady_clock::now();
    dispatcher.start();
    asio::steady_timer check(io);
    std::function<void()> poll = [&] {
      const auto& o = dispatcher.counters().outcomes;
      const auto it = o.find({"webhook", "delivered"});
      if (it != o.end() && it->second >= static_cast<std::uint64_t>(n)) {
        dispatcher.stop();
        io.stop();
        return;
      }
      check.expires_after(std::chrono::milliseconds(5));
      check.async_wait([&](beast::error_code ec) {
        if (!ec) poll();
      });
    };
    poll();
    io.run();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::size_t retries = 0;
    for (const auto& [key, count] : dispatcher.counters().outcomes) {
      if (key.second == "retry") retries += count;
    }
    std::printf(
        "notify_bench: %d notifications delivered by signed webhook to 127.0.0.1 in %.2f s: "
        "%.0f notifications/s (max_in_flight %d, %zu requests received, %zu retries, "
        "timeline rows %zu)\n",
        n, seconds, n / seconds, in_flight, receiver.requests(), retries, store.count("timeline"));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
