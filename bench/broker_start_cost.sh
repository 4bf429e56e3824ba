#!/usr/bin/env bash
# What one test broker costs the machine: the project's single-node broker (scripts/kafka.sh)
# started, left idle for 10 s and stopped, RUNS times; prints the start's wall time and the CPU
# time the whole machine spent meanwhile (so run it on an idle machine). KAFKA_JVM_OPTS as the
# tests set it (-XX:TieredStopAtLevel=1) or not, to compare:
#   bench/broker_start_cost.sh [RUNS]
#   KAFKA_JVM_OPTS=-XX:TieredStopAtLevel=1 bench/broker_start_cost.sh [RUNS]
# The first run on a machine also writes the class archives (scripts/kafka.sh, class_archive).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
for ((i = 1; i <= runs; i++)); do
  dir=$(mktemp -d)
  port=$((40000 + RANDOM % 10000))
  cpu0=$(busy)
  t0=$EPOCHREALTIME
  scripts/kafka.sh start --port "$port" --dir "$dir" >/dev/null 2>&1
  t1=$EPOCHREALTIME
  sleep 10
  scripts/kafka.sh stop --dir "$dir" >/dev/null 2>&1
  cpu1=$(busy)
  rm -rf "$dir"
  awk -v s="$t0" -v r="$t1" -v c=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v i="$i" \
    -v opts="${KAFKA_JVM_OPTS:-}" 'BEGIN {
      printf "run %d: start %.2f s; machine CPU over start + 10 s + stop %.2f s (KAFKA_JVM_OPTS=%s)\n",
        i, r - s, c / hz, opts }'
done
