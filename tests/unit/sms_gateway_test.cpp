#include "notify/sms.hpp"

#include <catch2/catch.hpp>

// Boost 1.74's asio needs std::exchange declared first.
#include <utility>

#include <boost/asio.hpp>

#include "support/one_shot_server.hpp"

using namespace incidentd;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

using testing::OneShotServer;

std::string response(int status, const std::string& body) {
  return testing::http_answer(status, body);
}

SmsSettings kannel_settings(const std::string& url) {
  SmsSettings s;
  s.enabled = true;
  s.url = url;
  s.sender = "10690000";
  s.timeout = std::chrono::milliseconds(500);
  return s;
}

SendResult send_one(SmsGateway& gateway, asio::io_context& io, const SmsMessage& m) {
  std::optional<SendResult> result;
  int calls = 0;
  gateway.send(m, [&](SendResult r) {
    ++calls;
    result = std::move(r);
  });
  io.run();
  REQUIRE(calls == 1);
  return *result;
}

}  // namespace

TEST_CASE("the sendsms query carries UTF-8 text URL-encoded, UCS-2 coding and the sender") {
  const SmsCredentials credentials{"incidentd", "p&w d"};
  const std::string q = kannel_sendsms_query(kannel_settings("http://x/"), credentials,
                                             {"+8613800000101", "收到 ok", "n1"});
  CHECK(q ==
        "username=incidentd&password=p%26w%20d&to=%2B8613800000101"
        "&text=%E6%94%B6%E5%88%B0%20ok&charset=UTF-8&coding=2&from=10690000");
}

TEST_CASE("gateway answers are classified: 2xx delivered, 408/429/5xx transient, 4xx permanent") {
  CHECK(classify_sms_http_reply(202, "0: Accepted for delivery", "").status ==
        SendResult::Status::delivered);
  CHECK(classify_sms_http_reply(503, "", "").status == SendResult::Status::transient);
  CHECK(classify_sms_http_reply(429, "", "").status == SendResult::Status::transient);
  const SendResult refused = classify_sms_http_reply(403, "Authorization failed\n", "");
  CHECK(refused.status == SendResult::Status::permanent);
  CHECK(refused.detail == "HTTP 403: Authorization failed");
  CHECK(classify_sms_http_reply(200, "{\"Code\":\"Throttling\"}", "\"Code\":\"OK\"").status ==
        SendResult::Status::transient);
}

TEST_CASE("the Kannel adapter sends one GET and reports Kannel's acceptance") {
  OneShotServer server(response(202, "0: Accepted for delivery"));
  asio::io_context io;
  auto gateway = make_kannel_gateway(io, kannel_settings(server.url("/cgi-bin/sendsms")),
                                     {"incidentd", "secret"});
  const SendResult r = send_one(*gateway, io, {"+8613800000101", "预警", "n1"});
  CHECK(r.status == SendResult::Status::delivered);
  CHECK(r.detail == "HTTP 202: 0: Accepted for delivery");
  const std::string request = server.request();
  CHECK(request.rfind("GET /cgi-bin/sendsms?username=incidentd&password=secret&to=%2B86", 0) == 0);
  CHECK(request.find("&text=%E9%A2%84%E8%AD%A6&charset=UTF-8&coding=2") != std::string::npos);
}

TEST_CASE("a refused login is permanent, a gateway that does not answer times out, transient") {
  {
    OneShotServer server(response(403, "Authorization failed"));
    asio::io_context io;
    auto gateway = make_kannel_gateway(io, kannel_settings(server.url("/")), {"u", "wrong"});
    CHECK(send_one(*gateway, io, {"+8613800000101", "x", "n1"}).status ==
          SendResult::Status::permanent);
  }
  {
    OneShotServer server("");  // reads the request, never answers
    asio::io_context io;
    auto gateway = make_kannel_gateway(io, kannel_settings(server.url("/")), {"u", "p"});
    const SendResult r = send_one(*gateway, io, {"+8613800000101", "x", "n1"});
    CHECK(r.status == SendResult::Status::transient);
    CHECK(r.detail.rfind("read: ", 0) == 0);
  }
}

TEST_CASE("a connection refused is transient") {
  asio::io_context io;
  std::string url;
  {
    tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    url = "http://127.0.0.1:" + std::to_string(probe.local_endpoint().port()) + "/";
  }
  auto gateway = make_kannel_gateway(io, kannel_settings(url), {"u", "p"});
  const SendResult r = send_one(*gateway, io, {"+8613800000101", "x", "n1"});
  CHECK(r.status == SendResult::Status::transient);
  CHECK(r.detail.rfind("connect: ", 0) == 0);
}

TEST_CASE("destroying the gateway with a send in flight reports it once, transient") {
  OneShotServer server("");
  asio::io_context io;
  auto gateway = make_kannel_gateway(io, kannel_settings(server.url("/")), {"u", "p"});
  int calls = 0;
  std::optional<SendResult> result;
  gateway->send({"+8613800000101", "x", "n1"}, [&](SendResult r) {
    ++calls;
    result = std::move(r);
  });
  // Run the loop until the request is on the wire (the server has read it), then shut down.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server.has_request() && std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(5));
  }
  REQUIRE(server.has_request());
  CHECK(calls == 0);
  gateway.reset();
  io.run();  // the aborted handlers run and must not report again
  CHECK(calls == 1);
  REQUIRE(result);
  CHECK(result->status == SendResult::Status::transient);
}

TEST_CASE("the generic HTTP adapter posts its configured parameters as a form") {
  OneShotServer server(response(200, "{\"Code\":\"OK\"}"));
  asio::io_context io;
  SmsSettings settings = kannel_settings(server.url("/sms/send"));
  settings.gateway = "http";
  settings.method = "POST";
  settings.params = {{"PhoneNumbers", "{phone}"},
                     {"Content", "{text}"},
                     {"AccessKey", "{username}"},
                     {"Sign", "舆情 {sender}"}};
  settings.success_contains = "\"Code\":\"OK\"";
  auto gateway = make_http_sms_gateway(io, settings, {"key1", "secret1"});
  CHECK(send_one(*gateway, io, {"+8613800000101", "收到", "n1"}).status ==
        SendResult::Status::delivered);
  const std::string request = server.request();
  CHECK(request.rfind("POST /sms/send HTTP/1.1", 0) == 0);
  CHECK(request.find("Content-Type: application/x-www-form-urlencoded") != std::string::npos);
  CHECK(request.substr(request.find("\r\n\r\n") + 4) ==
        "AccessKey=key1&Content=%E6%94%B6%E5%88%B0&PhoneNumbers=%2B8613800000101"
        "&Sign=%E8%88%86%E6%83%85%2010690000");
}

TEST_CASE("SmsChannel sends the notification's text to its address and refuses no address") {
  OneShotServer server(response(202, "0: Accepted for delivery"));
  asio::io_context io;
  auto gateway = make_kannel_gateway(io, kannel_settings(server.url("/")), {"u", "p"});
  // A channel without reply codes sends the text its renderer gives.
  SmsChannel channel(*gateway, nullptr,
                     [](const OutgoingNotification&, std::string_view) { return "预警"; });
  CHECK(channel.name() == "sms");
  OutgoingNotification n;
  n.notification_id = "n1";
  std::optional<SendResult> result;
  channel.send(n, [&](SendResult r) { result = std::move(r); });
  REQUIRE(result);  // no phone: refused before anything is sent
  CHECK(result->status == SendResult::Status::permanent);

  n.address = "+8613800000101";
  result.reset();
  channel.send(n, [&](SendResult r) { result = std::move(r); });
  io.run();
  REQUIRE(result);
  CHECK(result->status == SendResult::Status::delivered);
  CHECK(server.request().find("to=%2B8613800000101&text=%E9%A2%84%E8%AD%A6") != std::string::npos);
}
