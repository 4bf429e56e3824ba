// How each of the daemon's parts is started (daemon_parts.hpp); the order is daemon.cpp's.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "incidentd/daemon_parts.hpp"
#include "kafka/cluster_topics.hpp"
#include "kafka/kafka_client.hpp"

namespace incidentd {

namespace {

using namespace std::chrono_literals;

// POST /v1/incidents answers 503 when the broker has not taken the event by then.
constexpr auto kPublishTimeout = 10s;
// How long a cluster member's start waits for the broker to describe its topics.
constexpr Duration kTopicCheckWait = 5s;

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

}  // namespace

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
  const auto entries =
      cluster ? RunLog::OutageEntries::run_log_only : RunLog::OutageEntries::every_open_incident;
  if (const auto outage = store.begin_run(time.now(), entries)) {
    spdlog::warn(
        "incidentd: the last run did not stop cleanly: down from {} (last known alive) to {}; "
        "recorded as daemon_outage on {} open incident(s){}",
        format_rfc3339(outage->from, config.utc_offset),
        format_rfc3339(outage->to, config.utc_offset), outage->incidents,
        cluster ? " (a cluster member: its partitions' clocks ran on elsewhere)" : "");
  }
}

// [cluster] on (docs/cluster.md, "Ownership"): the member moves clocks with partitions, on the
// loop, when the consumer's rebalance tells it to; its replica reads the state topic from now.
void Daemon::Parts::start_cluster() {
  if (!cluster) return;
  check_cluster_topics();
  cluster->bind(
      engine, store, [this](std::function<void()> fn) { return run_on_loop(std::move(fn)); },
      [this] { notify->wake(); });
  cluster->start();
  spdlog::info(
      "incidentd: cluster member \"{}\" of group {}: a replica of {}; it owns no incident until "
      "the group assigns it partitions",
      config.cluster.instance_id, config.kafka.group, config.cluster.state_topic);
}

// Topics of different partition counts would give an incident's inputs to an instance that does
// not own it: refused (exit 2). A broker that does not answer now is no reason to refuse; the
// member waits for it as before.
void Daemon::Parts::check_cluster_topics() {
  ClusterTopics topics;
  try {
    topics = read_cluster_topics(config, kTopicCheckWait);
  } catch (const KafkaSetupError&) {
    throw;
  } catch (const std::runtime_error& e) {
    spdlog::warn("incidentd: the partition counts of the cluster's topics are not checked: {}",
                 e.what());
    return;
  }
  if (auto why = cluster_topics_mismatch(topics); !why.empty()) {
    throw StartRefused("incidentd: refusing to start: " + why);
  }
  if (!topics.missing.empty()) {
    spdlog::warn(
        "incidentd: the broker has no topic {} yet: create it with as many partitions as the "
        "others (docs/cluster.md, \"Ownership\")",
        fmt::join(topics.missing, ", "));
  }
}

// What the replica applied on its own connection: the engine's set of processed ids learns
// them (a takeover must still know an event as a duplicate), and the API's stream hears of the
// changes as it does of the engine's.
void Daemon::Parts::replica_applied(ReplicaApplied applied) {
  boost::asio::post(io, [this, applied = std::move(applied)] {
    store.remember_processed(applied.processed);
    if (api_control) api_control->incidents_changed(applied.incidents);
  });
}

bool Daemon::Parts::run_on_loop(std::function<void()> fn) {
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  boost::asio::post(io, [this, fn = std::move(fn), done] {
    struct SetOnExit {
      std::promise<void>& promise;
      ~SetOnExit() { promise.set_value(); }
    } set_on_exit{*done};
    try {
      fn();
    } catch (const StoreError& e) {
      store_failed(e, IfNotFull::exit);
    }
  });
  while (finished.wait_for(100ms) != std::future_status::ready) {
    if (loop_ended.load()) return false;
  }
  return true;
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
  // A batch's commits do not wait for the disk on the loop, which fires the clocks; the consumer
  // thread makes them durable before their offsets go to Kafka (docs/kafka.md, "Durable before
  // its offsets").
  o.make_durable = [this] { store.make_durable(); };
  // The source heartbeat ([ingest] source_silence) is started after the consumer is built,
  // once the API can hear of it; messages come only once run() starts the consumer.
  o.on_source_messages = [this] {
    if (source_heartbeat) source_heartbeat->events_arrived();
  };
  o.on_disk_full = [this](const StoreFullError& e) { store_failed(e, IfNotFull::exit); };
  o.store_writable = [this] { return !disk_full.paused(); };
  o.state_changelog = changelog.get();
  if (cluster) {
    o.on_assigned = [this](const std::vector<PartitionOffset>& parts) { cluster->assigned(parts); };
    o.on_revoked = [this](const std::vector<PartitionOffset>& parts) { cluster->revoked(parts); };
  }
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
  publisher.emplace(config.kafka, kPublishTimeout, std::move(hooks),
                    cluster_producer_properties(config.cluster, false));
  publisher->start_polling();
  forward_sms_replies();
  forward_rolled_back_inputs();
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

CommitSeq Daemon::Parts::commit_seq() {
  store.keep_commit_journal();
  return [this] { return store.last_commit_seq(); };
}

// The acknowledgements and confirmations of commits undone at the start (they never reached the
// state topic) that no redelivery brings back: those that came through this instance's own doors.
// Their incidents' owners apply them, as any forwarded input.
void Daemon::Parts::forward_rolled_back_inputs() {
  if (!unpublished) return;
  std::vector<ForwardedInput> inputs;
  for (const auto& a : unpublished->rolled_back.acknowledgements) {
    if (a.via != "kafka") inputs.push_back({a, config.cluster.instance_id});
  }
  for (const auto& c : unpublished->rolled_back.confirmations) {
    if (c.via != "kafka") inputs.push_back({c, config.cluster.instance_id});
  }
  for (const auto& input : inputs) {
    const std::string kind(input.kind());
    const std::string key = input.incident_key();
    forward_input(key, encode_forwarded_input(input), [kind, key](const PublishResult& r) {
      if (r.ok) {
        spdlog::info("start: the undone {} of incident {} forwarded again to its owner", kind, key);
      } else {
        spdlog::error("start: the undone {} of incident {} could not be forwarded: {}", kind, key,
                      r.error);
      }
    });
  }
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

}  // namespace incidentd
