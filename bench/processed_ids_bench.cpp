// The processed-id set's growth: adds N new ids (default 16 M, the event ids of a long-running
// daemon) one at a time, timing each add(), and prints the worst single add and the total.
// Built twice: processed_ids_bench against daemon/store/processed_ids.hpp as it is, and
// processed_ids_bench_before against the header of PROCESSED_IDS_BEFORE (a commit, taken from
// git at configure time) whose set rehashed everything at twice the size. Each add is timed on
// the wall clock and on the thread's CPU clock: on a loaded machine the wall clock's worst is
// often a preemption, which the CPU clock leaves out (page faults stay in). Run both in one go:
//   build/release/bench/processed_ids_bench_before && build/release/bench/processed_ids_bench
//   [--ids N]
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "store/processed_ids.hpp"

namespace {

using Steady = std::chrono::steady_clock;

double ms(Steady::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

std::chrono::nanoseconds thread_cpu() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

// The five longest adds, with the count of ids at the time.
struct Worst {
  std::vector<std::pair<Steady::duration, std::size_t>> top;
  std::size_t over_1ms = 0;
  Steady::duration total{};

  void add(Steady::duration d, std::size_t at) {
    total += d;
    if (d > std::chrono::milliseconds(1)) ++over_1ms;
    if (top.size() < 5 || d > top.back().first) {
      top.emplace_back(d, at);
      std::sort(top.begin(), top.end(), [](auto& a, auto& b) { return a.first > b.first; });
      if (top.size() > 5) top.pop_back();
    }
  }
  void print(const char* clock, std::size_t n) const {
    std::printf(
        "  %s: total %.0f ms (%.0f ns per add); adds over 1 ms: %zu; worst single add (ms): %.3f;\n"
        "    the five worst, at ids:",
        clock, ms(total), ms(total) * 1e6 / static_cast<double>(n), over_1ms,
        ms(top.front().first));
    for (const auto& [d, at] : top) std::printf(" %.3f@%zu", ms(d), at);
    std::printf("\n");
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 16'000'000;
  CLI::App app("the processed-id set's growth: the worst single add and the total");
  app.add_option("--ids", n, "new ids added, one at a time")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  incidentd::ProcessedIds ids;
  Worst wall;
  Worst cpu;
  std::array<char, 64> buf{};
  for (std::size_t i = 0; i < n; ++i) {
    // Ids as a monitoring system writes them: a source's key and a sequence number.
    const int len = std::snprintf(buf.data(), buf.size(), "yq-%07zu-%zu", i / 7, i % 7);
    const std::string_view id(buf.data(), static_cast<std::size_t>(len));
    const auto c0 = thread_cpu();
    const auto t0 = Steady::now();
    const bool added = ids.add(id);
    const auto t1 = Steady::now();
    const auto c1 = thread_cpu();
    if (!added) {
      std::fprintf(stderr, "processed_ids_bench: %s was refused as a duplicate\n", buf.data());
      return 1;
    }
    wall.add(t1 - t0, i);
    cpu.add(std::chrono::duration_cast<Steady::duration>(c1 - c0), i);
  }
  std::printf("%s: %zu ids added one at a time\n", PROCESSED_IDS_VARIANT, n);
  wall.print("wall clock", n);
  cpu.print("thread CPU", n);
  return 0;
}
