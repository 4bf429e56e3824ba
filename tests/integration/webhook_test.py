#!/usr/bin/env python3
"""End-to-end test of incidentd's webhooks against a real HTTP receiver and a real Kafka broker.

    webhook_test.py CASE --incidentd PATH --source-dir DIR [--keep]

CASE is receiver_outage, sigkill, roster_reload or all.

Events go in through Kafka (scripts/kafka.sh, as in kafka_test.py) with detected_at in the
past, so the first warning falls due at once and its notifications reach the outbox. People of
the example roster prefer SMS, which is not enabled here: the dispatcher falls back to their
webhook, which points at a Python http.server on a free 127.0.0.1 port that verifies every
request's HMAC-SHA256 signature (docs/notifications.md) and records its notification id.

- receiver_outage: the receiver is down (nothing listens) while the first attempts fail; the
  dispatcher retries; once it is up every webhook notification arrives, signed, none lost.
- sigkill: the daemon is SIGKILLed while deliveries are in flight and restarted: every webhook
  notification arrives, none more than twice (one duplicate at most, found by notification id).
- roster_reload: the people's webhook URLs change in the file and the daemon gets SIGHUP: the
  notifications of incidents that arrive after the reload go to the new URLs, those before it
  went to the old ones.
Every wait polls a condition against a deadline. Standard library only.
"""

import argparse
import collections
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_test as kt  # noqa: E402  (the broker, the daemon and event helpers)

SECRET = b"demo-webhook-secret-change-me"  # config/incidentd.toml's demo route
MAX_SKEW_S = 300


class Receiver:
    """A webhook receiver that verifies signatures; start()/stop() bring it up and down."""

    def __init__(self, port, delay_s=0.0):
        self.port = port
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.received = collections.Counter()  # notification id -> deliveries
        self.paths = {}  # notification id -> the path it was last posted to
        self.first_arrival = {}  # notification id -> when it first arrived (epoch seconds)
        self.bad = []  # why a request was refused
        self.server = None
        self.thread = None

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ts = self.headers.get("X-Incidentd-Timestamp", "")
                sig = self.headers.get("X-Incidentd-Signature", "")
                nid = self.headers.get("X-Incidentd-Notification-Id", "")
                want = "sha256=" + hmac.new(SECRET, ts.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
                problem = None
                if not hmac.compare_digest(sig, want):
                    problem = f"bad signature for {nid}"
                elif not ts.isdigit() or abs(time.time() - int(ts)) > MAX_SKEW_S:
                    problem = f"stale timestamp {ts!r} for {nid}"
                else:
                    payload = json.loads(body)
                    if payload.get("notification_id") != nid or not payload.get("text"):
                        problem = f"body does not match header for {nid}"
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver.lock:
                    if problem:
                        receiver.bad.append(problem)
                    else:
                        receiver.received[nid] += 1
                        receiver.paths[nid] = self.path
                        receiver.first_arrival.setdefault(nid, time.time())
                self.send_response(401 if problem else 204)
                self.end_headers()

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        kt.log(f"receiver up on 127.0.0.1:{self.port}")

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
            kt.log("receiver down")

    def snapshot(self):
        with self.lock:
            return collections.Counter(self.received), list(self.bad)

    def arrival(self, nid):
        with self.lock:
            return self.first_arrival.get(nid)

    def paths_snapshot(self):
        with self.lock:
            return dict(self.paths)


def write_config(args, work, broker, receiver_port, poll_every="200ms"):
    path = os.path.join(work, "incidentd.toml")
    kt.write_config(args.source_dir, path, broker, "webhook-test", "opinion.events.dlq")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = text.replace("http://127.0.0.1:18080", f"http://127.0.0.1:{receiver_port}")
    for key, value in (("retry_base", "200ms"), ("retry_max", "1s"), ("fallback_after", "1h"),
                       ("send_timeout", "2s"), ("poll_every", poll_every)):
        text, n = re.subn(rf'^{key} = "[^"]*"', f'{key} = "{value}"', text, count=1,
                          flags=re.MULTILINE)
        kt.check(n == 1, f"config/incidentd.toml has no {key} line in [notify]")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def webhook_rows(db):
    """(notification_id, state, attempts) of the outbox rows that went by webhook."""
    return kt.db_query(db, "SELECT notification_id, state, attempts FROM outbox "
                           "WHERE channel = 'webhook' ORDER BY notification_id")


def produce_due_incidents(broker, prefix, n):
    # Detected 2 h 1 min ago: first_release's 2 h warning is due at once.
    detected = kt.rfc3339(datetime.now(timezone.utc) - timedelta(hours=2, minutes=1))
    broker.produce(kt.EVENTS, [(f"{prefix}-{i}".encode(),
                                kt.event(f"{prefix}-e{i}", f"{prefix}-{i}", detected_at=detected))
                               for i in range(n)])


def start_daemon(args, work, config, db):
    d = kt.Daemon(args.incidentd, config, db, os.path.join(work, "incidentd.log"))
    d.start()
    d.wait_log(r"open incidents", 60)
    return d


def start_all(args, work, broker, receiver, receiver_up=True, poll_every="200ms"):
    """The broker and its topics, the receiver (unless it starts down), the daemon."""
    db = os.path.join(work, "incidentd.db")
    broker.start()
    broker.ensure_topics(kt.EVENTS, kt.RELEASES)
    config = write_config(args, work, broker, receiver.port, poll_every)
    if receiver_up:
        receiver.start()
    return db, config, start_daemon(args, work, config, db)


def check_all_delivered(receiver, db, max_copies):
    rows = kt.wait_for("every webhook row delivered",
                       lambda: (lambda r: r if r and all(s == "delivered" for _, s, _ in r)
                                else None)(webhook_rows(db)), 120, interval=0.2)
    received, bad = receiver.snapshot()
    kt.check(not bad, f"the receiver refused requests: {bad[:5]}")
    ids = [nid for nid, _, _ in rows]
    missing = [nid for nid in ids if received[nid] == 0]
    kt.check(not missing, f"{len(missing)} delivered rows never reached the receiver: {missing[:5]}")
    unknown = set(received) - set(ids)
    kt.check(not unknown, f"the receiver got ids the outbox does not have: {sorted(unknown)[:5]}")
    too_many = {nid: c for nid, c in received.items() if c > max_copies}
    kt.check(not too_many, f"notifications received more than {max_copies} times: {too_many}")
    duplicates = sum(c - 1 for c in received.values())
    kt.log(f"{len(ids)} webhook notifications delivered, {duplicates} duplicates")
    return rows, received, duplicates


def case_receiver_outage(args, work, broker):
    receiver = Receiver(kt.free_port())
    db, config, daemon = start_all(args, work, broker, receiver, receiver_up=False)
    try:
        produce_due_incidents(broker, "outage", 5)
        # Receiver down: attempts fail and are retried (attempts >= 3 on every row).
        kt.wait_for("webhook rows retried while the receiver is down",
                    lambda: (lambda r: len(r) >= 5 and all(a >= 3 and s == "pending"
                                                           for _, s, a in r))(webhook_rows(db)),
                    120, interval=0.2)
        # Attempts are state in the outbox, not history: one 'failed' record for the webhook per
        # row, however many attempts failed.
        failed = kt.db_query(db, "SELECT COUNT(*) FROM timeline WHERE action = 'delivery' "
                                 "AND body LIKE '%\"outcome\":\"failed\"%' "
                                 "AND body LIKE '%\"channel\":\"webhook\"%'")[0][0]
        kt.check(failed == len(webhook_rows(db)),
                 f"{failed} 'failed' webhook records for {len(webhook_rows(db))} rows (want one each)")
        receiver.start()
        rows, received, duplicates = check_all_delivered(receiver, db, max_copies=1)
        kt.check(duplicates == 0, "no daemon crash here, yet duplicates arrived")
        delivered_records = kt.db_query(db, "SELECT COUNT(*) FROM timeline WHERE action = "
                                            "'delivery' AND body LIKE '%\"outcome\":\"delivered\"%' "
                                            "AND body LIKE '%\"channel\":\"webhook\"%'")[0][0]
        kt.check(delivered_records == len(rows),
                 f"{delivered_records} 'delivered' records for {len(rows)} rows (want one each)")
        per_row = kt.db_query(db, "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM timeline WHERE "
                                  "action IN ('delivery', 'channel_fallback') "
                                  "GROUP BY json_extract(body, '$.notification_id'))")[0][0]
        kt.check(per_row <= 10, f"a notification wrote {per_row} delivery records (at most 10)")
        kt.check_no_addresses(db, config)
        kt.check(daemon.stop() == 0, "incidentd did not stop cleanly")
    finally:
        daemon.cleanup()
        receiver.stop()


def case_sigkill(args, work, broker):
    receiver = Receiver(kt.free_port(), delay_s=0.05)
    db, config, daemon = start_all(args, work, broker, receiver)
    try:
        produce_due_incidents(broker, "kill", 150)
        kt.wait_for("some webhook deliveries",
                    lambda: sum(receiver.snapshot()[0].values()) >= 20, 120, interval=0.05)
        daemon.kill()
        before, _ = receiver.snapshot()
        pending = [r for r in webhook_rows(db) if r[1] == "pending"]
        kt.log(f"killed with {sum(before.values())} received, {len(pending)} rows pending")
        kt.check(pending, "nothing was left to deliver at the kill; the case proves nothing")
        daemon = start_daemon(args, work, config, db)
        check_all_delivered(receiver, db, max_copies=2)
        kt.check(daemon.stop() == 0, "incidentd did not stop cleanly")
    finally:
        daemon.cleanup()
        receiver.stop()


def case_roster_reload(args, work, broker):
    receiver = Receiver(kt.free_port())
    db, config, daemon = start_all(args, work, broker, receiver)
    try:
        produce_due_incidents(broker, "before", 3)
        check_all_delivered(receiver, db, max_copies=1)
        # The people's webhooks move to new paths on the same receiver; the [notify.webhooks]
        # route matches by prefix, so they are still signed with its secret.
        with open(config, encoding="utf-8") as f:
            text = f.read()
        moved = text.replace("/hooks/", "/hooks/reloaded-")
        kt.check(moved != text, "the example roster has no /hooks/ webhooks to move")
        with open(config, "w", encoding="utf-8") as f:
            f.write(moved)
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_log(r"reload: applied", 30)
        produce_due_incidents(broker, "after", 3)
        kt.wait_for("notifications of the incidents after the reload",
                    lambda: kt.db_query(db, "SELECT COUNT(*) FROM outbox WHERE channel = "
                                            "'webhook' AND incident_key LIKE 'after-%'")[0][0] > 0,
                    60, interval=0.2)
        check_all_delivered(receiver, db, max_copies=1)
        paths = receiver.paths_snapshot()
        rows = kt.db_query(db, "SELECT notification_id, incident_key FROM outbox "
                               "WHERE channel = 'webhook'")
        before = [paths[nid] for nid, key in rows if key.startswith("before-")]
        after = [paths[nid] for nid, key in rows if key.startswith("after-")]
        kt.check(before and after, f"{len(before)} notifications before, {len(after)} after")
        stale = [p for p in after if not p.startswith("/hooks/reloaded-")]
        kt.check(not stale, f"after the reload, {len(stale)} of {len(after)} notifications went "
                            f"to the old URLs: {stale[:3]}")
        early = [p for p in before if p.startswith("/hooks/reloaded-")]
        kt.check(not early, f"notifications delivered before the reload went to new URLs: {early}")
        kt.log(f"{len(before)} notifications to the old URLs, {len(after)} to the new ones")
        kt.check(daemon.stop() == 0, "incidentd did not stop cleanly")
    finally:
        daemon.cleanup()
        receiver.stop()


def case_due_means_sent(args, work, broker):
    """A step a timer fires is on the wire at once, not at the dispatcher's next look at the
    outbox: with poll_every at 10 minutes, an incident's 2 h warning reaches the receiver within
    seconds of its due instant (issue 18, "due means sent")."""
    receiver = Receiver(kt.free_port())
    db, config, daemon = start_all(args, work, broker, receiver, poll_every="10m")
    try:
        # Detected so that its 2 h warning falls due 20 s from now: the event is in (and its
        # alert at open out) well before, so the warning is the timer's, not a catch-up's.
        detected = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=20)
        detected -= timedelta(hours=2)
        due_s = (detected + timedelta(hours=2)).timestamp()
        broker.produce(kt.EVENTS, [(b"due-1", kt.event("due-e1", "due-1",
                                                       detected_at=kt.rfc3339(detected)))])
        opened = kt.wait_for("the alert at open on the wire", lambda: kt.db_query(
            db, "SELECT MIN(created_at) FROM outbox WHERE incident_key = 'due-1' "
                "AND state = 'delivered'")[0][0], 60, interval=0.1)
        kt.check(opened / 1000 < due_s - 2, "the incident opened too late to test the timer's "
                                            "step; the case proves nothing")
        warnings = kt.wait_for("the 2 h warning's outbox rows", lambda: kt.db_query(
            db, "SELECT notification_id FROM outbox WHERE incident_key = 'due-1' AND "
                "created_at >= ?", (int(due_s * 1000),)), 60, interval=0.1)
        ids = [nid for nid, in warnings]
        arrived = kt.wait_for("the 2 h warning at the receiver", lambda: min(
            (t for t in map(receiver.arrival, ids) if t is not None), default=None), 60,
            interval=0.01)
        late_s = arrived - due_s
        kt.log(f"due to on the wire: {late_s * 1000:.0f} ms (poll_every 10m)")
        kt.check(late_s < 5, f"the warning reached the receiver {late_s:.1f} s after it fell due")
    finally:
        daemon.stop()
        receiver.stop()


CASES = {"receiver_outage": case_receiver_outage, "sigkill": case_sigkill,
         "roster_reload": case_roster_reload, "due_means_sent": case_due_means_sent}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("case", choices=[*CASES, "all"])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    for tool in ("kcat", "java"):
        if shutil.which(tool) is None:
            print(f"webhook_test: {tool} not found (scripts/install-deps.sh installs it)")
            return 1
    kt.stop_on_sigterm()
    failed = False
    for name in CASES if args.case == "all" else [args.case]:
        def body(work, name=name):
            broker = kt.Broker(args.source_dir, work)
            try:
                CASES[name](args, work, broker)
            finally:
                broker.stop()
        failed |= not kt.run_case(name, body, args.keep, prefix=f"incidentd-webhook-{name}-")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
