// The processed-id room: the ids of every event and confirmation the engine has acted on, in
// the processed table as one block per commit (encode_processed), and the writer's in-memory set
// over them (ProcessedIds), so is_processed() costs no query. Internal to daemon/store.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <tsl/robin_set.h>

#include "incidentd/store.hpp"

namespace incidentd {

// A block of the processed table, byte for byte: for each id in the order it was processed, the
// id, then its incident_key (each an unsigned LEB128 byte count and the bytes), then `at` in
// milliseconds since the epoch (LEB128 of its two's complement). Ids are kept exactly as they
// came, valid UTF-8 or not.
std::string encode_processed(const std::vector<ProcessedId>& processed);

// One block of the processed table (a row's `block`): visit is called for each id in the order
// it was processed. False when the block is cut short or overlong (incidentctl check-db).
bool decode_processed_block(
    std::string_view block,
    const std::function<void(std::string_view id, std::string_view incident_key, TimePoint at)>&
        visit);

// Calls visit(id) for each id in a stored block; a block cut short or overlong is a StoreError
// that names the operation reading it and the file (`path`).
void visit_processed_ids(const SQLite::Column& column, std::string_view operation,
                         const std::string& path,
                         const std::function<void(std::string_view)>& visit);

// Migration 6: the rows of schema version 5, one per id, packed into blocks of 100,000 in the
// same order.
void pack_processed_rows(SQLite::Database& db);

// Every id in the processed table, held by the writer: is_processed() is answered without a
// query, and the table is only appended to. The ids live in large blocks and are never removed;
// the set over them is open-addressed with each id's hash stored next to it (24-byte slots), so a
// lookup rarely touches more than one slot, and never an id's bytes unless the hashes agree.
class ProcessedIds {
 public:
  // Reads every id of the table again. Throws StoreError on a damaged block.
  void rebuild(SQLite::Database& db, std::string_view operation, const std::string& path);

  bool contains(std::string_view id) const { return ids_.contains(id); }

  // False when the id was there already.
  bool add(std::string_view id) {
    if (free_.size() < id.size()) {
      const std::size_t size = std::max(kBlockSize, id.size());
      blocks_.push_back(std::make_unique<char[]>(size));
      free_ = std::span<char>(blocks_.back().get(), size);
    }
    std::copy(id.begin(), id.end(), free_.begin());
    if (!ids_.insert(std::string_view(free_.data(), id.size())).second) return false;
    free_ = free_.subspan(id.size());
    return true;
  }

  // Takes back ids added by a commit that failed (their bytes stay in the block, unused).
  void remove(std::string_view id) { ids_.erase(id); }

 private:
  static constexpr std::size_t kBlockSize = 1 << 20;
  tsl::robin_set<std::string_view, std::hash<std::string_view>, std::equal_to<std::string_view>,
                 std::allocator<std::string_view>, true>
      ids_;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::span<char> free_;
};

}  // namespace incidentd
