#include "ctl/state_commands.hpp"

#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "ctl/state_text.hpp"
#include "http/client.hpp"
#include "http/ctl_commands.hpp"
#include "incidentd/codec.hpp"
#include "incidentd/config.hpp"
#include "incidentd/incident_view.hpp"
#include "store/sqlite_store.hpp"

namespace incidentd::ctl {

using nlohmann::json;

struct StateCommands::Options {
  CLI::App* list = nullptr;
  CLI::App* show = nullptr;
  CLI::App* watch = nullptr;
  std::string url = "http://127.0.0.1:8480";
  std::string token_file;
  std::string ca_file;
  std::string database;
  std::string config_path;
  std::string format = "text";
  std::string lang = "zh";
  std::string now;  // tests: a fixed clock
  bool all = false;
  std::string incident_key;
};

namespace {

// A read that could not be done: exit 1 (refused, unknown) or 2 (not reached).
struct ReadError : std::runtime_error {
  ReadError(int exit_code, const std::string& what) : std::runtime_error(what), code(exit_code) {}
  int code;
};

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) {
  g_stop = 1;
}
volatile std::sig_atomic_t g_tick = 0;
extern "C" void on_tick(int) {
  g_tick = 1;
}

TimePoint clock_now(const StateCommands::Options& o) {
  if (!o.now.empty()) {
    const auto fixed = parse_rfc3339(o.now);
    if (!fixed) throw ReadError(2, "--now: not an RFC 3339 instant with an offset: " + o.now);
    return *fixed;
  }
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

// The roster and time zone that go with a database: --config when given, else the defaults
// (Asia/Shanghai, names left out).
Config database_config(const StateCommands::Options& o) {
  if (o.config_path.empty()) return Config{};
  auto loaded = load_config_file(o.config_path);
  if (!loaded.config) {
    std::string errors;
    for (const auto& e : loaded.errors) errors += "\n  " + e.where + ": " + e.message;
    throw ReadError(2, o.config_path + ": not a valid configuration:" + errors);
  }
  return std::move(*loaded.config);
}

json from_database_list(const StateCommands::Options& o, TimePoint now) {
  const Config config = database_config(o);
  SqliteStore store(o.database, SqliteStore::Mode::read_only);
  json incidents = json::array();
  for (const IncidentState& s : o.all ? store.load_all_incidents() : store.load_open_incidents()) {
    const std::vector<Action> timeline = store.timeline(s.key);
    incidents.push_back(incident_view(s, config, now, &timeline));
  }
  return {{"incidents", std::move(incidents)}};
}

json from_database_show(const StateCommands::Options& o, TimePoint now) {
  const Config config = database_config(o);
  SqliteStore store(o.database, SqliteStore::Mode::read_only);
  const auto state = store.load_incident(o.incident_key);
  if (!state) throw ReadError(1, "no incident \"" + o.incident_key + "\" in " + o.database);
  const std::vector<Action> timeline = store.timeline(o.incident_key);
  json j = incident_view(*state, config, now, &timeline);
  json actions = json::array();
  for (const Action& a : timeline) actions.push_back(to_json(a, config.utc_offset));
  j["timeline"] = std::move(actions);
  return j;
}

http::ClientRequest api_request(const StateCommands::Options& o, std::string target) {
  http::ClientRequest r;
  r.base_url = o.url;
  r.target = std::move(target);
  r.ca_file = o.ca_file;
  try {
    r.bearer_token = http::read_token(o.token_file);
  } catch (const std::runtime_error& e) {
    throw ReadError(2, e.what());
  }
  return r;
}

json from_api(const StateCommands::Options& o, const std::string& target) {
  http::ClientReply reply;
  try {
    reply = http::send_request(api_request(o, target));
  } catch (const std::runtime_error& e) {
    throw ReadError(2, e.what());
  }
  if (reply.status != 200) {
    throw ReadError(1, "the API answered " + std::to_string(reply.status) + ": " + reply.body);
  }
  json j = json::parse(reply.body, nullptr, false);
  if (j.is_discarded()) throw ReadError(2, "the API's answer is not JSON");
  return j;
}

TextOptions text_options(const StateCommands::Options& o) {
  TextOptions t;
  t.lang = o.lang == "en" ? Lang::en : Lang::zh;
  t.color = isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr;
  return t;
}

int run_list(const StateCommands::Options& o) {
  const TimePoint now = clock_now(o);
  const json list = o.database.empty()
                        ? from_api(o, o.all ? "/v1/incidents?all=1" : "/v1/incidents")
                        : from_database_list(o, now);
  if (o.format == "json") {
    std::cout << list.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  } else {
    std::cout << render_list(list, now, text_options(o));
  }
  return 0;
}

int run_show(const StateCommands::Options& o) {
  const TimePoint now = clock_now(o);
  const json incident = o.database.empty()
                            ? from_api(o, "/v1/incidents/" + http::path_segment(o.incident_key))
                            : from_database_show(o, now);
  if (o.format == "json") {
    std::cout << incident.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  } else {
    std::cout << render_show(incident, now, text_options(o));
  }
  return 0;
}

// The terminal as `watch` found it comes back however it ends.
class Screen {
 public:
  explicit Screen(bool tty) : tty_(tty) {
    if (tty_) std::cout << "\x1b[?1049h\x1b[?25l" << std::flush;  // alternate screen, no cursor
  }
  ~Screen() {
    if (tty_) std::cout << "\x1b[?25h\x1b[?1049l" << std::flush;
  }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;

  void draw(const std::string& text) {
    if (tty_) {
      std::cout << "\x1b[H\x1b[2J" << text << std::flush;
    } else {
      std::cout << text << '\n' << std::flush;  // a pipe gets each view in turn
    }
  }

 private:
  bool tty_;
};

// SIGINT and SIGTERM end the watch; SIGALRM every second redraws the countdowns. The stream's
// reader looks at their flags while it waits; a sleep between reconnections is cut short by them
// (no SA_RESTART).
void install_watch_signals() {
  struct sigaction stop {};
  stop.sa_handler = on_stop_signal;
  sigemptyset(&stop.sa_mask);
  sigaction(SIGINT, &stop, nullptr);
  sigaction(SIGTERM, &stop, nullptr);
  struct sigaction tick {};
  tick.sa_handler = on_tick;
  sigemptyset(&tick.sa_mask);
  sigaction(SIGALRM, &tick, nullptr);
  itimerval every_second{{1, 0}, {1, 0}};
  setitimer(ITIMER_REAL, &every_second, nullptr);
}

void stop_ticks() {
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
}

// No stream without the daemon: read the file again every 2 s, until a signal stops it.
void poll_database(const StateCommands::Options& o, const std::function<void(json)>& show) {
  while (g_stop == 0) {
    show(from_database_list(o, clock_now(o)));
    for (int i = 0; i < 2 && g_stop == 0; ++i) ::sleep(1);  // a signal cuts it short
  }
}

// One server-sent event: its name, and its data lines joined.
struct StreamEvent {
  std::string name;
  std::string data;
};

StreamEvent parse_event(const std::string& block) {
  StreamEvent event;
  std::size_t at = 0;
  while (at < block.size()) {
    const auto nl = block.find('\n', at);
    const std::string line = block.substr(at, nl == std::string::npos ? nl : nl - at);
    if (line.rfind("event: ", 0) == 0) event.name = line.substr(7);
    if (line.rfind("data: ", 0) == 0) event.data += line.substr(6);
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return event;
}

int run_watch(const StateCommands::Options& o) {
  const TextOptions text = text_options(o);
  const bool tty = isatty(STDOUT_FILENO) == 1;
  g_stop = 0;
  install_watch_signals();
  Screen screen(tty);
  json list = {{"incidents", json::array()}};
  std::string status_line = std::string(word("waiting", text.lang));
  bool have_list = false;
  const auto redraw = [&] {
    if (!tty && !have_list && status_line.empty()) return;  // a pipe: no waiting line
    screen.draw(render_watch(list, clock_now(o), text, status_line));
  };
  const auto finish = [&] {
    stop_ticks();
    return 0;
  };

  if (!o.database.empty()) {
    poll_database(o, [&](json fresh) {
      list = std::move(fresh);
      have_list = true;
      status_line.clear();
      redraw();
    });
    return finish();
  }

  http::ClientRequest request = api_request(o, "/v1/stream");
  std::string pending;  // bytes of an event not yet complete
  std::string source_line;
  const auto on_bytes = [&](std::string_view bytes) {
    pending.append(bytes);
    for (auto end = pending.find("\n\n"); end != std::string::npos; end = pending.find("\n\n")) {
      const std::string block = pending.substr(0, end);
      pending.erase(0, end + 2);
      const auto [name, data] = parse_event(block);
      const json j = json::parse(data, nullptr, false);
      if (name == "incidents" && !j.is_discarded()) {
        list = j;
        have_list = true;
      } else if (name == "status" && !j.is_discarded()) {
        source_line = j.value("source_silent", false)
                          ? source_silent_line(j.value("since", json()), text.lang)
                          : std::string();
      }
      status_line = source_line;
      if (!name.empty()) redraw();
    }
    return g_stop == 0;
  };
  const auto keep_going = [&] {
    if (g_stop != 0) return false;
    if (tty && g_tick != 0) redraw();  // each second: countdowns move on a screen; a pipe gets
    g_tick = 0;                        // changes only
    return true;
  };
  while (g_stop == 0) {
    http::StreamEnd end;
    try {
      pending.clear();
      end = http::stream_request(request, on_bytes, keep_going);
    } catch (const std::runtime_error&) {
      end = {};  // not reached: try again below
    }
    if (g_stop != 0) break;
    if (end.status == 401 || end.status == 403) {
      stop_ticks();
      throw ReadError(1, "the API answered " + std::to_string(end.status) + ": " + end.body);
    }
    status_line = std::string(word("lost", text.lang));
    redraw();
    for (int i = 0; i < 2 && g_stop == 0; ++i) ::sleep(1);
  }
  return finish();
}

}  // namespace

StateCommands::StateCommands(CLI::App& app) : options_(std::make_unique<Options>()) {
  Options& o = *options_;
  const auto add_common = [&o](CLI::App* cmd) {
    cmd->add_option("--url", o.url, "the daemon's API")->capture_default_str();
    cmd->add_option("--token-file", o.token_file,
                    "file holding the API token (default: $INCIDENTD_TOKEN)");
    cmd->add_option("--ca-file", o.ca_file, "https: trust this CA instead of the system's");
    cmd->add_option("--database", o.database,
                    "read this SQLite database (read-only) instead of the API");
    cmd->add_option("--config", o.config_path,
                    "with --database: the configuration for names and the time zone");
    cmd->add_option("--lang", o.lang, "zh (default) or en")
        ->check(CLI::IsMember({"zh", "en"}))
        ->capture_default_str();
    cmd->add_option("--now", o.now, "pretend it is this RFC 3339 instant (tests)")
        ->group("");  // hidden: for golden tests
  };
  o.list = app.add_subcommand("list", "The open incidents: next step, countdown, milestones");
  add_common(o.list);
  o.list->add_flag("--all", o.all, "closed incidents too");
  o.list->add_option("--format", o.format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  o.show = app.add_subcommand(
      "show", "One incident: its clock, who was told and acknowledged, what is still to come");
  add_common(o.show);
  o.show->add_option("incident_key", o.incident_key, "the incident's key")->required();
  o.show->add_option("--format", o.format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  o.watch = app.add_subcommand("watch", "A live view of the open incidents (Ctrl-C to quit)");
  add_common(o.watch);
}

StateCommands::~StateCommands() = default;

std::optional<int> StateCommands::run() const {
  const Options& o = *options_;
  try {
    if (*o.list) return run_list(o);
    if (*o.show) return run_show(o);
    if (*o.watch) return run_watch(o);
  } catch (const ReadError& e) {
    std::cerr << "incidentctl: " << e.what() << '\n';
    return e.code;
  } catch (const StoreError& e) {
    std::cerr << "incidentctl: " << e.what() << '\n';
    return 2;
  }
  return std::nullopt;
}

}  // namespace incidentd::ctl
