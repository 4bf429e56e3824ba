#!/usr/bin/env python3
"""The state topic against a real broker: with [cluster] on, every change the daemon commits
reaches `incidentd.state`, and what a read_committed reader folds from it is the database.

    cluster_state_test.py --incidentd PATH --source-dir DIR [--keep]

A real Kafka broker (scripts/kafka.sh, as in kafka_test.py) with the state topic created
compacted; the daemon with a [cluster] section. Fed: level II incidents opened at once, some
back-dated so that a warning falls due a few seconds after they arrive (a timer's change, with no
input offset), a level III one, a confirmation, a duplicate and a message that is no JSON. The
daemon's notifications go to a webhook nobody answers, so the dispatcher records retries (its
changes) all along. Then, until they agree or the deadline passes: every record of the topic,
read with isolation.level=read_committed, decodes (version 1, its key its incident_key), and
folded per incident in offset order (the last state; the timeline entries and outbox rows in
order; each notification's last delivery change) it equals the database: the incident's stored
snapshot, its timeline bodies, its outbox rows with their state and attempts; the processed event ids
are each incident's events, once each, as many as the database holds. The dead letter and nothing else reaches the dead-letter topic. Standard library only.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_test as kt  # noqa: E402  (the broker, the daemon and event helpers)

STATE = "incidentd.state"
DLQ = "opinion.events.dlq"


def read_committed(broker, topic):
    """Every record a read_committed reader sees: [(partition, offset, key, value)]."""
    r = subprocess.run(["kcat", "-C", "-b", broker.bootstrap, "-t", topic, "-o", "beginning",
                        "-e", "-q", "-X", "isolation.level=read_committed",
                        "-f", "%p %o %K %S\n%k%s"], capture_output=True, timeout=120)
    if r.returncode != 0:
        raise kt.Failure(f"kcat -C {topic} failed: {r.stderr.decode(errors='replace')}")
    out, data, i = [], r.stdout, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        p, o, klen, vlen = (int(x) for x in data[i:nl].split())
        i = nl + 1
        key = value = None
        if klen >= 0:
            key, i = data[i:i + klen], i + klen
        if vlen >= 0:
            value, i = data[i:i + vlen], i + vlen
        out.append((p, o, key, value))
    return out


def fold(records):
    """The topic's records per incident, each partition in offset order (an incident's records
    are all in one partition, so their order is the commit order)."""
    incidents = {}
    for p, o, key, value in sorted(records, key=lambda r: (r[0], r[1])):
        kt.check(value is not None, f"record {p}@{o} has no value")
        r = json.loads(value)
        kt.check(r.get("v") == 1, f"record {p}@{o}: version {r.get('v')}, not 1")
        k = r.get("incident_key")
        kt.check(isinstance(k, str) and k and key is not None and key.decode() == k,
                 f"record {p}@{o}: key {key!r} is not its incident_key {k!r}")
        i = incidents.setdefault(k, {"state": None, "actions": [], "outbox": {}, "processed": []})
        if "state" in r:
            kt.check(r["state"]["key"] == k, f"record {p}@{o}: the state of another incident")
            i["state"] = r["state"]
        i["actions"] += r.get("actions", [])
        for row in r.get("outbox", []):  # as the store's INSERT OR IGNORE
            i["outbox"].setdefault(row["notification_id"], {"state": "pending", "attempts": 0})
        for d in r.get("deliveries", []):
            kt.check(d["notification_id"] in i["outbox"],
                     f"record {p}@{o}: a delivery of {d['notification_id']}, no such row")
            i["outbox"][d["notification_id"]] = {"state": d["state"], "attempts": d["attempts"]}
        i["processed"] += [x["id"] for x in r.get("processed", [])]
    return incidents


def from_database(db):
    incidents = {}
    for key, state in kt.db_query(db, "SELECT incident_key, state FROM incidents"):
        incidents[key] = {"state": json.loads(state), "actions": [], "outbox": {}, "processed": []}
    for row in kt.db_query(db, f"SELECT {kt.ROW_COLUMNS} FROM timeline ORDER BY seq"):
        if row[0] in incidents:
            incidents[row[0]]["actions"] += kt.row_entries(*row)
    for nid, key, state, attempts in kt.db_query(
            db, "SELECT notification_id, incident_key, state, attempts FROM outbox"):
        if key in incidents:
            incidents[key]["outbox"][nid] = {"state": state, "attempts": attempts}
    return incidents


def differences(topic, db):
    problems = []
    for key in sorted(set(topic) | set(db)):
        t, d = topic.get(key), db.get(key)
        if t is None or d is None:
            problems.append(f"{key}: {'not on the topic' if t is None else 'not in the database'}")
            continue
        if t["state"] != d["state"]:
            problems.append(f"{key}: the last state on the topic is not the stored snapshot")
        if t["actions"] != d["actions"]:
            problems.append(f"{key}: {len(t['actions'])} timeline entries on the topic, "
                            f"{len(d['actions'])} in the database (or they differ)")
        if t["outbox"] != d["outbox"]:
            problems.append(f"{key}: outbox differs: topic {t['outbox']} database {d['outbox']}")
    return problems


def run(args, work):
    broker = kt.Broker(args.source_dir, work)
    daemon = None
    try:
        broker.start()
        broker.ensure_topics(kt.EVENTS, kt.RELEASES)
        r = subprocess.run([os.path.join(args.source_dir, "scripts", "kafka.sh"), "create-topic",
                            "--port", str(broker.port), STATE, "--partitions", "3",
                            "--config", "cleanup.policy=compact"],
                           capture_output=True, text=True, timeout=120)
        kt.check(r.returncode == 0, f"creating {STATE} failed:\n{r.stdout}{r.stderr}")
        config = os.path.join(work, "incidentd.toml")
        kt.write_config(args.source_dir, config, broker, "cluster-state-test", DLQ)
        kt.add_cluster_section(config, "node-1", state_topic=STATE)
        db = os.path.join(work, "incidentd.db")
        daemon = kt.Daemon(args.incidentd, config, db, os.path.join(work, "incidentd.log"))
        daemon.start()
        daemon.wait_log(r"kafka: assigned", 60)
        kt.check(daemon.wait_log(rf"\[cluster\] on: every committed change goes to {STATE}", 5),
                 "the daemon does not say it writes the state topic")

        now = datetime.now(timezone.utc)
        soon = kt.rfc3339(now - timedelta(hours=2) + timedelta(seconds=6))  # the 2 h warning
        messages = [(f"st-{n}".encode(), kt.event(f"st-e{n}", f"st-{n}")) for n in range(12)]
        messages += [(f"st-late-{n}".encode(), kt.event(f"st-le{n}", f"st-late-{n}",
                                                         detected_at=soon)) for n in range(4)]
        messages.append((b"st-iii", kt.event("st-e-iii", "st-iii", level="III")))
        messages.append((b"st-0", kt.event("st-e0", "st-0")))  # a duplicate
        messages.append((b"st-bad", b"not json"))
        broker.produce(kt.EVENTS, messages)
        kt.wait_for("every incident in the database",
                    lambda: len(kt.db_query(db, "SELECT 1 FROM incidents")) == 17, 60)
        # Once its incident is known (the topics are not ordered with each other).
        broker.produce(kt.RELEASES, [(b"st-1", kt.confirmation("st-c1", "st-1"))])
        kt.wait_for("the confirmation in the database",
                    lambda: kt.db_query(db, "SELECT 1 FROM confirmations"), 60)
        arrived = datetime.now(timezone.utc)
        kt.wait_for("a warning fired by a timer after the events arrived", lambda: any(
            datetime.fromtimestamp(at / 1000, timezone.utc) > arrived
            for (at,) in kt.db_query(db, "SELECT at FROM timeline WHERE action = 'warning' "
                                         "AND incident_key LIKE 'st-late-%'")), 60)

        last = []

        def agree():
            nonlocal last
            stored = from_database(db)
            last = differences(fold(read_committed(broker, STATE)), stored)
            return not last

        try:
            kt.wait_for("the state topic to agree with the database", agree, 60, interval=0.5)
        except kt.Failure:
            raise kt.Failure("the state topic does not match the database:\n" + "\n".join(last))
        records = read_committed(broker, STATE)
        deliveries = sum(len(json.loads(v).get("deliveries", [])) for _, _, _, v in records)
        kt.log(f"{len(records)} change records on {STATE} agree with the database "
               f"(17 incidents, {deliveries} delivery changes)")
        kt.check(deliveries > 0, "no delivery change reached the state topic")
        folded = fold(records)
        want = {f"st-{n}": [f"st-e{n}"] for n in range(12)}
        want.update({f"st-late-{n}": [f"st-le{n}"] for n in range(4)})
        want["st-iii"] = ["st-e-iii"]
        # A confirmation's processed id is its identity, length-prefixed (daemon/core/engine.cpp).
        want["st-1"] = ["st-e1", "confirmation:4:st-112:zhaotong-govst-c1"]
        got = {k: sorted(v["processed"]) for k, v in folded.items()}
        kt.check(got == {k: sorted(v) for k, v in want.items()},
                 f"processed ids on the topic: {got}")
        kt.check(sum(len(v) for v in got.values()) == kt.db_processed(db),
                 "the topic's processed ids are not as many as the database's")
        letters = broker.dead_letters(DLQ)
        kt.check(len(letters) == 1, f"want one dead letter, found {len(letters)}")
        kt.check(daemon.stop() == 0, "incidentd did not stop cleanly")
    finally:
        if daemon:
            daemon.cleanup()
        broker.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    for tool in ("kcat", "java"):
        if shutil.which(tool) is None:
            print(f"cluster_state_test: {tool} not found (scripts/install-deps.sh installs it)")
            return 1
    kt.stop_on_sigterm()
    return 0 if kt.run_case("cluster_state", lambda work: run(args, work), args.keep) else 1


if __name__ == "__main__":
    sys.exit(main())
