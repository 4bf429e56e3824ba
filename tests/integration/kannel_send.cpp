// The SMS side of incidentd as one command each, for tests/integration/kannel_test.py to drive
// against a real Kannel. Prints one JSON object on stdout.
//
//   kannel_send send   --url U --credentials F --sender S --phone P --text T
//       SmsChannel over the Kannel adapter, the text as given.
//   kannel_send notify --url U --credentials F --sender S --db DB --phone P --body FILE
//                      --title T --now RFC3339
//       SmsChannel with the composer: issues the reply code in DB, renders the notification
//       action in FILE (JSON) with the Chinese templates, sends it; prints the text and code.
//   kannel_send reply  --db DB --from P --to P --text T --now RFC3339
//       handle_sms_reply against the codes in DB: prints the decision and the answer.
//   kannel_send close  --db DB --incident KEY --at RFC3339
//       marks the incident closed in DB (as the store does when an incident_closed is applied).
#include <utility>

#include <boost/asio/io_context.hpp>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "incidentd/codec.hpp"
#include "notify/message.hpp"
#include "notify/reply_codes.hpp"
#include "notify/sms.hpp"
#include "store/sqlite_store.hpp"

using namespace incidentd;

namespace {

class FixedTime final : public TimeSource {
 public:
  explicit FixedTime(TimePoint t) : t_(t) {}
  TimePoint now() const override { return t_; }

 private:
  TimePoint t_;
};

// Remembers what went out, so the test can compare it with what fakesmsc received.
class RecordingGateway final : public SmsGateway {
 public:
  explicit RecordingGateway(SmsGateway& inner) : inner_(inner) {}
  std::string_view kind() const override { return inner_.kind(); }
  void send(const SmsMessage& message, std::function<void(SendResult)> done) override {
    sent = message;
    inner_.send(message, std::move(done));
  }
  SmsMessage sent;

 private:
  SmsGateway& inner_;
};

std::string arg(const std::map<std::string, std::string>& args, const std::string& name) {
  const auto found = args.find(name);
  if (found == args.end()) throw std::runtime_error("missing --" + name);
  return found->second;
}

TimePoint time_arg(const std::map<std::string, std::string>& args, const std::string& name) {
  const auto t = parse_rfc3339(arg(args, name));
  if (!t) throw std::runtime_error("--" + name + ": not RFC 3339");
  return *t;
}

SmsSettings settings_from(const std::map<std::string, std::string>& args) {
  SmsSettings s;
  s.enabled = true;
  s.url = arg(args, "url");
  s.credentials_file = arg(args, "credentials");
  s.sender = arg(args, "sender");
  s.timeout = std::chrono::seconds(10);
  return s;
}

int send(const std::map<std::string, std::string>& args, SmsComposer* composer,
         OutgoingNotification n, nlohmann::json& out, const std::string& text = {}) {
  boost::asio::io_context io;
  const SmsSettings settings = settings_from(args);
  auto kannel = make_sms_gateway(io, settings);
  RecordingGateway gateway(*kannel);
  SmsChannel channel(gateway, composer,
                     [&text](const OutgoingNotification&, std::string_view) { return text; });
  std::optional<SendResult> result;
  channel.send(n, [&result](SendResult r) { result = std::move(r); });
  io.run();
  if (!result) throw std::runtime_error("the channel never reported");
  out["status"] = std::string(to_string(result->status));
  out["detail"] = result->detail;
  out["text"] = gateway.sent.text;
  return result->status == SendResult::Status::delivered ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) throw std::runtime_error("usage: kannel_send send|notify|reply|close --...");
  const std::string command = argv[1];
  std::map<std::string, std::string> args;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0) throw std::runtime_error("expected --name value, got " + key);
    args[key.substr(2)] = argv[i + 1];
  }
  nlohmann::json out;
  int rc = 0;
  if (command == "send") {
    OutgoingNotification n;
    n.notification_id = "test";
    n.address = arg(args, "phone");
    rc = send(args, nullptr, n, out, arg(args, "text"));
  } else if (command == "notify") {
    SqliteStore store(arg(args, "db"));  // creates the file and runs the store's migrations
    std::ifstream body_file(arg(args, "body"));
    std::stringstream body;
    body << body_file.rdbuf();
    const auto action = action_from_json(nlohmann::json::parse(body.str()));
    if (!action) throw std::runtime_error("--body: " + action.error);
    OutgoingNotification n;
    n.notification_id = action.value->notification_id;
    n.incident_key = action.value->incident_key;
    n.recipient = action.value->recipient;
    n.unit = action.value->unit;
    n.address = arg(args, "phone");
    const auto payload = decode_notification_body(NotificationPurpose::alert, body.str());
    if (!payload) throw std::runtime_error("--body: " + payload.error);
    n.payload = *payload.value;
    Config config;
    FixedTime time(time_arg(args, "now"));
    const auto codes_owned =
        store.reply_codes(config.sms.reply_code_digits, config.sms.reply_code_reuse_after);
    ReplyCodeStore& codes = *codes_owned;
    const MessageTemplates templates(config.sms.templates, config.sms.max_parts);
    const std::string title = arg(args, "title");
    SmsComposer composer(codes, templates, time, config,
                         [&title](const std::string&) { return title; });
    rc = send(args, &composer, n, out);
    out["code"] = codes.latest_open_for_phone(n.address).value_or(ReplyCode{}).code;
  } else if (command == "reply") {
    SqliteStore store(arg(args, "db"));  // creates the file and runs the store's migrations
    Config config;
    FixedTime time(time_arg(args, "now"));
    const auto codes_owned =
        store.reply_codes(config.sms.reply_code_digits, config.sms.reply_code_reuse_after);
    ReplyCodeStore& codes = *codes_owned;
    SmsReplyHandler handler(codes, time, config.sms.reply_code_digits,
                            config.sms.reply_code_reuse_after);
    const SmsReplyOutcome outcome =
        handler.handle_sms_reply(arg(args, "from"), arg(args, "to"), arg(args, "text"));
    out["answer"] = outcome.answer;
    out["log"] = outcome.log;
    if (outcome.acknowledgement) {
      out["ack"] = {{"incident_key", outcome.acknowledgement->incident_key},
                    {"recipient", outcome.acknowledgement->recipient}};
    }
    if (outcome.confirmation) {
      out["confirm"] = {{"incident_key", outcome.confirmation->incident_key},
                        {"unit", outcome.confirmation->unit},
                        {"milestone", std::string(to_string(outcome.confirmation->milestone))},
                        {"url", outcome.confirmation->url}};
    }
  } else if (command == "close") {
    SQLite::Database db(arg(args, "db"), SQLite::OPEN_READWRITE);
    SQLite::Statement q(db,
                        "INSERT INTO incidents (incident_key, level, drill, closed, opened_at, "
                        "clock_start, closed_at, title, lead_unit, state, updated_seq) VALUES "
                        "(?, 'II', 0, 1, 0, 0, ?, '', '', '{}', 0) ON CONFLICT (incident_key) "
                        "DO UPDATE SET closed = 1, closed_at = excluded.closed_at");
    q.bind(1, arg(args, "incident"));
    q.bind(2, static_cast<std::int64_t>(time_arg(args, "at").time_since_epoch().count()));
    q.exec();
    out["closed"] = arg(args, "incident");
  } else {
    throw std::runtime_error("unknown command " + command);
  }
  std::cout << out.dump() << "\n";
  return rc;
} catch (const std::exception& e) {
  std::cerr << "kannel_send: " << e.what() << "\n";
  return 2;
}
