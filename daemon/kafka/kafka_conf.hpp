// How every librdkafka client of the daemon is configured (the group consumer, the transactional
// producer, the publisher, the replica applier's consumer): incidentd's defaults, then the
// operator's [kafka.properties], then what incidentd must decide; librdkafka's events go to the
// hooks. Internal to daemon/kafka, and only for its .cpp files: it names librdkafka's types.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "incidentd/config.hpp"
#include "kafka/kafka_ports.hpp"

namespace incidentd {

// librdkafka's name of an error code ("_TRANSPORT"), or its number.
std::string kafka_code_name(RdKafka::ErrorCode code);
// What made `client` fatal: the code of the error that did ("FENCED_INSTANCE_ID") and its text,
// where librdkafka itself reports only _FATAL; `fallback` when it names none.
std::pair<std::string, std::string> fatal_cause(const RdKafka::Handle& client,
                                                const std::string& fallback);

// Routes librdkafka's events (from its own threads too) to the hooks, which must outlive it.
// A fatal error is reported with its cause (fatal_cause) once the client is attached.
class KafkaEventRelay final : public RdKafka::EventCb {
 public:
  explicit KafkaEventRelay(const KafkaHooks& hooks) : hooks_(hooks) {}
  void event_cb(RdKafka::Event& event) override;
  // The client these events are of, once it exists; it must outlive the relay's use.
  void attach(const RdKafka::Handle* client) { client_ = client; }

 private:
  const KafkaHooks& hooks_;
  std::atomic<const RdKafka::Handle*> client_{nullptr};
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
