// Everything SMS for the Daemon, in one object: the gateway (Kannel or a cloud API), the reply
// codes, the Chinese templates, the channel the dispatcher sends through, and what happens to a
// reply the gateway passes on (Kannel's sms-service calls the daemon's HTTP endpoint with it).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "incidentd/config.hpp"
#include "incidentd/config_snapshot.hpp"
#include "incidentd/delivery_policy.hpp"
#include "incidentd/forwarded_input.hpp"
#include "incidentd/store.hpp"
#include "incidentd/time.hpp"
#include "notify/dispatcher.hpp"
#include "notify/reply_codes.hpp"

namespace boost::asio {
class io_context;
}

namespace incidentd {

class Channel;
class Engine;
class MessageTemplates;
class SmsChannel;
class SmsComposer;
class SmsGateway;

// The incident's title by key (open in the engine, else from the store), for message texts.
std::function<std::string(const std::string&)> incident_titles(const Engine& engine, Store& store);

// Texts for the channels that do not compose their own (webhooks, robots): the Chinese templates
// without a reply code, with the one-click ack link when `ack_links` is set (the same link as the
// dispatcher's ack_url: the maker is a pure function of the row). A payload that is not a
// notification throws, which the channel answers as a permanent failure of the send.
NotificationRenderer template_renderer(const MessageTemplates& templates, ConfigView config,
                                       const TimeSource& time,
                                       std::function<std::string(const std::string&)> title_of,
                                       AckLinkMaker ack_links = {});

// An answer older than this is not sent any more: an hour-old "recorded" or "unknown code"
// confuses more than it helps, and the person has asked the duty desk by then.
inline constexpr Duration kSmsAnswerMaxAge = std::chrono::hours(1);

// The answer to a reply that could not be forwarded to its incident's owner ([cluster]).
inline constexpr std::string_view kNotRecordedAnswer =
    "您的回复暂未被记录：系统暂时无法处理，请稍后重发，或联系值班室。";

// Sends the answers to SMS replies. They belong to no notification, so they are not in the outbox:
// each is kept in memory, on the loop, and retried after a transient failure with the
// dispatcher's backoff (retry_delay over [notify] retry_base, retry_max, jitter) until the
// gateway takes it, refuses it for good, or the next try would come later than `max_age` after
// the first. Every failure is logged. A restart forgets the answers not yet sent.
class SmsAnswerSender {
 public:
  // `gateway` must outlive the sender; `random_unit` returns numbers in [0, 1) for the jitter.
  SmsAnswerSender(SmsGateway& gateway, TimeSystem& time, RetrySettings retry,
                  std::function<double()> random_unit, Duration max_age = kSmsAnswerMaxAge);
  ~SmsAnswerSender();
  SmsAnswerSender(const SmsAnswerSender&) = delete;
  SmsAnswerSender& operator=(const SmsAnswerSender&) = delete;

  // Sends now; a transient failure is retried as above.
  void send(const std::string& phone, const std::string& text);
  // Answers not yet sent and not given up on.
  std::size_t pending() const { return answers_.size(); }

 private:
  struct Answer {
    std::string phone;
    std::string text;
    TimePoint first_at{};
    TimePoint next_at{};
    int failures = 0;
    bool in_flight = false;
  };
  void attempt(std::uint64_t id);
  void on_result(std::uint64_t id, const SendResult& result);
  void on_timer();
  void arm();

  SmsGateway& gateway_;
  TimeSystem& time_;
  RetrySettings retry_;
  std::function<double()> random_unit_;
  Duration max_age_;
  std::unique_ptr<Timer> timer_;
  std::map<std::uint64_t, Answer> answers_;
  std::uint64_t next_id_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for gateway callbacks
};

class SmsService {
 public:
  // Keeps its reply codes in `codes` and builds the gateway from [sms]; `store` gives the titles
  // of closed incidents. `answer_clock` times the retries of answers: the real clock, also in a
  // drill (a person waits in real time). Throws when the credentials file cannot be read.
  SmsService(boost::asio::io_context& io, ConfigView config, Engine& engine, Store& store,
             ReplyCodeStore& codes, const TimeSource& time, TimeSystem& answer_clock);
  ~SmsService();
  SmsService(const SmsService&) = delete;
  SmsService& operator=(const SmsService&) = delete;

  // The "sms" channel for the dispatcher: it composes its own text with the reply code.
  Channel& channel();

  // A mobile-originated SMS: acknowledges or confirms through the engine (and commits), or
  // changes nothing; the sender always gets an answer by SMS (SmsAnswerSender: retried, not
  // kept across a restart). Throws StoreError when the commit fails (the engine is then ahead of
  // the database: the daemon must restart).
  // A reply for an incident another instance owns is not applied here.
  SmsReplyOutcome handle_reply(std::string_view from, std::string_view to, std::string_view text);

  // [cluster] on (docs/cluster.md, "Inputs from any door"): a reply whose incident `owns` says
  // another instance owns goes to `forward` (the inputs topic) instead of the engine, and the
  // sender is answered once `done` says whether the broker took it: as if it was applied here,
  // or that it was not recorded. `done` runs once, on the loop thread.
  using ForwardDone = std::function<void(bool ok, const std::string& error)>;
  using Forward = std::function<void(const ForwardedInput& input, ForwardDone done)>;
  void forward_unowned(std::function<bool(const std::string& incident_key)> owns, Forward forward);

 private:
  SmsService(boost::asio::io_context& io, ConfigView view, const Config& config, Engine& engine,
             Store& store, ReplyCodeStore& codes, const TimeSource& time, TimeSystem& answer_clock);
  void forward_reply(const ForwardedInput& input, std::string phone, std::string answer);

  Engine& engine_;
  std::unique_ptr<SmsGateway> gateway_;
  std::unique_ptr<MessageTemplates> templates_;
  std::unique_ptr<SmsComposer> composer_;
  std::unique_ptr<SmsChannel> channel_;
  std::unique_ptr<SmsReplyHandler> replies_;
  std::unique_ptr<SmsAnswerSender> answers_;  // gone before the gateway it sends through
  std::function<bool(const std::string&)> owns_;
  Forward forward_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for forward_'s answers
};

}  // namespace incidentd
