#!/usr/bin/env python3
"""What a more compact store would weigh, measured on a copy of a real database (issue 18, item 4:
"the timeline row without repeated JSON"). Not a migration and not a test: it copies the
database's timeline and outbox into new files, one per layout below, each step on top of the one
before, and prints for each file the timeline's and the outbox's size per incident and the
file's. The daemon's own file is only read.

  bench/compact_store_probe.py DB [--out DIR]

DB is typically report_bench's fixture (`report_bench --incidents 10000 --year-db DB`).

The layouts, cumulative:
  as stored     the two tables as the daemon writes them (schema 15, or 16 with a step's
                notifications in one row already), copied and packed
  hash as blob  the row's hash as its 32 bytes instead of 64 hex characters, and no prev_hash
                (verify recomputes a row's hash from the row before it in its incident, so the
                stored copy of that row's hash adds nothing but a place to tamper)
  lean body     the body without the fields the row's columns already hold (action, at,
                incident_key, milestone)
  lean notice   a notification's body also without what its outbox row holds (recipient, unit,
                channel, level, notification_id)
  one per step  the notifications of one step (same incident, instant, cause, milestone and
                level) as one timeline row naming its recipients, the way the engine decides
                them; the outbox as before
  lean outbox   the outbox row as what only it knows: the step's row, the recipient, the
                delivery's state, attempts and times; keyed by (step row, recipient), with the
                index of what is pending and one (recipient, step row) for the newest later
                alert to a recipient, which replaces outbox_recipient (rows without a timeline
                row, the operator desk's notices, are left out: the fixture has none)
The other tables (incidents, figures, confirmations, ...) are left out of every layout; their
size is printed once.
"""

import argparse
import json
import os
import sqlite3
import sys
import tempfile
from dataclasses import dataclass

STEP_KEYS = ("action", "at", "incident_key", "milestone")
OUTBOX_KEYS = ("recipient", "unit", "channel", "level", "notification_id")

LEAN_OUTBOX_SQL = """
CREATE TABLE outbox (
  step_seq        INTEGER NOT NULL,
  recipient       TEXT NOT NULL,
  state           INTEGER NOT NULL,
  attempts        INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  delivered_at    INTEGER,
  failing_since   INTEGER,
  last_error      TEXT,
  gave_up         TEXT,
  PRIMARY KEY (step_seq, recipient)) WITHOUT ROWID;
CREATE INDEX outbox_pending ON outbox(next_attempt_at) WHERE state = 0;
CREATE INDEX outbox_recipient ON outbox(recipient, step_seq);
"""

TIMELINE_SQL = """
CREATE TABLE timeline (
  seq          INTEGER PRIMARY KEY,
  incident_key TEXT NOT NULL,
  at           INTEGER NOT NULL,
  action       TEXT NOT NULL,
  milestone    TEXT,
  body         TEXT NOT NULL,
  {hashes}
  incident_seq INTEGER);
CREATE INDEX timeline_incident ON timeline(incident_key, seq);
"""


@dataclass
class Step:
    """The notifications of one step, gathered into the row of the first of them."""
    seq: int
    key: str
    at: int
    milestone: str
    fields: dict  # the body every one of them shares
    recipients: list
    digest: bytes
    incident_seq: int


def compact_json(fields):
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def without(fields, keys):
    return {k: v for k, v in fields.items() if k not in keys}


def table_sizes(path):
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    return dict(rows)


def write_layout(src, src_path, path, layout):
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    hashes = "prev_hash TEXT, hash TEXT," if layout == "as stored" else "hash BLOB,"
    db.executescript(TIMELINE_SQL.format(hashes=hashes))
    if layout == "lean outbox":
        db.executescript(LEAN_OUTBOX_SQL)
    else:
        outbox_sql = src.execute(
            "SELECT sql FROM sqlite_schema WHERE name = 'outbox'").fetchone()[0]
        db.execute(outbox_sql)
        for (sql,) in src.execute("SELECT sql FROM sqlite_schema WHERE type = 'index' AND "
                                  "tbl_name = 'outbox' AND sql IS NOT NULL"):
            db.execute(sql)
    cols = "seq, incident_key, at, action, milestone, body, prev_hash, hash, incident_seq"
    rows = src.execute(f"SELECT {cols} FROM timeline ORDER BY seq")
    batch = []
    step_of = {}  # a notification's seq -> the seq of the step row it went into
    step = None  # the step whose notifications are being gathered (one per step)
    insert = ("INSERT INTO timeline VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)" if layout == "as stored"
              else "INSERT INTO timeline VALUES (?, ?, ?, ?, ?, ?, ?, ?)")

    def flush_step():
        nonlocal step
        if step is None:
            return
        body = compact_json(dict(step.fields, recipients=step.recipients))
        batch.append((step.seq, step.key, step.at, "notification", step.milestone, body,
                      step.digest, step.incident_seq))
        step = None

    for seq, key, at, action, milestone, body, prev_hash, hash_hex, incident_seq in rows:
        if layout == "as stored":
            batch.append((seq, key, at, action, milestone, body, prev_hash, hash_hex, incident_seq))
        else:
            digest = bytes.fromhex(hash_hex)
            if layout == "hash as blob":
                out = body
            else:
                whole = json.loads(body)
                notice = action == "notification" and layout in ("lean notice", "one per step",
                                                                "lean outbox")
                # A schema 16 step row's "recipients" go with the recipient fields.
                fields = without(whole, STEP_KEYS + OUTBOX_KEYS + ("recipients",) if notice
                                 else STEP_KEYS)
                out = compact_json(fields)
            if layout in ("one per step", "lean outbox") and action == "notification":
                recipients = [r["recipient"] for r in whole.get("recipients", [whole])]
                if not (step and (step.key, step.at, step.milestone, step.fields) ==
                        (key, at, milestone, fields)):
                    flush_step()
                    step = Step(seq, key, at, milestone, fields, [], digest, incident_seq)
                step.recipients.extend(recipients)
                step_of[seq] = step.seq
                continue
            flush_step()
            batch.append((seq, key, at, action, milestone, out, digest, incident_seq))
        if len(batch) >= 50000:
            db.executemany(insert, batch)
            batch.clear()
    flush_step()
    db.executemany(insert, batch)
    db.execute("ATTACH DATABASE ? AS src", (src_path,))
    if layout == "lean outbox":
        # Each notification's outbox row names the step row its notification went into.
        db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       ((step_of[o[0]], o[1], 0 if o[2] == "pending" else 1, o[3], o[4], o[5],
                         o[6], o[7], o[8])
                        for o in src.execute(
                            "SELECT timeline_seq, recipient, state, attempts, next_attempt_at, "
                            "delivered_at, failing_since, last_error, gave_up FROM outbox "
                            "WHERE timeline_seq IS NOT NULL")))
    else:
        db.execute("INSERT INTO outbox SELECT * FROM src.outbox")
    db.commit()
    db.execute("DETACH DATABASE src")
    db.execute("VACUUM")
    db.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--out", default=None, help="where the copies go (default: a temp dir)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="compact-store-probe-")
    os.makedirs(out, exist_ok=True)
    src = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    incidents = src.execute("SELECT count(*) FROM incidents").fetchone()[0]
    timeline_rows = src.execute("SELECT count(*) FROM timeline").fetchone()[0]
    whole = table_sizes(args.db)
    kept = {"timeline", "timeline_incident", "outbox", "outbox_pending", "outbox_recipient",
            "sqlite_autoindex_outbox_1"}
    others = sum(v for k, v in whole.items() if k not in kept)
    print(f"{args.db}: {incidents} incidents, {timeline_rows} timeline rows; "
          f"the whole file {sum(whole.values()) / 1024 / incidents:.1f} KiB per incident, "
          f"of which the other tables {others / 1024 / incidents:.1f} KiB")
    for layout in ("as stored", "hash as blob", "lean body", "lean notice", "one per step",
                   "lean outbox"):
        path = os.path.join(out, layout.replace(" ", "_") + ".db")
        write_layout(src, args.db, path, layout)
        sizes = table_sizes(path)
        timeline = sizes.get("timeline", 0) + sizes.get("timeline_incident", 0)
        outbox = sum(v for k, v in sizes.items() if k.startswith(("outbox", "sqlite_autoindex")))
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT count(*) FROM timeline").fetchone()[0]
        print(f"{layout:>13}: timeline {timeline / 1024 / incidents:5.1f} KiB per incident "
              f"({rows} rows, {timeline / rows:.0f} bytes a row with its index entry), "
              f"outbox {outbox / 1024 / incidents:4.1f}, with the other tables "
              f"{(timeline + outbox + others) / 1024 / incidents:5.1f} KiB per incident")
        sys.stdout.flush()
    print(f"copies in {out} (remove when done)")


if __name__ == "__main__":
    main()
