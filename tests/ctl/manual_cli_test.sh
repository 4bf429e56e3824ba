#!/usr/bin/env bash
# incidentctl open / level / close check their arguments and the event before anything is
# published: the exact event for fixed ids and instants (--dry-run), and each refusal with its
# exit status and reason. Publishing through a real broker is tests/integration/manual_test.py.
#   manual_cli_test.sh INCIDENTCTL EXAMPLE_CONFIG
set -euo pipefail

incidentctl=$1
config=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect NAME STATUS TEXT ARGS...: runs incidentctl ARGS, expects the exit status and TEXT in its
# output (stdout for 0, stderr otherwise).
expect() {
  local name=$1 status=$2 text=$3
  shift 3
  set +e
  "$incidentctl" "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  set -e
  ((rc == status)) || fail "$name: exit $rc, expected $status: $(cat "$work/out" "$work/err")"
  local where="$work/err"
  ((status == 0)) && where="$work/out"
  grep -qF -- "$text" "$where" || fail "$name: no \"$text\" in: $(cat "$where")"
  echo "ok: $name"
}

# The API is not reached: a token so the failure is the connection.
export INCIDENTD_TOKEN=test-token

fixed=(--config "$config" --by 张伟 --detected-at 2026-11-26T08:00:00+08:00 --dry-run)

expect open_golden 0 \
  '{"schema":1,"event_id":"manual-zt-call-1-0001","incident_key":"zt-call-1","kind":"detected","level":"II","title":"电话报告：某县山体滑坡","category":"disaster","lead_unit":"zhaotong-gov","units":["zhaotong-gov","prov-emergency","prov-cac"],"detected_at":"2026-11-26T08:00:00+08:00","drill":true,"source":{"platform":"manual","by":"张伟","via":"incidentctl"}}' \
  open --key zt-call-1 --event-id manual-zt-call-1-0001 --level II --title "电话报告：某县山体滑坡" \
  --category disaster --lead-unit zhaotong-gov --units prov-emergency,prov-cac --drill "${fixed[@]}"
[[ $(wc -l <"$work/out") -eq 1 ]] || fail "open_golden: more than the event on stdout"

expect level_given_units 0 \
  '"incident_key":"zt-call-1","kind":"updated","level":"I","lead_unit":"zhaotong-gov","units":["zhaotong-gov","prov-cac"]' \
  level zt-call-1 I --lead-unit zhaotong-gov --units prov-cac "${fixed[@]}"
expect close_given_units 0 '"kind":"closed","level":"III"' \
  close zt-call-1 --lead-unit zhaotong-gov --level III "${fixed[@]}"
expect generated_ids 0 '"event_id":"manual-zt-call-1-' \
  close zt-call-1 --lead-unit zhaotong-gov --level III "${fixed[@]}"
expect generated_key 0 '"incident_key":"manual-20261126-080000-' \
  open --level III --title t --lead-unit prov-cac "${fixed[@]}"

expect unknown_unit 1 'the event would be refused: unknown unit "prov-cacc" in field "units"' \
  open --level II --title t --lead-unit zhaotong-gov --units prov-cacc "${fixed[@]}"
expect unit_twice 1 'field "units" lists "prov-cac" more than once' \
  open --level II --title t --lead-unit zhaotong-gov --units prov-cac,prov-cac "${fixed[@]}"
expect bad_instant 1 '--detected-at: not an RFC 3339 instant with an offset: 2026-11-26 08:00' \
  open --level II --title t --lead-unit zhaotong-gov --config "$config" --by x \
  --detected-at "2026-11-26 08:00" --dry-run
expect bad_level 105 'V not in {I,II,III,IV}' \
  open --level V --title t --lead-unit zhaotong-gov "${fixed[@]}"
expect no_title 106 '--title is required' open --level II --lead-unit zhaotong-gov "${fixed[@]}"
expect close_without_level 1 'close with --lead-unit also needs --level' \
  close k --lead-unit zhaotong-gov "${fixed[@]}"
expect no_config 2 'not a valid configuration' \
  open --level II --title t --lead-unit zhaotong-gov --config "$work/none.toml" --by x --dry-run
expect no_database 2 'unable to open database file' \
  close k --database "$work/none.db" "${fixed[@]}"
expect no_api 2 'or give --database, or --lead-unit and --units' \
  level k I --url http://127.0.0.1:1 "${fixed[@]}"
