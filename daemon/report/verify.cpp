#include "report/verify.hpp"

#include <algorithm>
#include <exception>
#include <limits>
#include <set>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "store/chain_hash.hpp"

namespace incidentd::report {
namespace {

constexpr std::size_t kNoBreak = std::numeric_limits<std::size_t>::max();

// What a row says about itself; the views live as long as the row being visited.
struct RowFacts {
  std::int64_t seq = 0;
  std::int64_t incident_seq = 0;
  std::string_view prev_hash;
  std::string_view hash;
  bool hashed = false;   // it carries a hash and a prev_hash
  bool self_ok = false;  // its hash is the hash of its content after its prev_hash
};

RowFacts facts_of(const TimelineRow& row) {
  RowFacts f;
  f.seq = row.seq;
  f.incident_seq = row.incident_seq;
  f.prev_hash = row.prev_hash;
  f.hash = row.hash;
  f.hashed = !row.hash.empty() && !row.prev_hash.empty();
  f.self_ok = f.hashed && chain_hash_matches(row.prev_hash, row, row.hash);
  return f;
}

// The row an incident's chain has reached.
struct Link {
  std::int64_t seq = 0;  // 0: none yet (hash is the incident's genesis)
  std::int64_t incident_seq = 0;
  std::string hash;
  std::string hash_before;  // the prev_hash that row carried
};

void follow(Link& link, const RowFacts& f) {
  link.seq = f.seq;
  link.incident_seq = f.incident_seq;
  link.hash.assign(f.hash);
  link.hash_before.assign(f.prev_hash);
}

std::string place(std::int64_t seq, std::int64_t incident_seq, const std::string& key) {
  std::string out = "seq " + std::to_string(seq) + " (entry ";
  out.append(std::to_string(incident_seq)).append(" of incident \"").append(key).append("\")");
  return out;
}

std::string entries(std::int64_t first, std::int64_t last) {
  return first == last ? "entry " + std::to_string(first)
                       : "entries " + std::to_string(first) + " to " + std::to_string(last);
}

std::string seqs(std::int64_t first, std::int64_t last) {
  return first == last ? "seq " + std::to_string(first)
                       : "seqs " + std::to_string(first) + " to " + std::to_string(last);
}

ChainBreak make_break(std::int64_t seq, const std::string& key, std::int64_t incident_seq,
                      std::string kind, std::string detail) {
  ChainBreak b;
  b.seq = seq;
  b.incident_key = key;
  b.incident_seq = incident_seq;
  b.kind = std::move(kind);
  b.detail = std::move(detail);
  return b;
}

// A self-consistent row that does not follow `prev` in its chain: what was done around it.
ChainBreak unlinked(const std::string& key, const RowFacts& r, const Link& prev) {
  const std::string at = place(r.seq, r.incident_seq, key);
  const std::string before =
      prev.seq == 0 ? "the start of its chain" : place(prev.seq, prev.incident_seq, key);
  const std::int64_t next = prev.incident_seq + 1;
  if (r.prev_hash == prev.hash) {  // linked, but numbered otherwise: only a forged hash does this
    return make_break(r.seq, key, r.incident_seq, "altered",
                      at + " is numbered out of turn after " + before);
  }
  if (r.incident_seq > next) {
    return make_break(r.seq, key, next, "removed",
                      entries(next, r.incident_seq - 1) + " of incident \"" + key +
                          "\" missing: " + at + " follows " + before);
  }
  if (r.incident_seq == next && prev.seq == 0) {
    return make_break(r.seq, key, r.incident_seq, "altered",
                      at + " does not chain from its incident's genesis hash: it was moved from "
                           "another incident, or the rows before it replaced");
  }
  if (r.incident_seq == next) {
    return make_break(
        prev.seq, key, prev.incident_seq, "altered",
        before + " was altered and re-hashed: " + at + " names a different predecessor hash");
  }
  if (r.incident_seq == prev.incident_seq && prev.seq != 0 && r.prev_hash == prev.hash_before) {
    return make_break(prev.seq, key, prev.incident_seq, "inserted",
                      before + " was inserted: " + at + " still links to the row before it");
  }
  return make_break(r.seq, key, r.incident_seq, "reordered",
                    at + " comes after " + before + ": the incident's rows are out of order");
}

// Why the row does not continue its chain after `prev`, if it does not.
std::optional<ChainBreak> check_link(const std::string& key, const RowFacts& r, const Link& prev) {
  if (!r.hashed) {
    return make_break(
        r.seq, key, r.incident_seq, "inserted",
        "seq " + std::to_string(r.seq) + " has no hash: it was not written by incidentd");
  }
  if (!r.self_ok) {
    return make_break(
        r.seq, key, r.incident_seq, "altered",
        place(r.seq, r.incident_seq, key) + " was altered: its content does not match its hash");
  }
  if (r.prev_hash == prev.hash && r.incident_seq == prev.incident_seq + 1) return std::nullopt;
  return unlinked(key, r, prev);
}

// Walks the rows of one range of seqs, in seq order: each incident's chain within the range, and
// (unless it walks one incident alone) the file's numbering. The first range starts every chain
// at its genesis; a later range keeps each chain's first row aside (its opening), to be linked to
// the end of the range before it.
class RangeWalk {
 public:
  struct Opening {
    std::int64_t seq = 0;
    std::int64_t incident_seq = 0;
    std::string prev_hash;
    std::string hash;
    bool hashed = false;
    bool self_ok = false;
  };
  struct Chain {
    Link link;
    std::optional<Opening> opening;
    std::int64_t missing = 0;  // an entry found missing: if it turns up later, rows were reordered
    std::size_t missing_break = kNoBreak;
    // The link before a row whose content did not match its hash: the next row may follow that
    // row (only its content was changed) or the one before it (the row came from elsewhere).
    std::optional<Link> before_altered;
  };
  enum class Range { first, later, one_incident };

  RangeWalk(Range range, std::int64_t last_seq) : range_(range), last_seq_(last_seq) {}

  bool visit(const TimelineRow& row) {
    if (row.seq > last_seq_) return false;
    ++rows_;
    if (range_ != Range::one_incident && (range_ == Range::first || last_seen_ != 0) &&
        row.seq != last_seen_ + 1) {
      add(make_break(last_seen_ + 1, "", 0, "removed",
                     seqs(last_seen_ + 1, row.seq - 1) + " missing: seq " +
                         std::to_string(row.seq) + " follows seq " + std::to_string(last_seen_)));
    }
    if (first_seen_ == 0) first_seen_ = row.seq;
    last_seen_ = row.seq;
    last_hash_.assign(row.hash);
    const RowFacts f = facts_of(row);
    auto [at, fresh] = chains_.try_emplace(row.incident_key);
    Chain& c = at->second;
    if (fresh && range_ == Range::later) {
      c.opening = Opening{f.seq,    f.incident_seq, std::string(f.prev_hash), std::string(f.hash),
                          f.hashed, f.self_ok};
      follow(c.link, f);
      return true;
    }
    if (fresh) c.link.hash = chain_genesis(row.incident_key);
    step(row.incident_key, c, f);
    return true;
  }

  void add(ChainBreak b) {
    ++found_;
    if (breaks_.size() < kMaxBreaks) breaks_.push_back(std::move(b));
  }

  // Breaks counted beyond the ones kept.
  void also_found(std::size_t n) { found_ += n; }
  // Forgets the breaks of these incidents (they are walked again).
  void drop_breaks_of(const std::set<std::string>& keys) {
    const auto dropped =
        std::erase_if(breaks_, [&](const ChainBreak& b) { return keys.count(b.incident_key) > 0; });
    found_ -= dropped;
  }

  std::unordered_map<std::string, Chain>& chains() { return chains_; }
  std::vector<ChainBreak>& breaks() { return breaks_; }
  std::size_t found() const { return found_; }
  std::size_t rows() const { return rows_; }
  std::int64_t first_seen() const { return first_seen_; }
  std::int64_t last_seen() const { return last_seen_; }
  const std::string& last_hash() const { return last_hash_; }
  // The rows of the range after this one are counted, and its end is the end.
  void extend_by(const RangeWalk& later) {
    rows_ += later.rows_;
    if (later.last_seen_ == 0) return;
    last_seen_ = later.last_seen_;
    last_hash_ = later.last_hash_;
  }

 private:
  void step(const std::string& key, Chain& c, const RowFacts& f) {
    if (c.before_altered) {
      const Link before = *std::exchange(c.before_altered, std::nullopt);
      if (f.self_ok && f.prev_hash == before.hash && f.incident_seq == before.incident_seq + 1) {
        follow(c.link, f);  // the altered row was not this chain's: the chain goes on past it
        return;
      }
    }
    if (c.missing != 0 && f.self_ok && f.incident_seq == c.missing) {
      // The entry named missing comes after the rows that followed it: a reorder, not a removal.
      if (c.missing_break != kNoBreak) {
        ChainBreak& b = breaks_[c.missing_break];
        b.kind = "reordered";
        b.detail = place(f.seq, f.incident_seq, key) + " comes after seq " + std::to_string(b.seq) +
                   ", a later entry: the incident's rows are out of order";
      }
      c.missing = 0;
      return;
    }
    if (auto b = check_link(key, f, c.link)) {
      if (b->kind == "removed") {
        c.missing = c.link.incident_seq + 1;
        c.missing_break = breaks_.size() < kMaxBreaks ? breaks_.size() : kNoBreak;
      }
      if (f.hashed && !f.self_ok) c.before_altered = c.link;
      add(std::move(*b));
      // A row numbered before the chain's furthest row leaves the chain where it was.
      if (f.incident_seq < c.link.incident_seq) return;
    }
    follow(c.link, f);
  }

  Range range_;
  std::int64_t last_seq_;
  std::unordered_map<std::string, Chain> chains_;
  std::vector<ChainBreak> breaks_;
  std::size_t found_ = 0;
  std::size_t rows_ = 0;
  std::int64_t first_seen_ = 0;
  std::int64_t last_seen_ = 0;
  std::string last_hash_;
};

// Links the second range's chains to where the first left them, and the file's numbering across
// the two; the first range then holds every chain's end and every break.
void join(RangeWalk& first, RangeWalk& second) {
  for (ChainBreak& b : second.breaks()) first.add(std::move(b));
  first.also_found(second.found() - second.breaks().size());
  if (second.first_seen() != 0 && second.first_seen() != first.last_seen() + 1) {
    first.add(make_break(first.last_seen() + 1, "", 0, "removed",
                         seqs(first.last_seen() + 1, second.first_seen() - 1) + " missing: seq " +
                             std::to_string(second.first_seen()) + " follows seq " +
                             std::to_string(first.last_seen())));
  }
  for (auto& [key, later] : second.chains()) {
    auto [at, fresh] = first.chains().try_emplace(key);
    Link& before = at->second.link;
    if (fresh) before.hash = chain_genesis(key);
    if (later.opening) {  // every chain of a later range has one
      const RangeWalk::Opening& o = *later.opening;
      RowFacts f;
      f.seq = o.seq;
      f.incident_seq = o.incident_seq;
      f.prev_hash = o.prev_hash;
      f.hash = o.hash;
      f.hashed = o.hashed;
      f.self_ok = o.self_ok;
      if (auto b = check_link(key, f, before)) first.add(std::move(*b));
    }
    before = std::move(later.link);
  }
  first.extend_by(second);
}

// A chain broken in either half, or at the join, is walked again whole in one pass (breaks are
// rare), so that two threads name the same breaks as one: a reorder across the middle, say, is
// one reorder and not a removal in each half.
void walk_broken_again(TimelineQueries& store, RangeWalk& walk, std::int64_t last) {
  std::set<std::string> keys;
  for (const ChainBreak& b : walk.breaks()) {
    if (!b.incident_key.empty()) keys.insert(b.incident_key);
  }
  if (keys.empty()) return;
  walk.drop_breaks_of(keys);
  for (const std::string& key : keys) {
    RangeWalk alone(RangeWalk::Range::one_incident, last);
    store.scan_timeline(key, [&](const TimelineRow& row) { return alone.visit(row); });
    for (ChainBreak& b : alone.breaks()) walk.add(std::move(b));
    walk.also_found(alone.found() - alone.breaks().size());
  }
}

void finish(VerifyResult& result, RangeWalk& walk, std::int64_t issued) {
  result.rows = walk.rows();
  result.chains = walk.chains().size();
  // Rows cut from the end leave the number SQLite handed out above the last row.
  if (issued > walk.last_seen()) {
    walk.add(
        make_break(walk.last_seen() + 1, "", 0, "removed",
                   seqs(walk.last_seen() + 1, issued) + " removed from the end of the timeline"));
  }
  std::vector<ChainBreak>& breaks = walk.breaks();
  std::stable_sort(breaks.begin(), breaks.end(), [](const ChainBreak& a, const ChainBreak& b) {
    return std::tie(a.seq, a.incident_key) < std::tie(b.seq, b.incident_key);
  });
  result.breaks_found = walk.found();
  result.intact = walk.found() == 0;
  if (!result.intact) {
    if (breaks.size() > kMaxBreaks) breaks.resize(kMaxBreaks);
    if (!breaks.empty()) {
      result.seq = breaks.front().seq;
      result.kind = breaks.front().kind;
      result.detail = breaks.front().detail;
    }
    result.breaks = std::move(breaks);
    return;
  }
  if (walk.rows() == 0) return;
  result.head = ChainHead{walk.last_seen(), walk.last_hash()};
  std::vector<IncidentChainHead> heads;
  heads.reserve(walk.chains().size());
  for (auto& [key, chain] : walk.chains()) {
    IncidentChainHead h;
    h.incident_key = key;
    h.incident_seq = chain.link.incident_seq;
    h.hash = std::move(chain.link.hash);
    heads.push_back(std::move(h));
  }
  result.heads_digest = chain_heads_digest(std::move(heads));
}

}  // namespace

VerifyResult verify_chain(TimelineQueries& store, TimelineQueries* second_reader) {
  VerifyResult result;
  // In this order: a row the daemon appends in between raises the last seq, never the issued one
  // above it.
  const std::int64_t issued = store.last_seq_issued();
  const auto last_row = store.chain_head();
  const std::int64_t last = last_row ? last_row->seq : 0;
  // Each row's hash depends only on the row and the prev_hash it carries, and linking a row to
  // its incident's previous row needs only that incident's end: so the file's two halves are
  // walked on two threads, each on its own connection, and joined at the end.
  const std::int64_t middle = second_reader != nullptr ? last / 2 : last;
  RangeWalk first(RangeWalk::Range::first, middle);
  RangeWalk second(RangeWalk::Range::later, last);
  std::exception_ptr second_failed;
  std::thread other;
  if (second_reader != nullptr) {
    other = std::thread([&] {
      try {
        second_reader->scan_timeline(
            "", [&](const TimelineRow& row) { return second.visit(row); }, middle);
      } catch (...) {
        second_failed = std::current_exception();
      }
    });
  }
  try {
    store.scan_timeline("", [&](const TimelineRow& row) { return first.visit(row); });
  } catch (...) {
    if (other.joinable()) other.join();
    throw;
  }
  if (other.joinable()) other.join();
  if (second_failed) std::rethrow_exception(second_failed);
  if (second_reader != nullptr) {
    join(first, second);
    walk_broken_again(store, first, last);
  }
  finish(result, first, issued);
  result.rewrites = store.chain_rewrites();
  return result;
}

}  // namespace incidentd::report
