#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  # a linker several times faster than ld.bfd (CMakeLists.txt)
  mold
  clang-format clang-tidy
  # libFuzzer targets (tests/fuzz, scripts/fuzz.sh): clang 14 and its runtime libraries
  clang libclang-rt-14-dev
  libboost-dev librdkafka-dev libsqlitecpp-dev libsqlite3-dev sqlite3
  libspdlog-dev libfmt-dev catch2 libtomlplusplus-dev nlohmann-json3-dev libsimdjson-dev
  robin-map-dev
  libcli11-dev libsystemd-dev libssl-dev libhowardhinnant-date-dev
  libbenchmark-dev
  # incidentd's and incidentctl's allocator (CMakeLists.txt, INCIDENTD_JEMALLOC)
  libjemalloc-dev
  # Kafka broker for tests and the demo (fetched from Maven Central by scripts/kafka.sh), kcat
  default-jre-headless maven kcat
  # reports rendered headless; systemd integration test; SMS gateway
  chromium systemd-container debootstrap kannel kannel-extras
  python3 shellcheck
  # the chaos run: wall-clock jumps for one process (scripts/chaos.sh)
  faketime
  # the .deb: dpkg-shlibdeps finds its runtime dependencies (also pulled in by build-essential)
  dpkg-dev
  # report tests: PDF text and page checks; a CJK font so Chinese titles render in the html report
  poppler-utils fonts-wqy-microhei
  # the duty board's browser test: Chromium driven through WebDriver (run with /usr/bin/python3)
  chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
