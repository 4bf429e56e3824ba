#!/usr/bin/python3
"""Three Kafka brokers, one killed mid-run: nothing is lost, and what the cluster costs in memory.

    /usr/bin/python3 bench/broker_failover_check.py [--incidentd build/release/incidentd]
        [--messages 150000] [--incidents 300] [--keep]

Issue 19: "If a three-broker KRaft cluster (replication factor 3, min.insync.replicas 2) fits on
the machine, also kill one broker mid-run and show nothing is lost". On 127.0.0.1, with the
project's own script (scripts/kafka.sh start --nodes 3, via tests/integration/kafka_test.py's
Broker):

1. Numbers. A topic of 6 partitions, replication factor 3, stamped with the brokers' append time.
   kcat produces a numbered, keyed stream with the idempotent producer and acks=all; after a
   third of it the leader of partition 0 is SIGKILLed, after two thirds it is started again.
   Then everything is read back: every number present once, each partition's numbers in
   increasing order. Printed: the longest pause in each partition's appends (the failover), and
   how long the restarted node took to rejoin every in-sync set.
2. incidentd. One daemon with [cluster] (transactions, the state topic) on the three brokers:
   incidents and a malformed message, then the node that is the group coordinator (and, with one
   partition each, also leads the transaction state) is SIGKILLed, more incidents while it is
   down, then it is started again and more still. The database must hold every incident, each
   event processed once; the dead-letter topic exactly the malformed messages, once each; the
   daemon must not have exited. Printed too: how many times it rebuilt its Kafka clients in
   place after being fenced by its own rejoin (librdkafka #3437, docs/cluster.md), and how long
   each rebuild took.

Memory: the resident set (VmRSS) of each broker JVM after the start and at the end, their
total, and the machine's MemAvailable. Standard library and kcat only; exits non-zero if a check
fails.
"""

import argparse
import base64
import collections
import os
import re
import shutil
import subprocess
import sys
import threading
import time

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
import kafka_test as kt  # noqa: E402  (the broker, the daemon, SQLite and wait helpers)
from kafka_test import set_setting  # noqa: E402  (scripts/config_edit.py)

NUMBERS = "failover.numbers"
# The daemon's line once a fenced consumer is built again in place (kafka/consumer_rebuild.cpp).
REBUILT = re.compile(r"kafka: consumer and producer rebuilt in ([0-9.]+) s")
NUMBER_PARTITIONS = 6
IDEMPOTENT = ["-X", "enable.idempotence=true", "-X", "acks=all"]


def kib(field, path):
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_line(broker, when):
    """One line: each node's VmRSS and their total, and MemAvailable; returns the total (MiB)."""
    parts, total = [], 0
    for k in range(1, broker.nodes + 1):
        pid = broker.node_pid(k)
        mib = kib("VmRSS", f"/proc/{pid}/status") / 1024 if pid else 0
        total += mib
        parts.append(f"node {k} {mib:.0f} MiB")
    available = kib("MemAvailable", "/proc/meminfo") / 1024
    kt.log(f"memory {when}: {', '.join(parts)}; brokers' total {total:.0f} MiB; "
           f"MemAvailable {available:.0f} MiB")
    return total, available


def wait_full_isr(broker, topic, partitions):
    """Seconds until every partition of `topic` has all three replicas in sync again (polled
    with kcat -L every 0.3 s)."""
    t0 = time.monotonic()
    kt.wait_for(f"every partition of {topic} with 3 in-sync replicas",
                lambda: (m := broker.partitions(topic)) and len(m) == partitions and
                all(len(isr) == 3 for _, _, isr in m.values()), 120, interval=0.3)
    return time.monotonic() - t0


def create_topic(broker, name, partitions, *configs):
    cmd = [os.path.join(SOURCE_DIR, "scripts", "kafka.sh"), "create-topic", "--port",
           str(broker.port), name, "--partitions", str(partitions), "--replication-factor", "3"]
    for c in configs:
        cmd += ["--config", c]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    kt.check(r.returncode == 0, f"creating {name} failed:\n{r.stdout}{r.stderr}")
    m = broker.partitions(name)
    kt.check(len(m) == partitions and all(len(rep) == 3 for _, rep, _ in m.values()),
             f"{name}: want {partitions} partitions of 3 replicas, metadata says {m}")


def idempotent_produce(broker, topic, lines):
    """lines: b"key\\tvalue" each; kcat with the idempotent producer and acks=all."""
    r = subprocess.run(["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-K", "\t",
                        *IDEMPOTENT], input=b"\n".join(lines) + b"\n", capture_output=True,
                       timeout=300)
    failed = r.stderr.decode(errors="replace")
    kt.check(r.returncode == 0 and "Delivery failed" not in failed, f"kcat -P {topic}: {failed}")


# ---------------------------------------------------------------------------------------------
# 1. A numbered stream across a broker's death


class NumberWriter(threading.Thread):
    """Feeds kcat -P the numbers 0..n-1 (key k<n % 600>) at about `rate` a second; `written`
    counts what kcat has taken, which stops while the brokers hold it back."""

    def __init__(self, broker, n, rate):
        super().__init__(daemon=True)
        self.n, self.rate, self.written, self.error = n, rate, 0, None
        self.proc = subprocess.Popen(
            ["kcat", "-P", "-b", broker.bootstrap, "-t", NUMBERS, "-K", "\t", *IDEMPOTENT,
             "-X", "linger.ms=5"], stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self):
        try:
            t0, chunk = time.monotonic(), 500
            for start in range(0, self.n, chunk):
                end = min(start + chunk, self.n)
                self.proc.stdin.write(b"".join(b"k%d\t%d\n" % (i % 600, i)
                                               for i in range(start, end)))
                self.proc.stdin.flush()
                self.written = end
                ahead = t0 + end / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)  # pacing the stream, not waiting for a condition
            self.proc.stdin.close()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = e


def read_numbers(broker):
    """[(partition, offset, append ms, key, number)] of the whole topic."""
    r = subprocess.run(["kcat", "-C", "-b", broker.bootstrap, "-t", NUMBERS, "-o", "beginning",
                        "-e", "-q", "-f", "%p %o %T %k %s\n"], capture_output=True, text=True,
                       timeout=300)
    kt.check(r.returncode == 0, f"kcat -C {NUMBERS}: {r.stderr}")
    rows = []
    for line in r.stdout.splitlines():
        p, o, ts, k, v = line.split()
        rows.append((int(p), int(o), int(ts), k, int(v)))
    return rows


def check_numbers(rows, n):
    """Every number once, each partition's in increasing order, each key in one partition."""
    count = collections.Counter(v for *_, v in rows)
    lost = [i for i in range(n) if i not in count]
    duplicated = sum(c - 1 for c in count.values() if c > 1)
    unexpected = [v for v in count if not 0 <= v < n]
    out_of_order, key_partitions = 0, collections.defaultdict(set)
    by_partition = collections.defaultdict(list)
    for p, o, _, k, v in sorted(rows):
        by_partition[p].append(v)
        key_partitions[k].add(p)
    for values in by_partition.values():
        out_of_order += sum(1 for a, b in zip(values, values[1:]) if b <= a)
    split_keys = [k for k, ps in key_partitions.items() if len(ps) > 1]
    kt.log(f"messages produced {n}, consumed {len(rows)}, lost {len(lost)}, "
           f"duplicated {duplicated}, out of order {out_of_order}")
    kt.check(not lost, f"{len(lost)} numbers lost, the first {lost[:10]}")
    kt.check(duplicated == 0 and not unexpected, f"{duplicated} duplicates, unexpected {unexpected[:10]}")
    kt.check(out_of_order == 0, f"{out_of_order} numbers out of order within their partition")
    kt.check(not split_keys, f"keys in more than one partition: {split_keys[:10]}")
    return {"consumed": len(rows), "lost": len(lost), "duplicated": duplicated}


def longest_pauses(rows):
    """{partition: longest gap in seconds between consecutive appends (broker time)}."""
    times = collections.defaultdict(list)
    for p, o, ts, _, _ in sorted(rows):
        times[p].append(ts)
    return {p: max((b - a for a, b in zip(t, t[1:])), default=0) / 1000
            for p, t in sorted(times.items())}


def numbers_across_a_kill(args, broker):
    create_topic(broker, NUMBERS, NUMBER_PARTITIONS, "message.timestamp.type=LogAppendTime")
    victim = broker.leader(NUMBERS, 0)
    writer = NumberWriter(broker, args.messages, args.rate)
    t0 = time.monotonic()
    writer.start()
    kt.wait_for("a third of the stream written", lambda: writer.written >= args.messages // 3,
                120, interval=0.01)
    broker.kill_node(victim)
    killed_at = time.monotonic()
    kt.wait_for("two thirds of the stream written",
                lambda: writer.written >= 2 * args.messages // 3 or writer.error, 300,
                interval=0.05)
    broker.start_node(victim)
    restarted_at = time.monotonic()
    rejoin_s = wait_full_isr(broker, NUMBERS, NUMBER_PARTITIONS)
    writer.join(timeout=max(kt.BUDGET.left(), 1))
    kt.check(writer.error is None, f"writing to kcat failed: {writer.error}")
    rc = writer.proc.wait(timeout=max(kt.BUDGET.left(), 1))
    stderr = writer.proc.stderr.read().decode(errors="replace")
    produced_s = time.monotonic() - t0
    kt.check(rc == 0 and "Delivery failed" not in stderr, f"kcat -P exited {rc}: {stderr[-2000:]}")
    kt.log(f"produced {args.messages} numbers in {produced_s:.1f} s with node {victim} (leader of "
           f"{NUMBERS}[0]) killed at {killed_at - t0:.1f} s and back at {restarted_at - t0:.1f} s")
    kt.log(f"node {victim} back in every in-sync set {rejoin_s:.1f} s after it started")
    rows = read_numbers(broker)
    counts = check_numbers(rows, args.messages)
    pauses = longest_pauses(rows)
    kt.log("longest pause in appends per partition: " +
           ", ".join(f"{p}: {s:.1f} s" for p, s in pauses.items()))
    return {**counts, "victim": victim, "produced_s": produced_s, "rejoin_s": rejoin_s,
            "pause_s": max(pauses.values())}


# ---------------------------------------------------------------------------------------------
# 2. incidentd on the three brokers


def incident_lines(phase, count):
    lines = [f"{phase}-{i}".encode() + b"\t" + kt.event(f"{phase}-e{i}", f"{phase}-{i}")
             for i in range(count)]
    bad = b"not json, phase " + phase.encode()
    return lines + [phase.encode() + b"-bad\t" + bad], bad


def daemon_config(broker, work, mode, session_timeout):
    """mode "single": the default, one instance; "cluster": with [cluster] (static membership,
    the state topic). Each mode has topics of its own, so each daemon sees only its stream."""
    events, dlq, state = f"{mode}.events", f"{mode}.events.dlq", f"{mode}.state"
    for topic in (events, f"{mode}.releases", dlq):
        create_topic(broker, topic, 3)
    config = os.path.join(work, f"{mode}.toml")
    kt.write_config(SOURCE_DIR, config, broker, f"broker-failover-{mode}", dlq)
    with open(config, encoding="utf-8") as f:
        text = f.read()
    text = set_setting(text, "kafka.topics", "events", f'"{events}"')
    text = set_setting(text, "kafka.topics", "releases", f'"{mode}.releases"')
    with open(config, "w", encoding="utf-8") as f:
        f.write(text)
    if mode == "cluster":
        create_topic(broker, state, 3, "cleanup.policy=compact")
        extra = {"session_timeout": session_timeout} if session_timeout else {}
        kt.add_cluster_section(config, "incidentd-a", state_topic=state, **extra)
    return config, events, dlq


def victim_for(broker, target):
    """The node to kill: the group coordinator (the leader of __consumer_offsets' one
    partition), or a node that is neither it nor the transaction coordinator if there is one."""
    coordinator = broker.leader("__consumer_offsets", 0)
    transactions = broker.leader("__transaction_state", 0)
    if target == "coordinator":
        victim = coordinator
    else:
        others = [k for k in range(1, broker.nodes + 1) if k not in (coordinator, transactions)]
        victim = others[0] if others else next(k for k in range(1, 4) if k != coordinator)
    kt.log(f"group coordinator: node {coordinator}; transaction coordinator: node "
           f"{transactions}; killing node {victim}")
    return victim, coordinator, transactions


class Supervised:
    """A daemon started again whenever it exits, as systemd's Restart=on-failure does (without
    its 2 s pause), so what an exit costs shows in the data; each exit is counted, with the
    last [critical] line the daemon logged."""

    def __init__(self, daemon):
        self.daemon, self.exits = daemon, []

    def poll(self):
        """Restarts the daemon if it has exited; every wait calls it. Returns None."""
        proc = self.daemon.proc
        if proc.poll() is None:
            return None
        out = self.daemon.output()
        why = re.findall(r"^.*(?:\[critical\]|kafka FATAL).*$", out, re.MULTILINE)
        self.exits.append(f"exit {proc.returncode}: "
                          + (" / ".join(w[:300] for w in why) or "no [critical] line"))
        kt.log(f"incidentd {self.exits[-1]}; started again")
        self.daemon.log.close()
        self.daemon.start()
        return None


def incidentd_across_a_kill(args, broker, work, mode):
    """One daemon; incidents before, while and after one node is down. Returns its figures
    (with the daemon's exits, if any); raises a Failure if an incident or a dead letter is
    missing or extra."""
    config, events, dlq = daemon_config(broker, work, mode, args.session_timeout)
    db = os.path.join(work, f"{mode}.db")
    daemon = kt.Daemon(args.incidentd, config, db, os.path.join(work, f"{mode}.log"))
    supervised = Supervised(daemon)
    n, bad_values, figures = args.incidents, [], {"mode": mode}
    daemon.start()
    try:
        daemon.wait_log(r"kafka: assigned", 90)

        def phase(name, want):
            lines, bad = incident_lines(f"{mode}-{name}", n)
            bad_values.append(bad)
            t0 = time.monotonic()
            idempotent_produce(broker, events, lines)
            kt.wait_for(f"{mode}, phase {name}: {want} events durable",
                        lambda: supervised.poll() or kt.db_count(db, "processed") >= want, 180,
                        interval=0.1)
            kt.wait_for(f"{mode}, phase {name}: {len(bad_values)} dead letters",
                        lambda: supervised.poll() or len(broker.dead_letters(dlq)) >= len(
                            bad_values), 120, interval=0.5)
            figures[name] = time.monotonic() - t0
            kt.log(f"{mode}, phase {name}: {n} incidents and a malformed message durable and "
                   f"dead-lettered {figures[name]:.1f} s after kcat began")

        phase("before", n)
        victim, figures["coordinator"], figures["transactions"] = victim_for(broker, args.kill)
        figures["victim"] = victim
        broker.kill_node(victim)
        phase("down", 2 * n)
        broker.start_node(victim)
        phase("after", 3 * n)
        supervised.poll()
    finally:
        rc = daemon.stop() if daemon.proc.poll() is None else daemon.proc.returncode
        text = daemon.output(since_start=False)
        warnings = re.findall(r"^.*\[(?:warning|error|critical)\].*$", text, re.MULTILINE)
        figures["rebuilds"] = [float(s) for s in REBUILT.findall(text)]
        kt.log(f"{mode}: incidentd logged {len(warnings)} warnings or errors:\n  "
               + "\n  ".join(w[:300] for w in warnings[:14]))
    kt.check(rc == 0, f"incidentd exited {rc} on SIGTERM")
    figures["exits"] = supervised.exits
    check_daemon_data(db, broker, dlq, mode, n, bad_values)
    figures["incidents"] = 3 * n
    return figures


def check_daemon_data(db, broker, dlq, mode, n, bad_values):
    """Every incident of the three phases once, every event processed once, and exactly the
    malformed messages dead-lettered, each once."""
    keys = {k for (k,) in kt.db_query(db, "SELECT incident_key FROM incidents")}
    want = {f"{mode}-{p}-{i}" for p in ("before", "down", "after") for i in range(n)}
    processed = kt.db_count(db, "processed")
    raws = sorted(base64.b64decode(d["raw_base64"]) for d in broker.dead_letters(dlq))
    kt.log(f"{mode}: {len(keys)} incidents in the database (want {len(want)}), {processed} "
           f"events processed (want {3 * n}), {len(raws)} dead letters (want "
           f"{len(bad_values)}: the malformed messages)")
    kt.check(keys == want, f"incidents missing {sorted(want - keys)[:10]}, "
                           f"unexpected {sorted(keys - want)[:10]}")
    kt.check(processed == 3 * n, f"{processed} events processed, not {3 * n}")
    kt.check(raws == sorted(bad_values), f"dead letters: {raws}")


# ---------------------------------------------------------------------------------------------


def run(args, work):
    broker = kt.Broker(SOURCE_DIR, work, nodes=3, quick_jit=False)
    numbers, daemons, failures = None, [], []
    try:
        t0 = time.monotonic()
        broker.start()
        startup_s = time.monotonic() - t0
        total_start, _ = rss_line(broker, "after the start")
        if args.messages:
            numbers = numbers_across_a_kill(args, broker)
        for mode in args.modes.split(",") if args.incidentd else []:
            try:
                daemons.append(incidentd_across_a_kill(args, broker, work, mode))
            except kt.Failure as e:  # the other mode still runs; the case fails below
                if str(e) == "SIGTERM":
                    raise
                kt.log(f"{mode}: FAILED: {e}")
                failures.append(f"incidentd ({mode}): {e}")
                for k in range(1, broker.nodes + 1):  # the node it killed, if still down
                    if broker.node_pid(k) is None:
                        broker.start_node(k)
        total_end, available = rss_line(broker, "at the end")
    finally:
        broker.stop()
    heap = os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx256m, the script's default")
    print(f"\ncluster of 3 nodes (heap {heap}) started in {startup_s:.1f} s; the brokers' resident "
          f"memory {total_start:.0f} MiB after the start, {total_end:.0f} MiB at the end; "
          f"MemAvailable {available:.0f} MiB")
    if numbers:
        print(f"numbers: messages produced {args.messages}, consumed {numbers['consumed']}, lost "
              f"{numbers['lost']}, duplicated {numbers['duplicated']}; node {numbers['victim']} "
              f"killed and restarted; longest pause in a partition's appends "
              f"{numbers['pause_s']:.1f} s; back in sync {numbers['rejoin_s']:.1f} s after its start")
    for d in daemons:
        print(f"incidentd ({d['mode']}): {d['incidents']} incidents, none lost, 3 dead letters as "
              f"sent; node {d['victim']} killed (group coordinator node {d['coordinator']}, "
              f"transaction coordinator node {d['transactions']}); durable {d['before']:.1f} s / "
              f"{d['down']:.1f} s (node down) / {d['after']:.1f} s (node back) after each "
              f"phase's kcat began; the daemon exited {len(d['exits'])} time(s), rebuilt its "
              f"consumer in place {len(d['rebuilds'])} time(s)"
              + (f" (in {', '.join(f'{s:.1f}' for s in d['rebuilds'])} s)" if d["rebuilds"] else ""))
        for e in d["exits"]:
            print(f"  {e}")
        if d["exits"] and not args.allow_exits:
            failures.append(f"incidentd ({d['mode']}) exited {len(d['exits'])} time(s) "
                            "(started again, so the data above is after the restart)")
    for f in failures:
        print(f"FAILED: {f}")
    kt.check(not failures, f"{len(failures)} daemon run(s) failed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidentd", default=os.path.join(SOURCE_DIR, "build", "release",
                                                             "incidentd"),
                        help="the daemon for part 2 ('' skips it)")
    parser.add_argument("--modes", default="single,cluster",
                        help="daemons to run, one after the other: single (no [cluster]), "
                             "cluster (with [cluster])")
    parser.add_argument("--kill", choices=["coordinator", "other"], default="coordinator",
                        help="part 2 kills the group coordinator, or a node that coordinates "
                             "nothing")
    parser.add_argument("--session-timeout", default="",
                        help="[cluster] session_timeout of the cluster mode's daemon (6s)")
    parser.add_argument("--messages", type=int, default=150000, help="numbers in part 1 (0 skips it)")
    parser.add_argument("--rate", type=int, default=5000, help="numbers a second, at most")
    parser.add_argument("--incidents", type=int, default=300, help="incidents per phase of part 2")
    parser.add_argument("--allow-exits", action="store_true",
                        help="pass when the daemon exited and, started again, lost nothing")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    for tool in ("kcat", "java"):
        if shutil.which(tool) is None:
            print(f"broker_failover_check: {tool} not found (scripts/install-deps.sh installs it)")
            return 1
    if args.incidentd and not os.access(args.incidentd, os.X_OK):
        print(f"broker_failover_check: no daemon at {args.incidentd} (ninja -C build/release "
              "incidentd), or pass --incidentd ''")
        return 1
    kt.stop_on_sigterm()
    ok = kt.run_case("broker_failover", lambda work: run(args, work), args.keep, budget_s=900)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
