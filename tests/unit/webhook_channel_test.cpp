// The webhook channel's requests run on a thread of the channel's own ("webhook-io"), not on the
// loop that starts them: a request goes out while the loop is busy, and its answer, or the
// channel's shutdown, comes back on the loop, once. Against a raw socket server on 127.0.0.1
// (support/one_shot_server.hpp).
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "notify/webhook.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "ctl/virtual_time.hpp"
#include "support/one_shot_server.hpp"
#include "support/outgoing_notification.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;
using testing::OneShotServer;

const TimePoint kNow{std::chrono::sys_days{std::chrono::year{2026} / 12 / 6}};

NotifySettings settings() {
  NotifySettings s;
  s.send_timeout = 5s;
  return s;
}

std::string fixed_text(const OutgoingNotification& /*n*/, std::string_view /*channel*/) {
  return "【预警】山体滑坡：首次权威发布目标时限剩余50分钟";
}

struct Answer {
  std::optional<SendResult> result;
  int calls = 0;
  std::thread::id thread;
};

TEST_CASE("a webhook's request goes out while its loop is busy, and is answered on the loop") {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  boost::asio::io_context loop;
  const VirtualTime clock(kNow);
  WebhookChannel channel(loop, settings(), clock, fixed_text);
  Answer answer;
  channel.send(testing::outgoing_notification(server.url("/hook")), [&answer](SendResult r) {
    answer.result = std::move(r);
    ++answer.calls;
    answer.thread = std::this_thread::get_id();
  });
  // The loop has not run at all: on the loop the request would not have left.
  REQUIRE(server.request_arrives_within(10s));
  CHECK(server.request().find("POST /hook HTTP/1.1") == 0);
  CHECK(answer.calls == 0);
  // run() returns only once the answer is back: the channel keeps the loop busy until then.
  loop.run();
  CHECK(answer.calls == 1);
  REQUIRE(answer.result);
  CHECK(answer.result->status == SendOutcome::delivered);
  CHECK(answer.thread == std::this_thread::get_id());
}

TEST_CASE("a webhook channel destroyed with a request in flight answers it once, on the loop") {
  OneShotServer server("");  // reads the request and never answers
  boost::asio::io_context loop;
  const VirtualTime clock(kNow);
  Answer answer;
  {
    WebhookChannel channel(loop, settings(), clock, fixed_text);
    channel.send(testing::outgoing_notification(server.url("/hook")), [&answer](SendResult r) {
      answer.result = std::move(r);
      ++answer.calls;
    });
    REQUIRE(server.request_arrives_within(10s));
  }
  CHECK(answer.calls == 0);  // the shutdown's answer waits for the loop
  loop.run();
  CHECK(answer.calls == 1);
  REQUIRE(answer.result);
  CHECK(answer.result->status == SendOutcome::transient);
}

}  // namespace
}  // namespace incidentd
