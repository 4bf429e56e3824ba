#include "notify/sms_service.hpp"

#include <random>
#include <stdexcept>
#include <vector>

#include <spdlog/spdlog.h>

#include "incidentd/engine.hpp"
#include "notify/message.hpp"
#include "notify/sms.hpp"

namespace incidentd {

std::function<std::string(const std::string&)> incident_titles(const Engine& engine, Store& store) {
  return [&engine, &store](const std::string& key) -> std::string {
    if (const auto* open = engine.find(key)) return open->title;
    if (auto stored = store.load_incident(key)) return stored->title;
    return {};
  };
}

NotificationRenderer template_renderer(const MessageTemplates& templates, ConfigView config,
                                       const TimeSource& time,
                                       std::function<std::string(const std::string&)> title_of,
                                       AckLinkMaker ack_links) {
  return [&templates, config, offset = config.get()->utc_offset, &time,
          title_of = std::move(title_of), ack_links = std::move(ack_links)](
             const OutgoingNotification& n, std::string_view channel) {
    const auto roster = config.get();  // this text's snapshot
    MessageContext context;
    context.now = time.now();
    context.utc_offset = offset;
    if (const SourceNotice* notice = n.payload.notice()) {
      if (const Person* p = roster->find_person(n.recipient)) context.recipient_name = p->name;
      return templates.render_source(*notice, context, channel);
    }
    const Action* action = n.payload.action();
    if (action == nullptr) throw std::runtime_error("the payload is not a notification action");
    context.title = title_of(n.incident_key);
    if (n.purpose == NotificationPurpose::unreached) {
      // The operator's alert names the person by name and unit (the action holds the id only).
      const std::string& id = action->detail;
      if (const Person* p = roster->find_person(id)) {
        const Unit* unit = roster->unit_of_person(id);
        context.unreached_name = p->name + "（" + (unit != nullptr ? unit->name : id) + "）";
      }
    }
    if (ack_links) {
      context.ack_link = ack_links(n.incident_key, n.recipient, n.notification_id, n.created_at);
    }
    return templates.render(*action, context, channel);
  };
}

SmsAnswerSender::SmsAnswerSender(SmsGateway& gateway, TimeSystem& time, RetrySettings retry,
                                 std::function<double()> random_unit, Duration max_age)
    : gateway_(gateway),
      time_(time),
      retry_(retry),
      random_unit_(std::move(random_unit)),
      max_age_(max_age),
      timer_(time.create_timer()) {}

SmsAnswerSender::~SmsAnswerSender() {
  *alive_ = false;
  timer_->cancel();
  if (!answers_.empty()) {
    spdlog::warn("sms: {} answer(s) not sent at shutdown are dropped", answers_.size());
  }
}

void SmsAnswerSender::send(const std::string& phone, const std::string& text) {
  const std::uint64_t id = next_id_++;
  const TimePoint now = time_.now();
  answers_.emplace(id, Answer{phone, text, now, now, 0, false});
  attempt(id);
}

void SmsAnswerSender::attempt(std::uint64_t id) {
  const auto it = answers_.find(id);
  if (it == answers_.end()) return;
  it->second.in_flight = true;
  const SmsMessage message{it->second.phone, it->second.text, "answer-" + std::to_string(id)};
  std::weak_ptr<bool> alive = alive_;
  // The gateway may answer at once (a refused URL) or later, but always exactly once.
  gateway_.send(message, [this, alive, id](const SendResult& result) {
    const auto still = alive.lock();
    if (!still || !*still) return;
    on_result(id, result);
  });
}

void SmsAnswerSender::on_result(std::uint64_t id, const SendResult& result) {
  const auto it = answers_.find(id);
  if (it == answers_.end()) return;
  Answer& answer = it->second;
  answer.in_flight = false;
  if (result.status == SendResult::Status::delivered) {
    if (answer.failures > 0) {
      spdlog::info("sms: the answer to {} was sent at attempt {}", answer.phone,
                   answer.failures + 1);
    }
    answers_.erase(it);
    return;
  }
  ++answer.failures;
  if (result.status == SendResult::Status::permanent) {
    spdlog::warn("sms: the answer to {} was refused (attempt {}): {}; not retried", answer.phone,
                 answer.failures, result.detail);
    answers_.erase(it);
    return;
  }
  const TimePoint now = time_.now();
  const TimePoint next =
      now + retry_delay(retry_, answer.failures, random_unit_ ? random_unit_() : 0.5);
  if (next - answer.first_at > max_age_) {
    spdlog::warn("sms: the answer to {} was not sent (attempt {}): {}; given up, older than {}",
                 answer.phone, answer.failures, result.detail, format_duration(max_age_));
    answers_.erase(it);
    return;
  }
  spdlog::warn("sms: the answer to {} was not sent (attempt {}): {}; next attempt at {}",
               answer.phone, answer.failures, result.detail,
               format_rfc3339(next, std::chrono::minutes{0}));
  answer.next_at = next;
  arm();
}

void SmsAnswerSender::arm() {
  std::optional<TimePoint> earliest;
  for (const auto& [id, answer] : answers_) {
    if (!answer.in_flight && (!earliest || answer.next_at < *earliest)) earliest = answer.next_at;
  }
  if (!earliest) {
    timer_->cancel();
    return;
  }
  timer_->arm(*earliest, [this] { on_timer(); });
}

void SmsAnswerSender::on_timer() {
  const TimePoint now = time_.now();
  std::vector<std::uint64_t> due;
  for (const auto& [id, answer] : answers_) {
    if (!answer.in_flight && answer.next_at <= now) due.push_back(id);
  }
  for (const std::uint64_t id : due) attempt(id);
  arm();
}

SmsService::SmsService(boost::asio::io_context& io, ConfigView view, Engine& engine, Store& store,
                       ReplyCodeStore& codes, const TimeSource& time, TimeSystem& answer_clock)
    : SmsService(io, view, *view.get(), engine, store, codes, time, answer_clock) {}

// [sms], [notify], database and lang are bound at start-up: read once from `config`.
SmsService::SmsService(boost::asio::io_context& io, ConfigView view, const Config& config,
                       Engine& engine, Store& store, ReplyCodeStore& codes, const TimeSource& time,
                       TimeSystem& answer_clock)
    : engine_(engine),
      gateway_(make_sms_gateway(io, config.sms)),
      templates_(std::make_unique<MessageTemplates>(config.sms.templates, config.sms.max_parts,
                                                    config.lang)),
      composer_(std::make_unique<SmsComposer>(codes, *templates_, time, view,
                                              incident_titles(engine, store))),
      channel_(std::make_unique<SmsChannel>(*gateway_, composer_.get())),
      replies_(std::make_unique<SmsReplyHandler>(codes, time, config.sms.reply_code_digits,
                                                 config.sms.reply_code_reuse_after)) {
  auto random = std::make_shared<std::mt19937_64>(std::random_device{}());
  answers_ = std::make_unique<SmsAnswerSender>(
      *gateway_, answer_clock, RetrySettings::from(config.notify),
      [random] { return std::uniform_real_distribution<double>(0.0, 1.0)(*random); });
}

SmsService::~SmsService() {
  *alive_ = false;
}

void SmsService::forward_unowned(std::function<bool(const std::string&)> owns, Forward forward) {
  owns_ = std::move(owns);
  forward_ = std::move(forward);
}

Channel& SmsService::channel() {
  return *channel_;
}

SmsReplyOutcome SmsService::handle_reply(std::string_view from, std::string_view to,
                                         std::string_view text) {
  auto outcome = replies_->handle_sms_reply(from, to, text);
  spdlog::info("sms: reply from {}: {}", from, outcome.log);
  std::optional<ForwardedInput> unowned;
  if (owns_ && outcome.acknowledgement && !owns_(outcome.acknowledgement->incident_key)) {
    unowned = ForwardedInput{*outcome.acknowledgement, {}};
  } else if (owns_ && outcome.confirmation && !owns_(outcome.confirmation->incident_key)) {
    unowned = ForwardedInput{*outcome.confirmation, {}};
  }
  if (unowned) {
    forward_reply(*unowned, std::string(from), outcome.answer);
    return outcome;
  }
  std::optional<Outcome> applied;
  if (outcome.acknowledgement) applied = engine_.handle(*outcome.acknowledgement);
  if (outcome.confirmation) applied = engine_.handle(*outcome.confirmation);
  if (applied) {
    if (applied->status == Outcome::Status::rejected) {
      // The code was good when it was looked up, but the engine would not take it (the incident
      // closed in between): the sender must not be told it was recorded.
      spdlog::warn("sms: the engine refused the reply from {}: {}", from, applied->reason);
      outcome.answer = "您的回复未被记录：事件状态已变化（可能已结束），请联系值班室。";
    }
    engine_.flush();
  }
  if (!outcome.answer.empty()) answers_->send(std::string(from), outcome.answer);
  return outcome;
}

// The owner applies it when it consumes it; the sender hears what a reply applied here would
// have said once the broker has it. A refusal by the owner (the incident closed meanwhile) is
// not told to the sender: it goes to the dead-letter topic (docs/cluster.md).
void SmsService::forward_reply(const ForwardedInput& input, std::string phone, std::string answer) {
  const std::string& key = input.incident_key();
  if (!forward_) {
    spdlog::warn(
        "sms: the reply from {} is for {}, which this instance does not own, and it "
        "cannot forward it",
        phone, key);
    answers_->send(phone, std::string(kNotRecordedAnswer));
    return;
  }
  spdlog::info("sms: {} belongs to another instance: the reply from {} is forwarded to its owner",
               key, phone);
  std::weak_ptr<bool> alive = alive_;
  forward_(input, [this, alive, key, phone = std::move(phone), answer = std::move(answer)](
                      bool ok, const std::string& error) {
    const auto still = alive.lock();
    if (!still || !*still) return;
    if (!ok) {
      spdlog::warn("sms: the reply from {} for {} was not forwarded to its owner: {}", phone, key,
                   error);
      answers_->send(phone, std::string(kNotRecordedAnswer));
      return;
    }
    if (!answer.empty()) answers_->send(phone, answer);
  });
}

}  // namespace incidentd
