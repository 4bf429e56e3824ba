#!/usr/bin/env bash
# Where an event's way to its first notification goes: runs notify_latency_bench under bpftrace
# and splits each incident's path into its stages, from the bench's produce() to the webhook
# request written by the daemon's webhook-io thread, through the broker (its network thread
# reading the produce request, a request handler appending it to the log) and the daemon (its
# consumer's fetch, the batch handed to the loop, the commit, the dispatcher's pass and claim).
# Prints each stage's p50 / p90 / p99 / max in ms and the slowest incidents' stages.
# Root; installs Debian's bpftrace if missing. The bench's own options follow `--`.
#
#   bench/notify_path_trace.sh [--build build/release] [--keep] [-- --events 200 ...]
set -euo pipefail

build=build/release
keep=false
while (($#)); do
  case $1 in
  --build) build=${2:?--build needs a folder}; shift 2 ;;
  --keep) keep=true; shift ;;
  --) shift; break ;;
  *) echo "notify_path_trace.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
daemon=$(realpath "$build/incidentd")
bench=$(realpath "$build/bench/notify_latency_bench")
[[ -x $daemon && -x $bench ]] || { echo "notify_path_trace.sh: build $build first" >&2; exit 1; }
if ! command -v bpftrace >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends bpftrace >&2
fi
# The syscall tracepoints live in tracefs, which not every machine mounts (this project's on
# 2026-12-07 did not: bpftrace found no syscalls:sys_enter_connect).
if ! mountpoint -q /sys/kernel/tracing; then mount -t tracefs tracefs /sys/kernel/tracing; fi

dir=$(mktemp -d /tmp/notify-path-trace.XXXXXX)
# Function entries by their mangled names (a C++ probe names the whole signature): the bench's
# produce(), then the daemon's hand-over, batch, pass and claim. Syscalls only of the threads on
# the path: librdkafka's broker threads, the broker's data-plane threads, webhook-io.
cat >"$dir/path.bt" <<EOF
uprobe:$bench:_ZN9incidentd5bench7produceERN7RdKafka8ProducerE* { printf("produce %d %llu\n", pid, nsecs); }
uprobe:$daemon:_ZN9incidentd16ConsumerPipeline5startESt10shared_ptrINS0_3JobEE { printf("handed %d %llu\n", pid, nsecs); }
uprobe:$daemon:_ZN9incidentd16ConsumerPipeline9next_stepERKSt10shared_ptrINS0_3JobEEb { printf("batch %d %llu\n", pid, nsecs); }
uprobe:$daemon:_ZN9incidentd10Dispatcher8run_passEv { printf("pass %d %llu\n", pid, nsecs); }
uprobe:$daemon:_ZN9incidentd10Dispatcher12send_claimedERKNS0_7ClaimedE { printf("claimed %d %llu\n", pid, nsecs); }
tracepoint:syscalls:sys_enter_connect /comm == "webhook-io"/ { printf("connect %d %llu\n", pid, nsecs); }
tracepoint:syscalls:sys_exit_sendmsg,tracepoint:syscalls:sys_exit_sendto,tracepoint:syscalls:sys_exit_write,tracepoint:syscalls:sys_exit_writev
  /comm == "webhook-io" && args->ret > 0/ { printf("request %d %llu\n", pid, nsecs); }
tracepoint:syscalls:sys_exit_recvmsg,tracepoint:syscalls:sys_exit_recvfrom
  /args->ret >= 300 && strncmp(comm, "rdk:broker", 10) == 0/ { printf("fetched %d %llu\n", pid, nsecs); }
tracepoint:syscalls:sys_exit_read /args->ret >= 300 && strncmp(comm, "data-plane", 10) == 0/ { printf("broker_read %d %llu\n", pid, nsecs); }
tracepoint:syscalls:sys_exit_write /args->ret >= 300 && strncmp(comm, "data-plane", 10) == 0/ { printf("appended %d %llu\n", pid, nsecs); }
EOF
bpftrace "$dir/path.bt" >"$dir/trace.txt" 2>"$dir/bpftrace.err" &
tracer=$!
trap 'kill -INT $tracer 2>/dev/null || true; wait $tracer 2>/dev/null || true' EXIT
until grep -q "^Attaching" "$dir/bpftrace.err" "$dir/trace.txt" 2>/dev/null; do
  kill -0 $tracer 2>/dev/null || { cat "$dir/bpftrace.err" >&2; exit 1; }
  sleep 0.2
done
"$bench" "$@" | grep -E "event in|Kafka hop|load average"
kill -INT $tracer
wait $tracer || true
trap - EXIT

python3 - "$dir/trace.txt" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 3 and f[2].isdigit():
        rows.append((int(f[2]), f[0], int(f[1])))
rows.sort()
daemon = next((pid for _, what, pid in rows if what == "batch"), None)
stages = ["produce", "broker_read", "appended", "fetched", "handed", "batch", "pass", "claimed",
          "connect", "request"]
names = {"broker_read": "the broker's network thread reads the produce request",
         "appended": "a request handler appends it to the log",
         "fetched": "the daemon's consumer reads the fetch response",
         "handed": "its consumer thread hands the batch to the loop",
         "batch": "the loop starts the batch",
         "pass": "applied and committed: the dispatcher's pass starts",
         "claimed": "the due row found and its lease written: the send starts",
         "connect": "rendered and signed: webhook-io connects",
         "request": "the request written"}
cycles, current = [], None
for t, what, pid in rows:
    if what == "produce":
        current = {"produce": t}
        cycles.append(current)
        continue
    if current is None or (what == "fetched" and pid != daemon):
        continue
    # Each stage at its first sight after the one before it.
    i = stages.index(what)
    if what not in current and stages[i - 1] in current:
        current[what] = t
cycles = cycles[1:]  # the bench's warm-up incident, which it does not count either
complete = [c for c in cycles if all(s in c for s in stages)]
print(f"  {len(complete)} of {len(cycles)} incidents with every stage traced (the warm-up left out)")
if not complete:
    sys.exit(1)
def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]
def row(label, values):
    print(f"  {label:58s} p50 {pct(values, .5):6.2f}  p90 {pct(values, .9):6.2f}  "
          f"p99 {pct(values, .99):6.2f}  max {max(values):6.2f}")
ms = lambda c, a, b: (c[b] - c[a]) / 1e6
print("  stage (ms since the stage before)")
for a, b in zip(stages, stages[1:]):
    row(names[b], [ms(c, a, b) for c in complete])
row("the broker (produce -> the daemon's fetch)", [ms(c, "produce", "fetched") for c in complete])
row("incidentd (its fetch -> the request written)", [ms(c, "fetched", "request") for c in complete])
row("produce -> the request written", [ms(c, "produce", "request") for c in complete])
print("  the slowest five, each stage in ms, and when its event was produced:")
first = complete[0]["produce"]
for c in sorted(complete, key=lambda c: ms(c, "produce", "request"))[-5:]:
    print(f"    {ms(c, 'produce', 'request'):6.2f}: " +
          " ".join(f"{ms(c, a, b):.2f}" for a, b in zip(stages, stages[1:])) +
          f"  (+{(c['produce'] - first) / 1e9:.1f} s)")
PY
if $keep; then
  echo "  kept $dir"
else
  rm -rf "$dir"
fi
