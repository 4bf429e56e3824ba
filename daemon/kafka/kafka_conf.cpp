#include "kafka/kafka_conf.hpp"

#include <librdkafka/rdkafka.h>

#include "kafka/kafka_client.hpp"

namespace incidentd {
namespace {

void set_or_throw(RdKafka::Conf& conf, const std::string& name, const std::string& value,
                  const std::string& where) {
  std::string error;
  if (conf.set(name, value, error) != RdKafka::Conf::CONF_OK) {
    throw KafkaSetupError(where + ": \"" + name + "\" = \"" + value + "\": " + error);
  }
}

}  // namespace

std::string kafka_code_name(RdKafka::ErrorCode code) {
  const char* name = rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code));
  return name != nullptr ? name : std::to_string(static_cast<int>(code));
}

std::pair<std::string, std::string> fatal_cause(const RdKafka::Handle& client,
                                                const std::string& fallback) {
  std::string why;
  const RdKafka::ErrorCode code = client.fatal_error(why);
  if (code == RdKafka::ERR_NO_ERROR) return {kafka_code_name(RdKafka::ERR__FATAL), fallback};
  return {kafka_code_name(code), why.empty() ? fallback : why};
}

void KafkaEventRelay::event_cb(RdKafka::Event& event) {
  switch (event.type()) {
    case RdKafka::Event::EVENT_ERROR:
      if (!hooks_.error) break;
      if (const auto* client = client_.load(); event.fatal() && client != nullptr) {
        const auto [code, why] = fatal_cause(*client, event.str());
        hooks_.error(code, why, true);
      } else {
        hooks_.error(kafka_code_name(event.err()), event.str(), event.fatal());
      }
      break;
    case RdKafka::Event::EVENT_LOG:
      if (hooks_.log) hooks_.log(static_cast<int>(event.severity()), event.fac(), event.str());
      break;
    default:
      break;
  }
}

std::unique_ptr<RdKafka::Conf> make_kafka_conf(const KafkaSettings& settings,
                                               const std::map<std::string, std::string>& defaults,
                                               const std::map<std::string, std::string>& managed,
                                               RdKafka::EventCb& events) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  for (const auto& [name, value] : defaults) set_or_throw(*conf, name, value, "incidentd default");
  for (const auto& [name, value] : settings.properties) {
    if (auto it = managed_kafka_properties().find(name); it != managed_kafka_properties().end()) {
      throw KafkaSetupError("kafka.properties: \"" + name + "\" is set by incidentd (" +
                            it->second + "); remove it");
    }
    set_or_throw(*conf, name, value, "kafka.properties");
  }
  for (const auto& [name, value] : managed) set_or_throw(*conf, name, value, "kafka");
  std::string error;
  if (conf->set("event_cb", &events, error) != RdKafka::Conf::CONF_OK) {
    throw KafkaSetupError("kafka: event_cb: " + error);
  }
  return conf;
}

const std::map<std::string, std::string>& kafka_common_defaults() {
  static const std::map<std::string, std::string> kDefaults = {
      {"client.id", "incidentd"},
      // An idle connection closed by the broker is not news.
      {"log.connection.close", "false"},
  };
  return kDefaults;
}

}  // namespace incidentd
