#include "incidentd/config.hpp"

#include <date/tz.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <sstream>
#include <tuple>
#include <utility>

#include "incidentd/url.hpp"

namespace incidentd {

Policy Policy::defaults() {
  using std::chrono::hours;
  using std::chrono::minutes;
  Policy p;
  p.ladder = {
      {Milestone::first_release, hours(0), ActionKind::warning, 0},
      {Milestone::first_release, hours(2), ActionKind::warning, 0},
      {Milestone::first_release, hours(2) + minutes(30), ActionKind::warning, 0},
      {Milestone::first_release, hours(3), ActionKind::target_missed, 1},
      {Milestone::first_release, hours(4) + minutes(30), ActionKind::warning, 1},
      {Milestone::first_release, hours(5), ActionKind::deadline_breached, 2},
      {Milestone::press_conference, hours(20), ActionKind::warning, 0},
      {Milestone::press_conference, hours(23), ActionKind::warning, 1},
      {Milestone::press_conference, hours(24), ActionKind::deadline_breached, 2},
      {Milestone::follow_up, -hours(2), ActionKind::warning, 0},
      {Milestone::follow_up, hours(0), ActionKind::deadline_breached, 1},
  };
  p.escalation = {
      {0, {"duty"}, {}},
      {1, {"duty", "leader"}, {}},
      {2, {"duty", "leader", "principal"}, {"prov-office"}},
  };
  return p;
}

const Unit* Config::find_unit(std::string_view id) const {
  for (const Unit& u : units) {
    if (u.id == id) return &u;
  }
  return nullptr;
}

const Person* Config::find_person(std::string_view id) const {
  for (const Unit& u : units) {
    for (const Person& p : u.people) {
      if (p.id == id) return &p;
    }
  }
  return nullptr;
}

const Unit* Config::unit_of_person(std::string_view person_id) const {
  for (const Unit& u : units) {
    for (const Person& p : u.people) {
      if (p.id == person_id) return &u;
    }
  }
  return nullptr;
}

namespace {

constexpr std::string_view kRoles[] = {"duty", "leader", "principal", "deputy"};
constexpr std::string_view kChannels[] = {"sms", "webhook"};

bool contains(std::initializer_list<std::string_view> list, std::string_view s) {
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

std::string quote(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string_view a_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Ids end up in notification ids ("<incident>/<alert>/<person>/<send>"), URLs and SMS replies,
// so they are kept to characters that need no quoting anywhere.
bool valid_id(std::string_view id) {
  if (id.empty()) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

bool valid_e164(std::string_view phone) {
  if (phone.size() < 9 || phone.size() > 16 || phone[0] != '+') return false;
  return std::all_of(phone.begin() + 1, phone.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_url(std::string_view url) {
  return parse_url(url).has_value();
}

enum class Sign { positive, any };

// The shortest retry and outbox poll, and the shortest timeout, that make sense
// (docs/configuration.md, "Limits").
constexpr Duration kMinRetry = std::chrono::milliseconds(100);
constexpr Duration kMinSendTimeout = std::chrono::seconds(1);

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

  ConfigResult run(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, std::string_view(source_name_));
    } catch (const toml::parse_error& e) {
      error(e.source(), "TOML syntax error: " + std::string(e.description()));
      return finish(std::nullopt);
    }
    Config config;
    check_keys(root,
               {"timezone", "lang", "database", "kafka", "http", "sms", "notify", "ingest",
                "policy", "units"},
               "");
    parse_settings(root, config);
    parse_units(root, config);
    parse_policy(root, config);
    check_supervision_units(config);
    check_operators(config);
    check_http_tokens(config);
    check_files(config);
    return finish(std::move(config));
  }

 private:
  // Where each parsed escalation level came from, for checks that need the roster first.
  struct EscalationSource {
    std::vector<const toml::node*> supervision_nodes;  // parallel to supervision_units
  };

  // ---- errors -------------------------------------------------------------------------------

  void error(const toml::source_region& at, std::string message) {
    Located e;
    e.line = static_cast<int>(at.begin.line);
    e.column = static_cast<int>(at.begin.column);
    e.error.where = source_name_;
    if (e.line > 0) {
      e.error.where += ":" + std::to_string(e.line) + ":" + std::to_string(e.column);
    }
    e.error.message = std::move(message);
    errors_.push_back(std::move(e));
  }

  void error(const toml::node& at, std::string message) { error(at.source(), std::move(message)); }

  void error_in_file(std::string message) {
    Located e;
    e.error.where = source_name_;
    e.error.message = std::move(message);
    errors_.push_back(std::move(e));
  }

  ConfigResult finish(std::optional<Config> config) {
    ConfigResult result;
    // File order reads like a compiler's output; errors about the file as a whole come last.
    std::stable_sort(errors_.begin(), errors_.end(), [](const Located& a, const Located& b) {
      const int la = a.line > 0 ? a.line : std::numeric_limits<int>::max();
      const int lb = b.line > 0 ? b.line : std::numeric_limits<int>::max();
      return std::tie(la, a.column) < std::tie(lb, b.column);
    });
    for (Located& e : errors_) result.errors.push_back(std::move(e.error));
    if (result.errors.empty()) result.config = std::move(config);
    return result;
  }

  static std::string join(std::string_view path, std::string_view key) {
    if (path.empty()) return std::string(key);
    return std::string(path) + "." + std::string(key);
  }

  // ---- typed access -------------------------------------------------------------------------

  void check_keys(const toml::table& table, std::initializer_list<std::string_view> allowed,
                  std::string_view path) {
    for (auto&& [key, value] : table) {
      (void)value;
      const std::string_view k = key.str();
      if (contains(allowed, k)) continue;
      std::string message =
          (path.empty() ? std::string("unknown key ") : std::string(path) + ": unknown key ") +
          quote(k);
      std::string_view best;
      std::size_t best_distance = 3;
      for (std::string_view candidate : allowed) {
        const std::size_t d = edit_distance(k, candidate);
        if (d < best_distance) {
          best_distance = d;
          best = candidate;
        }
      }
      if (!best.empty()) message += " (did you mean " + quote(best) + "?)";
      error(key.source(), std::move(message));
    }
  }

  void missing(const toml::table& table, std::string_view path, std::string_view key,
               std::string_view what) {
    error(table,
          std::string(path) + ": missing " + std::string(key) + " (" + std::string(what) + ")");
  }

  void wrong_type(const toml::node& node, const std::string& path, std::string_view expected) {
    error(node,
          path + ": expected " + std::string(expected) + ", got " + std::string(a_type_name(node)));
  }

  const toml::table* get_table(const toml::table& parent, std::string_view key,
                               std::string_view parent_path) {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return nullptr;
    if (const toml::table* t = node->as_table()) return t;
    wrong_type(*node, join(parent_path, key), "a table");
    return nullptr;
  }

  // An array of tables such as [[policy.ladder]]; an empty inline array is accepted too.
  const toml::array* get_table_array(const toml::table& parent, std::string_view key,
                                     std::string_view parent_path) {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return nullptr;
    const std::string path = join(parent_path, key);
    const toml::array* a = node->as_array();
    if (a == nullptr) {
      wrong_type(*node, path, "an array of tables ([[" + path + "]])");
      return nullptr;
    }
    bool ok = true;
    for (const toml::node& element : *a) {
      if (!element.is_table()) {
        wrong_type(element, path, "a table in each element ([[" + path + "]])");
        ok = false;
      }
    }
    return ok ? a : nullptr;
  }

  std::optional<std::string> get_string(const toml::table& table, std::string_view key,
                                        std::string_view path, bool required,
                                        std::string_view what) {
    const toml::node* node = table.get(key);
    if (node == nullptr) {
      if (required) missing(table, path, key, what);
      return std::nullopt;
    }
    const std::string full = join(path, key);
    const auto* s = node->as_string();
    if (s == nullptr) {
      wrong_type(*node, full, "a string (" + std::string(what) + ")");
      return std::nullopt;
    }
    if (s->get().empty()) {
      error(*node, full + ": must not be empty (" + std::string(what) + ")");
      return std::nullopt;
    }
    return s->get();
  }

  std::optional<std::int64_t> get_integer(const toml::table& table, std::string_view key,
                                          std::string_view path, bool required,
                                          std::string_view what) {
    const toml::node* node = table.get(key);
    if (node == nullptr) {
      if (required) missing(table, path, key, what);
      return std::nullopt;
    }
    const auto* i = node->as_integer();
    if (i == nullptr) {
      wrong_type(*node, join(path, key), "an integer (" + std::string(what) + ")");
      return std::nullopt;
    }
    return i->get();
  }

  std::optional<Duration> to_duration(const toml::node& node, const std::string& path, Sign sign) {
    const auto* s = node.as_string();
    if (s == nullptr) {
      wrong_type(node, path, "a string with a duration like \"2h30m\"");
      return std::nullopt;
    }
    const std::optional<Duration> d = parse_duration(s->get());
    if (!d) {
      error(node, path + ": expected a duration like \"2h30m\", got " + quote(s->get()));
      return std::nullopt;
    }
    if (sign == Sign::positive && d->count() <= 0) {
      error(node, path + ": must be a positive duration, got " + quote(s->get()));
      return std::nullopt;
    }
    return d;
  }

  // Reads a duration into `out` when the key is present and valid; returns the node, if any.
  // `min` is the shortest that makes sense for the key (docs/configuration.md, "Limits"): a retry
  // or a reminder every millisecond only floods the timeline, the outbox or the log.
  const toml::node* read_duration(const toml::table& table, std::string_view key,
                                  std::string_view path, Duration& out,
                                  Duration min = Duration(1)) {
    const toml::node* node = table.get(key);
    if (node == nullptr) return nullptr;
    if (auto d = to_duration(*node, join(path, key), Sign::positive)) {
      if (*d < min) {
        error(*node, join(path, key) + ": must be at least " + format_duration(min) + ", got " +
                         quote(node->as_string()->get()));
      } else {
        out = *d;
      }
    }
    return node;
  }

  // Strings of an optional array; wrong elements are reported and skipped.
  std::vector<std::pair<std::string, const toml::node*>> get_string_array(const toml::table& table,
                                                                          std::string_view key,
                                                                          std::string_view path,
                                                                          std::string_view what) {
    std::vector<std::pair<std::string, const toml::node*>> out;
    const toml::node* node = table.get(key);
    if (node == nullptr) return out;
    const std::string full = join(path, key);
    const toml::array* a = node->as_array();
    if (a == nullptr) {
      wrong_type(*node, full, "an array of strings (" + std::string(what) + ")");
      return out;
    }
    for (const toml::node& element : *a) {
      if (const auto* s = element.as_string()) {
        out.emplace_back(s->get(), &element);
      } else {
        wrong_type(element, full, "strings in the array (" + std::string(what) + ")");
      }
    }
    return out;
  }

  // ---- top-level settings -------------------------------------------------------------------

  void parse_settings(const toml::table& root, Config& config) {
    if (const toml::node* node = root.get("timezone")) {
      if (auto tz =
              get_string(root, "timezone", "", false, "an IANA time zone like \"Asia/Shanghai\"")) {
        try {
          const date::time_zone* zone = date::locate_zone(*tz);
          // The configuration is read once at start-up; a zone with daylight saving time is
          // printed with the offset in force then.
          const auto info = zone->get_info(std::chrono::system_clock::now());
          config.timezone = *tz;
          config.utc_offset = std::chrono::duration_cast<std::chrono::minutes>(info.offset);
        } catch (const std::exception&) {
          error(*node, "timezone: unknown time zone " + quote(*tz) +
                           " (expected an IANA name like \"Asia/Shanghai\")");
        }
      }
    }
    if (const toml::node* node = root.get("lang")) {
      if (auto lang = get_string(root, "lang", "", false, "\"zh\" or \"en\"")) {
        if (*lang == "zh" || *lang == "en") {
          config.lang = *lang;
        } else {
          error(*node, "lang: unknown language " + quote(*lang) + " (expected \"zh\" or \"en\")");
        }
      }
    }
    if (auto db = get_string(root, "database", "", false, "the path of the SQLite database file")) {
      config.database = *db;
    }
    if (const toml::table* kafka = get_table(root, "kafka", "")) parse_kafka(*kafka, config.kafka);
    if (const toml::table* http = get_table(root, "http", "")) parse_http(*http, config.http);
    if (const toml::table* sms = get_table(root, "sms", "")) {
      parse_sms(*sms, config.sms);
      // Two listeners cannot share one address and port: the daemon would fail to bind.
      if (config.http.enabled && config.sms.callback_port == config.http.port &&
          config.sms.callback_address == config.http.address) {
        error(*sms->get("callback_port"),
              "sms.callback_port: the API listens on " + config.http.address + ":" +
                  std::to_string(config.http.port) +
                  " already (leave callback_port out to serve the callback there)");
      }
    }
    if (const toml::table* notify = get_table(root, "notify", "")) {
      parse_notify(*notify, config.notify);
    }
    if (const toml::table* ingest = get_table(root, "ingest", "")) {
      parse_ingest(*ingest, config.ingest);
    }
  }

  // ---- [ingest] ------------------------------------------------------------------------------

  void parse_ingest(const toml::table& ingest, IngestSettings& out) {
    check_keys(ingest, {"source_silence"}, "ingest");
    const toml::node* node = ingest.get("source_silence");
    if (node == nullptr) return;
    // "0" (or "0s") turns the heartbeat off, as leaving the key out does.
    if (const auto* s = node->as_string(); s != nullptr && s->get() == "0") return;
    const auto d = to_duration(*node, "ingest.source_silence", Sign::any);
    if (!d) return;
    if (d->count() == 0) return;
    if (*d < std::chrono::seconds(1)) {
      error(*node, "ingest.source_silence: must be at least 1s (or \"0\": off), got " +
                       quote(node->as_string()->get()));
      return;
    }
    out.source_silence = *d;
  }

  // ---- [sms] ---------------------------------------------------------------------------------

  void parse_sms(const toml::table& sms, SmsSettings& out) {
    check_keys(
        sms,
        {"enabled", "gateway", "url", "credentials_file", "sender", "method", "params",
         "success_contains", "timeout", "max_parts", "reply_code_digits", "reply_code_reuse_after",
         "ack_links", "templates", "callback_secret_file", "callback_address", "callback_port"},
        "sms");
    if (const toml::node* node = sms.get("enabled")) {
      if (const auto* b = node->as_boolean()) {
        out.enabled = b->get();
      } else {
        wrong_type(*node, "sms.enabled", "a boolean");
      }
    }
    if (const toml::node* node = sms.get("ack_links")) {
      if (const auto* b = node->as_boolean()) {
        out.ack_links = b->get();
      } else {
        wrong_type(*node, "sms.ack_links", "a boolean");
      }
    }
    if (auto v = get_string(sms, "gateway", "sms", false, "\"kannel\" or \"http\"")) {
      if (*v == "kannel" || *v == "http") {
        out.gateway = *v;
      } else {
        error(*sms.get("gateway"),
              "sms.gateway: expected \"kannel\" or \"http\", got " + quote(*v));
      }
    }
    if (auto v = get_string(sms, "url", "sms", false, "the gateway's http:// or https:// URL")) {
      if (valid_url(*v)) {
        out.url = *v;
      } else {
        error(*sms.get("url"), "sms.url: expected an http:// or https:// URL, got " + quote(*v));
      }
    }
    if (const toml::node* node = sms.get("credentials_file");
        node != nullptr && node->is_string()) {
      read_files_.push_back({node, "sms.credentials_file", node->as_string()->get(), false});
    }
    if (auto v = get_string(sms, "credentials_file", "sms", false,
                            "a file holding \"username:password\"")) {
      out.credentials_file = *v;
    }
    if (auto v = get_string(sms, "sender", "sms", false, "the sender number")) out.sender = *v;
    if (auto v = get_string(sms, "method", "sms", false, "\"GET\" or \"POST\"")) {
      if (*v == "GET" || *v == "POST") {
        out.method = *v;
      } else {
        error(*sms.get("method"), "sms.method: expected \"GET\" or \"POST\", got " + quote(*v));
      }
    }
    if (const toml::table* params = get_table(sms, "params", "sms")) {
      for (auto&& [key, value] : *params) {
        const std::string path = "sms.params." + std::string(key.str());
        if (const auto* text = value.as_string()) {
          check_placeholders(value, path, text->get(),
                             {"phone", "text", "sender", "username", "password"});
          out.params[std::string(key.str())] = text->get();
        } else {
          wrong_type(value, path, "a string");
        }
      }
    }
    if (auto v = get_string(sms, "success_contains", "sms", false, "text a success reply holds")) {
      out.success_contains = *v;
    }
    read_duration(sms, "timeout", "sms", out.timeout, kMinSendTimeout);
    read_duration(sms, "reply_code_reuse_after", "sms", out.reply_code_reuse_after,
                  std::chrono::hours(1));
    if (auto v = get_integer(sms, "max_parts", "sms", false, "1 to 10 message parts")) {
      if (*v < 1 || *v > 10) {
        error(*sms.get("max_parts"), "sms.max_parts: must be 1 to 10, got " + std::to_string(*v));
      } else {
        out.max_parts = static_cast<int>(*v);
      }
    }
    if (auto v = get_integer(sms, "reply_code_digits", "sms", false, "3 to 6 digits")) {
      if (*v < 3 || *v > 6) {
        error(*sms.get("reply_code_digits"),
              "sms.reply_code_digits: must be 3 to 6, got " + std::to_string(*v));
      } else {
        out.reply_code_digits = static_cast<int>(*v);
      }
    }
    if (out.enabled && out.url.empty()) {
      error(sms, "sms: enabled needs url (Kannel's sendsms URL or the SMS API's)");
    }
    if (auto v = get_string(sms, "callback_secret_file", "sms", false,
                            "a file holding the secret of the SMS reply callback")) {
      out.callback_secret_file = *v;
      // Checked here, as the daemon reads it at start, so check-config refuses what it would.
      if (const SecretFile file = read_sms_callback_secret(*v); !file.error.empty()) {
        error(*sms.get("callback_secret_file"), "sms.callback_secret_file: " + file.error);
      }
    }
    if (auto v = get_string(sms, "callback_address", "sms", false, "an IP address to listen on")) {
      out.callback_address = *v;
    }
    if (auto v = get_integer(sms, "callback_port", "sms", false, "a TCP port, 1 to 65535")) {
      if (*v < 1 || *v > 65535) {
        error(*sms.get("callback_port"),
              "sms.callback_port: must be 1 to 65535, got " + std::to_string(*v));
      } else {
        out.callback_port = static_cast<int>(*v);
      }
    }
    if (sms.get("callback_address") != nullptr && sms.get("callback_port") == nullptr) {
      error(*sms.get("callback_address"),
            "sms.callback_address: needs callback_port (without it the callback is served on the "
            "API's listener)");
    }
    if (out.enabled && out.gateway == "http" && out.params.empty()) {
      error(sms, "sms: gateway \"http\" needs [sms.params] (at least the phone and the text)");
    }
    const toml::table* templates = get_table(sms, "templates", "sms");
    if (templates == nullptr) return;
    // The same names as kSmsTemplateKeys (check_keys takes a list).
    check_keys(
        *templates,
        {"opened", "warning", "target_missed", "deadline_breached", "overdue", "resend", "deputy",
         "drill", "reply_hint", "ack_hint", "unreached", "source_silent", "source_back"},
        "sms.templates");
    for (auto&& [key, value] : *templates) {
      const std::string name(key.str());
      const std::string path = "sms.templates." + name;
      const auto* text = value.as_string();
      if (text == nullptr) {
        wrong_type(value, path, "a string");
        continue;
      }
      check_placeholders(value, path, text->get(),
                         std::vector<std::string_view>(std::begin(kSmsTemplatePlaceholders),
                                                       std::end(kSmsTemplatePlaceholders)));
      out.templates[name] = text->get();
    }
  }

  // `{name}` placeholders must be known ones; a brace without its partner is an error too, so a
  // typo never reaches a phone as literal braces.
  void check_placeholders(const toml::node& node, const std::string& path, std::string_view text,
                          const std::vector<std::string_view>& known) {
    std::size_t at = 0;
    while (at < text.size()) {
      const std::size_t open = text.find_first_of("{}", at);
      if (open == std::string_view::npos) return;
      const std::size_t close = text[open] == '{' ? text.find('}', open) : std::string_view::npos;
      if (close == std::string_view::npos) {
        error(node, path + ": unmatched " + quote(std::string(1, text[open])) +
                        " (placeholders are written {name})");
        return;
      }
      const std::string_view name = text.substr(open + 1, close - open - 1);
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string message = path + ": unknown placeholder {";
        message.append(name).append("} (known: ");
        for (std::size_t i = 0; i < known.size(); ++i) {
          message.append(i == 0 ? "{" : ", {").append(known[i]).append("}");
        }
        error(node, message + ")");
      }
      at = close + 1;
    }
  }

  void parse_kafka(const toml::table& kafka, KafkaSettings& out) {
    check_keys(kafka, {"brokers", "group", "topics", "properties"}, "kafka");
    if (auto v = get_string(kafka, "brokers", "kafka", false, "host:port[,host:port...]")) {
      out.brokers = *v;
    }
    if (auto v = get_string(kafka, "group", "kafka", false, "the consumer group id")) {
      out.group = *v;
    }
    if (const toml::table* topics = get_table(kafka, "topics", "kafka")) {
      check_keys(*topics, {"events", "releases", "dead_letter"}, "kafka.topics");
      if (auto v = get_string(*topics, "events", "kafka.topics", false, "a topic name")) {
        out.events_topic = *v;
      }
      if (auto v = get_string(*topics, "releases", "kafka.topics", false, "a topic name")) {
        out.releases_topic = *v;
      }
      if (auto v = get_string(*topics, "dead_letter", "kafka.topics", false, "a topic name")) {
        out.dlq_topic = *v;
      }
    }
    if (const toml::table* properties = get_table(kafka, "properties", "kafka")) {
      for (auto&& [key, value] : *properties) {
        const std::string name(key.str());
        if (auto it = managed_kafka_properties().find(name);
            it != managed_kafka_properties().end()) {
          error(value,
                "kafka.properties." + name + ": set by incidentd (" + it->second + "); remove it");
        } else if (const auto* s = value.as_string()) {
          out.properties[std::string(key.str())] = s->get();
        } else {
          wrong_type(value, "kafka.properties." + std::string(key.str()),
                     "a string (librdkafka takes every property as a string: write \"5000\", "
                     "not 5000)");
        }
      }
    }
  }

  void parse_notify(const toml::table& notify, NotifySettings& out) {
    check_keys(notify,
               {"retry_base", "retry_max", "jitter", "fallback_after", "send_timeout", "poll_every",
                "max_in_flight", "give_up_after", "operator", "webhooks"},
               "notify");
    read_duration(notify, "retry_base", "notify", out.retry_base, kMinRetry);
    if (const toml::node* node =
            read_duration(notify, "retry_max", "notify", out.retry_max, kMinRetry)) {
      if (out.retry_max < out.retry_base) {
        error(*node, "notify.retry_max: must not be shorter than notify.retry_base");
      }
    }
    if (const toml::node* node = notify.get("jitter")) {
      const std::optional<double> v = node->value<double>();
      if (!v || node->is_boolean()) {
        wrong_type(*node, "notify.jitter", "a number from 0 to 1 (a fraction of each wait)");
      } else if (!std::isfinite(*v)) {
        // nan compares false with everything, so a range check alone would let it through.
        error(*node, "notify.jitter: must be a finite number from 0 to 1, got " +
                         std::string(std::isnan(*v) ? "nan" : "inf"));
      } else if (*v < 0 || *v > 1) {
        error(*node, "notify.jitter: must be from 0 to 1, got " + std::to_string(*v));
      } else {
        out.jitter = *v;
      }
    }
    read_duration(notify, "fallback_after", "notify", out.fallback_after, std::chrono::seconds(1));
    read_duration(notify, "send_timeout", "notify", out.send_timeout, kMinSendTimeout);
    read_duration(notify, "poll_every", "notify", out.poll_every, kMinRetry);
    if (const toml::node* node = read_duration(notify, "give_up_after", "notify", out.give_up_after,
                                               std::chrono::seconds(1))) {
      if (out.give_up_after < out.fallback_after) {
        error(*node, "notify.give_up_after: must not be shorter than notify.fallback_after");
      }
    }
    // Checked against the roster once it is parsed (check_operators).
    pending_operators_ =
        get_string_array(notify, "operator", "notify", "person ids from [[units]]");
    for (const auto& [id, node] : pending_operators_) out.operators.push_back(id);
    if (auto v = get_integer(notify, "max_in_flight", "notify", false, "sends, 1 to 10000")) {
      if (*v < 1 || *v > 10000) {
        error(*notify.get("max_in_flight"),
              "notify.max_in_flight: must be 1 to 10000, got " + std::to_string(*v));
      } else {
        out.max_in_flight = static_cast<int>(*v);
      }
    }
    const toml::array* routes = get_table_array(notify, "webhooks", "notify");
    if (routes == nullptr) return;
    std::size_t index = 0;
    for (const toml::node& element : *routes) {
      ++index;
      const toml::table& t = *element.as_table();
      const std::string path = "notify.webhooks[" + std::to_string(index) + "]";
      check_keys(t, {"match", "format", "secret", "secret_file"}, path);
      WebhookRoute route;
      if (auto v = get_string(t, "match", path, true, "the URL prefix this route applies to")) {
        route.match = *v;
      }
      if (auto v = get_string(t, "format", path, false, "generic, dingtalk, wecom or feishu")) {
        static constexpr std::string_view kFormats[] = {"generic", "dingtalk", "wecom", "feishu"};
        if (contains(kFormats, *v)) {
          route.format = *v;
        } else {
          error(*t.get("format"), path + ".format: unknown format " + quote(*v) +
                                      " (expected \"generic\", \"dingtalk\", \"wecom\" or "
                                      "\"feishu\")");
        }
      }
      if (auto v = get_string(t, "secret", path, false, "the signing secret")) route.secret = *v;
      if (auto v = get_string(t, "secret_file", path, false, "a file holding the secret")) {
        route.secret_file = *v;
        read_files_.push_back({t.get("secret_file"), path + ".secret_file", *v, true});
      }
      if (!route.secret.empty() && !route.secret_file.empty()) {
        error(t, path + ": secret and secret_file exclude each other (set one)");
      }
      out.webhooks.push_back(std::move(route));
    }
  }

  void parse_http(const toml::table& http, HttpSettings& out) {
    check_keys(http,
               {"enabled", "address", "port", "tls_cert", "tls_key", "link_secret_file",
                "public_url", "link_ttl", "max_body_bytes", "header_timeout", "body_timeout",
                "max_connections_per_address", "tokens"},
               "http");
    if (const toml::node* node = http.get("enabled")) {
      if (const auto* b = node->as_boolean()) {
        out.enabled = b->get();
      } else {
        wrong_type(*node, "http.enabled", "a boolean");
      }
    }
    if (auto v = get_string(http, "address", "http", false, "an IP address to listen on")) {
      out.address = *v;
    }
    if (auto v = get_integer(http, "port", "http", false, "a TCP port, 1 to 65535")) {
      if (*v < 1 || *v > 65535) {
        error(*http.get("port"), "http.port: must be 1 to 65535, got " + std::to_string(*v));
      } else {
        out.port = static_cast<int>(*v);
      }
    }
    if (auto v = get_string(http, "tls_cert", "http", false, "a PEM certificate file")) {
      out.tls_cert = *v;
      read_files_.push_back({http.get("tls_cert"), "http.tls_cert", *v, false});
    }
    if (auto v = get_string(http, "tls_key", "http", false, "a PEM private key file")) {
      out.tls_key = *v;
      read_files_.push_back({http.get("tls_key"), "http.tls_key", *v, false});
    }
    if (out.tls_cert.empty() != out.tls_key.empty()) {
      error(http, "http: tls_cert and tls_key go together (set both for HTTPS, neither for HTTP)");
    }
    if (auto v = get_string(http, "link_secret_file", "http", false,
                            "a file holding the key of the one-click ack links")) {
      out.link_secret_file = *v;
      link_secret_node_ = http.get("link_secret_file");
    }
    if (auto v = get_string(http, "public_url", "http", false, "the base URL of ack links")) {
      if (valid_url(*v)) {
        out.public_url = *v;
      } else {
        error(*http.get("public_url"),
              "http.public_url: expected an http:// or https:// URL, got " + quote(*v));
      }
    }
    read_duration(http, "link_ttl", "http", out.link_ttl, std::chrono::minutes(1));
    read_duration(http, "header_timeout", "http", out.header_timeout, kMinSendTimeout);
    read_duration(http, "body_timeout", "http", out.body_timeout, kMinSendTimeout);
    if (auto v = get_integer(http, "max_body_bytes", "http", false, "bytes, 1024 to 16777216")) {
      if (*v < 1024 || *v > std::int64_t{16} * 1024 * 1024) {
        error(*http.get("max_body_bytes"),
              "http.max_body_bytes: must be 1024 to 16777216, got " + std::to_string(*v));
      } else {
        out.max_body_bytes = static_cast<std::size_t>(*v);
      }
    }
    if (auto v = get_integer(http, "max_connections_per_address", "http", false,
                             "connections, 1 to 256")) {
      if (*v < 1 || *v > 256) {
        error(*http.get("max_connections_per_address"),
              "http.max_connections_per_address: must be 1 to 256, got " + std::to_string(*v));
      } else {
        out.max_connections_per_address = static_cast<std::size_t>(*v);
      }
    }
    const toml::array* tokens = get_table_array(http, "tokens", "http");
    if (tokens == nullptr) return;
    std::size_t index = 0;
    for (const toml::node& element : *tokens) {
      ++index;
      const toml::table& t = *element.as_table();
      const std::string path = "http.tokens[" + std::to_string(index) + "]";
      check_keys(t, {"name", "unit", "sha256"}, path);
      HttpToken token;
      bool ok = true;
      if (auto v = get_string(t, "name", path, true, "who holds the token")) {
        token.name = *v;
      } else {
        ok = false;
      }
      // Checked against the roster in check_http_tokens(), once the units are known.
      if (auto v = get_string(t, "unit", path, false, "the unit the token acts for")) {
        token.unit = *v;
        pending_token_units_.push_back({*v, t.get("unit")});
      }
      if (auto v = get_string(t, "sha256", path, true,
                              "the SHA-256 of the token in hex: sha256sum of the token")) {
        const bool hex =
            v->size() == 64 && std::all_of(v->begin(), v->end(), [](char c) {
              return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
            });
        if (hex) {
          token.sha256 = *v;
          std::transform(
              token.sha256.begin(), token.sha256.end(), token.sha256.begin(),
              [](char c) { return static_cast<char>(c >= 'A' && c <= 'F' ? c + 32 : c); });
        } else {
          error(*t.get("sha256"), path +
                                      ".sha256: expected 64 hex digits (the SHA-256 of the "
                                      "token, never the token itself)");
          ok = false;
        }
      } else {
        ok = false;
      }
      if (ok) {
        out.tokens.push_back(std::move(token));
        token_nodes_.push_back(t.get("sha256"));
      }
    }
  }

  void check_http_tokens(const Config& config) {
    for (const auto& [unit, node] : pending_token_units_) {
      if (config.find_unit(unit) == nullptr) {
        error(*node, "http.tokens: unknown unit " + quote(unit) +
                         " (leave unit out for an operator token that acts for any unit)");
      }
    }
    // A token is known by its hash: two entries with one hash would make one token act as
    // whichever entry was found first.
    std::map<std::string, std::string, std::less<>> names;
    for (std::size_t i = 0; i < config.http.tokens.size() && i < token_nodes_.size(); ++i) {
      const HttpToken& token = config.http.tokens[i];
      if (auto [it, inserted] = names.emplace(token.sha256, token.name); !inserted) {
        error(*token_nodes_[i], "http.tokens: token " + quote(token.name) +
                                    " has the same sha256 as token " + quote(it->second) +
                                    " (each holder needs a token of their own)");
      }
    }
  }

  // What the configuration names outside itself, checked only when asked (check-config, the
  // daemon's start): a report run by another user may not be able to read the daemon's keys.
  void check_files(const Config& config) {
    if (checks_.link_secret_file && config.http.enabled && link_secret_node_ != nullptr) {
      if (auto problem = checks_.link_secret_file(config.http.link_secret_file)) {
        error(*link_secret_node_, "http.link_secret_file: " + *problem);
      }
    }
    // The other files the daemon reads at start: TLS with [http] on, the gateway's credentials
    // with [sms] on, a webhook route's secret always (any notification may use it).
    if (!checks_.readable_file) return;
    for (const NamedFile& f : read_files_) {
      const bool used = f.always || (f.key.rfind("http.", 0) == 0 && config.http.enabled) ||
                        (f.key.rfind("sms.", 0) == 0 && config.sms.enabled);
      if (!used || f.path.empty()) continue;
      if (auto problem = checks_.readable_file(f.path)) error(*f.node, f.key + ": " + *problem);
    }
  }

  // ---- roster -------------------------------------------------------------------------------

  void parse_units(const toml::table& root, Config& config) {
    const toml::node* node = root.get("units");
    const toml::array* units = get_table_array(root, "units", "");
    if (units == nullptr) {
      if (node == nullptr) {
        error_in_file("no units: the roster needs at least one [[units]] table");
      }
      return;
    }
    if (units->empty()) {
      error(*node, "units: the roster needs at least one unit");
      return;
    }
    std::map<std::string, const toml::node*, std::less<>> unit_ids;
    std::map<std::string, const toml::node*, std::less<>> person_ids;
    std::vector<std::pair<const toml::node*, std::string>> deputies;  // node, path
    std::size_t index = 0;
    for (const toml::node& element : *units) {
      ++index;
      const toml::table& t = *element.as_table();
      std::string path = "units[" + std::to_string(index) + "]";
      check_keys(t, {"id", "name", "people"}, path);
      Unit unit;
      if (auto id = get_string(t, "id", path, true, "the unit id used in events")) {
        const toml::node& id_node = *t.get("id");
        if (!valid_id(*id)) {
          error(id_node, path + ".id: " + quote(*id) +
                             " may contain only letters, digits, '-', '_' and '.'");
        } else if (auto [it, inserted] = unit_ids.emplace(*id, &id_node); !inserted) {
          error(id_node, path + ".id: duplicate unit id " + quote(*id) + " (first defined at " +
                             position(*it->second) + ")");
        }
        unit.id = *id;
        path = "units[" + unit.id + "]";
      }
      if (auto name = get_string(t, "name", path, true, "the unit's full name")) unit.name = *name;
      if (const toml::array* people = get_table_array(t, "people", path)) {
        std::size_t person_index = 0;
        for (const toml::node& p : *people) {
          ++person_index;
          parse_person(*p.as_table(), path, person_index, unit, person_ids, deputies);
        }
      }
      const bool has_duty = std::any_of(unit.people.begin(), unit.people.end(),
                                        [](const Person& p) { return p.role == "duty"; });
      if (!has_duty) {
        error(t, path +
                     ": no duty officer (a [[units.people]] entry with role = \"duty\"); "
                     "alerts to this unit would reach nobody");
      }
      config.units.push_back(std::move(unit));
    }
    // Deputies may sit in another unit, so they are checked once the whole roster is known.
    for (const auto& [deputy_node, person_path] : deputies) {
      const std::string& deputy = deputy_node->as_string()->get();
      if (person_ids.find(deputy) == person_ids.end()) {
        error(*deputy_node,
              person_path + ".deputy: no person with id " + quote(deputy) + " in the roster");
      }
    }
  }

  void parse_person(const toml::table& t, const std::string& unit_path, std::size_t index,
                    Unit& unit, std::map<std::string, const toml::node*, std::less<>>& person_ids,
                    std::vector<std::pair<const toml::node*, std::string>>& deputies) {
    std::string path = unit_path + ".people[" + std::to_string(index) + "]";
    check_keys(t, {"id", "name", "role", "phone", "webhook", "channels", "deputy"}, path);
    Person person;
    if (auto id = get_string(t, "id", path, true, "the person id, unique in the whole roster")) {
      const toml::node& id_node = *t.get("id");
      if (!valid_id(*id)) {
        error(id_node,
              path + ".id: " + quote(*id) + " may contain only letters, digits, '-', '_' and '.'");
      } else if (auto [it, inserted] = person_ids.emplace(*id, &id_node); !inserted) {
        error(id_node, path + ".id: duplicate person id " + quote(*id) + " (first defined at " +
                           position(*it->second) + "); ids are unique across all units");
      }
      person.id = *id;
      path = unit_path + ".people[" + person.id + "]";
    }
    if (auto name = get_string(t, "name", path, true, "the person's name")) person.name = *name;
    if (auto role = get_string(t, "role", path, true, quoted_list(kRoles))) {
      if (!contains(kRoles, *role)) {
        error(*t.get("role"), path + ".role: unknown role " + quote(*role) + " (expected " +
                                  quoted_list(kRoles) + ")");
      }
      person.role = *role;
    }
    if (auto phone =
            get_string(t, "phone", path, false, "an E.164 number like \"+8613800000001\"")) {
      if (!valid_e164(*phone)) {
        error(*t.get("phone"), path + ".phone: " + quote(*phone) +
                                   " is not an E.164 number (expected \"+\" and 8 to 15 digits, "
                                   "like \"+8613800000001\")");
      } else if (auto [it, inserted] = phones_.emplace(*phone, t.get("phone")); !inserted) {
        // Reply codes are bound to a phone: a shared number could not tell who answered.
        error(*t.get("phone"), path + ".phone: " + quote(*phone) +
                                   " is already the phone of another person (at line:column " +
                                   position(*it->second) + "); each person needs their own");
      }
      person.phone = *phone;
    }
    if (auto url = get_string(t, "webhook", path, false, "an http:// or https:// URL")) {
      if (!valid_url(*url)) {
        error(*t.get("webhook"),
              path + ".webhook: " + quote(*url) + " is not an http:// or https:// URL");
      }
      person.webhook = *url;
    }
    if (t.get("channels") == nullptr) {
      missing(t, path, "channels", "how to reach the person, like [\"sms\", \"webhook\"]");
    }
    const auto channels = get_string_array(
        t, "channels", path, "channels in order of preference: " + quoted_list(kChannels));
    if (const toml::node* node = t.get("channels");
        node != nullptr && node->is_array() && node->as_array()->empty()) {
      error(*node,
            path + ".channels: must name at least one channel (" + quoted_list(kChannels) + ")");
    }
    for (const auto& [channel, node] : channels) {
      const std::string channel_path = path + ".channels";
      if (!contains(kChannels, channel)) {
        error(*node, channel_path + ": unknown channel " + quote(channel) + " (expected " +
                         quoted_list(kChannels) + ")");
        continue;
      }
      if (std::find(person.channels.begin(), person.channels.end(), channel) !=
          person.channels.end()) {
        error(*node, channel_path + ": channel " + quote(channel) + " is listed twice");
        continue;
      }
      if (channel == "sms" && t.get("phone") == nullptr) {
        error(*node, channel_path + ": channel \"sms\" needs a phone number, and phone is not set");
      }
      if (channel == "webhook" && t.get("webhook") == nullptr) {
        error(*node,
              channel_path + ": channel \"webhook\" needs a webhook URL, and webhook is not set");
      }
      person.channels.push_back(channel);
    }
    if (auto deputy = get_string(t, "deputy", path, false, "the id of the person's deputy")) {
      const toml::node* node = t.get("deputy");
      if (*deputy == person.id) {
        error(*node, path + ".deputy: a person cannot be their own deputy");
      } else {
        deputies.emplace_back(node, path);
      }
      person.deputy = *deputy;
    }
    unit.people.push_back(std::move(person));
  }

  std::string position(const toml::node& node) const {
    return std::to_string(node.source().begin.line) + ":" +
           std::to_string(node.source().begin.column);
  }

  // ---- policy -------------------------------------------------------------------------------

  struct DurationNodes {
    const toml::node* first_release_target = nullptr;
    const toml::node* first_release_deadline = nullptr;
    const toml::node* press_conference_deadline = nullptr;
    const toml::node* follow_up_every = nullptr;
  };

  void parse_policy(const toml::table& root, Config& config) {
    Policy& policy = config.policy;
    policy = Policy::defaults();
    const toml::table* p = get_table(root, "policy", "");
    if (p == nullptr) {
      check_default_escalation(config);
      return;
    }
    check_keys(*p,
               {"clock_levels", "confirm", "overdue_every", "first_release", "press_conference",
                "follow_up", "delivery", "ladder", "escalation"},
               "policy");

    if (const toml::node* node = p->get("clock_levels")) {
      const auto levels =
          get_string_array(*p, "clock_levels", "policy", "levels \"I\", \"II\", \"III\", \"IV\"");
      std::set<Level> parsed;
      for (const auto& [text, element] : levels) {
        if (auto level = parse_level(text)) {
          parsed.insert(*level);
        } else {
          error(*element, "policy.clock_levels: unknown level " + quote(text) +
                              " (expected \"I\", \"II\", \"III\" or \"IV\")");
        }
      }
      if (node->is_array() && node->as_array()->empty()) {
        error(*node, "policy.clock_levels: must name at least one level, or no clock ever runs");
      }
      policy.clock_levels = std::move(parsed);
    }
    if (auto confirm = get_string(*p, "confirm", "policy", false, "\"all\" or \"lead\"")) {
      if (*confirm == "all") {
        policy.confirm = ConfirmRule::all;
      } else if (*confirm == "lead") {
        policy.confirm = ConfirmRule::lead;
      } else {
        error(*p->get("confirm"), "policy.confirm: unknown rule " + quote(*confirm) +
                                      " (expected \"all\": every responsible unit confirms, or "
                                      "\"lead\": the lead unit alone)");
      }
    }
    read_duration(*p, "overdue_every", "policy", policy.overdue_every, std::chrono::minutes(5));

    DurationNodes nodes;
    if (const toml::table* t = get_table(*p, "first_release", "policy")) {
      check_keys(*t, {"target", "deadline"}, "policy.first_release");
      nodes.first_release_target =
          read_duration(*t, "target", "policy.first_release", policy.first_release_target);
      nodes.first_release_deadline =
          read_duration(*t, "deadline", "policy.first_release", policy.first_release_deadline);
      if (policy.first_release_target >= policy.first_release_deadline) {
        const toml::node* at = nodes.first_release_target != nullptr ? nodes.first_release_target
                                                                     : nodes.first_release_deadline;
        error(at != nullptr ? at->source() : t->source(),
              "policy.first_release: the target (" + format_duration(policy.first_release_target) +
                  ") must come before the deadline (" +
                  format_duration(policy.first_release_deadline) + ")");
      }
    }
    if (const toml::table* t = get_table(*p, "press_conference", "policy")) {
      check_keys(*t, {"deadline"}, "policy.press_conference");
      nodes.press_conference_deadline = read_duration(*t, "deadline", "policy.press_conference",
                                                      policy.press_conference_deadline);
    }
    if (const toml::table* t = get_table(*p, "follow_up", "policy")) {
      check_keys(*t, {"every"}, "policy.follow_up");
      nodes.follow_up_every = read_duration(*t, "every", "policy.follow_up", policy.follow_up_every,
                                            std::chrono::hours(1));
    }
    if (const toml::table* t = get_table(*p, "delivery", "policy")) {
      check_keys(*t, {"resend_after", "deputy_after_sends"}, "policy.delivery");
      read_duration(*t, "resend_after", "policy.delivery", policy.resend_after,
                    std::chrono::minutes(1));
      if (auto n = get_integer(*t, "deputy_after_sends", "policy.delivery", false,
                               "how many unanswered sends bring in the deputy")) {
        if (*n < 1 || *n > 1000) {
          error(*t->get("deputy_after_sends"),
                "policy.delivery.deputy_after_sends: must be between 1 and 1000, got " +
                    std::to_string(*n));
        } else {
          policy.deputy_after_sends = static_cast<int>(*n);
        }
      }
    }

    const toml::node* escalation_node = p->get("escalation");
    std::vector<EscalationSource> escalation_sources;
    if (const toml::array* rows = get_table_array(*p, "escalation", "policy")) {
      policy.escalation = parse_escalation(*rows, escalation_sources);
      check_supervision(config, escalation_sources);
    } else if (escalation_node == nullptr) {
      check_default_escalation(config);
    }

    const toml::node* ladder_node = p->get("ladder");
    if (const toml::array* rows = get_table_array(*p, "ladder", "policy")) {
      policy.ladder = parse_ladder(*rows, policy, escalation_node != nullptr);
    } else if (ladder_node == nullptr &&
               policy.first_release_target < policy.first_release_deadline) {
      check_default_ladder(policy, nodes, escalation_node);
    }
    std::stable_sort(policy.ladder.begin(), policy.ladder.end(),
                     [](const LadderStep& a, const LadderStep& b) {
                       return std::tie(a.milestone, a.offset) < std::tie(b.milestone, b.offset);
                     });
  }

  std::vector<EscalationLevel> parse_escalation(const toml::array& rows,
                                                std::vector<EscalationSource>& sources) {
    std::vector<EscalationLevel> out;
    std::map<int, const toml::node*> seen;
    std::size_t index = 0;
    for (const toml::node& element : rows) {
      ++index;
      const toml::table& t = *element.as_table();
      const std::string path = "policy.escalation[" + std::to_string(index) + "]";
      check_keys(t, {"level", "roles", "supervision_units"}, path);
      EscalationLevel level;
      EscalationSource source;
      bool ok = true;
      if (auto n = get_integer(t, "level", path, true, "the ladder level, 0 and up")) {
        const toml::node& node = *t.get("level");
        if (*n < 0 || *n > 100) {
          error(node, path + ".level: must be between 0 and 100, got " + std::to_string(*n));
          ok = false;
        } else if (auto [it, inserted] = seen.emplace(static_cast<int>(*n), &node); !inserted) {
          error(node, path + ".level: level " + std::to_string(*n) + " is already defined at " +
                          position(*it->second));
          ok = false;
        }
        level.level = static_cast<int>(*n);
      } else {
        ok = false;
      }
      const auto roles = get_string_array(t, "roles", path, "roles " + quoted_list(kRoles));
      for (const auto& [role, node] : roles) {
        if (!contains(kRoles, role)) {
          error(*node, path + ".roles: unknown role " + quote(role) + " (expected " +
                           quoted_list(kRoles) + ")");
          continue;
        }
        level.roles.push_back(role);
      }
      const auto units = get_string_array(t, "supervision_units", path, "unit ids from [[units]]");
      for (const auto& [unit, node] : units) {
        level.supervision_units.push_back(unit);
        source.supervision_nodes.push_back(node);
      }
      const auto absent_or_array = [&](std::string_view key) {
        const toml::node* node = t.get(key);
        return node == nullptr || node->is_array();
      };
      if (roles.empty() && units.empty() && absent_or_array("roles") &&
          absent_or_array("supervision_units")) {
        error(t, path + ": reaches nobody; give roles, supervision_units or both");
      }
      if (ok) {
        out.push_back(std::move(level));
        sources.push_back(std::move(source));
      }
    }
    // Keep sources parallel to the sorted levels.
    std::vector<std::size_t> order(out.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return out[a].level < out[b].level; });
    std::vector<EscalationLevel> sorted;
    std::vector<EscalationSource> sorted_sources;
    for (std::size_t i : order) {
      sorted.push_back(std::move(out[i]));
      sorted_sources.push_back(std::move(sources[i]));
    }
    sources = std::move(sorted_sources);
    return sorted;
  }

  // Supervision units are checked against the roster after both are parsed.
  void check_supervision(const Config& config, const std::vector<EscalationSource>& sources) {
    pending_supervision_.clear();
    for (std::size_t i = 0; i < sources.size(); ++i) {
      const EscalationLevel& level = config.policy.escalation[i];
      for (std::size_t j = 0; j < level.supervision_units.size(); ++j) {
        pending_supervision_.push_back(
            {level.supervision_units[j], level.level, sources[i].supervision_nodes[j]});
      }
    }
  }

  void check_default_escalation(const Config& config) {
    pending_supervision_.clear();
    for (const EscalationLevel& level : config.policy.escalation) {
      for (const std::string& unit : level.supervision_units) {
        pending_supervision_.push_back({unit, level.level, nullptr});
      }
    }
  }

  void check_supervision_units(const Config& config) {
    if (config.units.empty()) return;  // already reported as an empty roster
    for (const PendingSupervision& s : pending_supervision_) {
      if (config.find_unit(s.unit) != nullptr) continue;
      if (s.node != nullptr) {
        error(*s.node, "policy.escalation: supervision unit " + quote(s.unit) + " of level " +
                           std::to_string(s.level) + " is not in the roster ([[units]])");
      } else {
        error_in_file("the default escalation sends level " + std::to_string(s.level) +
                      " alerts to the supervision unit " + quote(s.unit) +
                      ", which is not in the roster; add that unit to [[units]] or spell out "
                      "[[policy.escalation]]");
      }
    }
  }

  enum class StepField { at, action };

  // What is wrong with one ladder step under this policy's durations, if anything.
  static std::optional<std::pair<StepField, std::string>> step_problem(const LadderStep& step,
                                                                       const Policy& policy) {
    const std::string name(to_string(step.milestone));
    const std::string at = format_duration(step.offset);
    if (step.milestone == Milestone::follow_up) {
      if (step.offset.count() > 0) {
        return std::pair{StepField::at,
                         "follow_up steps count from the follow-up's due time, so they are 0 or "
                         "negative (like \"-2h\"), got " +
                             at};
      }
      if (-step.offset >= policy.follow_up_every) {
        return std::pair{StepField::at, at + " is not within one follow-up interval (every = " +
                                            format_duration(policy.follow_up_every) +
                                            ") before the due time"};
      }
    } else {
      const Duration deadline = step.milestone == Milestone::first_release
                                    ? policy.first_release_deadline
                                    : policy.press_conference_deadline;
      if (step.offset.count() < 0) {
        return std::pair{StepField::at, name +
                                            " steps count from the clock's start and must not be "
                                            "negative, got " +
                                            at};
      }
      if (step.offset > deadline) {
        return std::pair{StepField::at, at + " is after the " + name + " deadline (" +
                                            format_duration(deadline) +
                                            "); after a breach, overdue_every reminds instead"};
      }
    }
    const Duration deadline =
        step.milestone == Milestone::first_release      ? policy.first_release_deadline
        : step.milestone == Milestone::press_conference ? policy.press_conference_deadline
                                                        : Duration{0};
    switch (step.action) {
      case ActionKind::target_missed:
        if (step.milestone != Milestone::first_release) {
          return std::pair{StepField::action, name + " has no target, so no target_missed step"};
        }
        if (step.offset != policy.first_release_target) {
          return std::pair{StepField::action,
                           "target_missed must be at the first_release target (" +
                               format_duration(policy.first_release_target) + "), not at " + at};
        }
        break;
      case ActionKind::deadline_breached:
        if (step.offset != deadline) {
          return std::pair{StepField::action, "deadline_breached must be at the " + name +
                                                  " deadline (" + format_duration(deadline) +
                                                  "), not at " + at};
        }
        break;
      default:
        if (step.offset >= deadline) {
          return std::pair{StepField::action, "a warning must come before the " + name +
                                                  " deadline (" + format_duration(deadline) +
                                                  "), not at " + at};
        }
        break;
    }
    return std::nullopt;
  }

  std::vector<LadderStep> parse_ladder(const toml::array& rows, const Policy& policy,
                                       bool explicit_escalation) {
    std::vector<LadderStep> out;
    std::map<std::pair<Milestone, Duration::rep>, const toml::node*> seen;
    std::size_t index = 0;
    for (const toml::node& element : rows) {
      ++index;
      const toml::table& t = *element.as_table();
      const std::string path = "policy.ladder[" + std::to_string(index) + "]";
      check_keys(t, {"milestone", "at", "action", "level"}, path);
      LadderStep step;
      bool ok = true;
      if (auto m = get_string(t, "milestone", path, true,
                              "\"first_release\", \"press_conference\" or \"follow_up\"")) {
        if (auto milestone = parse_milestone(*m)) {
          step.milestone = *milestone;
        } else {
          error(*t.get("milestone"),
                path + ".milestone: unknown milestone " + quote(*m) +
                    " (expected \"first_release\", \"press_conference\" or \"follow_up\")");
          ok = false;
        }
      } else {
        ok = false;
      }
      if (const toml::node* node = t.get("at")) {
        if (auto d = to_duration(*node, path + ".at", Sign::any)) {
          step.offset = *d;
        } else {
          ok = false;
        }
      } else {
        missing(t, path, "at",
                "a duration from the clock's start, or from the follow-up's due "
                "time, like \"2h30m\" or \"-2h\"");
        ok = false;
      }
      if (auto a = get_string(t, "action", path, true,
                              "\"warning\", \"target_missed\" or \"deadline_breached\"")) {
        const auto kind = parse_action_kind(*a);
        if (kind == ActionKind::warning || kind == ActionKind::target_missed ||
            kind == ActionKind::deadline_breached) {
          step.action = *kind;
        } else {
          error(*t.get("action"),
                path + ".action: unknown ladder action " + quote(*a) +
                    " (expected \"warning\", \"target_missed\" or \"deadline_breached\")");
          ok = false;
        }
      } else {
        ok = false;
      }
      if (auto n = get_integer(t, "level", path, true, "the escalation level, 0 and up")) {
        const toml::node& node = *t.get("level");
        const auto& levels = policy.escalation;
        const bool known = std::any_of(levels.begin(), levels.end(),
                                       [&](const EscalationLevel& e) { return e.level == *n; });
        if (!known) {
          error(node, path + ".level: level " + std::to_string(*n) +
                          " has no [[policy.escalation]] entry" +
                          (explicit_escalation ? "" : " (the default escalation has levels 0-2)"));
          ok = false;
        }
        step.level = static_cast<int>(std::clamp<std::int64_t>(*n, 0, 100));
      } else {
        ok = false;
      }
      if (!ok) continue;
      if (auto problem = step_problem(step, policy)) {
        const toml::node& node = *t.get(problem->first == StepField::at ? "at" : "action");
        const std::string field = problem->first == StepField::at ? ".at: " : ".action: ";
        error(node, path + field + problem->second);
        continue;
      }
      const toml::node& at_node = *t.get("at");
      if (auto [it, inserted] =
              seen.emplace(std::pair{step.milestone, step.offset.count()}, &at_node);
          !inserted) {
        error(at_node, path + ".at: " + std::string(to_string(step.milestone)) +
                           " already has a step at " + format_duration(step.offset) + " (" +
                           position(*it->second) + ")");
        continue;
      }
      out.push_back(step);
    }
    return out;
  }

  // The default ladder is written for the default durations; if the administrator changed one of
  // them without spelling out a ladder, say so at the changed value rather than guess new rows.
  void check_default_ladder(const Policy& policy, const DurationNodes& nodes,
                            const toml::node* escalation_node) {
    for (const LadderStep& step : policy.ladder) {
      const toml::node* node = nullptr;
      std::string path;
      if (step.milestone == Milestone::press_conference) {
        node = nodes.press_conference_deadline;
        path = "policy.press_conference.deadline";
      } else if (step.milestone == Milestone::follow_up) {
        node = nodes.follow_up_every;
        path = "policy.follow_up.every";
      } else if (nodes.first_release_target == nullptr ||
                 (step.action == ActionKind::deadline_breached &&
                  nodes.first_release_deadline != nullptr)) {
        node = nodes.first_release_deadline;
        path = "policy.first_release.deadline";
      } else {
        node = nodes.first_release_target;
        path = "policy.first_release.target";
      }
      if (auto problem = step_problem(step, policy)) {
        const std::string message = "the default ladder does not fit this value (its " +
                                    std::string(to_string(step.milestone)) + " " +
                                    std::string(to_string(step.action)) + " step at " +
                                    format_duration(step.offset) + ": " + problem->second +
                                    "); spell out the ladder in [[policy.ladder]]";
        if (node != nullptr) {
          error(*node, std::string(path).append(": ").append(message));
        } else {
          error_in_file("policy: " + message);
        }
        return;
      }
      const auto& levels = policy.escalation;
      const bool known = std::any_of(levels.begin(), levels.end(), [&](const EscalationLevel& e) {
        return e.level == step.level;
      });
      if (!known && escalation_node != nullptr) {
        error(*escalation_node, "policy.escalation: the default ladder uses level " +
                                    std::to_string(step.level) +
                                    ", which has no [[policy.escalation]] entry");
        return;
      }
    }
  }

  void check_operators(const Config& config) {
    if (config.units.empty()) return;  // already reported as an empty roster
    for (const auto& [id, node] : pending_operators_) {
      if (config.find_person(id) == nullptr) {
        error(*node, "notify.operator: no person with id " + quote(id) + " in the roster");
      }
    }
  }

  struct PendingSupervision {
    std::string unit;
    int level = 0;
    const toml::node* node = nullptr;  // null for the default escalation
  };

  std::string source_name_;
  std::vector<Located> errors_;
  std::vector<PendingSupervision> pending_supervision_;
  std::vector<std::pair<std::string, const toml::node*>> pending_token_units_;
  std::vector<std::pair<std::string, const toml::node*>> pending_operators_;
  std::vector<const toml::node*> token_nodes_;  // the sha256 of each token in config.http.tokens
  const toml::node* link_secret_node_ = nullptr;
  // Files named by the configuration that the daemon reads at start (check_files).
  struct NamedFile {
    const toml::node* node;
    std::string key;
    std::string path;
    bool always;  // read whatever is enabled
  };
  std::vector<NamedFile> read_files_;
  std::map<std::string, const toml::node*, std::less<>> phones_;  // first use of each number
  ConfigChecks checks_;
};

}  // namespace

ConfigResult parse_config(std::string_view toml_text, std::string_view source_name,
                          const ConfigChecks& checks) {
  return ConfigParser(source_name, checks).run(toml_text);
}

SecretFile read_sms_callback_secret(const std::string& path) {
  SecretFile out;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.error = "cannot open \"" + path + "\": " + std::strerror(errno);
    return out;
  }
  std::ostringstream text;
  text << in.rdbuf();
  out.secret = text.str();
  while (!out.secret.empty() && std::isspace(static_cast<unsigned char>(out.secret.back())) != 0) {
    out.secret.pop_back();
  }
  const auto url_safe = [](unsigned char ch) {
    return std::isalnum(ch) != 0 || ch == '-' || ch == '.' || ch == '_' || ch == '~';
  };
  if (out.secret.size() < kMinSmsCallbackSecret ||
      !std::all_of(out.secret.begin(), out.secret.end(),
                   [&](char ch) { return url_safe(static_cast<unsigned char>(ch)); })) {
    out.error = "\"" + path + "\" must hold at least " + std::to_string(kMinSmsCallbackSecret) +
                " characters of A-Z a-z 0-9 - . _ ~ (make one with: openssl rand -hex 32 > FILE)";
    out.secret.clear();
  }
  return out;
}

ConfigResult load_config_file(const std::string& path, const ConfigChecks& checks) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigResult result;
    result.errors.push_back({path, std::string("cannot open the file: ") + std::strerror(errno)});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    ConfigResult result;
    result.errors.push_back({path, std::string("cannot read the file: ") + std::strerror(errno)});
    return result;
  }
  return parse_config(text.str(), path, checks);
}

const std::map<std::string, std::string>& managed_kafka_properties() {
  static const std::map<std::string, std::string> kManaged = {
      {"bootstrap.servers", "use kafka.brokers"},
      {"metadata.broker.list", "use kafka.brokers"},
      {"group.id", "use kafka.group"},
      {"enable.auto.commit", "offsets are committed with the dead letters, in one transaction"},
      {"enable.auto.offset.store", "offsets are committed with the dead letters"},
      {"transactional.id", "derived from kafka.group"},
      {"enable.idempotence", "the dead-letter producer is transactional"},
  };
  return kManaged;
}

}  // namespace incidentd
