// The daemon's parts (daemon.hpp's Daemon::Parts), shared by the files that build, start and
// stop them: daemon.cpp (the order of construction, the loop, signals, reload and stop) and
// daemon_start.cpp (how each part is started). Internal to daemon/incidentd.
#pragma once

#include "incidentd/daemon.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <atomic>
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
#include "incidentd/cluster_member.hpp"
#include "incidentd/config_snapshot.hpp"
#include "incidentd/disk_full.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/forwarded_input.hpp"
#include "incidentd/reply_code_store.hpp"
#include "incidentd/scaled_time.hpp"
#include "kafka/ingest.hpp"
#include "kafka/kafka_client.hpp"
#include "kafka/state_changelog.hpp"
#include "kafka/unpublished_commits.hpp"
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

// What a store failure other than a full disk does to the writer that met it.
enum class IfNotFull {
  exit,  // the engine is ahead of the database: exit_for_restart
  warn,  // nothing was lost (the heartbeat: a later outage would merely start earlier)
};

// The engine is ahead of the database: restart from the database (systemd).
[[noreturn]] void exit_for_restart(const std::exception& e);

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
  void start_cluster();
  void replica_applied(ReplicaApplied applied);
  // Runs fn on the loop and waits (the consumer thread, inside a rebalance); false when the
  // loop ended first.
  bool run_on_loop(std::function<void()> fn);
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
  void check_cluster_topics();
  void begin_stop();
  void quiesce_for_stop();
  void forget_published_commits();
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

  // [cluster] on: what became of the last run's commits the state topic may never have got
  // (kafka/unpublished_commits.hpp), settled before the store opens.
  std::optional<UnpublishedCommits> unpublished;
  SqliteStore store;
  // [cluster] on: every change the engine and the dispatcher commit, queued as change records
  // for the state topic (docs/cluster.md, "The state topic"); the two write through these.
  std::unique_ptr<StateChangelog> changelog;
  std::unique_ptr<ChangelogStore> changelog_store;
  std::unique_ptr<ChangelogOutbox> changelog_outbox;
  // Turns the store's commit journal on and says how to read a commit's number.
  CommitSeq commit_seq();
  void forward_rolled_back_inputs();
  Store& engine_store() { return changelog_store ? static_cast<Store&>(*changelog_store) : store; }
  NotificationOutbox& outbox() {
    return changelog_outbox ? static_cast<NotificationOutbox&>(*changelog_outbox) : store;
  }
  // [cluster] on: the partitions this instance owns and its replica of the state topic
  // (docs/cluster.md, "Ownership"). Built before the engine, which acts only on what it owns.
  std::unique_ptr<ClusterMember> cluster;
  std::atomic<bool> loop_ended{false};  // run_on_loop's callers stop waiting
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
  // Whether this instance owns an incident: a single instance owns every one.
  bool owns(const std::string& key) const { return !cluster || cluster->owns(key); }
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

}  // namespace incidentd
