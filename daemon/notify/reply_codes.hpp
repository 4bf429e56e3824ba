// SMS reply codes. Each notification sent by SMS carries a short numeric code bound to the
// recipient's phone (one code per phone and incident, so re-sends and later alerts about the same
// incident show the same code). A reply "<code>1" or "收到" acknowledges; "<code>2 [URL]"
// confirms the release of the notification's milestone for the recipient's own unit (a bare
// "已发布" is answered with a request for the code and changes nothing: a release needs the code).
// A reply counts only from the phone the code was sent to; a code is not reused for that
// phone until `reuse_after` (72 h) after its incident closed; an unknown, foreign or closed code
// gets an answer saying so and changes nothing.
// parse_reply, choose_code and decide_reply are pure; ReplyCodeStore keeps the codes in the
// daemon's SQLite file (table reply_codes, created by the store's migrations); SmsReplyHandler
// joins them for the Kannel callback.
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

// "+8613800000101" from "+86 138-0000-0101", "8613800000101" or "13800000101": the form the
// roster uses (E.164), so a carrier's spelling of the sender still matches.
std::string normalize_phone(std::string_view phone);

// A code not in `in_use`, `digits` long, first digit not 0, drawn with `random`. Empty when every
// code is taken.
std::string choose_code(const std::set<std::string>& in_use, int digits,
                        const std::function<std::uint64_t()>& random);

struct ReplyCode {
  std::string phone;  // normalized
  std::string code;
  std::string incident_key;
  std::string recipient;  // person id
  std::string unit;       // the recipient's unit: an SMS confirmation counts for it only
  std::optional<Milestone> milestone;  // of the latest notification sent with the code
  int round = 0;                       // follow_up round
  std::string notification_id;
  TimePoint issued_at{};
  std::optional<TimePoint> incident_closed_at;
};

// What decide_reply needs to know about the codes.
class ReplyCodeLookup {
 public:
  virtual ~ReplyCodeLookup() = default;
  // Every stored code with this value, whatever the phone.
  virtual std::vector<ReplyCode> with_code(const std::string& code) = 0;
  // The code most recently issued to this phone for an incident still open.
  virtual std::optional<ReplyCode> latest_open_for_phone(const std::string& phone) = 0;
};

struct ReplyDecision {
  enum class Kind { acknowledge, confirm_release, rejected };
  Kind kind = Kind::rejected;
  std::optional<ReplyCode> code;  // the code acted on (acknowledge, confirm_release)
  std::string url;
  std::string answer;  // the SMS sent back to the sender, Chinese
};

ReplyDecision decide_reply(std::string_view from, std::string_view text, int code_digits,
                           ReplyCodeLookup& codes, TimePoint now, Duration reuse_after);

// The codes in SQLite. Opens its own connection to the daemon's database (WAL: the store and it
// write the same file); the store must have created the file at schema version 4 or later.
// Throws StoreError at construction when it cannot; the other calls throw StoreError on failure.
class ReplyCodeStore final : public ReplyCodeLookup {
 public:
  ReplyCodeStore(const std::string& database_path, int code_digits, Duration reuse_after,
                 std::function<std::uint64_t()> random = {});
  ~ReplyCodeStore() override;
  ReplyCodeStore(const ReplyCodeStore&) = delete;
  ReplyCodeStore& operator=(const ReplyCodeStore&) = delete;

  // The code for this phone and incident: the existing one (its milestone, round, notification
  // and recipient updated), or a new one not in use for the phone. Codes of incidents closed
  // `reuse_after` ago are removed first, which frees them.
  ReplyCode issue(const std::string& phone, const std::string& incident_key,
                  const std::string& recipient, const std::string& unit,
                  std::optional<Milestone> milestone, int round, const std::string& notification_id,
                  TimePoint now);

  std::vector<ReplyCode> with_code(const std::string& code) override;
  std::optional<ReplyCode> latest_open_for_phone(const std::string& phone) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

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
