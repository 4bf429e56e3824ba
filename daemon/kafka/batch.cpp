#include "kafka/batch.hpp"

#include <time.h>

#include <cmath>
#include <type_traits>
#include <utility>

#include "incidentd/codec.hpp"
#include "incidentd/engine.hpp"
#include "incidentd/forwarded_input.hpp"

namespace incidentd {
namespace {

std::string scale_text(double scale) {
  if (scale == std::floor(scale) && scale < 1e15) {
    return std::to_string(static_cast<long long>(scale));
  }
  return std::to_string(scale);
}

}  // namespace

std::string_view to_string(RejectStage stage) {
  switch (stage) {
    case RejectStage::validation:
      return "validation";
    case RejectStage::drill_mode:
      return "drill_mode";
    case RejectStage::engine:
      return "engine";
  }
  return "validation";
}

IngestRules IngestRules::from(const KafkaSettings& kafka, std::optional<double> time_scale,
                              const ClusterConfig& cluster) {
  return IngestRules{kafka.events_topic, kafka.releases_topic, time_scale,
                     cluster.enabled() ? cluster.inputs_topic : std::string()};
}

Inbound classify(const KafkaRecord& record, const Config& config, const IngestRules& rules) {
  if (record.topic == rules.events_topic) {
    auto parsed = parse_event(record.value, config);
    if (!parsed) return {Rejection{RejectStage::validation, std::move(parsed.error)}};
    if (rules.time_scale && !parsed.value->drill) {
      return {Rejection{RejectStage::drill_mode,
                        "incidentd runs a drill on a scaled clock (--time-scale " +
                            scale_text(*rules.time_scale) +
                            "): only events with \"drill\": true are accepted"}};
    }
    return {std::move(*parsed.value)};
  }
  if (record.topic == rules.releases_topic) {
    auto parsed = parse_confirmation(record.value, config);
    if (!parsed) return {Rejection{RejectStage::validation, std::move(parsed.error)}};
    parsed.value->via = "kafka";
    return {std::move(*parsed.value)};
  }
  if (!rules.inputs_topic.empty() && record.topic == rules.inputs_topic) {
    auto parsed = decode_forwarded_input(record.value, config);
    if (!parsed) {
      return {Rejection{RejectStage::validation, "forwarded input: " + parsed.error}};
    }
    // The key placed it on this partition, and so on this owner: a key that is not the
    // incident's may have reached the wrong instance.
    if (record.key != parsed.value->incident_key()) {
      return {Rejection{RejectStage::validation,
                        "forwarded input: the message key is not its incident_key \"" +
                            parsed.value->incident_key() + "\""}};
    }
    return std::visit([](auto&& input) { return Inbound{std::forward<decltype(input)>(input)}; },
                      std::move(parsed.value->input));
  }
  return {Rejection{RejectStage::validation,
                    "topic \"" + record.topic + "\" is not one incidentd consumes"}};
}

BatchOutcome apply_batch(Engine& engine, const std::vector<Inbound>& batch, BatchCommit commit) {
  BatchOutcome out;
  engine.set_flush_each_step(false);
  // Whatever happens, timer wake-ups between batches flush on their own again.
  struct Restore {
    Engine& engine;
    ~Restore() { engine.set_flush_each_step(true); }
  } restore{engine};

  const auto started = std::chrono::steady_clock::now();
  const auto cpu_started = thread_cpu_time();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& item = batch[i].item;
    if (std::holds_alternative<Rejection>(item)) {
      ++out.rejected;
      continue;
    }
    const Outcome outcome = std::visit(
        [&engine](const auto& input) {
          if constexpr (std::is_same_v<std::decay_t<decltype(input)>, Rejection>) {
            return Outcome::rejected(input.reason);  // not reached: skipped above
          } else {
            return engine.handle(input);
          }
        },
        item);
    switch (outcome.status) {
      case Outcome::Status::accepted:
        ++out.accepted;
        break;
      case Outcome::Status::duplicate:
        ++out.duplicates;
        break;
      case Outcome::Status::rejected:
        ++out.rejected;
        out.engine_rejections.emplace_back(i, outcome.reason);
        break;
    }
  }
  const auto handled = std::chrono::steady_clock::now();
  try {
    if (commit == BatchCommit::everything) {
      engine.flush();
    } else {
      engine.flush_acted();
    }
  } catch (const StoreFullError& e) {
    out.disk_full = e;
  }
  out.engine_time = handled - started;
  out.flush_time = std::chrono::steady_clock::now() - handled;
  out.cpu_time = thread_cpu_time() - cpu_started;
  return out;
}

std::chrono::nanoseconds thread_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace incidentd
