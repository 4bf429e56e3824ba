// Everything SMS for main(), in one object: the gateway (Kannel or a cloud API), the reply codes,
// the Chinese templates, the channel the dispatcher sends through, and what happens to a reply
// the gateway passes on (Kannel's sms-service calls the daemon's HTTP endpoint with it).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "incidentd/config.hpp"
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
std::function<std::string(const std::string&)> incident_titles(const Engine& engine,
                                                               SqliteStore& store);

// Texts for the channels that do not compose their own (webhooks, robots): the Chinese templates
// without a reply code. A body that is not a notification throws, which the dispatcher records as
// a permanent failure of the row.
NotificationRenderer template_renderer(const MessageTemplates& templates, const Config& config,
                                       const TimeSource& time,
                                       std::function<std::string(const std::string&)> title_of);

class SmsService {
 public:
  // Opens the reply-code table in config.database (after SqliteStore migrated it) and builds the
  // gateway from [sms]. Throws when the credentials file cannot be read or the table not opened.
  SmsService(boost::asio::io_context& io, const Config& config, Engine& engine, SqliteStore& store,
             const TimeSource& time);
  ~SmsService();
  SmsService(const SmsService&) = delete;
  SmsService& operator=(const SmsService&) = delete;

  // The "sms" channel for the dispatcher: it composes its own text with the reply code.
  Channel& channel();

  // A mobile-originated SMS: acknowledges or confirms through the engine (and commits), or
  // changes nothing; the sender always gets an answer by SMS. Throws StoreError when the commit
  // fails (the engine is then ahead of the database: the daemon must restart).
  SmsReplyOutcome handle_reply(std::string_view from, std::string_view to, std::string_view text);

 private:
  Engine& engine_;
  std::unique_ptr<SmsGateway> gateway_;
  std::unique_ptr<ReplyCodeStore> codes_;
  std::unique_ptr<MessageTemplates> templates_;
  std::unique_ptr<SmsComposer> composer_;
  std::unique_ptr<SmsChannel> channel_;
  std::unique_ptr<SmsReplyHandler> replies_;
};

}  // namespace incidentd
