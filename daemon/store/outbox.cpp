#include "store/outbox.hpp"

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <sqlite3.h>

#include "incidentd/timeline_rows.hpp"
#include "store/commit_journal.hpp"
#include "store/database.hpp"
#include "store/hash_chain.hpp"
#include "store/sql.hpp"

namespace incidentd {
namespace {

using sql::instant_of;
using sql::millis;
using sql::Use;

// A delivery's columns, bound alike by the dispatcher's update and a replica's.
constexpr const char* kSetDelivery =
    "SET state = ?, channel = ?, attempts = ?, next_attempt_at = ?, delivered_at = ?, "
    "last_error = ?, failing_since = ?, recorded = ?, gave_up = ? WHERE notification_id = ?";

// In the order of the outbox_pending index, so LIMIT stops early: no sort of every due row.
// superseded_by looks up the newest later alert on the outbox_recipient index.
constexpr const char* kDueSql =
    "SELECT o.notification_id, o.recipient, o.unit, o.channel, o.state, "
    "o.attempts, o.delivered_at, o.last_error, o.incident_key, o.level, "
    "COALESCE(t.body, o.body), "
    "o.created_at, o.next_attempt_at, o.milestone, o.purpose, "
    "o.failing_since, o.recorded, "
    "CASE WHEN o.purpose = 'alert' THEN (SELECT n.notification_id FROM outbox n "
    "WHERE n.incident_key = o.incident_key AND n.recipient = o.recipient AND "
    "n.milestone IS o.milestone AND n.created_at > o.created_at AND "
    "n.purpose = 'alert' ORDER BY n.created_at DESC LIMIT 1) END, "
    "(SELECT MIN(p.failing_since) FROM outbox p WHERE p.incident_key = "
    "o.incident_key AND p.recipient = o.recipient AND p.milestone IS "
    "o.milestone AND p.created_at <= o.created_at AND p.purpose = o.purpose "
    "AND p.state IN ('pending', 'superseded')), "
    "t.seq, t.incident_key, t.at, t.action, t.milestone "
    "FROM outbox o LEFT JOIN timeline t ON t.seq = o.timeline_seq "
    "WHERE o.state = 'pending' AND o.next_attempt_at <= ? "
    "ORDER BY o.next_attempt_at LIMIT ?";
// The same, for an instance of a cluster: its replica's rows of other owners' incidents are
// skipped in the index's order, so LIMIT still counts only rows this instance sends.
const std::string kOwnedDueSql = [] {
  std::string sql = kDueSql;
  const std::string order = " ORDER BY";
  sql.insert(sql.rfind(order), " AND incidentd_owns(o.incident_key)");
  return sql;
}();

// incidentd_owns(incident_key): 1 for an incident the OutboxRoom's owner admits, or for NULL.
void owns_function(sqlite3_context* context, int /*argc*/, sqlite3_value** argv) {
  const auto& owns =
      *static_cast<std::function<bool(std::string_view)>*>(sqlite3_user_data(context));
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  if (text == nullptr) {
    sqlite3_result_int(context, 1);
    return;
  }
  const auto size = static_cast<std::size_t>(sqlite3_value_bytes(argv[0]));
  sqlite3_result_int(context, owns(std::string_view(text, size)) ? 1 : 0);
}

// A name this table never holds unless written by hand: a broken invariant, not a row to guess.
template <typename Enum>
Enum column_as(SQLite::Statement& s, int column, std::optional<Enum> (*parse)(std::string_view)) {
  const std::string text = s.getColumn(column).getString();
  if (const std::optional<Enum> value = parse(text)) return *value;
  throw std::runtime_error("outbox row " + s.getColumn(0).getString() + ": unknown " +
                           s.getColumnName(column) + " '" + text + "'");
}

// Columns 0-7 of both queries: notification_id, recipient, unit, channel, state, attempts,
// delivered_at, last_error.
void read_row_head(SQLite::Statement& s, OutboxRow& row) {
  row.notification_id = s.getColumn(0).getString();
  row.recipient = s.getColumn(1).getString();
  row.unit = s.getColumn(2).getString();
  row.channel = column_as(s, 3, parse_notification_channel);
  row.state = column_as(s, 4, parse_delivery_state);
  row.attempts = s.getColumn(5).getInt();
  if (!s.getColumn(6).isNull()) row.delivered_at = instant_of(s.getColumn(6).getInt64());
  row.last_error = s.getColumn(7).getString();
}

OutboxRow read_due_row(SQLite::Statement& s) {
  OutboxRow row;
  read_row_head(s, row);
  row.incident_key = s.getColumn(8).getString();
  if (!s.getColumn(9).isNull()) row.level = s.getColumn(9).getInt();
  row.body = s.getColumn(10).getString();
  row.created_at = instant_of(s.getColumn(11).getInt64());
  row.next_attempt_at = instant_of(s.getColumn(12).getInt64());
  row.milestone = s.getColumn(13).getString();
  row.purpose = column_as(s, 14, parse_notification_purpose);
  if (!s.getColumn(15).isNull()) row.failing_since = instant_of(s.getColumn(15).getInt64());
  row.recorded = s.getColumn(16).getString();
  row.superseded_by = s.getColumn(17).getString();
  if (!s.getColumn(18).isNull()) row.failing_since = instant_of(s.getColumn(18).getInt64());
  if (!s.getColumn(19).isNull()) {
    row.timeline_seq = s.getColumn(19).getInt64();
    row.timeline = sql::timeline_columns(s, 20);
  }
  return row;
}

// Returns whether the row was still pending (and is now updated).
bool apply_update(SQLite::Statement& update, const OutboxUpdate& u) {
  Use s(update);
  s->bind(1, std::string(to_string(u.state)));
  s->bind(2, std::string(to_string(u.channel)));
  s.integer(3, u.attempts);
  s.instant(4, u.next_attempt_at);
  s.instant(5, u.delivered_at);
  s.text(6, u.last_error);
  s.instant(7, u.failing_since);
  s.text(8, u.recorded);
  if (u.gave_up.empty()) {
    s->bind(9);
  } else {
    s.text(9, u.gave_up);
  }
  s.text(10, u.notification_id);
  return s->exec() == 1;
}

}  // namespace

OutboxRoom::OutboxRoom(Database& database, HashChain& chain, CommitJournal& journal)
    : database_(database),
      chain_(chain),
      journal_(journal),
      insert_(database.db(),
              "INSERT OR IGNORE INTO outbox(notification_id, incident_key, recipient, unit, "
              "channel, level, body, created_at, next_attempt_at, milestone, purpose, "
              "timeline_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      replicate_delivery_(database.db(), std::string("UPDATE OR ROLLBACK outbox ") + kSetDelivery),
      // Only a row still pending: one delivered or failed meanwhile keeps its result.
      record_update_(database.db(),
                     std::string("UPDATE outbox ") + kSetDelivery + " AND state = 'pending'"),
      // One step down the outbox_pending index: a pass that finds nothing writes nothing, which
      // is every pass but the one after the wall clock stepped back.
      pending_beyond_(database.db(),
                      "SELECT 1 FROM outbox WHERE state = 'pending' AND next_attempt_at > ? "
                      "LIMIT 1"),
      pull_back_(database.db(),
                 "UPDATE outbox SET next_attempt_at = ? WHERE state = 'pending' AND "
                 "next_attempt_at > ?") {}

bool OutboxRoom::apply_delivery(const DeliveryChange& d) {
  Use s(replicate_delivery_);
  s->bind(1, std::string(to_string(d.state)));
  s->bind(2, std::string(to_string(d.channel)));
  s.integer(3, d.attempts);
  s.instant(4, d.next_attempt_at);
  s.instant(5, d.delivered_at);
  s.text(6, d.last_error);
  s.instant(7, d.failing_since);
  s.text(8, d.recorded);
  if (d.gave_up.empty()) {
    s->bind(9);
  } else {
    s.text(9, d.gave_up);
  }
  s.text(10, d.notification_id);
  return s->exec() == 1;
}

void OutboxRoom::chain_action(const Action& a) {
  const std::int64_t seq = chain_.append(a);
  if (a.kind == ActionKind::notification) insert_notification(a, seq);
}

void OutboxRoom::chain_actions(const std::vector<Action>& actions) {
  for (const TimelineRowDraft& row : timeline_rows(actions)) {
    const std::int64_t seq = chain_.append(row);
    for (const Action* a : row.actions) {
      if (a->kind == ActionKind::notification) insert_notification(*a, seq);
    }
  }
}

void OutboxRoom::insert_notification(const Action& a, std::int64_t timeline_seq) {
  Use s(insert_);
  s.text(1, a.notification_id);
  s.text(2, a.incident_key);
  s.text(3, a.recipient);
  s.text(4, a.unit);
  s.text(5, a.channel);
  if (a.level) {
    s.integer(6, *a.level);
  } else {
    s->bind(6);
  }
  s->bind(7, "");  // the body is the timeline row's
  s.instant(8, a.at);
  s.instant(9, a.at);
  if (a.milestone) {
    s.text(10, sql::name(*a.milestone));
  } else {
    s->bind(10);
  }
  s->bind(11, std::string(to_string(NotificationPurpose::alert)));
  s.integer(12, timeline_seq);
  s->exec();
}

void OutboxRoom::insert_row(const OutboxRow& row) {
  Use n(insert_);
  n.text(1, row.notification_id);
  n.text(2, row.incident_key);
  n.text(3, row.recipient);
  n.text(4, row.unit);
  n->bind(5, std::string(to_string(row.channel)));
  if (row.level) {
    n.integer(6, *row.level);
  } else {
    n->bind(6);
  }
  n.text(7, row.body);
  n.instant(8, row.created_at);
  n.instant(9, row.next_attempt_at);
  n.text(10, row.milestone);
  n->bind(11, std::string(to_string(row.purpose)));
  n->bind(12);
  n->exec();
}

void OutboxRoom::only_owned(std::function<bool(std::string_view incident_key)> owns) {
  due_.reset();
  next_due_.reset();
  owns_ = std::move(owns);
  const int rc =
      sqlite3_create_function_v2(database_.db().getHandle(), "incidentd_owns", 1, SQLITE_UTF8,
                                 &owns_, owns_function, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    throw StoreError(std::string("only_owned: ") + sqlite3_errstr(rc));
  }
}

SQLite::Statement& OutboxRoom::due_query() {
  if (!due_) due_.emplace(database_.db(), owns_ ? kOwnedDueSql.c_str() : kDueSql);
  return *due_;
}

SQLite::Statement& OutboxRoom::next_due_query() {
  if (!next_due_) {
    next_due_.emplace(database_.db(),
                      owns_ ? "SELECT next_attempt_at FROM outbox WHERE state = 'pending' AND "
                              "incidentd_owns(incident_key) ORDER BY next_attempt_at LIMIT 1"
                            : "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'");
  }
  return *next_due_;
}

std::vector<OutboxRow> OutboxRoom::due_notifications(TimePoint now, std::size_t limit) {
  return guarded(database_, "due_notifications", [&] {
    std::vector<OutboxRow> out;
    Use s(due_query());
    s.instant(1, now);
    s.integer(2, static_cast<std::int64_t>(limit));
    while (s->executeStep()) out.push_back(read_due_row(*s));
    return out;
  });
}

std::optional<TimePoint> OutboxRoom::next_notification_due() {
  return guarded(database_, "next_notification_due", [&]() -> std::optional<TimePoint> {
    Use s(next_due_query());
    if (!s->executeStep() || s->getColumn(0).isNull()) return std::nullopt;
    return instant_of(s->getColumn(0).getInt64());
  });
}

std::size_t OutboxRoom::pull_back_notifications(TimePoint now, TimePoint beyond) {
  return guarded(database_, "pull_back_notifications", [&]() -> std::size_t {
    {
      Use any(pending_beyond_);
      any.instant(1, beyond);
      if (!any->executeStep()) return 0;
    }
    Use pull(pull_back_);
    pull.instant(1, now);
    pull.instant(2, beyond);
    return static_cast<std::size_t>(pull->exec());
  });
}

std::vector<bool> OutboxRoom::record_outbox(const std::vector<OutboxUpdate>& updates) {
  std::vector<bool> applied;
  if (updates.empty()) return applied;
  guarded_write(database_, "record_outbox", [&] {
    SQLite::Transaction tx(database_.db(), SQLite::TransactionBehavior::IMMEDIATE);
    CommitJournal::Capture undo(journal_);
    // The same chaining as the engine's commit: from our head, or a row another writer added.
    chain_.stage();
    for (const OutboxUpdate& u : updates) {
      const bool changed = apply_update(record_update_, u);
      applied.push_back(changed);
      if (!changed) continue;
      for (const Action& a : u.timeline) chain_action(a);
      for (const OutboxRow& row : u.new_rows) insert_row(row);
    }
    undo.finish();
    tx.commit();
    chain_.committed();
  });
  return applied;
}

std::map<std::pair<std::string, std::string>, std::uint64_t> OutboxRoom::outbox_counts() {
  return guarded(database_, "outbox_counts", [&] {
    std::map<std::pair<std::string, std::string>, std::uint64_t> out;
    SQLite::Statement s(database_.db(),
                        "SELECT channel, state, COUNT(*) FROM outbox GROUP BY channel, state");
    while (s.executeStep()) {
      out[{s.getColumn(0).getString(), s.getColumn(1).getString()}] =
          static_cast<std::uint64_t>(s.getColumn(2).getInt64());
    }
    return out;
  });
}

std::vector<OutboxRow> OutboxRoom::of_incident(const std::string& incident_key) {
  return guarded(database_, "outbox", [&] {
    std::vector<OutboxRow> out;
    SQLite::Statement s(database_.db(),
                        "SELECT notification_id, recipient, unit, channel, state, attempts, "
                        "delivered_at, last_error, gave_up FROM outbox WHERE incident_key = ? "
                        "ORDER BY created_at, notification_id");
    s.bind(1, incident_key);
    while (s.executeStep()) {
      OutboxRow row;
      read_row_head(s, row);
      row.gave_up = s.getColumn(8).getString();
      out.push_back(std::move(row));
    }
    return out;
  });
}

}  // namespace incidentd
