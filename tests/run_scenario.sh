#!/bin/sh
# Runs one scenario through `incidentctl simulate` and compares the timeline with the one derived
# by hand.
#
#   run_scenario.sh INCIDENTCTL CONFIG SCENARIO.jsonl
#
# Next to SCENARIO.jsonl: SCENARIO.expected.jsonl (the expected action lines, `notification`
# lines left out), optionally SCENARIO.until (one RFC 3339 instant, passed as --until), and
# SCENARIO.md (how the expected lines were derived; not read here).
#
# The program's `notification` lines are dropped; the rest must match the expected lines one to
# one, in order. Only the keys present in an expected line are compared, so fields the program
# adds do not break a scenario. `catch_up: false`, `drill: false`, `opening: false`, `reminder: 0`
# and `round: 0` in an expected line also match a line that leaves the key out (the program omits
# defaults).
# Anything on stderr (a rejected or unparsable line) fails the scenario.
set -eu

if [ "$#" -ne 3 ]; then
  echo "usage: $0 INCIDENTCTL CONFIG SCENARIO.jsonl" >&2
  exit 2
fi

exec python3 - "$@" <<'PYTHON'
import difflib
import json
import os
import subprocess
import sys

incidentctl, config, scenario = sys.argv[1:4]
base = scenario[: -len(".jsonl")] if scenario.endswith(".jsonl") else scenario
name = os.path.basename(base)
expected_path = base + ".expected.jsonl"
until_path = base + ".until"

# Keys the program leaves out when they hold their default value.
DEFAULTS = {"catch_up": False, "drill": False, "opening": False, "reminder": 0, "round": 0}
# Keys shown for program lines that have no expected counterpart.
SUMMARY_KEYS = ["at", "incident_key", "action", "milestone", "level", "due", "reminder",
                "round", "catch_up", "opening", "late"]


def fail(message):
    print(f"scenario {name}: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def read_json_lines(path, what):
    objects = []
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                fail(f"{what} {path}:{number}: not JSON: {e}")
            if not isinstance(value, dict):
                fail(f"{what} {path}:{number}: not a JSON object")
            objects.append(value)
    return objects


if not os.path.exists(expected_path):
    fail(f"missing {expected_path}")
expected = read_json_lines(expected_path, "expected")

command = [incidentctl, "simulate", "--config", config, scenario]
if os.path.exists(until_path):
    with open(until_path, encoding="utf-8") as f:
        until = f.read().strip()
    command += ["--until", until]

run = subprocess.run(command, capture_output=True, text=True)
if run.returncode != 0:
    fail(f"{' '.join(command)} exited with {run.returncode}\n{run.stderr}")
if run.stderr.strip():
    fail(f"incidentctl reported problems with the scenario:\n{run.stderr}")

actual = []
for number, text in enumerate(run.stdout.splitlines(), 1):
    if not text.strip():
        continue
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"output line {number} is not JSON ({e}): {text}")
    if value.get("action") != "notification":
        actual.append(value)


def project(line, keys):
    """The line restricted to `keys`, with omitted defaults filled in."""
    out = {}
    for key in keys:
        if key in line:
            out[key] = line[key]
        elif key in DEFAULTS:
            out[key] = DEFAULTS[key]
        else:
            out[key] = "<missing>"
    return out


def show(obj):
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


expected_text = [show(e) for e in expected]
actual_text = []
for i, line in enumerate(actual):
    keys = list(expected[i].keys()) if i < len(expected) else \
        [k for k in SUMMARY_KEYS if k in line]
    actual_text.append(show(project(line, keys)))

if expected_text == actual_text:
    print(f"scenario {name}: OK ({len(expected)} action lines matched)")
    sys.exit(0)

first = next((i for i, (e, a) in enumerate(zip(expected_text, actual_text)) if e != a),
             min(len(expected_text), len(actual_text)))
report = [f"{len(expected)} expected lines, {len(actual)} from the program "
          f"(notifications left out); first difference at line {first + 1}"]
if first < len(expected) and first < len(actual):
    e, a = expected[first], project(actual[first], expected[first].keys())
    for key in expected[first]:
        if e[key] != a[key]:
            report.append(f"  key {key!r}: expected {show(e[key])}, got {show(a[key])}")
report.extend(difflib.unified_diff(expected_text, actual_text, fromfile=expected_path,
                                   tofile="incidentctl simulate", lineterm=""))
fail("\n".join(report))
PYTHON
