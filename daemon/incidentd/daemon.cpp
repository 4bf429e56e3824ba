#include "incidentd/daemon.hpp"

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <chrono>
#include <cstdlib>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "incidentd/daemon_parts.hpp"

namespace incidentd {

namespace {

using namespace std::chrono_literals;

// After SIGTERM the consumer gets this long to finish its batch and commit; past it (a broker
// that does not answer) the daemon exits anyway: what it handled is durable in SQLite, and the
// uncommitted messages come again and are deduplicated.
constexpr auto kShutdownGrace = 40s;

// How often the daemon records that it is alive: an outage after a crash is known to this much.
constexpr auto kHeartbeatEvery = 5s;
// How long a cluster member's start waits for the broker to learn which of its last run's
// commits reached the state topic; then it exits and systemd starts it again.
constexpr Duration kUnpublishedPatience = 60s;

}  // namespace

void exit_for_restart(const std::exception& e) {
  spdlog::critical("incidentd: {}", e.what());
  std::_Exit(1);
}

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
      unpublished(resolve_unpublished_commits(config, kUnpublishedPatience)),
      store(config.database),
      changelog(config.cluster.enabled()
                    ? std::make_unique<StateChangelog>(config.cluster.instance_id)
                    : nullptr),
      changelog_store(changelog ? std::make_unique<ChangelogStore>(store, *changelog, commit_seq())
                                : nullptr),
      changelog_outbox(
          changelog ? std::make_unique<ChangelogOutbox>(store, *changelog, commit_seq()) : nullptr),
      cluster(config.cluster.enabled()
                  ? std::make_unique<ClusterMember>(
                        config, [this](ReplicaApplied a) { replica_applied(std::move(a)); })
                  : nullptr),
      engine((open_run(), config), engine_store(), time,  // the start marker before the engine
             cluster ? cluster->engine_owns() : Engine::Owns{}),
      disk_full(engine, real_time, [this] { store.heartbeat(time.now()); }),
      work(boost::asio::make_work_guard(io)),
      post_to_loop([this](std::function<void()> fn) { boost::asio::post(io, std::move(fn)); }) {
  beat();
  start_engine();
  start_notify();
  start_cluster();
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
  quiesce_for_stop();
  ingest->request_stop();
  shutdown_timer.expires_after(kShutdownGrace);
  shutdown_timer.async_wait([this](const boost::system::error_code& e) { force_exit(e); });
}

// After a clean stop: the commits the consumer's last transactions carried are on the state
// topic, so their undo can go, and the next start need not read the topic to learn it.
void Daemon::Parts::forget_published_commits() {
  try {
    store.forget_published_commits(ingest->stats().published_seq);
  } catch (const StoreError& e) {
    spdlog::warn("incidentd: stopping: {}; the next start reads the state topic instead", e.what());
  }
}

// A cluster member's clean stop: no clock fires and no delivery result is recorded after the
// consumer's last transaction, which so carries every change this run committed, and the next
// start has nothing to undo ("Commits the topic never got" in docs/cluster.md). What the batch in
// flight and the API still commit goes with that transaction when it can, and is undone and
// redone from its inputs when it cannot.
void Daemon::Parts::quiesce_for_stop() {
  if (!cluster) return;
  engine.hold_clocks_while([] { return true; });
  if (notify) notify->stop();
  try {
    engine.flush();
  } catch (const StoreError& e) {
    spdlog::warn("incidentd: stopping: {}; the last flush tries again", e.what());
  }
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
    loop_ended = true;
    ingest->loop_gone();
    ingest->join();
    throw;
  }
  loop_ended = true;
  ingest->join();
  if (cluster) cluster->stop();
  // What the consumer's last transactions carried is on the state topic: a start after this
  // clean stop has nothing to look up there unless the loop committed something after them.
  if (changelog && ingest_ok) forget_published_commits();
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
