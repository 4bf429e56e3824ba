#include "store/processed_ids.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <new>

#include "store/sql.hpp"

namespace incidentd {
namespace {

void put_varint(std::string& out, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7U) out += static_cast<char>((v & 0x7fU) | 0x80U);
  out += static_cast<char>(v);
}

void put_bytes(std::string& out, std::string_view bytes) {
  put_varint(out, bytes.size());
  out.append(bytes);
}

// Calls visit(id, incident_key, at_ms) for each id in a block; false when the block is cut short
// or overlong (what was visited before stays visited).
template <typename Visit>
bool decode_block(std::span<const unsigned char> rest, Visit visit) {
  bool ok = true;
  const auto varint = [&rest, &ok]() {
    std::uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      if (rest.empty()) break;
      const unsigned char byte = rest.front();
      rest = rest.subspan(1);
      v |= static_cast<std::uint64_t>(byte & 0x7fU) << shift;
      if ((byte & 0x80U) == 0) return v;
    }
    ok = false;
    return std::uint64_t{0};
  };
  const auto bytes = [&]() {
    const std::uint64_t n = varint();
    if (!ok || n > rest.size()) {
      ok = false;
      return std::string_view();
    }
    const std::string_view out(reinterpret_cast<const char*>(rest.data()),
                               static_cast<std::size_t>(n));
    rest = rest.subspan(static_cast<std::size_t>(n));
    return out;
  };
  while (!rest.empty()) {
    const std::string_view id = bytes();
    const std::string_view key = ok ? bytes() : std::string_view();
    const std::uint64_t at = ok ? varint() : 0;
    if (!ok) return false;
    visit(id, key, static_cast<std::int64_t>(at));
  }
  return true;
}

// Calls visit(id) for each id in a block; a block cut short or overlong is a StoreError that
// names the operation reading it and the file (`path`).
template <typename Visit>
void decode_processed(const SQLite::Column& column, std::string_view operation,
                      const std::string& path, Visit visit) {
  const auto* data = static_cast<const unsigned char*>(column.getBlob());
  const std::span<const unsigned char> block(data, static_cast<std::size_t>(column.getBytes()));
  if (!decode_block(block,
                    [&visit](std::string_view id, std::string_view, std::int64_t) { visit(id); })) {
    throw StoreError(std::string(operation) + " (" + path +
                     "): the processed table holds a damaged block");
  }
}

}  // namespace

std::string encode_processed(const std::vector<ProcessedId>& processed) {
  std::string out;
  std::size_t size = 0;
  for (const auto& p : processed) size += p.id.size() + p.incident_key.size() + 12;
  out.reserve(size);
  for (const auto& p : processed) {
    put_bytes(out, p.id);
    put_bytes(out, p.incident_key);
    put_varint(out, static_cast<std::uint64_t>(sql::millis(p.at)));
  }
  return out;
}

void pack_processed_rows(SQLite::Database& db) {
  constexpr std::size_t kIdsPerBlock = 100'000;
  SQLite::Statement insert(db, "INSERT INTO processed_blocks(ids, block) VALUES (?, ?)");
  std::vector<ProcessedId> block;
  const auto flush = [&]() {
    if (block.empty()) return;
    const std::string bytes = encode_processed(block);
    insert.bind(1, static_cast<std::int64_t>(block.size()));
    insert.bindNoCopy(2, bytes.data(), static_cast<int>(bytes.size()));
    insert.exec();
    insert.reset();
    block.clear();
  };
  {
    SQLite::Statement rows(db, "SELECT id, incident_key, at FROM processed ORDER BY seq");
    while (rows.executeStep()) {
      const SQLite::Column id = rows.getColumn(0);
      block.push_back({std::string(static_cast<const char*>(id.getBlob()),
                                   static_cast<std::size_t>(id.getBytes())),
                       rows.getColumn(1).getString(),
                       TimePoint(std::chrono::milliseconds(rows.getColumn(2).getInt64()))});
      if (block.size() == kIdsPerBlock) flush();
    }
  }
  flush();
  db.exec("DROP TABLE processed; ALTER TABLE processed_blocks RENAME TO processed;");
}

bool decode_processed_block(
    std::string_view block,
    const std::function<void(std::string_view id, std::string_view incident_key, TimePoint at)>&
        visit) {
  const std::span<const unsigned char> bytes(reinterpret_cast<const unsigned char*>(block.data()),
                                             block.size());
  return decode_block(bytes, [&visit](std::string_view id, std::string_view key, std::int64_t at) {
    visit(id, key, sql::instant_of(at));
  });
}

void visit_processed_ids(const SQLite::Column& column, std::string_view operation,
                         const std::string& path,
                         const std::function<void(std::string_view)>& visit) {
  decode_processed(column, operation, path, visit);
}

ProcessedIds::~ProcessedIds() {
  unmap(table_.slots, table_.mask + 1);
  unmap(old_.slots, old_.mask + 1);
  if (retiring_ != nullptr) ::munmap(retiring_, retiring_bytes_);
}

void ProcessedIds::rebuild(SQLite::Database& db, std::string_view operation,
                           const std::string& path) {
  const auto ids = db.execAndGet("SELECT COALESCE(SUM(ids), 0) FROM processed").getInt64();
  // Twice the count: a quarter of the next 5/8 can be added before the first step.
  reset(std::bit_ceil(std::max(kMinCapacity, static_cast<std::size_t>(ids) * 2)));
  last_block_ = 0;
  read_blocks_after(db, operation, path);
}

void ProcessedIds::catch_up(SQLite::Database& db, std::string_view operation,
                            const std::string& path) {
  read_blocks_after(db, operation, path);
}

void ProcessedIds::read_blocks_after(SQLite::Database& db, std::string_view operation,
                                     const std::string& path) {
  SQLite::Statement blocks(db, "SELECT seq, block FROM processed WHERE seq > ? ORDER BY seq");
  blocks.bind(1, last_block_);
  while (blocks.executeStep()) {
    // An id already held (a block this connection wrote) stays as it is.
    decode_processed(blocks.getColumn(1), operation, path,
                     [this](std::string_view id) { (void)add(id); });
    last_block_ = blocks.getColumn(0).getInt64();
  }
}

std::uint64_t ProcessedIds::hash_of(std::string_view id) {
  const std::uint64_t h = std::hash<std::string_view>{}(id);
  return h < 2 ? h + 2 : h;
}

ProcessedIds::Table ProcessedIds::map_table(std::size_t capacity) {
  // mmap rather than calloc: glibc maps only large blocks and clears the others at once.
  void* p = ::mmap(nullptr, capacity * sizeof(Slot), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return {static_cast<Slot*>(p), capacity - 1, 0};
}

void ProcessedIds::unmap(Slot* slots, std::size_t count) {
  if (slots != nullptr) ::munmap(slots, count * sizeof(Slot));
}

ProcessedIds::Slot* ProcessedIds::find(const Table& t, std::uint64_t hash, std::string_view id) {
  if (t.slots == nullptr) return nullptr;
  for (std::size_t i = hash & t.mask;; i = (i + 1) & t.mask) {
    Slot& s = t.slots[i];
    if (s.hash == 0) return nullptr;
    if (s.hash == hash && std::string_view(s.data, s.size) == id) return &s;
  }
}

void ProcessedIds::place(Table& t, const Slot& slot) {
  std::size_t i = slot.hash & t.mask;
  while (t.slots[i].hash != 0) i = (i + 1) & t.mask;
  t.slots[i] = slot;
  ++t.used;
}

void ProcessedIds::reset(std::size_t capacity) {
  unmap(table_.slots, table_.mask + 1);
  unmap(old_.slots, old_.mask + 1);
  if (retiring_ != nullptr) ::munmap(retiring_, retiring_bytes_);
  table_ = map_table(capacity);
  old_ = {};
  moved_ = 0;
  retiring_ = nullptr;
  retiring_bytes_ = 0;
  size_ = 0;
  blocks_.clear();
  free_ = {};
}

bool ProcessedIds::contains(std::string_view id) const {
  const std::uint64_t h = hash_of(id);
  return find(table_, h, id) != nullptr || find(old_, h, id) != nullptr;
}

bool ProcessedIds::add(std::string_view id) {
  if (table_.slots == nullptr) reset(kMinCapacity);
  const std::uint64_t h = hash_of(id);
  if (find(table_, h, id) != nullptr || find(old_, h, id) != nullptr) return false;
  // 5/8 full: with 8 slots moved per add, the old table is empty before the new one (twice
  // its size) is 3/8 full, so two steps never overlap.
  if ((table_.used + 1) * 8 > (table_.mask + 1) * 5) grow();
  place(table_, {h, keep_bytes(id).data(), id.size()});
  ++size_;
  if (old_.slots != nullptr) {
    move_some();
  } else if (retiring_ != nullptr) {
    release_some();
  }
  return true;
}

void ProcessedIds::remove(std::string_view id) {
  const std::uint64_t h = hash_of(id);
  bool found = false;
  // Marked, not emptied: emptying a slot would cut the probe sequences that run through it.
  for (Table* t : {&table_, &old_}) {
    if (Slot* s = find(*t, h, id)) {
      s->hash = 1;
      found = true;
    }
  }
  if (found) --size_;
}

void ProcessedIds::grow() {
  while (old_.slots != nullptr) move_some();  // not reached: the steps do not overlap
  if (retiring_ != nullptr) {
    ::munmap(retiring_, retiring_bytes_);
    retiring_ = nullptr;
  }
  old_ = table_;
  table_ = map_table((old_.mask + 1) * 2);
  moved_ = 0;
}

// Removed marks are left behind, so a step also clears them.
void ProcessedIds::move_some() {
  const std::size_t end = std::min(moved_ + kMovedPerAdd, old_.mask + 1);
  for (; moved_ < end; ++moved_) {
    if (old_.slots[moved_].hash >= 2) place(table_, old_.slots[moved_]);
  }
  if (moved_ == old_.mask + 1) {
    // Unmapping hundreds of megabytes at once would be the stall this class avoids.
    retiring_ = old_.slots;
    retiring_bytes_ = (old_.mask + 1) * sizeof(Slot);
    old_ = {};
  }
}

void ProcessedIds::release_some() {
  const std::size_t n = std::min(retiring_bytes_, kReleasedPerAdd);
  // The table's size is a multiple of the page: so is every piece but the last.
  ::munmap(reinterpret_cast<char*>(retiring_) + retiring_bytes_ - n, n);
  retiring_bytes_ -= n;
  if (retiring_bytes_ == 0) retiring_ = nullptr;
}

std::string_view ProcessedIds::keep_bytes(std::string_view id) {
  if (free_.size() < id.size() || free_.data() == nullptr) {
    const std::size_t size = std::max(kBlockSize, id.size());
    blocks_.push_back(std::make_unique_for_overwrite<char[]>(size));
    free_ = std::span<char>(blocks_.back().get(), size);
  }
  std::copy(id.begin(), id.end(), free_.begin());
  const std::string_view kept(free_.data(), id.size());
  free_ = free_.subspan(id.size());
  return kept;
}

}  // namespace incidentd
