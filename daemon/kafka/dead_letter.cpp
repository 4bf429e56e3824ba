#include "kafka/dead_letter.hpp"

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

#include "crypto/crypto.hpp"

namespace incidentd {
namespace {

// Only valid UTF-8 can be shown as a JSON string without changing its bytes; nlohmann's strict
// dump is the validator.
bool valid_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace

std::string dead_letter_value(const KafkaRecord& record, const Rejection& rejection,
                              TimePoint dead_lettered_at) {
  using nlohmann::json;
  const std::string_view raw = record.value;
  const bool truncated = raw.size() > kDeadLetterRawLimit;
  json j = json::object();
  j["reason"] = rejection.reason;
  j["stage"] = std::string(to_string(rejection.stage));
  j["topic"] = record.topic;
  j["partition"] = record.partition;
  j["offset"] = record.offset;
  if (record.key) {
    j["key"] = valid_utf8(*record.key) ? json(*record.key) : json(nullptr);
    j["key_base64"] = crypto::base64(*record.key);
  } else {
    j["key"] = nullptr;
    j["key_base64"] = nullptr;
  }
  j["raw_size"] = raw.size();
  j["raw_truncated"] = truncated;
  j["raw_base64"] = crypto::base64(truncated ? raw.substr(0, kDeadLetterRawLimit) : raw);
  j["dead_lettered_at"] = format_rfc3339(dead_lettered_at, std::chrono::minutes(0));
  j["source"] = "incidentd";
  // The reason may quote bytes of the message: never let them make the record unreadable.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace incidentd
