#!/usr/bin/env bash
# incidentctl watch against the real daemon's GET /v1/stream: incidentd runs with [http] on a
# free port and an operator token (no broker needed: the API and the stream come up without
# one). watch draws the view, says when it has lost the daemon, reconnects when the daemon is
# back on the same port, and ends with status 0 on SIGINT; run in a pseudo-terminal (script(1))
# it leaves the alternate screen and shows the cursor again.
#   watch_test.sh INCIDENTCTL INCIDENTD SOURCE_DIR
set -euo pipefail

incidentctl=$1
incidentd=$2
source_dir=$3
work=$(mktemp -d)
daemon_pid=
watch_pid=
cleanup() {
  [[ -n $watch_pid ]] && kill "$watch_pid" 2>/dev/null || true
  [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
[[ -n ${KEEP_WORK:-} ]] && trap - EXIT
fail() {
  echo "FAIL: $*" >&2
  [[ -f $work/watch ]] && { echo "--- watch output:" >&2; tail -c 2000 "$work/watch" >&2; }
  exit 1
}
wait_for() {  # wait_for SECONDS FILE TEXT [MIN_COUNT]
  local n=0
  for _ in $(seq $(($1 * 10))); do
    n=$(grep -c -- "$3" "$2" 2>/dev/null || true)
    ((n >= ${4:-1})) && return 0
    sleep 0.1
  done
  return 1
}

# Port 0: the daemon binds a free port and logs it (a port picked here could be taken by another
# test's program before the daemon binds it); the first start's port is then kept for the second.
port=0
token=watch-test-operator-token
sha=$(printf %s "$token" | sha256sum | cut -d' ' -f1)
python3 - "$source_dir/config/incidentd.toml" "$work/incidentd.toml" "$work" "$port" "$sha" <<'PY'
import sys
src, dst, work, port, sha = sys.argv[1:6]
s = open(src, encoding="utf-8").read()
def sub(old, new):
    global s
    if old not in s:
        sys.exit(f"config/incidentd.toml has no {old!r}")
    s = s.replace(old, new, 1)
sub('database = "/var/lib/incidentd/incidentd.db"', f'database = "{work}/incidentd.db"')
sub('brokers = "127.0.0.1:9092"', 'brokers = "127.0.0.1:1"')
sub('[http]\nenabled = false\naddress = "127.0.0.1"\nport = 8480',
    f'[http]\nenabled = true\naddress = "127.0.0.1"\nport = {port}')
sub('\n[notify]', f'\n[[http.tokens]]\nname = "watch-test"\nsha256 = "{sha}"\n\n[notify]')
open(dst, "w", encoding="utf-8").write(s)
PY
start_daemon() {
  "$incidentd" --config "$work/incidentd.toml" >>"$work/daemon.log" 2>&1 &
  daemon_pid=$!
  wait_for 30 "$work/daemon.log" "HTTP API on" "$1" || fail "incidentd did not serve HTTP"
}
start_daemon 1
port=$(sed -nE 's|.*HTTP API on http://127\.0\.0\.1:([0-9]+).*|\1|p' "$work/daemon.log" | head -n 1)
[[ $port =~ ^[1-9][0-9]*$ ]] || fail "no port in the daemon's HTTP API line"
sed -i -E "s/^port = 0$/port = $port/" "$work/incidentd.toml"
grep -qx "port = $port" "$work/incidentd.toml" || fail "could not keep port $port for the restart"

# 1. To a pipe: the view, then the loss and the return of the daemon, then SIGINT.
INCIDENTD_TOKEN=$token "$incidentctl" watch --url "http://127.0.0.1:$port" --lang en \
  >"$work/watch" 2>&1 &
watch_pid=$!
wait_for 20 "$work/watch" "No open incidents." || fail "watch drew no view"
kill "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=
wait_for 20 "$work/watch" "lost the daemon" || fail "watch did not say it lost the daemon"
views=$(grep -c "No open incidents." "$work/watch")
start_daemon 2
wait_for 30 "$work/watch" "No open incidents." $((views + 1)) || fail "watch did not reconnect"
kill -INT "$watch_pid"
set +e
wait "$watch_pid"
rc=$?
set -e
watch_pid=
((rc == 0)) || fail "watch exited $rc on SIGINT"

# 2. In a pseudo-terminal: drawn in place on the alternate screen, restored on SIGINT.
command -v script >/dev/null || fail "script(1) is not installed"
INCIDENTD_TOKEN=$token script -qfec \
  "$incidentctl watch --url http://127.0.0.1:$port" "$work/tty" >/dev/null 2>&1 &
watch_pid=$!
wait_for 20 "$work/tty" "没有未结束的事件" || fail "watch drew nothing on a terminal"
# SIGINT to incidentctl itself (script's child, or its shell's child), by its process id.
child=$(pgrep -P "$watch_pid" | head -n 1) || fail "no process under script"
grandchild=$(pgrep -P "$child" | head -n 1 || true)
kill -INT "${grandchild:-$child}"
set +e
wait "$watch_pid"
rc=$?
set -e
watch_pid=
((rc == 0)) || fail "watch on a terminal exited $rc on SIGINT"
grep -q $'\e\\[?1049h' "$work/tty" || fail "watch did not use the alternate screen"
grep -q $'\e\\[?25h\e\\[?1049l' "$work/tty" || fail "watch left the terminal unrestored"
echo "ctl watch: OK"
