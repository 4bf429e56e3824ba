#include "incidentd/daemon.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "asio/asio_time.hpp"
#include "ctl/timeline_text.hpp"
#include "http/ack_link.hpp"
#include "http/api.hpp"
#include "http/board.hpp"
#include "http/server.hpp"
#include "http/sms_callback.hpp"
#include "incidentd/config_snapshot.hpp"
#include "incidentd/disk_full.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/forwarded_input.hpp"
#include "incidentd/reply_code_store.hpp"
#include "incidentd/scaled_time.hpp"
#include "kafka/ingest.hpp"
#include "kafka/kafka_client.hpp"
#include "kafka/state_changelog.hpp"
#include "notify/message.hpp"
#include "notify/notify_service.hpp"
#include "notify/sms_service.hpp"
#include "notify/source_heartbeat.hpp"
#include "service/notifier.hpp"
#include "service/reload.hpp"
#include "service/status.hpp"
#include "service/watchdog.hpp"
#include "store/db_file_check.hpp"
#include "store/sqlite_store.hpp"

namespace incidentd {

namespace {

using namespace std::chrono_literals;

// After SIGTERM the consumer gets this long to finish its batch and commit; past it (a broker
// that does not answer) the daemon exits anyway: what it handled is durable in SQLite, and the
// uncommitted messages come again and are deduplicated.
constexpr auto kShutdownGrace = 40s;

// How often the daemon records that it is alive: an outage after a crash is known to this much.
constexpr auto kHeartbeatEvery = 5s;
// POST /v1/incidents answers 503 when the broker has not taken the event by then.
constexpr auto kPublishTimeout = 10s;

std::string format_scale(double factor) {
  if (factor == std::floor(factor)) return std::to_string(static_cast<long long>(factor));
  return std::to_string(factor);
}

// Refuses a scaled clock on a database with live incidents: their real deadlines would fire at
// drill speed.
void check_drill_database(SqliteStore& store) {
  std::size_t live = 0;
  std::string example;
  for (const auto& s : store.load_open_incidents()) {
    if (s.drill) continue;
    ++live;
    if (example.empty()) example = s.key;
  }
  if (live == 0) return;
  throw StartRefused(
      fmt::format("--time-scale refused: the database holds {} open live (non-drill) "
                  "incident(s), e.g. \"{}\", whose deadlines would run at drill speed; run drills "
                  "on their own database (--database)",
                  live, example));
}

// The engine is ahead of the database: restart from the database (systemd).
[[noreturn]] void exit_for_restart(const std::exception& e) {
  spdlog::critical("incidentd: {}", e.what());
  std::_Exit(1);
}

// What a store failure other than a full disk does to the writer that met it.
enum class IfNotFull {
  exit,  // the engine is ahead of the database: exit_for_restart
  warn,  // nothing was lost (the heartbeat: a later outage would merely start earlier)
};

}  // namespace

// The parts, in the order they are built and started: each needs only those above it. The
// loop comes first and goes last, since every timer and socket below is bound to it; the clocks
// before the store, whose start marker they date; the store before the engine, which loads its
// open incidents from it; the engine before everything that feeds it (SMS replies, the API,
// Kafka) or reads what it decided (the dispatcher); the reload and the signals last, since they
// reach into all of these. Torn down in reverse, nothing outlives what it points to.
struct Daemon::Parts {
  Parts(Config c, const DaemonOptions& o);

  // One path for a failed store write (docs/reliability.md): a full disk pauses the daemon,
  // which retries the write; anything else is as `if_not_full` says.
  void store_failed(const StoreError& e, IfNotFull if_not_full);

  void open_run();
  void beat();
  void start_engine();
  void start_notify();
  IngestOptions ingest_options();
  void serve_sms_replies(http::Server& server);
  void start_sms_listener();
  void start_publisher();
  void forward_input(const std::string& key, const std::string& value,
                     std::function<void(const PublishResult&)> done);
  void forward_sms_replies();
  void forward_api_inputs(http::ApiContext& api);
  http::ApiContext api_context();
  void start_http();
  void start_source_heartbeat();
  void apply_reload(const Config& next);
  void start_file_check();
  void file_checked(const std::optional<DatabaseFileProblem>& problem, double seconds);
  void begin_stop();
  void on_signal(const boost::system::error_code& ec, int signal);
  void force_exit(const boost::system::error_code& ec);
  int run();

  const DaemonOptions options;
  const std::optional<double> scale;
  // The configuration as started: what is bound at start-up (database, [kafka], [http], [sms],
  // [notify], timezone) is read from here, once, while the parts are built.
  const std::shared_ptr<const Config> started;
  const Config& config = *started;
  // What the parts read at run time (the roster): a reload publishes a new snapshot here and
  // each part picks it up at its next step (a dispatcher pass, a message's text, an API
  // request, a heartbeat notice). The engine and the consumer keep copies of their own.
  ConfigSnapshots snapshots{started};

  boost::asio::io_context io;
  Notifier notifier;
  WatchdogPinger watchdog{io, notifier};
  std::unique_ptr<LoopHangHookForTest> hang_hook;
  AsioTimeSystem real_time{io};
  std::optional<ScaledTimeSystem> drill_time;
  TimeSystem& time;  // the drill's clock, else the real one

  SqliteStore store;
  // [cluster] on: every change the engine and the dispatcher commit, queued as change records
  // for the state topic (docs/cluster.md, "The state topic"); the two write through these.
  std::unique_ptr<StateChangelog> changelog;
  std::unique_ptr<ChangelogStore> changelog_store;
  std::unique_ptr<ChangelogOutbox> changelog_outbox;
  Store& engine_store() { return changelog_store ? static_cast<Store&>(*changelog_store) : store; }
  NotificationOutbox& outbox() {
    return changelog_outbox ? static_cast<NotificationOutbox&>(*changelog_outbox) : store;
  }
  // The proof of life the next start measures an outage from.
  boost::asio::steady_timer heartbeat{io};
  Engine engine;
  // A full database disk pauses the daemon instead of ending it (docs/reliability.md); every
  // writer hands its StoreFullError here (store_failed).
  DiskFullPause disk_full;
  std::uint64_t deadline_breaches = 0;  // for GET /metrics

  // One-click ack links (docs/http-api.md) need the API to open them, the key to sign them and
  // the public URL to put in front; without all three, notifications carry none.
  std::optional<http::AckLinkSigner> ack_links;
  AckLinkMaker link_maker;
  // The outbox dispatcher sends what the engine decided (docs/notifications.md): by SMS when
  // [sms] is on, by webhook to whoever has one; texts from the Chinese templates, each with its
  // ack link. Answers to SMS replies are retried on the real clock, also in a drill.
  std::unique_ptr<ReplyCodeStore> reply_codes;  // on the store's connection; outlives sms
  std::optional<SmsService> sms;
  std::optional<MessageTemplates> templates;
  std::optional<NotifyService> notify;

  // The loop must keep turning while the consumer waits for Kafka, timers or not.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work;
  Ingest::PostToLoop post_to_loop;
  bool subscribed = false;  // GET /readyz
  bool ingest_ok = true;
  std::optional<Ingest> ingest;
  std::optional<StatusReporter> status;

  std::optional<http::Server> sms_listener;  // [sms] callback_port: its own slots
  // Incidents entered by hand through the API go to the events topic like any other event, and
  // in a cluster, inputs for incidents another instance owns go to the inputs topic; the
  // dead-letter producer is transactional and the consumer thread's, so this one is apart.
  std::optional<EventPublisher> publisher;
  // Whether this instance owns an incident (docs/cluster.md, "Ownership"): the engine's
  // predicate. Unset (a single instance, or until the cluster's ownership is wired): every one.
  Engine::Owns owns_incident;
  bool owns(const std::string& key) const { return !owns_incident || owns_incident(key); }
  // The HTTP API (docs/http-api.md) on this loop: its handlers call the engine directly.
  std::optional<http::Server> http_server;
  std::optional<http::ApiControl> api_control;  // SIGHUP replaces the tokens
  std::optional<SourceHeartbeat> source_heartbeat;

  // PRAGMA quick_check of the whole file, on a thread of its own once the clock runs
  // (docs/reliability.md, "A damaged database file"); damage found stops the daemon (exit 2).
  std::optional<FullFileCheck> file_check;
  bool file_damaged = false;

  std::optional<ConfigReloader> reloader;
  std::optional<SighupReload> sighup;
  boost::asio::steady_timer shutdown_timer{io};
  bool stopping = false;
  boost::asio::signal_set signals{io, SIGINT, SIGTERM};
};

Daemon::Parts::Parts(Config c, const DaemonOptions& o)
    : options(o),
      scale(o.time_scale > 0 ? std::optional<double>(o.time_scale) : std::nullopt),
      started(std::make_shared<const Config>(std::move(c))),
      // The watchdog's first ping goes out at once, before the store opens: the start-up below
      // runs before the loop that pings it.
      hang_hook((watchdog.start(), LoopHangHookForTest::install_if_requested(io))),
      drill_time(scale ? std::optional<ScaledTimeSystem>(std::in_place, real_time, *scale)
                       : std::nullopt),
      time(drill_time ? static_cast<TimeSystem&>(*drill_time) : real_time),
      store(config.database),
      changelog(config.cluster.enabled() ? std::make_unique<StateChangelog>() : nullptr),
      changelog_store(changelog ? std::make_unique<ChangelogStore>(store, *changelog) : nullptr),
      changelog_outbox(changelog ? std::make_unique<ChangelogOutbox>(store, *changelog) : nullptr),
      engine((open_run(), config), engine_store(),
             time),  // the start marker before the engine loads
      disk_full(engine, real_time, [this] { store.heartbeat(time.now()); }),
      work(boost::asio::make_work_guard(io)),
      post_to_loop([this](std::function<void()> fn) { boost::asio::post(io, std::move(fn)); }) {
  beat();
  start_engine();
  start_notify();
  ingest.emplace(config, engine, post_to_loop, ingest_options());
  status.emplace(io, notifier, [this] {
    return ServiceStatus{engine.open_incidents(), engine.pending_deadlines(), ingest->stats().lag,
                         disk_full.reason()};
  });
  disk_full.on_change([this](bool paused) {
    status->refresh();
    // The dispatcher claims a row in the database before it sends it, which a full disk
    // refuses: it waits too (its results not yet recorded are kept for its first pass), and
    // what the pause held back goes out once it is written.
    if (paused) {
      notify->stop();
    } else {
      notify->start();
    }
  });
  start_sms_listener();
  start_publisher();
  start_http();
  start_source_heartbeat();
  // After every commit: due means sent (what a step a timer fired wrote to the outbox goes out
  // now, not at the dispatcher's next poll; an ingest batch wakes it through on_batch_durable
  // too), and GET /v1/stream's clients hear of the change once it is durable.
  engine.on_commit([this](const std::vector<IncidentState>& committed) {
    notify->wake();
    if (api_control) api_control->incidents_changed(committed);
  });
  // SIGHUP: see apply_reload.
  reloader.emplace(options.config_path, config, [this](const Config& next) { apply_reload(next); });
  sighup.emplace(io, *reloader, notifier);
  signals.async_wait([this](const boost::system::error_code& ec, int s) { on_signal(ec, s); });
}

void Daemon::Parts::store_failed(const StoreError& e, IfNotFull if_not_full) {
  if (const auto* full = dynamic_cast<const StoreFullError*>(&e)) {
    disk_full.on_full(*full);  // the engine keeps the change pending
    return;
  }
  if (if_not_full == IfNotFull::exit) exit_for_restart(e);
  spdlog::warn("incidentd: {}", e.what());
}

// Before the engine loads the open incidents: a drill clock is refused on a live database, and
// the start marker is written; after an unclean stop, the outage goes into the timeline of every
// open incident before anything that fell due meanwhile acts (docs/reliability.md).
void Daemon::Parts::open_run() {
  if (drill_time) {
    check_drill_database(store);
    const auto origin = drill_time->origin();
    spdlog::warn(
        "DRILL MODE: --time-scale {}: the clock runs {}x real time ({} s of clock per "
        "real second) from {}; scaled clock origin_ms={}",
        format_scale(*scale), format_scale(*scale), format_scale(*scale),
        format_rfc3339(origin, config.utc_offset), origin.time_since_epoch().count());
    spdlog::warn("DRILL MODE: only events with \"drill\": true are accepted; any other goes to {}",
                 config.kafka.dlq_topic);
  }
  if (const auto outage = store.begin_run(time.now())) {
    spdlog::warn(
        "incidentd: the last run did not stop cleanly: down from {} (last known alive) to {}; "
        "recorded as daemon_outage on {} open incident(s)",
        format_rfc3339(outage->from, config.utc_offset),
        format_rfc3339(outage->to, config.utc_offset), outage->incidents);
  }
}

void Daemon::Parts::beat() {
  heartbeat.expires_after(kHeartbeatEvery);
  heartbeat.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    try {
      // While paused, the pause's retries write it.
      if (!disk_full.paused()) store.heartbeat(time.now());
    } catch (const StoreError& e) {
      store_failed(e, IfNotFull::warn);
    }
    beat();
  });
}

void Daemon::Parts::start_engine() {
  engine.on_action([offset = config.utc_offset, this](const Action& a) {
    if (a.kind == ActionKind::deadline_breached) ++deadline_breaches;
    spdlog::info("action {}", format_action_text(a, offset));
  });
  // Deadlines that fell due while the daemon was down act now, once each (catch-up rule),
  // before anything new is consumed.
  engine.run_due();
  spdlog::info("incidentd: {} open incidents, {} pending deadlines, database {}",
               engine.open_incidents(), engine.pending_deadlines(), config.database);
}

void Daemon::Parts::start_notify() {
  if (config.http.enabled && !config.http.link_secret_file.empty()) {
    ack_links.emplace(http::AckLinkSigner::from_file(config.http.link_secret_file));
  }
  if (ack_links && !config.http.public_url.empty()) {
    link_maker =
        http::notification_link_maker(*ack_links, config.http.public_url, config.http.link_ttl);
  } else if (ack_links) {
    spdlog::warn(
        "incidentd: [http] link_secret_file is set but public_url is not: ack links work, but "
        "notifications carry none");
  }
  if (config.sms.enabled) {
    reply_codes =
        store.reply_codes(config.sms.reply_code_digits, config.sms.reply_code_reuse_after);
    sms.emplace(io, snapshots, engine, store, *reply_codes, time, real_time);
  }
  std::vector<Channel*> channels;
  if (sms) channels.push_back(&sms->channel());
  templates.emplace(config.sms.templates, config.sms.max_parts);
  notify.emplace(
      io, outbox(), snapshots, time, channels,
      template_renderer(*templates, snapshots, time, incident_titles(engine, store), link_maker),
      link_maker);
  notify->start();
}

IngestOptions Daemon::Parts::ingest_options() {
  IngestOptions o;
  o.time_scale = scale;
  o.max_batch = options.batch;
  o.on_subscribed = [this] {
    post_to_loop([this] {
      notifier.ready();
      subscribed = true;
      status->start();
    });
  };
  // Warnings decided in a batch go out at once rather than at the dispatcher's next poll.
  o.on_batch_durable = [this] { notify->wake(); };
  // The source heartbeat ([ingest] source_silence) is started after the consumer is built,
  // once the API can hear of it; messages come only once run() starts the consumer.
  o.on_source_messages = [this] {
    if (source_heartbeat) source_heartbeat->events_arrived();
  };
  o.on_disk_full = [this](const StoreFullError& e) { store_failed(e, IfNotFull::exit); };
  o.store_writable = [this] { return !disk_full.paused(); };
  o.state_changelog = changelog.get();
  return o;
}

// Kannel's sms-service get-url (docs/notifications.md, daemon/http/sms_callback.hpp): a reply
// acknowledges and confirms; without [sms] callback_secret_file, replies are off.
void Daemon::Parts::serve_sms_replies(http::Server& server) {
  const bool on = http::serve_sms_replies(
      server, config.sms,
      [this](const std::string& from, const std::string& to, const std::string& text) {
        try {
          sms->handle_reply(from, to, text);
        } catch (const StoreError& e) {
          store_failed(e, IfNotFull::exit);
        }
      });
  if (!on) spdlog::warn("incidentd: SMS replies are not accepted: no [sms] callback_secret_file");
}

void Daemon::Parts::start_sms_listener() {
  if (!sms || config.sms.callback_port == 0) return;
  sms_listener.emplace(io, http::sms_callback_listener(config.sms));
  serve_sms_replies(*sms_listener);
  sms_listener->start();
  spdlog::info("incidentd: SMS reply callback on http://{}:{}/sms/kannel",
               config.sms.callback_address, sms_listener->port());
}

void Daemon::Parts::start_publisher() {
  // The API publishes; in a cluster, so does the SMS reply route (forwarded inputs).
  if (!config.http.enabled && !(config.cluster.enabled() && sms)) return;
  KafkaHooks hooks;
  hooks.error = [](const std::string& code, const std::string& message, bool fatal) {
    spdlog::warn("publisher: {}: {}{}", code, message, fatal ? " (fatal)" : "");
  };
  // In a cluster its keys are placed by the publishers' partitioner, as ownership places them.
  publisher.emplace(config.kafka, kPublishTimeout, std::move(hooks),
                    cluster_producer_properties(config.cluster, false));
  publisher->start_polling();
  forward_sms_replies();
}

// Publishes a forwarded input (docs/cluster.md, "Inputs from any door") keyed by its incident,
// so that it lands on the partition of the inputs topic its owner reads; `done` runs on the
// loop with the broker's answer.
void Daemon::Parts::forward_input(const std::string& key, const std::string& value,
                                  std::function<void(const PublishResult&)> done) {
  publisher->publish(config.cluster.inputs_topic, key, value,
                     [this, done = std::move(done)](const PublishResult& r) {
                       post_to_loop([done, r] { done(r); });
                     });
}

void Daemon::Parts::forward_sms_replies() {
  if (!sms || !config.cluster.enabled()) return;
  sms->forward_unowned(
      [this](const std::string& key) { return owns(key); },
      [this](const ForwardedInput& input, SmsService::ForwardDone done) {
        ForwardedInput stamped = input;
        stamped.from = config.cluster.instance_id;
        forward_input(stamped.incident_key(), encode_forwarded_input(stamped),
                      [done = std::move(done)](const PublishResult& r) { done(r.ok, r.error); });
      });
}

void Daemon::Parts::forward_api_inputs(http::ApiContext& api) {
  if (!config.cluster.enabled()) return;
  api.owns = [this](const std::string& key) { return owns(key); };
  api.instance_id = config.cluster.instance_id;
  api.forward_input = [this](const std::string& key, const std::string& value,
                             std::function<void(const http::PublishOutcome&)> done) {
    forward_input(key, value, [done = std::move(done)](const PublishResult& r) {
      done(http::PublishOutcome{r.ok, r.topic, r.partition, r.offset, r.error});
    });
  };
}

http::ApiContext Daemon::Parts::api_context() {
  http::ApiContext api;
  api.config = snapshots;
  api.engine = &engine;
  api.store = &store;
  api.time = &time;
  api.history = &store;
  api.links = ack_links ? &*ack_links : nullptr;
  api.used_links = &store;
  api.ready = [this] { return subscribed; };
  api.publish_event = [this, topic = config.kafka.events_topic](
                          const std::string& key, const std::string& value,
                          std::function<void(const http::PublishOutcome&)> done) {
    publisher->publish(topic, key, value, [this, done = std::move(done)](const PublishResult& r) {
      http::PublishOutcome o{r.ok, r.topic, r.partition, r.offset, r.error};
      post_to_loop([done, o] { done(o); });
    });
  };
  forward_api_inputs(api);
  api.unready_reason = [this] { return disk_full.reason(); };
  api.sample = [this] {
    http::MetricsSample sample;
    sample.deadline_breaches = deadline_breaches;
    sample.notifications = store.outbox_counts();
    sample.attempts = notify->dispatcher().counters().outcomes;
    const auto stats = ingest->stats();
    sample.consumer_lag = stats.lag;
    sample.dead_letters = stats.dead_lettered;
    if (source_heartbeat) {
      sample.source_silent = source_heartbeat->state().silent;
      sample.source_last_event = source_heartbeat->state().last_event;
    }
    const auto paused = disk_full.figures();
    sample.disk_full = {paused.paused, paused.pauses, paused.retries, paused.paused_for};
    return sample;
  };
  api.on_store_failure = [this](const std::exception& e) {
    if (const auto* store_error = dynamic_cast<const StoreError*>(&e)) {
      store_failed(*store_error, IfNotFull::exit);
      return;
    }
    exit_for_restart(e);  // engine.flush() throws only StoreError; anything else is as fatal
  };
  return api;
}

void Daemon::Parts::start_http() {
  if (!config.http.enabled) return;
  http::ServerOptions http_options;
  http_options.address = config.http.address;
  http_options.port = static_cast<unsigned short>(config.http.port);
  http_options.tls_cert = config.http.tls_cert;
  http_options.tls_key = config.http.tls_key;
  http_options.max_body_bytes = config.http.max_body_bytes;
  http_options.header_timeout = config.http.header_timeout;
  http_options.body_timeout = config.http.body_timeout;
  http_options.max_connections_per_address = config.http.max_connections_per_address;
  http_server.emplace(io, http_options);
  api_control.emplace(http::install_api(*http_server, api_context()));
  http::install_board(*http_server);
  if (sms && config.sms.callback_port == 0) serve_sms_replies(*http_server);
  http_server->start();
  spdlog::info("incidentd: HTTP API on {}://{}:{}{}", http_server->tls() ? "https" : "http",
               config.http.address, http_server->port(),
               !ack_links   ? " (one-click ack links off: no link_secret_file)"
               : link_maker ? " (one-click ack links in notifications)"
                            : " (ack links not put in notifications: no public_url)");
}

// Silence is counted on the real clock, also in a drill: the question is whether the monitoring
// system is alive now. Its notices go through the outbox like any other.
void Daemon::Parts::start_source_heartbeat() {
  if (config.ingest.source_silence <= Duration{0}) return;
  source_heartbeat.emplace(store, snapshots, real_time, config.ingest.source_silence,
                           [this](const SourceState& state) {
                             notify->wake();
                             if (api_control) api_control->source_status(state.silent, state.since);
                           });
  source_heartbeat->start();
  spdlog::info(
      "incidentd: source heartbeat on: the operator desk is told after {} without a message on "
      "{}{}",
      format_duration(config.ingest.source_silence), config.kafka.events_topic,
      source_heartbeat->state().silent ? " (silent before this start)" : "");
}

// SIGHUP: a good file changes the roster and the policy for new incidents at once (running
// clocks keep their deadlines) and the API's bearer tokens; a bad one is refused and logged, and
// the daemon runs on (ConfigReloader). This runs on the loop (SighupReload waits for the signal
// there), the thread of every API handler, so the tokens change between two requests. The
// engine and the consumer thread take the whole new file (the policy); the parts get a new
// snapshot: the running one with the new roster, since what else they read is bound at start-up.
void Daemon::Parts::apply_reload(const Config& next) {
  engine.reload(next);
  ingest->reload(next);
  auto snapshot = std::make_shared<Config>(*snapshots.current());
  snapshot->units = next.units;
  snapshots.publish(std::move(snapshot));
  if (api_control) {
    api_control->replace_tokens(next.http.tokens);
    spdlog::info("reload: the HTTP API accepts {} token(s)", api_control->token_count());
  }
  status->refresh();
}

// The start-up check read only the tables a start needs (check_database_file); the rest of the
// file is read here, after the engine has loaded and its clock runs, so a large file's check
// (seconds warm, minutes cold) never delays a restart.
void Daemon::Parts::start_file_check() {
  file_check.emplace(
      config.database, [this](std::optional<DatabaseFileProblem> problem, double seconds) {
        boost::asio::post(
            io, [this, problem = std::move(problem), seconds] { file_checked(problem, seconds); });
      });
}

// Damage found while running is acted on as at a start: the daemon stops (exit status 2, which
// systemd does not restart), and the mark it leaves makes every later start refuse the file
// until it is restored.
void Daemon::Parts::file_checked(const std::optional<DatabaseFileProblem>& problem,
                                 double seconds) {
  if (!problem) {
    spdlog::info("incidentd: database {} checked whole (PRAGMA quick_check): ok, {:.1f} s",
                 config.database, seconds);
    return;
  }
  const bool marked = mark_database_damaged(config.database, *problem);
  spdlog::critical("incidentd: stopping: the whole-file check found it: {} ({})", problem->message,
                   marked
                       ? "marked " + damage_mark_path(config.database) +
                             ": later starts refuse it until it is removed"
                       : "the mark " + damage_mark_path(config.database) + " could not be written");
  file_damaged = true;
  begin_stop();
}

void Daemon::Parts::on_signal(const boost::system::error_code& ec, int signal) {
  if (ec) return;
  signals.async_wait([this](const boost::system::error_code& e, int s) { on_signal(e, s); });
  if (stopping) {
    spdlog::info("incidentd: signal {} again; still finishing the batch in flight", signal);
    return;
  }
  spdlog::info("incidentd: signal {}: finishing the batch in flight, then stopping", signal);
  begin_stop();
}

// A stop that was asked for: the batch in flight finishes and commits, then the loop ends.
void Daemon::Parts::begin_stop() {
  if (stopping) return;
  stopping = true;
  notifier.stopping();
  status->stop();
  ingest->request_stop();
  shutdown_timer.expires_after(kShutdownGrace);
  shutdown_timer.async_wait([this](const boost::system::error_code& e) { force_exit(e); });
}

void Daemon::Parts::force_exit(const boost::system::error_code& ec) {
  if (ec) return;
  spdlog::warn(
      "incidentd: Kafka did not let go within {} s; exiting now (every handled event is "
      "durable; uncommitted messages will be redelivered and deduplicated)",
      std::chrono::duration_cast<std::chrono::seconds>(kShutdownGrace).count());
  try {
    engine.flush();
    store.end_run(time.now());
  } catch (const std::exception& e) {
    exit_for_restart(e);
  }
  std::_Exit(file_damaged ? 2 : 0);
}

int Daemon::Parts::run() {
  start_file_check();
  ingest->start([this](bool ok) {
    boost::asio::post(io, [this, ok] {
      ingest_ok = ok;
      shutdown_timer.cancel();
      signals.cancel();
      work.reset();
      io.stop();
    });
  });
  try {
    // A full disk met by a timer's commit (or any handler's) pauses the daemon; the loop runs
    // on (Asio lets run() be called again after a handler threw). Anything else ends it.
    for (;;) {
      try {
        io.run();
        break;
      } catch (const StoreFullError& e) {
        store_failed(e, IfNotFull::exit);
      }
    }
  } catch (...) {
    // A timer wake-up failed to commit (StoreError): nothing on the loop can run any more.
    ingest->loop_gone();
    ingest->join();
    throw;
  }
  ingest->join();
  heartbeat.cancel();
  if (ingest_ok) engine.flush();
  // The clean-stop marker, only for a stop that was asked for and finished; any other end is
  // an outage from now, the last instant this run knew itself alive.
  if (ingest_ok && stopping) {
    store.end_run(time.now());
  } else {
    store.heartbeat(time.now());
  }
  const auto stats = ingest->stats();
  spdlog::info(
      "incidentd: stopped; {} messages consumed, {} accepted, {} duplicates, {} dead-lettered",
      stats.consumed, stats.accepted, stats.duplicates, stats.dead_lettered);
  if (file_damaged) return 2;
  return ingest_ok ? 0 : 1;
}

Daemon::Daemon(Config config, const DaemonOptions& options)
    : parts_(std::make_unique<Parts>(std::move(config), options)) {}

Daemon::~Daemon() = default;

int Daemon::run() {
  return parts_->run();
}

}  // namespace incidentd
