#!/usr/bin/env python3
"""A cluster's replica against a real broker: an instance that owns no input partition holds,
from the state topic alone, what the owner's database holds.

    cluster_replica_test.py --incidentd PATH --incidentctl PATH --source-dir DIR [--keep]

A real Kafka broker (scripts/kafka.sh) with the events and releases topics of ONE partition each
and the state topic compacted with three. Instance A ([cluster] instance_id node-a) starts alone
and processes incidents: level II ones opened at once, some back-dated so that their 2 h warning
falls due a few seconds after they arrive (a timer's change, committed with no input), a level I
one, a confirmation. Then instance B (node-b, the same group) starts on an empty database: it
consumes none of those events (A committed their offsets), and its replica applier reads the
state topic into its database. Then more incidents arrive while both run. Each time, B's
database must equal A's: the incidents' rows and snapshots, deadlines, every incident's timeline
with its hashes, confirmations, incident_figures and the processed ids; and incidentctl verify
(its heads digest), stats and report say the same on both. B's replica_positions reach the state
topic's end. A message on the state topic that is no change record is logged by both appliers
and passed over.

Nobody is alerted here (the escalation reaches a role nobody has): an outbox row would be sent by
both instances' dispatchers until partition ownership is built (docs/cluster.md, "Not built
yet"), each writing its own timeline entries and change records; without alerts the engine
writes no outbox row, which the test checks, so nothing a dispatcher touches is compared. Standard library only; helpers shared with kafka_test.py.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_test as kt  # noqa: E402  (the broker, the daemon and event helpers)

STATE = "incidentd.state"
DLQ = "opinion.events.dlq"
GROUP = "cluster-replica-test"
CASE_BUDGET_S = 240


def create_topic(args, broker, name, partitions, *configs):
    cmd = [os.path.join(args.source_dir, "scripts", "kafka.sh"), "create-topic", "--port",
           str(broker.port), name, "--partitions", str(partitions)]
    for c in configs:
        cmd += ["--config", c]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    kt.check(r.returncode == 0, f"creating {name} failed:\n{r.stdout}{r.stderr}")


def write_config(args, work, broker, instance_id):
    """The example configuration, as one instance of the cluster, whose ladder alerts nobody:
    every escalation level reaches the role "deputy" only (no supervision units), and nobody has
    that role (the deputies become leaders; each unit keeps its duty officers, as check-config
    wants)."""
    path = os.path.join(work, f"{instance_id}.toml")
    kt.write_config(args.source_dir, path, broker, GROUP, DLQ)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text, n = re.subn(r'^roles = \[.*\]$', 'roles = ["deputy"]', text, flags=re.MULTILINE)
    kt.check(n > 0, "config/incidentd.toml has no [[policy.escalation]] roles")
    text = re.sub(r'^supervision_units = \[.*\]\n', "", text, flags=re.MULTILINE)
    text = text.replace('role = "deputy"', 'role = "leader"')
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    kt.add_cluster_section(path, instance_id, state_topic=STATE)
    r = subprocess.run([args.incidentctl, "check-config", path], capture_output=True, text=True,
                       timeout=30)
    kt.check(r.returncode == 0, f"check-config refused {path}:\n{r.stdout}{r.stderr}")
    return path


QUERIES = {
    "incidents": "SELECT incident_key, level, drill, closed, opened_at, clock_start, closed_at, "
                 "title, lead_unit, state FROM incidents ORDER BY incident_key",
    "deadlines": "SELECT * FROM deadlines ORDER BY incident_key, milestone, round, at, action",
    "timeline": "SELECT incident_key, incident_seq, at, action, milestone, body, prev_hash, hash "
                "FROM timeline ORDER BY incident_key, incident_seq",
    "confirmations": "SELECT * FROM confirmations ORDER BY incident_key, unit, confirmation_id",
    "acknowledgements": "SELECT incident_key, recipient, at, via FROM acknowledgements "
                        "ORDER BY incident_key, at, recipient",
    "incident_figures": "SELECT * FROM incident_figures ORDER BY incident_key",
}


def contents(db):
    out = {name: kt.db_query(db, sql) for name, sql in QUERIES.items()}
    out["processed"] = kt.db_processed(db)
    return out


def differences(a, b):
    problems = []
    for name in a:
        if a[name] != b[name]:
            count = len(a[name]) if isinstance(a[name], list) else a[name]
            other = len(b[name]) if isinstance(b[name], list) else b[name]
            problems.append(f"{name}: A has {count}, B has {other} (or they differ)")
    return problems


def ctl(args, config, db, *command):
    r = subprocess.run([args.incidentctl, *command, "--config", config, "--database", db],
                       capture_output=True, text=True, timeout=120)
    kt.check(r.returncode == 0, f"incidentctl {' '.join(command)} on {db} failed:\n"
                                f"{r.stdout}{r.stderr}")
    # The instant it was run at is the one thing that may differ.
    return re.sub(r'"generated_at": *"[^"]*"', '"generated_at": "-"', r.stdout.replace(db, "DATABASE"))


def heads_digest(args, config, db):
    out = ctl(args, config, db, "verify")
    m = re.search(r"heads digest sha256 ([0-9a-f]{64})", out)
    kt.check(m is not None, f"incidentctl verify printed no heads digest:\n{out}")
    return m.group(1)


def readings(args, config, db, keys):
    """What the operator reads on an instance: verify's digest, the statistics, some reports."""
    today = datetime.now(timezone.utc)
    out = {"verify": heads_digest(args, config, db),
           "stats": ctl(args, config, db, "stats", "--from",
                        (today - timedelta(days=2)).strftime("%Y-%m-%d"), "--to",
                        (today + timedelta(days=2)).strftime("%Y-%m-%d"), "--by", "unit",
                        "--format", "json")}
    for key in keys:
        # Whole: a report numbers entries by their place in the incident's chain and quotes the
        # heads digest, not the file's own row numbers, which differ between replicas.
        out[f"report {key}"] = ctl(args, config, db, "report", key, "--format", "json")
    return out


def wait_equal(what, db_a, db_b, timeout):
    last = []

    def agree():
        nonlocal last
        a = contents(db_a)
        last = differences(a, contents(db_b))
        return not last and a["incidents"]

    try:
        kt.wait_for(what, agree, timeout, interval=0.2)
    except kt.Failure:
        raise kt.Failure(f"{what}: B does not hold what A holds:\n" + "\n".join(last))


def topic_ends(broker):
    """The state topic's next offset per partition, read_committed."""
    r = subprocess.run(["kcat", "-Q", "-b", broker.bootstrap, "-t", f"{STATE}:0:-1",
                        "-t", f"{STATE}:1:-1", "-t", f"{STATE}:2:-1",
                        "-X", "isolation.level=read_committed"],
                       capture_output=True, text=True, timeout=60)
    kt.check(r.returncode == 0, f"kcat -Q failed: {r.stderr}")
    ends = {}
    for line in r.stdout.splitlines():
        m = re.search(r"\[(\d+)\]\s+offset\s+(\d+)", line)
        if m:
            ends[int(m.group(1))] = int(m.group(2))
    return ends


def feed(broker, prefix, n, late):
    """n level II incidents (`late` of them with a warning due in ~6 s) and one level I."""
    now = datetime.now(timezone.utc)
    soon = kt.rfc3339(now - timedelta(hours=2) + timedelta(seconds=6))
    messages = [(f"{prefix}-{i}".encode(), kt.event(f"{prefix}-e{i}", f"{prefix}-{i}"))
                for i in range(n)]
    messages += [(f"{prefix}-late-{i}".encode(),
                  kt.event(f"{prefix}-le{i}", f"{prefix}-late-{i}", detected_at=soon))
                 for i in range(late)]
    messages.append((f"{prefix}-i".encode(), kt.event(f"{prefix}-ei", f"{prefix}-i", level="I")))
    broker.produce(kt.EVENTS, messages)
    return n + late + 1


def warnings_fired(db, prefix, arrived):
    """A 2 h warning fired by a timer: later than the catch-up warning at the incident's open."""
    after = arrived + timedelta(seconds=3)
    return any(datetime.fromtimestamp(at / 1000, timezone.utc) > after
               for (at,) in kt.db_query(db, "SELECT at FROM timeline WHERE action = 'warning' "
                                            "AND incident_key LIKE ?", (f"{prefix}-late-%",)))


def run(args, work):
    broker = kt.Broker(args.source_dir, work)
    a = b = None
    try:
        broker.start()
        # One partition each (the same number on every topic: docs/cluster.md, "Ownership"): the
        # instance that has it owns every incident, the other none.
        create_topic(args, broker, kt.EVENTS, 1)
        create_topic(args, broker, kt.RELEASES, 1)
        create_topic(args, broker, STATE, 1, "cleanup.policy=compact")
        config_a = write_config(args, work, broker, "node-a")
        config_b = write_config(args, work, broker, "node-b")
        db_a = os.path.join(work, "a.db")
        db_b = os.path.join(work, "b.db")
        a = kt.Daemon(args.incidentd, config_a, db_a, os.path.join(work, "a.log"))
        a.start()
        a.wait_log(r"kafka: assigned", 60)

        arrived = datetime.now(timezone.utc)
        first = feed(broker, "p1", 40, 4)
        kt.wait_for("A to hold the first incidents",
                    lambda: len(kt.db_query(db_a, "SELECT 1 FROM incidents")) == first, 60)
        broker.produce(kt.RELEASES, [(b"p1-1", kt.confirmation("p1-c1", "p1-1"))])
        kt.wait_for("the confirmation in A", lambda: kt.db_query(
            db_a, "SELECT 1 FROM confirmations"), 60)
        kt.wait_for("A's timers to fire the back-dated warnings",
                    lambda: warnings_fired(db_a, "p1", arrived), 60)
        kt.check(kt.db_count(db_a, "outbox") == 0,
                 "a ladder that alerts nobody made outbox rows: the dispatchers would touch them")

        # A message that is no change record: logged by both appliers and passed over.
        broker.produce(STATE, [(b"junk", b"not a record")])

        started = time.monotonic()
        b = kt.Daemon(args.incidentd, config_b, db_b, os.path.join(work, "b.log"))
        b.start()
        b.wait_log(rf"replica: applying {re.escape(STATE)} \(1 partitions\)", 60)
        wait_equal("B to catch up with A", db_a, db_b, 90)
        kt.log(f"B caught up with A's {first} incidents "
               f"({len(kt.db_query(db_b, 'SELECT 1 FROM timeline'))} timeline rows) "
               f"{time.monotonic() - started:.1f} s after its start")
        kt.check(kt.db_processed(db_b) == kt.db_processed(db_a) > 0,
                 "B's processed ids are not A's")

        # More while both run: whoever holds the partition now processes them, the other applies.
        arrived = datetime.now(timezone.utc)
        second = feed(broker, "p2", 20, 2)
        kt.wait_for("the second incidents in both", lambda: all(
            len(kt.db_query(db, "SELECT 1 FROM incidents WHERE incident_key LIKE 'p2-%'")) == second
            for db in (db_a, db_b)), 90)
        owner = db_a if kt.db_query(db_a, "SELECT 1 FROM incidents WHERE incident_key LIKE "
                                          "'p2-%'") else db_b
        kt.wait_for("the owner's timers to fire the second warnings",
                    lambda: warnings_fired(owner, "p2", arrived), 60)
        wait_equal("B to hold what A holds after the second incidents", db_a, db_b, 60)

        keys = ["p1-1", "p1-late-0", "p1-i", "p2-late-1"]
        ra, rb = readings(args, config_a, db_a, keys), readings(args, config_b, db_b, keys)
        for name in ra:
            kt.check(ra[name] == rb[name], f"incidentctl {name} differs between A and B:\n"
                                           f"A: {ra[name][:2000]}\nB: {rb[name][:2000]}")
        kt.log(f"verify, stats and {len(keys)} reports agree; heads digest {ra['verify'][:16]}...")

        ends = topic_ends(broker)
        kt.check(sum(ends.values()) > 0, f"nothing on {STATE}: {ends}")

        def positions_at_end():
            stored = dict(kt.db_query(db_b, "SELECT partition, next_offset FROM "
                                            "replica_positions WHERE topic = ?", (STATE,)))
            return all(stored.get(p, 0) >= end - 1 for p, end in ends.items() if end > 0)
        # A transaction's commit marker takes the offset after its last record: a position one
        # below the end is the end.
        kt.wait_for("B's replica_positions to reach the state topic's end", positions_at_end, 30)
        for name, daemon in (("B", b), ("A", a)):
            log_text = daemon.output()
            junk = re.findall(rf"replica: {re.escape(STATE)}\[\d\]@\d+ is not a change record, "
                              r"passed over", log_text)
            kt.check(len(junk) == 1, f"{name} logged the message that is no record "
                                     f"{len(junk)} times:\n{log_text[-3000:]}")
            kt.check("cannot be applied here" not in log_text,
                     f"{name} passed a record over:\n{log_text[-3000:]}")
            kt.check(daemon.stop() == 0, f"instance {name} did not stop cleanly")
        a = b = None
    finally:
        for daemon in (a, b):
            if daemon:
                daemon.cleanup()
        broker.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--incidentctl", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    for tool in ("kcat", "java"):
        if shutil.which(tool) is None:
            print(f"cluster_replica_test: {tool} not found (scripts/install-deps.sh installs it)")
            return 1
    kt.stop_on_sigterm()
    return 0 if kt.run_case("cluster_replica", lambda work: run(args, work), args.keep,
                            budget_s=CASE_BUDGET_S) else 1


if __name__ == "__main__":
    sys.exit(main())
