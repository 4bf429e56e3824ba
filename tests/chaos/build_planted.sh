#!/usr/bin/env bash
# Builds incidentd and incidentctl with a planted fault (tests/chaos/planted_fault.patch: a
# restart reads each clock's progress one step behind, as if it were stored before the step's
# action was committed) from a temporary git worktree of HEAD, so the chaos run can show that it
# fails on a broken daemon:
#
#   tests/chaos/build_planted.sh /tmp/incidentd-planted
#   scripts/chaos.sh --binary-dir /tmp/incidentd-planted/build --only sigkill
#
# The fault never enters the source tree; remove the copy with
#   git worktree remove --force /tmp/incidentd-planted
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: build_planted.sh DIR}
[[ -e $out ]] && { echo "build_planted.sh: $out exists; remove it first" >&2; exit 2; }
git worktree add --detach "$out" HEAD >/dev/null
git -C "$out" apply "$PWD/tests/chaos/planted_fault.patch"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/incidentd/ccache}" CCACHE_BASEDIR="$out"
export CCACHE_NOHASHDIR=1
cmake -S "$out" -B "$out/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$out/build" incidentd incidentctl
echo "planted-fault binaries in $out/build"
