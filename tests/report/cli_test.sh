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
[[ $out == *"intact: "*" incident chains, "*" rows; heads digest sha256 "* ]] || fail "verify printed: $out"
head_hash=${out##* sha256 }

report=$("$incidentctl" report rpt-breach "${db[@]}" --format markdown --lang en)
[[ $report == *"$head_hash"* ]] || fail "the report does not print the chain head"
[[ $report == *"| first release |"*"met after the deadline"* ]] || fail "report lacks the breach"

# Chinese unless asked otherwise: by default, and by the configuration's `lang`.
report=$("$incidentctl" report rpt-breach "${db[@]}" --format markdown)
[[ $report == *"# 事后评估报告：rpt-breach"* ]] || fail "the default report is not in Chinese"
[[ $report == *"| 首次发布权威信息 |"*"超过最迟时限后完成"* ]] || fail "zh report lacks the breach"
sed 's/^timezone = /lang = "en"\ntimezone = /' "$config" >"$work/en.toml"
grep -q '^lang = "en"' "$work/en.toml" || fail "could not write a configuration with lang = en"
report=$("$incidentctl" report rpt-breach --config "$work/en.toml" --database "$work/fx.db")
[[ $report == "AFTER-ACTION REPORT: rpt-breach"* ]] || fail "lang = \"en\" is not obeyed"
report=$("$incidentctl" report rpt-breach --config "$work/en.toml" --database "$work/fx.db" --lang zh)
[[ $report == "事后评估报告：rpt-breach"* ]] || fail "--lang zh does not override the configuration"
set +e
"$incidentctl" report rpt-breach "${db[@]}" --lang fr 2>"$work/err"
rc=$?
set -e
((rc != 0)) || fail "--lang fr was accepted"

stats=$("$incidentctl" stats --from 2026-11-01 --to 2026-11-30 "${db[@]}" --format csv)
[[ $stats == *$'total,all,5,5,2,3,4,240,360,'* ]] || fail "stats csv: $stats"
[[ $stats == "分区,分组,事件数,"* ]] || fail "the stats csv header is not in Chinese: ${stats%%$'\r'*}"
stats=$("$incidentctl" stats --from 2026-11-01 --to 2026-11-30 "${db[@]}" --format csv --lang en)
[[ $stats == "section,group,incidents,"* ]] || fail "the English stats csv header: ${stats%%$'\r'*}"

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
