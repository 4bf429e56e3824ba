// [cluster] of incidentd.toml: several instances in one consumer group (docs/cluster.md). Left
// out, the daemon is one instance exactly as before; present, it names this instance and the
// group's timeouts, which then belong to it and not to [kafka.properties].
#include "core/config_parser.hpp"

namespace incidentd::config_detail {

namespace {

// The broker's default group.max.session.timeout.ms: a longer session is refused by the broker.
constexpr Duration kMaxSessionTimeout = std::chrono::minutes(30);
constexpr Duration kMinSessionTimeout = std::chrono::seconds(1);
constexpr Duration kMinHeartbeat = std::chrono::milliseconds(100);

// The librdkafka properties [cluster] sets, and the key to use instead.
constexpr std::pair<std::string_view, std::string_view> kClusterProperties[] = {
    {"session.timeout.ms", "cluster.session_timeout"},
    {"heartbeat.interval.ms", "cluster.heartbeat_interval"},
    {"partitioner", "cluster.partitioner"},
};

}  // namespace

void ConfigParser::parse_cluster(const toml::table& root, const toml::table& cluster,
                                 ClusterConfig& out) {
  check_keys(cluster,
             {"instance_id", "session_timeout", "heartbeat_interval", "state_topic", "inputs_topic",
              "partitioner"},
             "cluster");
  if (auto id = get_string(cluster, "instance_id", "cluster", true,
                           "this instance's name in the consumer group, e.g. its host name")) {
    if (valid_id(*id)) {
      out.instance_id = *id;
    } else {
      error(*cluster.get("instance_id"),
            "cluster.instance_id: " + quote(*id) +
                " may hold only letters, digits, \"-\", \"_\" and \".\" (it names this instance's "
                "Kafka group membership and transactional id)");
    }
  }
  Duration session = out.session_timeout;
  const toml::node* session_node =
      read_duration(cluster, "session_timeout", "cluster", session, kMinSessionTimeout);
  if (session_node != nullptr && session > kMaxSessionTimeout) {
    error(*session_node, "cluster.session_timeout: must be at most " +
                             format_duration(kMaxSessionTimeout) +
                             " (the broker's default group.max.session.timeout.ms)");
  }
  out.session_timeout = std::min(session, kMaxSessionTimeout);
  Duration heartbeat = out.heartbeat_interval;
  const toml::node* heartbeat_node =
      read_duration(cluster, "heartbeat_interval", "cluster", heartbeat, kMinHeartbeat);
  if (heartbeat * 3 > out.session_timeout) {
    // Kafka's own advice: at most a third of the session, so that two lost heartbeats in a row
    // do not yet end it.
    const toml::node& at = heartbeat_node != nullptr ? *heartbeat_node
                           : session_node != nullptr ? *session_node
                                                     : static_cast<const toml::node&>(cluster);
    error(at, "cluster.heartbeat_interval: " + format_duration(heartbeat) +
                  " must be at most a third of cluster.session_timeout (" +
                  format_duration(out.session_timeout) + ")");
  }
  out.heartbeat_interval = heartbeat;
  if (auto topic = get_string(cluster, "state_topic", "cluster", false, "a topic name")) {
    out.state_topic = *topic;
  }
  if (auto topic = get_string(cluster, "inputs_topic", "cluster", false, "a topic name")) {
    out.inputs_topic = *topic;
  }
  if (auto partitioner =
          get_string(cluster, "partitioner", "cluster", false, "\"consistent\" or \"murmur2\"")) {
    if (*partitioner == "consistent") {
      out.partitioner = ClusterConfig::KeyPartitioner::consistent;
    } else if (*partitioner == "murmur2") {
      out.partitioner = ClusterConfig::KeyPartitioner::murmur2;
    } else {
      error(
          *cluster.get("partitioner"),
          "cluster.partitioner: " + quote(*partitioner) +
              " is not \"consistent\" (librdkafka's default: kcat, incidentctl) or \"murmur2\" "
              "(the Java client's default): the partitioner the monitoring system publishes with");
    }
  }
  check_cluster_properties(root);
}

// The consumer tells its inputs apart by topic: a forwarded input on the events topic would be
// read as a bad event, and an event on the inputs topic as a bad input.
void ConfigParser::check_cluster_topics(const toml::table& cluster, const Config& config) {
  const toml::node* node = cluster.get("inputs_topic");
  if (node == nullptr) node = &cluster;
  const std::string& inputs = config.cluster.inputs_topic;
  const std::pair<const std::string&, std::string_view> others[] = {
      {config.kafka.events_topic, "kafka.topics.events"},
      {config.kafka.releases_topic, "kafka.topics.releases"},
      {config.kafka.dlq_topic, "kafka.topics.dead_letter"},
      {config.cluster.state_topic, "cluster.state_topic"},
  };
  for (const auto& [topic, name] : others) {
    if (topic == inputs) {
      error(*node, "cluster.inputs_topic: " + quote(inputs) + " is also " + std::string(name) +
                       "; forwarded inputs need a topic of their own");
      return;
    }
  }
}

// With [cluster], the group's timeouts are its keys: the same setting in [kafka.properties]
// would leave two places to look for it.
void ConfigParser::check_cluster_properties(const toml::table& root) {
  const toml::table* kafka = root["kafka"].as_table();
  const toml::table* properties = kafka != nullptr ? (*kafka)["properties"].as_table() : nullptr;
  if (properties == nullptr) return;
  for (const auto& [name, instead] : kClusterProperties) {
    if (const toml::node* node = properties->get(name)) {
      error(*node, "kafka.properties." + std::string(name) + ": set by [cluster] (use " +
                       std::string(instead) + "); remove it");
    }
  }
}

}  // namespace incidentd::config_detail
