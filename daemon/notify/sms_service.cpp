#include "notify/sms_service.hpp"

#include <stdexcept>

#include <spdlog/spdlog.h>

#include "incidentd/engine.hpp"
#include "notify/message.hpp"
#include "notify/sms.hpp"

namespace incidentd {

std::function<std::string(const std::string&)> incident_titles(const Engine& engine,
                                                               SqliteStore& store) {
  return [&engine, &store](const std::string& key) -> std::string {
    if (const auto* open = engine.find(key)) return open->title;
    if (auto stored = store.load_incident(key)) return stored->title;
    return {};
  };
}

NotificationRenderer template_renderer(const MessageTemplates& templates, const Config& config,
                                       const TimeSource& time,
                                       std::function<std::string(const std::string&)> title_of) {
  return [&templates, offset = config.utc_offset, &time, title_of = std::move(title_of)](
             const OutboxRow& row, std::string_view channel) {
    MessageContext context;
    context.title = title_of(row.incident_key);
    context.now = time.now();
    context.utc_offset = offset;
    auto rendered = templates.render_outbox_body(row.body, context, channel);
    if (!rendered.text) throw std::runtime_error(rendered.error);
    return *rendered.text;
  };
}

SmsService::SmsService(boost::asio::io_context& io, const Config& config, Engine& engine,
                       SqliteStore& store, const TimeSource& time)
    : engine_(engine),
      gateway_(make_sms_gateway(io, config.sms)),
      codes_(std::make_unique<ReplyCodeStore>(config.database, config.sms.reply_code_digits,
                                              config.sms.reply_code_reuse_after)),
      templates_(std::make_unique<MessageTemplates>(config.sms.templates, config.sms.max_parts)),
      composer_(std::make_unique<SmsComposer>(*codes_, *templates_, time, config,
                                              incident_titles(engine, store))),
      channel_(std::make_unique<SmsChannel>(*gateway_, composer_.get())),
      replies_(std::make_unique<SmsReplyHandler>(*codes_, time, config.sms.reply_code_digits,
                                                 config.sms.reply_code_reuse_after)) {}

SmsService::~SmsService() = default;

Channel& SmsService::channel() {
  return *channel_;
}

SmsReplyOutcome SmsService::handle_reply(std::string_view from, std::string_view to,
                                         std::string_view text) {
  auto outcome = replies_->handle_sms_reply(from, to, text);
  spdlog::info("sms: reply from {}: {}", from, outcome.log);
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
  if (!outcome.answer.empty()) {
    const std::string phone(from);
    gateway_->send({phone, outcome.answer, "reply"}, [phone](const SendResult& result) {
      if (result.status != SendResult::Status::delivered) {
        spdlog::warn("sms: the answer to {} was not sent: {}", phone, result.detail);
      }
    });
  }
  return outcome;
}

}  // namespace incidentd
