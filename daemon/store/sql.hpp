// What every room of the store uses to talk to SQLite: instants as milliseconds, the contract's
// names as strings that outlive a bind, JSON text that survives invalid UTF-8, and Use, which
// keeps a prepared statement from holding a read snapshot open. Internal to daemon/store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include <nlohmann/json.hpp>

#include "incidentd/domain.hpp"
#include "incidentd/time.hpp"
#include "incidentd/timeline_rows.hpp"

namespace incidentd::sql {

inline std::int64_t millis(TimePoint t) {
  return t.time_since_epoch().count();
}

inline TimePoint instant_of(std::int64_t ms) {
  return TimePoint(Duration(ms));
}

// Text from the outside world may carry invalid UTF-8; storing it with U+FFFD beats a commit
// that fails on every retry and stalls the partition.
inline std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The contract names as NUL-terminated strings that live for the whole program, so they can be
// bound without a copy.
const std::string& name(Level v);
const std::string& name(Milestone v);
const std::string& name(ActionKind v);

// A timeline row's columns, from the statement's result columns `first` to `first` + 3:
// incident_key, at, action, milestone (what a row's body leaves out: timeline_rows.hpp).
TimelineColumns timeline_columns(SQLite::Statement& s, int first);

// Resets the statement before use (a failed step leaves it unreset) and after, so that no read
// statement keeps a snapshot open and holds back WAL checkpoints. Text is bound without a copy
// (bindNoCopy), so every bound string must outlive the Use.
class Use {
 public:
  explicit Use(SQLite::Statement& s) : s_(s) { s_.tryReset(); }
  ~Use() { s_.tryReset(); }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  SQLite::Statement* operator->() { return &s_; }
  SQLite::Statement& operator*() { return s_; }

  void text(int index, const std::string& value) { s_.bindNoCopy(index, value); }
  void text(int index, std::string&& value) = delete;  // it would dangle before the step
  void integer(int index, std::int64_t value) { s_.bind(index, value); }
  void instant(int index, TimePoint t) { s_.bind(index, static_cast<std::int64_t>(millis(t))); }
  void instant(int index, const std::optional<TimePoint>& t) {
    if (t) {
      instant(index, *t);
    } else {
      s_.bind(index);
    }
  }

 private:
  SQLite::Statement& s_;
};

}  // namespace incidentd::sql
