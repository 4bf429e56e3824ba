// Test-only: turns what a current build wrote back into what older schemas stored, for migration
// tests that take a file back to an older schema: the timeline of schemas 2 to 10 (no
// incident_seq, one global chain over the seqs, chain_hash_v1), the outbox of schemas 1 to 14
// (every row with its own body), the bodies of schemas 1 to 16 (with what the columns say).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include <nlohmann/json.hpp>

#include "incidentd/incident.hpp"
#include "incidentd/time.hpp"
#include "store/chain_hash.hpp"
#include "store/hash_chain.hpp"

namespace incidentd::testing {

// Schema 17 left out of a row's body what its columns say, and a step's notification ids where
// its alert's id makes them: put both back, and chain the rows again per incident (the hash
// covers the body), as schemas 11 to 16 wrote them.
inline void whole_bodies_for_test(SQLite::Database& db) {
  using nlohmann::json;
  std::map<std::string, std::string> heads;  // incident -> hash of its last row
  SQLite::Statement rows(db,
                         "SELECT seq, incident_seq, incident_key, at, action, milestone, body "
                         "FROM timeline ORDER BY seq");
  SQLite::Statement update(db,
                           "UPDATE timeline SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?");
  while (rows.executeStep()) {
    const std::string key = rows.getColumn(2).getString();
    const std::int64_t at_ms = rows.getColumn(3).getInt64();
    const std::string action = rows.getColumn(4).getString();
    std::optional<std::string> milestone;
    if (!rows.getColumn(5).isNull()) milestone = rows.getColumn(5).getString();
    json body = json::parse(rows.getColumn(6).getString());
    body["action"] = action;
    body["at"] = format_rfc3339(TimePoint(Duration(at_ms)), std::chrono::minutes{0});
    body["incident_key"] = key;
    if (milestone) body["milestone"] = *milestone;
    if (const auto alert = body.find("alert_id"); alert != body.end()) {
      const std::string alert_id = *alert;
      body.erase(alert);
      for (json& own : body["recipients"]) {
        const json& recipient = own.contains("recipient") ? own["recipient"] : body["recipient"];
        const json& send = own.contains("send") ? own["send"] : body["send"];
        own["notification_id"] = notification_id_of(
            alert_id, recipient.get_ref<const std::string&>(), send.get<std::int64_t>());
      }
    }
    const std::string text = body.dump();
    const auto head = heads.find(key);
    const std::string prev = head == heads.end() ? chain_genesis(key) : head->second;
    const std::string hash = chain_hash(prev, rows.getColumn(1).getInt64(), key, at_ms, action,
                                        milestone ? &*milestone : nullptr, text);
    update.reset();
    update.bind(1, text);
    update.bind(2, prev);
    update.bind(3, hash);
    update.bind(4, rows.getColumn(0).getInt64());
    update.exec();
    heads[key] = hash;
  }
}

// The store's own migration 2 chains every row in one global chain (chain_hash_v1), as schemas
// 2 to 10 did.
inline void rechain_globally_for_test(SQLite::Database& db) {
  db.exec("ALTER TABLE timeline DROP COLUMN incident_seq");
  chain_existing_rows(db);
}

// Schema 15 took the copies of the notifications' timeline rows out of the outbox: put them back
// and drop the column that names the rows instead.
inline void inline_outbox_bodies_for_test(SQLite::Database& db) {
  whole_bodies_for_test(db);
  db.exec(
      "UPDATE outbox SET body = (SELECT t.body FROM timeline t WHERE t.seq = outbox.timeline_seq) "
      "WHERE timeline_seq IS NOT NULL; "
      "ALTER TABLE outbox DROP COLUMN timeline_seq");
}

}  // namespace incidentd::testing
