#!/usr/bin/env bash
# The live demo, from a fresh Debian 12 machine: installs what is missing, builds, then
# scripts/demo.py starts a local Kafka broker (fetched from Maven Central on the first run),
# Kannel with its fake SMSC, the project's webhook receiver, and incidentd with SMS and webhooks
# on, on a drill clock of one hour per second (--time-scale 3600). It plays a drill landslide and
# prints the daemon's actions and every SMS and webhook as it arrives; one duty officer answers
# by SMS reply; the webhook receiver goes down for 24 minutes of clock and comes back. It ends
# with the database's size and the timeline rows each notification wrote. About a minute and a
# half; everything it started is stopped at the end, also on Ctrl-C.
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

keep=()
[[ ${DEMO_KEEP:-0} == 1 ]] && keep=(--keep)
exec python3 scripts/demo.py --incidentd build/release/incidentd \
  --incidentctl build/release/incidentctl --source-dir "$PWD" --scale "${DEMO_SCALE:-3600}" \
  "${keep[@]}"
