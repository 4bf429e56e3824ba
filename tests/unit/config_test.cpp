#include "incidentd/config.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "support/test_config.hpp"

namespace incidentd {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

// Test texts start on the line after R"( so that line 1 of the document is the first line shown.
std::string doc(std::string_view text) {
  if (!text.empty() && text.front() == '\n') text.remove_prefix(1);
  return std::string(text);
}

// A valid roster for tests that are about something else; it holds the default supervision unit.
constexpr std::string_view kRoster = R"(
[[units]]
id = "prov-office"
name = "省政府办公厅"

  [[units.people]]
  id = "office-duty1"
  name = "值班员甲"
  role = "duty"
  phone = "+8613800000001"
  channels = ["sms"]
)";

std::string with_roster(std::string_view head) {
  return doc(head) + std::string(kRoster);
}

// Appended after an escalation under test so that the default ladder's levels 1 and 2 are not
// also reported missing.
constexpr std::string_view kLevel0Ladder = R"(
[[policy.ladder]]
milestone = "first_release"
at = "5h"
action = "deadline_breached"
level = 0
)";

std::vector<ConfigError> errors_of(const std::string& text) {
  ConfigResult result = parse_config(text, "t.toml");
  CHECK_FALSE(result.config.has_value());
  return result.errors;
}

// The document must fail with exactly one error, at `where`, saying `message`.
void require_one_error(const std::string& text, const std::string& where,
                       const std::string& message) {
  const std::vector<ConfigError> errors = errors_of(text);
  INFO(text);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].where == where);
  CHECK(errors[0].message == message);
}

Config parsed(const std::string& text) {
  ConfigResult result = parse_config(text, "t.toml");
  for (const ConfigError& e : result.errors) UNSCOPED_INFO(e.where << ": " << e.message);
  REQUIRE(result.config.has_value());
  return *result.config;
}

void check_step(const LadderStep& step, Milestone milestone, Duration offset, ActionKind action,
                int level) {
  CHECK(step.milestone == milestone);
  CHECK(step.offset == offset);
  CHECK(step.action == action);
  CHECK(step.level == level);
}

void check_same_policy(const Policy& actual, const Policy& expected) {
  CHECK(actual.clock_levels == expected.clock_levels);
  CHECK(actual.confirm == expected.confirm);
  CHECK(actual.first_release_target == expected.first_release_target);
  CHECK(actual.first_release_deadline == expected.first_release_deadline);
  CHECK(actual.press_conference_deadline == expected.press_conference_deadline);
  CHECK(actual.follow_up_every == expected.follow_up_every);
  CHECK(actual.overdue_every == expected.overdue_every);
  CHECK(actual.resend_after == expected.resend_after);
  CHECK(actual.deputy_after_sends == expected.deputy_after_sends);
  REQUIRE(actual.ladder.size() == expected.ladder.size());
  for (std::size_t i = 0; i < expected.ladder.size(); ++i) {
    INFO("ladder row " << i);
    const LadderStep& e = expected.ladder[i];
    check_step(actual.ladder[i], e.milestone, e.offset, e.action, e.level);
  }
  REQUIRE(actual.escalation.size() == expected.escalation.size());
  for (std::size_t i = 0; i < expected.escalation.size(); ++i) {
    INFO("escalation level " << i);
    CHECK(actual.escalation[i].level == expected.escalation[i].level);
    CHECK(actual.escalation[i].roles == expected.escalation[i].roles);
    CHECK(actual.escalation[i].supervision_units == expected.escalation[i].supervision_units);
  }
}

// ---- the contract's default policy -----------------------------------------------------------

TEST_CASE("the default ladder is the contract's table, row by row, in milestone and time order") {
  const Policy p = Policy::defaults();
  REQUIRE(p.ladder.size() == 11);
  using M = Milestone;
  using A = ActionKind;
  check_step(p.ladder[0], M::first_release, hours(0), A::warning, 0);  // the alert at open
  check_step(p.ladder[1], M::first_release, hours(2), A::warning, 0);
  check_step(p.ladder[2], M::first_release, hours(2) + minutes(30), A::warning, 0);
  check_step(p.ladder[3], M::first_release, hours(3), A::target_missed, 1);
  check_step(p.ladder[4], M::first_release, hours(4) + minutes(30), A::warning, 1);
  check_step(p.ladder[5], M::first_release, hours(5), A::deadline_breached, 2);
  check_step(p.ladder[6], M::press_conference, hours(20), A::warning, 0);
  check_step(p.ladder[7], M::press_conference, hours(23), A::warning, 1);
  check_step(p.ladder[8], M::press_conference, hours(24), A::deadline_breached, 2);
  check_step(p.ladder[9], M::follow_up, -hours(2), A::warning, 0);
  check_step(p.ladder[10], M::follow_up, hours(0), A::deadline_breached, 1);
}

TEST_CASE("the default policy has the contract's durations, levels and confirm rule") {
  const Policy p = Policy::defaults();
  CHECK(p.clock_levels == std::set<Level>{Level::I, Level::II});
  CHECK(p.confirm == ConfirmRule::all);
  CHECK(p.first_release_target == hours(3));
  CHECK(p.first_release_deadline == hours(5));
  CHECK(p.press_conference_deadline == hours(24));
  CHECK(p.follow_up_every == hours(24));
  CHECK(p.overdue_every == hours(1));
  CHECK(p.resend_after == minutes(15));
  CHECK(p.deputy_after_sends == 2);
}

TEST_CASE("the default escalation adds leaders at level 1, principals and the office at level 2") {
  const Policy p = Policy::defaults();
  REQUIRE(p.escalation.size() == 3);
  CHECK(p.escalation[0].level == 0);
  CHECK(p.escalation[0].roles == std::vector<std::string>{"duty"});
  CHECK(p.escalation[0].supervision_units.empty());
  CHECK(p.escalation[1].level == 1);
  CHECK(p.escalation[1].roles == std::vector<std::string>{"duty", "leader"});
  CHECK(p.escalation[1].supervision_units.empty());
  CHECK(p.escalation[2].level == 2);
  CHECK(p.escalation[2].roles == std::vector<std::string>{"duty", "leader", "principal"});
  CHECK(p.escalation[2].supervision_units == std::vector<std::string>{"prov-office"});
}

// ---- the shipped example -------------------------------------------------------------------

TEST_CASE("the shipped example configuration loads without errors") {
  const ConfigResult result = load_config_file(testing::example_config_path());
  for (const ConfigError& e : result.errors) UNSCOPED_INFO(e.where << ": " << e.message);
  CHECK(result.errors.empty());
  REQUIRE(result.config.has_value());
}

TEST_CASE("the shipped example spells out exactly the default policy") {
  const Config config = testing::load_example_config();
  check_same_policy(config.policy, Policy::defaults());
}

TEST_CASE("the shipped example has the settings the contract names") {
  const Config config = testing::load_example_config();
  CHECK(config.timezone == "Asia/Shanghai");
  CHECK(config.utc_offset == minutes(8 * 60));
  CHECK(config.lang == "zh");
  CHECK(config.database == "/var/lib/incidentd/incidentd.db");
  CHECK(config.kafka.events_topic == "opinion.events");
  CHECK(config.kafka.releases_topic == "opinion.releases");
  CHECK(config.kafka.dlq_topic == "opinion.events.dlq");
}

TEST_CASE(
    "the shipped roster has every contract unit with duty officers, leader, principal and "
    "deputy") {
  const Config config = testing::load_example_config();
  for (const char* id :
       {"zhaotong-gov", "prov-emergency", "prov-cac", "prov-publicsecurity", "prov-office"}) {
    INFO(id);
    const Unit* unit = config.find_unit(id);
    REQUIRE(unit != nullptr);
    std::vector<const Person*> duty;
    const Person* leader = nullptr;
    const Person* principal = nullptr;
    const Person* deputy = nullptr;
    for (const Person& p : unit->people) {
      if (p.role == "duty") duty.push_back(&p);
      if (p.role == "leader") leader = &p;
      if (p.role == "principal") principal = &p;
      if (p.role == "deputy") deputy = &p;
    }
    REQUIRE(duty.size() == 2);
    REQUIRE(leader != nullptr);
    REQUIRE(principal != nullptr);
    REQUIRE(deputy != nullptr);
    CHECK(duty[0]->deputy == duty[1]->id);
    CHECK(duty[1]->deputy == duty[0]->id);
    CHECK(leader->deputy == deputy->id);
    CHECK(principal->deputy == deputy->id);
  }
  CHECK(config.find_unit("zhaotong-gov")->name == "昭通市人民政府");
  CHECK(config.find_unit("prov-office")->name == "省政府办公厅");
}

// ---- lookups -------------------------------------------------------------------------------

TEST_CASE("lookups find units and people by id and the unit a person belongs to") {
  const Config config = testing::small_config();
  REQUIRE(config.find_unit("b") != nullptr);
  CHECK(config.find_unit("b")->name == "Unit B");
  CHECK(config.find_unit("nope") == nullptr);
  REQUIRE(config.find_person("b-leader") != nullptr);
  CHECK(config.find_person("b-leader")->role == "leader");
  CHECK(config.find_person("nobody") == nullptr);
  REQUIRE(config.unit_of_person("office-duty2") != nullptr);
  CHECK(config.unit_of_person("office-duty2")->id == "office");
  CHECK(config.unit_of_person("nobody") == nullptr);
}

// ---- the small test roster -----------------------------------------------------------------

TEST_CASE("small_config has the roster its header documents") {
  const Config config = testing::small_config();
  REQUIRE(config.units.size() == 3);
  CHECK(config.units[0].id == "a");
  CHECK(config.units[1].id == "b");
  CHECK(config.units[2].id == "office");
  for (const Unit& unit : config.units) {
    INFO(unit.id);
    REQUIRE(unit.people.size() == 5);
    const std::string u = unit.id;
    CHECK(unit.people[0].id == u + "-duty1");
    CHECK(unit.people[0].role == "duty");
    CHECK(unit.people[0].deputy == u + "-duty2");
    CHECK(unit.people[1].id == u + "-duty2");
    CHECK(unit.people[1].role == "duty");
    CHECK(unit.people[1].deputy == u + "-duty1");
    CHECK(unit.people[2].id == u + "-leader");
    CHECK(unit.people[2].role == "leader");
    CHECK(unit.people[2].deputy == u + "-deputy");
    CHECK(unit.people[3].id == u + "-principal");
    CHECK(unit.people[3].role == "principal");
    CHECK(unit.people[3].deputy == u + "-deputy");
    CHECK(unit.people[4].id == u + "-deputy");
    CHECK(unit.people[4].role == "deputy");
    CHECK(unit.people[4].deputy.empty());
    const std::vector<std::string> channels = u == "b" ? std::vector<std::string>{"webhook", "sms"}
                                                       : std::vector<std::string>{"sms", "webhook"};
    for (const Person& p : unit.people) CHECK(p.channels == channels);
  }
}

TEST_CASE("small_config keeps the default policy but supervises through unit office") {
  Policy expected = Policy::defaults();
  expected.escalation[2].supervision_units = {"office"};
  check_same_policy(testing::small_config().policy, expected);
  expected.confirm = ConfirmRule::lead;
  check_same_policy(testing::small_config(ConfirmRule::lead).policy, expected);
}

// ---- defaults for what is left out ---------------------------------------------------------

TEST_CASE("a file with only a roster takes every default") {
  const Config config = parsed(with_roster(""));
  check_same_policy(config.policy, Policy::defaults());
  CHECK(config.timezone == "Asia/Shanghai");
  CHECK(config.utc_offset == minutes(480));
  CHECK(config.database == "/var/lib/incidentd/incidentd.db");
  CHECK(config.kafka.brokers == "127.0.0.1:9092");
  CHECK(config.kafka.group == "incidentd");
  CHECK(config.kafka.events_topic == "opinion.events");
  CHECK(config.kafka.properties.empty());
}

TEST_CASE("a policy section that leaves out the ladder and escalation gets the default ones") {
  const Config config = parsed(with_roster(R"(
[policy]
confirm = "lead"
overdue_every = "30m"
[policy.delivery]
deputy_after_sends = 3
)"));
  Policy expected = Policy::defaults();
  expected.confirm = ConfirmRule::lead;
  expected.overdue_every = minutes(30);
  expected.deputy_after_sends = 3;
  check_same_policy(config.policy, expected);
}

TEST_CASE("a ladder in the file replaces the default one and is sorted by milestone, then time") {
  const Config config = parsed(with_roster(R"(
[[policy.ladder]]
milestone = "press_conference"
at = "24h"
action = "deadline_breached"
level = 1
[[policy.ladder]]
milestone = "first_release"
at = "5h"
action = "deadline_breached"
level = 2
[[policy.ladder]]
milestone = "first_release"
at = "1h"
action = "warning"
level = 0
)"));
  const auto& ladder = config.policy.ladder;
  REQUIRE(ladder.size() == 3);
  check_step(ladder[0], Milestone::first_release, hours(1), ActionKind::warning, 0);
  check_step(ladder[1], Milestone::first_release, hours(5), ActionKind::deadline_breached, 2);
  check_step(ladder[2], Milestone::press_conference, hours(24), ActionKind::deadline_breached, 1);
}

TEST_CASE("changed durations, kafka settings and properties are read") {
  const Config config = parsed(with_roster(R"(
timezone = "UTC"
database = "/tmp/x.db"
[kafka]
brokers = "k1:9092,k2:9092"
group = "g"
[kafka.topics]
events = "e"
releases = "r"
dead_letter = "d"
[kafka.properties]
"session.timeout.ms" = "6000"
[policy]
clock_levels = ["I"]
[policy.first_release]
target = "2h"
deadline = "4h"
[policy.press_conference]
deadline = "12h"
[policy.follow_up]
every = "12h"
[policy.delivery]
resend_after = "10m"
[[policy.ladder]]
milestone = "first_release"
at = "2h"
action = "target_missed"
level = 1
)"));
  CHECK(config.timezone == "UTC");
  CHECK(config.utc_offset == minutes(0));
  CHECK(config.database == "/tmp/x.db");
  CHECK(config.kafka.brokers == "k1:9092,k2:9092");
  CHECK(config.kafka.group == "g");
  CHECK(config.kafka.events_topic == "e");
  CHECK(config.kafka.releases_topic == "r");
  CHECK(config.kafka.dlq_topic == "d");
  CHECK(config.kafka.properties ==
        std::map<std::string, std::string>{{"session.timeout.ms", "6000"}});
  CHECK(config.policy.clock_levels == std::set<Level>{Level::I});
  CHECK(config.policy.first_release_target == hours(2));
  CHECK(config.policy.first_release_deadline == hours(4));
  CHECK(config.policy.press_conference_deadline == hours(12));
  CHECK(config.policy.follow_up_every == hours(12));
  CHECK(config.policy.resend_after == minutes(10));
}

// ---- validation: one test per rule, each with its message and position ---------------------

TEST_CASE("a TOML syntax error is reported with its position") {
  const std::vector<ConfigError> errors = errors_of(with_roster(R"(
database = "/a.db"
overdue_every = = "1h"
)"));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].where.rfind("t.toml:2:", 0) == 0);
  CHECK(errors[0].message.rfind("TOML syntax error: ", 0) == 0);
}

TEST_CASE("a misspelt key is reported with a suggestion, not ignored") {
  require_one_error(
      with_roster(R"(
[policy.press_conference]
dedline = "24h"
)"),
      "t.toml:2:1",
      "policy.press_conference: unknown key \"dedline\" (did you mean \"deadline\"?)");
}

TEST_CASE("an unknown top-level key is reported") {
  require_one_error(with_roster(R"(
databse = "/a.db"
)"),
                    "t.toml:1:1", "unknown key \"databse\" (did you mean \"database\"?)");
}

TEST_CASE("an unknown key far from any known one gets no suggestion") {
  require_one_error(with_roster(R"(
[kafka]
compression = "lz4"
)"),
                    "t.toml:2:1", "kafka: unknown key \"compression\"");
}

TEST_CASE("a value of the wrong type is reported with what was expected") {
  require_one_error(with_roster(R"(
[policy]
overdue_every = 60
)"),
                    "t.toml:2:17",
                    "policy.overdue_every: expected a string with a duration like \"2h30m\", got "
                    "an integer");
}

TEST_CASE("a section given as a value of the wrong type is reported") {
  require_one_error(with_roster(R"(
policy = "strict"
)"),
                    "t.toml:1:10", "policy: expected a table, got a string");
}

TEST_CASE("a kafka property that is not a string is reported") {
  require_one_error(with_roster(R"(
[kafka.properties]
"session.timeout.ms" = 6000
)"),
                    "t.toml:2:24",
                    "kafka.properties.session.timeout.ms: expected a string (librdkafka takes "
                    "every property as a string: write \"5000\", not 5000), got an integer");
}

TEST_CASE("a malformed duration is reported with an example of the right form") {
  require_one_error(with_roster(R"(
[policy.first_release]
target = "3 hours"
)"),
                    "t.toml:2:10",
                    "policy.first_release.target: expected a duration like \"2h30m\", got \"3 "
                    "hours\"");
}

TEST_CASE("an unknown incident level is reported") {
  require_one_error(with_roster(R"(
[policy]
clock_levels = ["I", "V"]
)"),
                    "t.toml:2:22",
                    "policy.clock_levels: unknown level \"V\" (expected \"I\", \"II\", \"III\" or "
                    "\"IV\")");
}

TEST_CASE("an empty list of clock levels is reported") {
  require_one_error(with_roster(R"(
[policy]
clock_levels = []
)"),
                    "t.toml:2:16",
                    "policy.clock_levels: must name at least one level, or no clock ever runs");
}

TEST_CASE("an unknown confirm rule is reported") {
  require_one_error(with_roster(R"(
[policy]
confirm = "any"
)"),
                    "t.toml:2:11",
                    "policy.confirm: unknown rule \"any\" (expected \"all\": every responsible "
                    "unit confirms, or \"lead\": the lead unit alone)");
}

TEST_CASE("an unknown milestone in the ladder is reported") {
  require_one_error(with_roster(R"(
[[policy.ladder]]
milestone = "first_releases"
at = "2h"
action = "warning"
level = 0
)"),
                    "t.toml:2:13",
                    "policy.ladder[1].milestone: unknown milestone \"first_releases\" (expected "
                    "\"first_release\", \"press_conference\" or \"follow_up\")");
}

TEST_CASE("an action the ladder cannot take is reported") {
  const std::string expected_tail =
      " (expected \"warning\", \"target_missed\" or \"deadline_breached\")";
  require_one_error(with_roster(R"(
[[policy.ladder]]
milestone = "first_release"
at = "2h"
action = "warn"
level = 0
)"),
                    "t.toml:4:10",
                    "policy.ladder[1].action: unknown ladder action \"warn\"" + expected_tail);
  // A real action kind, but not one a ladder step can take.
  require_one_error(
      with_roster(R"(
[[policy.ladder]]
milestone = "first_release"
at = "2h"
action = "notification"
level = 0
)"),
      "t.toml:4:10",
      "policy.ladder[1].action: unknown ladder action \"notification\"" + expected_tail);
}

TEST_CASE("a ladder row without a required key is reported at the row") {
  require_one_error(with_roster(R"(
[[policy.ladder]]
milestone = "first_release"
at = "2h"
level = 0
)"),
                    "t.toml:1:1",
                    "policy.ladder[1]: missing action (\"warning\", \"target_missed\" or "
                    "\"deadline_breached\")");
}

TEST_CASE("a ladder level without an escalation entry is reported") {
  require_one_error(with_roster(R"(
[[policy.ladder]]
milestone = "first_release"
at = "5h"
action = "deadline_breached"
level = 3
)"),
                    "t.toml:5:9",
                    "policy.ladder[1].level: level 3 has no [[policy.escalation]] entry (the "
                    "default escalation has levels 0-2)");
}

TEST_CASE("an escalation that drops a level the default ladder uses is reported") {
  require_one_error(with_roster(R"(
[[policy.escalation]]
level = 0
roles = ["duty"]
[[policy.escalation]]
level = 1
roles = ["duty", "leader"]
)"),
                    "t.toml:1:1",
                    "policy.escalation: the default ladder uses level 2, which has no "
                    "[[policy.escalation]] entry");
}

TEST_CASE("an unknown role in the escalation is reported") {
  require_one_error(with_roster(R"(
[[policy.escalation]]
level = 0
roles = ["duty", "boss"]
)" + std::string(kLevel0Ladder)),
                    "t.toml:3:18",
                    "policy.escalation[1].roles: unknown role \"boss\" (expected \"duty\", "
                    "\"leader\", \"principal\" or \"deputy\")");
}

TEST_CASE("an escalation level defined twice is reported") {
  require_one_error(with_roster(R"(
[[policy.escalation]]
level = 0
roles = ["duty"]
[[policy.escalation]]
level = 0
roles = ["leader"]
)" + std::string(kLevel0Ladder)),
                    "t.toml:5:9", "policy.escalation[2].level: level 0 is already defined at 2:9");
}

TEST_CASE("an escalation level that reaches nobody is reported") {
  require_one_error(with_roster(R"(
[[policy.escalation]]
level = 0
)" + std::string(kLevel0Ladder)),
                    "t.toml:1:1",
                    "policy.escalation[1]: reaches nobody; give roles, supervision_units or both");
}

TEST_CASE("zero and negative durations are rejected where they make no sense") {
  require_one_error(with_roster(R"(
[policy]
overdue_every = "0s"
)"),
                    "t.toml:2:17", "policy.overdue_every: must be a positive duration, got \"0s\"");
  require_one_error(with_roster(R"(
[policy.delivery]
resend_after = "-15m"
)"),
                    "t.toml:2:16",
                    "policy.delivery.resend_after: must be a positive duration, got \"-15m\"");
}

TEST_CASE("durations below their key's minimum are rejected with the minimum named") {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"[policy]\noverdue_every = \"1ms\"\n", "t.toml:2:17",
       "policy.overdue_every: must be at least 5m, got \"1ms\""},
      {"[policy.delivery]\nresend_after = \"1ms\"\n", "t.toml:2:16",
       "policy.delivery.resend_after: must be at least 1m, got \"1ms\""},
      {"[policy.follow_up]\nevery = \"59m\"\n", "t.toml:2:9",
       "policy.follow_up.every: must be at least 1h, got \"59m\""},
      {"[notify]\nretry_base = \"1ms\"\n", "t.toml:2:14",
       "notify.retry_base: must be at least 100ms, got \"1ms\""},
      {"[notify]\npoll_every = \"99ms\"\n", "t.toml:2:14",
       "notify.poll_every: must be at least 100ms, got \"99ms\""},
      {"[notify]\nsend_timeout = \"500ms\"\n", "t.toml:2:16",
       "notify.send_timeout: must be at least 1s, got \"500ms\""},
      {"[notify]\nfallback_after = \"1ms\"\n", "t.toml:2:18",
       "notify.fallback_after: must be at least 1s, got \"1ms\""},
      {"[http]\nheader_timeout = \"1ms\"\n", "t.toml:2:18",
       "http.header_timeout: must be at least 1s, got \"1ms\""},
      {"[http]\nlink_ttl = \"1s\"\n", "t.toml:2:12",
       "http.link_ttl: must be at least 1m, got \"1s\""},
      {"[sms]\ntimeout = \"1ms\"\n", "t.toml:2:11",
       "sms.timeout: must be at least 1s, got \"1ms\""},
  };
  for (const auto& [text, where, message] : cases)
    require_one_error(with_roster(text), where, message);
  // At the minimum is fine.
  const Config config =
      parsed(with_roster("[notify]\nretry_base = \"100ms\"\npoll_every = \"100ms\"\n"));
  CHECK(config.notify.poll_every == std::chrono::milliseconds(100));
}

TEST_CASE("a jitter that is not a finite number is rejected") {
  require_one_error(with_roster("[notify]\njitter = nan\n"), "t.toml:2:10",
                    "notify.jitter: must be a finite number from 0 to 1, got nan");
  require_one_error(with_roster("[notify]\njitter = -nan\n"), "t.toml:2:10",
                    "notify.jitter: must be a finite number from 0 to 1, got nan");
  require_one_error(with_roster("[notify]\njitter = inf\n"), "t.toml:2:10",
                    "notify.jitter: must be a finite number from 0 to 1, got inf");
}

TEST_CASE("two people with one phone number are rejected at the second") {
  require_one_error(
      doc(R"(
[[units]]
id = "prov-office"
name = "省政府办公厅"

  [[units.people]]
  id = "office-duty1"
  name = "值班员甲"
  role = "duty"
  phone = "+8613800000001"
  channels = ["sms"]

  [[units.people]]
  id = "office-duty2"
  name = "值班员乙"
  role = "duty"
  phone = "+8613800000001"
  channels = ["sms"]
)"),
      "t.toml:16:11",
      "units[prov-office].people[office-duty2].phone: \"+8613800000001\" is already "
      "the phone of another person (at line:column 9:11); each person needs their own");
}

TEST_CASE("two http tokens with one hash are rejected at the second") {
  const std::string hash(64, 'a');
  require_one_error(with_roster(R"(
[[http.tokens]]
name = "first"
sha256 = ")" + hash + R"("

[[http.tokens]]
name = "second"
sha256 = ")" + std::string(64, 'A') +
                                R"("
)"),
                    "t.toml:7:10",
                    "http.tokens: token \"second\" has the same sha256 as token \"first\" (each "
                    "holder needs a token of their own)");
}

TEST_CASE("kafka.properties may not set what incidentd sets itself") {
  for (const char* name :
       {"group.id", "bootstrap.servers", "enable.auto.commit", "transactional.id"}) {
    INFO(name);
    const std::vector<ConfigError> errors =
        errors_of(with_roster("[kafka.properties]\n\"" + std::string(name) + "\" = \"x\"\n"));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].where == "t.toml:2:" + std::to_string(std::string(name).size() + 6));
    CHECK_THAT(errors[0].message, Catch::StartsWith("kafka.properties." + std::string(name) +
                                                    ": set by incidentd (") &&
                                      Catch::EndsWith("); remove it"));
  }
}

TEST_CASE("the link key file is checked only when asked, and only with [http] on") {
  const std::string text = with_roster(R"(
[http]
enabled = true
link_secret_file = "/nonexistent/key"
)");
  // A report reading the daemon's configuration need not read its keys.
  CHECK(parse_config(text, "t.toml").config.has_value());
  ConfigChecks checks;
  std::vector<std::string> asked;
  checks.link_secret_file = [&asked](const std::string& path) -> std::optional<std::string> {
    asked.push_back(path);
    return "cannot open the ack link key file \"" + path + "\"";
  };
  const ConfigResult checked = parse_config(text, "t.toml", checks);
  REQUIRE(checked.errors.size() == 1);
  CHECK(checked.errors[0].where == "t.toml:3:20");
  CHECK(checked.errors[0].message ==
        "http.link_secret_file: cannot open the ack link key file \"/nonexistent/key\"");
  CHECK(asked == std::vector<std::string>{"/nonexistent/key"});
  // With [http] off the daemon never reads it.
  std::string off = text;
  off.replace(off.find("enabled = true"), 14, "enabled = false");
  CHECK(parse_config(off, "t.toml", checks).config.has_value());
}

TEST_CASE("a first_release or press_conference step before the clock's start is rejected") {
  require_one_error(with_roster(R"(
[[policy.ladder]]
milestone = "press_conference"
at = "-1h"
action = "warning"
level = 0
)"),
                    "t.toml:3:6",
                    "policy.ladder[1].at: press_conference steps count from the clock's start and "
                    "must not be negative, got -1h");
}

TEST_CASE("a follow_up step after the due time is rejected, at or before it is accepted") {
  require_one_error(with_roster(R"(
[[policy.ladder]]
milestone = "follow_up"
at = "1h"
action = "warning"
level = 0
)"),
                    "t.toml:3:6",
                    "policy.ladder[1].at: follow_up steps count from the follow-up's due time, so "
                    "they are 0 or negative (like \"-2h\"), got 1h");
  const Config config = parsed(with_roster(R"(
[[policy.ladder]]
milestone = "follow_up"
at = "-3h"
action = "warning"
level = 0
[[policy.ladder]]
milestone = "follow_up"
at = "0s"
action = "deadline_breached"
level = 1
)"));
  REQUIRE(config.policy.ladder.size() == 2);
  check_step(config.policy.ladder[0], Milestone::follow_up, -hours(3), ActionKind::warning, 0);
}

TEST_CASE("a step after its milestone's deadline is rejected") {
  require_one_error(with_roster(R"(
[[policy.ladder]]
milestone = "first_release"
at = "6h"
action = "warning"
level = 0
)"),
                    "t.toml:3:6",
                    "policy.ladder[1].at: 6h is after the first_release deadline (5h); after a "
                    "breach, overdue_every reminds instead");
}

TEST_CASE("target_missed and deadline_breached must sit at the target and the deadline") {
  require_one_error(with_roster(R"(
[[policy.ladder]]
milestone = "first_release"
at = "2h"
action = "target_missed"
level = 1
)"),
                    "t.toml:4:10",
                    "policy.ladder[1].action: target_missed must be at the first_release target "
                    "(3h), not at 2h");
  require_one_error(with_roster(R"(
[[policy.ladder]]
milestone = "press_conference"
at = "23h"
action = "deadline_breached"
level = 2
)"),
                    "t.toml:4:10",
                    "policy.ladder[1].action: deadline_breached must be at the press_conference "
                    "deadline (24h), not at 23h");
  require_one_error(with_roster(R"(
[[policy.ladder]]
milestone = "press_conference"
at = "20h"
action = "target_missed"
level = 1
)"),
                    "t.toml:4:10",
                    "policy.ladder[1].action: press_conference has no target, so no "
                    "target_missed step");
}

TEST_CASE("two ladder steps at the same time for one milestone are rejected") {
  require_one_error(with_roster(R"(
[[policy.ladder]]
milestone = "first_release"
at = "2h"
action = "warning"
level = 0
[[policy.ladder]]
milestone = "first_release"
at = "120m"
action = "warning"
level = 1
)"),
                    "t.toml:8:6",
                    "policy.ladder[2].at: first_release already has a step at 2h (3:6)");
}

TEST_CASE("a target that is not before the deadline is rejected") {
  require_one_error(with_roster(R"(
[policy.first_release]
target = "5h"
deadline = "5h"
)"),
                    "t.toml:2:10",
                    "policy.first_release: the target (5h) must come before the deadline (5h)");
}

TEST_CASE("changing a duration the default ladder depends on asks for an explicit ladder") {
  require_one_error(with_roster(R"(
[policy.first_release]
target = "2h"
)"),
                    "t.toml:2:10",
                    "policy.first_release.target: the default ladder does not fit this value (its "
                    "first_release target_missed step at 3h: target_missed must be at the "
                    "first_release target (2h), not at 3h); spell out the ladder in "
                    "[[policy.ladder]]");
}

// A two-unit roster whose lines the tests below change one at a time. Line numbers:
//  1 [[units]]                 10 [[units]]
//  2 id = "prov-office"        11 id = "a"
//  3 name = "Office"           12 name = "Unit A"
//  4 [[units.people]]          13 [[units.people]]
//  5 id = "o1"                 14 id = "a1"
//  6 name = "O One"            15 name = "A One"
//  7 role = "duty"             16 role = "duty"
//  8 phone = "+8613800000001"  17 phone = "+8613800000002"
//  9 channels = ["sms"]        18 channels = ["sms"]
//                              19 deputy = "o1"
struct RosterLines {
  std::vector<std::string> lines = {
      "[[units]]",
      "id = \"prov-office\"",
      "name = \"Office\"",
      "[[units.people]]",
      "id = \"o1\"",
      "name = \"O One\"",
      "role = \"duty\"",
      "phone = \"+8613800000001\"",
      "channels = [\"sms\"]",
      "[[units]]",
      "id = \"a\"",
      "name = \"Unit A\"",
      "[[units.people]]",
      "id = \"a1\"",
      "name = \"A One\"",
      "role = \"duty\"",
      "phone = \"+8613800000002\"",
      "channels = [\"sms\"]",
      "deputy = \"o1\"",
  };
  RosterLines& set(int line, std::string text) {
    lines.at(static_cast<std::size_t>(line - 1)) = std::move(text);
    return *this;
  }
  std::string text() const {
    std::string out;
    for (const std::string& line : lines) out += line + "\n";
    return out;
  }
};

TEST_CASE("the two-unit roster used below is valid as it stands") {
  const Config config = parsed(RosterLines{}.text());
  REQUIRE(config.units.size() == 2);
  CHECK(config.find_person("a1")->deputy == "o1");
}

TEST_CASE("a duplicate unit id is reported at the second one") {
  require_one_error(RosterLines{}.set(11, "id = \"prov-office\"").text(), "t.toml:11:6",
                    "units[2].id: duplicate unit id \"prov-office\" (first defined at 2:6)");
}

TEST_CASE("a person id used in two units is reported: ids are unique across the roster") {
  require_one_error(RosterLines{}.set(14, "id = \"o1\"").set(19, "").text(), "t.toml:14:6",
                    "units[a].people[1].id: duplicate person id \"o1\" (first defined at 5:6); ids "
                    "are unique across all units");
}

TEST_CASE("an id with characters that would need quoting is reported") {
  require_one_error(RosterLines{}.set(14, "id = \"a/1\"").text(), "t.toml:14:6",
                    "units[a].people[1].id: \"a/1\" may contain only letters, digits, '-', '_' "
                    "and '.'");
}

TEST_CASE("a deputy who is not in the roster is reported") {
  require_one_error(RosterLines{}.set(19, "deputy = \"o2\"").text(), "t.toml:19:10",
                    "units[a].people[a1].deputy: no person with id \"o2\" in the roster");
}

TEST_CASE("a person who is their own deputy is reported") {
  require_one_error(RosterLines{}.set(19, "deputy = \"a1\"").text(), "t.toml:19:10",
                    "units[a].people[a1].deputy: a person cannot be their own deputy");
}

TEST_CASE("a unit without a duty officer is reported at the unit") {
  require_one_error(RosterLines{}.set(16, "role = \"leader\"").text(), "t.toml:10:1",
                    "units[a]: no duty officer (a [[units.people]] entry with role = \"duty\"); "
                    "alerts to this unit would reach nobody");
}

TEST_CASE("an unknown role for a person is reported") {
  require_one_error(RosterLines{}.set(16, "role = \"dutty\"").text() +
                        "[[units.people]]\nid = \"a2\"\nname = \"A Two\"\nrole = \"duty\"\n"
                        "phone = \"+8613800000003\"\nchannels = [\"sms\"]\n",
                    "t.toml:16:8",
                    "units[a].people[a1].role: unknown role \"dutty\" (expected \"duty\", "
                    "\"leader\", \"principal\" or \"deputy\")");
}

TEST_CASE("a person without a required key is reported at the person") {
  require_one_error(RosterLines{}.set(15, "").text(), "t.toml:13:1",
                    "units[a].people[a1]: missing name (the person's name)");
}

TEST_CASE("an unknown channel is reported") {
  require_one_error(RosterLines{}.set(18, "channels = [\"sms\", \"wechat\"]").text(),
                    "t.toml:18:20",
                    "units[a].people[a1].channels: unknown channel \"wechat\" (expected \"sms\" or "
                    "\"webhook\")");
}

TEST_CASE("a person reachable by no channel is reported") {
  require_one_error(RosterLines{}.set(18, "channels = []").text(), "t.toml:18:12",
                    "units[a].people[a1].channels: must name at least one channel (\"sms\" or "
                    "\"webhook\")");
}

TEST_CASE("channel sms without a phone number is reported") {
  require_one_error(RosterLines{}.set(17, "").text(), "t.toml:18:13",
                    "units[a].people[a1].channels: channel \"sms\" needs a phone number, and phone "
                    "is not set");
}

TEST_CASE("channel webhook without a webhook URL is reported") {
  require_one_error(RosterLines{}.set(18, "channels = [\"sms\", \"webhook\"]").text(),
                    "t.toml:18:20",
                    "units[a].people[a1].channels: channel \"webhook\" needs a webhook URL, and "
                    "webhook is not set");
}

TEST_CASE("a webhook that is not an http URL is reported") {
  require_one_error(RosterLines{}.set(19, "webhook = \"127.0.0.1:18080/hooks/a\"").text(),
                    "t.toml:19:11",
                    "units[a].people[a1].webhook: \"127.0.0.1:18080/hooks/a\" is not an http:// "
                    "or https:// URL");
}

TEST_CASE("a webhook URL the channel could not connect to is refused at load") {
  // The configuration checks URLs with the parser the webhook channel uses (incidentd/url.hpp):
  // credentials in the URL, a port out of range, a missing host.
  for (const char* bad :
       {"http://user:pw@127.0.0.1/hooks/a", "http://127.0.0.1:70000/hooks/a", "https:///hooks/a"}) {
    INFO(bad);
    require_one_error(RosterLines{}.set(19, std::string("webhook = \"") + bad + "\"").text(),
                      "t.toml:19:11",
                      std::string("units[a].people[a1].webhook: \"") + bad +
                          "\" is not an http:// or https:// URL");
  }
}

TEST_CASE("phone numbers must be E.164: a plus sign and 8 to 15 digits") {
  const std::string tail =
      " is not an E.164 number (expected \"+\" and 8 to 15 digits, like \"+8613800000001\")";
  for (const char* bad :
       {"13800000002", "+86 13800000002", "+1234567", "+1234567890123456", "+86-138-0000-0002"}) {
    INFO(bad);
    require_one_error(RosterLines{}.set(17, "phone = \"" + std::string(bad) + "\"").text(),
                      "t.toml:17:9",
                      "units[a].people[a1].phone: \"" + std::string(bad) + "\"" + tail);
  }
  for (const char* good : {"+12345678", "+123456789012345"}) {
    INFO(good);
    CHECK(parse_config(RosterLines{}.set(17, "phone = \"" + std::string(good) + "\"").text(),
                       "t.toml")
              .config.has_value());
  }
}

TEST_CASE("a supervision unit that is not in the roster is reported") {
  require_one_error(doc(R"(
[[policy.escalation]]
level = 0
roles = ["duty"]
[[policy.escalation]]
level = 1
roles = ["duty", "leader"]
[[policy.escalation]]
level = 2
roles = ["duty", "leader", "principal"]
supervision_units = ["prov-ofice"]
)") + RosterLines{}.text(),
                    "t.toml:10:22",
                    "policy.escalation: supervision unit \"prov-ofice\" of level 2 is not in the "
                    "roster ([[units]])");
}

TEST_CASE("the default supervision unit missing from the roster is reported against the file") {
  RosterLines roster;
  roster.set(2, "id = \"office\"");
  require_one_error(roster.text(), "t.toml",
                    "the default escalation sends level 2 alerts to the supervision unit "
                    "\"prov-office\", which is not in the roster; add that unit to [[units]] or "
                    "spell out [[policy.escalation]]");
}

TEST_CASE("a file without units is reported") {
  require_one_error("database = \"/a.db\"\n", "t.toml",
                    "no units: the roster needs at least one [[units]] table");
}

TEST_CASE("an unknown time zone is reported, a known one sets the offset") {
  require_one_error(with_roster(R"(
timezone = "Asia/Kunming_City"
)"),
                    "t.toml:1:12",
                    "timezone: unknown time zone \"Asia/Kunming_City\" (expected an IANA name "
                    "like \"Asia/Shanghai\")");
  const Config config = parsed(with_roster(R"(
timezone = "Asia/Shanghai"
)"));
  CHECK(config.utc_offset == minutes(8 * 60));
}

TEST_CASE("the reports' language is zh or en, Chinese when not given") {
  require_one_error(with_roster(R"(
lang = "fr"
)"),
                    "t.toml:1:8", "lang: unknown language \"fr\" (expected \"zh\" or \"en\")");
  CHECK(parsed(with_roster("lang = \"en\"\n")).lang == "en");
  CHECK(parsed(with_roster("")).lang == "zh");
}

TEST_CASE("deputy_after_sends must be a whole number of at least 1") {
  require_one_error(with_roster(R"(
[policy.delivery]
deputy_after_sends = 0
)"),
                    "t.toml:2:22",
                    "policy.delivery.deputy_after_sends: must be between 1 and 1000, got 0");
  require_one_error(with_roster(R"(
[policy.delivery]
deputy_after_sends = "2"
)"),
                    "t.toml:2:22",
                    "policy.delivery.deputy_after_sends: expected an integer (how many "
                    "unanswered sends bring in the deputy), got a string");
}

TEST_CASE("every error in a file is reported, in file order") {
  RosterLines roster;
  roster.set(8, "phone = \"138\"").set(19, "deputy = \"nobody\"");
  const std::vector<ConfigError> errors = errors_of(doc(R"(
[policy]
confirm = "most"
[policy.first_release]
dedline = "5h"
)") + roster.text());
  REQUIRE(errors.size() == 4);
  CHECK(errors[0].where == "t.toml:2:11");
  CHECK(errors[0].message.rfind("policy.confirm: unknown rule \"most\"", 0) == 0);
  CHECK(errors[1].where == "t.toml:4:1");
  CHECK(errors[1].message ==
        "policy.first_release: unknown key \"dedline\" (did you mean \"deadline\"?)");
  CHECK(errors[2].where == "t.toml:12:9");
  CHECK(errors[2].message.rfind("units[prov-office].people[o1].phone: \"138\"", 0) == 0);
  CHECK(errors[3].where == "t.toml:23:10");
  CHECK(errors[3].message ==
        "units[a].people[a1].deputy: no person with id \"nobody\" in the roster");
}

TEST_CASE("an empty string where a value is needed is reported") {
  require_one_error(with_roster(R"(
database = ""
)"),
                    "t.toml:1:12",
                    "database: must not be empty (the path of the SQLite database file)");
}

TEST_CASE("a misspelt [[units]] header is reported twice: the unknown key and the empty roster") {
  const std::vector<ConfigError> errors = errors_of(doc(R"(
[[unit]]
id = "prov-office"
)"));
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].where == "t.toml:1:3");
  CHECK(errors[0].message == "unknown key \"unit\" (did you mean \"units\"?)");
  CHECK(errors[1].where == "t.toml");
  CHECK(errors[1].message == "no units: the roster needs at least one [[units]] table");
}

TEST_CASE("a file that cannot be opened is reported against its path") {
  const ConfigResult result = load_config_file("/nonexistent/incidentd.toml");
  CHECK_FALSE(result.config.has_value());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].where == "/nonexistent/incidentd.toml");
  CHECK(result.errors[0].message == "cannot open the file: No such file or directory");
}

TEST_CASE("errors from a file name the file") {
  const ConfigResult result = load_config_file(testing::example_config_path());
  REQUIRE(result.config.has_value());
  const ConfigResult bad = parse_config("[policy]\nconfirm = 1\n", "/etc/incidentd.toml");
  REQUIRE_FALSE(bad.errors.empty());
  CHECK(bad.errors[0].where == "/etc/incidentd.toml:2:11");
}

TEST_CASE("[ingest] source_silence is off unless set, and at least a second") {
  CHECK(parsed(with_roster("")).ingest.source_silence == Duration{0});
  CHECK(parsed(with_roster("[ingest]\nsource_silence = \"0\"\n")).ingest.source_silence ==
        Duration{0});
  CHECK(parsed(with_roster("[ingest]\nsource_silence = \"30m\"\n")).ingest.source_silence ==
        std::chrono::minutes(30));
  CHECK(testing::load_example_config().ingest.source_silence == Duration{0});
  require_one_error(with_roster("[ingest]\nsource_silence = \"500ms\"\n"), "t.toml:2:18",
                    "ingest.source_silence: must be at least 1s (or \"0\": off), got \"500ms\"");
  CHECK_FALSE(errors_of(with_roster("[ingest]\nsilence = \"30m\"\n")).empty());
}

TEST_CASE("[cluster] is off unless present, and names the state topic") {
  const Config single = parsed(with_roster(""));
  CHECK_FALSE(single.cluster.enabled());
  CHECK(single.cluster.state_topic == "incidentd.state");
  CHECK_FALSE(testing::load_example_config().cluster.enabled());
  const Config on = parsed(with_roster("[cluster]\ninstance_id = \"node-1\"\n"));
  CHECK(on.cluster.enabled());
  CHECK(on.cluster.instance_id == "node-1");
  CHECK(on.cluster.state_topic == "incidentd.state");
  CHECK(parsed(with_roster("[cluster]\ninstance_id = \"n\"\nstate_topic = \"s\"\n"))
            .cluster.state_topic == "s");
  require_one_error(with_roster("[cluster]\ninstance_id = \"n\"\nstate_topic = \"\"\n"),
                    "t.toml:3:15", "cluster.state_topic: must not be empty (a topic name)");
  CHECK_FALSE(errors_of(with_roster("[cluster]\ntopic = \"s\"\n")).empty());
}

}  // namespace
}  // namespace incidentd
