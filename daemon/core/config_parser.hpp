// The configuration parser's inside, shared by the files that parse one part of the document each
// (config_parser.cpp: the document, typed access and the small sections; config_notify_sms.cpp,
// config_http.cpp, config_cluster.cpp, config_roster.cpp, config_policy.cpp). Not a public header:
// parse_config() in incidentd/config.hpp is the contract.
#pragma once

#include <toml++/toml.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "incidentd/config.hpp"

namespace incidentd::config_detail {

inline constexpr std::string_view kRoles[] = {"duty", "leader", "principal", "deputy"};
inline constexpr std::string_view kChannels[] = {"sms", "webhook"};

// The shortest retry and outbox poll, and the shortest timeout, that make sense
// (docs/configuration.md, "Limits").
inline constexpr Duration kMinRetry = std::chrono::milliseconds(100);
inline constexpr Duration kMinSendTimeout = std::chrono::seconds(1);

inline bool contains(std::initializer_list<std::string_view> list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

template <std::size_t N>
bool contains(const std::string_view (&list)[N], std::string_view s) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

template <std::size_t N>
std::string quoted_list(const std::string_view (&list)[N]) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) out += i + 1 == N ? " or " : ", ";
    out += '"';
    out += list[i];
    out += '"';
  }
  return out;
}

std::string quote(std::string_view s);
// Ids end up in notification ids ("<incident>/<alert>/<person>/<send>"), URLs and SMS replies,
// so they are kept to characters that need no quoting anywhere.
bool valid_id(std::string_view id);
bool valid_e164(std::string_view phone);
bool valid_url(std::string_view url);

enum class Sign { positive, any };

struct Located {
  int line = 0;
  int column = 0;
  ConfigError error;
};

// Parses and validates one document, collecting every error instead of stopping at the first, so
// an administrator fixes a file in one pass (as `amtool check-config` does).
class ConfigParser {
 public:
  ConfigParser(std::string_view source_name, ConfigChecks checks)
      : source_name_(source_name), checks_(std::move(checks)) {}

  ConfigResult run(std::string_view text);

 private:
  // Where each parsed escalation level came from, for checks that need the roster first.
  struct EscalationSource {
    std::vector<const toml::node*> supervision_nodes;  // parallel to supervision_units
  };

  struct DurationNodes {
    const toml::node* first_release_target = nullptr;
    const toml::node* first_release_deadline = nullptr;
    const toml::node* press_conference_deadline = nullptr;
    const toml::node* follow_up_every = nullptr;
  };

  enum class StepField { at, action };

  struct PendingSupervision {
    std::string unit;
    int level = 0;
    const toml::node* node = nullptr;  // null for the default escalation
  };

  // Files named by the configuration that the daemon reads at start (check_files).
  struct NamedFile {
    const toml::node* node;
    std::string key;
    std::string path;
    bool always;  // read whatever is enabled
  };

  // ---- errors and typed access (config_parser.cpp) ----------------------------------------
  void error(const toml::source_region& at, std::string message);
  void error(const toml::node& at, std::string message);
  void error_in_file(std::string message);
  ConfigResult finish(std::optional<Config> config);
  static std::string join(std::string_view path, std::string_view key);
  void check_keys(const toml::table& table, std::initializer_list<std::string_view> allowed,
                  std::string_view path);
  void missing(const toml::table& table, std::string_view path, std::string_view key,
               std::string_view what);
  void wrong_type(const toml::node& node, const std::string& path, std::string_view expected);
  const toml::table* get_table(const toml::table& parent, std::string_view key,
                               std::string_view parent_path);
  const toml::array* get_table_array(const toml::table& parent, std::string_view key,
                                     std::string_view parent_path);
  std::optional<std::string> get_string(const toml::table& table, std::string_view key,
                                        std::string_view path, bool required,
                                        std::string_view what);
  std::optional<std::int64_t> get_integer(const toml::table& table, std::string_view key,
                                          std::string_view path, bool required,
                                          std::string_view what);
  // An integer from lo to hi, or nothing; one outside is reported as "must be lo to hi".
  std::optional<std::int64_t> get_integer_in(const toml::table& table, std::string_view key,
                                             std::string_view path, std::string_view what,
                                             std::int64_t lo, std::int64_t hi);
  void read_bool(const toml::table& table, std::string_view key, std::string_view path, bool& out);
  std::optional<Duration> to_duration(const toml::node& node, const std::string& path, Sign sign);
  const toml::node* read_duration(const toml::table& table, std::string_view key,
                                  std::string_view path, Duration& out, Duration min = Duration(1));
  std::vector<std::pair<std::string, const toml::node*>> get_string_array(const toml::table& table,
                                                                          std::string_view key,
                                                                          std::string_view path,
                                                                          std::string_view what);
  void parse_settings(const toml::table& root, Config& config);
  void parse_locale(const toml::table& root, Config& config);
  void parse_ingest(const toml::table& ingest, IngestSettings& out);
  void parse_kafka(const toml::table& kafka, KafkaSettings& out);
  // ---- [cluster] (config_cluster.cpp) -------------------------------------------------------
  void parse_cluster(const toml::table& root, const toml::table& cluster, ClusterConfig& out);
  void check_cluster_properties(const toml::table& root);
  void check_cluster_topics(const toml::table& cluster, const Config& config);
  void check_files(const Config& config);

  // ---- [sms] and [notify] (config_notify_sms.cpp) -------------------------------------------
  void parse_sms(const toml::table& sms, SmsSettings& out);
  void parse_sms_sending(const toml::table& sms, SmsSettings& out);
  void parse_sms_params(const toml::table& params, SmsSettings& out);
  void parse_sms_limits(const toml::table& sms, SmsSettings& out);
  void parse_sms_callback(const toml::table& sms, SmsSettings& out);
  void parse_sms_templates(const toml::table& templates, SmsSettings& out);
  void check_placeholders(const toml::node& node, const std::string& path, std::string_view text,
                          const std::vector<std::string_view>& known);
  void parse_notify(const toml::table& notify, NotifySettings& out);
  void read_jitter(const toml::table& notify, NotifySettings& out);
  WebhookRoute parse_webhook_route(const toml::table& t, const std::string& path);

  // ---- [http] (config_http.cpp) -------------------------------------------------------------
  void parse_http(const toml::table& http, HttpSettings& out);
  void parse_http_listener(const toml::table& http, HttpSettings& out);
  void parse_http_links(const toml::table& http, HttpSettings& out);
  void parse_http_limits(const toml::table& http, HttpSettings& out);
  std::optional<HttpToken> parse_http_token(const toml::table& t, const std::string& path);
  void check_http_tokens(const Config& config);

  // ---- roster (config_roster.cpp) -----------------------------------------------------------
  void parse_units(const toml::table& root, Config& config);
  void parse_person(const toml::table& t, const std::string& unit_path, std::size_t index,
                    Unit& unit, std::map<std::string, const toml::node*, std::less<>>& person_ids,
                    std::vector<std::pair<const toml::node*, std::string>>& deputies);
  void parse_person_contact(const toml::table& t, const std::string& path, Person& person);
  void parse_person_channels(const toml::table& t, const std::string& path, Person& person);
  std::string position(const toml::node& node) const;
  void check_operators(const Config& config);

  // ---- policy (config_policy.cpp) -----------------------------------------------------------
  void parse_policy(const toml::table& root, Config& config);
  void parse_clock_rules(const toml::table& p, Policy& policy);
  DurationNodes parse_milestone_durations(const toml::table& p, Policy& policy);
  void parse_delivery_policy(const toml::table& p, Policy& policy);
  std::vector<EscalationLevel> parse_escalation(const toml::array& rows,
                                                std::vector<EscalationSource>& sources);
  void parse_escalation_recipients(const toml::table& t, const std::string& path,
                                   EscalationLevel& level, EscalationSource& source);
  void check_supervision(const Config& config, const std::vector<EscalationSource>& sources);
  void check_default_escalation(const Config& config);
  void check_supervision_units(const Config& config);
  static std::optional<std::pair<StepField, std::string>> step_problem(const LadderStep& step,
                                                                       const Policy& policy);
  std::vector<LadderStep> parse_ladder(const toml::array& rows, const Policy& policy,
                                       bool explicit_escalation);
  bool parse_ladder_step(const toml::table& t, const std::string& path, const Policy& policy,
                         bool explicit_escalation, LadderStep& step);
  void check_default_ladder(const Policy& policy, const DurationNodes& nodes,
                            const toml::node* escalation_node);

  std::string source_name_;
  std::vector<Located> errors_;
  std::vector<PendingSupervision> pending_supervision_;
  std::vector<std::pair<std::string, const toml::node*>> pending_token_units_;
  std::vector<std::pair<std::string, const toml::node*>> pending_operators_;
  std::vector<const toml::node*> token_nodes_;  // the sha256 of each token in config.http.tokens
  const toml::node* link_secret_node_ = nullptr;
  std::vector<NamedFile> read_files_;
  std::map<std::string, const toml::node*, std::less<>> phones_;  // first use of each number
  ConfigChecks checks_;
};

}  // namespace incidentd::config_detail
