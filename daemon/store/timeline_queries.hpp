// The read side of the store for reports, statistics, verification and check-db: the timeline
// rows as stored, the chain's head and its rewrites (the
// TimelineQueries port, incidentd/timeline_queries.hpp, less what other rooms answer). Each
// query runs in one read transaction; in WAL mode it never blocks the writer. Internal to
// daemon/store.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "incidentd/timeline_queries.hpp"

namespace incidentd {

class Database;

class TimelineReader {
 public:
  explicit TimelineReader(Database& database) : database_(database) {}

  void scan_timeline(const std::string& incident_key,
                     const std::function<bool(const TimelineRow&)>& visit, std::int64_t after_seq);
  std::optional<ChainHead> chain_head(const std::string& incident_key);
  std::string chain_heads_digest();
  std::vector<ChainRewrite> chain_rewrites();
  std::int64_t last_seq_issued();

 private:
  Database& database_;
};

}  // namespace incidentd
