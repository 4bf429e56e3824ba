// The one HTTP client (net/http_client.hpp) against a raw socket server on 127.0.0.1
// (support/one_shot_server.hpp): answers
// with a Content-Length (which Boost 1.74 refuses when the body limit is left empty), a body over
// the limit, a streamed body handed on as it arrives, and one answer per request when the client
// goes away mid-request.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "net/http_client.hpp"

#include <boost/asio.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "support/one_shot_server.hpp"

namespace incidentd::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

using ScriptedServer = testing::OneShotServer;

Url url_of(const ScriptedServer& server) {
  return *parse_url(server.url("/x"));
}

TEST_CASE("an answer with a Content-Length is read, with the request's headers on the wire") {
  ScriptedServer server({testing::http_answer(202, "0: Accepted for delivery")});
  HttpRequest request;
  request.method = "POST";
  request.url = url_of(server);
  request.headers = {{"Content-Type", "application/json"}};
  request.body = "{}";
  const HttpResult r = fetch(request);
  CHECK(r.status == 202);
  CHECK(r.body == "0: Accepted for delivery");
  CHECK(r.error.empty());
  const std::string sent = server.request();
  CHECK(sent.rfind("POST /x HTTP/1.1\r\n", 0) == 0);
  CHECK(sent.find("Host: 127.0.0.1:") != std::string::npos);
  CHECK(sent.find("Content-Type: application/json\r\n") != std::string::npos);
}

TEST_CASE("an answer over the body limit is an error, not an answer") {
  ScriptedServer server({testing::http_answer(200, std::string(2000, 'x'))});
  HttpRequest request;
  request.url = url_of(server);
  request.max_body_bytes = 1000;
  const HttpResult r = fetch(request);
  CHECK_FALSE(r.answered());
  CHECK(r.error == "read: body limit exceeded");
}

TEST_CASE("a streamed body is handed on event by event, and the server's close ends it") {
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
  const auto chunk = [](const std::string& data) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return size + data + "\r\n";
  };
  ScriptedServer server({head, chunk("event: a\n\n"), chunk("event: b\n\n")},
                        std::chrono::milliseconds(100));
  std::vector<std::string> pieces;
  HttpRequest request;
  request.url = url_of(server);
  request.on_body = [&](std::string_view bytes) {
    pieces.emplace_back(bytes);
    return true;
  };
  const HttpResult r = fetch(request);
  CHECK(r.status == 200);
  CHECK_FALSE(r.stopped);
  CHECK(r.body.empty());
  // Two writes 100 ms apart arrive as two pieces: nothing waits for a buffer to fill.
  CHECK(pieces == std::vector<std::string>{"event: a\n\n", "event: b\n\n"});
}

TEST_CASE("keep_going ends a request that waits, and the answer says it was stopped") {
  ScriptedServer server(std::vector<std::string>{});  // never answers
  HttpRequest request;
  request.url = url_of(server);
  int asked = 0;
  const HttpResult r = fetch(request, "", [&] { return ++asked < 3; });
  CHECK(asked == 3);
  CHECK(r.stopped);
  CHECK_FALSE(r.answered());
}

TEST_CASE("a client destroyed with a request in flight answers it once") {
  ScriptedServer server(std::vector<std::string>{});
  asio::io_context io;
  int calls = 0;
  HttpResult got;
  {
    HttpClient client(io);
    HttpRequest request;
    request.url = url_of(server);
    client.send(request, [&](HttpResult r) {
      ++calls;
      got = std::move(r);
    });
    // Run the loop until the request is on the wire (the server has read it).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!server.has_request() && std::chrono::steady_clock::now() < deadline) {
      io.run_for(std::chrono::milliseconds(5));
    }
    REQUIRE(server.has_request());
    CHECK(calls == 0);
  }
  io.run();  // the abandoned handlers run and must not answer again
  CHECK(calls == 1);
  CHECK(got.error == "shut down with the request in flight");
}

}  // namespace
}  // namespace incidentd::net
