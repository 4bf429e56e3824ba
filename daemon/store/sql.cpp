#include "store/sql.hpp"

#include <array>
#include <cstddef>

namespace incidentd::sql {
namespace {

template <typename E, E kLast>
const std::string& name_of(E value) {
  static const auto kNames = [] {
    std::array<std::string, static_cast<std::size_t>(kLast) + 1> all;
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = std::string(to_string(static_cast<E>(i)));
    return all;
  }();
  return kNames.at(static_cast<std::size_t>(value));
}

}  // namespace

const std::string& name(Level v) {
  return name_of<Level, Level::IV>(v);
}
const std::string& name(Milestone v) {
  return name_of<Milestone, Milestone::follow_up>(v);
}
const std::string& name(ActionKind v) {
  return name_of<ActionKind, ActionKind::daemon_outage>(v);  // the last kind
}

TimelineColumns timeline_columns(SQLite::Statement& s, int first) {
  TimelineColumns c;
  c.incident_key = s.getColumn(first).getString();
  c.at = instant_of(s.getColumn(first + 1).getInt64());
  c.action = s.getColumn(first + 2).getString();
  if (!s.getColumn(first + 3).isNull()) c.milestone = s.getColumn(first + 3).getString();
  return c;
}

}  // namespace incidentd::sql
