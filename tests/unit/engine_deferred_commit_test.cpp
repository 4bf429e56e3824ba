// Engine::flush_acted(), the commit of a batch under a Kafka backlog: what the engine acted on
// is durable at once, while incidents that events only re-described wait for flush() together
// with those events, which are not yet marked processed. A crash in between loses nothing
// because the source delivers those events again: the engine rebuilt from the store and fed
// everything since the last flush() ends exactly where the uninterrupted run ends.
#include "incidentd/engine.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "ctl/virtual_time.hpp"
#include "support/engine_harness.hpp"
#include "support/memory_store.hpp"

namespace {

using namespace std::chrono_literals;

using namespace incidentd;           // NOLINT(google-build-using-namespace)
using namespace incidentd::testing;  // NOLINT(google-build-using-namespace)

Event retitled(Event e, std::string id, std::string title) {
  e.event_id = std::move(id);
  e.kind = EventKind::updated;
  e.title = std::move(title);
  return e;
}

// The engine as the Kafka consumer drives it: no commit per step.
struct Batched {
  Batched() { engine.set_flush_each_step(false); }
  Config config = roster_config();
  MemoryStore store;
  VirtualTime time{kStart};
  Engine engine{config, store, time};
};

TEST_CASE_METHOD(Batched,
                 "flush_acted commits a new incident and leaves a re-description for flush",
                 "[engine][deferred]") {
  const Event opened = event("e1", "k", Level::II, {"a", "b"}, kStart);
  REQUIRE(engine.handle(opened).status == Outcome::Status::accepted);
  engine.flush_acted();
  REQUIRE(store.incidents().contains("k"));
  CHECK(store.processed().contains("e1"));
  CHECK(engine.uncommitted_incidents() == 0);

  const Event update = retitled(opened, "e2", "new title");
  REQUIRE(engine.handle(update).status == Outcome::Status::accepted);
  CHECK(engine.handle(update).status == Outcome::Status::duplicate);  // not yet durable, known
  const std::size_t timeline = store.timeline().size();
  engine.flush_acted();
  CHECK(store.incidents().at("k").title == "test incident");
  CHECK_FALSE(store.processed().contains("e2"));
  CHECK(store.timeline().size() == timeline);
  CHECK(engine.uncommitted_incidents() == 1);

  SECTION("a crash now: the redelivered event re-describes the incident as before") {
    VirtualTime restart_time(kStart);
    Engine restarted(config, store, restart_time);
    restarted.set_flush_each_step(false);
    CHECK(restarted.find("k")->title == "test incident");
    REQUIRE(restarted.handle(update).status == Outcome::Status::accepted);
    CHECK(*restarted.find("k") == *engine.find("k"));
  }
  SECTION("flush() then commits it with its event") {
    engine.flush();
    CHECK(store.incidents().at("k").title == "new title");
    CHECK(store.processed().contains("e2"));
    CHECK(engine.uncommitted_incidents() == 0);
    CHECK(engine.handle(update).status == Outcome::Status::duplicate);
  }
}

TEST_CASE_METHOD(Batched, "an event that says again what the incident holds commits no snapshot",
                 "[engine][deferred]") {
  Event opened = event("e1", "k", Level::II, {"a", "b"}, kStart);
  opened.category = "flood";
  opened.region = "zhaotong";
  engine.handle(opened);
  engine.flush();
  const IncidentState stored = store.incidents().at("k");
  const std::size_t snapshots = store.snapshots_written();

  // The same description under a new id (a monitoring system re-sending): only the id is new.
  Event again = opened;
  again.event_id = "e2";
  again.kind = EventKind::updated;
  REQUIRE(engine.handle(again).status == Outcome::Status::accepted);
  Event without_optional_fields = again;  // an empty title, category or region changes nothing
  without_optional_fields.event_id = "e3";
  without_optional_fields.title.clear();
  without_optional_fields.category.clear();
  without_optional_fields.region.clear();
  REQUIRE(engine.handle(without_optional_fields).status == Outcome::Status::accepted);
  engine.flush();
  CHECK(store.processed().contains("e2"));
  CHECK(store.processed().contains("e3"));
  CHECK(store.snapshots_written() == snapshots);
  CHECK(store.incidents().at("k") == stored);
  CHECK(*engine.find("k") == stored);
  CHECK(engine.uncommitted_incidents() == 0);

  SECTION("a field said differently writes the snapshot") {
    Event changed = again;
    changed.event_id = "e4";
    SECTION("the title") {
      changed.title = "renamed";
    }
    SECTION("the category") {
      changed.category = "landslide";
    }
    SECTION("the region") {
      changed.region = "kunming";
    }
    SECTION("the units, in another order") {
      changed.units = {"b", "a"};
    }
    SECTION("the lead unit") {
      changed.lead_unit = "b";
    }
    REQUIRE(engine.handle(changed).status == Outcome::Status::accepted);
    engine.flush();
    CHECK(store.snapshots_written() == snapshots + 1);
    CHECK(store.incidents().at("k") == *engine.find("k"));
    CHECK_FALSE(store.incidents().at("k") == stored);
  }
  SECTION("a step that fell due before the event is written with it") {
    time.advance_to(kStart + 2h);  // first_release's 2 h warning, acted on by the timer
    again.event_id = "e4";
    REQUIRE(engine.handle(again).status == Outcome::Status::accepted);
    engine.flush();
    CHECK(store.snapshots_written() == snapshots + 1);
    CHECK(store.incidents().at("k") == *engine.find("k"));
    CHECK(store.incidents().at("k").milestone(Milestone::first_release).next_step >
          stored.milestone(Milestone::first_release).next_step);
  }
  SECTION("a restart reads the snapshot as it was and knows the ids") {
    VirtualTime restart_time(kStart);
    Engine restarted(config, store, restart_time);
    CHECK(*restarted.find("k") == stored);
    CHECK(restarted.handle(again).status == Outcome::Status::duplicate);
  }
}

TEST_CASE_METHOD(Batched, "flush_acted commits an incident whose event acted, with all its events",
                 "[engine][deferred]") {
  const Event opened = event("e1", "k", Level::III, {"a"}, kStart);
  engine.handle(opened);
  engine.flush_acted();
  engine.handle(retitled(opened, "e2", "renamed"));
  Event raised = retitled(opened, "e3", "renamed");
  raised.level = Level::II;  // starts the clock: level_changed, a timeline entry
  engine.handle(raised);
  engine.flush_acted();
  CHECK(store.incidents().at("k").level == Level::II);
  CHECK(store.incidents().at("k").clock_start.has_value());
  CHECK(store.processed().contains("e2"));
  CHECK(store.processed().contains("e3"));
  CHECK(engine.uncommitted_incidents() == 0);
}

TEST_CASE_METHOD(Batched, "flush_part commits at most so many incidents, those that acted first",
                 "[engine][deferred]") {
  std::vector<Event> opened;
  for (int i = 0; i < 5; ++i) {
    const std::string n = std::to_string(i);
    opened.push_back(event("open-" + n, "k" + n, Level::III, {"a"}, kStart));
    engine.handle(opened.back());
  }
  engine.flush();
  for (int i = 0; i < 5; ++i) {
    engine.handle(retitled(opened[i], "retitle-" + std::to_string(i), "renamed"));
  }
  Event raised = retitled(opened[4], "raise-4", "renamed");
  raised.level = Level::II;  // starts the clock: k4 acts
  engine.handle(raised);
  const std::size_t commits = store.commits();
  const std::size_t timeline = store.timeline().size();

  // The first part: k4, which acted, with both its events and its actions, and one other.
  CHECK_FALSE(engine.flush_part(2));
  CHECK(store.commits() == commits + 1);
  CHECK(store.incidents().at("k4").level == Level::II);
  CHECK(store.timeline().size() > timeline);
  CHECK(store.processed().contains("retitle-4"));
  CHECK(store.processed().contains("raise-4"));
  CHECK(store.incidents().at("k0").title == "renamed");
  CHECK(store.processed().contains("retitle-0"));
  CHECK(store.incidents().at("k1").title == "test incident");
  CHECK_FALSE(store.processed().contains("retitle-1"));
  CHECK(engine.uncommitted_incidents() == 3);
  // Committed or not, an event seen once is a duplicate.
  CHECK(engine.handle(retitled(opened[0], "retitle-0", "renamed")).status ==
        Outcome::Status::duplicate);
  CHECK(engine.handle(retitled(opened[2], "retitle-2", "renamed")).status ==
        Outcome::Status::duplicate);

  CHECK_FALSE(engine.flush_part(2));
  CHECK(store.incidents().at("k2").title == "renamed");
  CHECK(engine.flush_part(2));
  CHECK(store.commits() == commits + 3);
  CHECK(store.incidents().at("k3").title == "renamed");
  CHECK(store.processed().contains("retitle-3"));
  CHECK(engine.uncommitted_incidents() == 0);
  CHECK(engine.flush_part(2));  // nothing left: no commit
  CHECK(store.commits() == commits + 3);
}

TEST_CASE_METHOD(Batched,
                 "flush_acted_part commits the incidents that acted a few at a time, each with "
                 "its own actions",
                 "[engine][deferred]") {
  const Event kept = event("open-kept", "kept", Level::III, {"a"}, kStart);
  engine.handle(kept);
  engine.flush();
  engine.handle(retitled(kept, "retitle-kept", "renamed"));  // re-described only: waits
  for (int i = 0; i < 5; ++i) {
    const std::string n = std::to_string(i);
    engine.handle(event("open-" + n, "k" + n, Level::II, {"a", "b"}, kStart));
  }
  const std::size_t commits = store.commits();
  const auto entries_of = [this](const std::string& key) {
    std::size_t n = 0;
    for (const auto& a : store.timeline()) n += a.incident_key == key ? 1 : 0;
    return n;
  };

  CHECK_FALSE(engine.flush_acted_part(2));
  CHECK(store.commits() == commits + 1);
  CHECK(store.incidents().contains("k0"));
  CHECK(store.incidents().contains("k1"));
  CHECK(entries_of("k0") > 0);
  CHECK(entries_of("k1") > 0);
  // The others' actions wait with their incidents.
  CHECK_FALSE(store.incidents().contains("k2"));
  CHECK(entries_of("k2") == 0);
  CHECK(entries_of("k4") == 0);

  CHECK_FALSE(engine.flush_acted_part(2));
  CHECK(engine.flush_acted_part(2));
  CHECK(store.commits() == commits + 3);
  CHECK(store.incidents().contains("k4"));
  CHECK(entries_of("k4") == entries_of("k0"));
  CHECK(store.processed().contains("open-4"));
  // The re-described incident is flush()'s.
  CHECK(store.incidents().at("kept").title == "test incident");
  CHECK_FALSE(store.processed().contains("retitle-kept"));
  CHECK(engine.uncommitted_incidents() == 1);
  CHECK(engine.flush_acted_part(2));  // nothing acted: no commit
  CHECK(store.commits() == commits + 3);
}

TEST_CASE_METHOD(Batched,
                 "a step that falls due between two slices commits its own incident, not the "
                 "batch's",
                 "[engine][deferred]") {
  engine.handle(event("open-clock", "clock", Level::II, {"a"}, kStart));
  engine.flush();
  // A batch half applied: incidents it opened are pending (they acted: an opening is a
  // timeline entry) when the timer fires. Level III: no clock of their own.
  for (int i = 0; i < 3; ++i) {
    const std::string n = std::to_string(i);
    engine.handle(event("open-" + n, "k" + n, Level::III, {"a"}, kStart));
  }
  const std::size_t commits = store.commits();
  engine.set_flush_each_step(true);  // between two slices, as the daemon's loop runs
  time.advance_to(kStart + 2h);      // the 2 h warning of "clock"
  CHECK(store.commits() == commits + 1);
  bool warned = false;
  for (const auto& a : store.timeline()) {
    warned = warned || (a.incident_key == "clock" && a.kind == ActionKind::warning);
    CHECK(a.incident_key != "k0");
  }
  CHECK(warned);
  CHECK_FALSE(store.incidents().contains("k0"));
  CHECK(engine.uncommitted_incidents() == 3);

  engine.set_flush_each_step(false);
  engine.flush_acted();
  CHECK(store.incidents().contains("k0"));
  CHECK(store.incidents().contains("k2"));
  CHECK(store.processed().contains("open-2"));
  CHECK(engine.uncommitted_incidents() == 0);
}

// A random stream of events and confirmations over a few incidents, in batches; every third
// batch commits everything. The clock moves a second per batch, so only events decide. An
// incident keeps the units it opened with, and its confirmations come from them: a confirmation
// refused because its unit was not (yet) responsible is not recorded, and redelivered after a
// later event that added the unit it is accepted, a different history but a legitimate one (the
// same as the unit sending it again), which the exact comparison below would count as a loss.
using Input = std::variant<Event, Confirmation>;

std::vector<std::vector<Input>> random_batches(std::mt19937& rng) {
  const std::vector<std::vector<std::string>> unit_sets = {{"a"}, {"a", "b"}, {"b", "a"}};
  const Level levels[] = {Level::I, Level::II, Level::III, Level::IV};
  struct Key {
    int events = 0;
    bool closed = false;
    std::size_t units = 0;  // in unit_sets
  };
  std::vector<Key> keys(12);
  std::vector<std::vector<Input>> batches(40);
  int confirmations = 0;
  for (auto& batch : batches) {
    const int n = static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      const std::size_t k = rng() % keys.size();
      const std::string key = "k" + std::to_string(k);
      Key& state = keys[k];
      if (state.closed) continue;
      if (state.events == 0) state.units = rng() % unit_sets.size();
      const auto& units = unit_sets[state.units];
      const int roll = static_cast<int>(rng() % 20);
      if (state.events > 0 && roll == 0) {
        batch.emplace_back(event(key + "-c", key, Level::II, units, kStart, EventKind::closed));
        state.closed = true;
      } else if (state.events > 0 && roll < 4) {
        batch.emplace_back(confirmation("r" + std::to_string(confirmations++), key,
                                        Milestone::first_release, units[rng() % units.size()],
                                        kStart + 1min));
      } else {
        Event e = event(key + "-" + std::to_string(state.events), key, levels[rng() % 4], units,
                        kStart, state.events == 0 ? EventKind::detected : EventKind::updated);
        e.title = "title " + std::to_string(rng() % 1000);
        ++state.events;
        batch.emplace_back(std::move(e));
      }
      if (rng() % 10 == 0) batch.push_back(batch.back());  // sent twice
    }
  }
  return batches;
}

TimePoint batch_time(std::size_t b) {
  return kStart + std::chrono::seconds(b + 1);
}

bool commits_everything(std::size_t b) {
  return b % 3 == 2;
}

void feed(Engine& engine, VirtualTime& time, const std::vector<Input>& batch, std::size_t b) {
  time.advance_to(batch_time(b));
  for (const auto& input : batch) {
    std::visit([&](const auto& x) { engine.handle(x); }, input);
  }
}

// Every batch committed whole, as if nothing ever crashed.
void run_uninterrupted(const Config& config, const std::vector<std::vector<Input>>& batches,
                       MemoryStore& store) {
  VirtualTime time(kStart);
  Engine engine(config, store, time);
  engine.set_flush_each_step(false);
  for (std::size_t b = 0; b < batches.size(); ++b) {
    feed(engine, time, batches[b], b);
    engine.flush();
  }
}

// After a crash: an engine rebuilt from `store` is fed again from batch `redeliver_from` (the
// one after the last batch that committed everything), as Kafka redelivers.
void redeliver(const Config& config, const std::vector<std::vector<Input>>& batches,
               MemoryStore& store, std::size_t redeliver_from) {
  VirtualTime time(redeliver_from == 0 ? kStart : batch_time(redeliver_from - 1));
  Engine engine(config, store, time);
  engine.set_flush_each_step(false);
  for (std::size_t b = redeliver_from; b < batches.size(); ++b) {
    feed(engine, time, batches[b], b);
    engine.flush_acted();
  }
  engine.flush();
}

// Each incident's timeline, in its order. Commits in parts order the incidents of one batch
// differently (an incident's actions go with its own part), never the actions of one incident.
std::map<std::string, std::vector<std::string>> timelines(const MemoryStore& store) {
  std::map<std::string, std::vector<std::string>> by_incident;
  for (const auto& a : store.timeline()) by_incident[a.incident_key].push_back(line(a));
  return by_incident;
}

void check_same(const MemoryStore& store, const MemoryStore& reference) {
  CHECK(store.incidents() == reference.incidents());
  CHECK(store.processed().size() == reference.processed().size());
  REQUIRE(store.timeline().size() == reference.timeline().size());
  CHECK(timelines(store) == timelines(reference));
  CHECK(store.confirmations().size() == reference.confirmations().size());
}

TEST_CASE_METHOD(Batched,
                 "each part takes its incidents' actions wherever they lie among the others'",
                 "[engine][deferred]") {
  // k0 acts first and last, k1 in between and at the end: k0's part must reach past the other
  // incidents' actions for its closing, and leave theirs, in their order, for their own parts.
  const std::vector<Event> batch = {
      event("open-0", "k0", Level::II, {"a", "b"}, kStart),
      event("open-1", "k1", Level::II, {"a"}, kStart),
      event("open-2", "k2", Level::II, {"a", "b"}, kStart),
      event("close-0", "k0", Level::II, {"a", "b"}, kStart, EventKind::closed),
      event("open-3", "k3", Level::II, {"b"}, kStart),
      event("close-1", "k1", Level::II, {"a"}, kStart, EventKind::closed),
  };
  MemoryStore reference_store;
  Engine reference{config, reference_store, time};
  reference.set_flush_each_step(false);
  for (const Event& e : batch) {
    REQUIRE(engine.handle(e).status == Outcome::Status::accepted);
    REQUIRE(reference.handle(e).status == Outcome::Status::accepted);
  }
  reference.flush();

  CHECK_FALSE(engine.flush_acted_part(1));
  const auto committed = timelines(store);
  REQUIRE(committed.size() == 1);
  CHECK(committed.at("k0") == timelines(reference_store).at("k0"));  // its closing too
  CHECK(store.incidents().at("k0").closed);

  int parts = 1;
  while (!engine.flush_acted_part(1)) ++parts;
  CHECK(parts == 3);  // k1, k2, then k3 with nothing left
  check_same(store, reference_store);
  CHECK(engine.uncommitted_incidents() == 0);
}

// Seeds of the two crash tests: all in release, a quarter under a sanitizer (tests/CMakeLists.txt).
#ifdef INCIDENTD_UNDER_SANITIZER
constexpr unsigned kSeeds = 10;
#else
constexpr unsigned kSeeds = 40;
#endif

TEST_CASE("a crash between full commits loses nothing when the source redelivers",
          "[engine][deferred]") {
  const Config config = roster_config();
  for (unsigned seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937 rng(seed);
    const auto batches = random_batches(rng);
    CAPTURE(seed);

    MemoryStore reference;
    run_uninterrupted(config, batches, reference);

    // Deferred, with a crash after batch `crash` (each in turn): the restarted engine is fed
    // again from the batch after the last one that committed everything, as Kafka redelivers.
    for (std::size_t crash = 0; crash < batches.size(); ++crash) {
      CAPTURE(crash);
      MemoryStore store;
      std::size_t redeliver_from = 0;
      {
        VirtualTime time(kStart);
        Engine engine(config, store, time);
        engine.set_flush_each_step(false);
        for (std::size_t b = 0; b <= crash; ++b) {
          feed(engine, time, batches[b], b);
          if (commits_everything(b)) {
            engine.flush();
            redeliver_from = b + 1;
          } else {
            engine.flush_acted();
          }
        }
      }  // the crash: what was not committed is gone
      redeliver(config, batches, store, redeliver_from);
      check_same(store, reference);
    }
  }
}

// As above, with every commit made in parts of at most two incidents each (flush_part() and
// flush_acted_part(), as the Kafka consumer does) and the crash among those parts too.
TEST_CASE("a crash between the parts of a commit loses nothing when the source redelivers",
          "[engine][deferred]") {
  const Config config = roster_config();
  for (unsigned seed = 1; seed <= kSeeds; ++seed) {
    std::mt19937 rng(seed);
    const auto batches = random_batches(rng);
    CAPTURE(seed);

    MemoryStore reference;
    run_uninterrupted(config, batches, reference);

    // The crash in each batch, after each of its first parts.
    for (std::size_t crash = 0; crash < batches.size(); ++crash) {
      for (std::size_t parts_before_crash = 0; parts_before_crash < 4; ++parts_before_crash) {
        CAPTURE(crash, parts_before_crash);
        MemoryStore store;
        std::size_t redeliver_from = 0;
        {
          VirtualTime time(kStart);
          Engine engine(config, store, time);
          engine.set_flush_each_step(false);
          for (std::size_t b = 0; b <= crash; ++b) {
            feed(engine, time, batches[b], b);
            const bool everything = commits_everything(b);
            bool done = false;
            for (std::size_t part = 0; !done && (b < crash || part < parts_before_crash); ++part) {
              done = everything ? engine.flush_part(2) : engine.flush_acted_part(2);
            }
            if (done && everything) redeliver_from = b + 1;
          }
        }  // the crash
        redeliver(config, batches, store, redeliver_from);
        check_same(store, reference);
      }
    }
  }
}

}  // namespace
