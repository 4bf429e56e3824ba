// SMS replies in a cluster (docs/cluster.md, "Inputs from any door"): a reply for an incident
// another instance owns is not applied here but handed to the forwarder, with the door "sms";
// the sender gets the answer a reply applied here would get once the broker has it, or is told
// it was not recorded when the broker did not take it. Against a real SQLite store and engine,
// and the Kannel gateway sending its answer to a one-shot HTTP server.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "notify/sms_service.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "ctl/virtual_time.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/forwarded_input.hpp"
#include "incidentd/url.hpp"
#include "store/sqlite_store.hpp"
#include "support/one_shot_server.hpp"
#include "support/temp_dir.hpp"
#include "support/test_config.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;

const TimePoint kDetected = *parse_rfc3339("2026-11-26T08:00:00+08:00");

struct Forwarding {
  explicit Forwarding(bool broker_takes_it)
      : server(testing::http_answer(202, "0: Accepted for delivery")),
        config(testing::config_from_toml(testing::small_config_toml() +
                                         "\n[sms]\nenabled = true\nurl = \"" +
                                         server.url("/cgi-bin/sendsms") + "\"\n")),
        store(dir.file("incidentd.db")),
        time(kDetected + 10min),
        engine(config, store, time),
        codes(store.reply_codes(4, 72h)),
        sms(io, &config, engine, store, *codes, time, time) {
    Event e;
    e.event_id = "ev-1";
    e.incident_key = "inc-1";
    e.level = Level::II;
    e.lead_unit = "a";
    e.units = {"a", "b"};
    e.detected_at = kDetected;
    REQUIRE(engine.handle(e).status == Outcome::Status::accepted);
    engine.flush();
    phone = config.find_person("a-duty1")->phone;
    code =
        codes->issue(phone, "inc-1", "a-duty1", "a", Milestone::first_release, 0, "n-1", time.now())
            .code;
    sms.forward_unowned(
        [](const std::string&) { return false; },
        [this, broker_takes_it](const ForwardedInput& input, SmsService::ForwardDone done) {
          forwarded.push_back(input);
          done(broker_takes_it, broker_takes_it ? "" : "_MSG_TIMED_OUT");
        });
  }

  // The text of the one answer the gateway was asked to send.
  std::string answer_request() {
    io.run_for(5s);
    REQUIRE(server.has_request());
    return server.request();
  }

  testing::TempDir dir{"sms-forward-test"};
  testing::OneShotServer server;
  Config config;
  SqliteStore store;
  VirtualTime time;
  Engine engine;
  std::unique_ptr<ReplyCodeStore> codes;
  boost::asio::io_context io;
  SmsService sms;
  std::string phone;
  std::string code;
  std::vector<ForwardedInput> forwarded;
};

TEST_CASE("an SMS acknowledgement for an incident another instance owns is forwarded",
          "[sms][cluster]") {
  Forwarding f(true);
  const SmsReplyOutcome outcome = f.sms.handle_reply(f.phone, "10690000", f.code + "1");
  REQUIRE(outcome.acknowledgement);
  REQUIRE(f.forwarded.size() == 1);
  const auto& ack = std::get<Acknowledgement>(f.forwarded[0].input);
  CHECK(ack.incident_key == "inc-1");
  CHECK(ack.recipient == "a-duty1");
  CHECK(ack.via == "sms");
  // Not applied here: nothing of it in this instance's engine or database.
  for (const PendingDelivery& d : f.engine.find("inc-1")->deliveries) CHECK_FALSE(d.acknowledged);
  // The sender hears what a reply applied here would have said.
  CHECK_THAT(f.answer_request(), Catch::Contains("text=" + url_encode(outcome.answer)));
  CHECK_THAT(outcome.answer, Catch::StartsWith("已确认您收到"));
}

TEST_CASE("an SMS release for an incident another instance owns is forwarded as a confirmation",
          "[sms][cluster]") {
  Forwarding f(true);
  const SmsReplyOutcome outcome =
      f.sms.handle_reply(f.phone, "10690000", f.code + "2 https://example.org/r/1");
  REQUIRE(outcome.confirmation);
  REQUIRE(f.forwarded.size() == 1);
  const auto& c = std::get<Confirmation>(f.forwarded[0].input);
  CHECK(c.unit == "a");
  CHECK(c.milestone == Milestone::first_release);
  CHECK(c.url == "https://example.org/r/1");
  CHECK(c.via == "sms");
  CHECK_FALSE(f.engine.find("inc-1")->milestone(Milestone::first_release).met_at);
}

TEST_CASE("an SMS reply the broker did not take is answered as not recorded", "[sms][cluster]") {
  Forwarding f(false);
  f.sms.handle_reply(f.phone, "10690000", f.code + "1");
  REQUIRE(f.forwarded.size() == 1);
  CHECK_THAT(f.answer_request(),
             Catch::Contains("text=" + url_encode(std::string(kNotRecordedAnswer))));
}

}  // namespace
}  // namespace incidentd
