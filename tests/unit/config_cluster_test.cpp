// [cluster] of incidentd.toml: absent is one instance exactly as before; present, it names the
// instance and the group's timeouts, each checked with its position and what to write instead.
#include "incidentd/config.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "support/test_config.hpp"

namespace incidentd {
namespace {

using std::chrono::milliseconds;

// A valid roster, after the section under test (which starts on line 1).
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
  return std::string(head) + std::string(kRoster);
}

ConfigResult parse(std::string_view head) {
  return parse_config(with_roster(head), "t.toml");
}

// The document must fail with exactly one error, at `where`, saying `message`.
void require_one_error(std::string_view head, const std::string& where,
                       const std::string& message) {
  const ConfigResult result = parse(head);
  INFO(head);
  CHECK_FALSE(result.config.has_value());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].where == where);
  CHECK(result.errors[0].message == message);
}

TEST_CASE("without [cluster] the daemon is one instance, as before") {
  const ConfigResult result = parse("");
  REQUIRE(result.config);
  CHECK_FALSE(result.config->cluster.enabled());
  CHECK(result.config->cluster == ClusterConfig{});
  // [kafka.properties] keeps its say over the session when there is no cluster.
  const ConfigResult with_session =
      parse("[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n");
  REQUIRE(with_session.config);
  CHECK(with_session.config->kafka.properties.at("session.timeout.ms") == "6000");
}

TEST_CASE("the shipped example configuration is one instance") {
  CHECK_FALSE(testing::load_example_config().cluster.enabled());
}

TEST_CASE("[cluster] with only an instance id takes the fast-takeover defaults") {
  const ConfigResult result = parse("[cluster]\ninstance_id = \"incidentd-a.example-1\"\n");
  REQUIRE(result.config);
  const ClusterConfig& cluster = result.config->cluster;
  CHECK(cluster.enabled());
  CHECK(cluster.instance_id == "incidentd-a.example-1");
  CHECK(cluster.session_timeout == milliseconds(6000));
  CHECK(cluster.heartbeat_interval == milliseconds(1500));
}

TEST_CASE("[cluster] timeouts are read") {
  const ConfigResult result = parse(
      "[cluster]\ninstance_id = \"b\"\nsession_timeout = \"10s\"\nheartbeat_interval = "
      "\"2s\"\n");
  REQUIRE(result.config);
  CHECK(result.config->cluster.session_timeout == milliseconds(10000));
  CHECK(result.config->cluster.heartbeat_interval == milliseconds(2000));
}

TEST_CASE("[cluster] partitioner names the publishers' partitioner") {
  const auto partitioner_of = [](std::string_view line) {
    const ConfigResult result = parse("[cluster]\ninstance_id = \"a\"\n" + std::string(line));
    REQUIRE(result.config);
    return result.config->cluster.partitioner;
  };
  CHECK(partitioner_of("") == ClusterConfig::KeyPartitioner::consistent);
  CHECK(partitioner_of("partitioner = \"consistent\"\n") ==
        ClusterConfig::KeyPartitioner::consistent);
  CHECK(partitioner_of("partitioner = \"murmur2\"\n") == ClusterConfig::KeyPartitioner::murmur2);
  require_one_error("[cluster]\ninstance_id = \"a\"\npartitioner = \"random\"\n", "t.toml:3:15",
                    "cluster.partitioner: \"random\" is not \"consistent\" (librdkafka's default: "
                    "kcat, incidentctl) or \"murmur2\" (the Java client's default): the "
                    "partitioner the monitoring system publishes with");
}

TEST_CASE("[cluster] inputs_topic names the topic of forwarded inputs") {
  const ConfigResult defaults = parse("[cluster]\ninstance_id = \"a\"\n");
  REQUIRE(defaults.config);
  CHECK(defaults.config->cluster.inputs_topic == "incidentd.inputs");
  const ConfigResult named =
      parse("[cluster]\ninstance_id = \"a\"\ninputs_topic = \"opinion.inputs\"\n");
  REQUIRE(named.config);
  CHECK(named.config->cluster.inputs_topic == "opinion.inputs");
  require_one_error("[cluster]\ninstance_id = \"a\"\ninputs_topic = \"\"\n", "t.toml:3:16",
                    "cluster.inputs_topic: must not be empty (a topic name)");
  // The consumer tells inputs from events by their topic.
  require_one_error("[cluster]\ninstance_id = \"a\"\ninputs_topic = \"opinion.events\"\n",
                    "t.toml:3:16",
                    "cluster.inputs_topic: \"opinion.events\" is also kafka.topics.events; "
                    "forwarded inputs need a topic of their own");
  require_one_error("[cluster]\ninstance_id = \"a\"\nstate_topic = \"t\"\ninputs_topic = \"t\"\n",
                    "t.toml:4:16",
                    "cluster.inputs_topic: \"t\" is also cluster.state_topic; forwarded inputs "
                    "need a topic of their own");
}

TEST_CASE("[cluster] without an instance id is reported") {
  require_one_error("[cluster]\nsession_timeout = \"6s\"\n", "t.toml:1:1",
                    "cluster: missing instance_id (this instance's name in the consumer group, "
                    "e.g. its host name)");
}

TEST_CASE("an instance id with characters Kafka names should not carry is reported") {
  require_one_error("[cluster]\ninstance_id = \"host a/1\"\n", "t.toml:2:15",
                    "cluster.instance_id: \"host a/1\" may hold only letters, digits, \"-\", "
                    "\"_\" and \".\" (it names this instance's Kafka group membership and "
                    "transactional id)");
}

TEST_CASE("a heartbeat longer than a third of the session is reported") {
  require_one_error("[cluster]\ninstance_id = \"a\"\nheartbeat_interval = \"2500ms\"\n",
                    "t.toml:3:22",
                    "cluster.heartbeat_interval: 2s500ms must be at most a third of "
                    "cluster.session_timeout (6s)");
  // A shorter session makes the default heartbeat too long: reported at the session.
  const ConfigResult result = parse("[cluster]\ninstance_id = \"a\"\nsession_timeout = \"3s\"\n");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].where == "t.toml:3:19");
}

TEST_CASE("session timeouts outside what a broker accepts are reported") {
  require_one_error("[cluster]\ninstance_id = \"a\"\nsession_timeout = \"45m\"\n", "t.toml:3:19",
                    "cluster.session_timeout: must be at most 30m (the broker's default "
                    "group.max.session.timeout.ms)");
  require_one_error("[cluster]\ninstance_id = \"a\"\nsession_timeout = \"500ms\"\n", "t.toml:3:19",
                    "cluster.session_timeout: must be at least 1s, got \"500ms\"");
}

TEST_CASE("an unknown key in [cluster] is reported with a suggestion") {
  require_one_error("[cluster]\ninstance_id = \"a\"\nsession_timout = \"6s\"\n", "t.toml:3:1",
                    "cluster: unknown key \"session_timout\" (did you mean \"session_timeout\"?)");
}

TEST_CASE("with [cluster], the group's timeouts and membership are not kafka.properties") {
  const ConfigResult result = parse(
      "[kafka.properties]\n\"session.timeout.ms\" = \"10000\"\n\"heartbeat.interval.ms\" = "
      "\"3000\"\n[cluster]\ninstance_id = \"a\"\n");
  REQUIRE(result.errors.size() == 2);
  CHECK(result.errors[0].where == "t.toml:2:24");
  CHECK(result.errors[0].message ==
        "kafka.properties.session.timeout.ms: set by [cluster] (use cluster.session_timeout); "
        "remove it");
  CHECK(result.errors[1].message ==
        "kafka.properties.heartbeat.interval.ms: set by [cluster] (use "
        "cluster.heartbeat_interval); remove it");
  // group.instance.id is never a property: [cluster] instance_id is.
  const ConfigResult instance = parse("[kafka.properties]\n\"group.instance.id\" = \"a\"\n");
  REQUIRE(instance.errors.size() == 1);
  CHECK(instance.errors[0].message ==
        "kafka.properties.group.instance.id: set by incidentd (use cluster.instance_id); remove "
        "it");
}

}  // namespace
}  // namespace incidentd
