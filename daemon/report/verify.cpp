#include "report/verify.hpp"

#include <utility>

namespace incidentd::report {
namespace {

// How far a renumbering is looked for: a row found to hash under a seq this close to its own
// was moved by rows inserted or removed before it.
constexpr std::int64_t kRenumberWindow = 8;

// The seq a row was hashed under, if it is its own or one within the window.
std::optional<std::int64_t> hashed_seq(const TimelineRow& row) {
  if (SqliteStore::chain_hash(row.prev_hash, row) == row.hash) return row.seq;
  TimelineRow moved = row;
  for (std::int64_t d = 1; d <= kRenumberWindow; ++d) {
    for (std::int64_t candidate : {row.seq + d, row.seq - d}) {
      if (candidate <= 0) continue;
      moved.seq = candidate;
      if (SqliteStore::chain_hash(row.prev_hash, moved) == row.hash) return candidate;
    }
  }
  return std::nullopt;
}

std::string seq_range(std::int64_t first, std::int64_t last) {
  return first == last ? "seq " + std::to_string(first)
                       : "seqs " + std::to_string(first) + " to " + std::to_string(last);
}

}  // namespace

VerifyResult verify_chain(SqliteStore& store) {
  VerifyResult result;
  ChainHead prev{0, std::string(SqliteStore::kGenesisHash)};
  std::string prev_prev_hash;  // the hash the row before `prev` carried
  const auto fail = [&result](std::int64_t seq, std::string kind, std::string detail) {
    result.intact = false;
    result.seq = seq;
    result.kind = std::move(kind);
    result.detail = std::move(detail);
    return false;
  };

  store.scan_timeline("", [&](const TimelineRow& row) {
    ++result.rows;
    const std::string at = "seq " + std::to_string(row.seq);
    if (row.hash.empty() || row.prev_hash.empty()) {
      return fail(row.seq, "inserted", at + " has no hash: it was not written by incidentd");
    }
    const bool links = row.prev_hash == prev.hash;
    const auto hashed = hashed_seq(row);
    if (hashed && *hashed == row.seq && links) {
      if (row.seq != prev.seq + 1) {
        // Consistent with its predecessor but numbered past a gap: only a forged hash does this.
        return fail(prev.seq + 1, "removed",
                    seq_range(prev.seq + 1, row.seq - 1) + " missing before " + at);
      }
      prev_prev_hash = std::exchange(prev, ChainHead{row.seq, row.hash}).hash;
      return true;
    }
    if (hashed && *hashed == row.seq) {
      // The row is as written, but does not follow the row before it.
      if (row.seq > prev.seq + 1) {
        return fail(prev.seq + 1, "removed",
                    seq_range(prev.seq + 1, row.seq - 1) + " missing: " + at + " follows seq " +
                        std::to_string(prev.seq));
      }
      if (prev.seq > 0 && row.prev_hash == prev_prev_hash) {
        return fail(prev.seq, "inserted",
                    "seq " + std::to_string(prev.seq) + " was inserted: " + at +
                        " still links to the row before it");
      }
      return fail(prev.seq, "altered",
                  "seq " + std::to_string(prev.seq) + " was altered and re-hashed: " + at +
                      " names a different predecessor hash");
    }
    if (hashed && *hashed > row.seq) {
      return fail(row.seq, "removed",
                  "a row before " + at + " was removed and the rows after it renumbered (" + at +
                      " was hashed as seq " + std::to_string(*hashed) + ")");
    }
    if (hashed) {
      if (prev.seq > 0 && row.prev_hash == prev_prev_hash) {
        return fail(prev.seq, "inserted",
                    "seq " + std::to_string(prev.seq) +
                        " was inserted and the rows after it "
                        "renumbered (" +
                        at + " was hashed as seq " + std::to_string(*hashed) + ")");
      }
      return fail(row.seq, "inserted",
                  "a row was inserted before " + at + " and the rows after it renumbered (" + at +
                      " was hashed as seq " + std::to_string(*hashed) + ")");
    }
    if (row.seq > prev.seq + 1 && !links) {
      return fail(prev.seq + 1, "removed",
                  seq_range(prev.seq + 1, row.seq - 1) + " removed before " + at);
    }
    return fail(row.seq, "altered", at + " was altered: its content does not match its hash");
  });
  if (result.intact && result.rows > 0) result.head = prev;
  result.rewrites = store.chain_rewrites();
  // Rows cut from the end leave the number SQLite handed out above the last row.
  if (result.intact) {
    const std::int64_t issued = store.last_seq_issued();
    if (issued > prev.seq) {
      result.intact = false;
      result.seq = prev.seq + 1;
      result.kind = "removed";
      result.detail = seq_range(prev.seq + 1, issued) + " removed from the end of the timeline";
      result.head.reset();
    }
  }
  return result;
}

}  // namespace incidentd::report
