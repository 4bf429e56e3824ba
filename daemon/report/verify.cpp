#include "report/verify.hpp"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

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

// The rows go from the thread that reads them (SQLite's decoding) to a thread that hashes them
// and walks the chain, in batches: the two halves of the work cost about the same, so on two
// cores `verify` takes half the time. The batches are recycled so their strings keep their
// buffers (no allocation per row).
class Handover {
 public:
  struct Batch {
    std::vector<TimelineRow> rows = std::vector<TimelineRow>(kRows);
    std::size_t size = 0;
  };
  static constexpr std::size_t kRows = 1024;

  Handover() {
    for (auto& b : batches_) free_.push_back(&b);
  }

  // Reader: an empty batch to fill; nullptr once the walk has stopped.
  Batch* take_empty() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return !free_.empty() || stopped_; });
    if (stopped_) return nullptr;
    Batch* b = free_.back();
    free_.pop_back();
    b->size = 0;
    return b;
  }
  void hand_over(Batch* b) {
    {
      const std::lock_guard lock(mutex_);
      full_.push_back(b);
    }
    changed_.notify_all();
  }
  // Reader: no more rows (also after a failure to read).
  void end() {
    {
      const std::lock_guard lock(mutex_);
      ended_ = true;
    }
    changed_.notify_all();
  }

  // Walker: the next batch in order; nullptr after end() once all were taken.
  Batch* take_full() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return next_ < full_.size() || ended_; });
    if (next_ == full_.size()) return nullptr;
    return full_[next_++];
  }
  void give_back(Batch* b) {
    {
      const std::lock_guard lock(mutex_);
      free_.push_back(b);
    }
    changed_.notify_all();
  }
  // Walker: found its answer (or failed); the reader stops at its next batch.
  void stop() {
    {
      const std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    changed_.notify_all();
  }

 private:
  Batch batches_[4];
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Batch*> free_;
  std::vector<Batch*> full_;  // in the order read; next_ is the first not yet walked
  std::size_t next_ = 0;
  bool ended_ = false;
  bool stopped_ = false;
};

}  // namespace

VerifyResult verify_chain(TimelineQueries& store) {
  VerifyResult result;
  ChainWalk walk(result);
  Handover handover;
  std::exception_ptr walk_failed;
  std::thread walker([&] {
    try {
      while (Handover::Batch* b = handover.take_full()) {
        bool going = true;
        for (std::size_t i = 0; going && i < b->size; ++i) going = walk.visit(b->rows[i]);
        handover.give_back(b);
        if (!going) break;
      }
    } catch (...) {
      walk_failed = std::current_exception();
    }
    handover.stop();
  });
  try {
    Handover::Batch* filling = nullptr;
    store.scan_timeline("", [&](const TimelineRow& row) {
      if (filling == nullptr && (filling = handover.take_empty()) == nullptr) return false;
      filling->rows[filling->size++] = row;  // assignment: the batch's strings keep their buffers
      if (filling->size == Handover::kRows) handover.hand_over(std::exchange(filling, nullptr));
      return true;
    });
    if (filling != nullptr) handover.hand_over(filling);
  } catch (...) {
    handover.end();
    walker.join();
    throw;
  }
  handover.end();
  walker.join();
  if (walk_failed) std::rethrow_exception(walk_failed);
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
