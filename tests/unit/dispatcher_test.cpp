// The outbox dispatcher on a real SQLite store, a virtual clock and fake channels that fail on
// request: attempts are state in the row and the timeline gets only the first failure per
// channel, the first fallback to each channel, and the end (delivered or given up), without
// addresses; transient failures back off across fallbacks; a channel down for fallback_after
// hands the row to the next channel; failing for give_up_after gives up and tells the operator
// desk once; a newer alert supersedes an older one; a crash between send and record re-sends
// once with the same id; a row is delivered once.
#include "notify/dispatcher.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ctl/virtual_time.hpp"
#include "incidentd/config_snapshot.hpp"
#include "store/sqlite_store.hpp"
#include "support/test_config.hpp"

namespace incidentd {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Status = SendResult::Status;

const TimePoint kStart{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}};

class FakeChannel final : public Channel {
 public:
  explicit FakeChannel(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }

  void send(const OutgoingNotification& n, std::function<void(SendResult)> done) override {
    // The text a channel renders: the payload it was given must be the row's.
    const Action* action = n.payload.action();
    sent.push_back({n, action != nullptr && action->notification_id == n.notification_id
                           ? "text for " + n.recipient + " by " + name_
                           : "no payload"});
    if (clock != nullptr) sent_at.push_back(clock->now());
    if (hold) {
      held.push_back(std::move(done));
      return;
    }
    Status status = Status::delivered;
    if (!script.empty()) {
      status = script.front();
      script.pop_front();
    } else if (always) {
      status = *always;
    } else if (down.count(n.address) != 0) {
      status = Status::transient;
    }
    // Like a real gateway's answer, it names the address: the dispatcher must take it out.
    done(SendResult{status, "fake " + name_ + " to " + n.address});
  }

  // Sends of one notification.
  std::size_t sends_of(const std::string& id) const {
    return static_cast<std::size_t>(
        std::count_if(sent.begin(), sent.end(),
                      [&id](const OutgoingNotification& n) { return n.notification_id == id; }));
  }

  std::string name_;
  const TimeSource* clock = nullptr;
  struct Sent : OutgoingNotification {
    std::string text;
  };
  std::vector<Sent> sent;
  std::vector<TimePoint> sent_at;
  std::set<std::string> down;  // addresses whose sends fail (transient) when nothing else says
  std::deque<Status> script;   // outcomes of the next sends, then `always`, then ok
  std::optional<Status> always;
  bool hold = false;  // keep the callbacks instead of answering
  std::vector<std::function<void(SendResult)>> held;
};

// The store's outbox with a disk that fills on request: a write then fails as SQLite's would
// (StoreFullError); reads still answer.
class FillingOutbox final : public NotificationOutbox {
 public:
  explicit FillingOutbox(NotificationOutbox& real) : real_(real) {}
  std::vector<OutboxRow> due_notifications(TimePoint now, std::size_t limit) override {
    return real_.due_notifications(now, limit);
  }
  std::optional<TimePoint> next_notification_due() override {
    return real_.next_notification_due();
  }
  std::size_t pull_back_notifications(TimePoint now, TimePoint beyond) override {
    return real_.pull_back_notifications(now, beyond);
  }
  std::vector<bool> record_outbox(const std::vector<OutboxUpdate>& updates) override {
    if (full) throw StoreFullError("database or disk is full", "db.sqlite");
    return real_.record_outbox(updates);
  }
  std::map<std::pair<std::string, std::string>, std::uint64_t> outbox_counts() override {
    return real_.outbox_counts();
  }
  bool full = false;

 private:
  NotificationOutbox& real_;
};

struct Harness {
  fs::path dir = fs::temp_directory_path() /
                 ("dispatcher_test_" +
                  std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  Config config = testing::small_config();
  VirtualTime time{kStart};
  std::unique_ptr<SqliteStore> store;
  FakeChannel sms{"sms"};
  FakeChannel webhook{"webhook"};
  std::unique_ptr<Dispatcher> dispatcher;
  AckLinkMaker ack_links;  // unset: no links
  bool sms_enabled = true;

  Harness() {
    fs::create_directories(dir);
    sms.clock = &time;
    webhook.clock = &time;
    config.notify.retry_base = 10s;
    config.notify.retry_max = 5min;
    config.notify.jitter = 0.2;
    config.notify.fallback_after = 2min;
    config.notify.send_timeout = 10s;
    config.notify.poll_every = 1s;
    config.notify.max_in_flight = 8;
    store = std::make_unique<SqliteStore>((dir / "db.sqlite").string());
  }
  ~Harness() {
    dispatcher.reset();
    store.reset();
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  // `view`: where the dispatcher reads its configuration (unset: `config`, fixed).
  void start_dispatcher(ConfigView view = {}, NotificationOutbox* outbox = nullptr) {
    std::vector<Channel*> channels{&webhook};
    if (sms_enabled) channels.insert(channels.begin(), &sms);
    dispatcher = std::make_unique<Dispatcher>(
        outbox != nullptr ? *outbox : *store, view ? view : ConfigView(config), time,
        std::move(channels),
        [] { return 0.5; },  // the middle of the jitter range: waits are exactly the backoff
        ack_links);
    dispatcher->start();
  }

  void add_notification(const std::string& id, const std::string& recipient,
                        const std::string& channel, TimePoint at,
                        Milestone milestone = Milestone::first_release) {
    Changeset c;
    c.actions.push_back(notification(id, recipient, channel, at, milestone));
    store->commit(c);
  }

  Action notification(const std::string& id, const std::string& recipient,
                      const std::string& channel, TimePoint at,
                      Milestone milestone = Milestone::first_release) const {
    Action a;
    a.at = at;
    a.incident_key = "inc-1";
    a.kind = ActionKind::notification;
    a.milestone = milestone;
    a.level = 0;
    a.recipient = recipient;
    a.unit = config.unit_of_person(recipient)->id;
    a.channel = channel;
    a.notification_id = id;
    a.cause = ActionKind::warning;
    a.send = 1;
    return a;
  }

  // n1, for a-duty1 by SMS, is claimed and sent; the channel keeps its answer back.
  void send_n1_and_hold(ConfigView view = {}) {
    sms.hold = true;
    add_notification("n1", "a-duty1", "sms", kStart);
    start_dispatcher(view);
    time.advance_by(std::chrono::milliseconds(0));
    REQUIRE(sms.sent.size() == 1);
  }

  OutboxRow row(const std::string& id) {
    for (const OutboxRow& r : store->outbox("inc-1")) {
      if (r.notification_id == id) return r;
    }
    FAIL("no outbox row " << id);
    return {};
  }

  // "kind outcome channel attempt" of the dispatcher's timeline entries (of one notification,
  // or all), in order.
  std::vector<std::string> records(const std::string& id = "") {
    std::vector<std::string> out;
    for (const Action& a : store->timeline("inc-1")) {
      if (!id.empty() && a.notification_id != id) continue;
      if (a.kind == ActionKind::delivery) {
        out.push_back("delivery " + a.outcome + " " + a.channel + " " + std::to_string(a.attempt));
      } else if (a.kind == ActionKind::channel_fallback) {
        out.push_back("fallback " + a.previous_channel + " -> " + a.channel);
      }
    }
    return out;
  }

  // Every incident's rows chain from its genesis, in order.
  bool chain_intact() {
    std::map<std::string, std::pair<std::int64_t, std::string>> heads;
    bool ok = true;
    store->scan_timeline("", [&](const TimelineRow& r) {
      auto [at, fresh] = heads.try_emplace(r.incident_key);
      auto& [entry, prev] = at->second;
      if (fresh) prev = SqliteStore::chain_genesis(r.incident_key);
      ok = ok && r.incident_seq == ++entry && r.prev_hash == prev &&
           SqliteStore::chain_hash(prev, r) == r.hash;
      prev = r.hash;
      return true;
    });
    return ok;
  }
};

TEST_CASE(
    "a due notification is sent once, with the attempt recorded before and the result after") {
  Harness h;
  h.add_notification("n1", "a-duty1", "sms", kStart);
  h.start_dispatcher();
  h.time.advance_by(0ms);

  REQUIRE(h.sms.sent.size() == 1);
  const FakeChannel::Sent& n = h.sms.sent[0];
  CHECK(n.notification_id == "n1");
  CHECK(n.address == h.config.find_person("a-duty1")->phone);
  CHECK(n.text == "text for a-duty1 by sms");
  CHECK(n.attempt == 1);
  CHECK(h.records() == std::vector<std::string>{"delivery delivered sms 1"});
  const OutboxRow r = h.row("n1");
  CHECK(r.state == DeliveryState::delivered);
  CHECK(r.attempts == 1);
  CHECK(r.delivered_at == kStart);
  CHECK(h.chain_intact());

  h.time.advance_by(1h);
  CHECK(h.sms.sent.size() == 1);
}

TEST_CASE("each recipient of a step's one timeline row is sent its own notification") {
  Harness h;
  Changeset step;  // one step, three recipients: one timeline row (incidentd/timeline_rows.hpp)
  step.actions = {h.notification("n1", "a-duty1", "sms", kStart),
                  h.notification("n2", "a-duty2", "sms", kStart),
                  h.notification("n3", "a-leader", "sms", kStart)};
  h.store->commit(step);
  REQUIRE(h.store->count("timeline") == 1);
  h.start_dispatcher();
  h.time.advance_by(0ms);

  REQUIRE(h.sms.sent.size() == 3);
  std::set<std::string> texts;
  for (const FakeChannel::Sent& n : h.sms.sent) {
    texts.insert(n.text);
    CHECK(n.address == h.config.find_person(n.recipient)->phone);
  }
  CHECK(texts == std::set<std::string>{"text for a-duty1 by sms", "text for a-duty2 by sms",
                                       "text for a-leader by sms"});
  CHECK(h.records() == std::vector<std::string>{"delivery delivered sms 1",
                                                "delivery delivered sms 1",
                                                "delivery delivered sms 1"});
  CHECK(h.store->timeline("inc-1").size() == 6);  // the step's three entries and three records
  CHECK(h.chain_intact());
}

TEST_CASE("each send carries the ack link made for its row, the same on a retry") {
  Harness h;
  h.ack_links = [](const std::string& key, const std::string& recipient, const std::string& id,
                   TimePoint issued) {
    return key + "|" + recipient + "|" + id + "|" + format_rfc3339(issued, std::chrono::minutes{0});
  };
  h.sms.script = {Status::transient};
  h.add_notification("n1", "a-duty1", "sms", kStart + 1min);
  h.start_dispatcher();
  h.time.advance_by(1min);
  h.time.advance_by(10s);
  REQUIRE(h.sms.sent.size() == 2);
  const std::string expected =
      "inc-1|a-duty1|n1|" + format_rfc3339(kStart + 1min, std::chrono::minutes{0});
  CHECK(h.sms.sent[0].ack_url == expected);
  CHECK(h.sms.sent[1].ack_url == expected);
}

TEST_CASE("without an ack link maker sends carry no link") {
  Harness h;
  h.add_notification("n1", "a-duty1", "sms", kStart);
  h.start_dispatcher();
  h.time.advance_by(0ms);
  REQUIRE(h.sms.sent.size() == 1);
  CHECK(h.sms.sent[0].ack_url.empty());
}

TEST_CASE("nothing is sent before the row is due") {
  Harness h;
  h.add_notification("n1", "a-duty1", "sms", kStart + 1min);
  h.start_dispatcher();
  h.time.advance_to(kStart + 1min - 1ms);
  CHECK(h.sms.sent.empty());
  h.time.advance_to(kStart + 1min);
  CHECK(h.sms.sent.size() == 1);
}

TEST_CASE("a row scheduled on a clock that has since stepped back is due now, not an hour late") {
  // The engine decided n1 while the wall clock was an hour fast; the clock has been set right.
  // No retry or lease waits longer than retry_max * (1 + jitter) (6 min here), so a row due
  // 1 h ahead can only come from that clock: it goes out at once. A row due within the longest
  // wait keeps its time.
  Harness h;
  h.add_notification("n1", "a-duty1", "sms", kStart + 1h);
  h.add_notification("n2", "a-duty2", "sms", kStart + 1min);
  h.start_dispatcher();
  h.time.advance_by(0ms);
  REQUIRE(h.sms.sent.size() == 1);
  CHECK(h.sms.sent[0].notification_id == "n1");
  CHECK(h.sms.sent_at[0] == kStart);
  h.time.advance_to(kStart + 1min);
  REQUIRE(h.sms.sent.size() == 2);
  CHECK(h.sms.sent[1].notification_id == "n2");
  CHECK(h.row("n1").state == DeliveryState::delivered);
}

TEST_CASE("transient failures are retried with exponential backoff until delivered") {
  Harness h;
  h.sms.script = {Status::transient, Status::transient};
  h.config.notify.fallback_after = 1h;
  h.add_notification("n1", "a-duty1", "sms", kStart);
  h.start_dispatcher();
  h.time.advance_by(0ms);
  REQUIRE(h.sms.sent.size() == 1);
  CHECK(h.row("n1").state == DeliveryState::pending);
  CHECK(h.row("n1").last_error == "fake sms to <address>");

  h.time.advance_to(kStart + 10s - 1ms);  // the first wait is retry_base
  CHECK(h.sms.sent.size() == 1);
  h.time.advance_to(kStart + 10s);
  CHECK(h.sms.sent.size() == 2);
  CHECK(h.sms.sent[1].attempt == 2);
  CHECK(h.sms.sent[1].notification_id == "n1");

  h.time.advance_to(kStart + 30s - 1ms);  // then twice that
  CHECK(h.sms.sent.size() == 2);
  h.time.advance_to(kStart + 30s);
  CHECK(h.sms.sent.size() == 3);
  CHECK(h.row("n1").state == DeliveryState::delivered);
  CHECK(h.row("n1").attempts == 3);
  CHECK(h.records() ==
        std::vector<std::string>{"delivery failed sms 1", "delivery delivered sms 3"});
  CHECK(h.webhook.sent.empty());
  CHECK(h.dispatcher->counters().outcomes.at({"sms", "retry"}) == 2);
  CHECK(h.dispatcher->counters().outcomes.at({"sms", "delivered"}) == 1);
  CHECK(h.chain_intact());
}

TEST_CASE("a channel down longer than fallback_after hands the notification to the next channel") {
  Harness h;
  h.sms.always = Status::transient;
  h.add_notification("n1", "a-duty1", "sms", kStart);
  h.start_dispatcher();
  h.time.advance_to(kStart + 2min - 1ms);
  CHECK(h.webhook.sent.empty());
  CHECK(h.row("n1").channel == NotificationChannel::sms);
  h.time.advance_to(kStart + 10min);
  REQUIRE(h.webhook.sent.size() == 1);
  CHECK(h.webhook.sent[0].notification_id == "n1");
  CHECK(h.webhook.sent[0].address == h.config.find_person("a-duty1")->webhook);
  CHECK(h.webhook.sent[0].text == "text for a-duty1 by webhook");
  const OutboxRow r = h.row("n1");
  CHECK(r.state == DeliveryState::delivered);
  CHECK(r.channel == NotificationChannel::webhook);
  const auto rec = h.records();
  REQUIRE(rec.size() == 3);
  CHECK(rec[rec.size() - 2] == "fallback sms -> webhook");
  CHECK(rec.back().rfind("delivery delivered webhook", 0) == 0);
  bool fallback_says_why = false;
  for (const Action& a : h.store->timeline("inc-1")) {
    if (a.kind == ActionKind::channel_fallback) {
      fallback_says_why = a.detail.find("sms down since") != std::string::npos;
    }
  }
  CHECK(fallback_says_why);
  CHECK(h.chain_intact());
}

TEST_CASE("a notification refused on every channel ends failed, and says why") {
  Harness h;
  h.sms.always = Status::permanent;
  h.webhook.always = Status::permanent;
  h.add_notification("n1", "a-duty1", "sms", kStart);
  h.start_dispatcher();
  h.time.advance_by(1min);
  CHECK(h.sms.sends_of("n1") == 1);
  CHECK(h.webhook.sends_of("n1") == 1);
  CHECK(h.row("n1").state == DeliveryState::failed);
  CHECK(h.records("n1") ==
        std::vector<std::string>{"delivery failed sms 1", "fallback sms -> webhook",
                                 "delivery failed webhook 2", "delivery gave_up webhook 2"});
  h.time.advance_by(1h);
  CHECK(h.sms.sends_of("n1") == 1);
  CHECK(h.webhook.sends_of("n1") == 1);
}

TEST_CASE("a crash between send and record re-sends once with the same id, and loses nothing") {
  Harness h;
  h.send_n1_and_hold();
  CHECK(h.row("n1").attempts == 1);  // recorded before the send
  // The process dies: the send went out, its result was never recorded.
  h.dispatcher.reset();
  h.sms.held.clear();
  h.sms.hold = false;
  h.store = std::make_unique<SqliteStore>((h.dir / "db.sqlite").string());

  h.start_dispatcher();
  h.time.advance_by(1s);
  CHECK(h.sms.sent.size() == 1);  // the lease of the interrupted attempt has not run out
  h.time.advance_by(1min);
  REQUIRE(h.sms.sent.size() == 2);
  CHECK(h.sms.sent[1].notification_id == "n1");
  CHECK(h.sms.sent[1].attempt == 2);
  CHECK(h.row("n1").state == DeliveryState::delivered);
  h.time.advance_by(1h);
  CHECK(h.sms.sent.size() == 2);
  CHECK(h.chain_intact());
}

TEST_CASE("a result a full disk kept from the outbox is recorded after the pause and not re-sent") {
  Harness h;
  FillingOutbox outbox(*h.store);
  h.sms.hold = true;
  h.add_notification("n1", "a-duty1", "sms", kStart);
  h.start_dispatcher({}, &outbox);
  h.time.advance_by(0ms);
  REQUIRE(h.sms.sent.size() == 1);
  // The disk fills; the send's answer comes and cannot be recorded. The pass that tried throws
  // (the daemon's loop pauses on it) and the pause stops the dispatcher, which tries once more.
  outbox.full = true;
  h.sms.held.front()(SendResult{SendResult::Status::delivered, "ok"});
  CHECK_THROWS_AS(h.time.advance_by(0ms), StoreFullError);
  h.dispatcher->stop();
  // Paused past the attempt's lease: a dropped result would make the row due again.
  h.time.advance_by(5min);
  outbox.full = false;
  h.dispatcher->start();
  h.time.advance_by(0ms);
  CHECK(h.row("n1").state == DeliveryState::delivered);
  CHECK(h.records("n1") == std::vector<std::string>{"delivery delivered sms 1"});
  h.time.advance_by(1h);
  CHECK(h.sms.sent.size() == 1);
  CHECK(h.chain_intact());
}

TEST_CASE(
    "a roster reloaded while a send is in flight: its result is decided, the retry goes "
    "to the new number") {
  Harness h;
  h.send_n1_and_hold();
  const std::string new_phone = "+8613900000099";
  REQUIRE(h.sms.sent[0].address != new_phone);
  // A fixed Config edited in place on the loop (tests and tools; the daemon publishes a new
  // snapshot instead). Moved in, the old people are freed: a pointer kept into them would dangle.
  std::vector<Unit> next = h.config.units;
  for (Unit& u : next) {
    for (Person& p : u.people) {
      if (p.id == "a-duty1") p.phone = new_phone;
    }
  }
  h.config.units = std::move(next);
  // The send in flight fails: its retry (or fallback) is decided with the person it claimed.
  h.sms.hold = false;
  auto held = std::move(h.sms.held);
  h.sms.held.clear();
  held.at(0)(SendResult::transient("gateway busy"));
  h.time.advance_by(1min);
  REQUIRE(h.sms.sent.size() == 2);
  CHECK(h.sms.sent[1].address == new_phone);
  CHECK(h.row("n1").state == DeliveryState::delivered);
  CHECK(h.records() ==
        std::vector<std::string>{"delivery failed sms 1", "delivery delivered sms 2"});
}

TEST_CASE(
    "a roster published as a new snapshot reaches the retry, and the snapshot a holder kept "
    "stays as it was") {
  Harness h;
  // What the daemon's SIGHUP does (daemon/incidentd/daemon.cpp): a new snapshot is published,
  // the one in use is never edited.
  ConfigSnapshots snapshots(std::make_shared<const Config>(h.config));
  h.send_n1_and_hold(snapshots);
  const std::string old_phone = h.sms.sent[0].address;
  const std::string new_phone = "+8613900000099";
  REQUIRE(old_phone != new_phone);
  const std::shared_ptr<const Config> held_by_a_reader = snapshots.current();
  auto next = std::make_shared<Config>(*held_by_a_reader);
  for (Unit& u : next->units) {
    for (Person& p : u.people) {
      if (p.id == "a-duty1") p.phone = new_phone;
    }
  }
  snapshots.publish(std::move(next));
  CHECK(held_by_a_reader->find_person("a-duty1")->phone == old_phone);
  h.sms.hold = false;
  auto held = std::move(h.sms.held);
  h.sms.held.clear();
  held.at(0)(SendResult::transient("gateway busy"));
  h.time.advance_by(1min);
  REQUIRE(h.sms.sent.size() == 2);
  CHECK(h.sms.sent[1].address == new_phone);
  CHECK(h.row("n1").state == DeliveryState::delivered);
}

TEST_CASE("a claim recorded with a result that changed nothing is still sent in that pass") {
  Harness h;
  h.send_n1_and_hold();
  // n1 is marked delivered by another writer while its send is out; n2 falls due, unseen yet.
  OutboxUpdate done;
  done.notification_id = "n1";
  done.state = DeliveryState::delivered;
  done.channel = NotificationChannel::sms;
  done.attempts = 1;
  done.next_attempt_at = kStart;
  done.delivered_at = kStart;
  REQUIRE(h.store->record_outbox({done}) == std::vector<bool>{true});
  h.add_notification("n2", "a-duty2", "sms", kStart);
  // n1's answer comes: the next pass records it (it changes nothing now) and claims n2 in the
  // same transaction. n2's claim was applied, so n2 goes out now, not when its lease runs out.
  h.sms.held.front()(SendResult{SendResult::Status::delivered, "ok"});
  h.time.advance_by(0ms);
  REQUIRE(h.sms.sent.size() == 2);
  CHECK(h.sms.sent[1].notification_id == "n2");
}

TEST_CASE("a row is marked delivered once, even when told twice") {
  Harness h;
  h.add_notification("n1", "a-duty1", "sms", kStart);
  OutboxUpdate u;
  u.notification_id = "n1";
  u.state = DeliveryState::delivered;
  u.channel = NotificationChannel::sms;
  u.attempts = 1;
  u.next_attempt_at = kStart;
  u.delivered_at = kStart;
  Action a;
  a.at = kStart;
  a.incident_key = "inc-1";
  a.kind = ActionKind::delivery;
  a.notification_id = "n1";
  a.outcome = "delivered";
  u.timeline.push_back(a);
  CHECK(h.store->record_outbox({u}) == std::vector<bool>{true});
  CHECK(h.store->record_outbox({u}) == std::vector<bool>{false});
  CHECK(h.records().size() == 1);
  CHECK(h.chain_intact());
}

TEST_CASE("no more than max_in_flight sends are outstanding, and the rest follow") {
  Harness h;
  h.config.notify.max_in_flight = 3;
  h.sms.hold = true;
  for (int i = 0; i < 7; ++i) {
    h.add_notification("n" + std::to_string(i), "a-duty1", "sms", kStart);
  }
  h.start_dispatcher();
  h.time.advance_by(2s);
  CHECK(h.sms.sent.size() == 3);
  CHECK(h.dispatcher->in_flight() == 3);
  for (int round = 0; round < 5 && h.sms.sent.size() < 7; ++round) {
    auto held = std::move(h.sms.held);
    h.sms.held.clear();
    for (auto& done : held) done(SendResult::delivered());
    h.time.advance_by(0ms);
    CHECK(h.dispatcher->in_flight() <= 3);
  }
  for (auto& done : h.sms.held) done(SendResult::delivered());
  h.sms.held.clear();
  h.time.advance_by(0ms);
  CHECK(h.sms.sent.size() == 7);
  for (int i = 0; i < 7; ++i)
    CHECK(h.row("n" + std::to_string(i)).state == DeliveryState::delivered);
}

TEST_CASE("a recipient without an address on the channel goes by the next channel") {
  Harness h;
  h.config.find_person("a-duty1");
  for (Unit& u : h.config.units) {
    for (Person& p : u.people) {
      if (p.id == "a-duty1") p.phone.clear();
    }
  }
  h.add_notification("n1", "a-duty1", "sms", kStart);
  h.start_dispatcher();
  h.time.advance_by(1s);
  CHECK(h.sms.sent.empty());
  REQUIRE(h.webhook.sent.size() == 1);
  CHECK(h.row("n1").state == DeliveryState::delivered);
  CHECK(h.records() == std::vector<std::string>{"delivery failed sms 0", "fallback sms -> webhook",
                                                "delivery delivered webhook 1"});
}

// Every timeline body and outbox error, for the privacy checks.
std::string everything_written(Harness& h) {
  std::string all;
  h.store->scan_timeline("", [&all](const TimelineRow& r) {
    all += r.body + "\n";
    return true;
  });
  for (const OutboxRow& r : h.store->outbox("inc-1")) all += r.last_error + "\n";
  return all;
}

TEST_CASE(
    "a receiver down for ten minutes of clock: the documented backoff, a bounded record, "
    "delivery once it is back") {
  Harness h;
  h.sms_enabled = false;  // as in the example configuration: the person's sms cannot be tried
  h.config.notify.give_up_after = 1h;
  h.webhook.always = Status::transient;
  h.add_notification("n1", "b-duty1", "webhook", kStart);  // b: webhook first, then sms
  h.start_dispatcher();
  h.time.advance_to(kStart + 10min);
  h.webhook.always.reset();  // the receiver is back
  h.time.advance_to(kStart + 20min);

  // retry_base 10 s doubling to retry_max 5 min, carried across the fallbacks: webhook at 0, 10,
  // 30, 70, 150 s; webhook down 2 min (fallback_after) at 150 s: to sms after the next wait
  // (160 s), which cannot be tried (not enabled) and goes back to webhook at once, 310 s; then
  // 300 s (the cap) to 610 s, when the receiver is back.
  std::vector<Duration> at;
  for (TimePoint t : h.webhook.sent_at) at.push_back(t - kStart);
  CHECK(at == std::vector<Duration>{0s, 10s, 30s, 70s, 150s, 310s, 610s});
  CHECK(h.row("n1").state == DeliveryState::delivered);
  CHECK(h.row("n1").attempts == 7);
  CHECK(h.records("n1") ==
        std::vector<std::string>{"delivery failed webhook 1", "fallback webhook -> sms",
                                 "delivery failed sms 5", "fallback sms -> webhook",
                                 "delivery delivered webhook 7"});
  CHECK(h.records().size() <= 10);
  CHECK(everything_written(h).find("127.0.0.1:18080") == std::string::npos);
  CHECK(h.chain_intact());
}

TEST_CASE(
    "a receiver that never comes back: given up after give_up_after, the operator desk told "
    "once on a channel that works, and nothing more sent") {
  Harness h;
  h.config.notify.give_up_after = 30min;
  const Person& gone = *h.config.find_person("a-duty1");
  h.sms.down = {gone.phone};
  h.webhook.down = {gone.webhook};
  h.add_notification("n1", "a-duty1", "sms", kStart);
  h.start_dispatcher();
  h.time.advance_to(kStart + 30min - 1s);
  CHECK(h.row("n1").state == DeliveryState::pending);
  // Hours past the give-up (the dispatcher polls every second of them): nothing more is sent.
  h.time.advance_to(kStart + 3h);

  const OutboxRow r = h.row("n1");
  CHECK(r.state == DeliveryState::failed);
  CHECK_THAT(r.last_error, Catch::Matchers::Contains("not delivered since"));
  const std::vector<std::string> rec = h.records("n1");
  CHECK(rec.size() <= 10);
  REQUIRE_FALSE(rec.empty());
  CHECK(rec.back().rfind("delivery gave_up", 0) == 0);
  const std::size_t sends = h.sms.sends_of("n1") + h.webhook.sends_of("n1");
  CHECK(sends == static_cast<std::size_t>(r.attempts));

  // The supervision unit's duty officers (no [notify] operator here), each once.
  for (const std::string op : {"office-duty1", "office-duty2"}) {
    const std::string id = "unreached/inc-1/a-duty1/" + op;
    CHECK(h.row(id).state == DeliveryState::delivered);
    CHECK(h.sms.sends_of(id) + h.webhook.sends_of(id) == 1);
  }
  bool says_who = false;
  for (const Action& a : h.store->timeline("inc-1")) {
    if (a.notification_id == "n1" && a.outcome == "gave_up") {
      says_who =
          a.detail.find("operator desk told: office-duty1, office-duty2") != std::string::npos;
    }
  }
  CHECK(says_who);
  const auto& outcomes = h.dispatcher->counters().outcomes;
  const auto counted = [&outcomes](const char* channel) {
    const auto it = outcomes.find({channel, "gave_up"});
    return it == outcomes.end() ? 0 : it->second;
  };
  CHECK(counted("sms") + counted("webhook") == 1);
  const std::string written = everything_written(h);
  CHECK(written.find(gone.phone) == std::string::npos);
  CHECK(written.find(gone.webhook) == std::string::npos);
  CHECK(h.chain_intact());
}

TEST_CASE("a configured operator is told instead of the supervision desk") {
  Harness h;
  h.config.notify.give_up_after = 10min;
  h.config.notify.operators = {"b-leader"};
  h.sms.always = Status::permanent;  // nobody has a working sms
  h.webhook.down = {h.config.find_person("a-duty1")->webhook};
  h.add_notification("n1", "a-duty1", "sms", kStart);
  h.start_dispatcher();
  h.time.advance_to(kStart + 2h);
  CHECK(h.row("n1").state == DeliveryState::failed);
  // b-leader prefers webhook, which was not what failed for a-duty1 first... both failed, so
  // the first channel of its own with an address is taken.
  const OutboxRow told = h.row("unreached/inc-1/a-duty1/b-leader");
  CHECK(told.state == DeliveryState::delivered);
  CHECK(told.channel == NotificationChannel::webhook);
  CHECK(h.store->count("outbox") == 2);
}

TEST_CASE("a newer alert to the same person about the same milestone supersedes a failing one") {
  Harness h;
  h.config.notify.give_up_after = 1h;
  const Person& gone = *h.config.find_person("a-duty1");
  h.sms.down = {gone.phone};
  h.webhook.down = {gone.webhook};
  h.add_notification("n1", "a-duty1", "sms", kStart);
  h.start_dispatcher();
  h.time.advance_to(kStart + 20min);
  REQUIRE(h.row("n1").state == DeliveryState::pending);
  // The next ladder step for the same person and milestone; another milestone does not count.
  h.add_notification("n2", "a-duty1", "sms", kStart + 20min);
  h.add_notification("p1", "a-duty1", "sms", kStart + 20min, Milestone::press_conference);
  h.time.advance_to(kStart + 40min);
  CHECK(h.row("n1").state == DeliveryState::superseded);
  CHECK_THAT(h.row("n1").last_error, Catch::Matchers::Contains("superseded by n2"));
  CHECK(h.records("n1").back().rfind("delivery gave_up", 0) == 0);
  // n2 carries n1's first failure: the person has been unreachable since kStart, so n2 gives up
  // an hour after that, not an hour after it was made.
  h.time.advance_to(kStart + 1h + 30s);
  CHECK(h.row("n2").state == DeliveryState::failed);
  CHECK(h.row("p1").state == DeliveryState::pending);
  CHECK(h.row("unreached/inc-1/a-duty1/office-duty1").state == DeliveryState::delivered);
}

TEST_CASE(
    "the channel gets the row's body decoded, the notification action as the engine wrote it") {
  Harness h;
  h.add_notification("n1", "a-duty1", "sms", kStart, Milestone::press_conference);
  h.start_dispatcher();
  h.time.advance_by(0ms);
  REQUIRE(h.sms.sent.size() == 1);
  const OutgoingNotification& n = h.sms.sent[0];
  const Action* action = n.payload.action();
  REQUIRE(action != nullptr);
  CHECK(action->kind == ActionKind::notification);
  CHECK(action->cause == ActionKind::warning);
  CHECK(action->milestone == Milestone::press_conference);
  CHECK(action->recipient == "a-duty1");
  CHECK(n.payload.notice() == nullptr);
  // The body as stored travels with it, for a receiver that takes it whole.
  CHECK(n.payload.stored.at("notification_id") == "n1");
  CHECK(n.purpose == NotificationPurpose::alert);
}

TEST_CASE("a row whose body cannot be decoded is never sent and is given up with the reason") {
  Harness h;
  h.add_notification("n1", "a-duty1", "sms", kStart);
  {
    SQLite::Database db((h.dir / "db.sqlite").string(), SQLite::OPEN_READWRITE);
    // A body of the row's own (as a desk's notice has, or a row schema 15 could not link).
    db.exec("UPDATE outbox SET timeline_seq = NULL, body = '{' WHERE notification_id = 'n1'");
  }
  h.start_dispatcher();
  h.time.advance_to(kStart + 1min);
  CHECK(h.sms.sends_of("n1") == 0);
  CHECK(h.webhook.sends_of("n1") == 0);
  const OutboxRow r = h.row("n1");
  CHECK(r.state == DeliveryState::failed);
  CHECK_THAT(r.last_error, Catch::Matchers::Contains("outbox body is not a JSON object"));
  CHECK_THAT(r.gave_up, Catch::Matchers::Contains("outbox body is not a JSON object"));
  CHECK(h.records("n1").back().rfind("delivery gave_up", 0) == 0);
  // The operator desk is told that a-duty1 was not reached, as for any notification given up.
  CHECK(h.sms.sends_of("unreached/inc-1/a-duty1/office-duty1") +
            h.webhook.sends_of("unreached/inc-1/a-duty1/office-duty1") ==
        1);
}

TEST_CASE("every recipient of a step whose timeline row cannot be decoded is given up with why") {
  Harness h;
  Changeset step;  // one timeline row for both (decoded once in the pass, failing for both)
  step.actions = {h.notification("n1", "a-duty1", "sms", kStart),
                  h.notification("n2", "a-duty2", "sms", kStart)};
  h.store->commit(step);
  {
    SQLite::Database db((h.dir / "db.sqlite").string(), SQLite::OPEN_READWRITE);
    db.exec("UPDATE timeline SET body = '[]'");
  }
  h.start_dispatcher();
  h.time.advance_to(kStart + 1min);
  for (const char* id : {"n1", "n2"}) {
    INFO(id);
    CHECK(h.sms.sends_of(id) == 0);
    const OutboxRow r = h.row(id);
    CHECK(r.state == DeliveryState::failed);
    CHECK_THAT(r.last_error, Catch::Matchers::Contains("outbox body is not a JSON object"));
  }
}

}  // namespace
}  // namespace incidentd
