// The source heartbeat on a virtual clock and a real SQLite file: a silence of source_silence
// tells the operator desk once; more silence tells nobody more; messages coming back tell it
// once more (the all-clear); a restart during the silence neither alerts again nor forgets the
// all-clear. The notices go out through the dispatcher like any other row, in the configured
// language, and write nothing into any incident's timeline.
#include "notify/source_heartbeat.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "ctl/virtual_time.hpp"
#include "notify/dispatcher.hpp"
#include "notify/message.hpp"
#include "notify/sms_service.hpp"
#include "store/sqlite_store.hpp"
#include "support/test_config.hpp"

namespace incidentd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

const TimePoint kStart{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}};

// Renders each text as a channel does, and keeps it.
class RecordingChannel final : public Channel {
 public:
  explicit RecordingChannel(NotificationRenderer render) : render_(std::move(render)) {}
  std::string_view name() const override { return "sms"; }
  void send(const OutgoingNotification& n, std::function<void(SendResult)> done) override {
    sent.push_back({n, render_(n, name())});
    done(SendResult::delivered());
  }
  struct Sent : OutgoingNotification {
    std::string text;
  };
  std::vector<Sent> sent;

 private:
  NotificationRenderer render_;
};

struct Harness {
  fs::path dir = fs::temp_directory_path() /
                 ("source_heartbeat_test_" +
                  std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  Config config = testing::small_config();
  VirtualTime time{kStart};
  std::unique_ptr<SqliteStore> store;
  std::unique_ptr<SourceHeartbeat> heartbeat;
  std::vector<SourceState> changes;

  Harness() {
    fs::create_directories(dir);
    open();
  }
  ~Harness() {
    heartbeat.reset();
    store.reset();
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  // A (re)start of the daemon: a new store on the same file, a new heartbeat.
  void open() {
    heartbeat.reset();
    store = std::make_unique<SqliteStore>((dir / "db.sqlite").string());
    heartbeat = std::make_unique<SourceHeartbeat>(
        *store, config, time, 30min, [this](const SourceState& s) { changes.push_back(s); });
    heartbeat->start();
  }

  // The outbox rows of the source heartbeat, by purpose.
  std::vector<OutboxRow> rows(const std::string& purpose) {
    std::vector<OutboxRow> out;
    for (const OutboxRow& r : store->outbox("")) {
      if (r.notification_id.rfind(purpose + "/", 0) == 0) out.push_back(r);
    }
    return out;
  }
};

TEST_CASE("a silent source tells the operator desk once, and once more when events return") {
  Harness h;
  h.time.advance_to(kStart + 10min);
  h.heartbeat->events_arrived();  // counts from the last message from now on

  h.time.advance_to(kStart + 40min - 1ms);  // one tick before the silence is long enough
  CHECK_FALSE(h.heartbeat->state().silent);
  CHECK(h.rows("source_silent").empty());

  h.time.advance_to(kStart + 40min);
  CHECK(h.heartbeat->state().silent);
  CHECK(h.heartbeat->state().since == kStart + 10min);
  // The supervision unit's duty officers (no [notify] operator), each once.
  const auto told = h.rows("source_silent");
  REQUIRE(told.size() == 2);
  CHECK(told[0].recipient == "office-duty1");
  CHECK(told[1].recipient == "office-duty2");
  CHECK(told[0].state == DeliveryState::pending);  // for the dispatcher
  CHECK(h.store->count("outbox") == 2);
  REQUIRE(h.changes.size() == 1);
  CHECK(h.changes[0].silent);

  // Still silent, for days: nobody is told again.
  h.time.advance_to(kStart + 3 * 24h);
  CHECK(h.store->count("outbox") == 2);
  CHECK(h.changes.size() == 1);

  h.heartbeat->events_arrived();
  CHECK_FALSE(h.heartbeat->state().silent);
  CHECK(h.heartbeat->state().since == kStart + 3 * 24h);
  CHECK(h.rows("source_back").size() == 2);
  CHECK(h.store->count("outbox") == 4);
  REQUIRE(h.changes.size() == 2);
  CHECK_FALSE(h.changes[1].silent);
  // More messages: nothing more to say.
  h.time.advance_by(1min);
  h.heartbeat->events_arrived();
  CHECK(h.store->count("outbox") == 4);
  CHECK(h.changes.size() == 2);
  // None of it is an incident's history.
  CHECK(h.store->count("timeline") == 0);

  // A second silence is a new notice, counted from the last message.
  h.time.advance_to(kStart + 3 * 24h + 31min - 1ms);
  CHECK(h.store->count("outbox") == 4);
  h.time.advance_to(kStart + 3 * 24h + 31min);
  CHECK(h.rows("source_silent").size() == 4);
}

TEST_CASE("silence counts from the daemon's start when nothing has arrived") {
  Harness h;
  h.time.advance_to(kStart + 30min);
  CHECK(h.heartbeat->state().silent);
  CHECK(h.heartbeat->state().since == kStart);
  CHECK(h.rows("source_silent").size() == 2);
}

TEST_CASE("a restart during a silence does not alert again and still sends the all-clear") {
  Harness h;
  h.time.advance_to(kStart + 30min);
  REQUIRE(h.rows("source_silent").size() == 2);

  h.time.advance_to(kStart + 2h);
  h.open();  // restarted: the database says the source is silent
  CHECK(h.heartbeat->state().silent);
  CHECK(h.heartbeat->state().since == kStart);
  REQUIRE(h.changes.size() == 2);  // start() said so, for the API and the board
  CHECK(h.changes[1].silent);
  h.time.advance_to(kStart + 5h);
  CHECK(h.rows("source_silent").size() == 2);

  h.heartbeat->events_arrived();
  const auto back = h.rows("source_back");
  REQUIRE(back.size() == 2);
  // Named after the silence it ends, like the alert.
  CHECK(back[0].notification_id ==
        "source_back/" + std::to_string(kStart.time_since_epoch().count()) + "/office-duty1");

  // Restarted after the all-clear: quiet again, counted from this start.
  h.time.advance_to(kStart + 5h + 20min);
  h.open();
  CHECK_FALSE(h.heartbeat->state().silent);
  h.time.advance_to(kStart + 5h + 50min - 1ms);
  CHECK(h.store->count("outbox") == 4);
  h.time.advance_to(kStart + 5h + 50min);
  CHECK(h.store->count("outbox") == 6);
}

TEST_CASE("a configured operator is the desk the source heartbeat tells") {
  Harness h;
  h.config.notify.operators = {"b-leader"};
  h.time.advance_to(kStart + 30min);
  const auto told = h.rows("source_silent");
  REQUIRE(told.size() == 1);
  CHECK(told[0].recipient == "b-leader");
  CHECK(told[0].channel == NotificationChannel::webhook);  // b's people prefer webhooks
}

TEST_CASE(
    "the notices go out through the dispatcher in the configured language, off any timeline") {
  for (const std::string lang : {"zh", "en"}) {
    Harness h;
    h.config.lang = lang;
    const MessageTemplates templates(h.config.sms.templates, h.config.sms.max_parts, lang);
    RecordingChannel sms(template_renderer(templates, h.config, h.time,
                                           [](const std::string&) { return std::string(); }));
    Dispatcher dispatcher(*h.store, h.config, h.time, {&sms}, [] { return 0.5; });
    dispatcher.start();
    h.time.advance_to(kStart + 30min);
    h.time.advance_by(1s);
    REQUIRE(sms.sent.size() == 2);
    h.time.advance_to(kStart + 2h);
    h.heartbeat->events_arrived();
    dispatcher.wake();
    h.time.advance_by(1s);
    REQUIRE(sms.sent.size() == 4);
    if (lang == "zh") {
      // 08:00 in Beijing is 00:00 UTC.
      CHECK_THAT(sms.sent[0].text, Contains("监测系统无事件") && Contains("11月26日08:00"));
      CHECK_THAT(sms.sent[2].text, Contains("已恢复") && Contains("10:00"));
    } else {
      CHECK_THAT(sms.sent[0].text, Contains("Monitoring source silent") && Contains("11-26 08:00"));
      CHECK_THAT(sms.sent[2].text, Contains("source back") && Contains("2h"));
    }
    for (const OutboxRow& r : h.store->outbox("")) CHECK(r.state == DeliveryState::delivered);
    CHECK(h.store->count("timeline") == 0);
    dispatcher.stop();
  }
}

TEST_CASE("a source notice's body reads back as written") {
  SourceNotice n{true, kStart, kStart + 45min, 30min};
  const auto decoded =
      decode_notification_body(NotificationPurpose::source_back, source_notice_json(n));
  REQUIRE(decoded);
  const SourceNotice* back = decoded.value->notice();
  REQUIRE(back != nullptr);
  CHECK(back->back);
  CHECK(back->since == kStart);
  CHECK(back->at == kStart + 45min);
  CHECK(back->silence == 30min);
  CHECK_FALSE(
      decode_notification_body(NotificationPurpose::source_back, R"({"action":"warning"})"));
}

}  // namespace
}  // namespace incidentd
