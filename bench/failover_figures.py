"""What the failover bench (bench/failover_bench.py) plans and counts, apart from the running
parts: the incidents whose steps fall due during a run, the steps each database recorded
against that plan, the takeover read from them, duplicate webhook deliveries, and whether
incidentctl reads the same from every database. Standard library only.
"""

import json
import random
import re
import subprocess
import time
import tomllib
import zlib
from datetime import datetime, timedelta, timezone

import kafka_test as kt  # (tests/integration, put on the path by failover_bench.py)

PARTITIONS = 6  # of the events, releases and state topics alike: ownership is per partition
STEP_ACTIONS = ("warning", "target_missed", "deadline_breached")

# ---------------------------------------------------------------------------------------------
# The policy's steps, and incidents whose steps fall due during the run


def first_release_rows(config_path):
    """[(offset ms, action, level)] of the ladder's first_release rows, in order."""
    with open(config_path, "rb") as f:
        ladder = tomllib.load(f)["policy"]["ladder"]
    rows = []
    for row in ladder:
        if row["milestone"] != "first_release":
            continue
        m = re.fullmatch(r"(\d+)h(?:(\d+)m)?", row["at"])
        kt.check(m is not None, f"cannot read the ladder offset {row['at']!r}")
        rows.append(((int(m.group(1)) * 60 + int(m.group(2) or 0)) * 60_000, row["action"],
                     row["level"]))
    rows.sort()
    kt.check(len(rows) >= 2 and rows[0][0] == 0, f"unexpected first_release ladder: {rows}")
    return rows


def partition_of(key):
    """librdkafka's default partitioner (consistent_random): CRC32 of the key."""
    return zlib.crc32(key.encode()) % PARTITIONS


class Incident:
    """One incident: the ladder row falling due during the run (`row`, at `due_ms`) and the row
    before it, acted on at arrival by the catch-up rule."""

    def __init__(self, key, rows, row, due_ms):
        self.key, self.row, self.due_ms = key, row, due_ms
        self.partition = partition_of(key)
        self.detected_ms = due_ms - rows[row][0]
        self.expected = [rows[row - 1][1:], rows[row][1:]]  # (action, level) of both steps
        self.step = rows[row][1:]


def plan_incidents(n, rows, first_due_ms, disruption_ms, window_s, seed):
    """n incidents, a sixth due in [first_due, disruption - 1 s), the rest spread over the
    window after the disruption; every partition gets keys, in-window rows taken in turn."""
    rng = random.Random(seed)
    n_before = max(1, n // 6)
    before = [first_due_ms + i * (disruption_ms - 1000 - first_due_ms) // n_before
              for i in range(n_before)]
    after = [disruption_ms + 500 + i * int(window_s * 1000 - 500) // max(1, n - n_before)
             for i in range(n - n_before)]
    dues = before + after
    rng.shuffle(dues)
    run = f"{int(time.time()) % 100000:05d}"
    incidents = [Incident(f"fo-{run}-{i:04d}", rows, 1 + i % (len(rows) - 1), due)
                 for i, due in enumerate(dues)]
    covered = {i.partition for i in incidents}
    kt.check(len(covered) == PARTITIONS, f"the keys cover partitions {sorted(covered)} only; "
                                         "publish more incidents")
    return incidents


def duplicate_notifications(deliveries):
    seen, duplicates = set(), 0
    for _, _, nid, _ in deliveries:
        duplicates += nid in seen
        seen.add(nid)
    return duplicates


# ---------------------------------------------------------------------------------------------
# Reading the steps back


def recorded_steps(db, prefix):
    """{incident: [(action, level, at ms)]} of the ladder steps in one database's timeline."""
    out = {}
    rows = kt.db_query(db, "SELECT incident_key, at, action, body FROM timeline WHERE "
                           "milestone = 'first_release' AND incident_key LIKE ?", (prefix + "%",))
    for key, at, action, body in rows:
        if action in STEP_ACTIONS:
            out.setdefault(key, []).append((action, json.loads(body).get("level"), at))
    return out


def known_incidents(db, prefix):
    return {r[0] for r in kt.db_query(db, "SELECT incident_key FROM incidents "
                                          "WHERE incident_key LIKE ?", (prefix + "%",))}


def count_steps(incidents, steps, present):
    """(events lost, steps lost, steps doubled) of one database against the plan."""
    events_lost = steps_lost = doubled = 0
    for i in incidents:
        events_lost += i.key not in present
        got = [(a, lvl) for a, lvl, _ in steps.get(i.key, [])]
        for sig in set(i.expected) | set(got):
            want, have = i.expected.count(sig), got.count(sig)
            steps_lost += max(0, want - have)
            doubled += max(0, have - want)
    return events_lost, steps_lost, doubled


def in_window_fired_at(incident, steps):
    """When the step due during the run was acted on (the later of two alike), or None."""
    ats = [at for a, lvl, at in steps.get(incident.key, []) if (a, lvl) == incident.step]
    return max(ats) if len(ats) == incident.expected.count(incident.step) else None


def all_steps_in(dbs, incidents, prefix):
    """True once every database given holds every expected step (the end of a run waits on it)."""
    for db in dbs:
        if count_steps(incidents, recorded_steps(db, prefix), known_incidents(db, prefix))[1]:
            return False
    return True


def worst_counts(dbs, incidents, prefix):
    """Per database (events lost, steps lost, doubled), and the worst of each over them."""
    per = {name: count_steps(incidents, recorded_steps(db, prefix), known_incidents(db, prefix))
           for name, db in dbs.items()}
    worst = tuple(max(v[k] for v in per.values()) for k in range(3))
    return per, worst


def takeover(dbs, victims, since_ms, until_ms=None):
    """The first step of the victim's incidents acted on after `since_ms` (and before `until_ms`)
    in any database given, and the latest lateness of the steps due between then and it."""
    first = None
    for db in dbs.values():
        steps = recorded_steps(db, "fo-")
        for i in victims:
            for _, _, at in steps.get(i.key, []):
                if at > since_ms and (until_ms is None or at < until_ms):
                    first = at if first is None else min(first, at)
    if first is None:
        return None, None
    late = []
    for db in dbs.values():
        steps = recorded_steps(db, "fo-")
        for i in victims:
            at = in_window_fired_at(i, steps)
            if since_ms <= i.due_ms <= first and at is not None:
                late.append(at - i.due_ms)
    return first, max(late) if late else 0


# ---------------------------------------------------------------------------------------------
# Reads agree


GENERATED_AT = re.compile(r'"generated_at": *"[^"]*"')  # the instant incidentctl ran


def reads(args, db, keys):
    """What incidentctl prints of one database: report of some incidents, stats, verify."""
    today = datetime.now(timezone.utc)
    commands = [[f"report {k}", "report", k, "--format", "json"] for k in keys]
    commands.append(["stats", "stats", "--from", (today - timedelta(days=2)).strftime("%Y-%m-%d"),
                     "--to", (today + timedelta(days=1)).strftime("%Y-%m-%d"), "--format", "json"])
    commands.append(["verify", "verify"])
    out = {}
    for name, *argv in commands:
        r = subprocess.run([args.incidentctl, *argv, "--database", db], capture_output=True,
                           text=True, timeout=120)
        text = (r.stdout + r.stderr).replace(db, "DATABASE")
        out[name] = (r.returncode, GENERATED_AT.sub('"generated_at": "-"', text))
    return out


def reads_agree(args, dbs, incidents):
    """'yes', or 'no (...)' naming what differs between which databases."""
    keys = sorted({i.partition: i.key for i in incidents}.values())
    per = {name: reads(args, db, keys) for name, db in dbs.items()}
    names = sorted(per)
    differ = [f"{what} ({names[0]} vs {n})" for what in per[names[0]] for n in names[1:]
              if per[n][what] != per[names[0]][what]]
    if not differ:
        return "yes", True
    shown = ", ".join(differ[:6]) + (f" and {len(differ) - 6} more" if len(differ) > 6 else "")
    return f"no: {shown}", False
