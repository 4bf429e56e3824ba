// The reply-codes room: the SMS reply codes (table reply_codes, defined with the rest of the
// schema in schema.cpp) on the store's connection, joined with the incidents table for whether
// an incident has closed (the ReplyCodeStore port). Internal to daemon/store: made by
// SqliteStore::reply_codes().
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/reply_code_store.hpp"
#include "incidentd/store.hpp"

namespace incidentd {

class Database;

class SqliteReplyCodes final : public ReplyCodeStore {
 public:
  // Codes are `code_digits` long and not reused for a phone until `reuse_after` after their
  // incident closed; `random` (unset: a seeded Mersenne Twister) draws them.
  SqliteReplyCodes(Database& database, int code_digits, Duration reuse_after,
                   std::function<std::uint64_t()> random = {});
  SqliteReplyCodes(const SqliteReplyCodes&) = delete;
  SqliteReplyCodes& operator=(const SqliteReplyCodes&) = delete;

  ReplyCode issue(const std::string& phone, const std::string& incident_key,
                  const std::string& recipient, const std::string& unit,
                  std::optional<Milestone> milestone, int round, const std::string& notification_id,
                  TimePoint now) override;
  std::vector<ReplyCode> with_code(const std::string& code) override;
  std::optional<ReplyCode> latest_open_for_phone(const std::string& phone) override;

 private:
  StoreError error(std::string_view what, const std::exception& e) const;
  // The code this phone has for the incident, else a new one not in use for the phone.
  std::string code_for(const std::string& phone, const std::string& incident_key);

  Database& database_;
  int digits_;
  Duration reuse_after_;
  std::function<std::uint64_t()> random_;
};

}  // namespace incidentd
