#!/usr/bin/env python3
"""Runs clang-tidy on the daemon's sources and remembers the files that passed, as ccache does for
the compiler: a file is checked again only when what clang-tidy would read changes.

    scripts/tidy.py BUILD_DIR [FILE...]      default: every daemon/*.cpp git tracks

The key of a file is the SHA-256 of its preprocessed translation unit (the file and every header
it includes, after the macros), its compile flags, the .clang-tidy configuration and clang-tidy's
version. The checkout's own path is taken out of all of them, so a clean clone in another folder
(as CI makes each run) finds the passes of the last one. Only passes are remembered: a file with
findings is checked, and fails, every time. The cache is $INCIDENTD_TIDY_CACHE, or
~/.cache/incidentd/clang-tidy; entries not used for 30 days are removed.

Why not cltcache (PyPI): it hashes the preprocessed output with its absolute paths, so a clone in
a new folder misses every file.
"""

import concurrent.futures
import hashlib
import json
import os
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


def cache_key(entry, common):
    compiler, args = compile_args(entry)
    pre = subprocess.run([compiler, *args, "-E"], cwd=entry["directory"], capture_output=True,
                         check=False)
    if pre.returncode != 0:
        return None  # clang-tidy says why; such a file is never remembered
    h = hashlib.sha256(common)
    h.update(" ".join(args).replace(ROOT, "@").encode())
    h.update(pre.stdout.replace(ROOT.encode(), b"@"))
    return h.hexdigest()


def check(path, build_dir, entries, common, cache):
    entry = entries.get(os.path.realpath(path))
    key = cache_key(entry, common) if entry else None
    stamp = os.path.join(cache, key[:2], key) if key else None
    if stamp and os.path.exists(stamp):
        os.utime(stamp)
        return path, True, True, ""
    run = subprocess.run(["clang-tidy", "--quiet", "-p", build_dir, path], cwd=ROOT,
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
    cache = os.environ.get("INCIDENTD_TIDY_CACHE",
                           os.path.expanduser("~/.cache/incidentd/clang-tidy"))
    failed = cached = 0
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        jobs = [pool.submit(check, os.path.join(ROOT, p), build_dir, entries, common, cache)
                for p in files]
        for job in jobs:
            path, passed, hit, output = job.result()
            cached += hit
            if not passed:
                failed += 1
                print(f"clang-tidy: {os.path.relpath(path, ROOT)}\n{output}", end="")
    prune(cache)
    print(f"clang-tidy: {len(files)} files, {cached} passed before unchanged, "
          f"{len(files) - cached} checked now, {failed} with findings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
