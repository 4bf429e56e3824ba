// How every librdkafka client of the daemon is configured (the group consumer, the transactional
// producer, the publisher, the replica applier's consumer): incidentd's defaults, then the
// operator's [kafka.properties], then what incidentd must decide; librdkafka's events go to the
// hooks. Internal to daemon/kafka, and only for its .cpp files: it names librdkafka's types.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <map>
#include <memory>
#include <string>

#include "incidentd/config.hpp"
#include "kafka/kafka_ports.hpp"

namespace incidentd {

// librdkafka's name of an error code ("_TRANSPORT"), or its number.
std::string kafka_code_name(RdKafka::ErrorCode code);

// Routes librdkafka's events (from its own threads too) to the hooks, which must outlive it.
class KafkaEventRelay final : public RdKafka::EventCb {
 public:
  explicit KafkaEventRelay(const KafkaHooks& hooks) : hooks_(hooks) {}
  void event_cb(RdKafka::Event& event) override;

 private:
  const KafkaHooks& hooks_;
};

// Defaults first, then the operator's [kafka.properties] (refusing those incidentd decides),
// then `managed`. Throws KafkaSetupError naming the property librdkafka refused.
std::unique_ptr<RdKafka::Conf> make_kafka_conf(const KafkaSettings& settings,
                                               const std::map<std::string, std::string>& defaults,
                                               const std::map<std::string, std::string>& managed,
                                               RdKafka::EventCb& events);

// What every client starts from.
const std::map<std::string, std::string>& kafka_common_defaults();

}  // namespace incidentd
