#!/usr/bin/env python3
"""Failover bench (issue 19): three incidentd instances on one consumer group and one real broker;
one of them is killed (or stopped, or all are restarted in turn) while the clocks of its
incidents fall due, and the run prints what happened to them.

    /usr/bin/python3 bench/failover_bench.py [--mode kill|stop|rolling] [--incidents N]
        [--window S] [--runs K] [--keep] [--incidentd PATH] [--incidentctl PATH]

One run: the project's broker (scripts/kafka.sh) on 127.0.0.1 with the events, releases and
state topics of 6 partitions each (the state topic compacted); a webhook receiver of its own;
instances a, b and c ([cluster] instance_id, their own database, session_timeout 6 s), whose
roster reaches everyone by webhook first, at a path of their own (/a/hooks/...), so every delivery
says who sent it. N level II incidents, keyed to cover every partition, are back-dated so that one
first_release step of each (the 2 h, 2 h 30 m, 4 h 30 m warnings, the 3 h target, the 5 h
deadline, in turn; config/incidentd.toml's ladder) falls due during the run: a sixth of them
before the disruption, the rest spread over `--window` seconds after it. Each incident also acts
once on arrival (its step before that one, by the catch-up rule). Then:

- kill: the owner of the most incidents gets SIGKILL;
- stop: it gets SIGSTOP for `--pause` s (past the session), then SIGCONT: from then until it is
  assigned partitions again it must fire and send nothing for the partitions it lost, and its
  log must show the broker refusing its late transaction;
- rolling: a, b and c are restarted one at a time (SIGTERM, start, assigned again): no partition
  may move.

Every step is counted from the timeline of each surviving instance's database (each must be a
full replica): expected steps missing are lost, a step recorded twice is doubled. Duplicate
notifications are webhook deliveries of a notification_id already delivered. At the end,
`incidentctl report`, `stats` and `verify` must print the same on every surviving database.
Exit status 1 when a goal is missed (takeover over 10 s, anything lost or doubled, more duplicates
than crashes, reads that differ). Standard library only; the broker, daemon and wait helpers are
tests/integration/kafka_test.py's.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
sys.path.insert(0, os.path.join(SOURCE_DIR, "scripts"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_test as kt  # noqa: E402  (broker, daemon, config and wait helpers)
import cluster_test as ct  # noqa: E402  (the partitions a daemon's log says it holds)
from webhook_receiver import Receiver  # noqa: E402  (the generic webhook's signature check)
from failover_figures import (  # noqa: E402  (the plan, and what the databases recorded of it)
    PARTITIONS, all_steps_in, duplicate_notifications, first_release_rows, known_incidents,
    plan_incidents, reads_agree, takeover, worst_counts)

STATE = "incidentd.state"
DLQ = "opinion.events.dlq"
GROUP = "failover-bench"
SESSION_S = 6.0  # [cluster]'s default session_timeout, which the instances keep
LEAD_S = 8.0  # from publishing to the first step due: every incident is ingested by then
BEFORE_S = 6.0  # the span before the disruption in which a sixth of the steps fall due
FENCED = re.compile(r"ILLEGAL_GENERATION|UNKNOWN_MEMBER_ID|generation id is not valid|"
                    r"member id is not valid|giving up the open transaction|[Ff]enced")


def now_ms():
    return int(time.time() * 1000)


def seconds(ms):
    return f"{ms / 1000:.1f}"


def clock(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%H:%M:%S.%f")[:-3]


def publish(broker, incidents):
    broker.produce(kt.EVENTS, [
        (i.key.encode(), kt.event(f"{i.key}-e1", i.key,
                                  detected_at=kt.rfc3339(datetime.fromtimestamp(
                                      i.detected_ms / 1000, timezone.utc))))
        for i in incidents])


# ---------------------------------------------------------------------------------------------
# Webhook arrivals, by sending instance


class WideServer(ThreadingHTTPServer):
    # socketserver's listen backlog of 5 overflows when the dispatchers post dozens at once: the
    # kernel then holds connections back for seconds, the sender's read times out after the
    # request got through, and it sends again (a duplicate the bench would blame on the daemon).
    request_queue_size = 512
    daemon_threads = True


class Arrivals:
    """Records every signed webhook delivery: (arrival ms, instance, notification_id, incident)."""

    def __init__(self, secret):
        self.verifier = Receiver("127.0.0.1", 0, secret.encode())
        self.lock = threading.Lock()
        self.deliveries, self.refused = [], []
        self.server = None

    def start(self):
        arrivals = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                payload, why = arrivals.verifier.check(self.headers, body)
                with arrivals.lock:
                    if payload is None:
                        arrivals.refused.append((self.path, why))
                    else:
                        arrivals.deliveries.append((now_ms(), self.path.split("/")[1],
                                                    payload["notification_id"],
                                                    payload.get("incident_key")))
                self.send_response(204 if payload is not None else 401)
                self.end_headers()

        self.server = WideServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.server.server_address[1]

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def snapshot(self):
        with self.lock:
            return list(self.deliveries), list(self.refused)


# ---------------------------------------------------------------------------------------------
# The cluster: broker, topics, three instances


class Cluster:
    def __init__(self, args, work, names=("a", "b", "c")):
        self.args, self.work, self.names = args, work, names
        self.broker = kt.Broker(SOURCE_DIR, work, quick_jit=False)
        self.daemons, self.configs, self.dbs = {}, {}, {}
        self.arrivals = None

    def start(self):
        self.broker.start()
        for topic, extra in ((kt.EVENTS, []), (kt.RELEASES, []),
                             (STATE, ["--config", "cleanup.policy=compact"])):
            self.create_topic(topic, extra)
        secret = None
        for name in self.names:
            self.configs[name] = self.write_instance_config(name)
            with open(self.configs[name], "rb") as f:
                secret = tomllib.load(f)["notify"]["webhooks"][0]["secret"]
        self.arrivals = Arrivals(secret)
        port = self.arrivals.start()
        for name in self.names:
            self.point_webhooks_at(name, port)
            self.dbs[name] = os.path.join(self.work, f"{name}.db")
            self.daemons[name] = kt.Daemon(self.args.incidentd, self.configs[name], self.dbs[name],
                                           os.path.join(self.work, f"{name}.log"))
            self.daemons[name].start()

    def create_topic(self, topic, extra):
        r = subprocess.run([self.broker.script, "create-topic", "--port", str(self.broker.port),
                            topic, "--partitions", str(PARTITIONS), *extra],
                           capture_output=True, text=True, timeout=120)
        kt.check(r.returncode == 0, f"creating {topic} failed:\n{r.stdout}{r.stderr}")

    def write_instance_config(self, name):
        path = os.path.join(self.work, f"{name}.toml")
        kt.write_config(SOURCE_DIR, path, self.broker, GROUP, DLQ)
        kt.add_cluster_section(path, name, state_topic=STATE)
        return path

    def point_webhooks_at(self, name, port):
        """Webhook first for everyone who has one, at /<instance>/hooks/<unit> on the receiver."""
        path = self.configs[name]
        with open(path, encoding="utf-8") as f:
            text = f.read()
        demo = "http://127.0.0.1:18080/"
        kt.check(demo + "hooks/" in text, f"config/incidentd.toml has no {demo}hooks/ webhook")
        text = text.replace(demo + "hooks/", f"http://127.0.0.1:{port}/{name}/hooks/")
        text = text.replace(demo, f"http://127.0.0.1:{port}/")
        text, n = re.subn(r'channels = \["sms", "webhook"\]', 'channels = ["webhook", "sms"]', text)
        kt.check(n > 0, 'config/incidentd.toml has no channels = ["sms", "webhook"]')
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([self.args.incidentctl, "check-config", path], capture_output=True,
                           text=True, timeout=30)
        kt.check(r.returncode == 0, f"check-config refused {path}:\n{r.stdout}{r.stderr}")

    def stop(self):
        for d in self.daemons.values():
            if d.proc and d.proc.poll() is None:
                os.kill(d.proc.pid, signal.SIGCONT)  # a stopped one must hear the SIGTERM
                try:
                    d.stop()
                except kt.Failure as e:
                    kt.log(str(e))
            d.cleanup()
        if self.arrivals:
            self.arrivals.stop()
        self.broker.stop()

    def owners(self, names=None):
        """{events partition: instance} from the logs, or None while the group is not settled
        (a partition held twice or by nobody, or an instance without one)."""
        names = names or [n for n, d in self.daemons.items() if d.proc.poll() is None]
        held = {n: {p for t, p in ct.owned(self.daemons[n].output()) if t == kt.EVENTS}
                for n in names}
        owner = {}
        for name, parts in held.items():
            if not parts:
                return None
            for p in parts:
                if p in owner:
                    return None
                owner[p] = name
        return owner if len(owner) == PARTITIONS else None

    def wait_settled(self, names=None, timeout=90):
        return kt.wait_for("the instances to share the partitions", lambda: self.owners(names),
                           timeout, interval=0.1)


# ---------------------------------------------------------------------------------------------
# The disruptions


def partitions_moved(cluster, victim, survivors, since_ms):
    """When the survivors hold every partition between them (the victim's moved), or None."""
    try:
        cluster.wait_settled(survivors, timeout=SESSION_S + 30)
    except kt.Failure as e:
        kt.log(f"the victim's partitions did not move: {e}")
        return None
    moved = now_ms()
    kt.log(f"{victim}'s partitions held by {', '.join(survivors)} {seconds(moved - since_ms)} s "
           "after the disruption")
    return moved


def disrupt_kill(cluster, victim, args):
    killed_ms = now_ms()
    cluster.daemons[victim].kill()
    survivors = [n for n in cluster.names if n != victim]
    return {"at": killed_ms, "moved": partitions_moved(cluster, victim, survivors, killed_ms),
            "readers": survivors, "crashes": 1}


# The daemon's "action <instant>  <incident>  <action> ..." log line; the instant is a date and a
# time, or a time alone.
ACTION_LINE = re.compile(r"\baction (?:\d{4}-\d\d-\d\d )?\d\d:\d\d(?::\d\d)?\s+(\S+)\s+"
                         r"(warning|target_missed|deadline_breached)\b")
# librdkafka noticed the lost session itself and revoked before the daemon wrote anything more.
SELF_REVOKED = re.compile(r"Consumer group session timed out")


def zombie_steps(text, keys):
    return sum(1 for m in ACTION_LINE.finditer(text) if m.group(1) in keys)


def disrupt_stop(cluster, victim, args):
    """SIGSTOP past the session, SIGCONT; what the victim did from then until it was assigned
    partitions again (and, after that, for the partitions it did not get back)."""
    daemon = cluster.daemons[victim]
    before = {p for p, n in cluster.owners().items() if n == victim}
    stopped_ms = now_ms()
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    kt.log(f"{victim} stopped with SIGSTOP (pid {daemon.proc.pid}) for {args.pause:.0f} s")
    survivors = [n for n in cluster.names if n != victim]
    moved = partitions_moved(cluster, victim, survivors, stopped_ms)
    time.sleep(max(0.0, stopped_ms / 1000 + args.pause - time.time()))  # the pause itself
    mark = len(daemon.output())
    continued_ms = now_ms()
    os.kill(daemon.proc.pid, signal.SIGCONT)
    kt.log(f"{victim} continued with SIGCONT")
    back = kt.wait_for(f"{victim} to be assigned partitions again", lambda: ct.ASSIGNED.search(
        daemon.output(), mark), 60, interval=0.1)
    rejoined_ms = now_ms()
    after = {p for p, n in cluster.wait_settled().items() if n == victim}
    lost_for_good = before - after
    return {"at": stopped_ms, "moved": moved, "readers": list(cluster.names), "crashes": 1,
            "continued": continued_ms, "rejoined": rejoined_ms, "before": before,
            "lost_for_good": lost_for_good, "log_mark": mark, "log_back": back.end()}


def zombie_figures(cluster, victim, incidents, d):
    """Steps the stopped-and-continued victim fired, and notifications it sent, for incidents of
    partitions it had lost: until it rejoined, all of its old ones; after, the ones it did not
    get back. And whether its log shows a transaction the broker refused."""
    text = cluster.daemons[victim].output()
    old = {i.key for i in incidents if i.partition in d["before"]}
    gone = {i.key for i in incidents if i.partition in d["lost_for_good"]}
    steps = (zombie_steps(text[d["log_mark"]:d["log_back"]], old)
             + zombie_steps(text[d["log_back"]:], gone))
    deliveries, _ = cluster.arrivals.snapshot()
    sent = sum(1 for at, who, _, key in deliveries if who == victim and at >= d["continued"] and (
        (at < d["rejoined"] and key in old) or key in gone))
    if FENCED.search(text, d["log_mark"]):
        fenced = "yes"
    elif SELF_REVOKED.search(text, d["log_mark"]):
        fenced = "none attempted (librdkafka revoked at its session timeout first)"
    else:
        fenced = "no"
    return steps, sent, fenced


def disrupt_rolling(cluster, victim, args):
    """Each instance in turn: SIGTERM, start, assigned again. A partition moved when another
    instance logs a revocation or an assignment outside its own restart, or one comes back
    with other partitions."""
    started_ms = now_ms()
    marks = {n: len(d.output(since_start=False)) for n, d in cluster.daemons.items()}
    own_restart, took, moved = {}, [], 0
    for name in cluster.names:
        d = cluster.daemons[name]
        held = ct.owned(d.output())
        own_from = len(d.output(since_start=False))
        t0 = time.monotonic()
        rc = d.stop()
        kt.check(rc == 0, f"{name} exited {rc} at SIGTERM")
        d.start()
        d.wait_log(r"kafka: assigned ", 60)
        took.append(time.monotonic() - t0)
        own_restart[name] = (own_from, len(d.output(since_start=False)))
        if ct.owned(d.output()) != held:
            kt.log(f"{name} came back with {sorted(ct.owned(d.output()))}, not {sorted(held)}")
            moved += 1
        kt.log(f"{name} restarted and assigned again in {took[-1]:.1f} s")
    return {"at": started_ms, "moved": None, "readers": list(cluster.names), "crashes": 0,
            "took": took, "marks": marks, "own_restart": own_restart, "came_back_moved": moved}


def rolling_moves(cluster, d):
    """Revocations and assignments logged outside each instance's own restart, plus comebacks
    with other partitions."""
    moved = d["came_back_moved"]
    for name, daemon in cluster.daemons.items():
        text = daemon.output(since_start=False)
        own_from, own_to = d["own_restart"][name]
        for part in (text[d["marks"][name]:own_from], text[own_to:]):
            moved += sum(1 for line in part.splitlines()
                         if ct.REVOKED.search(line) or ct.ASSIGNED.search(line))
    return moved


DISRUPTIONS = {"kill": disrupt_kill, "stop": disrupt_stop, "rolling": disrupt_rolling}


# ---------------------------------------------------------------------------------------------
# One run


def publish_and_wait_ingested(cluster, incidents, publish_ms):
    publish(cluster.broker, incidents)
    where = ct.partition_of_keys(cluster.broker, {i.key for i in incidents})
    wrong = [i.key for i in incidents if where[i.key] != i.partition]
    kt.check(not wrong, f"{len(wrong)} keys went to another partition than CRC32 picks "
                        f"(e.g. {wrong[:3]}): not librdkafka's default partitioner")
    first_due = min(i.due_ms for i in incidents)
    kt.wait_for("every incident in some instance's database", lambda: len(set().union(
        *(known_incidents(db, "fo-") for db in cluster.dbs.values()))) == len(incidents),
        max(1.0, (first_due - now_ms()) / 1000))
    kt.log(f"{len(incidents)} incidents published and ingested in "
           f"{seconds(now_ms() - publish_ms)} s")


def wait_until_due(cluster, incidents, survivors, margin_s):
    """Until every expected step is in every survivor's database, or the last due instant plus
    the margin: a measurement, so a timeout is a figure, not an error."""
    end = max(i.due_ms for i in incidents) / 1000 + margin_s
    dbs = [cluster.dbs[n] for n in survivors]
    while time.time() < end and kt.BUDGET.left() > 30:
        if time.time() * 1000 > max(i.due_ms for i in incidents) and all_steps_in(
                dbs, incidents, "fo-"):
            return True
        time.sleep(0.5)
    return False


def write_plan(work, incidents):
    """plan.json in the work directory (kept with --keep): each incident's partition, detected_at
    and the steps expected of it, to check a run's counts by hand."""
    with open(os.path.join(work, "plan.json"), "w", encoding="utf-8") as f:
        json.dump([{"incident_key": i.key, "partition": i.partition, "detected_ms": i.detected_ms,
                    "due_ms": i.due_ms, "expected": i.expected} for i in incidents], f, indent=1)


def choose_victim(owners, incidents):
    per = {}
    for i in incidents:
        per[owners[i.partition]] = per.get(owners[i.partition], 0) + 1
    return max(sorted(per), key=lambda n: per[n])


def run_once(args, work, goals):
    """One run of the chosen mode; prints its lines and raises kt.Failure naming missed goals."""
    cluster = Cluster(args, work)
    try:
        cluster.start()
        owners = cluster.wait_settled()
        kt.log("partitions of " + kt.EVENTS + ": " + ", ".join(
            f"{n} {sorted(p for p, o in owners.items() if o == n)}" for n in cluster.names))
        rows = first_release_rows(cluster.configs["a"])
        publish_ms = now_ms()
        disruption_ms = publish_ms + int((LEAD_S + BEFORE_S) * 1000)
        incidents = plan_incidents(args.incidents, rows, publish_ms + int(LEAD_S * 1000),
                                   disruption_ms, args.window, args.seed)
        write_plan(work, incidents)
        publish_and_wait_ingested(cluster, incidents, publish_ms)
        time.sleep(max(0.0, disruption_ms / 1000 - time.time()))  # the planned instant
        owners = cluster.owners()
        kt.check(owners is not None, "the group was rebalancing at the planned disruption")
        victim = choose_victim(owners, incidents)
        victims = [i for i in incidents if owners[i.partition] == victim]
        kt.log(f"rolling: restarting {', '.join(cluster.names)} in turn" if args.mode == "rolling"
               else f"{args.mode}: {victim} owns {len(victims)} of {len(incidents)} incidents")
        d = DISRUPTIONS[args.mode](cluster, victim, args)
        complete = wait_until_due(cluster, incidents, d["readers"], args.margin)
        kt.log("every expected step recorded" if complete else
               "the run ended with steps missing (counted below)")
        return report(args, cluster, incidents, victim, victims, d, goals)
    finally:
        cluster.stop()


def report(args, cluster, incidents, victim, victims, d, goals):
    dbs = {n: cluster.dbs[n] for n in d["readers"]}
    per, (events_lost, steps_lost, doubled) = worst_counts(dbs, incidents, "fo-")
    deliveries, refused = cluster.arrivals.snapshot()
    duplicates = duplicate_notifications(deliveries)
    agree, agreed = settled_reads(args, dbs, incidents)
    missed = []
    if args.mode == "rolling":
        moved = rolling_moves(cluster, d)
        took = ", ".join(f"{t:.1f} s" for t in d["took"])
        print(f"rolling: restarted {', '.join(cluster.names)} in {took}; partitions moved {moved}; "
              f"events lost {events_lost}; steps lost {steps_lost}; steps doubled {doubled}; "
              f"duplicate notifications {duplicates} (crashes 0)")
        if moved:
            missed.append(f"{moved} partition move(s)")
    else:
        missed += print_takeover(args, cluster, victim, victims, d, dbs, goals,
                                 (events_lost, steps_lost, doubled, duplicates))
    for name, (e, s, dbl) in per.items():
        print(f"  {name}'s database: {len(incidents) - e} of {len(incidents)} incidents; "
              f"steps lost {s}; steps doubled {dbl}")
    print(f"  webhook deliveries {len(deliveries)} ({len(refused)} refused by the receiver)")
    print(f"reads agree: {agree}", flush=True)
    if args.mode == "kill":
        rejoined, all_agree = rejoin(args, cluster, victim, incidents)
        print(rejoined, flush=True)
        if not all_agree:
            missed.append("reads differ after the killed instance started again")
    for what, n in (("event(s) lost", events_lost), ("step(s) lost", steps_lost),
                    ("step(s) doubled", doubled)):
        if n:
            missed.append(f"{n} {what}")
    if duplicates > d["crashes"]:
        missed.append(f"{duplicates} duplicate notifications for {d['crashes']} crash(es)")
    if refused:
        missed.append(f"{len(refused)} webhook request(s) failed the signature check")
    if not agreed:
        missed.append("reads differ")
    if missed:
        raise kt.Failure("goals missed: " + "; ".join(missed))


def settled_reads(args, dbs, incidents, timeout_s=30):
    """reads_agree once the replicas have had their chance: the last changes (a delivery result
    recorded just before a stop, a re-send) reach the other databases through the state topic
    within about a second, so a first look may catch one in flight. Polled until they agree or
    `timeout_s` passes; the wait is printed when there was one."""
    t0 = time.monotonic()
    while True:
        agree, agreed = reads_agree(args, dbs, incidents)
        waited = time.monotonic() - t0
        if agreed or waited >= timeout_s:
            break
        time.sleep(1)
    if agreed and waited >= 1:
        agree += f" (after {waited:.0f} s for the replicas)"
    return agree, agreed


UNDONE = re.compile(r"start: (\d+) commit\(s\) of the last run never reached")


def rejoin(args, cluster, victim, incidents):
    """The killed instance started again once the run is over: how many commits its database
    held that the state topic never got (undone at its start: docs/cluster.md, "Commits the topic
    never got"), and whether the three then read alike. Returns (its line, agreed)."""
    d = cluster.daemons[victim]
    d.start()
    d.wait_log(r"kafka: assigned ", 90)
    match = UNDONE.search(d.output())
    undone = int(match.group(1)) if match else 0
    last = ["not compared"]

    def agree():
        last[0], agreed = reads_agree(args, cluster.dbs, incidents)
        return agreed

    try:
        kt.wait_for("the three instances' reads to agree", agree, 90, interval=2)
        agreed = True
    except kt.Failure:
        agreed = False
    return (f"rejoined: {victim} started again after the run: {undone} commit(s) its database "
            f"held and the state topic never got undone at its start; reads agree on all three: "
            f"{last[0]}", agreed)


def print_takeover(args, cluster, victim, victims, d, dbs, goals, counts):
    """The issue's line for kill and stop, the figures behind it; returns the goals missed."""
    events_lost, steps_lost, doubled, duplicates = counts
    first, late = takeover(dbs, victims, d["at"], d.get("continued"))
    x = "none" if first is None else f"{seconds(first - d['at'])} s"
    y = "n/a (none fired)" if late is None else f"{seconds(late)} s"
    what = "kill" if args.mode == "kill" else "SIGSTOP"
    print(f"takeover: {x} ({what} to first step fired by the new owner); steps due during the "
          f"outage fired late by at most {y}; events lost {events_lost}; steps lost {steps_lost}; "
          f"steps doubled {doubled}; duplicate notifications {duplicates} "
          f"(crashes {d['crashes']})")
    moved = "never" if d["moved"] is None else (
        f"at {clock(d['moved'])} (+{seconds(d['moved'] - d['at'])} s)")
    fired = "none" if first is None else f"at {clock(first)} (+{seconds(first - d['at'])} s)"
    print(f"  {what} of {victim} ({len(victims)} incidents) at {clock(d['at'])} UTC; its "
          f"partitions held by the others {moved}; first step of its incidents fired after it "
          f"{fired}")
    missed = []
    if first is None or (first - d["at"]) / 1000 > goals["takeover_s"]:
        missed.append(f"takeover {x}, goal at most {goals['takeover_s']:.0f} s")
    if args.mode == "stop":
        missed += print_stopped_instance(args, cluster, victim, victims, d)
    return missed


def print_stopped_instance(args, cluster, victim, victims, d):
    """The stop mode's line: what the continued instance did for the partitions it had lost."""
    steps, sent, refused = zombie_figures(cluster, victim, victims, d)
    print(f"stop: {victim} paused {args.pause:.0f} s (session {SESSION_S:.0f} s); after SIGCONT "
          f"until it rejoined ({seconds(d['rejoined'] - d['continued'])} s) and then for the "
          f"partitions it did not get back: steps fired {steps}, notifications sent {sent}; "
          f"its late transaction refused by the broker: {refused}")
    missed = []
    if steps or sent:
        missed.append(f"the stopped instance fired {steps} step(s) and sent {sent} "
                      "notification(s) for partitions it had lost")
    if refused == "no":
        missed.append("the stopped instance's log shows neither a refused transaction nor "
                      "a revocation at its session timeout")
    return missed


# ---------------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=sorted(DISRUPTIONS), default="kill")
    parser.add_argument("--incidents", type=int, default=300)
    parser.add_argument("--window", type=float, default=60.0,
                        help="seconds after the disruption over which the steps fall due")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--pause", type=float, default=12.0, help="--mode stop: seconds stopped")
    parser.add_argument("--margin", type=float, default=20.0,
                        help="seconds after the last due instant the run waits for steps")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--keep", action="store_true", help="keep each run's work directory")
    parser.add_argument("--incidentd", default=os.path.join(SOURCE_DIR, "build", "release",
                                                            "incidentd"))
    parser.add_argument("--incidentctl", default=os.path.join(SOURCE_DIR, "build", "release",
                                                              "incidentctl"))
    return parser.parse_args(argv)


def run(args, goals, name="failover"):
    """args.runs runs one after another; True when every run met every goal."""
    for tool in (args.incidentd, args.incidentctl):
        kt.check(os.access(tool, os.X_OK), f"{tool} is not an executable (build it first)")
    budget = 200 + LEAD_S + BEFORE_S + args.window + args.margin + args.pause
    passed = 0
    for k in range(args.runs):
        if kt.run_case(f"{name}-{args.mode}-{k + 1}", lambda work: run_once(args, work, goals),
                       args.keep, budget_s=budget, tail=1500):
            passed += 1
    print(f"{args.mode}: {passed} of {args.runs} run(s) met every goal", flush=True)
    return passed == args.runs


def main():
    args = parse_args()
    kt.stop_on_sigterm()
    try:
        return 0 if run(args, {"takeover_s": 10.0}) else 1
    except KeyboardInterrupt:  # each run's finally has stopped what it started
        print("failover_bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
