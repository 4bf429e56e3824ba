#include "store/ack_links.hpp"

#include "store/database.hpp"
#include "store/sql.hpp"

namespace incidentd {

bool AckLinkRoom::record_used_link(const std::string& link_id, const std::string& incident_key,
                                   TimePoint at) {
  return guarded(database_, "record_used_link", [&] {
    SQLite::Statement s(database_.db(),
                        "INSERT OR IGNORE INTO used_links(link_id, incident_key, used_at) "
                        "VALUES (?, ?, ?)");
    s.bind(1, link_id);
    s.bind(2, incident_key);
    s.bind(3, static_cast<std::int64_t>(sql::millis(at)));
    return s.exec() == 1;
  });
}

bool AckLinkRoom::is_link_used(const std::string& link_id) {
  return guarded(database_, "is_link_used", [&] {
    SQLite::Statement s(database_.db(), "SELECT 1 FROM used_links WHERE link_id = ?");
    s.bind(1, link_id);
    return s.executeStep();
  });
}

}  // namespace incidentd
