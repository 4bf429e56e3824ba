// The dead-letter record: one JSON object per refused message, carrying why it was refused,
// where it came from (topic, partition, offset, key) and its exact bytes in base64, so an
// operator can read it with any Kafka tool and replay the original after fixing the sender.
// The format is documented in docs/kafka.md; other systems read it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "incidentd/time.hpp"
#include "kafka/batch.hpp"

namespace incidentd {

// Originals larger than this are cut (raw_truncated: true) so the record stays under the
// broker's default 1 MiB message limit after base64; raw_size always gives the full length.
inline constexpr std::size_t kDeadLetterRawLimit = std::size_t{512} * 1024;

std::string dead_letter_value(const KafkaRecord& record, const Rejection& rejection,
                              TimePoint dead_lettered_at);

}  // namespace incidentd
