// The processed-id room: the ids of every event and confirmation the engine has acted on, in
// the processed table as one block per commit (encode_processed), and the writer's in-memory set
// over them (ProcessedIds), so is_processed() costs no query. Internal to daemon/store.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

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
// query, and the table is only appended to. The ids live in large blocks and are never removed
// (the contract has no deduplication window: docs/kafka.md, "Processed ids in memory"). The set
// over them is open-addressed with linear probing and each id's hash stored next to it (24-byte
// slots), so a lookup rarely touches an id's bytes unless the hashes agree.
//
// It grows without stopping the writer: when the table is 5/8 full a table twice the size is
// mapped (zero pages, faulted in as they are used) and each later add() moves the next 8 slots
// of the old table into it, so no add() costs more than a few slots, a page fault and, once the
// old table is emptied, the unmapping of 1 MiB of it. Until the move is done a lookup may look
// in both tables. rebuild() sizes the table ahead from the processed table's count.
class ProcessedIds {
 public:
  ProcessedIds() = default;
  ~ProcessedIds();
  ProcessedIds(const ProcessedIds&) = delete;
  ProcessedIds& operator=(const ProcessedIds&) = delete;

  // Reads every id of the table again. Throws StoreError on a damaged block.
  void rebuild(SQLite::Database& db, std::string_view operation, const std::string& path);
  // Reads only the blocks appended since the last rebuild() or catch_up() and the last block
  // this connection committed (block_committed): another connection's (the replica applier's),
  // without reading the whole table again. Throws StoreError on a damaged block.
  void catch_up(SQLite::Database& db, std::string_view operation, const std::string& path);
  // This connection committed the block `seq`, after every block catch_up() has read.
  void block_committed(std::int64_t seq) { last_block_ = std::max(last_block_, seq); }

  bool contains(std::string_view id) const;

  // False when the id was there already.
  bool add(std::string_view id);

  // Takes back ids added by a commit that failed (their bytes stay in the block, unused).
  void remove(std::string_view id);

  // Ids held (added and not removed).
  std::size_t size() const { return size_; }
  // True while a grown table is being filled from the old one (tests cross these steps).
  bool growing_for_test() const { return old_.slots != nullptr; }
  std::size_t capacity_for_test() const { return table_.mask + 1; }

 private:
  struct Slot {
    std::uint64_t hash;  // 0: empty; 1: removed; else the id's hash (kept >= 2)
    const char* data;
    std::size_t size;
  };
  // A power-of-two array of slots in an anonymous mapping: all zero (empty) until written, and
  // only the pages touched take memory.
  struct Table {
    Slot* slots = nullptr;
    std::size_t mask = 0;
    std::size_t used = 0;  // ids and removed marks
  };

  static std::uint64_t hash_of(std::string_view id);
  static Table map_table(std::size_t capacity);
  static void unmap(Slot* slots, std::size_t count);
  static Slot* find(const Table& t, std::uint64_t hash, std::string_view id);
  static void place(Table& t, const Slot& slot);
  void reset(std::size_t capacity);
  void grow();
  void move_some();
  void release_some();
  std::string_view keep_bytes(std::string_view id);
  void read_blocks_after(SQLite::Database& db, std::string_view operation, const std::string& path);

  static constexpr std::size_t kBlockSize = 1 << 20;
  static constexpr std::size_t kMinCapacity = 1 << 12;
  static constexpr std::size_t kMovedPerAdd = 8;
  static constexpr std::size_t kReleasedPerAdd = std::size_t{1} << 20;  // bytes

  Table table_;
  Table old_;                 // being emptied into table_ (slots null when not growing)
  std::size_t moved_ = 0;     // old_'s slots [0, moved_) are in table_
  Slot* retiring_ = nullptr;  // an old table's slots already moved, unmapped a piece per add()
  std::size_t retiring_bytes_ = 0;
  std::size_t size_ = 0;
  std::int64_t last_block_ = 0;  // the processed table's last block read or written (its seq)
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::span<char> free_;
};

}  // namespace incidentd
