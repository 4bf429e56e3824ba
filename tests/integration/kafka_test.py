#!/usr/bin/env python3
"""Integration tests of incidentd's Kafka input against a real Apache Kafka broker.

    kafka_test.py CASE --incidentd PATH --source-dir DIR [--keep]

CASE is one of malformed_and_duplicates, sigkill_mid_stream, broker_outage, or all.

Each case starts its own single-node broker with scripts/kafka.sh on a free 127.0.0.1 port in a
temporary directory, and stops it (and every incidentd it started) whatever happens. Messages
are produced and read back with kcat; the daemon's SQLite database is read with Python's
sqlite3. Every wait polls a condition against a deadline; the one fixed pause is the 30 s broker
outage, which is the scenario itself. Standard library only.
"""

import argparse
import base64
import collections
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from config_edit import set_setting  # noqa: E402,F401  (shared with the demo and the chaos run)
from free_port import free_port, port_is_free  # noqa: E402,F401  (shared with kannel.sh)

UNITS = ["zhaotong-gov", "prov-emergency", "prov-cac", "prov-publicsecurity", "prov-office"]
EVENTS, RELEASES = "opinion.events", "opinion.releases"
CASE_BUDGET_S = 480  # every case aborts (and cleans up) past this; ctest's TIMEOUT is above it


class Failure(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class Budget:
    """The whole case's deadline: no wait may outlive it."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()


BUDGET = Budget(CASE_BUDGET_S)


def run_case(name, body, keep, prefix=None, budget_s=CASE_BUDGET_S, tail=4000):
    """Runs body(work) in a new work directory under its own budget, the way every integration
    test reports: "NAME: PASSED in S s", or "NAME: FAILED after S s: why" with the traceback of an
    unexpected error and the tail of each *.log in the directory. The directory is removed unless
    the case failed or `keep`. body cleans up what it started (a finally). Returns True on a pass."""
    global BUDGET
    BUDGET = Budget(budget_s)
    work = tempfile.mkdtemp(prefix=prefix or f"incidentd-{name}-")
    started = time.monotonic()
    log(f"{name}: work directory {work}")
    passed = False
    try:
        body(work)
        passed = True
        log(f"{name}: PASSED in {time.monotonic() - started:.1f} s")
    except Exception as e:  # noqa: BLE001 - report every failure the same way
        log(f"{name}: FAILED after {time.monotonic() - started:.1f} s: {e}")
        if not isinstance(e, Failure):
            traceback.print_exc()
        for logname in sorted(os.listdir(work)):
            if logname.endswith(".log"):
                with open(os.path.join(work, logname), errors="replace") as f:
                    print(f"----- {logname} (tail) -----\n{f.read()[-tail:]}")
    finally:
        if not passed or keep:
            log(f"{name}: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return passed


def stop_on_sigterm():
    """ctest's timeout sends SIGTERM: raise it as a Failure so each case's finally stops what it
    started (a broker left running would hold its ports and its disk)."""
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Failure("SIGTERM")))


def wait_for(what, probe, timeout, interval=0.05):
    """Polls probe() until it returns a truthy value; fails naming `what` and the last value."""
    deadline = time.monotonic() + min(timeout, max(BUDGET.left(), 0))
    last = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def rfc3339(t):
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def event(event_id, key, kind="detected", level="II", detected_at=None, drill=False, **extra):
    e = {
        "schema": 1,
        "event_id": event_id,
        "incident_key": key,
        "kind": kind,
        "level": level,
        "title": f"incident {key}",
        "lead_unit": "zhaotong-gov",
        "units": ["zhaotong-gov", "prov-emergency"],
        "detected_at": detected_at or rfc3339(datetime.now(timezone.utc) - timedelta(minutes=1)),
        "source": {"platform": "weibo", "url": f"https://example.org/{event_id}"},
    }
    if drill:
        e["drill"] = True
    e.update(extra)
    return dumps(e)


def without(message, field):
    obj = json.loads(message)
    del obj[field]
    return dumps(obj)


def confirmation(cid, key, unit="zhaotong-gov", milestone="first_release"):
    return dumps({
        "schema": 1, "confirmation_id": cid, "incident_key": key, "milestone": milestone,
        "unit": unit, "released_at": rfc3339(datetime.now(timezone.utc) - timedelta(seconds=30)),
        "channel": "weibo", "url": f"https://example.org/release/{cid}",
    })


# ---------------------------------------------------------------------------------------------
# The broker and kcat


class Broker:
    """The project's broker (scripts/kafka.sh) in `workdir`/kafka: one node, or with nodes=3 a
    KRaft cluster of three (replication factor 3, min.insync.replicas 2) on ports port, port+1,
    port+2, of which a test may kill one node and start it again.

    A test's broker lives a minute and carries little: compiled by C1 only (`quick_jit`), it
    starts with about half the CPU time, which a suite of brokers on two cores waits for. The
    benches' brokers keep the full JIT."""

    def __init__(self, source_dir, workdir, nodes=1, quick_jit=True):
        self.script = os.path.join(source_dir, "scripts", "kafka.sh")
        self.env = dict(os.environ)
        if quick_jit:
            self.env.setdefault("KAFKA_JVM_OPTS", "-XX:TieredStopAtLevel=1")
        self.dir = os.path.join(workdir, "kafka")
        self.nodes = nodes
        self.port = None

    def start(self, port=None):
        # A first start picks free ports; between the pick and the broker's bind another test's
        # broker (ctest runs two at once) may take one. Such a start is tried again on new ports;
        # a restart keeps its port, since the daemon's configuration names it.
        first = port is None and self.port is None
        self.port = port or self.port or self._free_ports()
        t0 = time.monotonic()
        for attempt in range(3 if first else 1):
            extra = [] if self.nodes == 1 else [
                "--nodes", str(self.nodes), "--controller-port", str(self.port + self.nodes)]
            r = subprocess.run([self.script, "start", "--port", str(self.port), "--dir", self.dir,
                                "--partitions", "3", *extra], capture_output=True, text=True,
                               timeout=max(BUDGET.left(), 1), env=self.env)
            if r.returncode == 0:
                break
            if not first or "already in use" not in r.stdout + r.stderr or attempt == 2:
                raise Failure(f"kafka.sh start failed:\n{r.stdout}\n{r.stderr}")
            log(f"broker: a port was taken during start-up ({self.port}); again on new ports")
            shutil.rmtree(self.dir, ignore_errors=True)
            self.port = self._free_ports()
        what = "broker" if self.nodes == 1 else f"{self.nodes}-node cluster"
        log(f"{what} up on {self.bootstrap} in {time.monotonic() - t0:.1f} s")

    def _free_ports(self):
        """One node: a free port. A cluster: the first of 2 x nodes free ports in a row (the
        nodes' listeners, then their controllers'), below Linux's ephemeral range (32768 and
        up), where the nodes' own connections to each other cannot take one during start-up."""
        if self.nodes == 1:
            return free_port()
        while True:
            port = random.randrange(20000, 32768 - 2 * self.nodes)
            if all(port_is_free(port + k) for k in range(2 * self.nodes)):
                return port

    def stop(self):
        if not os.path.isdir(self.dir):
            return
        t0 = time.monotonic()
        r = subprocess.run([self.script, "stop", "--dir", self.dir], capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            log(f"kafka.sh stop failed: {r.stdout} {r.stderr}")
        for line in r.stderr.splitlines():
            if "SIGKILL" in line:
                log(line)
        log(f"broker stopped in {time.monotonic() - t0:.1f} s")

    def kill_node(self, k):
        """SIGKILLs node k (1-based) of a cluster; the others go on."""
        self._node_command("kill-node", k, 30)

    def start_node(self, k):
        """Starts node k again with its ports and data; returns once the controller unfenced it
        (its replicas catch up and rejoin the in-sync sets afterwards)."""
        self._node_command("start-node", k, max(BUDGET.left(), 1))

    def _node_command(self, command, k, timeout):
        check(self.nodes > 1, f"{command}: this broker is a single node")
        t0 = time.monotonic()
        r = subprocess.run([self.script, command, "--dir", self.dir, "--node", str(k)],
                           capture_output=True, text=True, timeout=timeout, env=self.env)
        if r.returncode != 0:
            raise Failure(f"kafka.sh {command} --node {k} failed:\n{r.stdout}\n{r.stderr}")
        log(f"broker: {r.stdout.strip()} ({time.monotonic() - t0:.1f} s)")

    def node_pid(self, k):
        """The pid of node k of a cluster (of the broker when nodes=1), or None if it is down."""
        path = os.path.join(self.dir, "kafka.pid" if self.nodes == 1 else f"node-{k}/kafka.pid")
        try:
            with open(path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    @property
    def bootstrap(self):
        return ",".join(f"127.0.0.1:{self.port + k}" for k in range(self.nodes))

    def partitions(self, topic):
        """{partition: (leader, [replica ids], [in-sync ids])} as kcat -L reports them now."""
        r = subprocess.run(["kcat", "-L", "-b", self.bootstrap, "-t", topic], capture_output=True,
                           text=True, timeout=30)
        return {int(m[1]): (int(m[2]), m[3].split(","), m[4].split(","))
                for m in re.finditer(r"partition (\d+), leader (-?\d+), replicas: ([\d,]*), "
                                     r"isrs: ([\d,]*)", r.stdout)}

    def leader(self, topic, partition):
        """The node leading `partition` of `topic`, once it has one. The leader of
        __consumer_offsets partition 0 is every group's coordinator on a cluster of
        scripts/kafka.sh (its offsets topic has one partition): the node whose death tests the
        most."""
        def known():
            p = self.partitions(topic).get(partition)
            return p[0] if p and p[0] > 0 else None
        return wait_for(f"a leader of {topic}[{partition}]", known, 60, interval=0.3)

    def ensure_topics(self, *topics):
        """Creates the topics (the broker auto-creates on a metadata request) with 3 partitions."""
        for topic in topics:
            def ready():
                r = subprocess.run(["kcat", "-L", "-b", self.bootstrap, "-t", topic],
                                   capture_output=True, text=True, timeout=30)
                return r.returncode == 0 and len(re.findall(r"partition \d+, leader", r.stdout)) == 3
            wait_for(f"topic {topic}", ready, 60, interval=0.3)

    def produce(self, topic, messages):
        """messages: [(key bytes, value bytes)], in order; kcat splits on \\n and \\t."""
        lines = []
        for key, value in messages:
            check(b"\n" not in key + value and b"\t" not in key + value,
                  "test bug: a message must not contain \\n or \\t")
            lines.append(key + b"\t" + value)
        r = subprocess.run(["kcat", "-P", "-b", self.bootstrap, "-t", topic, "-K", "\t",
                            "-X", "linger.ms=20", "-X", "queue.buffering.max.messages=1000000"],
                           input=b"\n".join(lines) + b"\n", capture_output=True, timeout=120)
        if r.returncode != 0:
            raise Failure(f"kcat -P {topic} failed: {r.stderr.decode(errors='replace')}")

    def consume_all(self, topic):
        """Every committed record of the topic: [(partition, offset, key, value)]."""
        r = subprocess.run(["kcat", "-C", "-b", self.bootstrap, "-t", topic, "-o", "beginning",
                            "-e", "-q", "-f", "%p %o %K %S\n%k%s"], capture_output=True,
                           timeout=120)
        if r.returncode != 0:
            raise Failure(f"kcat -C {topic} failed: {r.stderr.decode(errors='replace')}")
        out, data, i = [], r.stdout, 0
        while i < len(data):
            nl = data.index(b"\n", i)
            p, o, klen, vlen = (int(x) for x in data[i:nl].split())
            i = nl + 1
            key = None
            if klen >= 0:
                key, i = data[i:i + klen], i + klen
            value = None
            if vlen >= 0:
                value, i = data[i:i + vlen], i + vlen
            out.append((p, o, key, value))
        return out

    def dead_letters(self, topic):
        return [json.loads(v) for _, _, _, v in self.consume_all(topic)]


# ---------------------------------------------------------------------------------------------
# incidentd


def write_config(source_dir, path, broker, group, dlq):
    with open(os.path.join(source_dir, "config", "incidentd.toml"), encoding="utf-8") as f:
        text = f.read()

    def setting(name, value):
        nonlocal text
        text, n = re.subn(rf'^{name} = "[^"]*"', f'{name} = "{value}"', text, count=1,
                          flags=re.MULTILINE)
        check(n == 1, f"config/incidentd.toml has no {name} line to replace")

    setting("brokers", broker.bootstrap)
    setting("group", group)
    setting("dead_letter", dlq)
    # Passed through to librdkafka: a member killed with SIGKILL leaves the group in 6 s, not 45.
    text, n = re.subn(r'^\[kafka\.properties\]$', '[kafka.properties]\n"session.timeout.ms" = "6000"',
                      text, count=1, flags=re.MULTILINE)
    check(n == 1, "config/incidentd.toml has no [kafka.properties]")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def add_cluster_section(path, instance_id, **settings):
    """Turns a write_config file into one instance of a cluster: [cluster] with `instance_id` and
    `settings` (strings), and without the session timeout write_config put in [kafka.properties],
    which belongs to [cluster] then (the default there is the same 6 s)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    line = '"session.timeout.ms" = "6000"\n'
    check(line in text, "write_config no longer sets session.timeout.ms")
    text = text.replace(line, "", 1) + f'\n[cluster]\ninstance_id = "{instance_id}"\n'
    for name, value in settings.items():
        text += f'{name} = "{value}"\n'
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class Daemon:
    def __init__(self, binary, config, database, logfile, extra=()):
        self.cmd = [binary, "--config", config, "--database", database, *extra]
        self.database = database
        self.logfile = logfile
        self.proc = None

    def start(self):
        self.log = open(self.logfile, "ab")
        self.offset = self.log.tell()
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)
        log(f"incidentd started (pid {self.proc.pid})")

    def output(self, since_start=True):
        with open(self.logfile, "rb") as f:
            if since_start:
                f.seek(self.offset)
            return f.read().decode(errors="replace")

    def wait_loop_up(self, timeout=60):
        """Until the loop logs the whole-file check's verdict: the store, the engine and the
        signal handlers are up. The first sign of life that does not need a broker."""
        return self.wait_log(r"checked whole \(PRAGMA quick_check\): ok", timeout)

    def wait_log(self, pattern, timeout):
        def found():
            check(self.proc.poll() is None or re.search(pattern, self.output()),
                  f"incidentd exited ({self.proc.returncode}) before logging /{pattern}/:\n"
                  + self.output()[-3000:])
            return re.search(pattern, self.output())
        return wait_for(f"incidentd to log /{pattern}/", found, timeout, interval=0.1)

    def http_port(self, timeout=60):
        """The API's port in this start, from the log: configurations of tests set `port = 0`, so
        the daemon binds a free port itself (a port picked by the test could be taken by another
        test's program before the daemon binds it)."""
        found = self.wait_log(r"HTTP API on https?://[^ ]+:(\d+)", timeout)
        return int(found.group(1))

    def stop(self):
        """SIGTERM; returns the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure("incidentd did not stop within 60 s of SIGTERM")
        self.log.close()
        return rc

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()
        log(f"incidentd killed with SIGKILL (pid {self.proc.pid})")

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def rfc3339_of_ms(ms):
    """An instant as incidentd writes it in UTC: milliseconds only when there are any."""
    seconds, millis = divmod(ms, 1000)
    text = datetime.fromtimestamp(seconds, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S")
    return text + (f".{millis:03d}" if millis else "") + "Z"


# The columns a timeline row's body leaves out since schema 17, then the body.
ROW_COLUMNS = "incident_key, at, action, milestone, body"


def row_entries(incident_key, at, action, milestone, body):
    """The timeline entries one row holds, as JSON objects (include/incidentd/timeline_rows.hpp):
    the row itself, or, for a row holding a step's notifications, one per recipient; each with
    what the row's columns say, and the notification id a step's alert id makes."""
    row = json.loads(body)
    row.setdefault("action", action)
    row.setdefault("at", rfc3339_of_ms(at))
    row.setdefault("incident_key", incident_key)
    if milestone is not None:
        row.setdefault("milestone", milestone)
    recipients = row.pop("recipients", None)
    if recipients is None:
        return [row]
    alert = row.pop("alert_id", None)
    entries = []
    for own in recipients:
        entry = {**row, **own}
        if alert is not None and "notification_id" not in entry:
            entry["notification_id"] = f"{alert}/{entry['recipient']}/{entry['send']}"
        entries.append(entry)
    return entries


def entries(path, where="", args=()):
    """The timeline entries of the rows `where` selects (SQL on the timeline's columns), in
    order."""
    return [entry for row in db_query(path, f"SELECT {ROW_COLUMNS} FROM timeline {where} "
                                            "ORDER BY seq", args)
            for entry in row_entries(*row)]


def timeline_entries(path, key, action):
    """The incident's timeline entries of one action, in order."""
    return entries(path, "WHERE incident_key = ? AND action = ?", (key, action))


def db_query(path, sql, args=()):
    if not os.path.exists(path):
        return []
    con = sqlite3.connect(path, timeout=10)
    try:
        con.execute("PRAGMA query_only = 1")
        return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return []
        raise
    finally:
        con.close()


def roster_addresses(config_path):
    """Every phone number (with and without its country code), webhook URL and webhook secret of
    a configuration: what must never appear in the timeline or an API response (plan item 95)."""
    import tomllib  # Python 3.11, Debian 12's python3
    with open(config_path, "rb") as f:
        config = tomllib.load(f)
    found = set()
    for unit in config.get("units", []):
        for person in unit.get("people", []):
            phone = person.get("phone", "")
            if phone:
                found.add(phone)
                found.add(phone.removeprefix("+86"))
            if person.get("webhook"):
                found.add(person["webhook"])
    for route in config.get("notify", {}).get("webhooks", []):
        if route.get("secret"):
            found.add(route["secret"])
    return sorted(found)


def check_no_addresses(db, config_path, api_bodies=()):
    """No roster address in the timeline, the outbox's bodies and errors, or the API bodies given."""
    addresses = roster_addresses(config_path)
    check(addresses, f"{config_path} names no phone or webhook: the check would prove nothing")
    rows = db_query(db, "SELECT body FROM timeline UNION ALL "
                        "SELECT body || COALESCE(last_error, '') FROM outbox")
    texts = [("the timeline or the outbox", "\n".join(r[0] for r in rows))]
    texts += [(f"API response {i + 1}", body) for i, body in enumerate(api_bodies)]
    for where, text in texts:
        leaked = [a for a in addresses if a in text]
        check(not leaked, f"{where} carries roster addresses: {leaked[:5]}")
    log(f"no roster address ({len(addresses)} searched) in {len(rows)} timeline and outbox rows "
        f"or {len(api_bodies)} API responses")


def db_count(path, table):
    if table == "processed":
        return db_processed(path)
    rows = db_query(path, f"SELECT COUNT(*) FROM {table}")
    return rows[0][0] if rows else 0


def db_processed(path):
    """Processed ids: since schema version 6 a row holds a commit's ids and their number. A fresh
    database passes through the earlier versions' layouts (with no ids yet) while incidentd
    migrates it, so the version is read in the same snapshot."""
    if not os.path.exists(path):
        return 0
    con = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        con.execute("PRAGMA query_only = 1")
        con.execute("BEGIN")
        if con.execute("PRAGMA user_version").fetchone()[0] < 6:
            return 0
        return con.execute("SELECT COALESCE(SUM(ids), 0) FROM processed").fetchone()[0]
    finally:
        con.close()


# The outbox dispatcher's records of each send (docs/notifications.md): how many there are depends
# on timing (retries against an absent receiver), so runs are compared on the engine's actions.
DISPATCHER_ACTIONS = ("delivery", "channel_fallback")


def timeline_kinds(path):
    """{incident_key: [action, ...]} in commit order, the engine's actions only."""
    out = collections.defaultdict(list)
    for key, action in db_query(path, "SELECT incident_key, action FROM timeline "
                                      "WHERE action != 'daemon_outage' ORDER BY seq"):
        if action not in DISPATCHER_ACTIONS:
            out[key].append(action)
    return dict(out)


def last_dlq_total(text):
    totals = re.findall(r"dead letter\(s\) written to \S+ \((\d+) in all since start\)", text)
    return int(totals[-1]) if totals else 0


# ---------------------------------------------------------------------------------------------
# Case 1: duplicates and malformed messages


def case_malformed_and_duplicates(args, work, broker):
    broker.start()
    broker.ensure_topics(EVENTS, RELEASES, "dlq.one")
    config = os.path.join(work, "incidentd.toml")
    write_config(args.source_dir, config, broker, "case-one", "dlq.one")
    db = os.path.join(work, "one.db")

    bad = []    # (topic, key, value, stage, reason pattern)

    def add_bad(topic, key, value, stage, pattern):
        bad.append((topic, key, value, stage, pattern))
        return (key, value)

    a1 = event("a1", "inc-a", level="II")
    b4 = event("b4", "inc-b", kind="updated", level="I")
    events_stream = [
        (b"inc-a", a1),
        (b"inc-a", a1),  # the same event twice: a no-op
        (b"inc-a", event("a2", "inc-a", kind="updated", level="I")),
        (b"inc-b", event("b1", "inc-b", level="III")),
        (b"inc-b", event("b2", "inc-b", kind="updated", level="II")),
        (b"inc-b", event("b3", "inc-b", kind="closed", level="II")),
        add_bad(EVENTS, b"inc-b", b4, "engine", r'incident "inc-b" is closed'),
        (b"inc-c", event("c1", "inc-c", level="IV")),
        (b"inc-c", event("c1", "inc-c", level="IV")),
        add_bad(EVENTS, b"junk", b"\xff\xfe\x00\x01garbage {", "validation", r"^not JSON at byte"),
        add_bad(EVENTS, b"inc-x1", without(event("x1", "inc-x1"), "event_id"), "validation",
                r'missing required field "event_id"'),
        add_bad(EVENTS, b"inc-x2", event("x2", "inc-x2", level=2), "validation",
                r'field "level" must be'),
        add_bad(EVENTS, b"inc-x3", event("x3", "inc-x3", units=["zhaotong-gov", "atlantis"]),
                "validation", r'unknown unit "atlantis"'),
        add_bad(EVENTS, b"inc-x4", event("x4", "inc-x4", title="洪" * 30000), "validation",
                r"over the limit of 65536"),
        add_bad(EVENTS, b"inc-x5", event("x5", "inc-x5", kind="closed"), "engine",
                r'closed event for unknown incident "inc-x5"'),
        add_bad(EVENTS, b"inc-x6", b"[1,2,3]", "validation", r"must be a JSON object"),
        # One JSON value and nothing after it: a NUL and garbage, or a second value, are invalid.
        add_bad(EVENTS, b"inc-x7", event("x7", "inc-x7") + b"\x00x", "validation",
                r"^not JSON at byte \d+: a NUL byte"),
        add_bad(EVENTS, b"inc-x8", event("x8", "inc-x8") + event("x9", "inc-x8"), "validation",
                r"^not JSON at byte \d+: trailing bytes after the JSON value"),
    ]
    bulk = [f"inc-bulk-{i:02d}" for i in range(30)]
    for i, key in enumerate(bulk):
        e = event(f"bulk-{i}", key)
        events_stream += [(key.encode(), e), (key.encode(), e)]

    # Built once: released_at is taken from the clock, and a repeat must be the same content.
    r1 = confirmation("r1", "inc-a")
    releases_stream = [
        (b"inc-a", r1),
        (b"inc-a", r1),  # duplicate
        # Another unit's r1 for the same incident is its own confirmation (and meets the
        # milestone); the first unit's r1 with another URL is refused, not dropped.
        (b"inc-a", confirmation("r1", "inc-a", unit="prov-emergency")),
        add_bad(RELEASES, b"inc-a", r1.replace(b"release/r1", b"other/r1"),
                "engine", r'confirmation "r1" of unit "zhaotong-gov" for incident "inc-a" was '
                r'already recorded with another url'),
        add_bad(RELEASES, b"inc-a", confirmation("r5", "inc-a") + b"\x00x", "validation",
                r"a NUL byte"),
        add_bad(RELEASES, b"inc-nope", confirmation("r2", "inc-nope"), "engine",
                r'unknown incident "inc-nope"'),
        add_bad(RELEASES, b"inc-a", confirmation("r3", "inc-a", unit="prov-cac"), "engine",
                r'unit "prov-cac" is not responsible'),
        add_bad(RELEASES, b"inc-a", confirmation("r4", "inc-a", milestone="lunch"), "validation",
                r'field "milestone" must be one of'),
    ]

    daemon = Daemon(args.incidentd, config, db, os.path.join(work, "incidentd.log"))
    daemon.start()
    try:
        broker.produce(EVENTS, events_stream)
        # Confirmations are produced once their incidents exist: the two topics are not ordered
        # with respect to each other, and a confirmation of an unknown incident is refused.
        wait_for("the events to be durable", lambda: db_count(db, "processed") >= 36, 90)
        broker.produce(RELEASES, releases_stream)
        wait_for("every dead letter", lambda: len(broker.dead_letters("dlq.one")) >= len(bad), 90,
                 interval=0.5)
        wait_for("the confirmations to be durable", lambda: db_count(db, "processed") >= 38, 30)
        wait_for("the dead-letter counter in the log",
                 lambda: last_dlq_total(daemon.output()) >= len(bad), 30)
    finally:
        rc = daemon.stop()
    check(rc == 0, f"incidentd exited {rc} on SIGTERM")

    # Incidents: exactly the expected ones, with their final level and state.
    incidents = {k: (lvl, closed) for k, lvl, closed in
                 db_query(db, "SELECT incident_key, level, closed FROM incidents")}
    expected = {"inc-a": ("I", 0), "inc-b": ("II", 1), "inc-c": ("IV", 0)}
    expected.update({k: ("II", 0) for k in bulk})
    check(incidents == expected, f"incidents: got {incidents}, expected {expected}")
    check(db_count(db, "processed") == 38, f"processed ids: {db_count(db, 'processed')}, not 38")

    # Timeline: every action once; duplicates and rejections left no trace. Each clock opens with
    # the alert at open (one warning; its notifications are counted apart, by the roster).
    kinds = {k: [a for a in v if a != "notification"] for k, v in timeline_kinds(db).items()}
    want = {"inc-a": ["incident_opened", "warning", "level_changed", "release_confirmed",
                      "release_confirmed", "milestone_met"],
            "inc-b": ["incident_opened", "level_changed", "warning", "incident_closed"],
            "inc-c": ["incident_opened"]}
    want.update({k: ["incident_opened", "warning"] for k in bulk})
    check(kinds == want, f"timeline: got {kinds}, expected {want}")

    # One dead letter per bad message, with its reason, stage, origin and exact bytes.
    letters = broker.dead_letters("dlq.one")
    check(len(letters) == len(bad), f"{len(letters)} dead letters for {len(bad)} bad messages")
    origin = {}
    for topic in (EVENTS, RELEASES):
        for p, o, k, v in broker.consume_all(topic):
            origin.setdefault((topic, v), []).append((p, o, k))
    by_origin = {(d["topic"], d["partition"], d["offset"]): d for d in letters}
    for topic, key, value, stage, pattern in bad:
        places = origin.get((topic, value), [])
        check(len(places) == 1, f"bad message {value[:40]!r} found {len(places)} times in {topic}")
        p, o, k = places[0]
        d = by_origin.get((topic, p, o))
        check(d is not None, f"no dead letter for {topic}/{p}@{o} ({value[:40]!r})")
        check(base64.b64decode(d["raw_base64"]) == value, f"raw bytes of {topic}/{p}@{o} differ")
        check(d["raw_size"] == len(value) and d["raw_truncated"] is False,
              f"raw_size/raw_truncated of {topic}/{p}@{o}: {d['raw_size']} {d['raw_truncated']}")
        check(base64.b64decode(d["key_base64"]) == key and d["key"] == key.decode(),
              f"key of {topic}/{p}@{o}: {d['key']!r}")
        check(d["stage"] == stage, f"stage of {topic}/{p}@{o}: {d['stage']}, expected {stage}")
        check(re.search(pattern, d["reason"]), f"reason of {topic}/{p}@{o}: {d['reason']!r} "
              f"does not match /{pattern}/")
    out = daemon.output()
    check(last_dlq_total(out) == len(bad), f"the log's dead-letter counter says "
          f"{last_dlq_total(out)}, expected {len(bad)}")
    check(re.search(r"incidentd: stopped; \d+ messages consumed", out), "no clean-stop line")
    log(f"case 1: {len(events_stream) + len(releases_stream)} messages, {len(expected)} incidents, "
        f"{len(letters)} dead letters, all as expected")


# ---------------------------------------------------------------------------------------------
# Case 2: SIGKILL mid-stream, restart, compare with an uninterrupted run


def big_stream(n_incidents, seed=7):
    """Events only (one topic keeps the order per key), deterministic. Returns the stream, the
    number of event ids the engine accepts, and the number of messages it must dead-letter."""
    rng = random.Random(seed)
    detected = rfc3339(datetime.now(timezone.utc) - timedelta(minutes=1))
    stream, accepted = [], 0
    pad = "舆情监测" * 20  # events of about 500 bytes
    for i in range(n_incidents):
        key = f"inc-{i:05d}"
        k = key.encode()
        level = rng.choice(["I", "II", "III", "IV"])
        evs = [event(f"{key}-0", key, level=level, detected_at=detected, title=f"{key} {pad}")]
        for j in range(rng.randint(0, 3)):
            level = rng.choice(["I", "II", "III", "IV"])
            evs.append(event(f"{key}-{j + 1}", key, kind="updated", level=level,
                             detected_at=detected, title=f"{key} {pad}"))
        accepted += len(evs)
        if rng.random() < 0.4:
            evs.append(event(f"{key}-c", key, kind="closed", level=level, detected_at=detected))
            accepted += 1
            if rng.random() < 0.1:  # after the close: refused by the engine, dead-lettered
                evs.append(event(f"{key}-late", key, kind="updated", detected_at=detected))
        for e in evs:
            stream.append((k, e))
            if rng.random() < 0.05:
                stream.append((k, e))  # sent twice by the monitoring system
        if rng.random() < 0.01:
            stream.append((k, b"{broken json " + str(i).encode()))
    # Every copy of a refused message is refused again: each is a dead letter of its own.
    n_bad = sum(1 for _, v in stream if v.startswith(b"{broken") or b'-late"' in v)
    return stream, accepted, n_bad


def case_sigkill_mid_stream(args, work, broker):
    broker.start()
    broker.ensure_topics(EVENTS, RELEASES, "dlq.ref", "dlq.kill")
    n_incidents = args.incidents
    stream, accepted, n_bad = big_stream(n_incidents)
    t0 = time.monotonic()
    broker.produce(EVENTS, stream)
    log(f"produced {len(stream)} events ({accepted} distinct accepted ids, {n_bad} to "
        f"dead-letter) for {n_incidents} incidents in {time.monotonic() - t0:.1f} s")

    def run_to_end(name, kill_at):
        config = os.path.join(work, f"{name}.toml")
        write_config(args.source_dir, config, broker, f"group-{name}", f"dlq.{name}")
        db = os.path.join(work, f"{name}.db")
        # Batches of 500 come full from the backlog, so most commit only what the engine acted
        # on and hold their offsets for the next full commit: the kills land between the two.
        daemon = Daemon(args.incidentd, config, db, os.path.join(work, f"{name}.log"),
                        extra=("--batch", "500"))
        t = time.monotonic()
        durable = 0
        for fraction in kill_at:
            daemon.start()
            try:
                # Each kill comes after fresh progress, wherever the last one left the database.
                target = max(int(fraction * accepted), durable + 1)
                durable = wait_for(f"{name}: {target} events durable",
                                   lambda: (n := db_count(db, "processed")) >= target and n, 120,
                                   interval=0.01)
                daemon.kill()
            finally:
                daemon.cleanup()
            check(durable < accepted, f"{name}: the kill came after the whole stream was durable")
            log(f"{name}: SIGKILL with {durable} of {accepted} events durable")
        daemon.start()
        try:
            # A liveness bound, not a speed: under the sanitizers, with the TSan build beside it
            # on two cores, the reference run alone once took over 180 s (2026-12-07, its
            # dispatcher retrying thousands of sends to absent receivers). The case's budget
            # still bounds both runs together.
            wait_for(f"{name}: the whole stream durable",
                     lambda: db_count(db, "processed") >= accepted, 300, interval=0.2)
            wait_for(f"{name}: every dead letter",
                     lambda: len(broker.consume_all(f"dlq.{name}")) >= n_bad, 60, interval=0.5)
        finally:
            rc = daemon.stop()
        check(rc == 0, f"{name}: incidentd exited {rc} on SIGTERM")
        log(f"{name}: done in {time.monotonic() - t:.1f} s")
        return db

    ref = run_to_end("ref", [])
    killed = run_to_end("kill", [0.3, 0.65])

    summary = {}
    letters = {}
    for name, db in (("ref", ref), ("kill", killed)):
        letters[name] = broker.dead_letters(f"dlq.{name}")
        summary[name] = {
            "incidents": db_count(db, "incidents"),
            # A start after a SIGKILL records the outage on every open incident (daemon_outage,
            # docs/reliability.md): the killed run has those on top, counted apart below.
            "timeline": db_query(db, "SELECT COUNT(*) FROM timeline WHERE action NOT IN "
                                     "('delivery', 'channel_fallback', 'daemon_outage')")[0][0],
            "processed": db_count(db, "processed"),
            "dead letters": len(letters[name]),
            "distinct dead-letter origins": len({(d["topic"], d["partition"], d["offset"])
                                                 for d in letters[name]}),
        }
        log(f"{name:>4}: {summary[name]}")
    want = {"incidents": n_incidents, "processed": accepted, "dead letters": n_bad,
            "distinct dead-letter origins": n_bad}
    for key, value in want.items():
        check(summary["ref"][key] == value, f"reference run: {key} {summary['ref'][key]}, "
              f"expected {value}")
    check(summary["ref"] == summary["kill"], "the killed run's counts differ from the reference")
    outages = {name: db_query(db, "SELECT COUNT(DISTINCT at) FROM timeline "
                                  "WHERE action = 'daemon_outage'")[0][0]
               for name, db in (("ref", ref), ("kill", killed))}
    log(f"outages recorded: {outages}")
    check(outages == {"ref": 0, "kill": 2}, "want the two kills recorded as two outages, "
          f"none in the reference: {outages}")
    check(timeline_kinds(ref) == timeline_kinds(killed), "the timelines differ action by action")
    check(sorted((d["partition"], d["offset"], d["reason"]) for d in letters["ref"])
          == sorted((d["partition"], d["offset"], d["reason"]) for d in letters["kill"]),
          "the dead letters differ")


# ---------------------------------------------------------------------------------------------
# Case 3: the broker goes away for 30 s


def case_broker_outage(args, work, broker):
    scale = 360  # 2 h of clock in 20 s
    broker.start()
    broker.ensure_topics(EVENTS, RELEASES, "dlq.three")
    config = os.path.join(work, "incidentd.toml")
    write_config(args.source_dir, config, broker, "case-three", "dlq.three")
    db = os.path.join(work, "three.db")
    daemon = Daemon(args.incidentd, config, db, os.path.join(work, "incidentd.log"),
                    ["--time-scale", str(scale)])
    daemon.start()
    try:
        origin_ms = int(daemon.wait_log(r"scaled clock origin_ms=(\d+)", 30).group(1))

        def scaled_now():
            real_ms = time.time() * 1000
            return datetime.fromtimestamp((origin_ms + (real_ms - origin_ms) * scale) / 1000,
                                          timezone.utc)

        detected = scaled_now()
        before = [(b"drill-1", event("d1", "drill-1", drill=True, detected_at=rfc3339(detected)))]
        before += [(f"drill-a{i}".encode(), event(f"a{i}", f"drill-a{i}", level="III", drill=True,
                                                  detected_at=rfc3339(detected)))
                   for i in range(200)]
        before.append((b"live-1", event("live-1", "live-1")))  # not a drill: refused
        broker.produce(EVENTS, before)
        wait_for("the first events durable", lambda: db_count(db, "processed") >= 201, 60)
        wait_for("the refused live event's dead letter",
                 lambda: len(broker.dead_letters("dlq.three")) >= 1, 30, interval=0.3)
        # The alert at open (the 0 h warning, "opening": true) fired at once; the 2 h one not yet.
        check(not db_query(db, "SELECT 1 FROM timeline WHERE incident_key = 'drill-1' AND "
                               "action = 'warning' AND body NOT LIKE '%\"opening\":true%'"),
              "the 2 h warning fired before the outage began; the scale is too fast for this "
              "machine")

        broker.stop()
        down_at = time.monotonic()
        # The engine's clock keeps running without Kafka: the drill's 2 h warning (20 s of real
        # time after detection) fires and is committed while the broker is down.
        warned = wait_for(
            "the drill's 2 h warning while the broker is down",
            lambda: entries(db, "WHERE incident_key = 'drill-1' AND action = 'warning' AND "
                                "body NOT LIKE '%\"opening\":true%'"),
            30)
        check(time.monotonic() - down_at < 30, "the warning came after the outage")
        due = warned[0]
        log(f"warning fired while the broker was down: at {due['at']}, due {due['due']}")
        daemon.wait_log(r"kafka: .*(_TRANSPORT|ALL_BROKERS_DOWN|waiting)", 30)
        time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))  # the outage itself
        check(daemon.proc.poll() is None, "incidentd died during the outage")
        broker.start()

        after = [(f"drill-b{i}".encode(), event(f"b{i}", f"drill-b{i}", level="IV", drill=True,
                                                detected_at=rfc3339(scaled_now())))
                 for i in range(200)]
        after.append((b"junk", b"not json after the outage"))
        broker.produce(EVENTS, after)
        wait_for("every event after the outage durable",
                 lambda: db_count(db, "processed") >= 401, 120, interval=0.2)
        wait_for("both dead letters", lambda: len(broker.dead_letters("dlq.three")) >= 2, 90,
                 interval=0.5)
        daemon.wait_log(r"kafka: (receiving|committing|partitions assigned) .*s after", 30)
    finally:
        rc = daemon.stop()
    check(rc == 0, f"incidentd exited {rc} on SIGTERM")
    check(db_count(db, "processed") == 401, f"{db_count(db, 'processed')} events durable, not 401")
    letters = broker.dead_letters("dlq.three")
    check(len(letters) == 2, f"{len(letters)} dead letters, expected 2")
    check([d["stage"] for d in letters if d["key"] == "live-1"] == ["drill_mode"],
          f"the live event's dead letter: {letters}")
    check(sum(1 for d in letters if d["key"] == "junk") == 1, "the junk message's dead letter")
    kinds = timeline_kinds(db)["drill-1"]
    check(kinds.count("incident_opened") == 1 and "warning" in kinds, f"drill-1 timeline: {kinds}")
    out = daemon.output()
    check("DRILL MODE" in out, "drill mode was not announced")


CASES = {
    "malformed_and_duplicates": case_malformed_and_duplicates,
    "sigkill_mid_stream": case_sigkill_mid_stream,
    "broker_outage": case_broker_outage,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case", choices=[*CASES, "all"])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--incidents", type=int, default=12000,
                        help="incidents in the SIGKILL case's stream (about 3.6 events each)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    for tool in ("kcat", "java"):
        if shutil.which(tool) is None:
            print(f"kafka_test: {tool} not found (scripts/install-deps.sh installs it)")
            return 1
    stop_on_sigterm()
    failed = False
    for name in CASES if args.case == "all" else [args.case]:
        def body(work, name=name):
            broker = Broker(args.source_dir, work)
            try:
                CASES[name](args, work, broker)
            finally:
                broker.stop()
        failed |= not run_case(name, body, args.keep)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
