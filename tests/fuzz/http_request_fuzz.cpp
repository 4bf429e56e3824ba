// HTTP request handling: one request, any bytes, parsed as a connection parses it (Beast, the
// server's limits) and answered by the real API routes over the real engine (virtual time, an
// in-memory store), without a socket. Every answer is a real status; a JSON error body parses.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ctl/virtual_time.hpp"
#include "fuzz_support.hpp"
#include "http/ack_link.hpp"
#include "http/api.hpp"
#include "http/server.hpp"
#include "incidentd/ack_link_log.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/engine.hpp"
#include "support/memory_store.hpp"

namespace {

using namespace incidentd;

// The operator token "fuzz-operator" and the unit token "fuzz-zhaotong" (for zhaotong-gov): the
// seed corpus sends them, so the fuzzer starts past the bearer check.
struct World {
  World() : config(fuzz::example_config()), time(TimePoint(std::chrono::hours(24 * 20600))) {
    config.http.tokens = {{"operator", "", http::token_sha256("fuzz-operator")},
                          {"zhaotong", "zhaotong-gov", http::token_sha256("fuzz-zhaotong")}};
    engine = std::make_unique<Engine>(config, store, time);
    // One open incident with a running clock, so ack and release routes reach the engine.
    const Parsed<Event> opened = parse_event(
        R"({"schema":1,"event_id":"fuzz-1","incident_key":"fuzz-incident","kind":"detected",)"
        R"("level":"II","lead_unit":"zhaotong-gov","units":["zhaotong-gov","prov-emergency"],)"
        R"("detected_at":"2026-05-27T08:00:00+08:00"})",
        config);
    if (!opened) fuzz::broken(opened.error.c_str());
    engine->handle(*opened.value);
    engine->flush();
    server = std::make_unique<http::Server>(io, http::ServerOptions{});
    http::ApiContext api;
    api.config = &config;
    api.engine = engine.get();
    api.store = &store;
    api.time = &time;
    api.history = &history;
    api.links = &signer;
    api.used_links = &used_links;
    // Incidents entered by hand: the broker takes every event at once.
    api.publish_event = [](const std::string&, const std::string&,
                           const std::function<void(const http::PublishOutcome&)>& done) {
      done(http::PublishOutcome{true, "opinion.events", 0, 1, ""});
    };
    http::install_api(*server, std::move(api));
  }

  // Every link is new: the fuzzer reaches the engine with each well-signed one.
  struct NoLinkUsed final : AckLinkLog {
    bool record_used_link(const std::string&, const std::string&, TimePoint) override {
      return true;
    }
    bool is_link_used(const std::string&) override { return false; }
  };

  Config config;
  testing::MemoryStore store;
  testing::MemoryHistory history{store};
  NoLinkUsed used_links;
  VirtualTime time;
  std::unique_ptr<Engine> engine;
  boost::asio::io_context io;
  http::AckLinkSigner signer{std::string(40, 'k')};
  std::unique_ptr<http::Server> server;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  std::optional<http::Response> response =
      world.server->handle_bytes_for_test(fuzz::input(data, size), "127.0.0.1");
  if (!response) return 0;
  if (response->on_later) {
    // An answer given later (an incident entered by hand): it must come, exactly once here.
    std::optional<http::Response> answer;
    response->on_later([&answer](http::Response r) {
      if (answer) fuzz::broken("a later response answered twice");
      answer = std::move(r);
    });
    if (!answer) fuzz::broken("a later response never answered");
    response = std::move(answer);
  }
  if (response->status < 200 || response->status > 599) fuzz::broken("a status out of range");
  if (response->status >= 400 && response->content_type == "application/json") {
    const auto body = nlohmann::json::parse(response->body, nullptr, false);
    if (!body.is_object() || !body.contains("error")) fuzz::broken("an error body without error");
  }
  return 0;
}
