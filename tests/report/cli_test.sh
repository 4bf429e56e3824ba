#!/usr/bin/env bash
# incidentctl report / stats / verify from the command line, on the fixture database: exit codes,
# the read-only open, and verify naming a row deleted with the sqlite3 shell.
#   cli_test.sh INCIDENTCTL REPORT_FIXTURE
set -euo pipefail

incidentctl=$1
fixture=$2
config="$(cd "$(dirname "$0")" && pwd)/fixture.toml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed"

"$fixture" "$work/fx.db"
db=(--config "$config" --database "$work/fx.db")

out=$("$incidentctl" verify "${db[@]}") || fail "verify of an intact chain exited $?"
[[ $out == *"intact: "*" rows; chain head seq "* ]] || fail "verify printed: $out"
head_hash=${out##* sha256 }

report=$("$incidentctl" report rpt-breach "${db[@]}" --format markdown)
[[ $report == *"$head_hash"* ]] || fail "the report does not print the chain head"
[[ $report == *"| first release |"*"met after the deadline"* ]] || fail "report lacks the breach"

stats=$("$incidentctl" stats --from 2026-11-01 --to 2026-11-30 "${db[@]}" --format csv)
[[ $stats == *$'total,all,5,5,2,3,4,240,360,'* ]] || fail "stats csv: $stats"

set +e
"$incidentctl" report no-such-incident "${db[@]}" 2>"$work/err"
rc=$?
set -e
((rc == 1)) || fail "unknown incident exited $rc"
grep -q 'no incident "no-such-incident"' "$work/err" || fail "unknown incident: $(cat "$work/err")"

# The reports opened the file read-only: the chain is still the same.
[[ $("$incidentctl" verify "${db[@]}") == "$out" ]] || fail "the database changed under reports"

sqlite3 "$work/fx.db" "DELETE FROM timeline WHERE seq = 42"
set +e
tampered=$("$incidentctl" verify "${db[@]}")
rc=$?
set -e
((rc == 1)) || fail "verify of a tampered chain exited $rc"
[[ $tampered == *"TAMPERED: removed at seq 42:"* ]] || fail "verify printed: $tampered"

echo "PASS: report, stats and verify from the command line"
