#!/usr/bin/env python3
"""Inputs from any door (docs/cluster.md): an acknowledgement or a confirmation that reaches an
instance of a cluster that does not own its incident is published to the inputs topic and
applied by the owner.

    cluster_inputs_test.py CASE --incidentd PATH --incidentctl PATH --source-dir DIR [--keep]

A real Kafka broker (scripts/kafka.sh) with the events, releases, inputs and (compacted) state
topics created with 2 partitions each. CASE is one of:

- owner_applies: one instance with [cluster] holds every partition. Forwarded inputs are put
  on the inputs topic with kcat, keyed by their incident, as a non-owner's publisher puts them:
  an acknowledgement and a confirmation are applied with the door they came through (`via`),
  the same acknowledgement again is a duplicate, and a message that is not a forwarded input and
  one for a person never notified go to the dead-letter topic, each with its reason.
- any_door: two instances a and b in one group, the HTTP API on both. An incident is opened on
  the events topic; the instance holding its partition (the owner) has it in its database. It
  is acknowledged and confirmed through the OTHER instance's API: both answer 202 with where
  the input went (the inputs topic, the incident's partition), and the acknowledgement and the
  confirmation appear in the owner's database (timeline `acknowledged` and `release_confirmed`,
  via http); nothing is dead-lettered. Needs the non-owner to know what it owns (the daemon's
  ownership wiring) and to hold the incident in its replica (the replica applier).

Standard library only; helpers shared with kafka_test.py and cluster_test.py.
"""

import argparse
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test as ct  # noqa: E402  (who holds which partition, from the logs)
import kafka_test as kt  # noqa: E402  (the broker, the daemon and event helpers)

CASE_BUDGET_S = 200
GROUP = "cluster-inputs-test"
STATE = "incidentd.state"
INPUTS = "incidentd.inputs"
DLQ = "opinion.events.dlq"
PARTITIONS = 2
RECIPIENT = "zt-duty1"  # a duty officer of the lead unit: told by the alert at open


def create_topics(args, broker):
    """Every topic the instances read or write, 2 partitions each, before anything auto-creates
    one with the broker's 3 (the range assignor pairs partition N of each topic)."""
    script = os.path.join(args.source_dir, "scripts", "kafka.sh")
    for topic, extra in ((kt.EVENTS, []), (kt.RELEASES, []), (INPUTS, []),
                         (STATE, ["--config", "cleanup.policy=compact"]), (DLQ, [])):
        r = subprocess.run([script, "create-topic", "--port", str(broker.port), topic,
                            "--partitions", str(PARTITIONS), *extra],
                           capture_output=True, text=True, timeout=120)
        kt.check(r.returncode == 0, f"creating {topic} failed:\n{r.stdout}{r.stderr}")


def write_instance_config(args, path, broker, instance_id, http_port=None, token=None):
    kt.write_config(args.source_dir, path, broker, GROUP, DLQ)
    if http_port is not None:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = kt.set_setting(text, "http", "enabled", "true")
        text = kt.set_setting(text, "http", "port", str(http_port))
        text += (f'\n[[http.tokens]]\nname = "operator"\n'
                 f'sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\n')
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    kt.add_cluster_section(path, instance_id, state_topic=STATE, inputs_topic=INPUTS)
    r = subprocess.run([args.incidentctl, "check-config", path], capture_output=True, text=True,
                       timeout=30)
    kt.check(r.returncode == 0, f"check-config refused {path}:\n{r.stdout}{r.stderr}")


def post(port, path, token, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST",
                                 data=json.dumps(body).encode())
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def timeline(db, key, action):
    return kt.timeline_entries(db, key, action)


def forwarded_ack(key, recipient, via="http"):
    return kt.dumps({"v": 1, "kind": "acknowledgement", "incident_key": key,
                     "recipient": recipient, "via": via, "from": "host-elsewhere",
                     "at": kt.rfc3339(datetime.now(timezone.utc))})


def forwarded_confirmation(cid, key):
    return kt.dumps({"v": 1, "kind": "confirmation", "incident_key": key, "via": "sms",
                     "from": "host-elsewhere",
                     "confirmation": json.loads(kt.confirmation(cid, key))})


def open_incident(broker, key, dbs, held=None):
    """Publishes a level II incident and waits for its alert at open; returns the name of its
    owner: the instance holding its partition of the events topic (`held`: what each holds), or
    the only one."""
    broker.produce(kt.EVENTS, [(key.encode(), kt.event(f"{key}-e1", key))])
    owner = next(iter(dbs))
    if held is not None:
        partition = ct.partition_of_keys(broker, {key})[key]
        owner = next(n for n, s in held.items() if (kt.EVENTS, partition) in s)
    kt.wait_for(f"the alert at open of {key} to reach {RECIPIENT}", lambda: [
        a for a in timeline(dbs[owner], key, "notification") if a.get("recipient") == RECIPIENT],
        30, 0.1)
    return owner


def case_owner_applies(args, work, broker):
    create_topics(args, broker)
    config = os.path.join(work, "a.toml")
    db = os.path.join(work, "a.db")
    write_instance_config(args, config, broker, "host-a")
    daemon = kt.Daemon(args.incidentd, config, db, os.path.join(work, "a.log"))
    daemon.start()
    try:
        daemon.wait_log(r"kafka: assigned ", 60)
        kt.check(daemon.wait_log(rf"kafka: consuming .*{INPUTS} as group", 5),
                 "the daemon does not say it reads the inputs topic")
        key = "fw-1"
        open_incident(broker, key, {"a": db})
        broker.produce(INPUTS, [
            (key.encode(), forwarded_ack(key, RECIPIENT)),
            (key.encode(), forwarded_ack(key, RECIPIENT)),  # a duplicate
            (key.encode(), forwarded_confirmation("fw-c1", key)),
            (key.encode(), forwarded_ack(key, "zt-leader")),  # never notified
            (key.encode(), b'{"v":1,"kind":"ack"}'),
        ])
        acks = kt.wait_for("the forwarded acknowledgement applied",
                           lambda: timeline(db, key, "acknowledged"), 30, 0.1)
        kt.check(len(acks) == 1 and acks[0]["recipient"] == RECIPIENT and acks[0]["via"] == "http",
                 f"acknowledged entries: {acks}")
        confirmed = kt.wait_for("the forwarded confirmation applied",
                                lambda: timeline(db, key, "release_confirmed"), 30, 0.1)
        kt.check(len(confirmed) == 1 and confirmed[0]["via"] == "sms"
                 and confirmed[0]["confirmation_id"] == "fw-c1", f"confirmations: {confirmed}")
        letters = kt.wait_for("two dead letters", lambda: (
            lambda d: d if len(d) >= 2 else None)(broker.dead_letters(DLQ)), 30, 0.2)
        reasons = sorted(d["reason"] for d in letters)
        kt.check(len(letters) == 2, f"want 2 dead letters, found {len(letters)}: {reasons}")
        kt.check(any("was never notified" in r for r in reasons), f"reasons: {reasons}")
        kt.check(any(r.startswith("forwarded input: ") and '"kind"' in r for r in reasons),
                 f"reasons: {reasons}")
        kt.check(all(d["topic"] == INPUTS for d in letters), "a dead letter from another topic")
        kt.log(f"PASS: forwarded inputs applied by the owner (via kept), a repeat a duplicate, "
               f"refusals dead-lettered: {reasons}")
        kt.check(daemon.stop() == 0, "incidentd did not stop cleanly")
    finally:
        daemon.cleanup()


def case_any_door(args, work, broker):
    create_topics(args, broker)
    token = secrets.token_urlsafe(24)
    daemons, dbs = {}, {}
    try:
        for name in ("a", "b"):
            config = os.path.join(work, f"{name}.toml")
            dbs[name] = os.path.join(work, f"{name}.db")
            write_instance_config(args, config, broker, f"host-{name}", 0, token)
            daemons[name] = kt.Daemon(args.incidentd, config, dbs[name],
                                      os.path.join(work, f"{name}.log"))
            daemons[name].start()
        ports = {name: daemon.http_port() for name, daemon in daemons.items()}

        def shared():
            held = {n: ct.owned(d.output()) for n, d in daemons.items()}
            events = {n: {p for t, p in s if t == kt.EVENTS} for n, s in held.items()}
            return held if all(events.values()) and not (events["a"] & events["b"]) else None

        held = kt.wait_for("a and b to share the partitions", shared, 90, interval=0.2)
        kt.log("shared: " + "; ".join(f"{n} {sorted(s)}" for n, s in held.items()))
        key = "door-1"
        owner = open_incident(broker, key, dbs, held)
        other = "b" if owner == "a" else "a"
        partition = next(p for t, p in held[owner] if t == kt.EVENTS)
        # The other knows it from the state topic (its replica): its API checks it is open.
        kt.wait_for(f"{key} in {other}'s replica", lambda: kt.db_query(
            dbs[other], "SELECT 1 FROM incidents WHERE incident_key = ?", (key,)), 30, 0.1)
        kt.log(f"{key} is {owner}'s; acknowledged and confirmed through {other}'s API")

        status, body = post(ports[other], f"/v1/incidents/{key}/ack", token,
                            {"recipient": RECIPIENT})
        kt.check(status == 202, f"the other instance answered {status}: {body}")
        kt.check(body.get("status") == "forwarded" and body.get("topic") == INPUTS
                 and body.get("outcome") == f"/v1/incidents/{key}", f"202 body: {body}")
        kt.check((INPUTS, body["partition"]) in held[owner],
                 f"forwarded to {INPUTS}[{body['partition']}], which {owner} does not hold")
        acks = kt.wait_for(f"the acknowledgement in {owner}'s database",
                           lambda: timeline(dbs[owner], key, "acknowledged"), 30, 0.1)
        kt.check(acks[0]["recipient"] == RECIPIENT and acks[0]["via"] == "http",
                 f"acknowledged: {acks}")

        released = kt.rfc3339(datetime.now(timezone.utc) - timedelta(seconds=30))
        status, body = post(ports[other], f"/v1/incidents/{key}/releases", token, {
            "confirmation_id": "door-c1", "milestone": "first_release", "unit": "zhaotong-gov",
            "released_at": released})
        kt.check(status == 202 and body.get("status") == "forwarded", f"{status}: {body}")
        confirmed = kt.wait_for(f"the confirmation in {owner}'s database",
                                lambda: timeline(dbs[owner], key, "release_confirmed"), 30, 0.1)
        kt.check(confirmed[0]["via"] == "http", f"release_confirmed: {confirmed}")
        # The replica shows what the owner applied, through the state topic (the outcome's GET).
        replica = kt.wait_for(f"the acknowledgement in {other}'s replica",
                              lambda: timeline(dbs[other], key, "acknowledged"), 30, 0.1)
        kt.check(len(replica) == 1, f"the replica's acknowledged entries: {replica}")
        kt.check(not broker.dead_letters(DLQ), "something was dead-lettered")
        kt.log(f"PASS: {other}'s API answered 202 and {owner} applied both (partition {partition})")
        for name in (other, owner):
            kt.check(daemons[name].stop() == 0, f"{name} did not stop cleanly")
    finally:
        for d in daemons.values():
            d.cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case", choices=["owner_applies", "any_door"])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--incidentctl", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    for tool in ("kcat", "java"):
        if shutil.which(tool) is None:
            print(f"cluster_inputs_test: {tool} not found (scripts/install-deps.sh installs it)")
            return 1
    kt.stop_on_sigterm()
    case = case_owner_applies if args.case == "owner_applies" else case_any_door

    def body(work):
        broker = kt.Broker(args.source_dir, work)
        try:
            broker.start()
            case(args, work, broker)
        finally:
            broker.stop()
    passed = kt.run_case(args.case, body, args.keep, prefix=f"incidentd-{args.case}-",
                         budget_s=CASE_BUDGET_S)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
