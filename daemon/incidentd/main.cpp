// incidentd: keeps the legal clock on public-opinion incidents. This entry point wires the
// engine to the real (or, for drills, a scaled) clock, the SQLite store, the Kafka input and
// systemd: the engine lives on the Asio loop thread; the consumer runs on its own thread and
// hands it batches. READY=1 goes out once the consumer has subscribed; the watchdog is pinged
// from the loop; SIGHUP reloads the configuration; SIGINT/SIGTERM finish the batch in flight,
// commit, close the consumer and exit 0.
#include <utility>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
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
#include "incidentd/config.hpp"
#include "incidentd/disk_full.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/scaled_time.hpp"
#include "kafka/ingest.hpp"
#include "kafka/kafka_client.hpp"
#include "notify/message.hpp"
#include "notify/notify_service.hpp"
#include "notify/sms_service.hpp"
#include "notify/source_heartbeat.hpp"
#include "service/logging.hpp"
#include "service/notifier.hpp"
#include "service/reload.hpp"
#include "service/status.hpp"
#include "service/watchdog.hpp"
#include "store/db_file_check.hpp"
#include "store/sqlite_store.hpp"

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
bool drill_database_ok(incidentd::SqliteStore& store) {
  std::size_t live = 0;
  std::string example;
  for (const auto& s : store.load_open_incidents()) {
    if (s.drill) continue;
    ++live;
    if (example.empty()) example = s.key;
  }
  if (live == 0) return true;
  spdlog::critical(
      "--time-scale refused: the database holds {} open live (non-drill) incident(s), e.g. \"{}\", "
      "whose deadlines would run at drill speed; run drills on their own database (--database)",
      live, example);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "incidentd: keeps the legal clock on government public-opinion incidents.\n"
      "Consumes monitoring events and release confirmations from Kafka, opens a clock for every "
      "level I/II incident, warns and escalates as deadlines near or pass, and records every "
      "action in its SQLite database. See docs/kafka.md and docs/configuration.md."};
  std::string config_path = "/etc/incidentd/incidentd.toml";
  std::string database;
  double time_scale = 0;
  std::string log_level = "info";
  std::size_t batch = incidentd::IngestOptions{}.max_batch;
  app.add_option("--config", config_path, "configuration file (TOML)")->capture_default_str();
  app.add_option("--database", database, "SQLite database (overrides `database` in the file)");
  app.add_option("--time-scale", time_scale,
                 "DRILLS ONLY: run the clock N times faster than real time (3600 = one hour per "
                 "second); only events with \"drill\": true are accepted")
      ->check(CLI::Range(1.0, 1e7));
  app.add_option("--batch", batch,
                 "most Kafka messages handled in one SQLite transaction (larger: faster under "
                 "load, more to redo after a crash)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  bool init_database = false;
  app.add_flag("--init", init_database,
               "begin an empty database in a database file that exists but is empty (0 bytes); "
               "without it such a file is refused as a truncated database");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or critical")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // The CLI accepts only the names parse_log_level knows.
  incidentd::setup_logging(incidentd::parse_log_level(log_level).value_or(spdlog::level::info));

  auto loaded = incidentd::load_config_file(config_path);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) spdlog::error("{}: {}", e.where, e.message);
    return 2;
  }
  incidentd::Config config = std::move(*loaded.config);
  if (!database.empty()) config.database = database;
  // A damaged or truncated database is refused before anything opens it: never a silent empty
  // start (docs/reliability.md, "A damaged database file").
  if (const auto damaged = incidentd::check_database_file(config.database, init_database)) {
    spdlog::critical("incidentd: refusing to start: {}", damaged->message);
    return 2;
  }
  const std::optional<double> scale =
      time_scale > 0 ? std::optional<double>(time_scale) : std::nullopt;

  bool ingest_ok = true;
  try {
    boost::asio::io_context io;
    incidentd::Notifier notifier;
    incidentd::WatchdogPinger watchdog(io, notifier);
    watchdog.start();
    const auto hang_hook = incidentd::LoopHangHookForTest::install_if_requested(io);
    incidentd::AsioTimeSystem real_time(io);
    std::optional<incidentd::ScaledTimeSystem> drill_time;
    if (scale) drill_time.emplace(real_time, *scale);
    incidentd::TimeSystem& time =
        drill_time ? static_cast<incidentd::TimeSystem&>(*drill_time) : real_time;

    incidentd::SqliteStore store(config.database);
    if (drill_time) {
      if (!drill_database_ok(store)) return 2;
      const auto origin = drill_time->origin();
      spdlog::warn(
          "DRILL MODE: --time-scale {}: the clock runs {}x real time ({} s of clock per "
          "real second) from {}; scaled clock origin_ms={}",
          format_scale(*scale), format_scale(*scale), format_scale(*scale),
          incidentd::format_rfc3339(origin, config.utc_offset), origin.time_since_epoch().count());
      spdlog::warn(
          "DRILL MODE: only events with \"drill\": true are accepted; any other goes to {}",
          config.kafka.dlq_topic);
    }

    // The start marker; after an unclean stop, the outage goes into the timeline of every open
    // incident before anything that fell due meanwhile acts (docs/reliability.md).
    if (const auto outage = store.begin_run(time.now())) {
      spdlog::warn(
          "incidentd: the last run did not stop cleanly: down from {} (last known alive) to {}; "
          "recorded as daemon_outage on {} open incident(s)",
          incidentd::format_rfc3339(outage->from, config.utc_offset),
          incidentd::format_rfc3339(outage->to, config.utc_offset), outage->incidents);
    }
    // A full database disk pauses the daemon instead of ending it (docs/reliability.md); every
    // writer hands its StoreFullError here. Made once the engine exists.
    std::optional<incidentd::DiskFullPause> disk_full;
    // The proof of life the next start measures an outage from.
    boost::asio::steady_timer heartbeat(io);
    std::function<void()> beat = [&] {
      heartbeat.expires_after(kHeartbeatEvery);
      heartbeat.async_wait([&](const boost::system::error_code& ec) {
        if (ec) return;
        try {
          // While paused, the pause's retries write it.
          if (!disk_full || !disk_full->paused()) store.heartbeat(time.now());
        } catch (const incidentd::StoreFullError& e) {
          if (disk_full) disk_full->on_full(e);
        } catch (const incidentd::StoreError& e) {
          // Not fatal: the outage after a crash would merely start earlier.
          spdlog::warn("incidentd: {}", e.what());
        }
        beat();
      });
    };
    beat();

    incidentd::Engine engine(config, store, time);
    disk_full.emplace(engine, real_time, [&] { store.heartbeat(time.now()); });
    std::uint64_t deadline_breaches = 0;  // for GET /metrics
    engine.on_action([offset = config.utc_offset, &deadline_breaches](const incidentd::Action& a) {
      if (a.kind == incidentd::ActionKind::deadline_breached) ++deadline_breaches;
      spdlog::info("action {}", incidentd::format_action_text(a, offset));
    });
    // Deadlines that fell due while the daemon was down act now, once each (catch-up rule),
    // before anything new is consumed.
    engine.run_due();
    spdlog::info("incidentd: {} open incidents, {} pending deadlines, database {}",
                 engine.open_incidents(), engine.pending_deadlines(), config.database);
    // One-click ack links (docs/http-api.md) need the API to open them, the key to sign them and
    // the public URL to put in front; without all three, notifications carry none.
    std::optional<incidentd::http::AckLinkSigner> ack_links;
    if (config.http.enabled && !config.http.link_secret_file.empty()) {
      ack_links.emplace(incidentd::http::AckLinkSigner::from_file(config.http.link_secret_file));
    }
    incidentd::AckLinkMaker link_maker;
    if (ack_links && !config.http.public_url.empty()) {
      link_maker = incidentd::http::notification_link_maker(*ack_links, config.http.public_url,
                                                            config.http.link_ttl);
    } else if (ack_links) {
      spdlog::warn(
          "incidentd: [http] link_secret_file is set but public_url is not: ack links work, but "
          "notifications carry none");
    }
    // The outbox dispatcher sends what the engine decided (docs/notifications.md): by SMS when
    // [sms] is on, by webhook to whoever has one; texts from the Chinese templates, each with its
    // ack link. Answers to SMS replies are retried on the real clock, also in a drill.
    std::unique_ptr<incidentd::ReplyCodeStore> reply_codes;  // outlives sms
    std::optional<incidentd::SmsService> sms;
    if (config.sms.enabled) {
      reply_codes =
          store.reply_codes(config.sms.reply_code_digits, config.sms.reply_code_reuse_after);
      sms.emplace(io, config, engine, store, *reply_codes, time, real_time);
    }
    std::vector<incidentd::Channel*> channels;
    if (sms) channels.push_back(&sms->channel());
    const incidentd::MessageTemplates templates(config.sms.templates, config.sms.max_parts);
    incidentd::NotifyService notify(
        io, store, config, time, channels,
        incidentd::template_renderer(templates, config, time,
                                     incidentd::incident_titles(engine, store), link_maker),
        link_maker);
    notify.start();

    // The loop must keep turning while the consumer waits for Kafka, timers or not.
    auto work = boost::asio::make_work_guard(io);
    auto post_to_loop = [&io](std::function<void()> fn) { boost::asio::post(io, std::move(fn)); };

    bool subscribed = false;  // GET /readyz
    std::optional<incidentd::StatusReporter> status;
    incidentd::IngestOptions options;
    options.time_scale = scale;
    options.max_batch = batch;
    options.on_subscribed = [&] {
      post_to_loop([&] {
        notifier.ready();
        subscribed = true;
        status->start();
      });
    };
    // Warnings decided in a batch go out at once rather than at the dispatcher's next poll.
    options.on_batch_durable = [&notify] { notify.wake(); };
    // The source heartbeat ([ingest] source_silence), started once the API can hear of it.
    std::optional<incidentd::SourceHeartbeat> source_heartbeat;
    options.on_source_messages = [&source_heartbeat] {
      if (source_heartbeat) source_heartbeat->events_arrived();
    };
    options.on_disk_full = [&](const incidentd::StoreFullError& e) { disk_full->on_full(e); };
    options.store_writable = [&] { return !disk_full->paused(); };
    incidentd::Ingest ingest(config, engine, post_to_loop, options);
    status.emplace(io, notifier, [&] {
      return incidentd::ServiceStatus{engine.open_incidents(), engine.pending_deadlines(),
                                      ingest.stats().lag, disk_full->reason()};
    });
    disk_full->on_change([&](bool paused) {
      status->refresh();
      // The dispatcher claims a row in the database before it sends it, which a full disk
      // refuses: it waits too (its results not yet recorded are lost: a re-send at most), and
      // what the pause held back goes out once it is written.
      if (paused) {
        notify.stop();
      } else {
        notify.start();
      }
    });

    // Kannel's sms-service get-url (docs/notifications.md): a reply acknowledges and confirms, so
    // the caller must show [sms] callback_secret_file's secret. Without one, replies are off.
    std::optional<incidentd::http::Server> sms_listener;  // [sms] callback_port: its own slots
    const auto serve_sms_replies = [&](incidentd::http::Server& server) {
      if (config.sms.callback_secret_file.empty()) {
        spdlog::warn("incidentd: SMS replies are not accepted: no [sms] callback_secret_file");
        return;
      }
      auto secret = incidentd::read_sms_callback_secret(config.sms.callback_secret_file);
      if (!secret.error.empty()) {
        throw std::runtime_error("sms.callback_secret_file: " + secret.error);
      }
      incidentd::http::install_sms_callback(
          server, secret.secret,
          [&sms, &disk_full](const std::string& from, const std::string& to,
                             const std::string& text) {
            try {
              sms->handle_reply(from, to, text);
            } catch (const incidentd::StoreFullError& e) {
              disk_full->on_full(e);  // the engine keeps the change pending
            } catch (const incidentd::StoreError& e) {
              // The engine is ahead of the database: restart from the database (systemd).
              spdlog::critical("incidentd: {}", e.what());
              std::_Exit(1);
            }
          });
    };
    if (sms && config.sms.callback_port != 0) {
      sms_listener.emplace(io, incidentd::http::sms_callback_listener(config.sms));
      serve_sms_replies(*sms_listener);
      sms_listener->start();
      spdlog::info("incidentd: SMS reply callback on http://{}:{}/sms/kannel",
                   config.sms.callback_address, sms_listener->port());
    }

    // The HTTP API (docs/http-api.md) on this loop: its handlers call the engine directly.
    std::optional<incidentd::http::Server> http_server;
    std::optional<incidentd::http::ApiControl> api_control;  // SIGHUP replaces the tokens
    // Incidents entered by hand through the API go to the events topic like any other event;
    // the dead-letter producer is transactional and the consumer thread's, so this one is apart.
    std::optional<incidentd::EventPublisher> publisher;
    if (config.http.enabled) {
      incidentd::KafkaHooks hooks;
      hooks.error = [](const std::string& code, const std::string& message, bool fatal) {
        spdlog::warn("publisher: {}: {}{}", code, message, fatal ? " (fatal)" : "");
      };
      publisher.emplace(config.kafka, kPublishTimeout, std::move(hooks));
      publisher->start_polling();
    }
    if (config.http.enabled) {
      incidentd::http::ServerOptions http_options;
      http_options.address = config.http.address;
      http_options.port = static_cast<unsigned short>(config.http.port);
      http_options.tls_cert = config.http.tls_cert;
      http_options.tls_key = config.http.tls_key;
      http_options.max_body_bytes = config.http.max_body_bytes;
      http_options.header_timeout = config.http.header_timeout;
      http_options.body_timeout = config.http.body_timeout;
      http_options.max_connections_per_address = config.http.max_connections_per_address;
      http_server.emplace(io, http_options);
      incidentd::http::ApiContext api;
      api.config = &config;
      api.engine = &engine;
      api.store = &store;
      api.time = &time;
      api.history = &store;
      api.links = ack_links ? &*ack_links : nullptr;
      api.used_links = &store;
      api.ready = [&subscribed] { return subscribed; };
      api.publish_event = [&publisher, &post_to_loop, topic = config.kafka.events_topic](
                              const std::string& key, const std::string& value,
                              std::function<void(const incidentd::http::PublishOutcome&)> done) {
        publisher->publish(
            topic, key, value,
            [&post_to_loop, done = std::move(done)](const incidentd::PublishResult& r) {
              incidentd::http::PublishOutcome o{r.ok, r.topic, r.partition, r.offset, r.error};
              post_to_loop([done, o] { done(o); });
            });
      };
      api.unready_reason = [&] { return disk_full->reason(); };
      api.sample = [&] {
        incidentd::http::MetricsSample sample;
        sample.deadline_breaches = deadline_breaches;
        sample.notifications = store.outbox_counts();
        sample.attempts = notify.dispatcher().counters().outcomes;
        const auto stats = ingest.stats();
        sample.consumer_lag = stats.lag;
        sample.dead_letters = stats.dead_lettered;
        if (source_heartbeat) {
          sample.source_silent = source_heartbeat->state().silent;
          sample.source_last_event = source_heartbeat->state().last_event;
        }
        const auto paused = disk_full->figures();
        sample.disk_full = {paused.paused, paused.pauses, paused.retries, paused.paused_for};
        return sample;
      };
      // The engine's state is ahead of the database: restart from the database (systemd).
      api.on_store_failure = [&](const std::exception& e) {
        if (const auto* full = dynamic_cast<const incidentd::StoreFullError*>(&e)) {
          disk_full->on_full(*full);  // the engine keeps the change pending
          return;
        }
        spdlog::critical("incidentd: {}", e.what());
        std::_Exit(1);
      };
      api_control.emplace(incidentd::http::install_api(*http_server, std::move(api)));
      incidentd::http::install_board(*http_server);
      // GET /v1/stream: its clients hear of a change once it is durable.
      engine.on_commit([&api_control](const std::vector<incidentd::IncidentState>& committed) {
        api_control->incidents_changed(committed);
      });
      if (sms && config.sms.callback_port == 0) serve_sms_replies(*http_server);
      http_server->start();
      spdlog::info("incidentd: HTTP API on {}://{}:{}{}", http_server->tls() ? "https" : "http",
                   config.http.address, http_server->port(),
                   !ack_links   ? " (one-click ack links off: no link_secret_file)"
                   : link_maker ? " (one-click ack links in notifications)"
                                : " (ack links not put in notifications: no public_url)");
    }

    // Silence is counted on the real clock, also in a drill: the question is whether the
    // monitoring system is alive now. Its notices go through the outbox like any other.
    if (config.ingest.source_silence > incidentd::Duration{0}) {
      source_heartbeat.emplace(store, config, real_time, config.ingest.source_silence,
                               [&](const incidentd::SourceState& state) {
                                 notify.wake();
                                 if (api_control)
                                   api_control->source_status(state.silent, state.since);
                               });
      source_heartbeat->start();
      spdlog::info(
          "incidentd: source heartbeat on: the operator desk is told after {} without "
          "a message on {}{}",
          incidentd::format_duration(config.ingest.source_silence), config.kafka.events_topic,
          source_heartbeat->state().silent ? " (silent before this start)" : "");
    }

    // SIGHUP: a good file changes the roster and the policy for new incidents at once (running
    // clocks keep their deadlines) and the API's bearer tokens; a bad one is refused and logged,
    // and the daemon runs on. The callback runs on the loop (SighupReload waits for the signal
    // there), the thread of every API handler, so the tokens change between two requests. The
    // dispatcher, the SMS texts and the API read the roster from `config`, on this same thread,
    // whenever they need a person or a unit: replacing its units reaches their next use. The
    // engine and the consumer thread keep copies of their own.
    incidentd::ConfigReloader reloader(config_path, config, [&](const incidentd::Config& next) {
      engine.reload(next);
      ingest.reload(next);
      config.units = next.units;
      if (api_control) {
        api_control->replace_tokens(next.http.tokens);
        spdlog::info("reload: the HTTP API accepts {} token(s)", api_control->token_count());
      }
      status->refresh();
    });
    incidentd::SighupReload sighup(io, reloader, notifier);

    boost::asio::steady_timer shutdown_timer(io);
    bool stopping = false;
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signal) {
          if (ec) return;
          signals.async_wait(on_signal);
          if (stopping) {
            spdlog::info("incidentd: signal {} again; still finishing the batch in flight", signal);
            return;
          }
          stopping = true;
          notifier.stopping();
          status->stop();
          spdlog::info("incidentd: signal {}: finishing the batch in flight, then stopping",
                       signal);
          ingest.request_stop();
          shutdown_timer.expires_after(kShutdownGrace);
          shutdown_timer.async_wait([&](const boost::system::error_code& timer_ec) {
            if (timer_ec) return;
            spdlog::warn(
                "incidentd: Kafka did not let go within {} s; exiting now (every handled event is "
                "durable; uncommitted messages will be redelivered and deduplicated)",
                std::chrono::duration_cast<std::chrono::seconds>(kShutdownGrace).count());
            try {
              engine.flush();
              store.end_run(time.now());
            } catch (const std::exception& e) {
              spdlog::critical("incidentd: {}", e.what());
              std::_Exit(1);
            }
            std::_Exit(0);
          });
        };
    signals.async_wait(on_signal);

    ingest.start([&](bool ok) {
      boost::asio::post(io, [&, ok] {
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
        } catch (const incidentd::StoreFullError& e) {
          disk_full->on_full(e);
        }
      }
    } catch (...) {
      // A timer wake-up failed to commit (StoreError): nothing on the loop can run any more.
      ingest.loop_gone();
      ingest.join();
      throw;
    }
    ingest.join();
    heartbeat.cancel();
    if (ingest_ok) engine.flush();
    // The clean-stop marker, only for a stop that was asked for and finished; any other end is
    // an outage from now, the last instant this run knew itself alive.
    if (ingest_ok && stopping) {
      store.end_run(time.now());
    } else {
      store.heartbeat(time.now());
    }
    const auto stats = ingest.stats();
    spdlog::info(
        "incidentd: stopped; {} messages consumed, {} accepted, {} duplicates, {} dead-lettered",
        stats.consumed, stats.accepted, stats.duplicates, stats.dead_lettered);
  } catch (const incidentd::KafkaSetupError& e) {
    spdlog::critical("incidentd: {}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::critical("incidentd: {}", e.what());
    return 1;
  }
  return ingest_ok ? 0 : 1;
}
