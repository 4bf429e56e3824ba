// The reply-code port: the short numeric codes SMS notifications carry (one per phone and
// incident, daemon/notify/reply_codes.hpp says how replies use them). decide_reply needs only
// the lookups; the SMS composer issues codes. Implementations throw StoreError.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/domain.hpp"
#include "incidentd/time.hpp"

namespace incidentd {

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

class ReplyCodeStore : public ReplyCodeLookup {
 public:
  // The code for this phone and incident: the existing one (its milestone, round, notification
  // and recipient updated), or a new one not in use for the phone. Codes of incidents closed
  // long enough ago (the implementation's reuse_after) are removed first, which frees them.
  virtual ReplyCode issue(const std::string& phone, const std::string& incident_key,
                          const std::string& recipient, const std::string& unit,
                          std::optional<Milestone> milestone, int round,
                          const std::string& notification_id, TimePoint now) = 0;
};

}  // namespace incidentd
