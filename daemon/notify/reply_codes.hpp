// SMS reply codes. Each notification sent by SMS carries a short numeric code bound to the
// recipient's phone (one code per phone and incident, so re-sends and later alerts about the same
// incident show the same code). A reply "<code>1" or "收到" acknowledges; "<code>2 [URL]"
// confirms the release of the notification's milestone for the recipient's own unit (a bare
// "已发布" is answered with a request for the code and changes nothing: a release needs the code).
// A reply counts only from the phone the code was sent to; a code is not reused for that
// phone until `reuse_after` (72 h) after its incident closed; an unknown, foreign or closed code
// gets an answer saying so and changes nothing.
// parse_reply, choose_code and decide_reply are pure; the codes are kept behind the
// ReplyCodeStore port (incidentd/reply_code_store.hpp; in the daemon's database, the store's
// reply-codes room); SmsReplyHandler joins them for the Kannel callback.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/reply_code_store.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

enum class ReplyIntent { acknowledge, confirm_release };

struct ParsedReply {
  // Empty for the code-less forms 收到 / 已发布; 收到 then means the phone's latest code, and
  // 已发布 is refused (decide_reply).
  std::string code;
  ReplyIntent intent = ReplyIntent::acknowledge;
  std::string url;  // confirm_release: evidence URL, optional
};

// "48271", "4827 1", "4827 2 https://...", "4827收到", "收到", "已发布 https://..." (full-width
// digits and spaces accepted). nullopt when it is none of these.
std::optional<ParsedReply> parse_reply(std::string_view text, int code_digits);

struct ReplyDecision {
  enum class Kind { acknowledge, confirm_release, rejected };
  Kind kind = Kind::rejected;
  std::optional<ReplyCode> code;  // the code acted on (acknowledge, confirm_release)
  std::string url;
  std::string answer;  // the SMS sent back to the sender, Chinese
};

ReplyDecision decide_reply(std::string_view from, std::string_view text, int code_digits,
                           ReplyCodeLookup& codes, TimePoint now, Duration reuse_after);

// What to do about one mobile-originated SMS (Kannel's sms-service callback): an acknowledgement
// or a confirmation for the engine, or nothing, and always an answer for the sender.
struct SmsReplyOutcome {
  std::optional<Acknowledgement> acknowledgement;
  std::optional<Confirmation> confirmation;
  std::string answer;
  std::string log;  // one line for the daemon's log (what was decided and why)
};

class SmsReplyHandler {
 public:
  SmsReplyHandler(ReplyCodeLookup& codes, const TimeSource& time, int code_digits,
                  Duration reuse_after);
  // `from` the sender (%p), `to` the number it was sent to (%P), `text` the message (%a), UTF-8.
  SmsReplyOutcome handle_sms_reply(std::string_view from, std::string_view to,
                                   std::string_view text);

 private:
  ReplyCodeLookup& codes_;
  const TimeSource& time_;
  int code_digits_;
  Duration reuse_after_;
};

}  // namespace incidentd
