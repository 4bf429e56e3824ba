#!/usr/bin/env python3
"""A full disk under the database: the real daemon on a real broker, its database on a small tmpfs.

    disk_full_test.py --incidentd PATH --incidentctl PATH --source-dir DIR [--keep]

Needs root (it mounts a tmpfs; it is unmounted whatever happens); without it the test reports
itself skipped (exit 77). The daemon runs a drill (--time-scale 360: 2 h of clock in 20 s) with
[http] on. Then:

1. 201 events are applied. A filler file takes every free byte of the tmpfs and 3000 more events
   are published: the commit finds the disk full. The daemon logs one "disk full" line naming the
   database, /readyz answers 503 {"ready": false, "reason": "disk full: <db>"}, /metrics says
   incidentd_disk_full 1, nothing more is applied, and the daemon does not exit.
2. The clocks keep running: the drill incident's 2 h warning falls due during the pause and is
   acted on then (the daemon logs it); it cannot be written yet. The loop is alive: systemd's
   watchdog (NOTIFY_SOCKET and WATCHDOG_USEC of the test's own socket) gets WATCHDOG=1 during
   the pause, and STATUS= says "PAUSED, disk full: <db>".
3. The filler is deleted: the daemon resumes by itself (one line), /readyz is 200 again, every
   event is applied exactly once (processed ids, incidents), the warning is in the timeline once,
   with the instant it fired during the pause.
4. The disk is filled again, 300 more events are published, the daemon pauses, and is SIGKILLed
   while paused; the filler is deleted and the daemon started again: every event is applied once
   (the paused batch's offsets were not committed, so Kafka delivers it again).
5. Full again, 100 more events, paused, and SIGTERM: the daemon exits 1 within seconds, saying
   it stops while the disk is full; started again with room, all 3601 are applied once.
6. `incidentctl check-db` and `incidentctl verify` pass.
Every wait polls a condition against a deadline. Standard library only.
"""

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_test as kt  # noqa: E402  (the broker, the daemon and event helpers)

SCALE = 360  # 2 h of clock in 20 s of real time
# Room for the WAL of the 3000 events after the first pause, with a margin: under load the WAL
# checkpoint falls behind and the WAL grows (at 32m a run under a loaded machine paused again by
# itself after the first pause had ended). Since the incidents that acted commit in parts
# (2026-12-07) the same events write more WAL: the release build's WAL peaked at 9.6 MB in this
# test against 6.7 MB before, and under AddressSanitizer, whose slower parts are smaller, a run
# filled 64m with WAL alone (67 MB) and paused again.
TMPFS_SIZE = "128m"
PAUSE_LINE = r"disk full: (\S+): paused"
RESUME_LINE = r"disk full: \S+: room again after"
BATCH_COMMIT = ". commit ("  # the pause line names the write that found the disk full


def http(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError) as e:  # not listening yet
        return None, str(e)


def metric(port, name):
    _, text = http(port, "/metrics")
    m = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


class NotifySocket:
    """What systemd does for a Type=notify unit: a datagram socket named by NOTIFY_SOCKET. Every
    datagram is kept with the time it came."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.received = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            with self.lock:
                self.received.append((time.time(), data.decode(errors="replace")))

    def since(self, t):
        with self.lock:
            return [text for at, text in self.received if at >= t]

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def fill(directory):
    """Writes a filler file until the file system is full; returns its path and size."""
    path = os.path.join(directory, "filler")
    written = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                written += f.write(chunk)
            except OSError:
                break
    # The last partial block, byte by byte is too slow: 4 KiB at a time, then single bytes.
    for size in (4096, 1):
        with open(path, "ab", buffering=0) as f:
            while True:
                try:
                    written += f.write(b"\0" * size)
                except OSError:
                    break
    return path, written


def write_config(args, work, broker, http_port):
    config = os.path.join(work, "incidentd.toml")
    kt.write_config(args.source_dir, config, broker, "disk-full", "opinion.events.dlq")
    with open(config, encoding="utf-8") as f:
        text = f.read()
    head = text.index("\n[http]\n")
    nxt = re.compile(r"^\[", re.MULTILINE).search(text, head + 8)
    stop = nxt.start() if nxt else len(text)
    body = text[head:stop]
    body, n1 = re.subn(r"^enabled = .*$", "enabled = true", body, count=1, flags=re.MULTILINE)
    body, n2 = re.subn(r"^port = .*$", f"port = {http_port}", body, count=1, flags=re.MULTILINE)
    kt.check(n1 == 1 and n2 == 1, "config/incidentd.toml has no [http] enabled/port")
    text = text[:head] + body + text[stop:]
    # Nobody here can be reached, and on the scaled clock the default hour is 10 s: every failed
    # send would be retried within 1.7 s (retry_max 10 m), handed to another channel or given up
    # (the operator desk's notices), each a write at a moment of the dispatcher's own. Steps 4
    # and 5 need the batch's commit to be the first write to find the disk full: with these, a
    # notification is tried once and then not again for 720 h (2 h real), and fill_when_quiet
    # waits until every notification has had that one try.
    for name in ("retry_base", "retry_max", "fallback_after", "give_up_after"):
        text, n3 = re.subn(rf'^{name} = .*$', f'{name} = "720h"', text, count=1,
                           flags=re.MULTILINE)
        kt.check(n3 == 1, f"config/incidentd.toml has no {name}")
    with open(config, "w", encoding="utf-8") as f:
        f.write(text)
    return config


def give_back_wal(db):
    """Checkpoints the WAL and truncates it, so that filling the disk leaves SQLite no room. A WAL
    that once grew keeps its length and is written again from its start after a checkpoint: a
    filler that takes only the free bytes would then leave the next commits room in the WAL
    (since the incidents that acted commit in parts, a run under AddressSanitizer grew it to
    67 MB and took 300 more events without a pause)."""
    con = sqlite3.connect(db, timeout=30)
    try:
        busy, _, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        con.close()
    kt.check(busy == 0, "the WAL could not be checkpointed and truncated before filling the disk")


def fill_when_quiet(db, mnt, scaled):
    """Fills the disk at a moment when the next batch's commit is the only write to come soon.
    The other writers: the dispatcher (a claim and a result per try; after its one try a
    notification waits 720 h, see write_config) and the daemon's heartbeat, every 5 s of real
    time. So: wait until no notification is due within a minute, then for a heartbeat, and fill
    at once (the fill and the batch take well under a second, even under the sanitizers)."""
    def quiet():
        horizon = int(scaled(time.time() + 60).timestamp() * 1000)
        return kt.db_query(db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND "
                               "next_attempt_at < ?", (horizon,))[0][0] == 0
    kt.wait_for("every notification tried once, none due within a minute", quiet, 60,
                interval=0.2)

    def alive_at():
        return kt.db_query(db, "SELECT alive_at FROM daemon_runs ORDER BY run DESC LIMIT 1")[0][0]
    before = alive_at()
    kt.wait_for("a heartbeat", lambda: alive_at() != before, 15, interval=0.05)
    give_back_wal(db)
    return fill(mnt)


def events(prefix, n, detected):
    return [(f"drill-{prefix}{i}".encode(),
             kt.event(f"{prefix}{i}", f"drill-{prefix}{i}", level="IV", drill=True,
                      detected_at=kt.rfc3339(detected)))
            for i in range(n)]


def run(args, work, mnt):
    broker = kt.Broker(args.source_dir, work)
    daemon = None
    filler = None
    notify = NotifySocket(os.path.join(work, "notify.sock"))
    # The daemon inherits them: a watchdog of 2 s means a ping every second.
    os.environ["NOTIFY_SOCKET"] = notify.path
    os.environ["WATCHDOG_USEC"] = "2000000"
    try:
        broker.start()
        broker.ensure_topics(kt.EVENTS, kt.RELEASES)
        config = write_config(args, work, broker, 0)  # the daemon binds a free port, logs it
        db = os.path.join(mnt, "incidentd.db")
        logfile = os.path.join(work, "incidentd.log")
        daemon = kt.Daemon(args.incidentd, config, db, logfile, ["--time-scale", str(SCALE)])
        daemon.start()
        origin_ms = int(daemon.wait_log(r"scaled clock origin_ms=(\d+)", 60).group(1))

        def scaled(real_s):
            return datetime.fromtimestamp(
                (origin_ms + (real_s * 1000 - origin_ms) * SCALE) / 1000, timezone.utc)

        def real_of(at):
            ms = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() * 1000
            return (origin_ms + (ms - origin_ms) / SCALE) / 1000

        http_port = daemon.http_port()
        kt.wait_for("/readyz 200", lambda: http(http_port, "/readyz")[0] == 200, 90, interval=0.2)

        # 1. Applied while there is room; then the disk fills and a big batch cannot be written.
        detected_real = time.time()
        first = [(b"drill-1", kt.event("d1", "drill-1", drill=True,
                                       detected_at=kt.rfc3339(scaled(detected_real))))]
        first += events("a", 200, scaled(detected_real))
        broker.produce(kt.EVENTS, first)
        kt.wait_for("the first 201 events durable", lambda: kt.db_count(db, "processed") == 201,
                    60, interval=0.2)
        filler, size = fill(mnt)
        kt.log(f"filler: {size} bytes; free now {shutil.disk_usage(mnt).free} bytes")
        broker.produce(kt.EVENTS, events("b", 3000, scaled(time.time())))
        match = daemon.wait_log(PAUSE_LINE, 60)
        paused_real = time.time()
        kt.check(match.group(1) == db, f"the disk-full line names {match.group(1)}, not {db}")
        status, body = http(http_port, "/readyz")
        kt.check(status == 503, f"/readyz answered {status} while the disk is full")
        ready = json.loads(body)
        kt.check(ready.get("ready") is False and ready.get("reason") == f"disk full: {db}",
                 f"/readyz body while paused: {body}")
        kt.check(metric(http_port, "incidentd_disk_full") == 1, "incidentd_disk_full is not 1")
        kt.log(f"paused: /readyz {status} {body}")

        # 2. The clocks run on: the 2 h warning (20 s after detection) is acted on in the pause.
        def warned():
            return re.search(r"action .*drill-1.*warning", daemon.output()[match.end():])
        kt.wait_for("the drill's 2 h warning acted on during the pause", warned,
                    max(5.0, detected_real + 40 - time.time()), interval=0.2)
        pings = [t for t in notify.since(paused_real + 1) if t == "WATCHDOG=1"]
        kt.check(len(pings) >= 3, f"{len(pings)} watchdog pings during the pause")
        status_line = f"STATUS=PAUSED, disk full: {db}; "
        kt.check(any(t.startswith(status_line) for t in notify.since(paused_real - 1)),
                 f"no {status_line!r} during the pause: {notify.since(paused_real - 1)[-5:]}")
        kt.log(f"during the pause: {len(pings)} watchdog pings, STATUS= says why")
        held = kt.db_count(db, "processed")
        kt.check(held == 201, f"{held} events durable during the pause, not 201")
        kt.check(daemon.proc.poll() is None, "incidentd exited during the pause")
        kt.check(len(re.findall(PAUSE_LINE, daemon.output())) == 1,
                 "more than one disk-full line for one pause")
        kt.check(metric(http_port, "incidentd_disk_full_retries_total") >= 1,
                 "no retry counted during the pause")

        # 3. Room again: it resumes by itself, everything once.
        os.remove(filler)
        filler = None
        freed_real = time.time()
        daemon.wait_log(RESUME_LINE, 60)
        kt.wait_for("/readyz 200 after the pause", lambda: http(http_port, "/readyz")[0] == 200,
                    30, interval=0.2)
        kt.wait_for("STATUS= without PAUSED after the pause",
                    lambda: any(t.startswith("STATUS=") and "PAUSED" not in t
                                for t in notify.since(freed_real)), 30, interval=0.2)
        kt.wait_for("all 3201 events durable", lambda: kt.db_count(db, "processed") == 3201, 120,
                    interval=0.2)
        kt.check(kt.db_count(db, "incidents") == 3201,
                 f"{kt.db_count(db, 'incidents')} incidents, not 3201")
        warnings = kt.entries(db, "WHERE incident_key = 'drill-1' AND action = 'warning' AND "
                                  "body NOT LIKE '%\"opening\":true%'")
        kt.check(warnings, "the warning acted on during the pause is not in the timeline")
        steps = [(w["at"], w["due"]) for w in warnings]
        kt.check(len(steps) == len(set(steps)), f"a warning is in the timeline twice: {steps}")
        fired = real_of(steps[0][0])  # the 2 h warning: the first after the alert at open
        kt.check(paused_real - 1 <= fired <= freed_real,
                 f"the 2 h warning fired at {fired:.1f}, not within the pause "
                 f"[{paused_real:.1f}, {freed_real:.1f}]")
        kt.log(f"2 h warning fired {fired - paused_real:.1f} s into the pause, written after it")
        kt.check(len(re.findall(RESUME_LINE, daemon.output())) == 1, "not one resume line")

        # 4. Full again, then SIGKILL while paused: the batch not durable comes again. drill-1 is
        # closed first, so its clock writes nothing more, and fill_when_quiet waits out the
        # dispatcher and the heartbeat: the first commit to find the disk full is the batch's
        # own, the path that must hold its offsets back (checked on the pause line).
        broker.produce(kt.EVENTS, [(b"drill-1", kt.event("d1-close", "drill-1", kind="closed",
                                                         drill=True,
                                                         detected_at=kt.rfc3339(scaled(time.time()))))])
        kt.wait_for("drill-1 closed", lambda: kt.db_query(
            db, "SELECT 1 FROM incidents WHERE incident_key = 'drill-1' AND closed = 1"), 30,
            interval=0.2)
        offset_before = len(daemon.output())
        filler, _ = fill_when_quiet(db, mnt, scaled)
        broker.produce(kt.EVENTS, events("c", 300, scaled(time.time())))
        second = None
        try:
            second = kt.wait_for("a second pause", lambda: re.search(
                PAUSE_LINE + r".*$", daemon.output()[offset_before:], re.MULTILINE), 60,
                interval=0.1)
        finally:
            if second is None:
                lines = [m.group(0) for m in re.finditer(r"^.*disk full: .*$", daemon.output(),
                                                         re.MULTILINE)]
                kt.log(f"disk-full lines so far ({len(lines)}): {lines[-6:]}; "
                       f"free {shutil.disk_usage(mnt).free} bytes; "
                       f"files {sorted(os.listdir(mnt))}")
        kt.check(BATCH_COMMIT in second.group(0),
                 f"the second pause began at another write than the batch's: {second.group(0)}")
        kt.check(kt.db_count(db, "processed") == 3202, "events written during the second pause")
        # Three retries (0.5 + 1 + 2 s): time for the consumer's transactions to go out, so a
        # consumer that committed the paused batch's offsets would have done it by now.
        retries = metric(http_port, "incidentd_disk_full_retries_total")
        kt.wait_for("three retries in the second pause",
                    lambda: metric(http_port, "incidentd_disk_full_retries_total") >= retries + 3,
                    30, interval=0.2)
        daemon.kill()
        os.remove(filler)
        filler = None
        daemon.start()
        kt.wait_for("all 3502 events durable after the restart",
                    lambda: kt.db_count(db, "processed") == 3502, 120, interval=0.2)
        kt.check(kt.db_count(db, "incidents") == 3501,
                 f"{kt.db_count(db, 'incidents')} incidents, not 3501")
        # 5. Full again and stopped with SIGTERM while paused: exit 1, the batch comes again.
        offset_before = len(daemon.output())
        filler, _ = fill_when_quiet(db, mnt, scaled)
        broker.produce(kt.EVENTS, events("f", 100, scaled(time.time())))  # "d1" is drill-1's
        kt.wait_for("a third pause", lambda: re.search(PAUSE_LINE, daemon.output()[offset_before:]),
                    60, interval=0.1)
        t0 = time.monotonic()
        rc = daemon.stop()
        kt.check(rc == 1, f"incidentd exited {rc} on SIGTERM while paused, not 1")
        kt.check(time.monotonic() - t0 < 20, "SIGTERM while paused took over 20 s")
        kt.check(kt.db_count(db, "processed") == 3502, "events written during the third pause")
        os.remove(filler)
        filler = None
        daemon.start()
        kt.wait_for("all 3602 events durable after the restart",
                    lambda: kt.db_count(db, "processed") == 3602, 120, interval=0.2)
        kt.check(kt.db_count(db, "incidents") == 3601,
                 f"{kt.db_count(db, 'incidents')} incidents, not 3601")
        kt.check("stopping while the database's disk is full" in daemon.output(since_start=False),
                 "no line saying it stopped while the disk was full")
        rc = daemon.stop()
        daemon = None
        kt.check(rc == 0, f"incidentd exited {rc} on SIGTERM")

        # 6. The database is consistent and its chain intact.
        for argv in (["check-db", "--database", db], ["verify", "--database", db]):
            r = subprocess.run([args.incidentctl, *argv], capture_output=True, text=True,
                               timeout=120)
            kt.check(r.returncode == 0, f"incidentctl {' '.join(argv)}: {r.stdout}{r.stderr}")
            kt.log(f"incidentctl {argv[0]}: {r.stdout.strip().splitlines()[-1:]}")
    finally:
        if filler and os.path.exists(filler):
            os.remove(filler)
        if daemon is not None:
            daemon.cleanup()
        notify.close()
        broker.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--incidentctl", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("disk_full_test: SKIPPED: mounting a tmpfs needs root")
        return 77
    kt.stop_on_sigterm()
    mnt = tempfile.mkdtemp(prefix="incidentd-disk-full-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"disk_full_test: SKIPPED: cannot mount a tmpfs: {r.stderr.strip()}")
        os.rmdir(mnt)
        return 77

    def body(work):
        try:
            run(args, work, mnt)
        except BaseException:
            for name in os.listdir(mnt):  # the database, for a look after the tmpfs is gone
                if name.startswith("incidentd.db"):
                    shutil.copyfile(os.path.join(mnt, name), os.path.join(work, name))
            raise

    try:
        passed = kt.run_case("disk_full", body, args.keep, tail=6000)
    finally:
        subprocess.run(["umount", mnt], check=False)
        os.rmdir(mnt)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
