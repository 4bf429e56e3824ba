#!/usr/bin/env bash
# The live demo, from a fresh Debian 12 machine: installs what is missing, builds, starts a local
# Kafka broker (fetched from Maven Central on the first run), starts incidentd on
# config/incidentd.toml with a temporary database and a drill clock of one hour per second
# (--time-scale 3600), publishes a drill scenario with kcat as it unfolds, and shows the
# escalation timeline as the daemon logs it: about a minute for two days of clock. Everything it
# started is stopped at the end, also on Ctrl-C.
#
# Environment: DEMO_SCALE (default 3600), DEMO_KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/incidentd/ccache}"
# Cache hits across checkouts in different folders (CI clones anew each run).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build/release incidentctl incidentd

readonly scale=${DEMO_SCALE:-3600}
work=$(mktemp -d /tmp/incidentd-demo.XXXXXX)
daemon_pid=""
tail_pid=""

cleanup() {
  local rc=$?
  set +e
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"
    wait "$daemon_pid"
  fi
  [[ -n $tail_pid ]] && wait "$tail_pid" 2>/dev/null
  [[ -d $work/kafka ]] && scripts/kafka.sh stop --dir "$work/kafka" >/dev/null
  if [[ ${DEMO_KEEP:-0} == 1 || $rc -ne 0 ]]; then
    echo "demo: files kept in $work (incidentd.log, demo.db, kafka/)"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The example configuration names 127.0.0.1:9092; another port gets a copy that says so.
config=config/incidentd.toml
port=9092
if ! port_free "$port"; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  config=$work/incidentd.toml
  sed "s/^brokers = .*/brokers = \"127.0.0.1:$port\"/" config/incidentd.toml >"$config"
  echo "demo: 127.0.0.1:9092 is taken; using port $port ($config)"
fi
broker=127.0.0.1:$port
build/release/incidentctl check-config "$config"

echo
echo "=== starting a local Kafka broker on $broker"
scripts/kafka.sh start --port "$port" --dir "$work/kafka" --partitions 3
for topic in opinion.events opinion.releases opinion.events.dlq; do
  scripts/kafka.sh create-topic --port "$port" "$topic" --partitions 3 >/dev/null &
done
wait

echo
echo "=== starting incidentd --time-scale $scale (DRILL: one hour of clock every $((3600 / scale)) s)"
build/release/incidentd --config "$config" --database "$work/demo.db" --time-scale "$scale" \
  >"$work/incidentd.log" 2>&1 &
daemon_pid=$!

wait_for_log() { # PATTERN SECONDS
  local deadline=$((SECONDS + $2))
  until grep -q -- "$1" "$work/incidentd.log"; do
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/incidentd.log"; echo "demo: incidentd exited" >&2; exit 1; }
    ((SECONDS < deadline)) || { cat "$work/incidentd.log"; echo "demo: no '$1' in the log after $2 s" >&2; exit 1; }
    sleep 0.2
  done
}
wait_for_log "scaled clock origin_ms=" 30
origin_ms=$(sed -n 's/.*scaled clock origin_ms=\([0-9]*\).*/\1/p' "$work/incidentd.log" | head -n 1)
wait_for_log "kafka: assigned" 60

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
scaled_ms() { echo $((origin_ms + ($(now_ms) - origin_ms) * scale)); }
iso() { date -u -d "@$(($1 / 1000))" +%Y-%m-%dT%H:%M:%SZ; }

key=drill-zt-landslide-$(date +%H%M%S)
t0=$(scaled_ms)
# Waits until the drill clock shows t0 + HOURS (decimal allowed).
at_hour() {
  local target=$((t0 + $(awk -v h="$1" 'BEGIN { printf "%d", h * 3600000 }')))
  while (($(scaled_ms) < target)); do sleep 0.05; done
}
publish() { # TOPIC JSON
  printf '%s\t%s\n' "$key" "$2" | kcat -P -b "$broker" -t "$1" -K $'\t'
}
event() { # ID KIND LEVEL
  publish opinion.events "{\"schema\":1,\"event_id\":\"$key-$1\",\"incident_key\":\"$key\",\"kind\":\"$2\",\"level\":\"$3\",\"title\":\"昭通市某县山体滑坡引发网络关注（演练）\",\"category\":\"disaster\",\"region\":\"530600\",\"lead_unit\":\"zhaotong-gov\",\"units\":[\"zhaotong-gov\",\"prov-emergency\",\"prov-cac\"],\"detected_at\":\"$(iso "$t0")\",\"drill\":true}"
}
release() { # ID MILESTONE UNIT
  publish opinion.releases "{\"schema\":1,\"confirmation_id\":\"$key-$1\",\"incident_key\":\"$key\",\"milestone\":\"$2\",\"unit\":\"$3\",\"released_at\":\"$(iso "$(scaled_ms)")\",\"channel\":\"weibo\",\"url\":\"https://example.org/release/$1\"}"
}
say() { printf '%26s>> %s\n' "" "$*"; }

grep "DRILL MODE" "$work/incidentd.log" | sed 's/^\[[^]]*\] \[[a-z]*\] /incidentd: /'

echo
echo "=== the escalation timeline, as incidentd logs it (notifications counted at the end)"
# One line per action: the drill clock's time, the incident, what happened. tail ends with the
# daemon, and the rest of the pipeline with it.
tail -n +1 -f --pid="$daemon_pid" "$work/incidentd.log" |
  grep --line-buffered -E "\] action |dead letter:" |
  grep --line-buffered -v " notification " |
  sed -u -e 's/^\[[^]]*\] \[[a-z]*\] action /  /' -e 's/^\[[^]]*\] \[[a-z]*\] /  /' &
tail_pid=$!

say "0 h: monitoring publishes a level II landslide (a drill) to opinion.events"
event 1 detected II
at_hour 1
say "1 h: the incident is raised to level I"
event 2 updated I
at_hour 2.75
say "2 h 45: Zhaotong confirms its first release on opinion.releases"
release 1 first_release zhaotong-gov
at_hour 3.5
say "3 h 30: the provincial emergency office and the CAC confirm theirs"
release 2 first_release prov-emergency
release 3 first_release prov-cac
at_hour 26.5
say "26 h 30: the press conference is finally held and confirmed by all three units"
release 4 press_conference zhaotong-gov
release 5 press_conference prov-emergency
release 6 press_conference prov-cac
at_hour 51
say "51 h: the incident is closed"
event 3 closed I
at_hour 52
sleep 1

kill -TERM "$daemon_pid"
wait "$daemon_pid" || { echo "demo: incidentd exited with an error" >&2; exit 1; }
daemon_pid=""
wait "$tail_pid" 2>/dev/null || true
tail_pid=""

echo
echo "=== after the drill"
sqlite3 "$work/demo.db" "SELECT 'timeline entries: ' || COUNT(*) FROM timeline;
  SELECT 'notifications in the outbox (the channels deliver them): ' || COUNT(*) FROM outbox;"
grep -E "incidentd: stopped" "$work/incidentd.log" | sed 's/^\[[^]]*\] \[[a-z]*\] //'
echo "demo: incidentd and the broker stopped cleanly"
