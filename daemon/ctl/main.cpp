// incidentctl: the operator's tool: simulate a scenario offline, check a configuration, and
// read the daemon's database (after-action reports, statistics, the timeline's hash chain).
#include <utility>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ctl/manual_commands.hpp"
#include "ctl/simulate.hpp"
#include "ctl/state_commands.hpp"
#include "ctl/timeline_text.hpp"
#include "http/ack_link.hpp"
#include "http/ctl_commands.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"
#include "report/check_db.hpp"
#include "report/report.hpp"
#include "report/stats.hpp"
#include "report/verify.hpp"
#include "store/sqlite_store.hpp"

namespace {

using incidentd::Config;

std::optional<Config> load_or_report(const std::string& path) {
  auto loaded = incidentd::load_config_file(path);
  for (const auto& e : loaded.errors) std::cerr << e.where << ": " << e.message << '\n';
  return std::move(loaded.config);
}

int run_simulate(const std::string& config_path, const std::string& scenario_path,
                 const std::string& until_text, const std::string& format) {
  auto config = load_or_report(config_path);
  if (!config) return 2;
  std::optional<incidentd::TimePoint> until;
  if (!until_text.empty()) {
    until = incidentd::parse_rfc3339(until_text);
    if (!until) {
      std::cerr << "--until: not an RFC 3339 instant with an offset: " << until_text << '\n';
      return 2;
    }
  }
  std::ifstream in(scenario_path);
  if (!in) {
    std::cerr << scenario_path << ": cannot open\n";
    return 2;
  }
  const auto scenario = incidentd::parse_scenario(in, *config);
  // Each action is printed as the engine takes it: a long scenario is not held in memory.
  const auto report = incidentd::run_simulation(*config, scenario, until, [&](const auto& action) {
    if (format == "text") {
      std::cout << incidentd::format_action_text(action, config->utc_offset) << '\n';
    } else {
      std::cout << incidentd::to_json(action, config->utc_offset).dump() << '\n';
    }
  });
  std::cout.flush();
  for (const auto& error : report.errors) std::cerr << scenario_path << ": " << error << '\n';
  // Bad lines are reported and skipped: the run itself succeeded.
  return 0;
}

int run_check_config(const std::string& path) {
  // Also what the daemon checks only when it starts: the ack link key must be there and usable.
  incidentd::ConfigChecks checks;
  checks.link_secret_file = [](const std::string& file) -> std::optional<std::string> {
    try {
      (void)incidentd::http::AckLinkSigner::from_file(file);
      return std::nullopt;
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
  };
  checks.readable_file = [](const std::string& file) -> std::optional<std::string> {
    std::ifstream in(file, std::ios::binary);
    if (!in) return "cannot read \"" + file + "\": " + std::strerror(errno);
    return std::nullopt;
  };
  auto loaded = incidentd::load_config_file(path, checks);
  for (const auto& e : loaded.errors) std::cerr << e.where << ": " << e.message << '\n';
  auto& config = loaded.config;
  if (!config) return 1;
  std::size_t people = 0;
  for (const auto& unit : config->units) people += unit.people.size();
  std::cout << path << ": OK (" << config->units.size() << " units, " << people << " people, "
            << config->policy.ladder.size() << " ladder steps)\n";
  return 0;
}

// ---- reading the daemon's database ----------------------------------------------------------

constexpr const char* kDefaultConfig = "/etc/incidentd/incidentd.toml";

// Where the database is and what configuration (roster, time zone, policy) goes with it:
// --database wins over the configuration's `database`; --config defaults to kDefaultConfig when
// that file exists.
struct Source {
  std::string config_path;
  std::string database;
  bool full = false;
  std::string format = "text";
  std::string output;
  std::string lang;  // empty: the configuration's `lang` (Chinese by default)

  std::optional<Config> config;
  bool roster = false;  // a configuration was loaded (names, roles)

  bool resolve() {
    std::string path = config_path;
    if (path.empty() && std::filesystem::exists(kDefaultConfig)) path = kDefaultConfig;
    if (!path.empty()) {
      config = load_or_report(path);
      if (!config) return false;
      roster = true;
    } else {
      config.emplace();  // defaults: Asia/Shanghai, the contract's policy, no roster
    }
    if (database.empty()) {
      if (!roster) {
        std::cerr << "no database: give --database PATH or --config FILE (" << kDefaultConfig
                  << " does not exist)\n";
        return false;
      }
      database = config->database;
    }
    return true;
  }

  std::optional<incidentd::report::Format> parsed_format() const {
    return incidentd::report::parse_format(format);
  }

  incidentd::report::Lang parsed_lang() const {
    // --lang is checked by CLI11; the configuration's value by the configuration loader.
    return incidentd::report::parse_lang(lang.empty() ? config->lang : lang)
        .value_or(incidentd::report::Lang::zh);
  }
};

// SOURCE_DATE_EPOCH (the reproducible-builds convention) fixes the "generated" instant, so the
// same database gives byte-identical reports.
incidentd::TimePoint generated_at() {
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch != nullptr && *epoch != 0) {
    char* end = nullptr;
    const long long seconds = std::strtoll(epoch, &end, 10);
    if (end != nullptr && *end == 0) {
      return incidentd::TimePoint(std::chrono::seconds(seconds));
    }
  }
  return std::chrono::time_point_cast<incidentd::Duration>(std::chrono::system_clock::now());
}

int write_output(const std::string& path, const std::string& text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    std::cout.flush();
    return std::cout ? 0 : 1;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::cerr << path << ": cannot write\n";
    return 1;
  }
  return 0;
}

int run_report(Source& src, const std::string& key) {
  if (!src.resolve()) return 2;
  const auto format = src.parsed_format();
  incidentd::SqliteStore store(src.database, incidentd::SqliteStore::Mode::read_only);
  incidentd::report::ReportOptions options;
  options.full = src.full;
  options.config = &*src.config;
  options.roster = src.roster;
  options.generated_at = generated_at();
  options.database = src.database;
  options.lang = src.parsed_lang();
  if (!src.roster) {
    std::cerr << "incidentctl: no configuration given: people are shown as \"person N in "
                 "<unit>\", times in Asia/Shanghai\n";
  }
  const auto report = incidentd::report::build_incident_report(store, key, options);
  return write_output(src.output, incidentd::report::render_report(report, *format));
}

int run_stats(Source& src, incidentd::report::StatsQuery query, const std::string& by) {
  if (!src.resolve()) return 2;
  const auto group = incidentd::report::parse_group_by(by);
  query.by = *group;
  query.generated_at = generated_at();
  query.lang = src.parsed_lang();
  incidentd::SqliteStore store(src.database, incidentd::SqliteStore::Mode::read_only);
  const auto stats = incidentd::report::compute_stats(store, query, *src.config);
  return write_output(src.output, incidentd::report::render_stats(stats, *src.parsed_format()));
}

int run_verify(Source& src) {
  if (!src.resolve()) return 2;
  incidentd::SqliteStore store(src.database, incidentd::SqliteStore::Mode::read_only);
  // A second connection: the file's two halves are checked on two threads.
  incidentd::SqliteStore second(src.database, incidentd::SqliteStore::Mode::read_only);
  const auto result = incidentd::report::verify_chain(store, &second);
  if (!result.intact) {
    for (const incidentd::report::ChainBreak& b : result.breaks) {
      std::cout << src.database << ": TAMPERED: " << b.kind << " at seq " << b.seq << ": "
                << b.detail << '\n';
    }
    if (result.breaks_found > result.breaks.size()) {
      std::cout << src.database << ": ... and " << result.breaks_found - result.breaks.size()
                << " more breaks\n";
    }
    std::cout << src.database << ": " << result.breaks_found << " breaks in " << result.rows
              << " rows read (" << result.chains << " incident chains)\n";
    return 1;
  }
  if (!result.head) {
    std::cout << src.database << ": intact: the timeline is empty\n";
    return 0;
  }
  // Only what every replica of a cluster holding the same rows prints alike: the file's own last
  // row (its seq, its hash) depends on the order the replica applied them in.
  std::cout << src.database << ": intact: " << result.chains << " incident chains, " << result.rows
            << " rows; heads digest sha256 " << result.heads_digest << '\n';
  for (const incidentd::ChainRewrite& r : result.rewrites) {
    std::cout << src.database << ": rewritten "
              << incidentd::format_rfc3339(r.at, std::chrono::minutes{0}) << " (" << r.reason
              << "): " << r.rows_changed << " rows changed; head before seq " << r.old_head.seq
              << " sha256 " << r.old_head.hash << ", after sha256 " << r.new_head_hash << '\n';
  }
  return 0;
}

int run_check_db(Source& src) {
  if (!src.resolve()) return 2;
  const auto result = incidentd::report::check_database(src.database);
  const std::string text = src.format == "json" ? incidentd::report::render_db_check_json(result)
                                                : incidentd::report::render_db_check_text(result);
  const int written = write_output(src.output, text);
  if (written != 0) return written;
  return result.ok() ? 0 : 1;
}

void add_source_options(CLI::App* cmd, Source& src) {
  cmd->add_option("--config", src.config_path,
                  std::string("configuration: database path, roster, time zone (default ") +
                      kDefaultConfig + " when it exists)");
  cmd->add_option("--database", src.database, "the daemon's SQLite database (overrides --config)");
}

void add_format_options(CLI::App* cmd, Source& src) {
  cmd->add_option("--format", src.format, "text, markdown, json, csv or html")
      ->check(CLI::IsMember({"text", "markdown", "json", "csv", "html"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", src.output, "write to this file instead of stdout");
  cmd->add_option("--lang", src.lang,
                  "zh (Simplified Chinese) or en; default: the configuration's `lang`, else zh")
      ->check(CLI::IsMember({"zh", "en"}));
}

// The subcommands declared here, and the options CLI11 fills in for each: they stay in place
// (CLI11 holds references into them) from the parse to the run.
struct LocalCommands {
  CLI::App* simulate = nullptr;
  std::string config_path;
  std::string scenario_path;
  std::string until;
  std::string format = "json";

  CLI::App* check = nullptr;
  std::string check_path;

  CLI::App* report = nullptr;
  Source report_src;
  std::string report_key;

  CLI::App* stats = nullptr;
  Source stats_src;
  incidentd::report::StatsQuery stats_query;
  std::string stats_by = "none";

  CLI::App* verify = nullptr;
  Source verify_src;

  CLI::App* check_db = nullptr;
  Source check_db_src;
};

void add_simulate(CLI::App& app, LocalCommands& c) {
  c.simulate = app.add_subcommand(
      "simulate", "Run the real engine offline on a virtual clock; print actions as JSON lines");
  c.simulate->add_option("--config", c.config_path, "configuration file")->required();
  c.simulate->add_option("scenario", c.scenario_path, "scenario file (JSON lines)")->required();
  c.simulate->add_option("--format", c.format, "json (the contract: one action per line) or text")
      ->check(CLI::IsMember({"json", "text"}))
      ->capture_default_str();
  c.simulate->add_option("--until", c.until,
                         "stop at this RFC 3339 instant (default: 48 h after the last line)");
}

void add_check_config(CLI::App& app, LocalCommands& c) {
  c.check = app.add_subcommand("check-config", "Validate a configuration file");
  c.check->add_option("file", c.check_path, "configuration file")->required();
}

void add_report(CLI::App& app, LocalCommands& c) {
  c.report = app.add_subcommand(
      "report", "After-action report of one incident, from the daemon's database (read-only)");
  c.report->add_option("incident_key", c.report_key, "the incident's key")->required();
  add_source_options(c.report, c.report_src);
  add_format_options(c.report, c.report_src);
  c.report->add_flag("--full", c.report_src.full,
                     "show names and phone numbers (the report says so); default: de-identified");

  c.stats = app.add_subcommand(
      "stats", "Accountability statistics over incidents whose clock started in a date range");
  c.stats->add_option("--from", c.stats_query.from, "first date, YYYY-MM-DD (configured time zone)")
      ->required();
  c.stats->add_option("--to", c.stats_query.to, "last date, YYYY-MM-DD, inclusive")->required();
  c.stats->add_option("--by", c.stats_by, "group by unit, region, level or quarter")
      ->check(CLI::IsMember({"none", "unit", "region", "level", "quarter"}))
      ->capture_default_str();
  c.stats->add_flag("--include-drills", c.stats_query.include_drills, "count drills too");
  add_source_options(c.stats, c.stats_src);
  add_format_options(c.stats, c.stats_src);
}

void add_database_checks(CLI::App& app, LocalCommands& c) {
  c.verify = app.add_subcommand(
      "verify",
      "Check the timeline's hash chain; exit 1 naming the first altered, inserted or "
      "removed entry");
  add_source_options(c.verify, c.verify_src);

  c.check_db = app.add_subcommand(
      "check-db",
      "Check that the database agrees with itself (snapshots and timeline, outbox, deadlines, "
      "processed ids, hash chain); exit 1 when a check fails");
  add_source_options(c.check_db, c.check_db_src);
  c.check_db->add_option("--format", c.check_db_src.format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  c.check_db->add_option("-o,--output", c.check_db_src.output,
                         "write to this file instead of stdout");
}

// The exit code of the local subcommand that was given; nullopt: none of them was.
std::optional<int> run_local(LocalCommands& c) {
  if (*c.simulate) return run_simulate(c.config_path, c.scenario_path, c.until, c.format);
  if (*c.check) return run_check_config(c.check_path);
  if (*c.report) return run_report(c.report_src, c.report_key);
  if (*c.stats) return run_stats(c.stats_src, c.stats_query, c.stats_by);
  if (*c.verify) return run_verify(c.verify_src);
  if (*c.check_db) return run_check_db(c.check_db_src);
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"incidentctl: operate and inspect incidentd"};
  app.require_subcommand(1);

  LocalCommands local;
  add_simulate(app, local);
  add_check_config(app, local);
  add_report(app, local);
  add_database_checks(app, local);
  // ack, confirm: through the daemon's HTTP API (docs/http-api.md).
  const incidentd::http::ApiCommands api_commands(app);
  // list, show, watch: the state, from the API or the database (docs/man/incidentctl.1).
  const incidentd::ctl::StateCommands state_commands(app);
  // open, close, level: incidents entered by hand, published to the events topic.
  const incidentd::ctl::ManualCommands manual_commands(app);

  CLI11_PARSE(app, argc, argv);
  try {
    if (auto code = api_commands.run()) return *code;
    if (auto code = state_commands.run()) return *code;
    if (auto code = manual_commands.run()) return *code;
    if (auto code = run_local(local)) return *code;
  } catch (const incidentd::report::ReportError& e) {
    std::cerr << "incidentctl: " << e.what() << '\n';
    return 1;
  } catch (const incidentd::StoreError& e) {
    std::cerr << "incidentctl: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "incidentctl: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
