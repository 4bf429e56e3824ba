#!/usr/bin/env bash
# The chaos run (issue 20; docs/reliability.md, "The chaos run"): the real daemon against the
# project's own Kafka broker, Kannel with its fake SMSC and the webhook receiver, all on
# 127.0.0.1 and free ports, under SIGKILLs, a broker outage and kill, receivers down for 10
# minutes of clock, wall-clock jumps and SIGSTOP, a full disk and a damaged database; every run
# checked against the same workload without faults. About 13-15 minutes on a 2-core machine.
#
# Usage:
#   scripts/chaos.sh [--only sigkill,broker,receivers,clock,diskfull,corrupt]
#                    [--binary-dir DIR] [--incidents N] [--seed N] [--keep] [harness options]
#
# --binary-dir DIR takes incidentd and incidentctl from DIR (a build with a planted fault, for
# instance) instead of building build/release. Every other option goes to tests/chaos/chaos.py
# (--rounds, --broker-down, --stop-seconds, --drill-scale). The diskfull scenario mounts a tmpfs:
# it needs root. Prints one line per scenario, then
# "chaos: N scenarios, P passed, lost L, doubled D, early E"; exits 1 when an invariant breaks.
set -euo pipefail
cd "$(dirname "$0")/.."

binary_dir=""
pass=()
while (($#)); do
  case $1 in
  --binary-dir) binary_dir=${2:?--binary-dir needs a directory}; shift 2 ;;
  *) pass+=("$1"); shift ;;
  esac
done

if [[ -z $binary_dir ]]; then
  bash scripts/install-deps.sh
  export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/incidentd/ccache}"
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
  cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C build/release incidentctl incidentd
  binary_dir=build/release
fi
[[ -x $binary_dir/incidentd && -x $binary_dir/incidentctl ]] ||
  { echo "chaos.sh: no incidentd and incidentctl in $binary_dir" >&2; exit 2; }
scripts/kafka.sh fetch >/dev/null

# Debian's python3 (tomllib, 3.11): the first python3 on PATH may be another build.
exec /usr/bin/python3 tests/chaos/chaos.py --incidentd "$binary_dir/incidentd" \
  --incidentctl "$binary_dir/incidentctl" --source-dir "$PWD" "${pass[@]}"
