// A cluster's partitions moving between instances (docs/cluster.md, "Ownership"), at the
// engine: two engines over one store stand for the old and the new owner of a partition. The
// old one forgets a revoked incident and fires nothing more for it; the new one adopts it and
// acts on what fell due meanwhile, once; inputs for an incident not owned are refused, never
// opened; while ownership is in doubt a due step waits instead of firing.
#include "incidentd/engine.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "support/engine_harness.hpp"
#include "support/memory_store.hpp"

namespace {

using namespace std::chrono_literals;

using namespace incidentd;           // NOLINT(google-build-using-namespace)
using namespace incidentd::testing;  // NOLINT(google-build-using-namespace)

const std::string kKey = "inc-1";

// One instance's engine with a switch for whether it owns the incident's partition.
struct Instance {
  Instance(const Config& config, Store& store, TimeSystem& time, bool owner)
      : owns(owner), engine(config, store, time, [this](const std::string&) { return owns; }) {}
  bool owns;
  Engine engine;
};

std::vector<std::string> warnings_at_two_hours(const std::vector<Action>& timeline) {
  return lines(timeline, [](const Action& a) {
    return a.kind == ActionKind::warning && a.milestone == Milestone::first_release &&
           a.due == at(3h) && a.at >= at(2h) && a.at < at(2h + 30min);
  });
}

}  // namespace

TEST_CASE("a revoked incident fires nothing more and its new owner acts on what fell due once") {
  const Config config = roster_config();
  MemoryStore store;
  VirtualTime time(kStart);
  Instance old_owner(config, store, time, true);
  Instance new_owner(config, store, time, false);
  REQUIRE(old_owner.engine.handle(event("e1", kKey, Level::II, {"a"}, at(0h))).status ==
          Outcome::Status::accepted);
  CHECK(new_owner.engine.open_incidents() == 0);

  time.advance_to(at(1h));
  old_owner.owns = false;  // the partition is revoked
  CHECK(old_owner.engine.release() == 1);
  CHECK(old_owner.engine.open_incidents() == 0);
  CHECK(old_owner.engine.pending_deadlines() == 0);
  const auto before = store.timeline().size();
  time.advance_to(at(2h + 10min));  // the 2 h warning fell due with no owner
  CHECK(store.timeline().size() == before);

  new_owner.owns = true;  // assigned, caught up: the incident is taken over
  CHECK(new_owner.engine.adopt(store.load_open_incidents()) == 1);
  const auto fired = warnings_at_two_hours(store.timeline());
  REQUIRE(fired.size() == 1);
  CHECK(fired.front().find("2h10 warning first_release") == 0);
  CHECK(fired.front().find("catch_up") != std::string::npos);

  // Adopting again (a second assignment of the same partition) takes nothing twice.
  CHECK(new_owner.engine.adopt(store.load_open_incidents()) == 0);
  time.advance_to(at(2h + 20min));
  CHECK(warnings_at_two_hours(store.timeline()).size() == 1);
  // The ladder goes on with the new owner: the 2h30 warning.
  time.advance_to(at(2h + 31min));
  CHECK(lines(store.timeline(), [](const Action& a) {
          return a.kind == ActionKind::warning && a.at == at(2h + 30min);
        }).size() == 1);
}

TEST_CASE("an input for an incident another instance owns is refused and opens nothing") {
  const Config config = roster_config();
  MemoryStore store;
  VirtualTime time(kStart);
  Instance other(config, store, time, false);
  const Outcome o = other.engine.handle(event("e1", kKey, Level::II, {"a"}, at(0h)));
  CHECK(o.status == Outcome::Status::rejected);
  CHECK(o.reason.find("does not own") != std::string::npos);
  CHECK(store.load_incident(kKey) == std::nullopt);
  CHECK(other.engine.handle(ack(kKey, "a-duty1", at(0h))).status == Outcome::Status::rejected);
  CHECK(
      other.engine.handle(confirmation("c1", kKey, Milestone::first_release, "a", at(0h))).status ==
      Outcome::Status::rejected);
  CHECK(store.timeline().empty());
}

TEST_CASE("a due step whose ownership is in doubt waits and fires once it is owned again") {
  const Config config = roster_config();
  MemoryStore store;
  VirtualTime time(kStart);
  Instance owner(config, store, time, true);
  REQUIRE(owner.engine.handle(event("e1", kKey, Level::II, {"a"}, at(0h))).status ==
          Outcome::Status::accepted);
  owner.owns = false;  // e.g. the process was stopped past its session: not yet revoked
  time.advance_to(at(2h + 1min));
  CHECK(warnings_at_two_hours(store.timeline()).empty());
  CHECK(owner.engine.open_incidents() == 1);  // still held, only waiting

  owner.owns = true;  // the group kept the partition here
  time.advance_to(at(2h + 1min) + 200ms);
  const auto fired = warnings_at_two_hours(store.timeline());
  REQUIRE(fired.size() == 1);
}

TEST_CASE("a single instance owns everything and release() forgets nothing") {
  Harness h;
  REQUIRE(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h))).status == Outcome::Status::accepted);
  CHECK(h.engine.release() == 0);
  CHECK(h.engine.open_incidents() == 1);
}

TEST_CASE("while its own run is in doubt no clock fires but inputs are still taken") {
  Harness h;
  bool in_doubt = false;
  h.engine.hold_clocks_while([&in_doubt] { return in_doubt; });
  REQUIRE(h.feed(event("e1", kKey, Level::II, {"a"}, at(0h))).status == Outcome::Status::accepted);
  in_doubt = true;
  h.advance_to(2h + 1min);
  CHECK(warnings_at_two_hours(h.timeline()).empty());
  // An event of another incident, from a partition the consumer still holds, is taken.
  CHECK(h.feed(event("e2", "inc-2", Level::II, {"a"}, at(2h + 1min)), at(2h + 1min)).status ==
        Outcome::Status::accepted);
  CHECK(h.engine.open_incidents() == 2);
  CHECK(warnings_at_two_hours(h.timeline()).empty());
  in_doubt = false;
  h.time.advance_to(at(2h + 1min) + 200ms);
  CHECK(warnings_at_two_hours(h.timeline()).size() == 1);
}
