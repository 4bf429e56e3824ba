#include "store/processed_ids.hpp"

#include <chrono>
#include <cstdint>

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

void ProcessedIds::rebuild(SQLite::Database& db, std::string_view operation,
                           const std::string& path) {
  ids_.clear();
  blocks_.clear();
  free_ = {};
  const auto ids = db.execAndGet("SELECT COALESCE(SUM(ids), 0) FROM processed").getInt64();
  ids_.reserve(static_cast<std::size_t>(ids));
  SQLite::Statement all(db, "SELECT block FROM processed");
  while (all.executeStep()) {
    decode_processed(all.getColumn(0), operation, path, [this](std::string_view id) { add(id); });
  }
}

}  // namespace incidentd
