#!/usr/bin/env bash
# incidentctl check-config refuses what the daemon would refuse, and the limits of
# docs/configuration.md, each time with exit status 1 and "file:line:column: message" on the line
# that is wrong. Each case is the shipped example configuration with one line changed.
#   check_config_test.sh INCIDENTCTL EXAMPLE_CONFIG
set -euo pipefail

incidentctl=$1
example=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

"$incidentctl" check-config "$example" >/dev/null || fail "the example configuration is refused"

# refused NAME SED_SCRIPT LINE_PATTERN MESSAGE: applies the sed script to the example, finds the
# line matching LINE_PATTERN in the result, and expects check-config to refuse it there.
refused() {
  local name=$1 script=$2 pattern=$3 message=$4
  local file="$work/$name.toml"
  sed -e "$script" "$example" >"$file"
  local line
  line=$(grep -n -m1 -e "$pattern" "$file" | cut -d: -f1)
  [[ -n $line ]] || fail "$name: test bug: no line matches $pattern"
  set +e
  "$incidentctl" check-config "$file" >"$work/out" 2>"$work/err"
  local rc=$?
  set -e
  ((rc == 1)) || fail "$name: check-config exited $rc: $(cat "$work/err")"
  grep -qF -- "$file:$line:" "$work/err" || fail "$name: no error at line $line: $(cat "$work/err")"
  grep -qF -- "$message" "$work/err" || fail "$name: no \"$message\" in: $(cat "$work/err")"
  echo "ok: $name: $(grep -F -- "$file:$line:" "$work/err" | head -1)"
}

refused jitter_nan 's/^jitter = 0.2/jitter = nan/' '^jitter' \
  "notify.jitter: must be a finite number from 0 to 1, got nan"
refused jitter_inf 's/^jitter = 0.2/jitter = inf/' '^jitter' "notify.jitter:"
refused retry_base_1ms 's/^retry_base = "5s"/retry_base = "1ms"/' '^retry_base' \
  'notify.retry_base: must be at least 100ms, got "1ms"'
refused poll_every_1ms 's/^poll_every = "1s"/poll_every = "1ms"/' '^poll_every' \
  'notify.poll_every: must be at least 100ms, got "1ms"'
refused overdue_every_1ms 's/^overdue_every = "1h"/overdue_every = "1ms"/' '^overdue_every' \
  'policy.overdue_every: must be at least 5m, got "1ms"'
refused resend_after_1ms 's/^resend_after = "15m"/resend_after = "1ms"/' '^resend_after' \
  'policy.delivery.resend_after: must be at least 1m, got "1ms"'
refused group_id_property 's/^"client.id" = "incidentd"/"group.id" = "other"/' '^"group.id"' \
  'kafka.properties.group.id: set by incidentd (use kafka.group); remove it'
# The second person's phone made the first's.
first_phone=$(grep -m1 -o '^  phone = "+[0-9]*"' "$example")
second_line=$(grep -n '^  phone = "+[0-9]*"' "$example" | sed -n 2p | cut -d: -f1)
refused duplicate_phone "${second_line}s/^  phone = .*/$first_phone  # the same/" "# the same" \
  "is already the phone of another person"

# Two tokens with one hash; the error names the second.
hash=$(printf %s one-token | sha256sum | cut -d' ' -f1)
cat >"$work/tokens.sed" <<SED
/^# \[\[http.tokens\]\]/,/^# sha256 = "<64 hex digits>"/{
  s/^# \[\[http.tokens\]\]/[[http.tokens]]/
  s/^# name = /name = /
  s/^# unit = /unit = /
  s/^# sha256 = .*/sha256 = "$hash"/
  s/^#\$//
}
SED
sed -f "$work/tokens.sed" "$example" >"$work/tokens.toml"
second_token=$(grep -n "^sha256 = \"$hash\"" "$work/tokens.toml" | sed -n 2p | cut -d: -f1)
[[ -n $second_token ]] || fail "duplicate_token: test bug: the tokens were not uncommented"
set +e
"$incidentctl" check-config "$work/tokens.toml" >/dev/null 2>"$work/err"
rc=$?
set -e
((rc == 1)) || fail "duplicate_token: check-config exited $rc: $(cat "$work/err")"
grep -qF -- "$work/tokens.toml:$second_token:" "$work/err" ||
  fail "duplicate_token: no error at line $second_token: $(cat "$work/err")"
grep -qF 'has the same sha256 as token "zhaotong-duty-desk"' "$work/err" ||
  fail "duplicate_token: $(cat "$work/err")"
echo "ok: duplicate_token: $(head -1 "$work/err")"

# A link key file that is named but missing, then one too short: refused with [http] on (the
# daemon reads it only then), accepted once the file holds a usable key.
key="$work/link-secret"
on_with_key="0,/^enabled = false/s//enabled = true/; s|^# link_secret_file = .*|link_secret_file = \"$key\"|"
refused link_secret_missing "$on_with_key" '^link_secret_file' "cannot open the ack link key file"
printf 'short\n' >"$key"
refused link_secret_short "$on_with_key" '^link_secret_file' "at least 32 bytes"
head -c 32 /dev/urandom | base64 >"$key"
sed -e "$on_with_key" "$example" >"$work/key_ok.toml"
"$incidentctl" check-config "$work/key_ok.toml" >/dev/null ||
  fail "a readable 32-byte link key is refused"

# The other files the daemon reads at start: a webhook route's secret always; the TLS key with
# [http] on; the SMS gateway's credentials with [sms] on.
refused webhook_secret_missing \
  "s|^secret = \"demo-webhook-secret-change-me\"|secret_file = \"$work/no-such-secret\"|" \
  '^secret_file' "notify.webhooks[1].secret_file: cannot read"
tls_on="0,/^enabled = false/s//enabled = true/; s|^# tls_cert = .*|tls_cert = \"$work/no-cert.pem\"|; s|^# tls_key = .*|tls_key = \"$work/no-key.pem\"|"
refused tls_cert_missing "$tls_on" '^tls_cert' "http.tls_cert: cannot read"
sms_on="/^\[sms\]/,/^enabled/s/^enabled = false/enabled = true/; s|^credentials_file = .*|credentials_file = \"$work/no-credentials\"|"
refused sms_credentials_missing "$sms_on" '^credentials_file' "sms.credentials_file: cannot read"
# [cluster], commented out in the example: accepted as shown once uncommented; a heartbeat over
# a third of the session and a session timeout also set in [kafka.properties] are refused.
cluster_on='s/^# \[cluster\]/[cluster]/; s/^# instance_id = /instance_id = /; s/^# session_timeout = /session_timeout = /; s/^# heartbeat_interval = /heartbeat_interval = /'
sed -e "$cluster_on" "$example" >"$work/cluster.toml"
grep -q '^\[cluster\]' "$work/cluster.toml" || fail "cluster: test bug: [cluster] not uncommented"
"$incidentctl" check-config "$work/cluster.toml" >/dev/null ||
  fail "the example's [cluster], uncommented, is refused"
refused cluster_heartbeat "$cluster_on; s/^heartbeat_interval = .*/heartbeat_interval = \"3s\"/" \
  '^heartbeat_interval' \
  'cluster.heartbeat_interval: 3s must be at most a third of cluster.session_timeout (6s)'
refused cluster_session_property \
  "$cluster_on; s/^\"client.id\" = \"incidentd\"/\"session.timeout.ms\" = \"10000\"/" \
  '^"session.timeout.ms"' \
  'kafka.properties.session.timeout.ms: set by [cluster] (use cluster.session_timeout); remove it'
echo "check_config_test: all refused where expected"
