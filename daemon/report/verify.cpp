#include "report/verify.hpp"

#include <utility>

#include "store/chain_hash.hpp"

namespace incidentd::report {
namespace {

// How far a renumbering is looked for: a row found to hash under a seq this close to its own
// was moved by rows inserted or removed before it.
constexpr std::int64_t kRenumberWindow = 8;

// The seq a row was hashed under, if it is its own or one within the window.
std::optional<std::int64_t> hashed_seq(const TimelineRow& row) {
  if (chain_hash(row.prev_hash, row) == row.hash) return row.seq;
  TimelineRow moved = row;
  for (std::int64_t d = 1; d <= kRenumberWindow; ++d) {
    for (std::int64_t candidate : {row.seq + d, row.seq - d}) {
      if (candidate <= 0) continue;
      moved.seq = candidate;
      if (chain_hash(row.prev_hash, moved) == row.hash) return candidate;
    }
  }
  return std::nullopt;
}

std::string seq_range(std::int64_t first, std::int64_t last) {
  return first == last ? "seq " + std::to_string(first)
                       : "seqs " + std::to_string(first) + " to " + std::to_string(last);
}

// Walks the chain in seq order; visit() is false at the first problem, recorded in `result`.
class ChainWalk {
 public:
  explicit ChainWalk(VerifyResult& result) : result_(result) {}

  bool visit(const TimelineRow& row) {
    ++result_.rows;
    if (row.hash.empty() || row.prev_hash.empty()) {
      return fail(
          row.seq, "inserted",
          "seq " + std::to_string(row.seq) + " has no hash: it was not written by incidentd");
    }
    const bool links = row.prev_hash == prev_.hash;
    const auto hashed = hashed_seq(row);
    if (hashed && *hashed == row.seq && links) {
      if (row.seq != prev_.seq + 1) {
        // Consistent with its predecessor but numbered past a gap: only a forged hash does this.
        return fail(prev_.seq + 1, "removed",
                    seq_range(prev_.seq + 1, row.seq - 1) + " missing before seq " +
                        std::to_string(row.seq));
      }
      prev_prev_hash_ = std::exchange(prev_, ChainHead{row.seq, row.hash}).hash;
      return true;
    }
    return broken(row, hashed, links);
  }

  // The last row that chained.
  const ChainHead& last() const { return prev_; }

 private:
  bool fail(std::int64_t seq, std::string kind, std::string detail) {
    result_.intact = false;
    result_.seq = seq;
    result_.kind = std::move(kind);
    result_.detail = std::move(detail);
    return false;
  }

  // The row does not follow the chain as written: names what was done to the rows around it.
  bool broken(const TimelineRow& row, const std::optional<std::int64_t>& hashed, bool links) {
    const std::string at = "seq " + std::to_string(row.seq);
    const std::string before = "seq " + std::to_string(prev_.seq);
    if (hashed && *hashed == row.seq) {
      // The row is as written, but does not follow the row before it.
      if (row.seq > prev_.seq + 1) {
        return fail(
            prev_.seq + 1, "removed",
            seq_range(prev_.seq + 1, row.seq - 1) + " missing: " + at + " follows " + before);
      }
      if (prev_.seq > 0 && row.prev_hash == prev_prev_hash_) {
        return fail(prev_.seq, "inserted",
                    before + " was inserted: " + at + " still links to the row before it");
      }
      return fail(
          prev_.seq, "altered",
          before + " was altered and re-hashed: " + at + " names a different predecessor hash");
    }
    if (hashed) {
      const std::string as = " (" + at + " was hashed as seq " + std::to_string(*hashed) + ")";
      if (*hashed > row.seq) {
        return fail(row.seq, "removed",
                    "a row before " + at + " was removed and the rows after it renumbered" + as);
      }
      if (prev_.seq > 0 && row.prev_hash == prev_prev_hash_) {
        return fail(prev_.seq, "inserted",
                    before + " was inserted and the rows after it renumbered" + as);
      }
      return fail(row.seq, "inserted",
                  "a row was inserted before " + at + " and the rows after it renumbered" + as);
    }
    if (row.seq > prev_.seq + 1 && !links) {
      return fail(prev_.seq + 1, "removed",
                  seq_range(prev_.seq + 1, row.seq - 1) + " removed before " + at);
    }
    return fail(row.seq, "altered", at + " was altered: its content does not match its hash");
  }

  VerifyResult& result_;
  ChainHead prev_{0, std::string(kGenesisHash)};
  std::string prev_prev_hash_;  // the hash the row before prev_ carried
};

}  // namespace

VerifyResult verify_chain(TimelineQueries& store) {
  VerifyResult result;
  ChainWalk walk(result);
  store.scan_timeline("", [&walk](const TimelineRow& row) { return walk.visit(row); });
  const ChainHead& prev = walk.last();
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
