// The parser of incidentd.toml: the walk over the document, how errors are located and sorted,
// typed access to keys with their messages, and the small top-level sections ([kafka], [ingest]).
// The larger sections have a file each (config_parser.hpp lists them).
#include "core/config_parser.hpp"

#include <date/tz.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <tuple>

#include "incidentd/url.hpp"

namespace incidentd::config_detail {

namespace {

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

}  // namespace

std::string quote(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

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

ConfigResult ConfigParser::run(std::string_view text) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(source_name_));
  } catch (const toml::parse_error& e) {
    error(e.source(), "TOML syntax error: " + std::string(e.description()));
    return finish(std::nullopt);
  }
  Config config;
  check_keys(root,
             {"timezone", "lang", "database", "kafka", "cluster", "http", "sms", "notify", "ingest",
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

void ConfigParser::error(const toml::source_region& at, std::string message) {
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

void ConfigParser::error(const toml::node& at, std::string message) {
  error(at.source(), std::move(message));
}

void ConfigParser::error_in_file(std::string message) {
  Located e;
  e.error.where = source_name_;
  e.error.message = std::move(message);
  errors_.push_back(std::move(e));
}

ConfigResult ConfigParser::finish(std::optional<Config> config) {
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

std::string ConfigParser::join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

void ConfigParser::check_keys(const toml::table& table,
                              std::initializer_list<std::string_view> allowed,
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

void ConfigParser::missing(const toml::table& table, std::string_view path, std::string_view key,
                           std::string_view what) {
  error(table,
        std::string(path) + ": missing " + std::string(key) + " (" + std::string(what) + ")");
}

void ConfigParser::wrong_type(const toml::node& node, const std::string& path,
                              std::string_view expected) {
  error(node,
        path + ": expected " + std::string(expected) + ", got " + std::string(a_type_name(node)));
}

const toml::table* ConfigParser::get_table(const toml::table& parent, std::string_view key,
                                           std::string_view parent_path) {
  const toml::node* node = parent.get(key);
  if (node == nullptr) return nullptr;
  if (const toml::table* t = node->as_table()) return t;
  wrong_type(*node, join(parent_path, key), "a table");
  return nullptr;
}

// An array of tables such as [[policy.ladder]]; an empty inline array is accepted too.
const toml::array* ConfigParser::get_table_array(const toml::table& parent, std::string_view key,
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

std::optional<std::string> ConfigParser::get_string(const toml::table& table, std::string_view key,
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

std::optional<std::int64_t> ConfigParser::get_integer(const toml::table& table,
                                                      std::string_view key, std::string_view path,
                                                      bool required, std::string_view what) {
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

std::optional<std::int64_t> ConfigParser::get_integer_in(const toml::table& table,
                                                         std::string_view key,
                                                         std::string_view path,
                                                         std::string_view what, std::int64_t lo,
                                                         std::int64_t hi) {
  const std::optional<std::int64_t> v = get_integer(table, key, path, false, what);
  if (!v) return std::nullopt;
  if (*v < lo || *v > hi) {
    error(*table.get(key), join(path, key) + ": must be " + std::to_string(lo) + " to " +
                               std::to_string(hi) + ", got " + std::to_string(*v));
    return std::nullopt;
  }
  return v;
}

// A boolean read into `out` when the key is present; a value of another type is reported.
void ConfigParser::read_bool(const toml::table& table, std::string_view key, std::string_view path,
                             bool& out) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return;
  if (const auto* b = node->as_boolean()) {
    out = b->get();
  } else {
    wrong_type(*node, join(path, key), "a boolean");
  }
}

std::optional<Duration> ConfigParser::to_duration(const toml::node& node, const std::string& path,
                                                  Sign sign) {
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
const toml::node* ConfigParser::read_duration(const toml::table& table, std::string_view key,
                                              std::string_view path, Duration& out, Duration min) {
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
std::vector<std::pair<std::string, const toml::node*>> ConfigParser::get_string_array(
    const toml::table& table, std::string_view key, std::string_view path, std::string_view what) {
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

void ConfigParser::parse_settings(const toml::table& root, Config& config) {
  parse_locale(root, config);
  if (auto db = get_string(root, "database", "", false, "the path of the SQLite database file")) {
    config.database = *db;
  }
  if (const toml::table* kafka = get_table(root, "kafka", "")) parse_kafka(*kafka, config.kafka);
  if (const toml::table* cluster = get_table(root, "cluster", "")) {
    parse_cluster(root, *cluster, config.cluster);
    check_cluster_topics(*cluster, config);
  }
  if (const toml::table* http = get_table(root, "http", "")) parse_http(*http, config.http);
  if (const toml::table* sms = get_table(root, "sms", "")) {
    parse_sms(*sms, config.sms);
    // Two listeners cannot share one address and port: the daemon would fail to bind. (No
    // callback_port is 0, and an API on port 0 takes a free port, never the callback's.)
    if (config.http.enabled && config.sms.callback_port != 0 &&
        config.sms.callback_port == config.http.port &&
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

// The time zone times are shown in, and the language of what people read (reports, statistics).
void ConfigParser::parse_locale(const toml::table& root, Config& config) {
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
}

void ConfigParser::parse_ingest(const toml::table& ingest, IngestSettings& out) {
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

void ConfigParser::parse_kafka(const toml::table& kafka, KafkaSettings& out) {
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
      if (auto it = managed_kafka_properties().find(name); it != managed_kafka_properties().end()) {
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

// What the configuration names outside itself, checked only when asked (check-config, the
// daemon's start): a report run by another user may not be able to read the daemon's keys.
void ConfigParser::check_files(const Config& config) {
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

}  // namespace incidentd::config_detail
