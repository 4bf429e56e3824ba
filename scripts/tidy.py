#!/usr/bin/env python3
"""Runs clang-tidy on the daemon's sources and remembers the translation units that passed, as
ccache does for the compiler: a unit is checked again only when what clang-tidy would read changes.

    scripts/tidy.py BUILD_DIR [FILE...]      default: every daemon/*.cpp git tracks

In a build that compiles the libraries in batches (-DINCIDENTD_BATCHES=ON, cmake/unity.cmake, as
scripts/test.sh's release build does), a file is checked through the batch that includes it: the
heavy headers are parsed once per batch instead of once per file (on a new 2-core machine, the
126 daemon sources as 26 units in 3:14, 367 s of CPU; one by one 9:10, 1,044 s). What clang-tidy
finds in an included source is reported at that source's own line, as .clang-tidy's
HeaderFilterRegex covers daemon/. A file that the build compiles neither alone nor in a batch is
an error, so none escapes.

The key of a unit is the SHA-256 of its preprocessed text (the file and every header it includes,
after the macros), its compile flags, clang-tidy's arguments, the .clang-tidy configuration and
clang-tidy's version. The checkout's own path is taken out of all of them, so a clean clone in
another folder (as CI makes each run) finds the passes of the last one. Only passes are
remembered: a unit with findings is checked, and fails, every time. The cache is
$INCIDENTD_TIDY_CACHE, or ~/.cache/incidentd/clang-tidy; entries not used for 30 days are removed.

Why not cltcache (PyPI): it hashes the preprocessed output with its absolute paths, so a clone in
a new folder misses every file.
"""

import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time

ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
KEEP_S = 30 * 24 * 3600


def compile_args(entry):
    """The compiler's arguments for one file, without the output (-o X) and the -c."""
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out = []
    skip = False
    for arg in args[1:]:
        if skip:
            skip = False
        elif arg == "-o":
            skip = True
        elif arg != "-c":
            out.append(arg)
    return args[0], out


def tidy_args(path):
    """clang-tidy's own arguments for one unit."""
    # The flags are GCC's: clang does not know some of them (the batches' -Wno-subobject-linkage).
    args = ["--quiet", "--extra-arg=-Wno-unknown-warning-option"]
    if is_batch(path):
        # A batch includes .cpp files by design.
        args.append("--checks=-bugprone-suspicious-include")
    return args


def is_batch(path):
    return os.path.basename(os.path.dirname(path)) == "batches"


def batch_members(entries):
    """Each source a batch includes (its real path), and the batch."""
    members = {}
    for path in entries:
        if is_batch(path):
            with open(path, encoding="utf-8") as f:
                for included in re.findall(r'^#include "([^"]+)"$', f.read(), re.MULTILINE):
                    members[os.path.realpath(os.path.join(ROOT, included))] = path
    return members


def units_of(files, entries):
    """The units that check `files`, in order, each once; and the files no unit checks."""
    members = batch_members(entries)
    units, missing = [], []
    for file in files:
        path = os.path.realpath(os.path.join(ROOT, file))
        unit = path if path in entries else members.get(path)
        if unit is None:
            missing.append(file)
        elif unit not in units:
            units.append(unit)
    return units, missing


def cache_key(path, entry, common):
    compiler, args = compile_args(entry)
    pre = subprocess.run([compiler, *args, "-E"], cwd=entry["directory"], capture_output=True,
                         check=False)
    if pre.returncode != 0:
        return None  # clang-tidy says why; such a file is never remembered
    h = hashlib.sha256(common)
    h.update(" ".join(args + tidy_args(path)).replace(ROOT, "@").encode())
    h.update(pre.stdout.replace(ROOT.encode(), b"@"))
    return h.hexdigest()


def check(path, build_dir, entries, common, cache):
    key = cache_key(path, entries[path], common)
    stamp = os.path.join(cache, key[:2], key) if key else None
    if stamp and os.path.exists(stamp):
        os.utime(stamp)
        return path, True, True, ""
    run = subprocess.run(["clang-tidy", *tidy_args(path), "-p", build_dir, path], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    if run.returncode == 0 and stamp:
        os.makedirs(os.path.dirname(stamp), exist_ok=True)
        open(stamp, "w").close()  # noqa: SIM115 - an empty file is the record of a pass
    return path, run.returncode == 0, False, run.stdout + run.stderr


def prune(cache):
    now = time.time()
    for folder, _, names in os.walk(cache):
        for name in names:
            p = os.path.join(folder, name)
            if now - os.path.getmtime(p) > KEEP_S:
                os.remove(p)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    build_dir = os.path.abspath(sys.argv[1])
    files = sys.argv[2:] or subprocess.run(["git", "ls-files", "daemon/*.cpp"], cwd=ROOT,
                                           capture_output=True, text=True,
                                           check=True).stdout.split()
    with open(os.path.join(build_dir, "compile_commands.json"), encoding="utf-8") as f:
        entries = {os.path.realpath(os.path.join(e["directory"], e["file"])): e
                   for e in json.load(f)}
    version = subprocess.run(["clang-tidy", "--version"], capture_output=True, check=True).stdout
    with open(os.path.join(ROOT, ".clang-tidy"), "rb") as f:
        common = version + f.read()
    units, missing = units_of(files, entries)
    if missing:
        print("clang-tidy: not compiled by " + build_dir + ", alone or in a batch: " +
              " ".join(missing), file=sys.stderr)
        return 1
    cache = os.environ.get("INCIDENTD_TIDY_CACHE",
                           os.path.expanduser("~/.cache/incidentd/clang-tidy"))
    failed = cached = 0
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        jobs = [pool.submit(check, unit, build_dir, entries, common, cache) for unit in units]
        for job in jobs:
            path, passed, hit, output = job.result()
            cached += hit
            if not passed:
                failed += 1
                print(f"clang-tidy: {os.path.relpath(path, ROOT)}\n{output}", end="")
    prune(cache)
    print(f"clang-tidy: {len(files)} files in {len(units)} units, {cached} passed before "
          f"unchanged, {len(units) - cached} checked now, {failed} with findings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
