// The HTTPS paths over real sockets on 127.0.0.1, with a throwaway certificate authority made at
// test time (OpenSSL API; nothing is committed): a CA, a server certificate it signs for
// "localhost" and 127.0.0.1, one it signs for another name, and a self-signed one.
//
// The clients under test are the ones that reach people and operators:
//   - WebhookChannel (daemon/notify/webhook.cpp), the dispatcher's webhook sender;
//   - the cloud-SMS gateway (make_http_sms_gateway, daemon/notify/sms.cpp);
//   - incidentctl's client (daemon/http/client.cpp, ClientRequest::ca_file).
// The daemon's two senders trust the system's CA store through OpenSSL's default verify paths,
// which honour the standard SSL_CERT_FILE / SSL_CERT_DIR environment variables when the channel
// is built. The tests point SSL_CERT_FILE at the throwaway CA (and SSL_CERT_DIR at an empty
// folder, so the machine's own CAs play no part); no option was added to the daemon for it.
//
// The receiving end is the daemon's own http::Server with tls_cert/tls_key, its loop on a thread
// of its own; the senders run on that same loop. Every wait is a future with a deadline.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ctl/virtual_time.hpp"
#include "http/api.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "incidentd/engine.hpp"
#include "notify/sms.hpp"
#include "notify/webhook.hpp"
#include "support/memory_store.hpp"
#include "support/outgoing_notification.hpp"
#include "support/run_on.hpp"
#include "support/test_config.hpp"

namespace {

namespace net = boost::asio;
namespace fs = std::filesystem;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;
using namespace incidentd;

const TimePoint kNow = *parse_rfc3339("2026-11-26T10:10:00+08:00");
constexpr auto kWait = 20s;  // any single exchange here takes milliseconds

// ---- a throwaway PKI -----------------------------------------------------------------------

struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertDeleter {
  void operator()(X509* c) const { X509_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using Cert = std::unique_ptr<X509, CertDeleter>;

Key new_key() {
  Key key(EVP_EC_gen("P-256"));
  REQUIRE(key != nullptr);
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  REQUIRE(ext != nullptr);
  REQUIRE(X509_add_ext(cert, ext, -1) == 1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, signed by `issuer_key` (issuer null: self-signed).
// `san` empty: a CA certificate; otherwise a TLS server certificate with these names.
Cert make_certificate(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                      const std::string& san, long serial) {
  Cert cert(X509_new());
  REQUIRE(cert != nullptr);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24L * 3600);
  REQUIRE(X509_set_pubkey(cert.get(), key) == 1);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("incidentd tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  REQUIRE(X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) == 1);
  add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  if (san.empty()) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), signer, NID_subject_alt_name, san);
  }
  REQUIRE(X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0);
  return cert;
}

void write_pem(const fs::path& path, X509* cert) {
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f != nullptr);
  REQUIRE(PEM_write_X509(f, cert) == 1);
  std::fclose(f);
}

void write_pem(const fs::path& path, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f != nullptr);
  REQUIRE(PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  std::fclose(f);
}

struct ServerFiles {
  std::string cert;
  std::string key;
};

// The CA and three server identities in a temporary folder, removed at the end.
struct Pki {
  fs::path dir;
  std::string ca_file;
  ServerFiles good;         // signed by the CA for DNS:localhost and IP:127.0.0.1
  ServerFiles wrong_name;   // signed by the CA for DNS:wrong-name.example only
  ServerFiles self_signed;  // for localhost, signed by nobody the client trusts

  Pki() {
    static std::atomic<int> counter{0};
    dir = fs::temp_directory_path() /
          ("tls-paths-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir);
    const Key ca_key = new_key();
    const Cert ca = make_certificate("incidentd test CA", ca_key.get(), nullptr, nullptr, "", 1);
    ca_file = (dir / "ca.pem").string();
    write_pem(ca_file, ca.get());
    good = issue("good", "localhost", "DNS:localhost,IP:127.0.0.1", ca.get(), ca_key.get(), 2);
    wrong_name = issue("wrong-name", "wrong-name.example", "DNS:wrong-name.example", ca.get(),
                       ca_key.get(), 3);
    self_signed =
        issue("self-signed", "localhost", "DNS:localhost,IP:127.0.0.1", nullptr, nullptr, 4);
  }
  ~Pki() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  Pki(const Pki&) = delete;
  Pki& operator=(const Pki&) = delete;

 private:
  ServerFiles issue(const std::string& stem, const std::string& cn, const std::string& san,
                    X509* ca, EVP_PKEY* ca_key, long serial) {
    const Key key = new_key();
    const Cert cert = make_certificate(cn, key.get(), ca, ca_key, san, serial);
    ServerFiles files{(dir / (stem + "-cert.pem")).string(), (dir / (stem + "-key.pem")).string()};
    write_pem(files.cert, cert.get());
    write_pem(files.key, key.get());
    return files;
  }
};

// OpenSSL's default verify paths (what the daemon's senders use) point at the test CA only while
// this lives; the previous values come back after.
class TrustOnly {
 public:
  explicit TrustOnly(const Pki& pki) : empty_dir_(pki.dir / "no-cas") {
    fs::create_directories(empty_dir_);
    save("SSL_CERT_FILE", file_);
    save("SSL_CERT_DIR", dir_);
    ::setenv("SSL_CERT_FILE", pki.ca_file.c_str(), 1);
    ::setenv("SSL_CERT_DIR", empty_dir_.c_str(), 1);
  }
  ~TrustOnly() {
    restore("SSL_CERT_FILE", file_);
    restore("SSL_CERT_DIR", dir_);
  }
  TrustOnly(const TrustOnly&) = delete;
  TrustOnly& operator=(const TrustOnly&) = delete;

 private:
  static void save(const char* name, std::optional<std::string>& into) {
    if (const char* v = std::getenv(name)) into = v;
  }
  static void restore(const char* name, const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  fs::path empty_dir_;
  std::optional<std::string> file_;
  std::optional<std::string> dir_;
};

// ---- an HTTPS receiver on its own loop thread ------------------------------------------------

struct Received {
  std::string path;
  std::string body;
  std::string content_type;
  std::string notification_id;  // X-Incidentd-Notification-Id
  std::string signature;        // X-Incidentd-Signature
};

// http::Server with TLS on 127.0.0.1, routes POST /hook and POST /sms (recording what came) and,
// when asked, the whole API (GET /healthz among it). The senders under test share its loop.
class Loop {
 public:
  explicit Loop(const ServerFiles& files, bool with_api = false)
      : config_(testing::config_from_toml(testing::small_config_toml())),
        time_(kNow),
        engine_(config_, store_, time_) {
    http::ServerOptions options;
    options.tls_cert = files.cert;
    options.tls_key = files.key;
    options.header_timeout = 5s;
    server_.emplace(io_, options);
    const auto record = [this](const http::Request& r) {
      const std::lock_guard lock(mutex_);
      received_.push_back({r.path, r.body, r.header("content-type"),
                           r.header("x-incidentd-notification-id"),
                           r.header("x-incidentd-signature")});
      return http::Response::json_text(200, R"({"ok":true})");
    };
    server_->route("POST", "/hook", record);
    server_->route("POST", "/sms", record);
    if (with_api) {
      http::ApiContext context;
      context.config = &config_;
      context.engine = &engine_;
      context.store = &store_;
      context.time = &time_;
      http::install_api(*server_, std::move(context));
    }
    server_->start();
    REQUIRE(server_->tls());
    port_ = server_->port();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~Loop() {
    on_loop([this] {
      sender_.reset();
      server_->stop();
      return 0;
    });
    work_.reset();
    io_.stop();
    thread_.join();
  }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  template <typename F>
  auto on_loop(F fn) -> decltype(fn()) {
    return testing::run_on(io_, std::move(fn));
  }

  net::io_context& io() { return io_; }
  unsigned short port() const { return port_; }

  std::vector<Received> received() {
    const std::lock_guard lock(mutex_);
    return received_;
  }

  // Whatever sends through this loop lives here and dies on the loop thread, before the server.
  std::shared_ptr<void> sender_;

 private:
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> work_ = net::make_work_guard(io_);
  Config config_;
  testing::MemoryStore store_;
  VirtualTime time_;
  Engine engine_;
  std::optional<http::Server> server_;
  unsigned short port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<Received> received_;
};

NotifySettings webhook_settings(const std::string& match) {
  NotifySettings s;
  s.send_timeout = 5s;
  s.webhooks.push_back({match, "generic", "a test secret", ""});
  return s;
}

// Builds a WebhookChannel on the loop (after TrustOnly: it reads the trust store when built) and
// sends one notification through it; returns the channel's one answer.
SendResult send_webhook(Loop& loop, const std::string& url) {
  static const VirtualTime clock(kNow);
  // Shared: if the wait below gave up, a late answer still has somewhere to go.
  auto result = std::make_shared<std::promise<SendResult>>();
  auto answer = result->get_future();
  loop.on_loop([&] {
    auto channel = std::make_shared<WebhookChannel>(
        loop.io(), webhook_settings("https://"), clock,
        [](const OutgoingNotification&, std::string_view) {
          return "【预警】山体滑坡：首次权威发布目标时限剩余50分钟";
        });
    loop.sender_ = channel;
    channel->send(testing::outgoing_notification(url),
                  [result](SendResult r) { result->set_value(std::move(r)); });
    return 0;
  });
  REQUIRE(answer.wait_for(kWait) == std::future_status::ready);
  return answer.get();
}

SmsSettings sms_settings(const std::string& url) {
  SmsSettings s;
  s.enabled = true;
  s.gateway = "http";
  s.url = url;
  s.method = "POST";
  s.params = {{"to", "{phone}"}, {"content", "{text}"}, {"user", "{username}"}};
  s.success_contains = "\"ok\":true";
  s.timeout = 5s;
  return s;
}

SendResult send_sms(Loop& loop, const std::string& url) {
  auto result = std::make_shared<std::promise<SendResult>>();
  auto answer = result->get_future();
  loop.on_loop([&] {
    std::shared_ptr<SmsGateway> gateway =
        make_http_sms_gateway(loop.io(), sms_settings(url), SmsCredentials{"cloud-user", "pw"});
    loop.sender_ = gateway;
    gateway->send({"+8613800000101", "【预警】山体滑坡 请回复 4711 1 确认收到", "sms-1"},
                  [result](SendResult r) { result->set_value(std::move(r)); });
    return 0;
  });
  REQUIRE(answer.wait_for(kWait) == std::future_status::ready);
  return answer.get();
}

std::string base(const Loop& loop, const std::string& host = "localhost") {
  return "https://" + host + ":" + std::to_string(loop.port());
}

// Plain HTTP bytes to a port; returns what came back until the server closed the connection.
// `closed` is false when the server neither answered nor closed within `timeout`.
std::string plain_request(unsigned short port, const std::string& bytes, bool& closed,
                          std::chrono::seconds timeout = 5s) {
  net::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count());
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  net::write(socket, net::buffer(bytes));
  std::string out;
  std::array<char, 4096> chunk{};
  closed = false;
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n = socket.read_some(net::buffer(chunk), ec);
    if (ec) {
      closed = ec == net::error::eof || ec == net::error::connection_reset;
      break;
    }
    out.append(chunk.data(), n);
  }
  return out;
}

}  // namespace

// ---- webhooks ------------------------------------------------------------------------------

TEST_CASE("a webhook over HTTPS to a server with a certificate from a trusted CA is delivered",
          "[tls][webhook]") {
  const Pki pki;
  const TrustOnly trust(pki);
  Loop loop(pki.good);
  const SendResult r = send_webhook(loop, base(loop) + "/hook");
  INFO(r.detail);
  CHECK(r.status == SendResult::Status::delivered);
  const auto got = loop.received();
  REQUIRE(got.size() == 1);
  CHECK(got[0].path == "/hook");
  CHECK(got[0].notification_id == "zt-landslide/7/a-duty1/1");
  CHECK(got[0].signature.rfind("sha256=", 0) == 0);
  const json body = json::parse(got[0].body);
  CHECK(body["incident_key"] == "zt-landslide");
  CHECK(body["notification_id"] == "zt-landslide/7/a-duty1/1");
}

TEST_CASE("a webhook over HTTPS to 127.0.0.1 is delivered when the certificate names that IP",
          "[tls][webhook]") {
  const Pki pki;
  const TrustOnly trust(pki);
  Loop loop(pki.good);
  const SendResult r = send_webhook(loop, base(loop, "127.0.0.1") + "/hook");
  INFO(r.detail);
  CHECK(r.status == SendResult::Status::delivered);
  CHECK(loop.received().size() == 1);
}

// A send refused at the TLS handshake: transient, like every failure before the request was
// written (a retry is safe), and nothing reached the receiver.
void check_refused_at_handshake(const SendResult& r, Loop& loop) {
  INFO(r.detail);
  CHECK(r.status == SendResult::Status::transient);
  CHECK_THAT(r.detail,
             Catch::StartsWith("TLS handshake: ") && Catch::Contains("certificate verify failed"));
  CHECK(loop.received().empty());
}

// Classification: a failed TLS handshake is reported like every other failure before the request
// was written (resolve, connect): transient. Nothing reached the receiver, so a retry is safe;
// the dispatcher retries with backoff and, if the certificate stays bad for fallback_after, moves
// the notification to the person's next channel and says so in the timeline. A permanent result
// would fall back at once and never come back to the webhook after an operator fixed the trust
// store or the certificate; that is the choice webhook.cpp makes and these tests pin it.
TEST_CASE("a webhook to a self-signed server is refused before anything is sent, as transient",
          "[tls][webhook]") {
  const Pki pki;
  const TrustOnly trust(pki);
  Loop loop(pki.self_signed);
  check_refused_at_handshake(send_webhook(loop, base(loop) + "/hook"), loop);
}

TEST_CASE("a webhook to a server whose certificate names another host is refused",
          "[tls][webhook]") {
  const Pki pki;
  const TrustOnly trust(pki);
  Loop loop(pki.wrong_name);
  check_refused_at_handshake(send_webhook(loop, base(loop) + "/hook"), loop);
}

TEST_CASE("without the CA in the trust store a valid chain is refused too", "[tls][webhook]") {
  const Pki pki;
  const Pki other;  // a second, unrelated CA is the only one trusted
  const TrustOnly trust(other);
  Loop loop(pki.good);
  check_refused_at_handshake(send_webhook(loop, base(loop) + "/hook"), loop);
}

// ---- the cloud SMS gateway -----------------------------------------------------------------

TEST_CASE("the cloud SMS gateway posts over HTTPS to a trusted server", "[tls][sms]") {
  const Pki pki;
  const TrustOnly trust(pki);
  Loop loop(pki.good);
  const SendResult r = send_sms(loop, base(loop) + "/sms");
  INFO(r.detail);
  CHECK(r.status == SendResult::Status::delivered);
  const auto got = loop.received();
  REQUIRE(got.size() == 1);
  CHECK(got[0].path == "/sms");
  CHECK(got[0].content_type == "application/x-www-form-urlencoded");
  CHECK_THAT(got[0].body, Catch::Contains("to=%2B8613800000101") &&
                              Catch::Contains("user=cloud-user") && Catch::Contains("content="));
}

TEST_CASE("the cloud SMS gateway refuses a self-signed server, as transient", "[tls][sms]") {
  const Pki pki;
  const TrustOnly trust(pki);
  Loop loop(pki.self_signed);
  check_refused_at_handshake(send_sms(loop, base(loop) + "/sms"), loop);
}

// The request carries the gateway's credentials: a certificate for another host is refused
// before anything is sent.
TEST_CASE("the cloud SMS gateway refuses a server whose certificate names another host",
          "[tls][sms]") {
  const Pki pki;
  const TrustOnly trust(pki);
  Loop loop(pki.wrong_name);
  check_refused_at_handshake(send_sms(loop, base(loop) + "/sms"), loop);
}

// ---- the HTTP API server with tls_cert / tls_key, and incidentctl's client -----------------

TEST_CASE("the API over HTTPS answers /healthz, and plain HTTP to it fails without harm",
          "[tls][http]") {
  const Pki pki;
  Loop loop(pki.good, /*with_api=*/true);
  http::ClientRequest request;
  request.base_url = base(loop);
  request.target = "/healthz";
  request.ca_file = pki.ca_file;
  const http::ClientReply first = http::send_request(request);
  CHECK(first.status == 200);
  CHECK(json::parse(first.body)["status"] == "alive");

  // Plain HTTP to the TLS port: no HTTP answer, and the server closes the connection (it does
  // not hang on to it, it does not crash).
  for (int i = 0; i < 3; ++i) {
    bool closed = false;
    const std::string answer =
        plain_request(loop.port(), "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", closed);
    CHECK(closed);
    CHECK(answer.find("HTTP/1.1") == std::string::npos);
    CHECK(answer.find("alive") == std::string::npos);
  }
  // A TLS client speaking to it afterwards is served as before.
  const http::ClientReply after = http::send_request(request);
  CHECK(after.status == 200);
  CHECK(json::parse(after.body)["status"] == "alive");
}

TEST_CASE("incidentctl's client refuses the API server under a name its certificate lacks",
          "[tls][http]") {
  const Pki pki;
  Loop loop(pki.wrong_name, /*with_api=*/true);
  http::ClientRequest request;
  request.base_url = base(loop);
  request.target = "/healthz";
  request.ca_file = pki.ca_file;
  CHECK_THROWS_WITH(http::send_request(request), Catch::Contains("certificate verify failed"));
}

TEST_CASE("incidentctl's client refuses a self-signed API server it was not told to trust",
          "[tls][http]") {
  const Pki pki;
  Loop loop(pki.self_signed, /*with_api=*/true);
  http::ClientRequest request;
  request.base_url = base(loop);
  request.target = "/healthz";
  request.ca_file = pki.ca_file;
  CHECK_THROWS_WITH(http::send_request(request), Catch::Contains("certificate verify failed"));
}
