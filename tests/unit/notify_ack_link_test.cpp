// One-click ack links inside notification texts: the link the daemon's wiring makes
// (http::notification_link_maker) reaches the SMS text (SmsChannel with its composer), the
// webhook and robot text (template_renderer) and the generic webhook's ack_url field, and the
// API's signer verifies it for exactly that incident, recipient and notification. Without a
// maker there is no link anywhere, and the SMS keeps its reply-code instructions either way.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <regex>

#include "http/ack_link.hpp"
#include "incidentd/codec.hpp"
#include "notify/message.hpp"
#include "notify/reply_codes.hpp"
#include "notify/sms.hpp"
#include "notify/sms_segments.hpp"
#include "notify/sms_service.hpp"
#include "notify/webhook_signing.hpp"
#include "store/sqlite_store.hpp"
#include "support/test_config.hpp"

namespace incidentd {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kKey = "a link key of at least thirty-two bytes, for tests";
const std::string kPublicUrl = "https://incidentd.example.org";
const TimePoint kIssued = *parse_rfc3339("2026-11-26T10:00:00+08:00");
const std::string kIncident = "zt-landslide-20261126";
const std::string kNotification = "zt-landslide-20261126/1/a-duty1/1";

class FixedTime final : public TimeSource {
 public:
  TimePoint now() const override { return kIssued; }
};

Action warning_for(const std::string& recipient) {
  Action a;
  a.kind = ActionKind::notification;
  a.at = kIssued;
  a.incident_key = kIncident;
  a.milestone = Milestone::first_release;
  a.cause = ActionKind::warning;
  a.level = 0;
  a.due = kIssued + 1h;
  a.recipient = recipient;
  a.unit = "a";
  a.channel = "sms";
  a.notification_id = kIncident + "/1/" + recipient + "/1";
  a.send = 1;
  return a;
}

OutboxRow row_for(const Action& a) {
  OutboxRow row;
  row.notification_id = a.notification_id;
  row.recipient = a.recipient;
  row.unit = a.unit;
  row.channel = NotificationChannel::webhook;
  row.incident_key = a.incident_key;
  row.level = a.level;
  row.body = to_json(a, std::chrono::minutes{480}).dump();
  row.created_at = a.at;
  return row;
}

// What the dispatcher hands the channel for the row: its body decoded.
OutgoingNotification outgoing_for(const OutboxRow& row) {
  OutgoingNotification n;
  n.notification_id = row.notification_id;
  n.incident_key = row.incident_key;
  n.recipient = row.recipient;
  n.unit = row.unit;
  const auto payload = decode_notification_body(row.purpose, row.body);
  REQUIRE(payload);
  n.payload = *payload.value;
  n.purpose = row.purpose;
  n.created_at = row.created_at;
  return n;
}

// Every "<public_url>/v1/ack/<token>" in the text, by token.
std::vector<std::string> link_tokens(const std::string& text) {
  static const std::regex kLink(
      "https://incidentd\\.example\\.org/v1/ack/([A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+)");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kLink);
       it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

// The link verifies, now, for exactly this incident, recipient and notification.
void check_link_for(const http::AckLinkSigner& signer, const std::string& token,
                    const std::string& recipient, const std::string& notification_id) {
  const auto verified = signer.verify(token, kIssued + 1h);
  REQUIRE(verified.verdict == http::AckLinkSigner::Verdict::ok);
  CHECK(verified.link.incident_key == kIncident);
  CHECK(verified.link.recipient == recipient);
  CHECK(verified.link.notification_id == notification_id);
  CHECK(verified.link.expires_at == kIssued + 24h);
}

// Records what it is asked to send and accepts it.
class RecordingGateway final : public SmsGateway {
 public:
  std::string_view kind() const override { return "fake"; }
  void send(const SmsMessage& message, std::function<void(SendResult)> done) override {
    sent.push_back(message);
    done(SendResult::delivered("ok"));
  }
  std::vector<SmsMessage> sent;
};

// The SMS says how to answer with a reply code: "回复<code>1或“收到”表示已知悉".
bool has_reply_instructions(const std::string& text) {
  static const std::regex kHint("回复[1-9][0-9]{3}1或“收到”表示已知悉");
  return std::regex_search(text, kHint);
}

// A migrated database in a directory of its own, removed at the end.
struct TempDatabase {
  TempDatabase() {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("notify-ack-link-" + std::to_string(rd()));
    fs::create_directories(dir);
    path = (dir / "db.sqlite").string();
    store = std::make_unique<SqliteStore>(path);  // creates the schema, reply_codes included
  }
  ~TempDatabase() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;
  fs::path dir;
  std::string path;
  std::unique_ptr<SqliteStore> store;
};

// The text of one SMS through the real channel and composer, with `ack_url` as the dispatcher
// would set it.
std::string sms_text(const Config& config, const std::string& ack_url, int max_parts = 6,
                     const std::string& title = "昭通市某县山体滑坡引发网络关注") {
  TempDatabase db;
  const auto owned = db.store->reply_codes(4, 72h, [] { return std::uint64_t{4827}; });
  ReplyCodeStore& codes = *owned;
  const MessageTemplates templates(config.sms.templates, max_parts);
  const FixedTime time;
  SmsComposer composer(codes, templates, time, config,
                       [&title](const std::string&) { return title; });
  RecordingGateway gateway;
  SmsChannel channel(gateway, &composer);
  const Action a = warning_for("a-duty1");
  OutgoingNotification n;
  n.notification_id = a.notification_id;
  n.incident_key = a.incident_key;
  n.recipient = a.recipient;
  n.unit = a.unit;
  n.address = config.find_person("a-duty1")->phone;
  n.payload = *decode_notification_body(NotificationPurpose::alert,
                                        to_json(a, std::chrono::minutes{480}).dump())
                   .value;
  n.ack_url = ack_url;
  std::optional<SendResult> result;
  channel.send(n, [&result](SendResult r) { result = std::move(r); });
  REQUIRE(result);
  REQUIRE(result->status == SendResult::Status::delivered);
  REQUIRE(gateway.sent.size() == 1);
  return gateway.sent[0].text;
}

}  // namespace

TEST_CASE("an SMS carries the signed link for its recipient, after the reply-code instructions") {
  Config config = testing::config_from_toml(testing::small_config_toml());
  config.sms.ack_links = true;
  const http::AckLinkSigner signer(kKey);
  const auto links = http::notification_link_maker(signer, kPublicUrl, 24h);
  const std::string url = links(kIncident, "a-duty1", kNotification, kIssued);

  const std::string text = sms_text(config, url);
  const auto tokens = link_tokens(text);
  REQUIRE(tokens.size() == 1);
  check_link_for(signer, tokens[0], "a-duty1", kNotification);
  CHECK(has_reply_instructions(text));
  // The URL ends the message: nothing is glued to it.
  CHECK(text.size() >= url.size());
  CHECK(text.compare(text.size() - url.size(), url.size(), url) == 0);
  CHECK(text.find("一键确认收到：" + url) != std::string::npos);
}

TEST_CASE("by default an SMS leaves the link out: [sms] ack_links is off") {
  const Config config = testing::config_from_toml(testing::small_config_toml());
  REQUIRE_FALSE(config.sms.ack_links);
  const http::AckLinkSigner signer(kKey);
  const std::string url = http::notification_link_maker(signer, kPublicUrl, 24h)(
      kIncident, "a-duty1", kNotification, kIssued);
  const std::string text = sms_text(config, url);
  CHECK(text.find("/v1/ack/") == std::string::npos);
  CHECK(has_reply_instructions(text));
  CHECK(ucs2_segment_count(text) <= 2);
}

TEST_CASE("ack_links = true in [sms] is read from the file") {
  const Config config =
      testing::config_from_toml(testing::small_config_toml() + "\n[sms]\nack_links = true\n");
  CHECK(config.sms.ack_links);
}

TEST_CASE("without links an SMS has no link and keeps its reply-code instructions") {
  const Config config = testing::config_from_toml(testing::small_config_toml());
  const std::string text = sms_text(config, "");
  CHECK(text.find("/v1/ack/") == std::string::npos);
  CHECK(text.find("一键确认") == std::string::npos);
  CHECK(text.find("{ack_link}") == std::string::npos);
  CHECK(has_reply_instructions(text));
}

TEST_CASE("a long SMS shortens the title to keep the link whole, or leaves the link out") {
  Config config = testing::config_from_toml(testing::small_config_toml());
  config.sms.ack_links = true;
  const http::AckLinkSigner signer(kKey);
  const std::string url = http::notification_link_maker(signer, kPublicUrl, 24h)(
      kIncident, "a-duty1", kNotification, kIssued);
  const std::string long_title = std::string(180, 'x') + "山体滑坡";  // one UCS-2 char each

  const std::string fitted = sms_text(config, url, 6, long_title);
  CHECK(ucs2_segment_count(fitted) <= 6);
  CHECK(fitted.find("…") != std::string::npos);  // the title was cut
  const auto tokens = link_tokens(fitted);
  REQUIRE(tokens.size() == 1);
  check_link_for(signer, tokens[0], "a-duty1", kNotification);

  // Two parts cannot hold the text and the link: the link goes, the reply code stays.
  const std::string small = sms_text(config, url, 2, long_title);
  CHECK(ucs2_segment_count(small) <= 2);
  CHECK(small.find("/v1/ack/") == std::string::npos);
  CHECK(has_reply_instructions(small));
}

TEST_CASE("webhook and robot texts carry the same link as the generic webhook's ack_url") {
  const Config config = testing::config_from_toml(testing::small_config_toml());
  const http::AckLinkSigner signer(kKey);
  const auto links = http::notification_link_maker(signer, kPublicUrl, 24h);
  const MessageTemplates templates;
  const FixedTime time;
  const Action a = warning_for("b-duty1");
  const OutboxRow row = row_for(a);
  const auto render = template_renderer(
      templates, config, time, [](const std::string&) { return std::string("山体滑坡"); }, links);

  const std::string text = render(outgoing_for(row), "webhook");
  const auto tokens = link_tokens(text);
  REQUIRE(tokens.size() == 1);
  check_link_for(signer, tokens[0], "b-duty1", a.notification_id);
  CHECK(text.find("\n一键确认收到：https://") != std::string::npos);  // a line of its own

  // What the dispatcher puts in ack_url for the same row is the same link.
  OutgoingNotification n;
  n.notification_id = row.notification_id;
  n.incident_key = row.incident_key;
  n.recipient = row.recipient;
  n.unit = row.unit;
  n.ack_url = links(row.incident_key, row.recipient, row.notification_id, row.created_at);
  CHECK(n.ack_url == kPublicUrl + "/v1/ack/" + tokens[0]);
  const auto generic = nlohmann::json::parse(
      build_webhook_request(WebhookFormat::generic, "http://h/x", "s", n, text, kIssued).body);
  CHECK(generic.at("ack_url") == n.ack_url);
  const auto robot = nlohmann::json::parse(
      build_webhook_request(WebhookFormat::dingtalk, "https://oapi.dingtalk.com/robot/send", "s", n,
                            text, kIssued)
          .body);
  CHECK(robot.at("text").at("content").get<std::string>().find(n.ack_url) != std::string::npos);
}

TEST_CASE("without links webhook texts and bodies have no link") {
  const Config config = testing::config_from_toml(testing::small_config_toml());
  const MessageTemplates templates;
  const FixedTime time;
  const OutboxRow row = row_for(warning_for("b-duty1"));
  const auto render = template_renderer(templates, config, time,
                                        [](const std::string&) { return std::string("山体滑坡"); });
  OutgoingNotification n;
  n.notification_id = row.notification_id;
  const std::string text = render(outgoing_for(row), "webhook");
  CHECK(text.find("/v1/ack/") == std::string::npos);
  CHECK(text.find("一键确认") == std::string::npos);
  const auto generic = nlohmann::json::parse(
      build_webhook_request(WebhookFormat::generic, "http://h/x", "", n, text, kIssued).body);
  CHECK_FALSE(generic.contains("ack_url"));
}

TEST_CASE("a link from another key, or altered, does not verify") {
  const http::AckLinkSigner signer(kKey);
  const http::AckLinkSigner other("another key of at least thirty-two bytes, for tests");
  const std::string url = http::notification_link_maker(other, kPublicUrl, 24h)(
      kIncident, "a-duty1", kNotification, kIssued);
  const auto tokens = link_tokens(url);
  REQUIRE(tokens.size() == 1);
  CHECK(signer.verify(tokens[0], kIssued).verdict == http::AckLinkSigner::Verdict::forged);
}

TEST_CASE("the ack_hint template may be overridden and use {ack_link}") {
  const Config config = testing::config_from_toml(testing::small_config_toml() + R"(
[sms]
ack_links = true
[sms.templates]
ack_hint = "点此确认：{ack_link}"
)");
  CHECK(config.sms.templates.at("ack_hint") == "点此确认：{ack_link}");
  const std::string text = sms_text(config, kPublicUrl + "/v1/ack/x.y");
  CHECK(text.find("点此确认：https://incidentd.example.org/v1/ack/x.y") != std::string::npos);
  CHECK(text.find("一键确认") == std::string::npos);
}

TEST_CASE("an empty ack_hint keeps the link out of the SMS text") {
  const Config config = testing::config_from_toml(testing::small_config_toml() + R"(
[sms.templates]
ack_hint = ""
)");
  const std::string text = sms_text(config, kPublicUrl + "/v1/ack/x.y");
  CHECK(text.find("/v1/ack/") == std::string::npos);
  CHECK(has_reply_instructions(text));
}

}  // namespace incidentd
