#!/usr/bin/env python3
"""Several incidentd instances (docs/cluster.md): one per database file, several per group.

    cluster_test.py CASE --incidentd PATH --incidentctl PATH --source-dir DIR [--keep]

CASE is one of:
- second_daemon_refused: a second incidentd on a database file a first one holds exits 2 at
  once with one critical line naming the database, the lock file and the first one's pid, and
  leaves the first running; incidentctl reads the database meanwhile; once the first stops (or
  is SIGKILLed) a new one starts on the file. No broker: the lock comes before Kafka.
- static_membership: two instances with different [cluster] instance_ids on one group and one
  broker (scripts/kafka.sh) share the partitions of both topics (the union of their logged
  assignments is every partition, and they are disjoint), neither fences nor restarts the other,
  each incident is opened by the instance that owns its partition and by no other (their logs),
  and both databases hold every incident (the replicas, docs/cluster.md). Then one is restarted
  quickly (SIGTERM, started again with the same instance_id): it gets its partitions back and
  the other logs no revocation and no new assignment (static membership: no rebalance).
- topics_mismatch: a state topic of 2 partitions beside events and releases of 3: an instance
  refuses to start (exit 2, naming the counts) before it joins the group.
- same_instance_id: a second process started with the instance_id of a running one (one
  configuration copied to two hosts) fences it; the first, fenced with no session time-out of
  its own, does not take it for its own rejoin (librdkafka #3437, kafka/consumer_rebuild.hpp):
  it rebuilds nothing and exits 1 with the line that names the cause, and the second holds
  every partition and goes on.

Standard library only; helpers shared with kafka_test.py.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_test as kt  # noqa: E402  (broker, config, daemon and wait helpers)

CASE_BUDGET_S = 170  # static_membership takes about 30 s here; ctest's TIMEOUT is above it
GROUP = "cluster-test"
TOPICS = (kt.EVENTS, kt.RELEASES)
PARTITIONS = 3  # kafka_test.Broker's topics


class NoBroker:
    """kt.write_config wants a broker; this one is a free port where nothing listens."""
    def __init__(self):
        self.bootstrap = f"127.0.0.1:{kt.free_port()}"


def write_cluster_config(args, path, broker, instance_id=None):
    """The example configuration on `broker`, with [cluster] instance_id when given. The session
    timeout kafka_test.write_config puts in [kafka.properties] belongs to [cluster] then."""
    kt.write_config(args.source_dir, path, broker, GROUP, "opinion.events.dlq")
    if instance_id is None:
        return
    kt.add_cluster_section(path, instance_id)
    r = subprocess.run([args.incidentctl, "check-config", path], capture_output=True, text=True,
                       timeout=30)
    kt.check(r.returncode == 0, f"check-config refused {path}:\n{r.stdout}{r.stderr}")


def incidentctl_list(args, config, db):
    """The incident keys incidentctl reads from `db` (read-only, beside a running daemon)."""
    r = subprocess.run([args.incidentctl, "list", "--all", "--format", "json", "--database", db,
                        "--config", config], capture_output=True, text=True, timeout=60)
    kt.check(r.returncode == 0, f"incidentctl list on {db} failed ({r.returncode}):\n"
                                f"{r.stdout}{r.stderr}")
    return sorted(i["incident_key"] for i in json.loads(r.stdout)["incidents"])


# ---------------------------------------------------------------------------------------------
# second_daemon_refused


def case_second_daemon_refused(args, work):
    config = os.path.join(work, "incidentd.toml")
    write_cluster_config(args, config, NoBroker())
    db = os.path.join(work, "incidentd.db")
    first = kt.Daemon(args.incidentd, config, db, os.path.join(work, "first.log"))
    second = kt.Daemon(args.incidentd, config, db, os.path.join(work, "second.log"))
    try:
        first.start()
        first.wait_loop_up()
        second.start()
        t0 = time.monotonic()
        try:
            rc = second.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise kt.Failure("the second incidentd did not refuse the database; it still runs:\n"
                             + second.output()[-2000:])
        second.log.close()
        out = second.output()
        critical = [line for line in out.splitlines() if "[critical]" in line]
        kt.check(rc == 2, f"the second incidentd exited {rc}, not 2:\n{out[-2000:]}")
        kt.check(len(critical) == 1, f"{len(critical)} critical lines, not one:\n{out[-2000:]}")
        line = critical[0]
        for part in (f"database {db} is in use by another incidentd", f"pid {first.proc.pid}",
                     f"{db}.lock", "--database"):
            kt.check(part in line, f"the refusal does not say {part!r}: {line}")
        kt.check("kafka" not in out.lower(), f"the second incidentd got as far as Kafka:\n{out}")
        kt.log(f"second incidentd: exit {rc} after {time.monotonic() - t0:.1f} s: "
               f"{line.split('] ', 2)[-1]}")
        kt.check(first.proc.poll() is None, "the first incidentd stopped")
        kt.check("[critical]" not in first.output(), f"the first incidentd complained:\n"
                                                     f"{first.output()[-2000:]}")
        kt.check(incidentctl_list(args, config, db) == [], "incidentctl list: not empty")
        kt.log("incidentctl list reads the database while the daemon runs")

        rc = first.stop()
        kt.check(rc == 0, f"the first incidentd exited {rc}")
        # Let go at a clean stop, and by the kernel at a SIGKILL: a new daemon starts either way.
        for name, end in (("after SIGTERM", "stop"), ("after SIGKILL", "kill")):
            again = kt.Daemon(args.incidentd, config, db, os.path.join(work, f"again-{end}.log"))
            again.start()
            try:
                again.wait_loop_up()
            finally:
                if end == "stop":
                    kt.check(again.stop() == 0, "the next incidentd did not stop cleanly")
                else:
                    again.kill()
            kt.log(f"a new incidentd starts on the database {name} of the previous one")
        last = kt.Daemon(args.incidentd, config, db, os.path.join(work, "last.log"))
        last.start()
        try:
            last.wait_loop_up()
        finally:
            kt.check(last.stop() == 0, "the last incidentd did not stop cleanly")
    finally:
        first.cleanup()
        second.cleanup()


# ---------------------------------------------------------------------------------------------
# static_membership

ASSIGNED = re.compile(r"kafka: assigned (.*) \(group ")
REVOKED = re.compile(r"kafka: partitions revoked: (.*)$")


def parse_partitions(text):
    """'opinion.events[0,1], opinion.releases[2]' (kafka_health's describe_partitions) -> set."""
    if text.strip() == "none":
        return set()
    out = set()
    for topic, numbers in re.findall(r"([^\s,\[]+)\[([\d,]*)\]", text):
        out |= {(topic, int(n)) for n in numbers.split(",") if n}
    return out


def owned(log_text):
    """The partitions a daemon's log says it holds now: assignments less revocations, in order
    (eager: a revocation of all, then the new assignment; cooperative: the changes)."""
    held = set()
    for line in log_text.splitlines():
        if m := ASSIGNED.search(line):
            held |= parse_partitions(m.group(1))
        elif m := REVOKED.search(line):
            held -= parse_partitions(m.group(1))
    return held


ALL = {(t, p) for t in TOPICS for p in range(PARTITIONS)}


def check_healthy(daemons):
    for name, d in daemons.items():
        kt.check(d.proc.poll() is None, f"{name} exited ({d.proc.returncode}):\n"
                                        f"{d.output()[-3000:]}")
        out = d.output()
        for bad in ("[critical]", "FENCED", "fenced", "ProducerFenced"):
            kt.check(bad not in out, f"{name} logged {bad!r}:\n{out[-3000:]}")


def shared(daemons):
    """Both hold partitions, none twice, and together all of them: the owned sets, or None."""
    sets = {name: owned(d.output()) for name, d in daemons.items()}
    a, b = sets.values()
    if a and b and not (a & b) and (a | b) == ALL:
        return sets
    return None


def publish_incidents(broker, prefix, n):
    messages = [(f"{prefix}-{i:03d}".encode(), kt.event(f"{prefix}-ev-{i:03d}", f"{prefix}-{i:03d}"))
                for i in range(n)]
    broker.produce(kt.EVENTS, messages)
    return {key.decode() for key, _ in messages}


def partition_of_keys(broker, keys):
    found = {}
    for partition, _, key, _ in broker.consume_all(kt.EVENTS):
        if key is not None and key.decode() in keys:
            found[key.decode()] = partition
    kt.check(set(found) == keys, f"{len(keys) - len(found)} published keys not read back")
    return found


def incidents_in(db, prefix):
    rows = kt.db_query(db, "SELECT incident_key FROM incidents WHERE incident_key LIKE ?",
                       (prefix + "-%",))
    return {r[0] for r in rows}


OPENED = re.compile(r"\] action \S+ \S+ +(\S+) +incident_opened")


def opened_by(daemon, prefix):
    """The incidents a daemon's engine opened since its start (its log; a replica logs none)."""
    return {k for k in OPENED.findall(daemon.output()) if k.startswith(prefix + "-")}


def check_split(broker, daemons, dbs, sets, prefix, keys):
    """Every incident opened by the instance owning its partition, and by no other; every
    incident in both databases (each instance a replica of the other's)."""
    where = partition_of_keys(broker, keys)
    expected = {name: {k for k, p in where.items() if (kt.EVENTS, p) in sets[name]}
                for name in daemons}
    kt.wait_for(f"the {prefix} incidents opened by their partition's owner, in both databases",
                lambda: all(opened_by(daemons[n], prefix) == expected[n]
                            and incidents_in(dbs[n], prefix) == keys for n in daemons), 60,
                interval=0.2)
    counts = ", ".join(f"{n} {len(expected[n])}" for n in daemons)
    kt.log(f"{prefix}: {len(keys)} incidents, each opened by its partition's owner only "
           f"({counts}), all in both databases")
    return expected


def start_instance(args, work, name, config, db):
    d = kt.Daemon(args.incidentd, config, db, os.path.join(work, f"{name}.log"))
    d.start()
    return d


def create_state_topic(args, broker):
    r = subprocess.run([os.path.join(args.source_dir, "scripts", "kafka.sh"), "create-topic",
                        "--port", str(broker.port), "incidentd.state", "--partitions", "3",
                        "--config", "cleanup.policy=compact"],
                       capture_output=True, text=True, timeout=120)
    kt.check(r.returncode == 0, f"creating incidentd.state failed:\n{r.stdout}{r.stderr}")


def case_static_membership(args, work, broker):
    broker.start()
    broker.ensure_topics(*TOPICS, "opinion.events.dlq")
    create_state_topic(args, broker)
    daemons, configs, dbs = {}, {}, {}
    try:
        for name in ("a", "b"):
            configs[name] = os.path.join(work, f"{name}.toml")
            dbs[name] = os.path.join(work, f"{name}.db")
            write_cluster_config(args, configs[name], broker, instance_id=f"host-{name}")
        daemons["a"] = start_instance(args, work, "a", configs["a"], dbs["a"])
        kt.wait_for("instance a to hold every partition", lambda: owned(daemons["a"].output()) == ALL,
                    60, interval=0.1)
        daemons["b"] = start_instance(args, work, "b", configs["b"], dbs["b"])
        sets = kt.wait_for("the two instances to share the partitions", lambda: shared(daemons), 60,
                           interval=0.1)
        kt.log("shared: " + "; ".join(f"{n} {sorted(s)}" for n, s in sets.items()))
        check_healthy(daemons)
        for name, d in daemons.items():
            kt.check(f"instance host-{name} (static membership" in d.output(),
                     f"{name} did not log its instance")
        first = publish_incidents(broker, "one", 60)
        check_split(broker, daemons, dbs, sets, "one", first)
        kt.check(incidentctl_list(args, configs["a"], dbs["a"]) == sorted(first),
                 "incidentctl list on a's database: not every incident (a replica holds all)")

        # A quick restart of b under the same instance_id: no rebalance, so a sees nothing.
        mark_a = len(daemons["a"].output())
        t0 = time.monotonic()
        rc = daemons["b"].stop()
        kt.check(rc == 0, f"b exited {rc} at SIGTERM")
        daemons["b"] = start_instance(args, work, "b", configs["b"], dbs["b"])
        daemons["b"].wait_log(r"kafka: assigned ", 30)
        restarted = time.monotonic() - t0
        kt.check(owned(daemons["b"].output()) == sets["b"],
                 f"b came back with {sorted(owned(daemons['b'].output()))}, not {sorted(sets['b'])}")
        kt.log(f"b stopped, started and holds its partitions again in {restarted:.1f} s")
        second = publish_incidents(broker, "two", 60)
        check_split(broker, daemons, dbs, sets, "two", second)
        since = daemons["a"].output()[mark_a:]
        kt.check(not REVOKED.search(since) and not ASSIGNED.search(since),
                 f"a saw the group rebalance while b restarted:\n{since[-3000:]}")
        check_healthy(daemons)
        kt.log("a saw no revocation and no new assignment while b restarted")
        for name in ("b", "a"):
            kt.check(daemons[name].stop() == 0, f"{name} did not stop cleanly")
    finally:
        for d in daemons.values():
            d.cleanup()


def case_same_instance_id(args, work, broker):
    broker.start()
    broker.ensure_topics(*TOPICS, "opinion.events.dlq")
    create_state_topic(args, broker)
    daemons = {}
    try:
        for name in ("first", "second"):
            config = os.path.join(work, f"{name}.toml")
            write_cluster_config(args, config, broker, instance_id="host-a")
            daemons[name] = start_instance(args, work, name, config,
                                           os.path.join(work, f"{name}.db"))
            kt.wait_for(f"the {name} process to hold every partition",
                        lambda d=daemons[name]: owned(d.output()) == ALL, 60, interval=0.1)
        first = daemons["first"]
        kt.wait_for("the first process to exit", lambda: first.proc.poll() is not None, 60,
                    interval=0.1)
        out = first.output()
        kt.check(first.proc.returncode == 1, f"the first exited {first.proc.returncode}, not 1:\n"
                 + out[-3000:])
        kt.check("no session time-out of its own came before it: another process joined the "
                 "consumer group with this cluster.instance_id" in out,
                 "the first did not say why it stopped:\n" + out[-3000:])
        kt.check("rebuilding the consumer in place" not in out,
                 "the first took the other process's join for its own rejoin:\n" + out[-3000:])
        second = daemons["second"]
        kt.check(second.proc.poll() is None, f"the second exited too:\n{second.output()[-3000:]}")
        kt.check("[critical]" not in second.output() and "rebuilding" not in second.output(),
                 f"the second was fenced or stopped:\n{second.output()[-3000:]}")
        kt.check(owned(second.output()) == ALL, "the second does not hold every partition")
        kt.log(f"the first process exited {first.proc.returncode}, naming the other process with "
               "its instance_id; the second holds every partition")
        kt.check(second.stop() == 0, "the second did not stop cleanly")
    finally:
        for d in daemons.values():
            d.cleanup()


# ---------------------------------------------------------------------------------------------
# topics_mismatch


def case_topics_mismatch(args, work, broker):
    """A state topic of 2 partitions beside events and releases of 3: the member refuses to
    start (exit 2, the counts named) instead of handing incidents' inputs to non-owners."""
    broker.start()
    broker.ensure_topics(*TOPICS)
    r = subprocess.run([os.path.join(args.source_dir, "scripts", "kafka.sh"), "create-topic",
                        "--port", str(broker.port), "incidentd.state", "--partitions", "2",
                        "--config", "cleanup.policy=compact"],
                       capture_output=True, text=True, timeout=120)
    kt.check(r.returncode == 0, f"creating incidentd.state failed:\n{r.stdout}{r.stderr}")
    config = os.path.join(work, "a.toml")
    write_cluster_config(args, config, broker, "host-a")
    daemon = kt.Daemon(args.incidentd, config, os.path.join(work, "a.db"),
                       os.path.join(work, "a.log"))
    try:
        daemon.start()
        rc = daemon.proc.wait(timeout=60)
        out = daemon.output()
        kt.check(rc == 2, f"exit status {rc}, want 2:\n{out[-2000:]}")
        kt.check("refusing to start: the cluster's topics have different partition counts" in out
                 and "incidentd.state 2" in out and "opinion.events 3" in out,
                 f"the refusal does not name the counts:\n{out[-2000:]}")
        kt.check("kafka: assigned" not in out, "it joined the group before refusing")
        kt.log("PASS: refused with exit status 2, naming incidentd.state 2 and opinion.events 3")
    finally:
        daemon.cleanup()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case", choices=["second_daemon_refused", "static_membership",
                                         "topics_mismatch", "same_instance_id"])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--incidentctl", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    kt.stop_on_sigterm()
    if args.case == "second_daemon_refused":
        def body(work):
            case_second_daemon_refused(args, work)
    else:
        for tool in ("kcat", "java"):
            if shutil.which(tool) is None:
                print(f"cluster_test: {tool} not found (scripts/install-deps.sh installs it)")
                return 1

        case = {"static_membership": case_static_membership,
                "topics_mismatch": case_topics_mismatch,
                "same_instance_id": case_same_instance_id}[args.case]

        def body(work):
            broker = kt.Broker(args.source_dir, work)
            try:
                case(args, work, broker)
            finally:
                broker.stop()
    passed = kt.run_case(args.case, body, args.keep, prefix=f"incidentd-{args.case}-",
                         budget_s=CASE_BUDGET_S)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
