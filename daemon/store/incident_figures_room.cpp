#include "store/incident_figures_room.hpp"

#include <cstdint>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "incidentd/codec.hpp"
#include "incidentd/timeline_rows.hpp"
#include "store/database.hpp"
#include "store/sql.hpp"

namespace incidentd {
namespace {

using nlohmann::json;
using sql::Use;

const std::string& no_units() {
  static const std::string kNone = encode_string_list({});
  return kNone;
}

// The snapshot's columns: 1 key, 2 clock_start, 3 level, 4 drill, 5 closed, 6 lead_unit,
// 7 region, 8 units (9 figures, bound by the caller).
void bind_columns(Use& s, const IncidentState& st, const std::string& units) {
  s.text(1, st.key);
  s.instant(2, st.clock_start);
  s.text(3, sql::name(st.level));
  s.integer(4, st.drill ? 1 : 0);
  s.integer(5, st.closed ? 1 : 0);
  s.text(6, st.lead_unit);
  s.text(7, st.region);
  s.text(8, units);
}

// FNV-1a over the columns bind_columns writes.
std::uint64_t fingerprint(const IncidentState& st) {
  std::uint64_t hash = 14695981039346656037ULL;
  const auto bytes = [&hash](std::string_view s) {
    for (const char c : s) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ULL;
    }
    hash ^= 0xffU;  // a separator no UTF-8 text holds
    hash *= 1099511628211ULL;
  };
  bytes(std::to_string(st.clock_start ? sql::millis(*st.clock_start) : -1));
  bytes(sql::name(st.level));
  bytes(st.drill ? "1" : "0");
  bytes(st.closed ? "1" : "0");
  bytes(st.lead_unit);
  bytes(st.region);
  for (const auto& unit : st.units) bytes(unit);
  return hash;
}

std::vector<std::string> units_of(const std::string& json_array) {
  std::vector<std::string> units;
  const json parsed = json::parse(json_array, nullptr, false);
  if (parsed.is_array()) {
    for (const auto& u : parsed) {
      if (u.is_string()) units.push_back(u.get<std::string>());
    }
  }
  return units;
}

// Migration 11, first half: the columns of every snapshot as it stands.
void fill_columns(SQLite::Database& db) {
  SQLite::Statement rows(db,
                         "SELECT incident_key, clock_start, level, drill, closed, lead_unit, "
                         "COALESCE(json_extract(state, '$.region'), ''), "
                         "COALESCE(json_extract(state, '$.units'), '[]') FROM incidents");
  SQLite::Statement insert(db,
                           "INSERT INTO incident_figures(incident_key, clock_start, level, drill, "
                           "closed, lead_unit, region, units, figures) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const std::string empty = IncidentFigures{}.encode();
  while (rows.executeStep()) {
    insert.reset();
    insert.bind(1, rows.getColumn(0).getString());
    if (rows.getColumn(1).isNull()) {
      insert.bind(2);
    } else {
      insert.bind(2, rows.getColumn(1).getInt64());
    }
    insert.bind(3, rows.getColumn(2).getString());
    insert.bind(4, rows.getColumn(3).getInt());
    insert.bind(5, rows.getColumn(4).getInt());
    insert.bind(6, rows.getColumn(5).getString());
    insert.bind(7, rows.getColumn(6).getString());
    insert.bind(8, encode_string_list(units_of(rows.getColumn(7).getString())));
    insert.bind(9, empty);
    insert.exec();
  }
}

// The kinds whose content IncidentFigures::apply reads; of any other row it reads the instant
// alone, which the row's own column gives without decoding its body.
bool read_in_full(std::string_view action) {
  return action == "notification" || action == "incident_opened" || action == "level_changed" ||
         action == "milestone_met" || action == "deadline_breached" || action == "acknowledged";
}

}  // namespace

// Migration 11, second half: each incident's rows in order through IncidentFigures::apply, as a
// commit would have. A row that does not decode is passed over (stats used to refuse the whole
// period for it; a migration that refused would keep the daemon from starting at all).
void fill_incident_figures(SQLite::Database& db) {
  fill_columns(db);
  SQLite::Statement rows(
      db,
      "SELECT incident_key, at, action, milestone, body FROM timeline ORDER BY incident_key, seq");
  SQLite::Statement write(db,
                          "INSERT INTO incident_figures(incident_key, level, drill, closed, "
                          "lead_unit, region, units, figures) VALUES (?, '', 0, 0, '', '', ?, ?) "
                          "ON CONFLICT(incident_key) DO UPDATE SET figures = excluded.figures");
  std::string current;
  IncidentFigures figures;
  const auto flush = [&] {
    if (current.empty()) return;
    write.reset();
    write.bind(1, current);
    write.bind(2, no_units());
    write.bind(3, figures.encode());
    write.exec();
  };
  Action other;
  other.kind = ActionKind::warning;  // any kind apply() reads nothing of but the instant
  while (rows.executeStep()) {
    const char* key = rows.getColumn(0).getText();
    if (current != key) {
      flush();
      current = key;
      figures = IncidentFigures{};
    }
    if (!read_in_full(rows.getColumn(2).getText())) {
      other.at = sql::instant_of(rows.getColumn(1).getInt64());
      figures.apply(other);
      continue;
    }
    auto parsed = timeline_actions(json::parse(rows.getColumn(4).getText(), nullptr, false),
                                   sql::timeline_columns(rows, 0));
    if (!parsed) continue;
    for (const Action& a : *parsed.value) figures.apply(a);
  }
  flush();
}

IncidentFiguresRoom::IncidentFiguresRoom(Database& database)
    : database_(database),
      select_(database.db(), "SELECT figures FROM incident_figures WHERE incident_key = ?"),
      upsert_all_(database.db(),
                  "INSERT OR ROLLBACK INTO incident_figures(incident_key, clock_start, level, "
                  "drill, closed, lead_unit, region, units, figures) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                  "ON CONFLICT(incident_key) DO UPDATE SET clock_start = excluded.clock_start, "
                  "level = excluded.level, drill = excluded.drill, closed = excluded.closed, "
                  "lead_unit = excluded.lead_unit, region = excluded.region, "
                  "units = excluded.units, figures = excluded.figures"),
      upsert_columns_(database.db(),
                      "INSERT OR ROLLBACK INTO incident_figures(incident_key, clock_start, level, "
                      "drill, closed, lead_unit, region, units, figures) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                      "ON CONFLICT(incident_key) DO UPDATE SET clock_start = "
                      "excluded.clock_start, level = excluded.level, drill = excluded.drill, "
                      "closed = excluded.closed, lead_unit = excluded.lead_unit, "
                      "region = excluded.region, units = excluded.units"),
      upsert_figures_(database.db(),
                      "INSERT OR ROLLBACK INTO incident_figures(incident_key, level, drill, "
                      "closed, lead_unit, region, units, figures) "
                      "VALUES (?1, '', 0, 0, '', '', ?2, ?3) "
                      "ON CONFLICT(incident_key) DO UPDATE SET figures = excluded.figures") {}

IncidentFiguresRoom::Touched& IncidentFiguresRoom::load(const std::string& key) {
  Touched& t = touched_[key];
  if (t.loaded) return t;
  t.loaded = true;
  Use s(select_);
  s.text(1, key);
  if (!s->executeStep()) return t;  // a new incident: no rows yet
  t.stored = s->getColumn(0).getString();
  auto decoded = IncidentFigures::decode(t.stored);
  if (!decoded) {
    throw StoreError("commit (" + database_.path() + "): the statistics' figures of incident '" +
                     key + "' are unreadable");
  }
  t.figures = std::move(*decoded);
  return t;
}

void IncidentFiguresRoom::write(const Changeset& c) {
  touched_.clear();
  staged_.clear();
  for (const Action& a : c.actions) load(a.incident_key).figures.apply(a);
  for (const IncidentState& st : c.incidents) touched_[st.key].state = &st;
  for (auto& [key, t] : touched_) write_one(key, t);
  touched_.clear();
}

void IncidentFiguresRoom::write_one(const std::string& key, Touched& t) {
  // Not loaded: no action of this incident in the commit, its figures stay as they are (a new
  // incident without a row yet starts with none).
  const std::string figures = t.loaded ? t.figures.encode() : IncidentFigures{}.encode();
  const bool changed = t.loaded && figures != t.stored;
  std::uint64_t columns = 0;
  if (t.state != nullptr) {
    columns = fingerprint(*t.state);
    const auto written = written_.find(key);
    if (written != written_.end() && written->second == columns) t.state = nullptr;
  }
  if (t.state != nullptr) {
    staged_.emplace_back(key, columns);
    const std::string units = encode_string_list(t.state->units);
    Use s(changed ? upsert_all_ : upsert_columns_);
    bind_columns(s, *t.state, units);
    s.text(9, figures);
    s->exec();
  } else if (changed) {
    Use s(upsert_figures_);
    s.text(1, key);
    s.text(2, no_units());
    s.text(3, figures);
    s->exec();
  }
}

void IncidentFiguresRoom::committed() {
  if (written_.size() + staged_.size() > kMaxWritten) written_.clear();
  for (auto& [key, columns] : staged_) written_[std::move(key)] = columns;
  staged_.clear();
}

std::vector<IncidentRow> IncidentFiguresRoom::incidents_with_clock(TimePoint from, TimePoint to) {
  return guarded(database_, "incidents_with_clock", [&] {
    std::vector<IncidentRow> out;
    SQLite::Statement s(database_.db(),
                        "SELECT incident_key, level, drill, closed, clock_start, lead_unit, "
                        "region, units, figures FROM incident_figures "
                        "WHERE clock_start >= ? AND clock_start < ? "
                        "ORDER BY clock_start, incident_key");
    s.bind(1, static_cast<std::int64_t>(sql::millis(from)));
    s.bind(2, static_cast<std::int64_t>(sql::millis(to)));
    while (s.executeStep()) {
      IncidentRow row;
      row.key = s.getColumn(0).getString();
      row.level = s.getColumn(1).getString();
      row.drill = s.getColumn(2).getInt() != 0;
      row.closed = s.getColumn(3).getInt() != 0;
      row.clock_start = sql::instant_of(s.getColumn(4).getInt64());
      row.lead_unit = s.getColumn(5).getString();
      row.region = s.getColumn(6).getString();
      auto units = decode_string_list(s.getColumn(7).getString());
      auto figures = IncidentFigures::decode(s.getColumn(8).getString());
      if (!units || !figures) {
        throw StoreError("incidents_with_clock (" + database_.path() +
                         "): the statistics' row of incident '" + row.key + "' is unreadable");
      }
      row.units = std::move(*units);
      row.figures = std::move(*figures);
      out.push_back(std::move(row));
    }
    return out;
  });
}

}  // namespace incidentd
