#!/usr/bin/env python3
"""The live demo's driver (scripts/demo.sh builds, then runs this).

    demo.py --incidentd PATH --incidentctl PATH --source-dir DIR [--scale 3600] [--keep]

Starts, all on 127.0.0.1 and free ports: a single-node Kafka broker (scripts/kafka.sh), Kannel
with its fake SMSC (scripts/kannel.sh, replies coming back to the daemon's /sms/kannel with the
callback secret), the project's webhook receiver (scripts/webhook_receiver.py), and incidentd on
a copy of config/incidentd.toml with SMS and the HTTP API on, on a drill clock (--scale hours of
clock per hour: 3600 makes one hour a second). The provincial CAC's people are reached by webhook
first, everyone else by SMS.

Then it plays a drill landslide and prints, as they happen: the daemon's actions, every SMS as
fakesmsc gets it (to whom, what it says), every webhook as the receiver gets it. One duty officer
acknowledges by SMS reply with the reply code the first message gave him. The webhook receiver is
down for 24 minutes of clock around the 2 h warning: the retries and the recovery show in the
figures at the end. At the end: the database's size (under 10 MB), the timeline rows each
notification wrote (at most ten), and a check that no phone number or webhook URL of the roster
is in the timeline. Everything it started is stopped, also on Ctrl-C. Standard library only.
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.parse
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from config_edit import set_setting  # noqa: E402
from webhook_receiver import Receiver  # noqa: E402

KEY_PREFIX = "drill-zt-landslide"
TITLE = "昭通市某县山体滑坡引发网络关注（演练）"
UNITS = ["zhaotong-gov", "prov-emergency", "prov-cac"]
WEBHOOK_UNIT = "prov-cac"  # its people are reached by webhook first in the demo
OUTAGE_HOURS = (1.9, 2.3)  # the receiver is down from 1 h 54 to 2 h 18 of clock, over the 2 h step
MAX_DB_BYTES = 10 * 1000 * 1000
MAX_ROWS_PER_NOTIFICATION = 10


def say(msg):
    print(f"{'':>10}>> {msg}", flush=True)


def fail(msg):
    print(f"demo: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def masked(phone):
    return phone[:6] + "****" + phone[-4:] if len(phone) > 10 else phone


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        fail(f"{' '.join(cmd[:2])} failed:\n{r.stdout}{r.stderr}")
    return r.stdout


class Demo:
    def __init__(self, args):
        self.args = args
        self.src = args.source_dir
        self.work = tempfile.mkdtemp(prefix="incidentd-demo.")
        self.kafka_sh = os.path.join(self.src, "scripts", "kafka.sh")
        self.kannel_sh = os.path.join(self.src, "scripts", "kannel.sh")
        self.kafka_dir = os.path.join(self.work, "kafka")
        self.kannel_dir = os.path.join(self.work, "kannel")
        self.db = os.path.join(self.work, "demo.db")
        self.log = os.path.join(self.work, "incidentd.log")
        self.config = os.path.join(self.work, "incidentd.toml")
        self.broker_port = free_port()
        self.http_port = free_port()
        self.receiver_port = free_port()
        self.started = []  # what to stop, in reverse
        self.daemon = None
        self.origin_ms = None
        self.stop_printing = threading.Event()
        self.key = f"{KEY_PREFIX}-{time.strftime('%H%M%S')}"
        with open(os.path.join(self.src, "config", "incidentd.toml"), "rb") as f:
            example = tomllib.load(f)
        self.people_by_phone = {p["phone"]: p["id"] for u in example["units"]
                                for p in u.get("people", []) if p.get("phone")}
        route = example["notify"]["webhooks"][0]
        # The daemon signs with its drill clock's time: only the signature can be checked.
        self.receiver = Receiver("127.0.0.1", self.receiver_port, route["secret"].encode(),
                                 prefix="  webhook ->", max_skew_s=None)

    # ---- the parts ----------------------------------------------------------------------------

    def start_broker(self):
        print(f"=== a local Kafka broker on 127.0.0.1:{self.broker_port}", flush=True)
        run([self.kafka_sh, "start", "--port", str(self.broker_port), "--dir", self.kafka_dir,
             "--partitions", "3"], timeout=300)
        self.started.append(lambda: run([self.kafka_sh, "stop", "--dir", self.kafka_dir],
                                        timeout=120))
        for topic in ("opinion.events", "opinion.releases", "opinion.events.dlq"):
            run([self.kafka_sh, "create-topic", "--port", str(self.broker_port), topic,
                 "--partitions", "3"], timeout=120)

    def start_kannel(self):
        print("=== Kannel (bearerbox, smsbox) with its fake SMSC", flush=True)
        secret = os.path.join(self.work, "sms-callback-secret")
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        self.started.append(lambda: subprocess.run([self.kannel_sh, "stop", "--dir",
                                                    self.kannel_dir], capture_output=True,
                                                   timeout=120))
        out = run([self.kannel_sh, "start", "--dir", self.kannel_dir, "--callback",
                   f"http://127.0.0.1:{self.http_port}", "--callback-secret-file", secret],
                  timeout=120)
        self.kannel = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.kannel["secret_file"] = secret

    def start_receiver(self):
        print(f"=== the webhook receiver on 127.0.0.1:{self.receiver_port}", flush=True)
        self.receiver.start()
        self.started.append(self.receiver.stop)

    def write_config(self):
        with open(os.path.join(self.src, "config", "incidentd.toml"), encoding="utf-8") as f:
            text = f.read()
        credentials = os.path.join(self.work, "sms-credentials")
        fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{self.kannel['KANNEL_USERNAME']}:{self.kannel['KANNEL_PASSWORD']}\n")

        def setting(section, key, value):
            nonlocal text
            text = set_setting(text, section, key, value)

        setting("kafka", "brokers", f'"127.0.0.1:{self.broker_port}"')
        setting("http", "enabled", "true")
        setting("http", "port", str(self.http_port))
        setting("sms", "enabled", "true")
        setting("sms", "url", f'"{self.kannel["KANNEL_SENDSMS_URL"]}"')
        setting("sms", "credentials_file", f'"{credentials}"')
        setting("sms", "sender", f'"{self.kannel["KANNEL_SENDER"]}"')
        setting("sms", "callback_secret_file", f'"{self.kannel["secret_file"]}"')
        # A receiver outage shorter than fallback_after is retried on the webhook, not moved on.
        setting("notify", "fallback_after", '"1h"')
        text = text.replace("http://127.0.0.1:18080", f"http://127.0.0.1:{self.receiver_port}")
        # The CAC's people: webhook first.
        head = text.index(f'id = "{WEBHOOK_UNIT}"')
        nxt = text.find("\n[[units]]", head)
        nxt = len(text) if nxt < 0 else nxt
        text = (text[:head] + text[head:nxt].replace('channels = ["sms", "webhook"]',
                                                     'channels = ["webhook", "sms"]') + text[nxt:])
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(text)
        run([self.args.incidentctl, "check-config", self.config], timeout=30)

    def start_daemon(self):
        print(f"=== incidentd --time-scale {self.args.scale} (DRILL: one hour of clock every "
              f"{3600 / self.args.scale:g} s)", flush=True)
        logfile = open(self.log, "w")
        self.daemon = subprocess.Popen([self.args.incidentd, "--config", self.config,
                                        "--database", self.db, "--time-scale",
                                        str(self.args.scale)], stdout=logfile,
                                       stderr=subprocess.STDOUT)
        self.started.append(self.stop_daemon)
        m = self.wait_log(r"scaled clock origin_ms=(\d+)", 30)
        self.origin_ms = int(m.group(1))
        self.wait_log(r"kafka: assigned", 60)

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            return self.daemon.wait(timeout=60)
        return self.daemon.returncode if self.daemon else None

    def wait_log(self, pattern, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                m = re.search(pattern, f.read())
            if m:
                return m
            if self.daemon.poll() is not None:
                fail(f"incidentd exited; see {self.log}")
            time.sleep(0.1)
        fail(f"no {pattern!r} in {self.log} after {seconds} s")

    # ---- the drill clock and the scenario -----------------------------------------------------

    def clock_ms(self):
        now = time.time() * 1000
        return int(self.origin_ms + (now - self.origin_ms) * self.args.scale)

    def at_hour(self, hours):
        target = self.t0 + int(hours * 3600_000)
        while self.clock_ms() < target:
            time.sleep(0.02)

    @staticmethod
    def iso(ms):
        return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def publish(self, topic, value):
        subprocess.run(["kcat", "-P", "-b", f"127.0.0.1:{self.broker_port}", "-t", topic, "-K",
                        "\t"], input=f"{self.key}\t{value}\n".encode(), check=True,
                       capture_output=True, timeout=30)

    def event(self, n, kind, level):
        units = ",".join(f'"{u}"' for u in UNITS)
        self.publish("opinion.events",
                     f'{{"schema":1,"event_id":"{self.key}-{n}","incident_key":"{self.key}",'
                     f'"kind":"{kind}","level":"{level}","title":"{TITLE}","category":"disaster",'
                     f'"region":"530600","lead_unit":"zhaotong-gov","units":[{units}],'
                     f'"detected_at":"{self.iso(self.t0)}","drill":true}}')

    def release(self, n, milestone, unit):
        self.publish("opinion.releases",
                     f'{{"schema":1,"confirmation_id":"{self.key}-{n}","incident_key":'
                     f'"{self.key}","milestone":"{milestone}","unit":"{unit}","released_at":'
                     f'"{self.iso(self.clock_ms())}","channel":"weibo",'
                     f'"url":"https://example.org/release/{n}"}}')

    # ---- what happens, printed as it happens --------------------------------------------------

    def sms_received(self):
        out = subprocess.run([self.kannel_sh, "received", "--dir", self.kannel_dir],
                             capture_output=True, text=True).stdout
        messages, pending = [], {}
        for line in out.splitlines():
            f = line.split(" ")
            if f[2] == "ucs-2":
                messages.append((f[1], _decode(f[3]).decode("utf-16-be")))
            elif f[2] == "udh":
                udh, data = _decode(f[3]), _decode(f[5])
                parts = pending.setdefault((f[1], udh[3]), {})
                parts[udh[5]] = data
                if len(parts) == udh[4]:
                    joined = b"".join(parts[k] for k in sorted(parts))
                    messages.append((f[1], joined.decode("utf-16-be")))
                    del pending[(f[1], udh[3])]
        return messages

    def print_sms(self):
        shown = 0
        while not self.stop_printing.is_set():
            messages = self.sms_received()
            for to, text in messages[shown:]:
                who = self.people_by_phone.get(to, "?")
                one_line = " ".join(text.split())
                print(f"{time.strftime('%H:%M:%S')}   SMS -> {who} ({masked(to)}): {one_line}",
                      flush=True)
            shown = len(messages)
            self.stop_printing.wait(0.2)

    def print_actions(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            while not self.stop_printing.is_set():
                line = f.readline()
                if not line:
                    self.stop_printing.wait(0.1)
                    continue
                if "] action " in line and " notification " not in line:
                    print("  " + line.split("] action ", 1)[1].rstrip(), flush=True)

    def code_for(self, person, deadline_s=30):
        """The reply code of the first SMS that reached `person`."""
        phone = next(p for p, who in self.people_by_phone.items() if who == person)
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            for to, text in self.sms_received():
                m = re.search(r"回复(\d+)1", text)
                if to == phone and m:
                    return phone, m.group(1)
            time.sleep(0.1)
        fail(f"no SMS with a reply code reached {person} in {deadline_s} s")

    def play(self):
        threading.Thread(target=self.print_sms, daemon=True).start()
        threading.Thread(target=self.print_actions, daemon=True).start()
        self.t0 = self.clock_ms()
        say("0 h: monitoring publishes a level II landslide (a drill) to opinion.events")
        self.event(1, "detected", "II")
        self.at_hour(1)
        say("1 h: the incident is raised to level I")
        self.event(2, "updated", "I")
        self.at_hour(OUTAGE_HOURS[0])
        say(f"{OUTAGE_HOURS[0]} h: the webhook receiver goes down")
        self.receiver.stop()
        self.at_hour(OUTAGE_HOURS[1])
        self.receiver.start()
        say(f"{OUTAGE_HOURS[1]} h: the webhook receiver is back; the retried webhooks arrive")
        phone, code = self.code_for("zt-duty1")
        say(f"zt-duty1 acknowledges by SMS reply: {code}1")
        subprocess.run([self.kannel_sh, "inject", "--dir", self.kannel_dir, phone,
                        self.kannel["KANNEL_SENDER"], f"{code}1"], check=True,
                       capture_output=True, timeout=60)
        self.at_hour(2.75)
        say("2 h 45: Zhaotong confirms its first release on opinion.releases")
        self.release(1, "first_release", "zhaotong-gov")
        self.at_hour(3.5)
        say("3 h 30: the provincial emergency office and the CAC confirm theirs")
        self.release(2, "first_release", "prov-emergency")
        self.release(3, "first_release", "prov-cac")
        self.at_hour(26.5)
        say("26 h 30: the press conference is finally held and confirmed by all three units")
        for n, unit in enumerate(UNITS, start=4):
            self.release(n, "press_conference", unit)
        self.at_hour(51)
        say("51 h: the incident is closed")
        self.event(3, "closed", "I")
        self.at_hour(52)
        time.sleep(1)
        self.stop_printing.set()
        rc = self.stop_daemon()
        if rc != 0:
            fail(f"incidentd exited with {rc}; see {self.log}")

    # ---- after the drill ---------------------------------------------------------------------

    def summary(self):
        print("\n=== after the drill", flush=True)
        con = sqlite3.connect(self.db)
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        timeline = q("SELECT COUNT(*) FROM timeline")[0][0]
        notifications = q("SELECT COUNT(*) FROM outbox")[0][0]
        states = ", ".join(f"{s} {n}" for s, n in
                           q("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state"))
        print(f"timeline rows: {timeline} (a step's notifications share one); "
              f"notifications: {notifications} ({states})")
        per = q("SELECT COUNT(*) FROM timeline WHERE action IN ('delivery', 'channel_fallback') "
                "GROUP BY json_extract(body, '$.notification_id')")
        most = max((n for (n,) in per), default=0)
        print(f"timeline rows per notification (delivery records): at most {most} "
              f"(the limit is {MAX_ROWS_PER_NOTIFICATION}), "
              f"{sum(n for (n,) in per) / max(notifications, 1):.1f} on average")
        waited = q("SELECT attempts, state FROM outbox WHERE channel = 'webhook' AND attempts > 1")
        if not waited:
            fail("no webhook was retried: the receiver's outage showed nothing")
        tries = sorted(a for a, _ in waited)
        ended = ", ".join(f"{s} {sum(1 for _, x in waited if x == s)}"
                          for s in sorted({x for _, x in waited}))
        print(f"webhooks that waited out the receiver's outage: {len(tries)}, "
              f"{tries[0]} to {tries[-1]} attempts each ({ended})")
        acks = q("SELECT recipient, via FROM acknowledgements")
        print(f"acknowledgements: {', '.join(f'{r} by {v}' for r, v in acks) or 'none'}")
        con.close()
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                fail(f"{self.db}{suffix} left behind: the daemon did not checkpoint at stop")
        size = os.path.getsize(self.db)
        print(f"database: {size / 1e6:.2f} MB")
        with open(self.config, "rb") as f:
            config = tomllib.load(f)
        addresses = {p[k] for u in config["units"] for p in u.get("people", [])
                     for k in ("phone", "webhook") if p.get(k)}
        con = sqlite3.connect(self.db)
        dump = "\n".join(b for (b,) in con.execute("SELECT body FROM timeline"))
        con.close()
        leaked = sorted(a for a in addresses if a in dump)
        print(f"roster addresses in the timeline: {len(leaked)} of {len(addresses)} searched")
        if leaked or size >= MAX_DB_BYTES or most > MAX_ROWS_PER_NOTIFICATION:
            fail("the drill broke a promise above")

    def cleanup(self):
        self.stop_printing.set()
        for stop in reversed(self.started):
            try:
                stop()
            except Exception as e:  # keep stopping the rest
                print(f"demo: stopping failed: {e}", file=sys.stderr)
        if self.args.keep:
            print(f"demo: files kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def _decode(data):
    return urllib.parse.unquote_to_bytes(data.replace("+", " "))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--incidentctl", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--scale", type=int, default=3600)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    demo = Demo(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        demo.start_broker()
        demo.start_receiver()
        demo.start_kannel()
        demo.write_config()
        demo.start_daemon()
        print("\n=== the drill: actions, and every SMS and webhook as it arrives", flush=True)
        demo.play()
        demo.summary()
        print("demo: incidentd, Kannel, the receiver and the broker stopped cleanly")
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        demo.cleanup()


if __name__ == "__main__":
    main()
