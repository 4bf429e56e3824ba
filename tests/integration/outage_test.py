#!/usr/bin/env python3
"""The record shows an outage: the real daemon, SIGKILLed, then started again.

    outage_test.py --incidentd PATH --incidentctl PATH --source-dir DIR [--keep]

A level II incident arrives through a real Kafka broker (scripts/kafka.sh, as in kafka_test.py);
once the daemon has recorded a heartbeat after it, the daemon is SIGKILLed, stays down a few
seconds, and is started again. Then, from the database:
- the incident's timeline holds one daemon_outage entry, and `incidentctl report --format json`
  shows it as a gap of kind daemon_outage whose start lies between the last heartbeat seen
  before the kill and the kill, and whose end between the restart and the daemon's log of it;
- a clean stop (SIGTERM) and another start record no second outage;
- `incidentctl check-db` passes and `incidentctl verify` finds the chain intact.
Every wait polls a condition against a deadline. Standard library only.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_test as kt  # noqa: E402  (the broker, the daemon and event helpers)

# How long the daemon stays down: the outage the report must show is at least this long.
DOWN_S = 3.0


def now_ms():
    return int(time.time() * 1000)


def last_alive(db):
    rows = kt.db_query(db, "SELECT alive_at, started_at FROM daemon_runs ORDER BY run DESC LIMIT 1")
    return rows[0] if rows else None


def outages(db, key):
    return kt.db_query(db, "SELECT body FROM timeline WHERE incident_key = ? AND "
                           "action = 'daemon_outage' ORDER BY seq", (key,))


def ctl(args, *argv):
    return subprocess.run([args.incidentctl, *argv], capture_output=True, text=True, timeout=120)


def parse_ms(text):
    # incidentctl prints RFC 3339 with an offset and milliseconds where there are any.
    from datetime import datetime
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def run(args, work):
    broker = kt.Broker(args.source_dir, work)
    daemon = None
    try:
        broker.start()
        broker.ensure_topics(kt.EVENTS, kt.RELEASES)
        config = os.path.join(work, "incidentd.toml")
        kt.write_config(args.source_dir, config, broker, "outage-test", "opinion.events.dlq")
        db = os.path.join(work, "incidentd.db")
        logfile = os.path.join(work, "incidentd.log")
        key = "outage-1"

        daemon = kt.Daemon(args.incidentd, config, db, logfile)
        daemon.start()
        daemon.wait_log(r"open incidents", 60)
        broker.produce(kt.EVENTS, [(key.encode(), kt.event("outage-e1", key))])
        kt.wait_for("the incident in the database",
                    lambda: kt.db_query(db, "SELECT 1 FROM incidents WHERE incident_key = ?",
                                        (key,)), 60)
        opened_ms = now_ms()
        # A heartbeat after the incident: the outage must start no earlier than it.
        alive_ms = kt.wait_for("a heartbeat after the incident",
                               lambda: (lambda r: r[0] if r and r[0] >= opened_ms else None)(
                                   last_alive(db)), 30, interval=0.2)
        killed_ms = now_ms()
        daemon.kill()
        time.sleep(DOWN_S)  # the outage itself, not a wait for anything
        restarted_ms = now_ms()
        daemon = kt.Daemon(args.incidentd, config, db, logfile)
        daemon.start()
        daemon.wait_log(r"open incidents", 60)
        logged_ms = now_ms()
        kt.check(daemon.wait_log(r"did not stop cleanly", 5), "no outage in the daemon's log")

        rows = outages(db, key)
        kt.check(len(rows) == 1, f"want one daemon_outage entry, found {len(rows)}")
        report = ctl(args, "report", key, "--database", db, "--format", "json")
        kt.check(report.returncode == 0, f"incidentctl report failed: {report.stderr}")
        gaps = [g for g in json.loads(report.stdout)["gaps"] if g["kind"] == "daemon_outage"]
        kt.check(len(gaps) == 1, f"want one daemon_outage gap in the report, found {gaps}")
        since, until = parse_ms(gaps[0]["since"]), parse_ms(gaps[0]["at"])
        kt.log(f"outage in the report: {gaps[0]['since']} to {gaps[0]['at']} "
               f"({gaps[0]['delay_seconds']} s); killed at {killed_ms}, restarted at {restarted_ms}")
        # The report prints whole seconds where the store keeps milliseconds: allow one second.
        kt.check(alive_ms - 1000 <= since <= killed_ms,
                 f"the outage starts at {since}, not between the last heartbeat {alive_ms} and "
                 f"the kill {killed_ms}")
        kt.check(restarted_ms - 1000 <= until <= logged_ms,
                 f"the outage ends at {until}, not between the restart {restarted_ms} and "
                 f"{logged_ms}")
        kt.check(until - since >= DOWN_S * 1000 - 1000,
                 f"an outage of {until - since} ms is shorter than the {DOWN_S} s down")

        # A clean stop is no outage.
        daemon.wait_log(r"kafka: assigned", 60)
        kt.check(daemon.stop() == 0, "incidentd did not stop cleanly")
        daemon = kt.Daemon(args.incidentd, config, db, logfile)
        daemon.start()
        # A stop before the consumer has its partitions is not a clean one (exit status 1).
        daemon.wait_log(r"kafka: assigned", 60)
        kt.check(daemon.stop() == 0, "incidentd did not stop cleanly")
        kt.check(len(outages(db, key)) == 1, "a clean stop was recorded as an outage")

        check_db = ctl(args, "check-db", "--database", db)
        kt.check(check_db.returncode == 0, f"check-db failed:\n{check_db.stdout}{check_db.stderr}")
        verify = ctl(args, "verify", "--database", db)
        kt.check(verify.returncode == 0 and "intact" in verify.stdout,
                 f"verify failed: {verify.stdout}{verify.stderr}")
    finally:
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
            print(f"outage_test: {tool} not found (scripts/install-deps.sh installs it)")
            return 1
    kt.stop_on_sigterm()
    return 0 if kt.run_case("outage", lambda work: run(args, work), args.keep) else 1


if __name__ == "__main__":
    sys.exit(main())
