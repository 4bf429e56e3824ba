// The daemon's HTTP API (docs/http-api.md): incidents listed and shown, acknowledgements and
// release confirmations mapped onto the engine, one-click ack links, health, readiness and
// Prometheus metrics. Handlers run on the loop thread that owns the engine and the store, so
// they call the engine and flush() directly. Bearer tokens are checked against the SHA-256
// hashes in [http] tokens, in constant time; a unit token reads only the incidents its unit is
// responsible for (any other is 404, as if it did not exist) and acts for its own unit only.
// An ack link's GET (and HEAD) shows a page and changes nothing; only the POST from that page
// acknowledges, and not when its Origin is another site's. An operator token may enter an
// incident by hand (POST /v1/incidents, .../close, .../level): the daemon publishes the event
// to the events topic and answers 202 once the broker has it; the engine acts on it when it is
// consumed, like any other. In a cluster, an acknowledgement or confirmation for an incident
// another instance owns is forwarded to it the same way, through the inputs topic.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "incidentd/config.hpp"
#include "incidentd/config_snapshot.hpp"
#include "incidentd/domain.hpp"
#include "incidentd/incident.hpp"
#include "incidentd/time.hpp"

namespace incidentd {
class AckLinkLog;
class Engine;
class IncidentHistory;
class Store;
class TimeSource;
}  // namespace incidentd

namespace incidentd::http {

class Server;
class AckLinkSigner;
class EventHub;

// What the API cannot see itself; the daemon's wiring fills it in for GET /metrics.
struct MetricsSample {
  std::uint64_t deadline_breaches = 0;  // deadline_breached actions taken
  // (channel, outcome) -> notifications, e.g. ("sms", "delivered"), ("webhook", "failed")
  std::map<std::pair<std::string, std::string>, std::uint64_t> notifications;
  // (channel, outcome) -> attempts since start: "delivered", "retry", "fallback", "gave_up",
  // "superseded" (the dispatcher's counters; the timeline keeps only the first of each kind).
  std::map<std::pair<std::string, std::string>, std::uint64_t> attempts;
  std::optional<std::int64_t> consumer_lag;  // messages behind, summed over partitions
  std::uint64_t dead_letters = 0;
  // The source heartbeat ([ingest] source_silence); unset when it is off.
  std::optional<bool> source_silent;
  std::optional<TimePoint> source_last_event;  // the last message this run saw
  // Pauses on a full database disk (DiskFullPause, daemon/incidentd/disk_full.hpp).
  struct DiskFull {
    bool paused = false;
    std::uint64_t pauses = 0;
    std::uint64_t retries = 0;
    Duration paused_for{};
  } disk_full;
};

// The broker's answer to an event entered by hand (POST /v1/incidents and its close and level).
struct PublishOutcome {
  bool ok = false;
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string error;
};
// Publishes one message keyed by its incident (an event to the events topic; a forwarded input
// to the inputs topic); `done` must run once, on the loop thread, with the broker's delivery
// report.
using PublishEvent = std::function<void(const std::string& key, const std::string& value,
                                        std::function<void(const PublishOutcome&)> done)>;

struct ApiContext {
  // The roster and the initial [http] tokens (ApiControl replaces them), read at each request;
  // a fixed Config must outlive the server.
  ConfigView config;
  Engine* engine = nullptr;
  Store* store = nullptr;  // closed incidents for GET /v1/incidents/{key}
  // Every incident, closed ones too, for GET /v1/incidents?all=1, and one incident's timeline
  // for GET /v1/incidents/{key}; null: ?all=1 lists the open ones and GET shows no timeline.
  IncidentHistory* history = nullptr;
  TimeSource* time = nullptr;
  // One-click ack links; null signer: /v1/ack/... answers 404 "ack links are off".
  const AckLinkSigner* links = nullptr;
  // The links used: a replay is refused, also after a restart. Null: nothing is remembered.
  AckLinkLog* used_links = nullptr;
  // /readyz: true when the consumer is subscribed and the store open. Unset: always ready.
  std::function<bool()> ready;
  // /readyz: why the daemon is not ready although `ready` holds (e.g. "disk full: /var/lib/...",
  // while it waits for room on the database's disk); nullopt or unset: no such reason.
  std::function<std::optional<std::string>()> unready_reason;
  std::function<MetricsSample()> sample;  // unset: zeros
  // Incidents entered by hand, with an operator token; unset: those routes answer 503.
  PublishEvent publish_event;
  // [cluster] on (docs/cluster.md, "Inputs from any door"): whether this instance owns an
  // incident. An acknowledgement or confirmation for one it does not own is not applied here but
  // published with forward_input to the inputs topic (incidentd/forwarded_input.hpp) for the
  // owner, and answered 202. Unset: this instance owns every incident.
  std::function<bool(const std::string& key)> owns;
  // Unset while `owns` says no: such inputs answer 503 not_owner.
  PublishEvent forward_input;
  std::string instance_id;  // the forwarded inputs' "from": [cluster] instance_id
  // engine.flush() failed: the in-memory state is ahead of the store and the daemon must
  // restart from it, or (StoreFullError) wait for room while the change stays pending. The
  // request gets 503 either way.
  std::function<void(const std::exception&)> on_store_failure;
};

// What the daemon may change in the running API. Like every handler, it is used on the loop
// thread, so a change lands between two requests and needs no lock.
class ApiControl {
 public:
  // The bearer tokens accepted from now on (SIGHUP: [[http.tokens]] of the reloaded file); a
  // token left out is refused with 401 at its next request.
  void replace_tokens(std::vector<HttpToken> tokens);
  std::size_t token_count() const;
  // After a store commit (Engine::on_commit): GET /v1/stream clients whose scope holds one of
  // these incidents get the list again (coalesced).
  void incidents_changed(const std::vector<IncidentState>& committed);
  // The source heartbeat ([ingest] source_silence) changed: a `status` event to every client
  // of GET /v1/stream, and the new state in GET /readyz.
  void source_status(bool silent, std::optional<TimePoint> since);
  // Ends every stream (before the server stops).
  void stop_streams();

 private:
  friend ApiControl install_api(Server& server, ApiContext context);
  ApiControl(std::shared_ptr<std::vector<HttpToken>> tokens, std::shared_ptr<EventHub> hub);
  std::shared_ptr<std::vector<HttpToken>> tokens_;  // shared with the routes
  std::shared_ptr<EventHub> hub_;
};

// Registers every route of the API on the server. The tokens start as config->http.tokens.
ApiControl install_api(Server& server, ApiContext context);

// Hex SHA-256 of a token, as written in [http] tokens sha256 (same as `sha256sum`).
std::string token_sha256(std::string_view token);

}  // namespace incidentd::http
