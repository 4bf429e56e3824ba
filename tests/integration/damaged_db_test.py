#!/usr/bin/env python3
"""A damaged or truncated database file at start: the real daemon refuses it, naming the file.

    damaged_db_test.py --incidentd PATH --source-dir DIR [--keep]

A real database is made by the daemon itself (started against a port where no broker listens:
it opens and migrates its database, records its start, and waits for Kafka; SIGTERM stops it
cleanly). Copies of it are then damaged in four ways, and for each the daemon must exit with
status 2 within seconds, with one critical line naming the file, what is wrong and what to do,
and must leave the file as it was (no silent empty start):
- truncated to half its size;
- one page in the middle overwritten with random bytes (PRAGMA quick_check finds it: at the
  start if the page is one of the tables a start reads; else the whole-file check, run once the
  clock runs, stops the daemon and marks the file FILE-damaged, and the next start is refused
  at once, changing nothing);
- truncated to 0 bytes (refused; `--init` starts an empty database in it on purpose);
- replaced by a file that is not SQLite.
The undamaged copy starts. No broker is needed: both checks come before Kafka. Standard library.
"""

import argparse
import hashlib
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_test as kt  # noqa: E402  (config, daemon and wait helpers)


class NoBroker:
    """kt.write_config wants a broker; this one is a free port where nothing listens."""
    def __init__(self):
        self.bootstrap = f"127.0.0.1:{kt.free_port()}"


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def start(args, config, db, logfile, extra=()):
    daemon = kt.Daemon(args.incidentd, config, db, logfile, list(extra))
    daemon.start()
    return daemon


def refused(args, config, db, work, name, pattern, extra=(), unchanged=True):
    """Starts the daemon on `db`; it must exit non-zero, naming the file, and (`unchanged`)
    change nothing."""
    before = digest(db)
    logfile = os.path.join(work, f"{name}.log")
    daemon = start(args, config, db, logfile, extra)
    try:
        rc = daemon.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.cleanup()
        raise kt.Failure(f"{name}: incidentd did not refuse the file; it is still running:\n"
                         + daemon.output()[-2000:])
    daemon.log.close()
    out = daemon.output()
    lines = [line for line in out.splitlines() if "[critical]" in line]
    kt.check(rc != 0, f"{name}: incidentd exited 0:\n{out[-2000:]}")
    kt.check(len(lines) == 1, f"{name}: {len(lines)} critical lines, not one:\n{out[-2000:]}")
    line = lines[0]
    kt.check(f"database {db} " in line, f"{name}: the line does not name {db}: {line}")
    kt.check(re.search(pattern, line), f"{name}: the line does not say /{pattern}/: {line}")
    kt.check("restore" in line or "--init" in line or "configuration" in line,
             f"{name}: the line does not say what to do: {line}")
    kt.check(rc == 2, f"{name}: exit status {rc}, not 2 (systemd restarts on any other)")
    if unchanged:
        kt.check(digest(db) == before, f"{name}: the file changed")
        kt.check(not os.path.exists(db + "-wal") or os.path.getsize(db + "-wal") == 0,
                 f"{name}: a WAL was written next to the refused file")
    kt.log(f"{name}: exit {rc}: {line.split('] ', 2)[-1]}")
    return line


def run(args, work):
    config = os.path.join(work, "incidentd.toml")
    kt.write_config(args.source_dir, config, NoBroker(), "damaged", "opinion.events.dlq")
    good = os.path.join(work, "good.db")
    daemon = start(args, config, good, os.path.join(work, "make.log"))
    try:
        daemon.wait_loop_up()
    finally:
        rc = daemon.stop()
    kt.check(rc == 0, f"making the database: incidentd exited {rc}")
    # The WAL copied into the file, so every copy below is one self-contained file.
    con = sqlite3.connect(good)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages, page_size = con.execute("PRAGMA page_count").fetchone()[0], \
        con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(good + suffix):
            os.remove(good + suffix)
    kt.check(pages >= 8, f"the database has {pages} pages: too few to damage one in the middle")
    kt.log(f"database made by the daemon: {pages} pages of {page_size} bytes")

    def copy(name):
        path = os.path.join(work, f"{name}.db")
        shutil.copyfile(good, path)
        return path

    half = copy("half")
    os.truncate(half, os.path.getsize(half) // 2)
    refused(args, config, half, work, "truncated to half", r"truncated")

    garbage = copy("garbage")
    rnd = random.Random(20)
    with open(garbage, "r+b") as f:
        f.seek((pages // 2) * page_size)
        f.write(bytes(rnd.getrandbits(8) for _ in range(page_size)))
    # Refused at the start when the page belongs to a table a start reads; else the daemon
    # starts, and the whole-file check it runs once its clock runs stops it (exit 2) and marks
    # the file, so that the next start refuses it at once, changing nothing.
    damage = r"damaged: PRAGMA quick_check|cannot be read by SQLite"
    line = refused(args, config, garbage, work, "a page of garbage in the middle", damage,
                   unchanged=False)
    mark = garbage + "-damaged"
    if "whole-file check" in line:
        kt.check(os.path.exists(mark), f"the whole-file check stopped the daemon but left no {mark}")
        line = refused(args, config, garbage, work, "the file marked damaged, started again",
                       r"marked damaged .*" + "(" + damage + ")")
        kt.check(f"remove {mark}" in line, f"the refusal does not say to remove {mark}: {line}")
    else:
        kt.check(not os.path.exists(mark), f"refused at the start, yet {mark} was written")

    empty = copy("empty")
    os.truncate(empty, 0)
    refused(args, config, empty, work, "truncated to 0 bytes", r"empty \(0 bytes\).*--init")

    other = os.path.join(work, "other.db")
    with open(other, "wb") as f:
        f.write(b"incidents,level\nzt-landslide,II\n" * 200)
    refused(args, config, other, work, "not an SQLite file", r"not an SQLite database")

    # The undamaged file starts; so does the empty one with --init, as an empty database.
    for name, path, extra in (("the undamaged copy", copy("whole"), ()),
                              ("the empty file with --init", empty, ("--init",))):
        d = start(args, config, path, os.path.join(work, f"start-{os.path.basename(path)}.log"),
                  extra)
        try:
            d.wait_loop_up()
        finally:
            rc = d.stop()
        kt.check(rc == 0, f"{name}: incidentd exited {rc}")
        kt.check("[critical]" not in d.output(), f"{name}: a critical line:\n{d.output()[-2000:]}")
        kt.log(f"{name}: starts")
    con = sqlite3.connect(empty)
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()
    kt.check(version > 0, f"--init made no incidentd database (user_version {version})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    kt.stop_on_sigterm()
    passed = kt.run_case("damaged_db", lambda work: run(args, work), args.keep,
                         prefix="incidentd-damaged-db-")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
