#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: installs what is missing, builds, and runs the
# example scenario (a level II landslide, a drill) through the real engine on a virtual clock,
# printing the escalation timeline as a duty officer would read it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/incidentd/ccache}"
# Cache hits across checkouts in different folders.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build/release incidentctl incidentd

build/release/incidentctl check-config config/incidentd.toml
echo
echo "Timeline of examples/zhaotong-landslide.jsonl (virtual clock, notifications included):"
build/release/incidentctl simulate --config config/incidentd.toml --format text \
  --until 2026-11-28T12:00:00+08:00 examples/zhaotong-landslide.jsonl
