#include "kafka/batch.hpp"

#include <time.h>

#include <algorithm>
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

namespace {

// The engine batches its commits while `on` (a batch's slice) and commits each step of its own
// otherwise (timer wake-ups between slices and batches), whatever leaves the scope.
class StepCommitsOff {
 public:
  explicit StepCommitsOff(Engine& engine) : engine_(engine) { engine_.set_flush_each_step(false); }
  ~StepCommitsOff() { engine_.set_flush_each_step(true); }
  StepCommitsOff(const StepCommitsOff&) = delete;
  StepCommitsOff& operator=(const StepCommitsOff&) = delete;

 private:
  Engine& engine_;
};

Outcome hand_to_engine(Engine& engine, const Inbound& inbound) {
  return std::visit(
      [&engine](const auto& input) {
        if constexpr (std::is_same_v<std::decay_t<decltype(input)>, Rejection>) {
          return Outcome::rejected(input.reason);  // not reached: the caller skips rejections
        } else {
          return engine.handle(input);
        }
      },
      inbound.item);
}

}  // namespace

void BatchApplication::count(std::size_t index, const Outcome& outcome) {
  switch (outcome.status) {
    case Outcome::Status::accepted:
      ++out_.accepted;
      break;
    case Outcome::Status::duplicate:
      ++out_.duplicates;
      break;
    case Outcome::Status::rejected:
      ++out_.rejected;
      out_.engine_rejections.emplace_back(index, outcome.reason);
      break;
  }
}

bool BatchApplication::apply_slice(Engine& engine, std::size_t max_items,
                                   std::chrono::steady_clock::duration budget) {
  StepCommitsOff batched(engine);
  const auto started = std::chrono::steady_clock::now();
  const auto cpu_started = thread_cpu_time();
  max_items = std::max<std::size_t>(max_items, 1);
  const std::size_t end = batch_.size() - next_ > max_items ? next_ + max_items : batch_.size();
  // The clock is read every few items: an item takes microseconds.
  constexpr std::size_t kItemsPerLook = 16;
  while (next_ < end) {
    const std::size_t i = next_++;
    if (std::holds_alternative<Rejection>(batch_[i].item)) {
      ++out_.rejected;
    } else {
      count(i, hand_to_engine(engine, batch_[i]));
    }
    if ((next_ % kItemsPerLook) == 0 && std::chrono::steady_clock::now() - started >= budget) {
      break;
    }
  }
  out_.engine_time += std::chrono::steady_clock::now() - started;
  out_.cpu_time += thread_cpu_time() - cpu_started;
  return applied();
}

bool BatchApplication::commit_part(Engine& engine, std::size_t max_incidents, BatchCommit commit) {
  if (disk_full_) return true;
  StepCommitsOff batched(engine);
  const auto started = std::chrono::steady_clock::now();
  const auto cpu_started = thread_cpu_time();
  bool done = true;
  try {
    done = commit == BatchCommit::everything ? engine.flush_part(max_incidents)
                                             : engine.flush_acted_part(max_incidents);
  } catch (const StoreFullError& e) {
    disk_full_ = e;  // the daemon's flush() writes the rest once there is room
  }
  out_.flush_time += std::chrono::steady_clock::now() - started;
  out_.cpu_time += thread_cpu_time() - cpu_started;
  return done;
}

BatchOutcome BatchApplication::finish(Engine& engine, BatchCommit commit) {
  StepCommitsOff batched(engine);
  const auto started = std::chrono::steady_clock::now();
  const auto cpu_started = thread_cpu_time();
  if (disk_full_) {
    out_.disk_full = std::move(disk_full_);
  } else {
    try {
      if (commit == BatchCommit::everything) {
        engine.flush();
      } else {
        engine.flush_acted();
      }
    } catch (const StoreFullError& e) {
      out_.disk_full = e;
    }
  }
  out_.flush_time += std::chrono::steady_clock::now() - started;
  out_.cpu_time += thread_cpu_time() - cpu_started;
  return std::move(out_);
}

std::size_t next_part_incidents(std::size_t incidents, std::chrono::steady_clock::duration took,
                                std::chrono::steady_clock::duration budget, std::size_t most) {
  most = std::max<std::size_t>(most, 1);
  if (took.count() <= 0) return most;
  const double scaled = static_cast<double>(incidents) * static_cast<double>(budget.count()) /
                        static_cast<double>(took.count());
  if (scaled >= static_cast<double>(most)) return most;
  return std::max<std::size_t>(static_cast<std::size_t>(scaled), 1);
}

BatchOutcome apply_batch(Engine& engine, const std::vector<Inbound>& batch, BatchCommit commit) {
  BatchApplication application(batch);
  while (
      !application.apply_slice(engine, batch.size(), std::chrono::steady_clock::duration::max())) {
  }
  return application.finish(engine, commit);
}

std::chrono::nanoseconds thread_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace incidentd
