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

}  // namespace incidentd::sql
