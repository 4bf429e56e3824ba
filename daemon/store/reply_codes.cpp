#include "store/reply_codes.hpp"

#include <random>
#include <set>

#include "store/database.hpp"

namespace incidentd {
namespace {

// incidents.closed_at is set by the store when an incident closes: no separate bookkeeping.
constexpr const char* kSelect =
    "SELECT r.phone, r.code, r.incident_key, r.recipient, r.unit, r.milestone, r.round, "
    "r.notification_id, r.issued_at, i.closed_at FROM reply_codes r "
    "LEFT JOIN incidents i ON i.incident_key = r.incident_key AND i.closed = 1 ";

ReplyCode read_row(SQLite::Statement& q) {
  ReplyCode c;
  c.phone = q.getColumn(0).getString();
  c.code = q.getColumn(1).getString();
  c.incident_key = q.getColumn(2).getString();
  c.recipient = q.getColumn(3).getString();
  c.unit = q.getColumn(4).getString();
  if (!q.getColumn(5).isNull()) c.milestone = parse_milestone(q.getColumn(5).getString());
  c.round = q.getColumn(6).getInt();
  c.notification_id = q.getColumn(7).getString();
  c.issued_at = TimePoint{Duration{q.getColumn(8).getInt64()}};
  if (!q.getColumn(9).isNull())
    c.incident_closed_at = TimePoint{Duration{q.getColumn(9).getInt64()}};
  return c;
}

}  // namespace

SqliteReplyCodes::SqliteReplyCodes(Database& database, int code_digits, Duration reuse_after,
                                   std::function<std::uint64_t()> random)
    : database_(database),
      digits_(code_digits),
      reuse_after_(reuse_after),
      random_(std::move(random)) {
  if (!random_) {
    random_ = [engine = std::mt19937_64(std::random_device{}())]() mutable { return engine(); };
  }
}

StoreError SqliteReplyCodes::error(std::string_view what, const std::exception& e) const {
  return StoreError("reply codes: " + std::string(what) + ": " + e.what());
}

std::string SqliteReplyCodes::code_for(const std::string& phone, const std::string& incident_key) {
  SQLite::Statement existing(database_.db(),
                             "SELECT code FROM reply_codes WHERE phone = ? AND incident_key = ?");
  existing.bind(1, phone);
  existing.bind(2, incident_key);
  if (existing.executeStep()) return existing.getColumn(0).getString();
  std::set<std::string> in_use;
  SQLite::Statement used(database_.db(), "SELECT code FROM reply_codes WHERE phone = ?");
  used.bind(1, phone);
  while (used.executeStep()) in_use.insert(used.getColumn(0).getString());
  std::string code = choose_code(in_use, digits_, random_);
  if (code.empty()) throw StoreError("reply codes: every code is in use for " + phone);
  return code;
}

ReplyCode SqliteReplyCodes::issue(const std::string& phone_in, const std::string& incident_key,
                                  const std::string& recipient, const std::string& unit,
                                  std::optional<Milestone> milestone, int round,
                                  const std::string& notification_id, TimePoint now) {
  const std::string phone = normalize_phone(phone_in);
  try {
    SQLite::Transaction tx(database_.db(), SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement purge(database_.db(),
                            "DELETE FROM reply_codes WHERE phone = ? AND incident_key IN "
                            "(SELECT incident_key FROM incidents WHERE closed = 1 AND "
                            "closed_at IS NOT NULL AND closed_at <= ?)");
    purge.bind(1, phone);
    purge.bind(2, static_cast<std::int64_t>((now - reuse_after_).time_since_epoch().count()));
    purge.exec();
    const std::string code = code_for(phone, incident_key);
    SQLite::Statement upsert(
        database_.db(),
        "INSERT INTO reply_codes (phone, code, incident_key, recipient, unit, milestone, round, "
        "notification_id, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (phone, code) DO UPDATE SET recipient = excluded.recipient, "
        "unit = excluded.unit, milestone = excluded.milestone, round = excluded.round, "
        "notification_id = excluded.notification_id, issued_at = excluded.issued_at");
    upsert.bind(1, phone);
    upsert.bind(2, code);
    upsert.bind(3, incident_key);
    upsert.bind(4, recipient);
    upsert.bind(5, unit);
    if (milestone) {
      upsert.bind(6, std::string(to_string(*milestone)));
    } else {
      upsert.bind(6);
    }
    upsert.bind(7, round);
    upsert.bind(8, notification_id);
    upsert.bind(9, static_cast<std::int64_t>(now.time_since_epoch().count()));
    upsert.exec();
    tx.commit();
    return ReplyCode{phone,     code,  incident_key,    recipient, unit,
                     milestone, round, notification_id, now,       std::nullopt};
  } catch (const SQLite::Exception& e) {
    throw error("issue", e);
  }
}

std::vector<ReplyCode> SqliteReplyCodes::with_code(const std::string& code) {
  try {
    SQLite::Statement q(database_.db(), std::string(kSelect) + "WHERE r.code = ?");
    q.bind(1, code);
    std::vector<ReplyCode> out;
    while (q.executeStep()) out.push_back(read_row(q));
    return out;
  } catch (const SQLite::Exception& e) {
    throw error("find code", e);
  }
}

std::optional<ReplyCode> SqliteReplyCodes::latest_open_for_phone(const std::string& phone) {
  try {
    SQLite::Statement q(database_.db(), std::string(kSelect) +
                                            "WHERE r.phone = ? AND i.closed_at IS NULL "
                                            "ORDER BY r.issued_at DESC LIMIT 1");
    q.bind(1, normalize_phone(phone));
    if (q.executeStep()) return read_row(q);
    return std::nullopt;
  } catch (const SQLite::Exception& e) {
    throw error("latest code", e);
  }
}

}  // namespace incidentd
