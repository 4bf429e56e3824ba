#!/usr/bin/env bash
# incidentctl list / show / watch from the command line, on the report fixture's database (read
# with --database, as when the daemon is down), with a fixed clock (--now): the text in both
# languages, --format json, the exit codes, and watch ending cleanly on SIGINT.
#   cli_test.sh INCIDENTCTL REPORT_FIXTURE
set -euo pipefail

incidentctl=$1
fixture=$2
config="$(cd "$(dirname "$0")/../report" && pwd)/fixture.toml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

"$fixture" "$work/fx.db"
db=(--config "$config" --database "$work/fx.db" --now 2026-11-26T12:00:00+08:00)

# --all lists the closed incidents too, marked so, with their keys and levels.
all_en=$("$incidentctl" list --all "${db[@]}" --lang en)
for key in rpt-ontime rpt-late rpt-breach rpt-upgrade rpt-drill rpt-multi; do
  [[ $all_en == *"$key"* ]] || fail "list --all lacks $key: $all_en"
done
[[ $all_en == "KEY "* ]] || fail "list --all --lang en has no English header: $all_en"
[[ $all_en == *"[closed] "* ]] || fail "list --all does not mark closed incidents: $all_en"
all_zh=$("$incidentctl" list --all "${db[@]}")
[[ $all_zh == "事件 "* && $all_zh == *"【已结束】"* ]] || fail "list --all in Chinese: $all_zh"

# Without --all: the open ones only, as JSON for scripts the same set as the text.
open_json=$("$incidentctl" list "${db[@]}" --format json)
keys=$(printf '%s' "$open_json" | python3 -c \
  'import json,sys; print(" ".join(i["incident_key"] for i in json.load(sys.stdin)["incidents"]))')
open_text=$("$incidentctl" list "${db[@]}" --lang en)
for key in $keys; do
  [[ $open_text == *"$key"* ]] || fail "text list lacks $key of the json list"
done
[[ -n $keys || $open_text == "No open incidents." ]] || fail "empty list says: $open_text"

# show: the clock, the confirmations, who was told and who acknowledged.
show_en=$("$incidentctl" show rpt-late "${db[@]}" --lang en)
[[ $show_en == *"Clock started: 11-05 08:00"* ]] || fail "show lacks the clock start: $show_en"
[[ $show_en == *"first release"*"met"* ]] || fail "show lacks the met first release: $show_en"
[[ $show_en == *"Notified:"*"acknowledged 11-05 10:05"* ]] || fail "show lacks the ack: $show_en"
show_zh=$("$incidentctl" show rpt-late "${db[@]}")
[[ $show_zh == *"计时开始：11-05 08:00"* && $show_zh == *"已确认收到 11-05 10:05"* ]] ||
  fail "show in Chinese: $show_zh"
show_json=$("$incidentctl" show rpt-late "${db[@]}" --format json)
printf '%s' "$show_json" | python3 -c '
import json, sys
j = json.load(sys.stdin)
assert j["incident_key"] == "rpt-late", j["incident_key"]
assert j["timeline"] and j["timeline"][0]["action"] == "incident_opened"
assert any(p["acknowledged_at"] for p in j["notified"]), j["notified"]
' || fail "show --format json: $show_json"

set +e
"$incidentctl" show no-such-incident "${db[@]}" 2>"$work/err"
rc=$?
set -e
((rc == 1)) || fail "show of an unknown incident exited $rc"
grep -q 'no incident "no-such-incident"' "$work/err" || fail "unknown incident: $(cat "$work/err")"

# watch (on the database, a view every 2 s to a pipe) ends with status 0 on SIGINT.
"$incidentctl" watch "${db[@]}" --lang en >"$work/watch" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q "incidentd duty view" "$work/watch" && break
  sleep 0.1
done
grep -q "incidentd duty view" "$work/watch" || fail "watch drew nothing: $(cat "$work/watch")"
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
((rc == 0)) || fail "watch exited $rc on SIGINT"
echo "ctl cli: OK"
