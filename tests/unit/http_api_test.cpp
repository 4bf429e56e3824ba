// The HTTP API over real sockets: a Server on 127.0.0.1 (a free port) with the API installed,
// its loop on a thread of its own as in the daemon, an engine on a MemoryStore and a virtual
// clock, used ack links in a real SQLite file. One test per rejection (no token, wrong unit,
// forged, replayed and expired links, oversize body, malformed JSON) and the success paths.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "http/api.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include "ctl/virtual_time.hpp"
#include "http/ack_link.hpp"
#include "http/board.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "http/sms_callback.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/forwarded_input.hpp"
#include "service/reload.hpp"
#include "store/sqlite_store.hpp"
#include "support/memory_store.hpp"
#include "support/run_on.hpp"
#include "support/temp_dir.hpp"
#include "support/test_config.hpp"

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;
using namespace incidentd;
using incidentd::http::AckLink;
using incidentd::http::AckLinkSigner;

const std::string kTokenA = "token-of-unit-a";
const std::string kTokenB = "token-of-unit-b";
const std::string kTokenOperator = "token-of-the-operator";
const std::string kTokenOffice = "token-of-the-supervision-office";
const std::string kLinkKey = "a link key of at least thirty-two bytes, for tests";
const std::string kIncident = "zt-landslide";
// 2 h 10 min after detection: the first warning (2 h) has gone to the duty officers.
const TimePoint kDetected = *parse_rfc3339("2026-11-26T08:00:00+08:00");
const TimePoint kNow = kDetected + 2h + 10min;

struct TokenSpec {
  std::string name;
  std::string unit;  // empty: operator
  std::string secret;
};

std::string http_toml(const std::vector<TokenSpec>& tokens = {
                          {"desk-a", "a", kTokenA},
                          {"desk-b", "b", kTokenB},
                          {"desk-office", "office", kTokenOffice},
                          {"incidentctl", "", kTokenOperator}}) {
  std::string out = "\n[http]\nenabled = true\n";
  for (const TokenSpec& token : tokens) {
    out += "\n[[http.tokens]]\nname = \"" + token.name + "\"\n";
    if (!token.unit.empty()) out += "unit = \"" + token.unit + "\"\n";
    out += "sha256 = \"" + incidentd::http::token_sha256(token.secret) + "\"\n";
  }
  return out;
}

// A new file name on each call, in one directory removed when the test program exits.
std::string temp_path(const std::string& name) {
  static const testing::TempDir dir("http-api-test");
  static std::atomic<int> counter{0};
  return dir.file(std::to_string(counter++) + "-" + name);
}

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
  json json_body() const { return json::parse(body); }
};

// A server with the API, its loop on its own thread; the engine is touched only on that thread.
class ApiServer {
 public:
  explicit ApiServer(std::string links_db = temp_path("links.db"), http::ServerOptions options = {},
                     const std::string& extra_toml = "")
      : config_(testing::config_from_toml(testing::small_config_toml() + http_toml() + extra_toml)),
        time_(kNow),
        engine_(config_, store_, time_),
        links_(links_db),
        signer_(kLinkKey),
        server_(io_, std::move(options)) {
    Event e;
    e.event_id = "ev-1";
    e.incident_key = kIncident;
    e.kind = EventKind::detected;
    e.level = Level::II;
    e.title = "山体滑坡";
    e.lead_unit = "a";
    e.units = {"a", "b"};
    e.detected_at = kDetected;
    REQUIRE(engine_.handle(e).status == Outcome::Status::accepted);
    engine_.run_due();
    engine_.flush();

    http::ApiContext context;
    context.config = &config_;
    context.engine = &engine_;
    context.store = &store_;
    context.time = &time_;
    context.history = &history_;
    context.links = &signer_;
    context.used_links = &links_;
    context.ready = [this] { return ready.load(); };
    context.unready_reason = [this] { return unready_reason; };  // on the loop
    context.on_store_failure = [this](const std::exception& failure) {
      store_failures.emplace_back(failure.what(),
                                  dynamic_cast<const StoreFullError*>(&failure) != nullptr);
    };
    context.sample = [] {
      http::MetricsSample s;
      s.deadline_breaches = 3;
      s.notifications[{"sms", "delivered"}] = 7;
      s.notifications[{"webhook", "failed"}] = 2;
      s.consumer_lag = 12;
      s.dead_letters = 1;
      return s;
    };
    // The broker, faked to inject its answer: what is published is kept, and acknowledged (or
    // not) later on the loop, as the daemon's delivery reports come.
    context.publish_event = [this](const std::string& key, const std::string& value,
                                   std::function<void(const http::PublishOutcome&)> done) {
      published_.emplace_back(key, value);
      http::PublishOutcome o;
      o.ok = !broker_fails.load();
      o.topic = "opinion.events";
      o.partition = o.ok ? 1 : -1;
      o.offset = o.ok ? static_cast<std::int64_t>(published_.size()) + 40 : -1;
      if (!o.ok) o.error = "_MSG_TIMED_OUT: Local: Message timed out";
      net::post(io_, [done = std::move(done), o] { done(o); });
    };
    // A cluster's non-owner, when a test says so: its inputs go to the inputs topic (faked as
    // the events topic is above).
    context.owns = [this](const std::string&) { return owns_all.load(); };
    context.instance_id = "incidentd-b";
    context.forward_input = [this](const std::string& key, const std::string& value,
                                   std::function<void(const http::PublishOutcome&)> done) {
      forwarded_.emplace_back(key, value);
      http::PublishOutcome o;
      o.ok = !broker_fails.load();
      o.topic = "incidentd.inputs";
      o.partition = o.ok ? 0 : -1;
      o.offset = o.ok ? static_cast<std::int64_t>(forwarded_.size()) + 7 : -1;
      if (!o.ok) o.error = "_MSG_TIMED_OUT: Local: Message timed out";
      net::post(io_, [done = std::move(done), o] { done(o); });
    };
    control_.emplace(http::install_api(server_, std::move(context)));
    http::install_board(server_);
    server_.start();
    port_ = server_.port();
    loop_ = std::thread([this] { io_.run(); });
  }

  ~ApiServer() {
    on_loop([this] { server_.stop(); });
    work_.reset();
    io_.stop();
    loop_.join();
  }

  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Runs fn on the loop thread and returns its result.
  template <typename F>
  auto on_loop(F fn) -> decltype(fn()) {
    return testing::run_on(io_, std::move(fn));
  }

  unsigned short port() const { return port_; }
  const AckLinkSigner& signer() const { return signer_; }

  std::string link(const std::string& recipient, TimePoint expires) const {
    return signer_.sign({kIncident, recipient, kIncident + "/1/" + recipient + "/1", expires});
  }

  std::size_t acknowledgements_by(const std::string& recipient) {
    return on_loop([&] {
      std::size_t n = 0;
      for (const auto& a : store_.acknowledgements()) n += a.recipient == recipient ? 1 : 0;
      return n;
    });
  }

  std::optional<TimePoint> met_at(Milestone m) {
    return on_loop([&] { return engine_.find(kIncident)->milestone(m).met_at; });
  }

  std::size_t confirmations() {
    return on_loop([&] { return store_.confirmations().size(); });
  }

  // The source heartbeat changed (the daemon's SourceHeartbeat calls this on the loop).
  void source_status(bool silent, std::optional<TimePoint> since) {
    on_loop([&] {
      control_->source_status(silent, since);
      return 0;
    });
  }

  // SIGHUP as the daemon wires it: the file is re-read and its tokens replace the API's, on the
  // loop. Returns whether the reload was applied.
  bool reload_with_tokens(const std::vector<TokenSpec>& tokens) {
    const std::string path = temp_path("reloaded.toml");
    {
      std::ofstream out(path);
      out << testing::small_config_toml() << http_toml(tokens);
    }
    return on_loop([&] {
      ConfigReloader reloader(path, config_, [this](const Config& next) {
        control_->replace_tokens(next.http.tokens);
      });
      return reloader.reload().applied;
    });
  }

  // A full disk under the store: commits fail with StoreFullError until set_full(false).
  void set_full(bool full) {
    on_loop([&] { store_.set_full(full); });
  }
  void flush_engine() {
    on_loop([&] { engine_.flush(); });
  }

  std::atomic<bool> ready{true};
  std::atomic<bool> broker_fails{false};
  std::atomic<bool> owns_all{true};  // false: another instance owns every incident

  // (key, value) of every event published, in order.
  std::vector<std::pair<std::string, std::string>> published() {
    return on_loop([this] { return published_; });
  }
  // (key, value) of every input forwarded to the inputs topic, in order.
  std::vector<std::pair<std::string, std::string>> forwarded() {
    return on_loop([this] { return forwarded_; });
  }
  bool known(const std::string& key) {
    return on_loop([&] { return engine_.find(key) != nullptr; });
  }
  std::optional<std::string> unready_reason;  // set before requests, read on the loop
  std::vector<std::pair<std::string, bool>> store_failures;  // (what, a full disk), on the loop

 private:
  std::vector<std::pair<std::string, std::string>> published_;
  std::vector<std::pair<std::string, std::string>> forwarded_;
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> work_ = net::make_work_guard(io_);
  Config config_;
  testing::MemoryStore store_;
  testing::MemoryHistory history_{store_};
  VirtualTime time_;
  Engine engine_;
  SqliteStore links_;
  AckLinkSigner signer_;
  http::Server server_;
  std::optional<http::ApiControl> control_;
  unsigned short port_ = 0;
  std::thread loop_;
};

Reply call(unsigned short port, bhttp::verb method, const std::string& target,
           const std::string& token = "", const std::string& body = "",
           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::string_body> request(method, target, 11);
  request.set(bhttp::field::host, "127.0.0.1");
  if (!token.empty()) request.set(bhttp::field::authorization, "Bearer " + token);
  for (const auto& [name, value] : headers) request.insert(name, value);
  if (!body.empty() || method == bhttp::verb::post) {
    request.set(bhttp::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
  }
  bhttp::write(stream, request);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  bhttp::read(stream, buffer, response);
  return {static_cast<int>(response.result_int()), response.body(),
          std::string(response[bhttp::field::content_type])};
}

// Sends raw bytes and reads whatever comes back until the server closes.
std::string raw(unsigned short port, const std::string& bytes) {
  net::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  net::write(socket, net::buffer(bytes));
  std::string out;
  std::array<char, 4096> chunk{};
  beast::error_code ec;
  for (;;) {
    const std::size_t n = socket.read_some(net::buffer(chunk), ec);
    if (ec) break;
    out.append(chunk.data(), n);
  }
  return out;
}

std::string release(const std::string& unit, const std::string& id) {
  return json{{"confirmation_id", id},
              {"milestone", "first_release"},
              {"unit", unit},
              {"released_at", "2026-11-26T10:05:00+08:00"},
              {"channel", "weibo"},
              {"url", "https://example.org/release/1"},
              {"speaker", "spokesperson"}}
      .dump();
}

// A self-signed certificate for "localhost" (P-256, one day), written as PEM files.
struct TestCertificate {
  std::string cert_path = temp_path("cert.pem");
  std::string key_path = temp_path("key.pem");

  TestCertificate() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    REQUIRE(key != nullptr);
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24L * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost");
    REQUIRE(san != nullptr);
    X509_add_ext(cert, san, -1);
    X509_EXTENSION_free(san);
    REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
    FILE* c = std::fopen(cert_path.c_str(), "w");
    FILE* k = std::fopen(key_path.c_str(), "w");
    REQUIRE((c != nullptr && k != nullptr));
    PEM_write_X509(c, cert);
    PEM_write_PrivateKey(k, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(c);
    std::fclose(k);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

const std::string kAckPath = "/v1/incidents/" + kIncident + "/ack";
const std::string kReleasePath = "/v1/incidents/" + kIncident + "/releases";

}  // namespace

// ---- health, routing, limits ---------------------------------------------------------------

TEST_CASE("healthz answers alive and readyz follows the readiness check", "[http]") {
  ApiServer api;
  const Reply alive = call(api.port(), bhttp::verb::get, "/healthz");
  CHECK(alive.status == 200);
  CHECK(alive.json_body()["status"] == "alive");
  CHECK(call(api.port(), bhttp::verb::get, "/readyz").status == 200);
  CHECK(call(api.port(), bhttp::verb::get, "/readyz").json_body()["ready"] == true);
  api.ready = false;
  const Reply not_ready = call(api.port(), bhttp::verb::get, "/readyz");
  CHECK(not_ready.status == 503);
  CHECK(not_ready.json_body()["error"] == "not_ready");
  CHECK(not_ready.json_body()["ready"] == false);
  CHECK(not_ready.json_body()["reason"] ==
        "the consumer is not subscribed or the store is not open");
}

TEST_CASE("readyz gives the reason the daemon is paused, before any other", "[http]") {
  ApiServer api;
  api.on_loop([&] { api.unready_reason = "disk full: /var/lib/incidentd/incidentd.db"; });
  const Reply paused = call(api.port(), bhttp::verb::get, "/readyz");
  CHECK(paused.status == 503);
  CHECK(paused.json_body()["ready"] == false);
  CHECK(paused.json_body()["reason"] == "disk full: /var/lib/incidentd/incidentd.db");
  CHECK(paused.json_body()["error"] == "not_ready");
  api.on_loop([&] { api.unready_reason.reset(); });
  CHECK(call(api.port(), bhttp::verb::get, "/readyz").status == 200);
}

TEST_CASE("on a full disk an acknowledgement is kept, answered 503 disk_full, and written later",
          "[http]") {
  ApiServer api;
  api.set_full(true);
  const Reply full =
      call(api.port(), bhttp::verb::post, kAckPath, kTokenA, json{{"recipient", "a-duty1"}}.dump());
  CHECK(full.status == 503);
  CHECK(full.json_body()["error"] == "disk_full");
  CHECK(api.acknowledgements_by("a-duty1") == 0);
  const auto failures = api.on_loop([&] { return api.store_failures; });
  REQUIRE(failures.size() == 1);
  CHECK(failures[0].second);  // handed on as a full disk, which pauses the daemon
  // Room again: the retry writes it once; sent again, it changes nothing.
  api.set_full(false);
  api.flush_engine();
  CHECK(api.acknowledgements_by("a-duty1") == 1);
  const Reply again =
      call(api.port(), bhttp::verb::post, kAckPath, kTokenA, json{{"recipient", "a-duty1"}}.dump());
  CHECK(again.status == 200);
  CHECK(api.acknowledgements_by("a-duty1") == 1);
}

TEST_CASE("readyz says the source heartbeat's state when it is on, and stays ready", "[http]") {
  {
    ApiServer off;
    CHECK_FALSE(call(off.port(), bhttp::verb::get, "/readyz").json_body().contains("source"));
  }
  ApiServer api(temp_path("links.db"), {}, "\n[ingest]\nsource_silence = \"30m\"\n");
  json body = call(api.port(), bhttp::verb::get, "/readyz").json_body();
  CHECK(body["source"]["source_silent"] == false);
  CHECK(body["source"]["since"].is_null());
  api.source_status(true, kDetected);
  const Reply silent = call(api.port(), bhttp::verb::get, "/readyz");
  CHECK(silent.status == 200);
  body = silent.json_body();
  CHECK(body["status"] == "ready");
  CHECK(body["source"]["source_silent"] == true);
  CHECK(body["source"]["since"] == format_rfc3339(kDetected, std::chrono::hours(8)));
}

TEST_CASE("an unknown path is 404 and a wrong method 405, both as JSON", "[http]") {
  ApiServer api;
  const Reply missing = call(api.port(), bhttp::verb::get, "/v2/nothing");
  CHECK(missing.status == 404);
  CHECK(missing.json_body()["error"] == "not_found");
  const Reply wrong = call(api.port(), bhttp::verb::delete_, "/healthz");
  CHECK(wrong.status == 405);
  CHECK(wrong.json_body()["detail"].get<std::string>().find("GET") != std::string::npos);
}

TEST_CASE("a body over the limit is refused with 413 before it is read", "[http][rejection]") {
  ApiServer api;
  const std::string response =
      raw(api.port(), "POST " + kReleasePath + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                          kTokenA + "\r\nContent-Length: 100000\r\n\r\n");
  CHECK(response.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(response.find("\"error\":\"body_too_large\"") != std::string::npos);
  CHECK(api.confirmations() == 0);
}

TEST_CASE("a chunked body growing over the limit is refused with 413", "[http][rejection]") {
  ApiServer api;
  const std::string chunk(60 * 1024, 'x');
  std::ostringstream request;
  request << "POST " << kReleasePath << " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " << kTokenA
          << "\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 2; ++i) request << std::hex << chunk.size() << "\r\n" << chunk << "\r\n";
  request << "0\r\n\r\n";
  const std::string response = raw(api.port(), request.str());
  CHECK(response.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(api.confirmations() == 0);
}

TEST_CASE("a malformed request line gets 400 and the connection closes", "[http][rejection]") {
  ApiServer api;
  const std::string response = raw(api.port(), "THIS IS NOT HTTP\r\n\r\n");
  CHECK(response.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(response.find("bad_request") != std::string::npos);
}

TEST_CASE("a client that sends nothing is disconnected after the header timeout", "[http]") {
  http::ServerOptions options;
  options.header_timeout = 200ms;
  ApiServer api(temp_path("links.db"), options);
  const auto start = std::chrono::steady_clock::now();
  const std::string response = raw(api.port(), "GET /healthz HTTP/1.1\r\n");  // never finished
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(response.empty());
  CHECK(waited >= 150ms);
  CHECK(waited < 5s);
}

TEST_CASE("a kept-alive connection serves several requests", "[http]") {
  ApiServer api;
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), api.port()));
  beast::flat_buffer buffer;
  for (int i = 0; i < 3; ++i) {
    bhttp::request<bhttp::string_body> request(bhttp::verb::get, "/healthz", 11);
    request.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(stream, request);
    bhttp::response<bhttp::string_body> response;
    bhttp::read(stream, buffer, response);
    CHECK(response.result_int() == 200);
    CHECK(response.keep_alive());
  }
}

// ---- authentication ------------------------------------------------------------------------

TEST_CASE("a request without a token is 401", "[http][rejection]") {
  ApiServer api;
  const Reply r =
      call(api.port(), bhttp::verb::post, kAckPath, "", json{{"recipient", "a-duty1"}}.dump());
  CHECK(r.status == 401);
  CHECK(r.json_body()["error"] == "unauthorized");
  CHECK(r.json_body()["detail"].get<std::string>().find("no bearer token") != std::string::npos);
  CHECK(api.acknowledgements_by("a-duty1") == 0);
  CHECK(call(api.port(), bhttp::verb::get, "/v1/incidents").status == 401);
}

TEST_CASE("an unknown token is 401", "[http][rejection]") {
  ApiServer api;
  const Reply r = call(api.port(), bhttp::verb::get, "/v1/incidents", "not-a-token");
  CHECK(r.status == 401);
  CHECK(r.json_body()["detail"] == "the bearer token is not recognised");
}

TEST_CASE("a unit's token cannot acknowledge for another unit's person", "[http][rejection]") {
  ApiServer api;
  const Reply r =
      call(api.port(), bhttp::verb::post, kAckPath, kTokenB, json{{"recipient", "a-duty1"}}.dump());
  CHECK(r.status == 403);
  CHECK(r.json_body()["error"] == "wrong_unit");
  CHECK(api.acknowledgements_by("a-duty1") == 0);
}

TEST_CASE("a unit's token cannot confirm a release for another unit", "[http][rejection]") {
  ApiServer api;
  const Reply r = call(api.port(), bhttp::verb::post, kReleasePath, kTokenA, release("b", "r-1"));
  CHECK(r.status == 403);
  CHECK(r.json_body()["error"] == "wrong_unit");
  CHECK(api.confirmations() == 0);
}

TEST_CASE("a reload replaces the tokens: an added one is accepted, a removed one is 401",
          "[http][rejection]") {
  ApiServer api;
  const std::string kNewTokenA = "a new token of unit a";
  CHECK(call(api.port(), bhttp::verb::get, "/v1/incidents", kNewTokenA).status == 401);
  CHECK(call(api.port(), bhttp::verb::get, "/v1/incidents", kTokenA).status == 200);

  // desk-a gets a new token; desk-b keeps its own; the operator token is gone.
  REQUIRE(api.reload_with_tokens({{"desk-a", "a", kNewTokenA}, {"desk-b", "b", kTokenB}}));

  const Reply removed = call(api.port(), bhttp::verb::get, "/v1/incidents", kTokenA);
  CHECK(removed.status == 401);
  CHECK(removed.json_body()["error"] == "unauthorized");
  CHECK(call(api.port(), bhttp::verb::get, "/v1/incidents", kTokenOperator).status == 401);
  CHECK(call(api.port(), bhttp::verb::get, "/v1/incidents", kTokenB).status == 200);
  CHECK(
      call(api.port(), bhttp::verb::post, kAckPath, kTokenA, json{{"recipient", "a-duty1"}}.dump())
          .status == 401);
  CHECK(api.acknowledgements_by("a-duty1") == 0);

  // The added token acts for its unit, and for its unit only.
  const Reply added = call(api.port(), bhttp::verb::post, kAckPath, kNewTokenA,
                           json{{"recipient", "a-duty1"}}.dump());
  CHECK(added.status == 200);
  CHECK(api.acknowledgements_by("a-duty1") == 1);
  CHECK(call(api.port(), bhttp::verb::post, kReleasePath, kNewTokenA, release("b", "r-1")).status ==
        403);
}

// ---- bodies --------------------------------------------------------------------------------

TEST_CASE("malformed JSON is 400 and changes nothing", "[http][rejection]") {
  ApiServer api;
  const Reply r = call(api.port(), bhttp::verb::post, kReleasePath, kTokenA, "{\"unit\": \"a\",");
  CHECK(r.status == 400);
  CHECK(r.json_body()["error"] == "malformed_json");
  const Reply array = call(api.port(), bhttp::verb::post, kAckPath, kTokenA, "[1, 2]");
  CHECK(array.status == 400);
  CHECK(array.json_body()["detail"] == "the request body must be a JSON object");
  CHECK(api.confirmations() == 0);
}

TEST_CASE("a POST whose body is not declared application/json is 415 and changes nothing",
          "[http][rejection]") {
  // What an HTML form on another site can send: no JSON content type (nor a bearer token).
  ApiServer api;
  const std::string body = R"({"recipient": "a-duty1"})";
  for (const std::string& type :
       {std::string("Content-Type: text/plain\r\n"),
        std::string("Content-Type: application/x-www-form-urlencoded\r\n"), std::string()}) {
    INFO(type);
    const std::string response =
        raw(api.port(), "POST " + kAckPath + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                            "Authorization: Bearer " + kTokenA + "\r\n" + type +
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    CHECK(response.rfind("HTTP/1.1 415", 0) == 0);
    CHECK(response.find("\"error\":\"unsupported_media_type\"") != std::string::npos);
  }
  CHECK(api.acknowledgements_by("a-duty1") == 0);
  // A parameter and another letter case are still JSON.
  const std::string ok =
      raw(api.port(), "POST " + kAckPath + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                          "Authorization: Bearer " + kTokenA +
                          "\r\nContent-Type: Application/JSON; charset=utf-8\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(ok.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(api.acknowledgements_by("a-duty1") == 1);
}

TEST_CASE("the duty board is one page whose policy allows only its own style and script",
          "[http][board]") {
  ApiServer api;
  const std::string response =
      raw(api.port(), "GET /board HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  REQUIRE(response.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(response.find("Content-Type: text/html; charset=utf-8") != std::string::npos);
  const auto sha256_base64 = [](std::string_view text) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    REQUIRE(EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr) ==
            1);
    std::array<unsigned char, 64> encoded{};
    const int n = EVP_EncodeBlock(encoded.data(), digest.data(), static_cast<int>(length));
    return std::string(reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(n));
  };
  const std::string csp = "Content-Security-Policy: default-src 'self'; script-src 'sha256-" +
                          sha256_base64(http::kBoardJs) + "'; style-src 'sha256-" +
                          sha256_base64(http::kBoardCss) + "'";
  CHECK(response.find(csp) != std::string::npos);
  CHECK(response.find("unsafe-inline") == std::string::npos);
  CHECK(response.find("frame-ancestors 'none'") != std::string::npos);
  // The script and style the hashes name are the ones in the page, whole.
  CHECK(response.find("<script>" + std::string(http::kBoardJs) + "</script>") != std::string::npos);
  CHECK(response.find("<style>" + std::string(http::kBoardCss) + "</style>") != std::string::npos);
  // Nothing is fetched from another site: no absolute URL in the page.
  const std::string page = response.substr(response.find("\r\n\r\n"));
  CHECK(page.find("https://") == std::string::npos);
  CHECK(page.find("http://") == std::string::npos);
}

TEST_CASE("a confirmation missing a field is 422 naming the field", "[http][rejection]") {
  ApiServer api;
  json body = json::parse(release("a", "r-1"));
  body.erase("released_at");
  const Reply r = call(api.port(), bhttp::verb::post, kReleasePath, kTokenA, body.dump());
  CHECK(r.status == 422);
  CHECK(r.json_body()["error"] == "invalid_confirmation");
  CHECK(r.json_body()["detail"].get<std::string>().find("released_at") != std::string::npos);
}

TEST_CASE("acting on an unknown incident is 404", "[http][rejection]") {
  ApiServer api;
  const Reply r = call(api.port(), bhttp::verb::post, "/v1/incidents/nope/ack", kTokenA,
                       json{{"recipient", "a-duty1"}}.dump());
  CHECK(r.status == 404);
  CHECK(r.json_body()["error"] == "unknown_incident");
}

// ---- success paths -------------------------------------------------------------------------

TEST_CASE("a duty officer acknowledges with the unit's token", "[http]") {
  ApiServer api;
  const Reply r =
      call(api.port(), bhttp::verb::post, kAckPath, kTokenA, json{{"recipient", "a-duty1"}}.dump());
  REQUIRE(r.status == 200);
  CHECK(r.json_body()["status"] == "acknowledged");
  CHECK(api.acknowledgements_by("a-duty1") == 1);
}

TEST_CASE("confirmations from both units meet the milestone, a repeat is a duplicate", "[http]") {
  ApiServer api;
  const Reply first =
      call(api.port(), bhttp::verb::post, kReleasePath, kTokenA, release("a", "r-a"));
  REQUIRE(first.status == 201);
  CHECK(first.json_body()["milestone_met"] == false);
  CHECK_FALSE(api.met_at(Milestone::first_release));

  const Reply second =
      call(api.port(), bhttp::verb::post, kReleasePath, kTokenB, release("b", "r-b"));
  REQUIRE(second.status == 201);
  CHECK(second.json_body()["milestone_met"] == true);
  CHECK(api.met_at(Milestone::first_release) == *parse_rfc3339("2026-11-26T10:05:00+08:00"));

  const Reply again =
      call(api.port(), bhttp::verb::post, kReleasePath, kTokenB, release("b", "r-b"));
  CHECK(again.status == 200);
  CHECK(again.json_body()["status"] == "duplicate");
  CHECK(api.confirmations() == 2);
}

TEST_CASE("two units' rel-0001 both count, one unit's rel-0001 with other content is 409",
          "[http]") {
  ApiServer api;
  const Reply a =
      call(api.port(), bhttp::verb::post, kReleasePath, kTokenA, release("a", "rel-0001"));
  REQUIRE(a.status == 201);
  const Reply b =
      call(api.port(), bhttp::verb::post, kReleasePath, kTokenB, release("b", "rel-0001"));
  REQUIRE(b.status == 201);
  CHECK(b.json_body()["milestone_met"] == true);
  CHECK(api.confirmations() == 2);

  json changed = json::parse(release("a", "rel-0001"));
  changed["url"] = "https://example.org/release/2";
  const Reply conflict = call(api.port(), bhttp::verb::post, kReleasePath, kTokenA, changed.dump());
  CHECK(conflict.status == 409);
  CHECK(conflict.json_body()["error"] == "confirmation_conflict");
  CHECK_THAT(conflict.json_body()["detail"].get<std::string>(),
             Catch::Contains("confirmation \"rel-0001\" of unit \"a\"") &&
                 Catch::Contains("already recorded with another url"));
  CHECK(api.confirmations() == 2);
}

TEST_CASE("a body with a NUL byte after the JSON value is 400 and changes nothing",
          "[http][rejection]") {
  ApiServer api;
  const Reply r = call(api.port(), bhttp::verb::post, kReleasePath, kTokenA,
                       release("a", "r-nul") + std::string("\0x", 2));
  CHECK(r.status == 400);
  CHECK(r.json_body()["error"] == "malformed_json");
  CHECK(r.json_body()["detail"] == "the request body holds a NUL byte");
  CHECK(api.confirmations() == 0);
}

TEST_CASE("the operator token confirms for any unit", "[http]") {
  ApiServer api;
  const Reply r =
      call(api.port(), bhttp::verb::post, kReleasePath, kTokenOperator, release("b", "r-op"));
  CHECK(r.status == 201);
  CHECK(api.confirmations() == 1);
}

TEST_CASE("list shows the open incident with its milestones and next step", "[http]") {
  ApiServer api;
  const Reply r = call(api.port(), bhttp::verb::get, "/v1/incidents", kTokenA);
  REQUIRE(r.status == 200);
  const json incidents = r.json_body()["incidents"];
  REQUIRE(incidents.size() == 1);
  const json& incident = incidents[0];
  CHECK(incident["incident_key"] == kIncident);
  CHECK(incident["level"] == "II");
  CHECK(incident["clock_start"] == "2026-11-26T08:00:00+08:00");
  const json& first = incident["milestones"][0];
  CHECK(first["milestone"] == "first_release");
  CHECK(first["target"] == "2026-11-26T11:00:00+08:00");
  CHECK(first["deadline"] == "2026-11-26T13:00:00+08:00");
  CHECK(first["next_step"]["at"] == "2026-11-26T10:30:00+08:00");
  CHECK(first["next_step"]["action"] == "warning");
  CHECK(incident["unacknowledged_notifications"].get<int>() > 0);
}

TEST_CASE("show gives the incident's timeline, an unknown key is 404", "[http]") {
  ApiServer api;
  const Reply r = call(api.port(), bhttp::verb::get, "/v1/incidents/" + kIncident, kTokenB);
  REQUIRE(r.status == 200);
  const json timeline = r.json_body()["timeline"];
  REQUIRE(timeline.size() >= 2);
  CHECK(timeline[0]["action"] == "incident_opened");
  bool warned = false;
  for (const json& a : timeline) warned = warned || a["action"] == "warning";
  CHECK(warned);
  CHECK(call(api.port(), bhttp::verb::get, "/v1/incidents/nope", kTokenB).status == 404);
}

// ---- incidents entered by hand -----------------------------------------------------------------

TEST_CASE("an operator enters an incident by hand: the event is published, 202 once acknowledged",
          "[http][manual]") {
  ApiServer api;
  const json body = {{"incident_key", "tel-1"}, {"level", "II"},     {"title", "电话报告"},
                     {"lead_unit", "b"},        {"units", {"a"}},    {"by", "张伟"},
                     {"event_id", "tel-1-e1"},  {"region", "530600"}};
  const Reply r = call(api.port(), bhttp::verb::post, "/v1/incidents", kTokenOperator, body.dump());
  REQUIRE(r.status == 202);
  CHECK(r.json_body() == json{{"status", "published"},
                              {"event_id", "tel-1-e1"},
                              {"incident_key", "tel-1"},
                              {"kind", "detected"},
                              {"topic", "opinion.events"},
                              {"partition", 1},
                              {"offset", 41}});
  const auto published = api.published();
  REQUIRE(published.size() == 1);
  CHECK(published[0].first == "tel-1");
  // The detected_at is the API's clock; the token's name says which desk sent it.
  CHECK(published[0].second ==
        R"({"schema":1,"event_id":"tel-1-e1","incident_key":"tel-1","kind":"detected",)"
        R"("level":"II","title":"电话报告","region":"530600","lead_unit":"b","units":["b","a"],)"
        R"("detected_at":"2026-11-26T10:10:00+08:00","source":{"platform":"manual","by":"张伟",)"
        R"("via":"http","token":"incidentctl"}})");
  // Opened when it is consumed, like any other event: not by the request.
  CHECK_FALSE(api.known("tel-1"));

  // Without a key nor `by`: a key is made up, and the token's name stands for who.
  const Reply made = call(api.port(), bhttp::verb::post, "/v1/incidents", kTokenOperator,
                          R"({"level":"III","title":"t","lead_unit":"a"})");
  REQUIRE(made.status == 202);
  CHECK_THAT(made.json_body()["incident_key"].get<std::string>(),
             Catch::StartsWith("manual-20261126-101000-"));
  CHECK(json::parse(api.published().at(1).second)["source"]["by"] == "incidentctl");
}

TEST_CASE("a unit token may not enter, raise or close an incident by hand", "[http][manual]") {
  ApiServer api;
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"/v1/incidents", R"({"level":"II","title":"t","lead_unit":"a"})"},
      {"/v1/incidents/" + kIncident + "/level", R"({"level":"I"})"},
      {"/v1/incidents/" + kIncident + "/close", "{}"},
  };
  for (const auto& [path, body] : requests) {
    INFO(path);
    const Reply r = call(api.port(), bhttp::verb::post, path, kTokenA, body);
    CHECK(r.status == 403);
    CHECK(r.json_body()["error"] == "operator_only");
  }
  CHECK(api.published().empty());
}

TEST_CASE("a bad body for an incident entered by hand is 422 naming the field, nothing published",
          "[http][manual][rejection]") {
  ApiServer api;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"level":"II","title":"t","lead_unit":"a","levle":"I"})", R"(unknown field "levle")"},
      {R"({"level":"II","lead_unit":"a"})", R"(field "title" is required)"},
      {R"({"level":"V","title":"t","lead_unit":"a"})", R"(field "level" must be one of)"},
      {R"({"level":"II","title":"t","lead_unit":"nowhere"})",
       R"(unknown unit "nowhere" in field "lead_unit")"},
      {R"({"level":"II","title":"t","lead_unit":"a","units":["a","a"]})",
       R"(field "units" lists "a" more than once)"},
      {R"({"level":"II","title":"t","lead_unit":"a","detected_at":"08:00"})",
       R"(field "detected_at" must be an RFC 3339 timestamp)"},
      {R"({"level":"II","title":7,"lead_unit":"a"})", R"(field "title" must be a string)"},
  };
  for (const auto& [body, reason] : cases) {
    INFO(body);
    const Reply r = call(api.port(), bhttp::verb::post, "/v1/incidents", kTokenOperator, body);
    CHECK(r.status == 422);
    CHECK(r.json_body()["error"] == "invalid_event");
    CHECK_THAT(r.json_body()["detail"].get<std::string>(), Catch::Contains(reason));
  }
  const Reply exists =
      call(api.port(), bhttp::verb::post, "/v1/incidents", kTokenOperator,
           R"({"incident_key":")" + kIncident + R"(","level":"II","title":"t","lead_unit":"a"})");
  CHECK(exists.status == 409);
  CHECK(api.published().empty());
}

TEST_CASE("level and close by hand carry the incident's units as they stand", "[http][manual]") {
  ApiServer api;
  const std::string base = "/v1/incidents/" + kIncident;
  CHECK(call(api.port(), bhttp::verb::post, base + "/level", kTokenOperator, R"({"level":"II"})")
            .status == 409);
  CHECK(call(api.port(), bhttp::verb::post, "/v1/incidents/nope/close", kTokenOperator, "{}")
            .status == 404);
  REQUIRE(call(api.port(), bhttp::verb::post, base + "/level", kTokenOperator,
               R"({"level":"I","by":"李娜"})")
              .status == 202);
  REQUIRE(call(api.port(), bhttp::verb::post, base + "/close", kTokenOperator, "{}").status == 202);
  const auto published = api.published();
  REQUIRE(published.size() == 2);
  const json raised = json::parse(published[0].second);
  CHECK(raised["kind"] == "updated");
  CHECK(raised["level"] == "I");
  CHECK(raised["lead_unit"] == "a");
  CHECK(raised["units"] == json{"a", "b"});
  CHECK(raised["source"]["by"] == "李娜");
  const json closed = json::parse(published[1].second);
  CHECK(closed["kind"] == "closed");
  CHECK(closed["level"] == "II");  // as it stands: the raise is not consumed yet
  CHECK(closed["source"]["by"] == "incidentctl");
}

TEST_CASE("a broker that does not acknowledge the event gives 503", "[http][manual]") {
  ApiServer api;
  api.broker_fails = true;
  const Reply r = call(api.port(), bhttp::verb::post, "/v1/incidents", kTokenOperator,
                       R"({"level":"II","title":"t","lead_unit":"a"})");
  CHECK(r.status == 503);
  CHECK(r.json_body()["error"] == "publish_failed");
  CHECK_THAT(r.json_body()["detail"].get<std::string>(), Catch::Contains("_MSG_TIMED_OUT"));
}

// ---- inputs for an incident another instance owns ([cluster]) ----------------------------------

TEST_CASE("an acknowledgement for an incident another instance owns is forwarded, 202",
          "[http][cluster]") {
  ApiServer api;
  api.owns_all = false;
  const Reply r =
      call(api.port(), bhttp::verb::post, kAckPath, kTokenA, R"({"recipient":"a-duty1"})");
  REQUIRE(r.status == 202);
  const json body = r.json_body();
  CHECK(body["status"] == "forwarded");
  CHECK(body["kind"] == "acknowledgement");
  CHECK(body["incident_key"] == kIncident);
  CHECK(body["recipient"] == "a-duty1");
  CHECK(body["topic"] == "incidentd.inputs");
  CHECK(body["partition"] == 0);
  CHECK(body["offset"] == 8);
  CHECK(body["outcome"] == "/v1/incidents/" + kIncident);
  CHECK_THAT(body["detail"].get<std::string>(), Catch::Contains("does not own the incident"));

  const auto forwarded = api.forwarded();
  REQUIRE(forwarded.size() == 1);
  CHECK(forwarded[0].first == kIncident);
  const auto decoded = decode_forwarded_input(forwarded[0].second, testing::small_config());
  REQUIRE(decoded);
  CHECK(decoded.value->from == "incidentd-b");
  const auto& ack = std::get<Acknowledgement>(decoded.value->input);
  CHECK(ack.incident_key == kIncident);
  CHECK(ack.recipient == "a-duty1");
  CHECK(ack.at == kNow);
  CHECK(ack.via == "http");
  // Not applied here: the owner applies it when it consumes it.
  CHECK(api.acknowledgements_by("a-duty1") == 0);
  CHECK(api.published().empty());
}

TEST_CASE("a confirmation for an incident another instance owns is forwarded, 202",
          "[http][cluster]") {
  ApiServer api;
  api.owns_all = false;
  const Reply r =
      call(api.port(), bhttp::verb::post, kReleasePath, kTokenA, release("a", "rel-0001"));
  REQUIRE(r.status == 202);
  CHECK(r.json_body()["status"] == "forwarded");
  CHECK(r.json_body()["kind"] == "confirmation");
  CHECK(r.json_body()["confirmation_id"] == "rel-0001");
  CHECK(r.json_body()["milestone"] == "first_release");
  const auto forwarded = api.forwarded();
  REQUIRE(forwarded.size() == 1);
  const auto decoded = decode_forwarded_input(forwarded[0].second, testing::small_config());
  REQUIRE(decoded);
  const auto& c = std::get<Confirmation>(decoded.value->input);
  CHECK(c.confirmation_id == "rel-0001");
  CHECK(c.unit == "a");
  CHECK(c.url == "https://example.org/release/1");
  CHECK(c.speaker == "spokesperson");
  CHECK(c.via == "http");
  CHECK(api.confirmations() == 0);
}

TEST_CASE("a non-owner still refuses what it can check itself, and says when it cannot forward",
          "[http][cluster][rejection]") {
  ApiServer api;
  api.owns_all = false;
  // The token, the roster and the body are checked before anything is forwarded.
  CHECK(
      call(api.port(), bhttp::verb::post, kAckPath, kTokenB, R"({"recipient":"a-duty1"})").status ==
      403);
  CHECK(
      call(api.port(), bhttp::verb::post, kAckPath, kTokenA, R"({"recipient":"nobody"})").status ==
      422);
  CHECK(call(api.port(), bhttp::verb::post, "/v1/incidents/nope/ack", kTokenOperator,
             R"({"recipient":"a-duty1"})")
            .status == 404);
  CHECK(api.forwarded().empty());
  api.broker_fails = true;
  const Reply failed =
      call(api.port(), bhttp::verb::post, kAckPath, kTokenA, R"({"recipient":"a-duty1"})");
  CHECK(failed.status == 503);
  CHECK(failed.json_body()["error"] == "forward_failed");
  CHECK_THAT(failed.json_body()["detail"].get<std::string>(), Catch::Contains("_MSG_TIMED_OUT"));
  CHECK(api.acknowledgements_by("a-duty1") == 0);
}

TEST_CASE("metrics are Prometheus text with the sampled figures", "[http]") {
  ApiServer api;
  const Reply r = call(api.port(), bhttp::verb::get, "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.content_type.rfind("text/plain; version=0.0.4", 0) == 0);
  const std::regex sample(R"(^([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (-?[0-9]+)$)");
  const std::regex comment(R"(^# (HELP|TYPE) [a-z_]+ .+$)");
  std::map<std::string, std::string> values;
  std::istringstream lines(r.body);
  std::string line;
  int samples = 0;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_match(line, comment)) continue;
    REQUIRE(std::regex_match(line, m, sample));
    values[m[1].str() + m[2].str()] = m[4].str();
    ++samples;
  }
  CHECK(samples >= 7);
  CHECK(values["incidentd_incidents_open"] == "1");
  CHECK(values["incidentd_deadline_breaches_total"] == "3");
  CHECK(values["incidentd_notifications_total{channel=\"sms\",outcome=\"delivered\"}"] == "7");
  CHECK(values["incidentd_notifications_total{channel=\"webhook\",outcome=\"failed\"}"] == "2");
  CHECK(values["incidentd_consumer_lag"] == "12");
  CHECK(values["incidentd_dead_letters_total"] == "1");
  // A histogram: cumulative buckets up to +Inf, which is the count. No timer has fired here.
  CHECK(values["incidentd_step_lateness_seconds_bucket{le=\"0.001\"}"] == "0");
  CHECK(values["incidentd_step_lateness_seconds_bucket{le=\"10\"}"] == "0");
  CHECK(values["incidentd_step_lateness_seconds_bucket{le=\"+Inf\"}"] == "0");
  CHECK(values["incidentd_step_lateness_seconds_count"] == "0");
  CHECK(values["incidentd_step_lateness_seconds_sum"] == "0");
}

// ---- one-click ack links -------------------------------------------------------------------

// A form POST from the link's page, as a browser sends it (its Origin is the page's).
Reply press_button(unsigned short port, const std::string& token,
                   const std::string& origin = "http://127.0.0.1") {
  return call(port, bhttp::verb::post, "/v1/ack/" + token, "", "",
              {{"Origin", origin}, {"Content-Type", "application/x-www-form-urlencoded"}});
}

TEST_CASE("an ack link's GET and HEAD show a page and acknowledge nothing, its POST does",
          "[http]") {
  ApiServer api;
  const std::string token = api.link("a-duty2", kNow + 1h);
  const Reply page = call(api.port(), bhttp::verb::get, "/v1/ack/" + token);
  REQUIRE(page.status == 200);
  CHECK(page.content_type == "text/html; charset=utf-8");
  CHECK(page.body.find("山体滑坡") != std::string::npos);  // the incident's title
  CHECK(page.body.find(kIncident) != std::string::npos);   // its key
  CHECK(page.body.find("a duty2") != std::string::npos);   // the recipient's name
  CHECK(page.body.find("确认收到") < page.body.find("Acknowledge an alert"));  // Chinese first
  // One button, posting back to the link itself.
  CHECK(page.body.find("<form method=\"post\" action=\"./" + token + "\">") != std::string::npos);
  CHECK(page.body.find("<button") == page.body.rfind("<button"));
  const std::string head = raw(
      api.port(), "HEAD /v1/ack/" + token + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(head.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(head.find("<html") == std::string::npos);  // no body
  CHECK(api.acknowledgements_by("a-duty2") == 0);

  const Reply english = call(api.port(), bhttp::verb::get, "/v1/ack/" + token + "?lang=en");
  CHECK(english.status == 200);
  CHECK(english.body.find("确认收到") == std::string::npos);
  CHECK(english.body.find("action=\"./" + token + "?lang=en\"") != std::string::npos);
  CHECK(api.acknowledgements_by("a-duty2") == 0);

  const Reply done = press_button(api.port(), token);
  CHECK(done.status == 200);
  CHECK(done.body.find("已确认收到") != std::string::npos);
  CHECK(api.acknowledgements_by("a-duty2") == 1);
}

TEST_CASE("an ack link of an incident another instance owns is forwarded, then used",
          "[http][cluster]") {
  ApiServer api;
  api.owns_all = false;
  const std::string token = api.link("a-duty2", kNow + 1h);
  const Reply done = press_button(api.port(), token);
  CHECK(done.status == 202);
  CHECK(done.content_type == "text/html; charset=utf-8");
  CHECK(done.body.find("已收到确认") != std::string::npos);
  const auto forwarded = api.forwarded();
  REQUIRE(forwarded.size() == 1);
  const auto decoded = decode_forwarded_input(forwarded[0].second, testing::small_config());
  REQUIRE(decoded);
  const auto& ack = std::get<Acknowledgement>(decoded.value->input);
  CHECK(ack.recipient == "a-duty2");
  CHECK(ack.via == "link");
  CHECK(api.acknowledgements_by("a-duty2") == 0);
  // The link is used up here once the broker has the acknowledgement.
  CHECK(press_button(api.port(), token).status == 409);
  CHECK(api.forwarded().size() == 1);
}

TEST_CASE("a used ack link is 409, also after a restart", "[http][rejection]") {
  const std::string db = temp_path("links.db");
  const std::string token = [&] {
    ApiServer api(db);
    const std::string t = api.link("a-duty2", kNow + 1h);
    REQUIRE(press_button(api.port(), t).status == 200);
    const Reply replay = press_button(api.port(), t);
    CHECK(replay.status == 409);
    CHECK(replay.body.find("链接已使用") != std::string::npos);
    CHECK(call(api.port(), bhttp::verb::get, "/v1/ack/" + t).status == 409);
    CHECK(api.acknowledgements_by("a-duty2") == 1);
    return t;
  }();
  ApiServer restarted(db);
  CHECK(press_button(restarted.port(), token).status == 409);
  CHECK(restarted.acknowledgements_by("a-duty2") == 0);
}

TEST_CASE("a POST from another site's page acknowledges nothing", "[http][rejection]") {
  ApiServer api;
  const std::string token = api.link("a-duty1", kNow + 1h);
  const Reply r = press_button(api.port(), token, "https://attacker.example");
  CHECK(r.status == 403);
  CHECK(r.content_type == "text/html; charset=utf-8");
  CHECK(api.acknowledgements_by("a-duty1") == 0);
  // The link still works from its own page; a client that sends no Origin is not a browser
  // on another site.
  CHECK(call(api.port(), bhttp::verb::post, "/v1/ack/" + token).status == 200);
  CHECK(api.acknowledgements_by("a-duty1") == 1);
}

TEST_CASE("a forged ack link is 403", "[http][rejection]") {
  ApiServer api;
  const AckLinkSigner impostor("somebody else's key, long enough to be accepted");
  const std::string forged =
      impostor.sign({kIncident, "a-duty1", kIncident + "/1/a-duty1/1", kNow + 1h});
  const Reply r = call(api.port(), bhttp::verb::get, "/v1/ack/" + forged);
  CHECK(r.status == 403);
  CHECK(r.body.find("链接无效") != std::string::npos);
  CHECK(press_button(api.port(), forged).status == 403);
  // A genuine link for a-duty2 with its payload swapped for a-duty1's.
  const std::string genuine = api.link("a-duty2", kNow + 1h);
  const std::string spliced =
      forged.substr(0, forged.find('.')) + genuine.substr(genuine.find('.'));
  CHECK(press_button(api.port(), spliced).status == 403);
  CHECK(api.acknowledgements_by("a-duty1") == 0);
}

TEST_CASE("an expired ack link is 410", "[http][rejection]") {
  ApiServer api;
  const std::string token = api.link("a-duty1", kNow);
  const Reply r = call(api.port(), bhttp::verb::get, "/v1/ack/" + token);
  CHECK(r.status == 410);
  CHECK(r.body.find("链接已过期") != std::string::npos);
  CHECK(press_button(api.port(), token).status == 410);
  CHECK(api.acknowledgements_by("a-duty1") == 0);
}

// ---- read scope ----------------------------------------------------------------------------

TEST_CASE("a unit token reads only its unit's incidents, another's is 404 as if unknown",
          "[http][rejection]") {
  ApiServer api;  // the incident's units are a and b; "office" is not one of them
  const auto listed = [&](const std::string& token) {
    return call(api.port(), bhttp::verb::get, "/v1/incidents", token)
        .json_body()["incidents"]
        .size();
  };
  CHECK(listed(kTokenA) == 1);
  CHECK(listed(kTokenB) == 1);
  CHECK(listed(kTokenOperator) == 1);
  CHECK(listed(kTokenOffice) == 0);
  CHECK(call(api.port(), bhttp::verb::get, "/v1/incidents/" + kIncident, kTokenA).status == 200);
  const Reply hidden =
      call(api.port(), bhttp::verb::get, "/v1/incidents/" + kIncident, kTokenOffice);
  const Reply unknown = call(api.port(), bhttp::verb::get, "/v1/incidents/nope", kTokenOffice);
  CHECK(hidden.status == 404);
  CHECK(unknown.status == 404);
  CHECK(hidden.json_body()["error"] == unknown.json_body()["error"]);
  // Acting on it is 404 too, whatever the body, before the body is read.
  const Reply ack = call(api.port(), bhttp::verb::post, kAckPath, kTokenOffice,
                         json{{"recipient", "office-duty1"}}.dump());
  CHECK(ack.status == 404);
  CHECK(call(api.port(), bhttp::verb::post, kAckPath, kTokenOffice, "not json").status == 404);
  CHECK(call(api.port(), bhttp::verb::post, kReleasePath, kTokenOffice, release("office", "r-1"))
            .status == 404);
  CHECK(api.acknowledgements_by("office-duty1") == 0);
  CHECK(api.confirmations() == 0);
  // /healthz and /metrics need no token, as before.
  CHECK(call(api.port(), bhttp::verb::get, "/healthz").status == 200);
  CHECK(call(api.port(), bhttp::verb::get, "/metrics").status == 200);
}

// ---- header and connection limits ----------------------------------------------------------

TEST_CASE("two Authorization headers are refused with 400", "[http][rejection]") {
  ApiServer api;
  const std::string response = raw(api.port(),
                                   "GET /v1/incidents HTTP/1.1\r\nHost: x\r\n"
                                   "Authorization: Bearer " +
                                       kTokenOffice +
                                       "\r\n"
                                       "Authorization: Bearer " +
                                       kTokenA + "\r\n\r\n");
  CHECK(response.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(response.find("duplicate_header") != std::string::npos);
  CHECK(response.find(kIncident) == std::string::npos);
}

namespace {

// A connection from `from` that sends nothing: one idle slot taken.
tcp::socket idle_socket(net::io_context& io, unsigned short port, const std::string& from) {
  tcp::socket socket(io);
  socket.open(tcp::v4());
  socket.bind(tcp::endpoint(net::ip::make_address(from), 0));
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  return socket;
}

// Whether the server closes this connection, unanswered, within `limit`.
bool closed_unanswered(tcp::socket& socket, std::chrono::milliseconds limit) {
  auto& io = static_cast<net::io_context&>(socket.get_executor().context());
  std::array<char, 64> chunk{};
  bool closed = false;
  socket.async_read_some(net::buffer(chunk), [&](beast::error_code ec, std::size_t n) {
    closed = ec == net::error::eof || ec == net::error::connection_reset;
    CHECK(n == 0);
  });
  io.restart();
  io.run_for(limit);
  if (!closed) socket.cancel();
  return closed;
}

Reply get_from(const std::string& from, unsigned short port, const std::string& target) {
  net::io_context io;
  beast::tcp_stream stream(idle_socket(io, port, from));
  bhttp::request<bhttp::string_body> request(bhttp::verb::get, target, 11);
  request.set(bhttp::field::host, "127.0.0.1");
  bhttp::write(stream, request);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  bhttp::read(stream, buffer, response);
  return {static_cast<int>(response.result_int()), response.body(),
          std::string(response[bhttp::field::content_type])};
}

}  // namespace

TEST_CASE("one address's idle sockets take its own slots only, the SMS listener stays served",
          "[http][rejection]") {
  http::ServerOptions options;
  options.max_connections_per_address = 4;
  ApiServer api(temp_path("links.db"), options);
  // The SMS callback on a listener of its own, as with [sms] callback_port.
  const std::string secret(40, 'k');
  std::atomic<int> replies{0};
  net::io_context sms_io;
  http::ServerOptions sms_options;
  sms_options.max_connections_per_address = 4;
  http::Server sms_server(sms_io, sms_options);
  http::install_sms_callback(
      sms_server, secret,
      [&](const std::string&, const std::string&, const std::string&) { ++replies; });
  sms_server.start();
  auto sms_work = net::make_work_guard(sms_io);
  std::thread sms_loop([&] { sms_io.run(); });

  net::io_context io;
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(idle_socket(io, api.port(), "127.0.0.1"));
  tcp::socket over = idle_socket(io, api.port(), "127.0.0.1");
  CHECK(closed_unanswered(over, 2s));
  // Another address still gets in, and so does the gateway on its own listener.
  CHECK(get_from("127.0.0.2", api.port(), "/healthz").status == 200);
  CHECK(get_from("127.0.0.1", sms_server.port(),
                 "/sms/kannel?secret=" + secret + "&from=%2B8613900001001&to=10690000&text=1")
            .status == 200);
  CHECK(replies == 1);
  CHECK(get_from("127.0.0.2", api.port(), "/metrics")
            .body.find("incidentd_http_connections_refused_total 1\n") != std::string::npos);
  // A slot freed is a slot again, once the server has seen the close (a connection of the same
  // address may race it and be refused meanwhile).
  idle.pop_back();
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    try {
      served = get_from("127.0.0.1", api.port(), "/healthz").status == 200;
    } catch (const boost::system::system_error&) {
      // refused: the close not seen yet
    }
  }
  CHECK(served);

  net::post(sms_io, [&] { sms_server.stop(); });
  sms_work.reset();
  sms_loop.join();
}

// ---- the SMS reply callback ----------------------------------------------------------------

TEST_CASE("the SMS callback refuses a request without the secret or with another one",
          "[http][rejection][sms]") {
  const std::string secret = "0123456789abcdef0123456789abcdef-secret";
  std::vector<std::string> texts;  // what reached the reply handler
  net::io_context io;
  http::Server server(io, {});
  http::install_sms_callback(server, secret,
                             [&](const std::string&, const std::string&, const std::string& text) {
                               texts.push_back(text);
                             });
  server.start();
  auto work = net::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  const std::string query = "from=%2B8613900001001&to=10690000&text=%E5%B7%B2%E5%8F%91%E5%B8%83";
  const auto status = [&](const std::string& target) {
    return call(server.port(), bhttp::verb::get, target).status;
  };
  CHECK(status("/sms/kannel?" + query) == 403);
  CHECK(status("/sms/kannel?secret=&" + query) == 403);
  CHECK(status("/sms/kannel?secret=" + secret.substr(1) + "&" + query) == 403);
  CHECK(status("/sms/kannel?secret=" + secret + "x&" + query) == 403);
  CHECK(status("/sms/kannel?secret=" + secret.substr(0, 31) + "X&" + query) == 403);
  testing::run_on(io, [&] { CHECK(texts.empty()); });
  CHECK(status("/sms/kannel?secret=" + secret + "&" + query) == 200);
  testing::run_on(io, [&] { CHECK(texts == std::vector<std::string>{"已发布"}); });
  net::post(io, [&] { server.stop(); });
  work.reset();
  loop.join();
}

TEST_CASE(
    "the daemon's SMS route takes its secret from [sms] callback_secret_file, off without one",
    "[http][sms]") {
  int replies = 0;
  const auto count = [&](const std::string&, const std::string&, const std::string&) { ++replies; };
  net::io_context io;
  http::Server off(io, {});
  http::Server on(io, {});
  SmsSettings sms;
  CHECK_FALSE(http::serve_sms_replies(off, sms, count));
  sms.callback_secret_file = temp_path("callback.secret");
  std::ofstream(sms.callback_secret_file) << "abc\n";
  CHECK_THROWS_WITH(http::serve_sms_replies(on, sms, count),
                    Catch::StartsWith("sms.callback_secret_file: "));
  const std::string secret(40, 's');
  std::ofstream(sms.callback_secret_file) << secret << "\n";
  CHECK(http::serve_sms_replies(on, sms, count));
  off.start();
  on.start();
  auto work = net::make_work_guard(io);
  std::thread loop([&] { io.run(); });
  const std::string query = "&from=%2B8613900001001&to=10690000&text=1";
  CHECK(call(off.port(), bhttp::verb::get, "/sms/kannel?secret=" + secret + query).status == 404);
  CHECK(call(on.port(), bhttp::verb::get, "/sms/kannel?secret=" + std::string(40, 'x') + query)
            .status == 403);
  CHECK(call(on.port(), bhttp::verb::get, "/sms/kannel?secret=" + secret + query).status == 200);
  testing::run_on(io, [&] { CHECK(replies == 1); });
  net::post(io, [&] {
    off.stop();
    on.stop();
  });
  work.reset();
  loop.join();
}

TEST_CASE("[sms] callback_secret_file must be readable and long enough", "[http][config][sms]") {
  const std::string good = temp_path("callback.secret");
  std::ofstream(good) << std::string(64, 'a') << "\n";
  const std::string short_one = temp_path("short.secret");
  std::ofstream(short_one) << "abc\n";
  const std::string percent = temp_path("percent.secret");
  std::ofstream(percent) << std::string(40, 'a') << "%p\n";
  const auto errors = [](const std::string& sms) {
    return parse_config(testing::small_config_toml() + "\n[sms]\n" + sms, "test.toml").errors;
  };
  CHECK(errors("callback_secret_file = \"" + good + "\"\n").empty());
  CHECK(read_sms_callback_secret(good).secret == std::string(64, 'a'));
  for (const std::string& bad : {short_one, percent, temp_path("missing.secret")}) {
    const auto e = errors("callback_secret_file = \"" + bad + "\"\n");
    REQUIRE(e.size() == 1);
    CHECK(e[0].message.find("sms.callback_secret_file") != std::string::npos);
  }
  CHECK(errors("callback_address = \"127.0.0.1\"\n").size() == 1);
  CHECK(errors("callback_port = 0\n").size() == 1);
  CHECK(errors("callback_port = 8481\n").empty());
  const auto clash = parse_config(testing::small_config_toml() +
                                      "\n[http]\nenabled = true\nport = 8481\n[sms]\n"
                                      "callback_port = 8481\n",
                                  "test.toml")
                         .errors;
  REQUIRE(clash.size() == 1);
  CHECK(clash[0].message.find("the API listens on 127.0.0.1:8481") != std::string::npos);
  CHECK(parse_config(testing::small_config_toml() + "\n[http]\nmax_connections_per_address = 0\n",
                     "test.toml")
            .errors.size() == 1);
}

// ---- incidentctl's client, TLS -------------------------------------------------------------

TEST_CASE("the incidentctl client acknowledges and reads errors through the API", "[http]") {
  ApiServer api;
  http::ClientRequest request;
  request.base_url = "http://127.0.0.1:" + std::to_string(api.port());
  request.method = "POST";
  request.target = kAckPath;
  request.bearer_token = kTokenOperator;
  request.body = json{{"recipient", "b-duty1"}}.dump();
  const http::ClientReply ok = http::send_request(request);
  CHECK(ok.status == 200);
  CHECK(api.acknowledgements_by("b-duty1") == 1);
  request.bearer_token = kTokenA;
  const http::ClientReply denied = http::send_request(request);
  CHECK(denied.status == 403);
  CHECK(json::parse(denied.body)["error"] == "wrong_unit");
}

TEST_CASE("with a certificate the server speaks TLS and the client verifies it", "[http][tls]") {
  const TestCertificate certificate;
  http::ServerOptions options;
  options.tls_cert = certificate.cert_path;
  options.tls_key = certificate.key_path;
  ApiServer api(temp_path("links.db"), options);
  http::ClientRequest request;
  request.base_url = "https://localhost:" + std::to_string(api.port());
  request.target = "/v1/incidents";
  request.bearer_token = kTokenB;
  request.ca_file = certificate.cert_path;
  const http::ClientReply reply = http::send_request(request);
  CHECK(reply.status == 200);
  CHECK(json::parse(reply.body)["incidents"].size() == 1);
  // Without trusting the certificate the client refuses the connection.
  request.ca_file.clear();
  CHECK_THROWS_AS(http::send_request(request), std::runtime_error);
  // Plain HTTP to a TLS port gets no HTTP answer.
  CHECK(raw(api.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 200", 0) ==
        std::string::npos);
}

// ---- [http] configuration ------------------------------------------------------------------

TEST_CASE("[http] tokens are checked against the roster and must be hashes", "[http][config]") {
  const std::string toml = testing::small_config_toml() +
                           "\n[http]\nenabled = true\nport = 70000\ntls_cert = \"c.pem\"\n"
                           "\n[[http.tokens]]\nname = \"x\"\nunit = \"nope\"\nsha256 = \"" +
                           http::token_sha256("t") +
                           "\"\n\n[[http.tokens]]\nname = \"y\"\nsha256 = \"plain-token\"\n";
  const ConfigResult result = parse_config(toml, "t.toml");
  REQUIRE_FALSE(result.config);
  std::string all;
  for (const ConfigError& e : result.errors) all += e.message + "\n";
  CHECK_THAT(all, Catch::Contains("http.port: must be 0 to 65535"));
  CHECK_THAT(all, Catch::Contains("tls_cert and tls_key go together"));
  CHECK_THAT(all, Catch::Contains("http.tokens: unknown unit \"nope\""));
  CHECK_THAT(all, Catch::Contains("http.tokens[2].sha256: expected 64 hex digits"));
}

TEST_CASE("[http] port 0 asks for any free port, and the server says which it got",
          "[http][config]") {
  // With an [sms] section and no callback_port: that is no clash with the API's port 0.
  const ConfigResult result = parse_config(
      testing::small_config_toml() + "\n[http]\nenabled = true\nport = 0\n[sms]\nenabled = false\n",
      "t.toml");
  REQUIRE(result.errors.empty());
  REQUIRE(result.config);
  CHECK(result.config->http.port == 0);
  net::io_context io;
  http::ServerOptions options;
  options.port = static_cast<unsigned short>(result.config->http.port);
  http::Server server(io, options);
  server.start();
  CHECK(server.port() != 0);
}

TEST_CASE("the shipped configuration keeps the API off", "[http][config]") {
  const Config config = testing::load_example_config();
  CHECK_FALSE(config.http.enabled);
  CHECK(config.http.address == "127.0.0.1");
  CHECK(config.http.tokens.empty());
  CHECK(config.http.link_secret_file.empty());
}
