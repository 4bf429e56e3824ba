#!/usr/bin/env bash
# What holds the daemon's loop thread: every time it is off a CPU for at least MIN_MS, its kernel
# stack when it left, the state it left in (0 preempted, 1 sleeping: epoll_wait with nothing to
# do, 2 waiting on the disk) and the thread that took its core, then a histogram of all its times
# off a CPU, in milliseconds.
# The loop is the process's main thread (docs/architecture.md, "The threads"). Root; installs
# Debian's bpftrace if missing. Stops with the process, after SECONDS, or on Ctrl-C.
#
#   bench/loop_offcpu.sh PID [MIN_MS=5] [SECONDS=600] > offcpu.txt
#   bench/loop_offcpu.sh --summary offcpu.txt    # the stacks grouped, longest first
set -euo pipefail

if [[ ${1:-} == --summary ]]; then
  exec python3 - "${2:?usage: loop_offcpu.sh --summary FILE}" <<'PY'
import collections, re, sys
waits = collections.defaultdict(list)
preempted_by = collections.defaultdict(list)
for block in re.split(r"\n(?=\d+ off )", open(sys.argv[1]).read()):
    m = re.match(r"(\d+) off (\d+) ms state (\d+)(?: after (.*))?", block)
    if not m:
        continue
    frames = [l.strip().split("+")[0] for l in block.splitlines()[1:] if l.strip() and not l.startswith("@")]
    state, ms = int(m.group(3)), int(m.group(2))
    if state == 1 and "epoll_wait" in " ".join(frames):
        continue  # the loop waiting for work
    waits[(state, " < ".join(frames[2:9]))].append(ms)
    if state == 0 and m.group(4):
        preempted_by[re.sub(r"[0-9]+$", "N", m.group(4).strip())].append(ms)
for (state, stack), ms in sorted(waits.items(), key=lambda kv: -max(kv[1])):
    print(f"state {state}: {len(ms)} times, longest {max(ms)} ms, {sum(ms)} ms in all: {stack}")
for comm, ms in sorted(preempted_by.items(), key=lambda kv: -sum(kv[1])):
    print(f"preempted, a core first taken by {comm}: {len(ms)} times, longest {max(ms)} ms, {sum(ms)} ms in all")
PY
fi

pid=${1:?usage: loop_offcpu.sh PID [MIN_MS] [SECONDS]}
min_ms=${2:-5}
seconds=${3:-600}
if ! command -v bpftrace >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends bpftrace >&2
fi
exec timeout "$seconds" bpftrace -e "
tracepoint:sched:sched_switch /args->prev_pid == $pid/ {
  @off = nsecs; @stack = kstack(14); @state = args->prev_state; @by = args->next_comm;
}
tracepoint:sched:sched_switch /args->next_pid == $pid && @off != 0/ {
  \$ms = (nsecs - @off) / 1000000;
  if (\$ms >= $min_ms) {
    printf(\"%lld off %lld ms state %lld after %s%s\\n\", nsecs / 1000000, \$ms, @state, @by, @stack);
  }
  @off_cpu_ms = hist(\$ms);
  @off = 0;
}
tracepoint:sched:sched_process_exit /args->pid == $pid/ { exit(); }
END { clear(@off); clear(@stack); clear(@state); clear(@by); }"
