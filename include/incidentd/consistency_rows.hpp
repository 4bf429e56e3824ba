// The rows `incidentctl check-db` compares, as stored: the timeline entries that decide an
// incident's state, the stored incidents, the outbox and deadlines whose incident is missing or
// closed, and the blocks of processed ids. The scans are meant to run inside in_snapshot(), so
// that every check sees one state of the file. Never writes. Implementations throw StoreError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "incidentd/timeline_rows.hpp"

namespace incidentd {

// One timeline entry of incident_opened, level_changed, incident_closed or milestone_met.
struct LifecycleEntry {
  std::int64_t seq = 0;
  TimelineColumns columns;  // what the body leaves out (incidentd/timeline_rows.hpp)
  std::string body;         // the action as JSON
};

// An incident's row: its columns and its stored state (JSON), undecoded.
struct StoredIncident {
  std::string incident_key;
  std::string level;
  bool closed = false;
  std::string state;
};

// An outbox row whose incident is not in the database.
struct OrphanNotification {
  std::string notification_id;
  std::string incident_key;
};

// An outbox row whose body is a timeline row (timeline_seq, schema 15) that is not a notification
// of its incident: the dispatcher could not say what to send.
struct UnlinkedNotification {
  std::string notification_id;
  std::string incident_key;
  std::int64_t timeline_seq = 0;
};

// A pending deadline of an incident that is closed or not in the database.
struct StaleDeadline {
  std::string incident_key;
  std::string milestone;
  std::string action;
  bool incident_missing = false;  // else closed
};

// One block of processed ids, decoded as far as it goes.
struct ProcessedBlock {
  std::int64_t seq = 0;
  std::int64_t declared = 0;          // how many ids its row says it holds
  std::vector<std::string_view> ids;  // in order; valid during the visit only
  bool whole = true;                  // false: cut short or overlong
};

class ConsistencyRows {
 public:
  virtual ~ConsistencyRows() = default;
  // Runs `read` in one read transaction: the scans it calls see one state of the file.
  virtual void in_snapshot(const std::function<void()>& read) = 0;
  // In seq order.
  virtual void scan_lifecycle_entries(const std::function<void(const LifecycleEntry&)>& visit) = 0;
  virtual void scan_incidents(const std::function<void(const StoredIncident&)>& visit) = 0;
  virtual bool has_incident(const std::string& incident_key) = 0;
  virtual std::size_t count_outbox() = 0;
  virtual void scan_orphan_notifications(
      const std::function<void(const OrphanNotification&)>& visit) = 0;
  virtual void scan_unlinked_notifications(
      const std::function<void(const UnlinkedNotification&)>& visit) = 0;
  virtual std::size_t count_deadlines() = 0;
  virtual void scan_stale_deadlines(const std::function<void(const StaleDeadline&)>& visit) = 0;
  // In seq order.
  virtual void scan_processed_blocks(const std::function<void(const ProcessedBlock&)>& visit) = 0;
};

}  // namespace incidentd
