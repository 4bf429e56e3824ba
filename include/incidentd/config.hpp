// Configuration: the policy (milestones, ladder, reminders, delivery assurance), the roster of
// units and people, and the daemon's settings. Loaded from TOML; every error names the file,
// line and column it is about, so `incidentctl check-config` can say precisely what is wrong.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

struct Person {
  std::string id;
  std::string name;
  std::string role;  // "duty", "leader", "principal", "deputy"
  std::string phone;
  std::string webhook;                // URL, optional
  std::vector<std::string> channels;  // in order of preference: "sms", "webhook"
  std::string deputy;                 // person id, optional
};

struct Unit {
  std::string id;
  std::string name;
  std::vector<Person> people;
};

// Who is reached at one ladder level: these roles in every unit that still owes the milestone,
// plus the duty officers of the supervision units (the provincial office's supervision desk).
struct EscalationLevel {
  int level = 0;
  std::vector<std::string> roles;
  std::vector<std::string> supervision_units;
};

// One rung of the ladder. For first_release and press_conference `offset` counts from the clock's
// start; for follow_up it counts from the follow-up's due time (so it is usually <= 0).
struct LadderStep {
  Milestone milestone = Milestone::first_release;
  Duration offset{};
  ActionKind action = ActionKind::warning;  // warning, target_missed or deadline_breached
  int level = 0;
};

struct Policy {
  std::set<Level> clock_levels{Level::I, Level::II};
  ConfirmRule confirm = ConfirmRule::all;
  Duration first_release_target = std::chrono::hours(3);
  Duration first_release_deadline = std::chrono::hours(5);
  Duration press_conference_deadline = std::chrono::hours(24);
  Duration follow_up_every = std::chrono::hours(24);
  Duration overdue_every = std::chrono::hours(1);
  Duration resend_after = std::chrono::minutes(15);
  int deputy_after_sends = 2;
  std::vector<LadderStep> ladder;           // sorted by milestone, then offset
  std::vector<EscalationLevel> escalation;  // sorted by level

  static Policy defaults();  // the contract's default policy, ladder table included
};

struct KafkaSettings {
  std::string brokers = "127.0.0.1:9092";
  std::string group = "incidentd";
  std::string events_topic = "opinion.events";
  std::string releases_topic = "opinion.releases";
  std::string dlq_topic = "opinion.events.dlq";
  std::map<std::string, std::string> properties;  // passed through to librdkafka
};

// One bearer token of the HTTP API, stored as the SHA-256 of the token (never the token).
// A unit token acts for that unit only; an operator token (unit empty) acts for any unit.
struct HttpToken {
  std::string name;    // who holds it, for logs ("zhaotong-duty-desk", "incidentctl")
  std::string unit;    // unit id; empty for an operator token
  std::string sha256;  // 64 lowercase hex digits
  friend bool operator==(const HttpToken&, const HttpToken&) = default;
};

// The HTTP API (docs/http-api.md). Off unless enabled; 127.0.0.1 unless told otherwise.
struct HttpSettings {
  bool enabled = false;
  std::string address = "127.0.0.1";
  int port = 8480;
  std::string tls_cert;  // PEM files; both set = HTTPS, both empty = plain HTTP
  std::string tls_key;
  std::string link_secret_file;  // key of the one-click ack links; empty = links off
  std::string public_url;        // base of the ack links, e.g. "https://incidentd.example.org"
  Duration link_ttl = std::chrono::hours(24);
  std::size_t max_body_bytes = std::size_t{64} * 1024;
  Duration header_timeout = std::chrono::seconds(10);
  Duration body_timeout = std::chrono::seconds(30);
  // Open connections from one client address (of 256 in all): one client's idle sockets cannot
  // shut the others out.
  std::size_t max_connections_per_address = 32;
  std::vector<HttpToken> tokens;
  friend bool operator==(const HttpSettings&, const HttpSettings&) = default;
};

// SMS (docs/notifications.md, "SMS"): the gateway the daemon sends through, the sender number,
// message templates and reply codes. Off unless enabled.
struct SmsSettings {
  bool enabled = false;
  std::string gateway = "kannel";  // "kannel" (its sendsms interface) or "http" (a cloud SMS API)
  std::string url;                 // kannel: ".../cgi-bin/sendsms"; http: the API's endpoint
  std::string credentials_file;    // one line "username:password"; empty = no credentials
  std::string sender;              // the number replies come back to
  std::string method = "GET";      // http gateway: GET (query string) or POST (form body)
  // http gateway: request parameters, values with {phone} {text} {sender} {username} {password}.
  std::map<std::string, std::string> params;
  std::string success_contains;  // http gateway: a 2xx body must contain this (empty = any 2xx)
  Duration timeout = std::chrono::seconds(10);
  int max_parts = 6;  // a longer message is cut to fit (Kannel's max-messages must allow it)
  int reply_code_digits = 4;  // reply codes are this many digits, the first not 0
  Duration reply_code_reuse_after = std::chrono::hours(72);  // after the incident closed
  std::map<std::string, std::string> templates;              // overrides, by kSmsTemplateKeys
  // The one-click ack link in SMS texts too. Off by default: the link is about 220 characters,
  // which takes a two-part warning to five or six UCS-2 parts; SMS recipients answer by code.
  bool ack_links = false;
  // The secret Kannel's get-url carries to GET /sms/kannel (read_sms_callback_secret); empty:
  // the daemon accepts no SMS replies.
  std::string callback_secret_file;
  // A listener of its own for the callback when callback_port is set; 0: the API's listener.
  std::string callback_address = "127.0.0.1";
  int callback_port = 0;
  friend bool operator==(const SmsSettings&, const SmsSettings&) = default;
};

// The message templates one can override in [sms.templates], and the placeholders they may use.
inline constexpr std::string_view kSmsTemplateKeys[] = {
    "opened",    "warning",       "target_missed", "deadline_breached", "overdue",
    "resend",    "deputy",        "drill",         "reply_hint",        "ack_hint",
    "unreached", "source_silent", "source_back"};
inline constexpr std::string_view kSmsTemplatePlaceholders[] = {
    "title",    "incident_key", "milestone", "due",       "remaining",  "late",    "level",
    "round",    "reminder",     "send",      "recipient", "deputy_of",  "code",    "unit",
    "ack_link", "deadline",     "unreached", "since",     "silent_for", "silence", "back"};

// Where a person's webhook URL is delivered in which format, and with which secret. The route
// with the longest `match` prefix of the URL wins; a URL no route matches gets an unsigned
// generic JSON webhook.
struct WebhookRoute {
  std::string match;               // URL prefix, e.g. "https://oapi.dingtalk.com/"
  std::string format = "generic";  // "generic", "dingtalk", "wecom" or "feishu"
  std::string secret;              // inline secret (tests, demos); secret_file is preferred
  std::string secret_file;         // a file holding the secret on its first line
  friend bool operator==(const WebhookRoute&, const WebhookRoute&) = default;
};

// The outbox dispatcher (docs/notifications.md): retries, fallback to the next channel, timeouts.
struct NotifySettings {
  Duration retry_base = std::chrono::seconds(5);  // the first retry waits about this long
  Duration retry_max = std::chrono::minutes(10);  // retries wait at most this long
  double jitter = 0.2;                            // each wait is randomised by +- this fraction
  Duration fallback_after = std::chrono::minutes(10);  // a channel down this long: next channel
  Duration send_timeout = std::chrono::seconds(10);    // one attempt, connect to response
  Duration poll_every = std::chrono::seconds(1);       // how often the outbox is looked at
  int max_in_flight = 64;                              // sends at the same time
  // A notification that has failed this long (counting from its first failed attempt, carried
  // over to the alert that supersedes it) is given up and the operator desk is told.
  Duration give_up_after = std::chrono::hours(1);
  // Who is told when a notification reached nobody: person ids from the roster. Empty: the duty
  // officers of the policy's supervision units (the provincial office's supervision desk).
  std::vector<std::string> operators;
  std::vector<WebhookRoute> webhooks;
  friend bool operator==(const NotifySettings&, const NotifySettings&) = default;
};

// The input side beyond Kafka's own settings (docs/configuration.md, "[ingest]").
struct IngestSettings {
  // The source heartbeat (docs/notifications.md, "Source heartbeat"): when no message at all
  // arrives on the events topic for this long, the operator desk is told once, and again when
  // messages return. Zero: off.
  Duration source_silence{0};
  friend bool operator==(const IngestSettings&, const IngestSettings&) = default;
};

// Several instances sharing one consumer group (docs/cluster.md). Absent ([cluster] left out):
// one instance, exactly as before. Fixed at start: a reload that changes it is told to restart.
struct ClusterConfig {
  // This instance's name in the group, unique per instance and stable across its restarts
  // (librdkafka's group.instance.id: static membership, so a restart within session_timeout
  // moves no partition). Empty: no cluster.
  std::string instance_id;
  // How long the group waits for a silent instance before its partitions go to the others,
  // and how often each instance says it is alive (docs/cluster.md, "Timeouts").
  std::chrono::milliseconds session_timeout{6000};
  std::chrono::milliseconds heartbeat_interval{1500};
  // The compacted topic every change of state goes to, in the same transaction as the input
  // offsets (docs/cluster.md, "The state topic").
  std::string state_topic = "incidentd.state";
  // Acknowledgements and confirmations that reached an instance not owning their incident,
  // forwarded to the owner, which consumes this topic too (docs/cluster.md, "Inputs from any
  // door"). As many partitions as the events topic.
  std::string inputs_topic = "incidentd.inputs";
  // How an incident_key picks its partition (docs/cluster.md, "Ownership"): the publishers'
  // partitioner, which this instance's producers use too. consistent: librdkafka's default
  // (CRC-32; kcat, incidentctl); murmur2: the Java client's default.
  enum class KeyPartitioner { consistent, murmur2 };
  KeyPartitioner partitioner = KeyPartitioner::consistent;

  bool enabled() const { return !instance_id.empty(); }
  friend bool operator==(const ClusterConfig&, const ClusterConfig&) = default;
};

struct Config {
  Policy policy = Policy::defaults();
  std::vector<Unit> units;
  std::string timezone = "Asia/Shanghai";
  std::chrono::minutes utc_offset{8 * 60};  // of `timezone`, used to print instants
  std::string lang = "zh";  // of what people read (reports, statistics): "zh" or "en"
  std::string database = "/var/lib/incidentd/incidentd.db";
  KafkaSettings kafka;
  HttpSettings http;
  SmsSettings sms;
  NotifySettings notify;
  IngestSettings ingest;
  ClusterConfig cluster;

  const Unit* find_unit(std::string_view id) const;
  const Person* find_person(std::string_view id) const;
  const Unit* unit_of_person(std::string_view person_id) const;
};

// The SMS callback secret in `path`: the file's text less trailing whitespace, which must be at
// least kMinSmsCallbackSecret characters of A-Z a-z 0-9 - . _ ~ (it goes into Kannel's get-url
// as it is: no "%", which Kannel would take for a placeholder). `error` says why not, else empty.
inline constexpr std::size_t kMinSmsCallbackSecret = 32;
struct SecretFile {
  std::string secret;
  std::string error;
};
SecretFile read_sms_callback_secret(const std::string& path);

struct ConfigError {
  std::string where;  // "file:line:col" or "file"
  std::string message;
};

struct ConfigResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;  // empty when config is set
};

// Checks of what the configuration names outside itself, made only when one is given (each
// returns what is wrong, or nullopt): `incidentctl check-config` refuses what the daemon would
// refuse at start, while a report run by another user need not read the daemon's keys.
struct ConfigChecks {
  // [http] link_secret_file, when [http] is enabled: the file can be read and holds a valid key.
  std::function<std::optional<std::string>(const std::string& path)> link_secret_file;
  // Every other file the daemon reads at start (TLS certificate and key, the SMS gateway's
  // credentials, webhook secrets): nullopt when it can be read, else why not.
  std::function<std::optional<std::string>(const std::string& path)> readable_file;
};

ConfigResult load_config_file(const std::string& path, const ConfigChecks& checks = {});
ConfigResult parse_config(std::string_view toml_text, std::string_view source_name,
                          const ConfigChecks& checks = {});

// The librdkafka properties incidentd sets itself, with what to use instead; [kafka.properties]
// may not name them.
const std::map<std::string, std::string>& managed_kafka_properties();

}  // namespace incidentd
