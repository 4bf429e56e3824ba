// A reply-code store that holds one open code for one phone: enough for decide_reply and the
// SMS callback to reach their every branch (the SMS reply and Kannel MO fuzz targets).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "notify/reply_codes.hpp"

namespace incidentd::fuzz {

class OneCode final : public ReplyCodeLookup {
 public:
  OneCode() {
    code_.phone = "+8613800000101";
    code_.code = "4827";
    code_.incident_key = "zt-landslide-20261126";
    code_.recipient = "zt-duty1";
    code_.unit = "zhaotong-gov";
    code_.milestone = Milestone::first_release;
  }
  std::vector<ReplyCode> with_code(const std::string& code) override {
    if (code == code_.code) return {code_};
    return {};
  }
  std::optional<ReplyCode> latest_open_for_phone(const std::string& phone) override {
    if (phone == code_.phone) return code_;
    return std::nullopt;
  }

 private:
  ReplyCode code_;
};

}  // namespace incidentd::fuzz
