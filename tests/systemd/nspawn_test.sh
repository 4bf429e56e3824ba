#!/usr/bin/env bash
# The incidentd package under real systemd. Builds the .deb with CPack, installs it into a
# minimal Debian 12 root booted with `systemd-nspawn -b`, points the daemon at a Kafka broker
# on the host's 127.0.0.1 (the container shares the host's network) and checks, with systemctl
# and journalctl run in the container through nsenter:
#
#   1. the unit is hardened: systemd-analyze security exposure <= 2.0, systemd-analyze verify
#      clean on the installed unit;
#   2. the package creates the service account and keeps the roster (phone numbers) private;
#   3. the unit becomes active only after the daemon sent READY=1, and logs in journald with the
#      right priorities;
#   4. `systemctl reload` applies a changed roster; an invalid file is refused and the service
#      stays up on the old one;
#   5. a hung event loop (the SIGUSR2 test hook) is killed by the watchdog, systemd restarts the
#      daemon, and it resumes the open incident's clock;
#   6. `systemctl stop` exits 0 after committing its offsets;
#   7. a start that waits for an unreachable broker outlasts TimeoutStartSec= (the daemon extends
#      it while its clocks run) and stops cleanly.
#
# Usage: tests/systemd/nspawn_test.sh --build-dir DIR [--sanitized 0|1] [--keep]
#   --build-dir  a configured and built tree (cpack reads its CPackConfig.cmake)
#   --sanitized  1 skips: a sanitizer build is not what gets packaged
#   --keep       leave the work directory (container root, logs) for a post-mortem
#
# Exit status: 0 passed, 1 failed, 77 skipped (the reason is printed; ctest shows it as
# skipped, never as passed).
#
# Environment:
#   INCIDENTD_CACHE          cache root (default ~/.cache/incidentd). The debootstrap root is
#                            kept in nspawn/ under a hash of its package list and copied for
#                            each run, so every run boots a clean system.
#   INCIDENTD_DEBIAN_MIRROR  Debian mirror for debootstrap (default http://deb.debian.org/debian)
set -euo pipefail

readonly SUITE=bookworm
# Bump when the way the cached root is made changes, so old caches are not reused.
readonly ROOT_RECIPE=1
# Packages the container needs besides the .deb's own dependencies: an init, D-Bus for
# systemctl, man-db so `systemd-analyze verify` can check the unit's Documentation=, and
# libsystemd0 (systemd needs it anyway) so the cache key is the same whether or not the daemon
# links it.
readonly BASE_PACKAGES=(systemd systemd-sysv dbus man-db libsystemd0)
readonly WATCHDOG_SEC=6
readonly UNIT=incidentd.service

src_dir=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=""
sanitized=0
keep=0
started_at=$EPOCHREALTIME

say() { printf '[%6.1f s] %s\n' "$(awk -v a="$started_at" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$*"; }
skip() {
  echo "SKIPPED: $*"
  exit 77
}

while (($#)); do
  case $1 in
  --build-dir) build_dir=${2:-}; shift 2 ;;
  --sanitized) sanitized=${2:-}; shift 2 ;;
  --keep) keep=1; shift ;;
  *) echo "nspawn_test.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ -n $build_dir && -f $build_dir/CPackConfig.cmake ]] || {
  echo "nspawn_test.sh: --build-dir must name a configured build tree" >&2
  exit 2
}

# ---------------------------------------------------------------------------------------------
# Can this machine run it at all? Every "no" is a skip with its reason.

[[ $sanitized == 1 ]] && skip "sanitizer build: the .deb is made from the release build (this test runs there)"
((EUID == 0)) || skip "needs root: debootstrap builds the container's root and systemd-nspawn boots it (running as uid $EUID)"
for tool in systemd-nspawn debootstrap nsenter unshare cpack dpkg-deb dpkg-shlibdeps systemd-analyze kcat java python3; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed (scripts/install-deps.sh installs it)"
done
if ! unshare_error=$(unshare --mount --pid --uts --ipc --fork true 2>&1); then
  skip "cannot create namespaces here, so systemd-nspawn cannot boot a container: $unshare_error"
fi

cache_root="${INCIDENTD_CACHE:-$HOME/.cache/incidentd}/nspawn"
mirror="${INCIDENTD_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
work=$(mktemp -d /var/tmp/incidentd-nspawn.XXXXXX)
root="$work/root"
nspawn_pid=""
ct_pid=""
overlay=0
kafka_port=""

# ---------------------------------------------------------------------------------------------
# Helpers

ct() { nsenter -t "$ct_pid" -a "$@"; }
show() { ct systemctl show -p "$1" --value "$UNIT"; }
journal() { ct journalctl -u "$UNIT" --no-pager -o cat; }
journal_count() { journal | grep -c -E -- "$1" || true; }

diagnose() {
  [[ -n $ct_pid ]] || return 0
  echo "----- systemctl status $UNIT"
  ct systemctl status --no-pager -l "$UNIT" 2>&1 | tail -n 25 || true
  echo "----- journalctl -u $UNIT (last 80 lines)"
  ct journalctl -u "$UNIT" --no-pager -o short-monotonic 2>&1 | tail -n 80 || true
}

fail() {
  echo "FAILED: $*" >&2
  diagnose >&2
  exit 1
}

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds, or fails the test.
wait_for() {
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${limit} s waiting for $what"
    sleep 0.2
  done
}

cleanup() {
  local rc=$?
  set +e
  if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # SIGTERM asks the container's systemd to power off cleanly.
    kill -TERM "$nspawn_pid"
    local deadline=$((SECONDS + 30))
    while kill -0 "$nspawn_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$nspawn_pid" 2>/dev/null; then
      echo "container did not power off within 30 s; killing systemd-nspawn" >&2
      kill -KILL "$nspawn_pid"
    fi
    wait "$nspawn_pid" 2>/dev/null
  fi
  ((overlay)) && umount "$root"
  if [[ -d $work/kafka ]]; then
    "$src_dir/scripts/kafka.sh" stop --dir "$work/kafka" >/dev/null 2>&1
  fi
  if ((keep)); then
    echo "work directory kept: $work"
  else
    rm -rf "$work"
  fi
  say "done (exit status $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# ---------------------------------------------------------------------------------------------
# 1. The unit's exposure, scored offline from the source file.

say "systemd-analyze security --offline=true systemd/$UNIT"
score_line=$(systemd-analyze security --offline=true "$src_dir/systemd/$UNIT" 2>&1 |
  grep 'Overall exposure level') || fail "systemd-analyze security printed no score"
echo "$score_line"
score=$(sed -E 's/.*: ([0-9]+\.[0-9]+) .*/\1/' <<<"$score_line")
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score is above 2.0"

# ---------------------------------------------------------------------------------------------
# 2. The package, and the broker in the background while the container is prepared.

kafka_port=$(python3 "$src_dir/scripts/free_port.py")  # not from the ephemeral range: see there
say "starting Kafka on 127.0.0.1:$kafka_port (in the background)"
(
  "$src_dir/scripts/kafka.sh" start --port "$kafka_port" --dir "$work/kafka" --partitions 1 &&
    for topic in opinion.events opinion.releases opinion.events.dlq; do
      # The broker creates a topic when a client asks for its metadata.
      for _ in $(seq 100); do
        kcat -L -b "127.0.0.1:$kafka_port" -t "$topic" 2>/dev/null | grep -q 'partition 0, leader' && break
        sleep 0.3
      done
    done
) >"$work/kafka-start.log" 2>&1 &
kafka_job=$!

say "cpack -G DEB"
cpack -G DEB -B "$work/package" --config "$build_dir/CPackConfig.cmake" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(find "$work/package" -maxdepth 1 -name 'incidentd_*.deb' | head -n 1)
[[ -n $deb ]] || fail "cpack made no incidentd_*.deb (log: $(tail -n 5 "$work/cpack.log"))"
depends=$(dpkg-deb -f "$deb" Depends)
echo "$(basename "$deb"): Depends: $depends"
contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/incidentd ./usr/bin/incidentctl ./lib/systemd/system/$UNIT \
  ./usr/lib/sysusers.d/incidentd.conf ./etc/incidentd/incidentd.toml \
  ./usr/share/man/man8/incidentd.8.gz ./usr/share/man/man1/incidentctl.1.gz; do
  grep -q " $path\$" <<<"$contents" || fail "the package lacks $path"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/incidentd/incidentd.toml ||
  fail "/etc/incidentd/incidentd.toml is not a conffile"

# ---------------------------------------------------------------------------------------------
# 3. The container's root: debootstrap once per package list, copied for every run.

# Runtime dependencies as package names: first alternative, no version, no architecture.
# debootstrap cannot pick a provider for a virtual package (libspdlog1.10-fmt9), so those are
# replaced by the package that provides them here, where the binaries were linked.
real_package() {
  if dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; then
    echo "$1"
    return
  fi
  local provider
  provider=$(dpkg-query -W -f='${Package}\t${Provides}\n' | awk -F'\t' -v n="$1" '
    { k = split($2, a, /, */); for (i = 1; i <= k; i++) { sub(/ .*/, "", a[i]); if (a[i] == n) { print $1; exit } } }')
  [[ -n $provider ]] || fail "no installed package provides $1, a dependency of the .deb"
  echo "$provider"
}
mapfile -t deps < <(tr ',' '\n' <<<"$depends" | sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' | grep -v '^$')
for i in "${!deps[@]}"; do deps[i]=$(real_package "${deps[i]}"); done
mapfile -t packages < <(printf '%s\n' "${BASE_PACKAGES[@]}" "${deps[@]}" | sort -u)
key=$(printf '%s\n' "recipe $ROOT_RECIPE" "$SUITE" "$mirror" "${packages[@]}" | sha256sum | cut -c1-16)
cached="$cache_root/$SUITE-$key"
mkdir -p "$cache_root"
exec 9>"$cache_root/.lock"
flock 9
if [[ -f $cached/.complete ]]; then
  say "cached root $cached"
else
  say "debootstrap $SUITE (minbase + ${packages[*]}) into $cached"
  rm -rf "$cache_root"/.build.*
  staging=$(mktemp -d "$cache_root/.build.XXXXXX")
  if ! debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
    "$SUITE" "$staging/root" "$mirror" >"$staging/debootstrap.log" 2>&1; then
    tail -n 30 "$staging/debootstrap.log"
    rm -rf "$staging"
    fail "debootstrap failed (log above)"
  fi
  rm -f "$staging/root/var/cache/apt/archives/"*.deb
  rm -rf "$staging/root/var/lib/apt/lists/"*
  # Roots made for an older package list are dead weight.
  find "$cache_root" -maxdepth 1 -name "$SUITE-*" -type d -exec rm -rf {} +
  mv "$staging/root" "$cached"
  rm -rf "$staging"
  touch "$cached/.complete"
  say "root cached: $(du -sh "$cached" | cut -f1)"
fi
exec 9>&-
# Each run writes to an overlay on the cached root (or, without overlayfs, to a copy of it).
mkdir -p "$root" "$work/upper" "$work/overlay-work"
if mount -t overlay overlay -o "lowerdir=$cached,upperdir=$work/upper,workdir=$work/overlay-work" \
  "$root" 2>"$work/mount.log"; then
  overlay=1
  say "root: overlay on $cached"
else
  cp -a --reflink=auto "$cached/." "$root"
  say "root: copy of $cached (no overlayfs: $(cat "$work/mount.log"))"
fi
rm -f "$root/.complete"
cp "$deb" "$root/root/incidentd.deb"

# ---------------------------------------------------------------------------------------------
# 4. Boot. --register=no and --keep-unit: no machined, and no scope unit from a host systemd
# (the host may not run systemd at all).

say "systemd-nspawn -b"
systemd-nspawn --quiet --boot --register=no --keep-unit --console=read-only \
  --machine="incidentd-test-$$" --directory="$root" >"$work/boot.log" 2>&1 </dev/null &
nspawn_pid=$!
find_init() {
  kill -0 "$nspawn_pid" 2>/dev/null || { cat "$work/boot.log"; fail "systemd-nspawn exited"; }
  ct_pid=$(pgrep -P "$nspawn_pid" -x systemd | head -n 1) && [[ -n $ct_pid ]]
}
wait_for "the container's systemd to start" 30 find_init
booted() {
  local state
  state=$(ct systemctl is-system-running 2>/dev/null) || true
  [[ $state == running || $state == degraded ]]
}
wait_for "the container to finish booting" 90 booted
say "booted: container PID 1 is host PID $ct_pid ($(ct systemctl is-system-running || true))"

wait "$kafka_job" || { cat "$work/kafka-start.log"; fail "the Kafka broker did not start"; }
say "Kafka ready on 127.0.0.1:$kafka_port"

# ---------------------------------------------------------------------------------------------
# 5. Install as an administrator would, and check what the package set up.

ct dpkg -i /root/incidentd.deb >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i failed"; }
say "installed $(basename "$deb")"
ct id incidentd >/dev/null || fail "the package created no incidentd user"
perms=$(ct stat -c '%U:%G %a' /etc/incidentd/incidentd.toml)
[[ $perms == "root:incidentd 640" ]] || fail "/etc/incidentd/incidentd.toml is $perms, want root:incidentd 640"
verify_out=$(ct systemd-analyze verify "/lib/systemd/system/$UNIT" 2>&1) ||
  fail "systemd-analyze verify failed: $verify_out"
[[ -z $verify_out ]] || fail "systemd-analyze verify is not clean: $verify_out"
echo "systemd-analyze verify /lib/systemd/system/$UNIT: clean"

config="$root/etc/incidentd/incidentd.toml"
sed -i -E "s/^brokers = .*/brokers = \"127.0.0.1:$kafka_port\"/" "$config"
grep -q "^brokers = \"127.0.0.1:$kafka_port\"" "$config" || fail "could not point the configuration at the broker"
units_before=$(grep -c '^\[\[units\]\]' "$config")
cp "$config" "$work/good.toml"

# What only this test needs: a short watchdog, and the hook that hangs the loop on SIGUSR2.
mkdir -p "$root/etc/systemd/system/$UNIT.d"
cat >"$root/etc/systemd/system/$UNIT.d/test.conf" <<EOF
[Service]
WatchdogSec=${WATCHDOG_SEC}s
RestartSec=1s
Environment=INCIDENTD_HANG_ON_SIGUSR2_FOR_TEST=1
EOF
ct systemctl daemon-reload

# ---------------------------------------------------------------------------------------------
# 6. Start: active only after READY=1.

[[ $(show Type) == notify ]] || fail "the unit is not Type=notify"
say "systemctl enable --now $UNIT"
ct systemctl enable "$UNIT" >/dev/null 2>&1 || fail "systemctl enable failed"
ct systemctl start --no-block "$UNIT"
active_or_failed() {
  local state
  state=$(show ActiveState)
  [[ $state == failed ]] && fail "the unit failed to start"
  [[ $state == active ]]
}
wait_for "the unit to become active (Type=notify: the daemon must send READY=1)" 60 active_or_failed
ready_line=$(journal | grep -n -m1 'systemd: notified READY=1' | cut -d: -f1) || true
started_line=$(journal | grep -n -m1 "^Started $UNIT" | cut -d: -f1) || true
[[ -n $ready_line ]] || fail "the daemon never logged that it sent READY=1"
[[ -n $started_line ]] || fail "systemd never logged that it started $UNIT"
((ready_line < started_line)) ||
  fail "systemd reported the unit started (journal line $started_line) before the daemon sent READY=1 (line $ready_line)"
say "active after READY=1 (journal lines $ready_line < $started_line)"

# journald parsed the <N> prefixes: no literal prefix in the text, warnings filed as warnings.
journal | grep -q -E '^<[0-7]>' && fail "journal lines carry a literal <N> prefix: stderr is not in journal style"
ct journalctl -u "$UNIT" --no-pager -o cat -p warning..warning | grep -q 'test hook installed' ||
  fail "the test hook's warning is not at priority warning in the journal"
say "journald reads the priorities (test-hook warning filed at priority 4)"

status_has() { [[ $(show StatusText) =~ $1 ]]; }
wait_for "a STATUS= line with the open incidents" 30 status_has '^0 open incidents, [0-9]+ pending deadlines?'

# An incident, so there is a clock to resume after the watchdog restart.
key="nspawn-$(date +%s)"
now=$(TZ=Asia/Shanghai date +%Y-%m-%dT%H:%M:%S%:z)
event=$(printf '{"schema":1,"event_id":"%s-1","incident_key":"%s","kind":"detected","level":"II","title":"systemd test","lead_unit":"zhaotong-gov","units":["zhaotong-gov","prov-emergency"],"detected_at":"%s"}' "$key" "$key" "$now")
printf '%s\t%s\n' "$key" "$event" | kcat -P -b "127.0.0.1:$kafka_port" -t opinion.events -K $'\t' ||
  fail "kcat could not produce the event"
wait_for "the daemon to open incident $key" 60 status_has '^1 open incident, [1-9][0-9]* pending deadlines?'
status_before=$(show StatusText)
say "incident open: STATUS=$status_before"

# ---------------------------------------------------------------------------------------------
# 7. Reload: a changed roster applies; an invalid file is refused and the service stays.

main_pid=$(show MainPID)
cat >>"$config" <<'EOF'

[[units]]
id = "nspawn-extra"
name = "测试新增单位"

  [[units.people]]
  id = "nspawn-duty1"
  name = "值班员丙"
  role = "duty"
  phone = "+8613800007777"
  channels = ["sms"]
EOF
units_after=$((units_before + 1))
say "systemctl reload (roster of $units_before -> $units_after units)"
ct systemctl reload "$UNIT" || fail "systemctl reload failed"
applied() { journal | grep -q "reload: applied /etc/incidentd/incidentd.toml: roster of $units_after units"; }
wait_for "the reload to apply the roster of $units_after units" 30 applied
[[ $(show ActiveState) == active && $(show MainPID) == "$main_pid" ]] ||
  fail "the reload did not keep the same running process"
cp "$config" "$work/good.toml"

# Two errors: a misspelt key, and a phone number that is not E.164, which the error message
# quotes; journald must get it masked.
refused_before=$(journal_count 'reload: refused')
sed -i -e 's/^deadline = "5h"$/dedline = "5h"/' -e 's/^  phone = "+8613800007777"$/  phone = "13800007777"/' "$config"
if ! grep -q '^dedline = ' "$config" || ! grep -q '"13800007777"' "$config"; then
  fail "could not break the configuration as planned"
fi
say "systemctl reload with an invalid file"
ct systemctl reload "$UNIT" || fail "systemctl reload (invalid file) failed"
refused() { (($(journal_count 'reload: refused /etc/incidentd/incidentd.toml') > refused_before)); }
wait_for "the invalid configuration to be refused" 30 refused
errors=$(ct journalctl -u "$UNIT" --no-pager -o cat -p err)
grep -q 'dedline' <<<"$errors" || fail "the refusal does not name the bad key at priority error"
grep -q '138\*\*\*\*7777' <<<"$errors" || fail "the bad phone number's error is not logged (masked) at priority error"
journal | grep -q '13800007777' && fail "a phone number reached the journal unmasked"
[[ $(show ActiveState) == active && $(show MainPID) == "$main_pid" ]] ||
  fail "the service did not stay up on its old configuration"
status_has '^1 open incident' || fail "the incident is gone after a refused reload: $(show StatusText)"
cp "$work/good.toml" "$config"
say "invalid file refused; still active, same PID $main_pid"

# ---------------------------------------------------------------------------------------------
# 8. The watchdog: a hung loop is killed and restarted, and the clock resumes.

restarts=$(show NRestarts)
say "hanging the event loop (SIGUSR2 test hook); WatchdogSec=${WATCHDOG_SEC}s"
ct systemctl kill --kill-who=main --signal=SIGUSR2 "$UNIT"
hung() { journal | grep -q 'test hook: SIGUSR2 received'; }
wait_for "the daemon to hang its loop" 15 hung
watchdog_fired() { journal | grep -q "Failed with result 'watchdog'"; }
wait_for "the watchdog to kill the daemon" $((WATCHDOG_SEC * 4)) watchdog_fired
restarted() {
  [[ $(show NRestarts) -gt $restarts && $(show ActiveState) == active && $(show MainPID) != "$main_pid" ]]
}
wait_for "systemd to restart the daemon" 60 restarted
wait_for "the restarted daemon to resume the incident's clock" 30 status_has '^1 open incident'
status_after=$(show StatusText)
[[ ${status_after%%, lag*} == "${status_before%%, lag*}" ]] ||
  fail "the clock did not resume as it was: STATUS before '$status_before', after '$status_after'"
opened=$(journal | grep -F -- "$key" | grep -c 'incident_opened' || true)
((opened == 1)) || fail "incident $key was opened $opened times: the restart did not resume its clock"
say "watchdog restart: NRestarts $restarts -> $(show NRestarts), STATUS=$status_after"

# ---------------------------------------------------------------------------------------------
# 9. Stop: clean exit, offsets committed.

main_pid=$(show MainPID)
say "systemctl stop"
ct systemctl stop "$UNIT" || fail "systemctl stop failed"
result=$(show Result)
code=$(show ExecMainCode)
exit_status=$(show ExecMainStatus)
[[ $result == success && $code == 1 && $exit_status == 0 ]] ||
  fail "unclean stop: Result=$result ExecMainCode=$code ExecMainStatus=$exit_status (want success, 1 = exited, 0)"
# journald reads the service's stream on its own schedule: the last lines may land just after
# systemctl returns.
logged() { journal | grep -q -i -- "$1"; }
wait_for "the STOPPING=1 log line" 10 logged 'systemd: notified STOPPING=1'
wait_for "a log line saying the offsets were committed at stop" 10 logged 'offsets committed'
say "stopped cleanly: Result=$result, exit status $exit_status, offsets committed"

# ---------------------------------------------------------------------------------------------
# 10. A start that waits for the broker asks for more time (EXTEND_TIMEOUT_USEC) and is not
#     ended at TimeoutStartSec: the clocks already run. A port where nothing listens, and a start
#     timeout of 5 s, held for three times that.

sed -i -E 's/^brokers = .*/brokers = "127.0.0.1:9"/' "$config"
printf '[Service]\nTimeoutStartSec=5s\n' >"$root/etc/systemd/system/$UNIT.d/start.conf"
ct systemctl daemon-reload
timeouts_before=$(journal_count "Failed with result 'timeout'")
say "systemctl start with no broker, TimeoutStartSec=5s"
ct systemctl start --no-block "$UNIT"
wait_for "the start to say that it waits for Kafka" 30 status_has 'waiting for Kafka'
restarts=$(show NRestarts)  # a start by hand counts from 0 again
still_starting() {
  [[ $(show ActiveState) == activating && $(show NRestarts) == "$restarts" ]] ||
    fail "the start did not last: $(show ActiveState), NRestarts $(show NRestarts) (was $restarts)"
}
held_until=$((SECONDS + 15))
while ((SECONDS < held_until)); do
  still_starting
  sleep 0.5
done
(($(journal_count "Failed with result 'timeout'") == timeouts_before)) ||
  fail "systemd ended a start that was extended"
say "still activating 15 s into a 5 s start timeout: STATUS=$(show StatusText)"
ct systemctl stop "$UNIT" || fail "systemctl stop of the waiting start failed"
[[ $(show Result) == success ]] || fail "the waiting start did not stop cleanly: Result=$(show Result)"
rm "$root/etc/systemd/system/$UNIT.d/start.conf"
cp "$work/good.toml" "$config"
ct systemctl daemon-reload

say "PASSED (score $score)"
