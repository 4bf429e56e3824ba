#!/usr/bin/env python3
"""Commits the state topic never got (docs/cluster.md): a cluster member killed between its
SQLite commits and the Kafka transaction that would carry their change records undoes them at
its next start, so its database again holds exactly what the topic holds, and nothing is lost.

    cluster_unpublished_test.py --incidentd PATH --incidentctl PATH --source-dir DIR [--keep]

A real Kafka broker (scripts/kafka.sh) with the events, releases, inputs and (compacted) state
topics; one instance with [cluster] and its HTTP API. An incident is opened, and four more whose
2 h warnings fall due some seconds later. Once the state topic agrees with the database, the
broker is paused (SIGSTOP: nothing it was sent is lost, nothing more commits), the first incident
is acknowledged through the API (answered at once: its owner applies it to SQLite), the four
warnings fire, and the daemon is killed (SIGKILL) with all of that in its database and none of it
on the topic. The broker resumes and the daemon starts again. It must say it undid the commits the
topic never got and forwarded the acknowledgement again; then, until they agree: the topic folds
exactly to the database (as in cluster_state_test.py), the acknowledgement is there once (via
http), each warning fired once, and the commit journal has forgotten what the topic holds.
Without the undo the database keeps the killed run's rows and the topic never gets them.
Standard library only.
"""

import argparse
import os
import secrets
import shutil
import signal
import sys
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_inputs_test as cit  # noqa: E402  (topics, configuration, the API, timelines)
import cluster_state_test as cst  # noqa: E402  (the topic folded, compared with the database)
import kafka_test as kt  # noqa: E402  (the broker, the daemon and event helpers)

CASE_BUDGET_S = 240
ACKED = "unpub-ack"
LATE = [f"unpub-late-{n}" for n in range(4)]


def journal(db):
    """(rows, lowest seq, highest seq) of the commit journal."""
    return tuple(kt.db_query(db, "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) "
                                 "FROM commit_journal")[0])


def warnings(db, key):
    """The first release's warnings after the alert at open (its `opening` entry)."""
    return [a for a in cit.timeline(db, key, "warning")
            if a.get("milestone") == "first_release" and not a.get("opening")]


def agreement(broker, db):
    """The differences between the folded topic and the database (empty: they agree)."""
    return cst.differences(cst.fold(cst.read_committed(broker, cst.STATE)),
                           cst.from_database(db))


def run(args, work, broker):
    cit.create_topics(args, broker)
    token = secrets.token_urlsafe(24)
    config = os.path.join(work, "a.toml")
    db = os.path.join(work, "a.db")
    cit.write_instance_config(args, config, broker, "host-a", 0, token)  # a free port, logged
    daemon = kt.Daemon(args.incidentd, config, db, os.path.join(work, "a.log"))
    paused = False
    try:
        daemon.start()
        port = daemon.http_port()
        daemon.wait_log(r"kafka: assigned ", 60)
        cit.open_incident(broker, ACKED, {"a": db})
        due = datetime.now(timezone.utc) + timedelta(seconds=12)
        broker.produce(kt.EVENTS, [(k.encode(), kt.event(f"{k}-e1", k, detected_at=kt.rfc3339(
            due - timedelta(hours=2)))) for k in LATE])
        kt.wait_for("the late incidents in the database", lambda: len(kt.db_query(
            db, "SELECT 1 FROM incidents")) == 1 + len(LATE), 30, 0.1)
        kt.wait_for("the state topic to agree with the database",
                    lambda: not agreement(broker, db), 30, 0.5)

        os.kill(broker.node_pid(1), signal.SIGSTOP)
        paused = True
        paused_at = datetime.now(timezone.utc)
        kt.log(f"broker paused; the warnings fall due in {(due - paused_at).total_seconds():.1f} s")
        status, body = cit.post(port, f"/v1/incidents/{ACKED}/ack", token,
                                {"recipient": cit.RECIPIENT})
        kt.check(status == 200, f"the owner's API answered {status}: {body}")
        kt.wait_for("the four warnings in the database",
                    lambda: all(warnings(db, k) for k in LATE), 40, 0.1)
        rows, _, killed_last = journal(db)
        kt.check(rows > 0, "nothing in the commit journal while the topic could not be written")
        kt.check(len(cit.timeline(db, ACKED, "acknowledged")) == 1, "the acknowledgement is not in")
        daemon.kill()
        kt.log(f"killed with {rows} journalled commit(s) (up to {killed_last}); broker resumed")
        os.kill(broker.node_pid(1), signal.SIGCONT)
        paused = False

        daemon.start()
        undone = daemon.wait_log(r"start: (\d+) commit\(s\) of the last run never reached", 90)
        kt.check(undone, "the start does not say it undid the commits the topic never got")
        kt.check(daemon.wait_log(
            rf"start: the undone acknowledgement of incident {ACKED} forwarded again", 30),
            "the undone acknowledgement was not forwarded again")
        last = []

        def settled():
            nonlocal last
            last = agreement(broker, db)
            acks = cit.timeline(db, ACKED, "acknowledged")
            fired = {k: len(warnings(db, k)) for k in LATE}
            if last or len(acks) != 1 or set(fired.values()) != {1}:
                last = last or [f"acknowledged {len(acks)} time(s), warnings {fired}"]
                return False
            return acks[0]

        try:
            ack = kt.wait_for("the topic and the database to agree, with the acknowledgement and "
                              "each warning once", settled, 60, 0.5)
        except kt.Failure:
            raise kt.Failure("after the restart:\n" + "\n".join(last))
        kt.check(ack["recipient"] == cit.RECIPIENT and ack["via"] == "http", f"acknowledged: {ack}")
        kt.wait_for("the commit journal to forget what the topic holds",
                    lambda: journal(db)[1] > killed_last or journal(db)[0] == 0, 30, 0.5)
        kt.log(f"PASS: {undone.group(1)} commit(s) undone; "
               "the acknowledgement forwarded and applied once, each warning fired once, the topic "
               "and the database agree")
        kt.check(daemon.stop() == 0, "incidentd did not stop cleanly")
    finally:
        if paused:
            os.kill(broker.node_pid(1), signal.SIGCONT)
        daemon.cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--incidentctl", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    for tool in ("kcat", "java"):
        if shutil.which(tool) is None:
            print(f"cluster_unpublished_test: {tool} not found (scripts/install-deps.sh installs it)")
            return 1
    kt.stop_on_sigterm()

    def body(work):
        broker = kt.Broker(args.source_dir, work)
        try:
            broker.start()
            run(args, work, broker)
        finally:
            broker.stop()
    passed = kt.run_case("unpublished", body, args.keep, prefix="incidentd-unpublished-",
                         budget_s=CASE_BUDGET_S)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
