#!/usr/bin/env python3
"""The chaos run (issue 20): the real daemon under faults, checked against a run without them.

    chaos.py --incidentd PATH --incidentctl PATH --source-dir DIR [--only a,b] [--incidents N]
             [--seed N] [--keep]

Starts, all on 127.0.0.1 and free ports, once for the whole run: a single-node Kafka broker
(scripts/kafka.sh), Kannel with its fake SMSC (scripts/kannel.sh), the project's webhook receiver
(scripts/webhook_receiver.py, in this process, counting deliveries per notification id). Each
scenario then runs the real daemon on its own database, topics and consumer group, plays the same
seeded workload (incidents, level changes, closes, release confirmations on opinion.releases,
acknowledgements through the HTTP API, duplicates, malformed messages) in waves, injects its
fault, stops the daemon cleanly and checks its database and the receivers against the baseline
(the same workload without faults, run once first). Scenarios:

  sigkill    SIGKILL of the daemon 20 times, restarted each time: up to half as soon as it shows
             fresh progress on its backlog, the rest at random moments while the steps fall due
  broker     the broker stopped for 60 s while the waves come, later killed with SIGKILL once
  receivers  Kannel and the webhook receiver down for 10 minutes of clock (drill time scale)
  clock      the wall clock (libfaketime, CLOCK_REALTIME only) back 1 h and forward 1 h, then
             forward 1 h and back 1 h; the process stopped with SIGSTOP for 2 minutes
  diskfull   the database's filesystem (a small tmpfs) full for 20 s: the daemon must say
             "disk full" in its log and on /readyz (503), keep its clocks, and resume by itself
  corrupt    a truncated and a corrupted database file at start: refused, the file named

Invariants (each scenario; the figures are printed on one line per scenario):
  - every valid event applied once: processed ids equal the workload's; incidents (level,
    closed) equal the workload's and the baseline's; confirmations and acknowledgements equal;
  - no incident lost or doubled; every dead-letter origin once (a crash may write one twice);
  - every clock step (warning, target_missed, deadline_breached, keyed by incident, milestone,
    action, due relative to the clock start, reminder) fired once, as in the baseline (a step
    missing is allowed only when a later step of its milestone fired as a catch-up, the rule);
    never early (at >= due); late (non-catch-up steps) by at most the fault's length plus
    LATE_TOLERANCE_S; for SIGKILL the fault's length is the recorded outage (daemon_outage);
  - every notification delivered or given up and reported (outbox states, a gave_up delivery
    entry for each failed row); every delivered one at its receiver (webhook by notification id,
    SMS by phone and incident key at fakesmsc); no notification received more than 1 + crashes
    times, and the duplicates at most max_in_flight (64) per crash;
  - `incidentctl verify` and `incidentctl check-db` pass.

The last line is `chaos: N scenarios, P passed, lost L, doubled D, early E`; the exit status is 1
when any invariant broke. Every wait polls a condition against a deadline; the fixed pauses are
the faults themselves. Everything started is stopped, also on failure. Standard library only.
"""

import argparse
import collections
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import kafka_test as kt  # noqa: E402  (broker, daemon, wait_for, free_port, db helpers)
import kannel_test as kn  # noqa: E402  (decoding what fakesmsc received)
from webhook_receiver import Receiver  # noqa: E402

LATE_TOLERANCE_S = 3.0     # a step on time: fired within this of its due (loaded 2-core machine)
WAVES = 30                 # one wave of input per second of clock, for 30 s
STEP_MIN_S, STEP_MAX_S = 85, 100   # each clock's step in the window: this long after its arrival
SETTLE_S = 135             # a run lasts at least this long on the clock: every step has fallen due
LADDER = [("first_release", 2 * 3600), ("first_release", 2.5 * 3600),
          ("first_release", 3 * 3600), ("first_release", 4.5 * 3600),
          ("first_release", 5 * 3600), ("press_conference", 20 * 3600),
          ("press_conference", 23 * 3600)]
# The multi-threaded variant: librdkafka and the HTTP server read the clock from their threads.
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
RUN_BUDGET_S = 900
BATCH = 50
MAX_IN_FLIGHT = 64         # [notify] max_in_flight of the example configuration
LOAD_KILLS_UNTIL_S = 45    # kills under load end here: every input is in before the steps


def log(msg):
    kt.log(msg)


check = kt.check
Failure = kt.Failure


class Aborted(BaseException):
    """SIGTERM: the whole run stops (past every scenario's own `except Exception`)."""


def rfc3339_ms(ms):
    return kt.rfc3339(datetime.fromtimestamp(ms / 1000, timezone.utc))


def parse_ms(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


# ---------------------------------------------------------------------------------------------
# The workload: the same for every run (seeded); instants relative to each message's wave.


class Workload:
    """waves[i] = {"events": [(key, builder)], "releases": [...], "acks": [...]}; a builder takes
    the wave's instant on the daemon's clock (ms) and returns the message bytes."""

    UNITS = ["zhaotong-gov", "prov-emergency"]

    def __init__(self, n_incidents, seed):
        rng = random.Random(seed)
        self.waves = [{"events": [], "releases": [], "acks": []} for _ in range(WAVES)]
        self.expected = {}      # key -> (level, closed)
        self.accepted = 0       # distinct event and confirmation ids the engine applies
        self.bad = 0            # messages to dead-letter (each copy is a dead letter)
        self.clocks = 0
        self.releases = 0
        self.acks = 0
        pad = "舆情监测" * 10
        for i in range(n_incidents):
            key = f"inc-{i:05d}"
            wave = self.waves[i % WAVES]
            clock = rng.random() < 0.05
            closed = False
            if clock:
                self.clocks += 1
                milestone, offset = rng.choice(LADDER)
                # Detected so that the ladder step at `offset` falls due STEP_MIN..MAX s after
                # the wave: the steps before it are a catch-up at arrival.
                lead = offset - rng.uniform(STEP_MIN_S, STEP_MAX_S)
                level = rng.choice(["I", "II"])
                evs = [self._event(key, "0", "detected", level, lead, pad)]
                if rng.random() < 0.3:
                    level = "I" if level == "II" else "II"
                    evs.append(self._event(key, "1", "updated", level, lead, pad))
                if rng.random() < 0.1:
                    evs.append(self._event(key, "c", "closed", level, lead, None))
                    closed = True
                elif milestone == "first_release" and rng.random() < 0.3:
                    # Confirmed by both units a few seconds after arrival: the step is cancelled.
                    for unit in self.UNITS:
                        wave["releases"].append((key, self._release(key, unit, 2.0)))
                        self.releases += 1
                        self.accepted += 1
                if not closed and rng.random() < 0.4:
                    wave["acks"].append((key, "zt-duty1"))
                    self.acks += 1
                    if rng.random() < 0.3:
                        wave["acks"].append((key, "zt-duty1"))  # sent twice
            else:
                level = rng.choice(["III", "IV"])
                evs = [self._event(key, "0", "detected", level, 600, pad)]
                for j in range(rng.randint(0, 2)):
                    level = rng.choice(["III", "IV"])
                    evs.append(self._event(key, str(j + 1), "updated", level, 600, pad))
                if rng.random() < 0.3:
                    evs.append(self._event(key, "c", "closed", level, 600, None))
                    closed = True
                    if rng.random() < 0.1:  # after the close: refused, a dead letter
                        evs.append(self._event(key, "late", "updated", level, 600, None))
                        self.bad += 1
            self.accepted += sum(1 for e in evs if e[0] != "late")
            for tag, builder in evs:
                wave["events"].append((key, builder))
                if rng.random() < 0.05:
                    wave["events"].append((key, builder))  # sent twice by the monitoring system
                    if tag == "late":
                        self.bad += 1
            if rng.random() < 0.01:
                wave["events"].append((key, lambda _ms, i=i: b"{broken json " + str(i).encode()))
                self.bad += 1
            if rng.random() < 0.005:  # a unit nobody knows
                wave["events"].append((key, self._event(key, "x", "detected", "II", 600, None,
                                                        units=["zhaotong-gov", "atlantis"])[1]))
                self.bad += 1
            self.expected[key] = (level, int(closed))

    @staticmethod
    def _event(key, tag, kind, level, lead_s, title, units=None):
        """An event whose detected_at is lead_s before its wave's instant."""
        units = units or Workload.UNITS

        def build(wave_ms):
            e = {"schema": 1, "event_id": f"{key}-{tag}", "incident_key": key, "kind": kind,
                 "level": level, "title": f"{key} {title or ''}", "lead_unit": "zhaotong-gov",
                 "units": units, "detected_at": rfc3339_ms(wave_ms - lead_s * 1000),
                 "drill": True,
                 "source": {"platform": "weibo", "url": f"https://example.org/{key}"}}
            return kt.dumps(e)
        return (tag, build)

    @staticmethod
    def _release(key, unit, after_s):
        def build(wave_ms):
            return kt.dumps({"schema": 1, "confirmation_id": f"rel-{key}", "incident_key": key,
                             "milestone": "first_release", "unit": unit,
                             "released_at": rfc3339_ms(wave_ms + after_s * 1000),
                             "channel": "weibo", "url": f"https://example.org/release/{key}"})
        return build


# ---------------------------------------------------------------------------------------------
# The shared parts: broker, Kannel, webhook receiver


class CountingReceiver(Receiver):
    """The project's receiver, counting deliveries per notification id and incident."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.by_incident = collections.defaultdict(collections.Counter)

    def check(self, headers, body):
        payload, why = super().check(headers, body)
        if payload is not None:
            with self.lock:
                self.by_incident[payload.get("incident_key", "?")][payload["notification_id"]] += 1
        return payload, why


class Stack:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.broker = kt.Broker(args.source_dir, work)
        self.kannel_sh = os.path.join(args.source_dir, "scripts", "kannel.sh")
        self.kannel_dir = os.path.join(work, "kannel")
        self.kannel_up = False
        self.kannel = {}
        self.receiver_port = kt.free_port()
        with open(os.path.join(args.source_dir, "config", "incidentd.toml"), "rb") as f:
            import tomllib
            self.example = tomllib.load(f)
        self.secret = self.example["notify"]["webhooks"][0]["secret"].encode()
        self.receiver_log = open(os.path.join(work, "webhook-receiver.log"), "w")
        self.receiver = CountingReceiver("127.0.0.1", self.receiver_port, self.secret,
                                         out=self.receiver_log, max_skew_s=None)
        self.callback_secret = os.path.join(work, "sms-callback-secret")
        self.credentials = os.path.join(work, "sms-credentials")

    def start(self):
        self.broker.start()
        self.start_kannel()
        self.receiver.start()

    def start_kannel(self):
        if not os.path.exists(self.callback_secret):
            fd = os.open(self.callback_secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
        self.kannel_up = True
        # The callback goes nowhere: replies are not part of this run.
        r = subprocess.run([self.kannel_sh, "start", "--dir", self.kannel_dir], capture_output=True,
                           text=True, timeout=120)
        check(r.returncode == 0, f"kannel.sh start failed:\n{r.stdout}\n{r.stderr}")
        kannel = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
        if self.kannel:
            check(kannel["KANNEL_SENDSMS_URL"] == self.kannel["KANNEL_SENDSMS_URL"],
                  "kannel came back on another port")
        self.kannel = kannel
        log(f"kannel up: {kannel['KANNEL_SENDSMS_URL']}")

    def stop_smsbox(self):
        """Kannel down for the daemon: its sendsms interface (smsbox) gone, connections refused.
        The bearerbox and fakesmsc stay, so what fakesmsc received is still counted."""
        pidfile = os.path.join(self.kannel_dir, "smsbox.pid")
        pid = int(open(pidfile).read())
        os.kill(pid, signal.SIGTERM)
        kt.wait_for("smsbox gone", lambda: not os.path.exists(f"/proc/{pid}"), 30)
        os.unlink(pidfile)

    def start_smsbox(self):
        """smsbox again from kannel.sh's configuration: the same sendsms port and credentials."""
        out = open(os.path.join(self.kannel_dir, "smsbox.out"), "ab")
        proc = subprocess.Popen(["/usr/sbin/smsbox", os.path.join(self.kannel_dir, "kannel.conf")],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        with open(os.path.join(self.kannel_dir, "smsbox.pid"), "w") as f:
            f.write(f"{proc.pid}\n")
        port = int(re.search(r":(\d+)/", self.kannel["KANNEL_SENDSMS_URL"]).group(1))

        def answers():
            import socket
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        kt.wait_for("smsbox's sendsms port", answers, 30, interval=0.1)

    def stop_kannel(self):
        if self.kannel_up:
            subprocess.run([self.kannel_sh, "stop", "--dir", self.kannel_dir],
                           capture_output=True, timeout=120)
            self.kannel_up = False

    def sms_received(self):
        """[(phone, incident_key)] of every complete SMS fakesmsc got."""
        out = []
        for to, text, _parts in kn.received_messages(self.kannel_sh, self.kannel_dir):
            m = re.search(r"（([^（）]+)）", text)
            out.append((to, m.group(1) if m else "?"))
        return out

    def stop(self):
        for stop in (self.receiver.stop, self.stop_kannel, self.broker.stop):
            try:
                stop()
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                log(f"stopping failed: {e}")


# ---------------------------------------------------------------------------------------------
# One run of the workload: a daemon, its topics, its database


class Run:
    def __init__(self, stack, name, scale=None, db_dir=None, env=None):
        self.stack, self.name, self.scale = stack, name, scale
        self.args = stack.args
        self.work = os.path.join(stack.work, name)
        os.makedirs(self.work, exist_ok=True)
        self.db = os.path.join(db_dir or self.work, f"{name}.db")
        self.config = os.path.join(self.work, "incidentd.toml")
        self.logfile = os.path.join(self.work, "incidentd.log")
        self.http_port = kt.free_port()
        self.token = secrets.token_urlsafe(24)
        self.events_topic, self.releases_topic = f"events.{name}", f"releases.{name}"
        self.dlq = f"dlq.{name}"
        self.prefix = f"{name}-"
        self.env = env
        self.daemon = None
        self.crashes = 0
        self.origin_ms = None
        self.allowance_s = 0.0   # how late a step may be beyond LATE_TOLERANCE_S
        self.extra_steps_until_ms = None  # clock jumps: steps due before this may fire as extras
        self.jump_window_ms = None  # (from, to) on the daemon's clock: the hour jumped ahead
        self.ack_status = collections.Counter()
        self.fault_errors = []  # the fault's thread failed: the run stops waiting
        # The waves come one second of real time apart: on a drill clock the daemon gets the
        # same inputs per real second as on the real clock (compressed, it would lag behind by
        # more clock than the steps leave it), each wave's steps 85-100 s of clock after it.
        self.wave_every_ms = int(1000 * (scale or 1))
        self.outside_crashes = 0  # receivers that went down mid-request: each may duplicate
        self.settle_problems = []
        self.fault_lock = threading.Lock()  # held while the broker is away

    # ---- configuration and the daemon ---------------------------------------------------------

    def write_config(self):
        src = self.args.source_dir
        with open(os.path.join(src, "config", "incidentd.toml"), encoding="utf-8") as f:
            text = f.read()

        def setting(section, key, value):
            nonlocal text
            text = kt.set_setting(text, section, key, value)

        setting("kafka", "brokers", f'"{self.stack.broker.bootstrap}"')
        setting("kafka", "group", f'"chaos-{self.name}"')
        setting("kafka.topics", "events", f'"{self.events_topic}"')
        setting("kafka.topics", "releases", f'"{self.releases_topic}"')
        setting("kafka.topics", "dead_letter", f'"{self.dlq}"')
        # A killed member leaves the group after 6 s (the broker's minimum), not 45. No static
        # membership (group.instance.id): a consumer restarted under it was fenced as its own
        # twin after the broker's restart, and the daemon kept retrying its commit.
        text = text.replace('[kafka.properties]\n', '[kafka.properties]\n'
                            '"session.timeout.ms" = "6000"\n', 1)
        setting("http", "enabled", "true")
        setting("http", "port", str(self.http_port))
        setting("sms", "enabled", "true")
        setting("sms", "url", f'"{self.stack.kannel["KANNEL_SENDSMS_URL"]}"')
        with open(self.stack.credentials, "w") as f:
            kannel = self.stack.kannel
            f.write(f"{kannel['KANNEL_USERNAME']}:{kannel['KANNEL_PASSWORD']}\n")
        os.chmod(self.stack.credentials, 0o600)
        setting("sms", "credentials_file", f'"{self.stack.credentials}"')
        setting("sms", "sender", f'"{self.stack.kannel["KANNEL_SENDER"]}"')
        # Faster polls; retries capped at 2 min of clock so that a receiver back after its
        # outage gets the waiting notifications within the run (default 10 min).
        setting("notify", "poll_every", '"200ms"')
        setting("notify", "retry_max", '"2m"')
        text = text.replace("http://127.0.0.1:18080",
                            f"http://127.0.0.1:{self.stack.receiver_port}")
        # prov-emergency's people: webhook first (zhaotong-gov's stay SMS first).
        head = text.index('id = "prov-emergency"')
        nxt = text.find("\n[[units]]", head)
        text = (text[:head] + text[head:nxt].replace('channels = ["sms", "webhook"]',
                                                     'channels = ["webhook", "sms"]') + text[nxt:])
        digest = hashlib.sha256(self.token.encode()).hexdigest()
        text += f'\n[[http.tokens]]\nname = "chaos"\nsha256 = "{digest}"\n'
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([self.args.incidentctl, "check-config", self.config],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0,
              f"check-config refused the chaos configuration:\n{r.stdout}{r.stderr}")

    def start_daemon(self, wait=True):
        # Batches of 50: the waves come as full batches, which commit only what the engine acted
        # on and hold their offsets for the next full commit (Kafka as the journal,
        # daemon/kafka/ingest.hpp), so the kills land on that path too.
        extra = ["--batch", str(BATCH)] + (["--time-scale", str(self.scale)] if self.scale else [])
        self.daemon = kt.Daemon(self.args.incidentd, self.config, self.db, self.logfile, extra)
        if self.env:
            self.daemon.log = open(self.logfile, "ab")
            self.daemon.offset = self.daemon.log.tell()
            self.daemon.proc = subprocess.Popen(self.daemon.cmd, stdout=self.daemon.log,
                                                stderr=subprocess.STDOUT,
                                                env={**os.environ, **self.env})
        else:
            self.daemon.start()
        if self.scale:
            self.origin_ms = int(self.daemon.wait_log(r"scaled clock origin_ms=(\d+)", 60).group(1))
        if wait:
            self.daemon.wait_log(r"open incidents", 90)

    def clock_ms(self):
        """The daemon's clock now (a drill's scaled clock; libfaketime's offset is not in it)."""
        now = time.time() * 1000
        if self.scale:
            return int(self.origin_ms + (now - self.origin_ms) * self.scale)
        return int(now)

    def real_s(self, clock_s):
        return clock_s / (self.scale or 1)

    def http(self, method, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError:
            return None, b""

    # ---- feeding the workload -----------------------------------------------------------------

    def produce(self, topic, messages):
        """kcat retries while the broker is away (librdkafka buffers for 5 minutes)."""
        if messages:
            self.stack.broker.produce(topic, [((self.prefix + k).encode(),
                                               v.replace(b'"inc-', f'"{self.prefix}inc-'.encode()))
                                              for k, v in messages])

    def db_has(self, keys):
        rows = kt.db_query(self.db, "SELECT incident_key FROM incidents")
        have = {r[0] for r in rows}
        return [k for k in keys if self.prefix + k in have]

    def feed(self, workload):
        """Plays the waves on the daemon's clock; returns when everything is in."""
        t0 = self.clock_ms()
        self.t0_ms = t0
        later = []  # (wave_ms, kind, item): releases and acks wait for their incident
        for i, wave in enumerate(workload.waves):
            wave_ms = t0 + i * self.wave_every_ms
            while self.clock_ms() < wave_ms:
                time.sleep(0.01)
            with self.fault_lock:
                self.produce(self.events_topic, [(k, b(wave_ms)) for k, b in wave["events"]])
            later += [(wave_ms, "release", r) for r in wave["releases"]]
            later += [(wave_ms, "ack", a) for a in wave["acks"]]
            later = self.feed_later(later)
        deadline = time.monotonic() + 240
        while later:
            check(time.monotonic() < deadline, f"{len(later)} releases and acks never accepted")
            if self.fault_errors:
                raise self.fault_errors[0]
            time.sleep(0.2)
            later = self.feed_later(later)

    def feed_later(self, items):
        """Releases of incidents in the database go to Kafka; acks to the API once accepted.
        Returns what must wait."""
        keys = {item[0] for _, kind, item in items}
        present = set(self.db_has(keys))
        waiting, releases = [], []
        for wave_ms, kind, item in items:
            key = item[0]
            if key not in present or self.clock_ms() < wave_ms + 2000:
                waiting.append((wave_ms, kind, item))
            elif kind == "release":
                releases.append((key, item[1](wave_ms)))
            else:
                status, _ = self.http("POST", f"/v1/incidents/{self.prefix}{key}/ack",
                                      {"recipient": item[1]})
                self.ack_status[status] += 1
                if status != 200:  # down, or not yet notified (422): again later
                    waiting.append((wave_ms, kind, item))
        with self.fault_lock:
            self.produce(self.releases_topic, releases)
        return waiting

    # ---- the end ------------------------------------------------------------------------------

    def settle(self, workload):
        """Waits until every input is applied, the last step has fallen due and the outbox is
        quiet; then stops the daemon cleanly."""
        wait = kt.wait_for
        wait(f"{self.name}: every event and confirmation applied",
             lambda: kt.db_processed(self.db) >= workload.accepted, 300, interval=0.5)
        end = self.t0_ms + (WAVES - 1) * self.wave_every_ms + (SETTLE_S - WAVES + 1) * 1000
        while self.clock_ms() < end:
            time.sleep(0.2)
        wait(f"{self.name}: every step fired",
             lambda: not kt.db_query(self.db, "SELECT 1 FROM deadlines WHERE at <= ? LIMIT 1",
                                     (self.clock_ms() - 2000,)), 120, interval=0.5)
        try:
            wait(f"{self.name}: the outbox quiet (nothing pending)",
                 lambda: not kt.db_query(self.db, "SELECT 1 FROM outbox WHERE state = 'pending' "
                                                  "LIMIT 1"), 240, interval=0.5)
        except Failure:
            n, first, last = kt.db_query(self.db, "SELECT COUNT(*), MIN(next_attempt_at), "
                                         "MAX(next_attempt_at) FROM outbox WHERE state = "
                                         "'pending'")[0]
            now = self.clock_ms()
            # Judged with the rest (the figures still say what else held).
            self.settle_problems.append(
                f"{n} notifications still pending after 240 s, next attempts "
                f"{(first - now) / 1000:+.0f} s to {(last - now) / 1000:+.0f} s from now")
        wait(f"{self.name}: every dead letter",
             lambda: len(dead_letter_origins(self.stack.broker, self.dlq)) >= workload.bad, 60,
             interval=0.5)
        rc = self.daemon.stop()
        check(rc == 0, f"{self.name}: incidentd exited {rc} on SIGTERM")

    def kill_daemon(self):
        if self.daemon and self.daemon.proc and self.daemon.proc.poll() is None:
            self.daemon.kill()
            self.crashes += 1

    def cleanup(self):
        if self.daemon:
            try:
                os.kill(self.daemon.proc.pid, signal.SIGCONT)
            except (OSError, AttributeError):
                pass
            self.daemon.cleanup()


def dead_letter_origins(broker, topic):
    try:
        return {(d["topic"], d["partition"], d["offset"]) for d in broker.dead_letters(topic)}
    except Failure:
        return set()


# ---------------------------------------------------------------------------------------------
# What a run left behind, and the invariants


H = 3600_000
# The example configuration's ladder (docs/clock-rules.md): (milestone, action, level) -> the
# offsets of the steps it can be, from the clock's start (follow_up: from its due).
STEP_OFFSETS = {
    ("first_release", "warning", 0): [2 * H, 2.5 * H],
    ("first_release", "target_missed", 1): [3 * H],
    ("first_release", "warning", 1): [4.5 * H],
    ("first_release", "deadline_breached", 2): [5 * H],
    ("press_conference", "warning", 0): [20 * H],
    ("press_conference", "warning", 1): [23 * H],
    ("press_conference", "deadline_breached", 2): [24 * H],
    ("follow_up", "warning", 0): [-2 * H],
    ("follow_up", "deadline_breached", 1): [0],
}


def step_instant(milestone, action, body, start, at):
    """The instant a timeline step was scheduled for: the latest candidate of its kind not after
    `at`, or the earliest when every candidate is after it (then it fired early)."""
    if body.get("opening"):
        return start
    base = parse_ms(body["due"]) if milestone == "follow_up" else start
    offsets = STEP_OFFSETS.get((milestone, action, body.get("level")))
    check(offsets is not None, f"a step the harness does not know: {body}")
    reminder = max(body.get("reminder", 0), 0)
    candidates = sorted(int(base + o + reminder * H) for o in offsets)
    before = [c for c in candidates if c <= at]
    return before[-1] if before else candidates[0]


class Result:
    def __init__(self, run, workload):
        self.run = run
        db = run.db
        p = run.prefix
        q = lambda sql, a=(): kt.db_query(db, sql, a)  # noqa: E731
        self.processed = kt.db_processed(db)
        self.incidents = {k[len(p):]: (lvl, closed) for k, lvl, closed in
                          q("SELECT incident_key, level, closed FROM incidents")}
        self.confirmations = q("SELECT COUNT(*) FROM confirmations_v7")[0][0] if q(
            "SELECT 1 FROM sqlite_master WHERE name = 'confirmations_v7'") else \
            q("SELECT COUNT(*) FROM confirmations")[0][0]
        self.acks = {(k[len(p):], r) for k, r in
                     q("SELECT incident_key, recipient FROM acknowledgements")}
        self.ack_rows = q("SELECT COUNT(*) FROM acknowledgements")[0][0]
        starts = {k: parse_ms(json.loads(b)["detected_at"]) for k, b in
                  q("SELECT incident_key, body FROM timeline WHERE action = 'incident_opened' "
                    "AND json_extract(body, '$.clock') = 1")}
        self.opened = {k: at for k, at in q("SELECT incident_key, at FROM timeline WHERE action = "
                                            "'incident_opened'")}
        # Clock starts: the incident's snapshot (a clock opened by an upgrade starts then).
        clock_start = {k: cs for k, cs in q("SELECT incident_key, clock_start FROM incidents "
                                            "WHERE clock_start IS NOT NULL")}
        # key -> [(at, instant, catch_up)]: `due` in an entry is the deadline a step is about,
        # so the step's own instant comes from the ladder (step_instant).
        self.steps = collections.defaultdict(list)
        for k, at, action, milestone, body in q(
                "SELECT incident_key, at, action, milestone, body FROM timeline WHERE action IN "
                "('warning', 'target_missed', 'deadline_breached') ORDER BY seq"):
            b = json.loads(body)
            start = clock_start.get(k, starts.get(k))
            instant = step_instant(milestone, action, b, start, at)
            step = (k[len(p):], milestone, action, instant - start, b.get("reminder", -1))
            self.steps[step].append((at, instant, bool(b.get("catch_up"))))
        self.outages = [(parse_ms(json.loads(b)["from"]), parse_ms(json.loads(b)["to"])) for (b,) in
                        q("SELECT body FROM timeline WHERE action = 'daemon_outage' "
                          "GROUP BY json_extract(body, '$.to')")]
        self.unclean_runs = q("SELECT COUNT(*) FROM daemon_runs WHERE stopped_at IS NULL")[0][0]
        self.outbox = collections.Counter(
            dict(q("SELECT state, COUNT(*) FROM outbox GROUP BY state")))
        self.failed_unreported = q(
            "SELECT COUNT(*) FROM outbox o WHERE state = 'failed' AND NOT EXISTS (SELECT 1 FROM "
            "timeline t WHERE t.action = 'delivery' AND json_extract(t.body, '$.outcome') = "
            "'gave_up' AND json_extract(t.body, '$.notification_id') = o.notification_id)")[0][0]
        delivered = q("SELECT notification_id, incident_key, recipient, channel FROM outbox "
                      "WHERE state = 'delivered'")
        # An SMS carries no notification id: a row given up or superseded after an attempt may
        # have reached the phone all the same (smsbox took it, then went down before answering).
        attempted = q("SELECT notification_id, incident_key, recipient, channel FROM outbox "
                      "WHERE attempts > 0")
        phones = {p_["id"]: p_.get("phone") for u in run.stack.example["units"]
                  for p_ in u.get("people", [])}
        # The receivers: webhooks by notification id, SMS by phone and incident.
        hooks = collections.Counter()
        for key, counter in list(run.stack.receiver.by_incident.items()):
            if key.startswith(p):
                hooks.update(counter)
        sms = collections.Counter((to, k) for to, k in run.stack.sms_received() if k.startswith(p))
        want_sms = collections.Counter((phones.get(r), k) for _, k, r, ch in delivered
                                    if ch == "sms")
        may_sms = collections.Counter((phones.get(r), k) for _, k, r, ch in attempted
                                   if ch == "sms")
        want_hooks = {nid for nid, _, _, ch in delivered if ch == "webhook"}
        self.missing_at_receivers = (sum((want_sms - sms).values())
                                     + len(want_hooks - set(hooks)))
        self.duplicates = (sum(n - 1 for n in hooks.values() if n > 1)
                           + sum((sms - may_sms).values()))
        excess = sms - may_sms
        self.most_copies = max([n for n in hooks.values()] + [1 + n for n in excess.values()],
                               default=0)
        self.duplicate_examples = ([f"webhook {nid} x{n}" for nid, n in hooks.items() if n > 1][:3]
                                   + [f"sms {k} x{sms[k]}" for k in (sms - may_sms)][:3])
        self.dead_letters = len(dead_letter_origins(run.stack.broker, run.dlq))
        self.verify = ctl_ok(run.args, "verify", db)
        self.check_db = ctl_ok(run.args, "check-db", db)

    def step_keys(self):
        return set(self.steps)


def ctl_ok(args, command, db):
    r = subprocess.run([args.incidentctl, command, "--database", db], capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        log(f"incidentctl {command}: {r.stdout[-1500:]}{r.stderr[-1500:]}")
    return r.returncode == 0


def judge(name, res, base, workload, run, extra_note=""):
    """Checks one run's invariants; returns (passed, figures dict, problems)."""
    problems = []
    lost = doubled = early = 0
    if res.processed != workload.accepted:
        problems.append(f"processed ids {res.processed}, workload {workload.accepted}")
    missing = set(workload.expected) - set(res.incidents)
    lost += len(missing)
    wrong = {k: (res.incidents[k], v) for k, v in workload.expected.items()
             if k in res.incidents and res.incidents[k] != v}
    if missing or wrong or len(res.incidents) != len(workload.expected):
        problems.append(f"incidents: {len(missing)} lost, {len(wrong)} wrong "
                        f"(e.g. {list(wrong.items())[:2]}), {len(res.incidents)} in all")
    if base is not None:
        if res.confirmations != base.confirmations:
            problems.append(f"confirmations {res.confirmations}, baseline {base.confirmations}")
        if res.acks != base.acks or res.ack_rows != len(res.acks):
            problems.append(f"acknowledgements {len(res.acks)} ({res.ack_rows} rows), "
                            f"baseline {len(base.acks)}")
    if res.dead_letters != workload.bad:
        problems.append(f"dead-letter origins {res.dead_letters}, workload {workload.bad}")
    # Steps.
    fired = sum(len(v) for v in res.steps.values())
    doubled_steps = {k: v for k, v in res.steps.items() if len(v) > 1}
    doubled += len(doubled_steps)
    if doubled_steps:
        problems.append(f"{len(doubled_steps)} steps fired more than once, e.g. "
                        + ", ".join(f"{k} {len(v)} times"
                                    for k, v in list(doubled_steps.items())[:2]))
    early_steps = [(k, at, due) for k, v in res.steps.items() for at, due, _ in v if at < due]
    early += len(early_steps)
    if early_steps:
        problems.append(f"{len(early_steps)} steps fired early, e.g. {early_steps[:2]}")
    window = run.jump_window_ms or (0, 0)
    late = [(at - due) / 1000 for v in res.steps.values() for at, due, cu in v
            if not cu and not window[0] <= at <= window[1]]
    in_jump = sum(1 for v in res.steps.values() for at, _, _ in v if window[0] <= at <= window[1])
    late_max = max(late, default=0.0)
    allowance = run.allowance_s
    if name == "sigkill" or res.outages:
        allowance = max([allowance] + [(b - a) / 1000 for a, b in res.outages])
    # On a drill clock the tolerance (real time) is worth `scale` times more clock.
    tolerance = LATE_TOLERANCE_S * (run.scale or 1)
    if late_max > allowance + tolerance:
        problems.append(f"a step {late_max:.1f} s late, allowed {allowance:.1f} + "
                        f"{tolerance:.0f} s")
    expected_steps = None
    if base is not None:
        mine, theirs = res.step_keys(), base.step_keys()
        expected_steps = len(theirs)
        # A step missing is allowed when a later step of its milestone fired as a catch-up.
        catch_ups = collections.defaultdict(list)
        for k, v in res.steps.items():
            if any(cu for _, _, cu in v):
                catch_ups[(k[0], k[1])].append(k[3])
        gone = [k for k in theirs - mine
                if not any(rel > k[3] for rel in catch_ups.get((k[0], k[1]), []))]
        lost += len(gone)
        if gone:
            problems.append(f"{len(gone)} steps of the baseline never fired, e.g. {gone[:3]}")
        extra = mine - theirs
        if run.extra_steps_until_ms is not None:
            extra = {k for k in extra
                     if max(d for _, d, _ in res.steps[k]) > run.extra_steps_until_ms}
        extra = {k for k in extra if not any(cu for _, _, cu in res.steps[k])}
        if extra:
            problems.append(f"{len(extra)} steps not in the baseline, e.g. {sorted(extra)[:3]}")
    problems += run.settle_problems
    # Notifications.
    states = dict(res.outbox)
    if set(states) - {"delivered", "failed", "superseded"} and not run.settle_problems:
        problems.append(f"outbox not settled: {states}")
    if res.failed_unreported:
        problems.append(f"{res.failed_unreported} notifications given up without a gave_up entry")
    if res.missing_at_receivers:
        lost += res.missing_at_receivers
        problems.append(f"{res.missing_at_receivers} delivered notifications not at the receivers")
    # A crash duplicates at most the sends in flight ([notify] max_in_flight, 64), each once:
    # every notification reaches its receiver at most once more than the crashes it lived through.
    crashes = run.crashes + run.outside_crashes
    if res.duplicates > crashes * MAX_IN_FLIGHT or res.most_copies > 1 + crashes:
        problems.append(f"{res.duplicates} duplicate notifications (one received "
                        f"{res.most_copies} times) for {crashes} crashes: "
                        f"{res.duplicate_examples}")
    if res.unclean_runs != run.crashes:
        problems.append(f"{res.unclean_runs} runs without a clean stop for {run.crashes} kills")
    if not res.verify:
        problems.append("incidentctl verify failed")
    if not res.check_db:
        problems.append("incidentctl check-db failed")
    outage_max = max([(b - a) / 1000 for a, b in res.outages], default=0.0)
    figures = (f"events {res.processed} applied {workload.accepted}, incidents {len(res.incidents)}"
               f"/{len(workload.expected)}, steps {fired}"
               + (f" fired / {expected_steps} baseline" if expected_steps is not None else " fired")
               + f", late max {late_max:.2f} s"
               + (f" ({in_jump} fired in the hour jumped ahead)" if run.jump_window_ms else "")
               + (f" (outage max {outage_max:.1f} s)" if res.outages else "")
               + f", notifications {sum(states.values())} ("
               + ", ".join(f"{k} {v}" for k, v in sorted(states.items())) + ")"
               + f", duplicates {res.duplicates} (crashes {crashes}, most copies of one "
               + f"{res.most_copies})"
               + f", verify {'ok' if res.verify else 'FAILED'}, check-db "
               + f"{'ok' if res.check_db else 'FAILED'}" + extra_note)
    return not problems, figures, problems, (lost, doubled, early)


# ---------------------------------------------------------------------------------------------
# Scenarios


def play(run, workload, fault=None):
    """Starts the daemon, feeds the workload with `fault` running beside it, settles."""
    run.write_config()
    run.stack.broker.ensure_topics(run.events_topic, run.releases_topic, run.dlq)
    run.start_daemon()
    kt.wait_for(f"{run.name}: /readyz 200", lambda: run.http("GET", "/readyz")[0] == 200, 90,
                interval=0.2)
    errors = run.fault_errors
    thread = None
    if fault:
        def guarded():
            try:
                fault(run)
            except Exception as e:  # noqa: BLE001 - reported by the scenario
                errors.append(e)
                if not isinstance(e, Failure):
                    traceback.print_exc()
        thread = threading.Thread(target=guarded, daemon=True)
        thread.start()
    run.feed(workload)
    if thread:
        thread.join(timeout=RUN_BUDGET_S)
        check(not thread.is_alive(), f"{run.name}: the fault did not finish")
    if errors:
        raise errors[0]
    run.settle(workload)


def at_clock(run, clock_s):
    """Waits until the run's clock is clock_s past the start of its workload."""
    while not hasattr(run, "t0_ms"):
        time.sleep(0.01)
    while run.clock_ms() < run.t0_ms + clock_s * 1000:
        time.sleep(0.02)


def fault_sigkill(rounds, seed, workload):
    def fault(run):
        rng = random.Random(seed)
        moments = []
        # Half under load: each as soon as the restarted daemon shows fresh progress on its
        # backlog (after a restart it waits for the killed member to leave the group, so the
        # waves pile up and come back as full batches), 0-200 ms after it; only while the clock
        # is early enough that every input is in long before the first step falls due.
        load_until_ms = run_t0(run) + LOAD_KILLS_UNTIL_S * 1000
        while len(moments) < rounds // 2 and run.clock_ms() < load_until_ms:
            before = kt.db_processed(run.db)
            kt.wait_for(f"{run.name}: fresh progress", lambda: kt.db_processed(run.db) > before,
                        120, interval=0.005)
            time.sleep(rng.uniform(0.0, 0.2))
            if kt.db_processed(run.db) >= workload.accepted:
                break
            moments.append((run.clock_ms() - run.t0_ms) / 1000)
            run.kill_daemon()
            run.start_daemon(wait=True)
        # The rest at random moments while the steps fall due.
        later = sorted(rng.uniform(STEP_MIN_S - 5, SETTLE_S - 15)
                       for _ in range(rounds - len(moments)))
        for m in later:
            at_clock(run, m)
            moments.append((run.clock_ms() - run.t0_ms) / 1000)
            run.kill_daemon()
            run.start_daemon(wait=True)  # the next kill comes after this start is complete
        log(f"{run.name}: {run.crashes} SIGKILLs at {', '.join(f'{m:.1f}' for m in moments)} s")
    return fault


def run_t0(run):
    while not hasattr(run, "t0_ms"):
        time.sleep(0.01)
    return run.t0_ms


def fault_broker(run):
    broker = run.stack.broker
    at_clock(run, 8)
    try:
        with run.fault_lock:
            broker.stop()
            t = time.monotonic()
            run.daemon.wait_log(r"kafka: .*(_TRANSPORT|ALL_BROKERS_DOWN|waiting)", 60)
            time.sleep(max(0.0, 60 - (time.monotonic() - t)))  # the outage itself
            check(run.daemon.proc.poll() is None, "incidentd died while the broker was away")
            broker.start()
        log(f"{run.name}: broker back after {time.monotonic() - t:.1f} s")
        at_clock(run, 95)
        with run.fault_lock:
            pid = int(open(os.path.join(broker.dir, "kafka.pid")).read())
            os.kill(pid, signal.SIGKILL)
            kt.wait_for("the killed broker gone", lambda: not os.path.exists(f"/proc/{pid}"), 30)
            log(f"{run.name}: broker killed with SIGKILL (pid {pid})")
            broker.start()
        check(run.daemon.proc.poll() is None, "incidentd died when the broker was killed")
    finally:
        if subprocess.run([broker.script, "status", "--dir", broker.dir],
                          capture_output=True).returncode != 0:
            broker.start()


def fault_receivers(down_clock_s):
    def fault(run):
        at_clock(run, 20)
        run.stack.receiver.stop()
        run.stack.stop_smsbox()
        run.outside_crashes = 2  # each may have taken a request and not answered it
        log(f"{run.name}: Kannel and the webhook receiver down")
        at_clock(run, 20 + down_clock_s)
        run.stack.start_smsbox()
        run.stack.receiver.start()
        log(f"{run.name}: Kannel and the webhook receiver back after {down_clock_s} s of clock")
    return fault


def fault_clock(stop_s, back_hold_s=20, forward_hold_s=5):
    def fault(run):
        stamp = run.env["FAKETIME_TIMESTAMP_FILE"]

        def jump(offset, what):
            with open(stamp + ".tmp", "w") as f:
                f.write(offset + "\n")
            os.replace(stamp + ".tmp", stamp)
            log(f"{run.name}: wall clock {what} ({offset})")
        # While the steps fall due: back 1 h (they must wait for the clock), forward 1 h (they
        # fire), forward 1 h more (what falls due in that hour fires: extras), back 1 h.
        at_clock(run, STEP_MIN_S - 2)
        jump("-1h", "back 1 h")
        time.sleep(back_hold_s)
        jump("+0", "forward 1 h")
        at_clock(run, STEP_MIN_S + back_hold_s + 4)
        ahead = int(time.time() * 1000) + 3600_000
        run.extra_steps_until_ms = ahead + (forward_hold_s + 5) * 1000
        jump("+1h", "forward 1 h")
        time.sleep(forward_hold_s)
        jump("+0", "back 1 h")
        # What fired in that hour ahead is "late" on the daemon's clock by up to the jump: the
        # fault's length there is the hour (it is checked never early and once, like the rest).
        run.jump_window_ms = (ahead - 1000, int(time.time() * 1000) + 3600_000 + 1000)
        run.allowance_s = max(run.allowance_s, back_hold_s)
        # Then the watchdog's case: the whole process stopped.
        at_clock(run, STEP_MIN_S + back_hold_s + forward_hold_s + 8)
        os.kill(run.daemon.proc.pid, signal.SIGSTOP)
        log(f"{run.name}: SIGSTOP for {stop_s} s")
        time.sleep(stop_s)
        os.kill(run.daemon.proc.pid, signal.SIGCONT)
        run.allowance_s = max(run.allowance_s, stop_s)
        check(run.daemon.proc.poll() is None, "incidentd died after SIGCONT")
    return fault


def fault_diskfull(mount, hold_s):
    def fault(run):
        at_clock(run, 15)
        filler = os.path.join(mount, "filler")
        t = time.monotonic()
        try:
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for chunk in (1 << 20, 1 << 12, 1 << 9):  # to the last block
                    try:
                        while True:
                            os.write(fd, b"\0" * chunk)
                    except OSError:
                        pass
            finally:
                os.close(fd)
            log(f"{run.name}: {mount} full")
            run.daemon.wait_log(r"disk full", 60)

            def readyz_says():
                status, body = run.http("GET", "/readyz")
                try:
                    reason = json.loads(body).get("reason", "")
                except ValueError:
                    reason = ""
                return status == 503 and "disk full" in reason
            kt.wait_for("/readyz 503 with reason 'disk full'", readyz_says, 60, interval=0.3)
            time.sleep(max(0.0, hold_s - (time.monotonic() - t)))  # the fault itself
            check(run.daemon.proc.poll() is None, "incidentd exited on a full disk")
        finally:
            if os.path.exists(filler):
                os.unlink(filler)
        log(f"{run.name}: space back after {time.monotonic() - t:.1f} s")
        run.allowance_s = max(run.allowance_s, time.monotonic() - t)
        kt.wait_for("/readyz 200 again", lambda: run.http("GET", "/readyz")[0] == 200, 120,
                    interval=0.3)
    return fault


def scenario_corrupt(stack, base_db):
    """A truncated and a corrupted copy of the baseline's database: refused, file named."""
    figures, problems = [], []
    for kind in ("truncated", "corrupted"):
        work = os.path.join(stack.work, f"corrupt-{kind}")
        os.makedirs(work, exist_ok=True)
        db = os.path.join(work, f"{kind}.db")
        shutil.copy(base_db, db)
        size = os.path.getsize(db)
        with open(db, "r+b") as f:
            if kind == "truncated":
                f.truncate(size // 2)
            else:
                rng = random.Random(3)
                for page in range(1, size // 4096, 7):  # garbage over every 7th page, header kept
                    f.seek(page * 4096)
                    f.write(bytes(rng.randrange(256) for _ in range(4096)))
        before = open(db, "rb").read()
        config = os.path.join(stack.work, "baseline", "incidentd.toml")
        t = time.monotonic()
        try:
            r = subprocess.run([stack.args.incidentd, "--config", config, "--database", db],
                               capture_output=True, text=True, timeout=60)
            rc, out = r.returncode, r.stdout + r.stderr
        except subprocess.TimeoutExpired as e:
            rc, out = None, (e.stdout or b"").decode(errors="replace")
        named = db in out
        untouched = open(db, "rb").read() == before
        ok = rc not in (None, 0) and named
        line = [ln for ln in out.splitlines() if db in ln][:1]
        figures.append(f"{kind}: exit {rc} in {time.monotonic() - t:.1f} s, file named "
                       f"{'yes' if named else 'no'}, "
                       f"file {'untouched' if untouched else 'CHANGED'}")
        if not ok:
            problems.append(f"{kind} database: exit {rc}, named {named}; output: {out[-600:]!r}")
        if line:
            log(f"corrupt ({kind}): {line[0].strip()}")
    return not problems, "; ".join(figures), problems


# ---------------------------------------------------------------------------------------------


SCENARIOS = ["sigkill", "broker", "receivers", "clock", "diskfull", "corrupt"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--incidentctl", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--incidents", type=int, default=2400)
    parser.add_argument("--rounds", type=int, default=20, help="SIGKILL rounds")
    parser.add_argument("--broker-down", type=float, default=60)
    parser.add_argument("--stop-seconds", type=float, default=120, help="SIGSTOP length")
    parser.add_argument("--drill-scale", type=float, default=20)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    for tool in ("kcat", "java", "sqlite3"):
        if shutil.which(tool) is None:
            print(f"chaos: {tool} not found (scripts/install-deps.sh installs it)")
            return 2
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Aborted("SIGTERM")))
    kt.BUDGET = kt.Budget(RUN_BUDGET_S * 2)

    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="incidentd-chaos-")
    log(f"chaos: work directory {work}; scenarios {', '.join(only)}")
    workload = Workload(args.incidents, args.seed)
    n_events = sum(len(w["events"]) for w in workload.waves)
    log(f"workload: {args.incidents} incidents ({workload.clocks} with a clock), {n_events} event "
        f"messages, {workload.releases} confirmations, {workload.acks} acknowledgements, "
        f"{workload.bad} to dead-letter, {workload.accepted} ids to apply, seed {args.seed}")
    stack = Stack(args, work)
    lines, totals, passed, failed_any = [], [0, 0, 0], 0, False
    mounts = []
    try:
        stack.start()
        base_run = Run(stack, "baseline")
        t = time.monotonic()
        play(base_run, workload)
        base = Result(base_run, workload)
        ok, figures, problems, _ = judge("baseline", base, None, workload, base_run)
        log(f"baseline: {figures} ({time.monotonic() - t:.0f} s)")
        check(ok, f"the baseline itself breaks an invariant: {problems}")
        for name in only:
            t = time.monotonic()
            log(f"=== {name}")
            run = None
            try:
                if name == "corrupt":
                    ok, figures, problems = scenario_corrupt(stack, base_run.db)
                    counts = (0, 0, 0)
                else:
                    if name == "sigkill":
                        run = Run(stack, name)
                        fault = fault_sigkill(args.rounds, args.seed, workload)
                    elif name == "broker":
                        run = Run(stack, name)
                        run.allowance_s = 0
                        fault = fault_broker
                    elif name == "receivers":
                        run = Run(stack, name, scale=args.drill_scale)
                        fault = fault_receivers(600)
                    elif name == "clock":
                        stamp = os.path.join(work, "faketime")
                        with open(stamp, "w") as f:
                            f.write("+0\n")
                        check(os.path.exists(LIBFAKETIME), f"{LIBFAKETIME} missing (apt-get "
                              "install faketime)")
                        run = Run(stack, name, env={
                            "LD_PRELOAD": LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": stamp,
                            "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                            "FAKETIME_DONT_RESET": "1"})
                        fault = fault_clock(args.stop_seconds)
                    elif name == "diskfull":
                        mount = os.path.join(work, "diskfull-mnt")
                        os.makedirs(mount)
                        # Room for the database and a WAL that grows while readers hold
                        # snapshots on a loaded machine: at 48m one run filled it by itself after
                        # the fault had ended, and never had room again.
                        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs",
                                            mount], capture_output=True, text=True)
                        check(r.returncode == 0, f"mount tmpfs: {r.stderr} (needs root)")
                        mounts.append(mount)
                        run = Run(stack, name, db_dir=mount)
                        fault = fault_diskfull(mount, 20)
                    play(run, workload, fault)
                    res = Result(run, workload)
                    ok, figures, problems, counts = judge(name, res, base, workload, run)
                    if name == "sigkill":
                        figures = f"{run.crashes} rounds, " + figures
            except Exception as e:  # noqa: BLE001 - one scenario's failure is reported as such
                ok, figures, problems, counts = False, f"aborted: {e}", [str(e)], (0, 0, 0)
                if not isinstance(e, Failure):
                    traceback.print_exc()
                if run is not None and os.path.exists(run.logfile):
                    with open(run.logfile, errors="replace") as f:
                        print(f"----- {name}: incidentd.log (tail) -----\n{f.read()[-3000:]}")
            finally:
                if run is not None:
                    run.cleanup()
                if name == "receivers" and not os.path.exists(
                        os.path.join(stack.kannel_dir, "smsbox.pid")):
                    stack.start_smsbox()
                if name == "receivers" and stack.receiver.server is None:
                    stack.receiver.start()
            totals = [a + b for a, b in zip(totals, counts)]
            passed += ok
            failed_any |= not ok
            line = f"{name}: {figures} ({time.monotonic() - t:.0f} s) — {'PASS' if ok else 'FAIL'}"
            lines.append(line)
            print(line, flush=True)
            for p in problems:
                print(f"  {name}: {p}", flush=True)
    except (Exception, Aborted) as e:  # noqa: BLE001
        failed_any = True
        print(f"chaos: aborted: {e}", flush=True)
        if not isinstance(e, Failure):
            traceback.print_exc()
    finally:
        stack.stop()
        for m in mounts:
            subprocess.run(["umount", "-l", m], capture_output=True)
        if failed_any or args.keep:
            log(f"chaos: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"chaos: total {time.monotonic() - started:.0f} s", flush=True)
    print(f"chaos: {len(lines)} scenarios, {passed} passed, lost {totals[0]}, "
          f"doubled {totals[1]}, early {totals[2]}", flush=True)
    return 1 if failed_any or passed != len(only) else 0


if __name__ == "__main__":
    sys.exit(main())
