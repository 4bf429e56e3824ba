// What a receiver outage writes, per notification: N notifications to a duty officer of the
// example configuration (channels sms then webhook, SMS off as in that configuration, so only the
// webhook can be tried), the webhook receiver down for 10 minutes and for 24 hours of a virtual
// clock, then back for an hour. Prints, for each outage, the dispatcher's timeline rows and their
// bytes per notification, the database's size, and how many notifications were delivered, given
// up or superseded. Built against the dispatcher's constructor only, so the same file measures an
// older build (before/after). Not a test; never fails on a number.
//
//   outage_bench [--notifications N=20]
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <CLI/CLI.hpp>

#include "ctl/virtual_time.hpp"
#include "incidentd/config.hpp"
#include "notify/dispatcher.hpp"
#include "store/sqlite_store.hpp"

namespace {

using namespace std::chrono_literals;
using incidentd::Duration;
using incidentd::TimePoint;

// A webhook receiver that is down (connection refused) until told otherwise.
class Receiver final : public incidentd::Channel {
 public:
  std::string_view name() const override { return "webhook"; }
  void send(const incidentd::OutgoingNotification& /*n*/,
            std::function<void(incidentd::SendResult)> done) override {
    ++sends;
    done(down ? incidentd::SendResult::transient("connect: Connection refused")
              : incidentd::SendResult::delivered());
  }
  bool down = true;
  long sends = 0;
};

void run(const incidentd::Config& config, int notifications, Duration outage, const char* label) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("outage_bench_" + std::to_string(::getpid()) + "_" + label);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "db.sqlite").string();
  const TimePoint start{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}};
  incidentd::VirtualTime time(start);
  Receiver receiver;
  long rows = 0;
  {
    incidentd::SqliteStore store(path);
    incidentd::Changeset changes;
    for (int i = 0; i < notifications; ++i) {
      incidentd::Action a;
      a.at = start;
      a.incident_key = "bench-outage";
      a.kind = incidentd::ActionKind::notification;
      a.cause = incidentd::ActionKind::warning;
      a.milestone = incidentd::Milestone::first_release;
      a.level = 0;
      a.recipient = "zt-duty1";
      a.unit = "zhaotong-gov";
      a.channel = "sms";  // the person's first channel, as the engine chooses
      a.notification_id = "n" + std::to_string(i);
      a.send = 1;
      changes.actions.push_back(a);
    }
    store.commit(changes);
    const long before = static_cast<long>(store.count("timeline"));
    {
      incidentd::Dispatcher dispatcher(store, config, time, {&receiver}, [] { return 0.5; });
      dispatcher.start();
      time.advance_to(start + outage);
      receiver.down = false;
      time.advance_to(start + outage + 1h);
      dispatcher.stop();
    }
    rows = static_cast<long>(store.count("timeline")) - before;
  }
  // Read once the store is closed (its WAL checkpointed into the file).
  SQLite::Database db(path, SQLite::OPEN_READWRITE);
  const long body_bytes =
      db.execAndGet(
            "SELECT COALESCE(SUM(LENGTH(body) + LENGTH(hash) + LENGTH(prev_hash) + "
            "LENGTH(incident_key) + LENGTH(action) + 16), 0) FROM timeline WHERE "
            "action IN ('delivery', 'channel_fallback')")
          .getInt64();
  std::string states;
  SQLite::Statement s(db, "SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state");
  while (s.executeStep()) {
    states += " " + s.getColumn(0).getString() + " " + std::to_string(s.getColumn(1).getInt());
  }
  std::printf(
      "outage %s: %d notifications, %ld sends; timeline rows per notification %.1f, bytes per "
      "notification %.0f; outbox:%s\n",
      label, notifications, receiver.sends, static_cast<double>(rows) / notifications,
      static_cast<double>(body_bytes) / notifications, states.c_str());
  std::printf("  database %.1f MB (%s)\n",
              static_cast<double>(std::filesystem::file_size(path)) / 1e6, path.c_str());
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"timeline rows and bytes per notification during a webhook receiver outage"};
  int notifications = 20;
  app.add_option("--notifications", notifications, "notifications to the unreachable person");
  CLI11_PARSE(app, argc, argv);
  auto loaded = incidentd::load_config_file(INCIDENTD_SOURCE_DIR "/config/incidentd.toml");
  if (!loaded.config) {
    std::fprintf(stderr, "outage_bench: the example configuration does not load\n");
    return 2;
  }
  std::printf("outage_bench --notifications %d (example configuration, webhook receiver down)\n",
              notifications);
  run(*loaded.config, notifications, 10min, "10m");
  run(*loaded.config, notifications, 24h, "24h");
  return 0;
}
