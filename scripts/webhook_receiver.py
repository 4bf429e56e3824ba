#!/usr/bin/env python3
"""A small webhook receiver for incidentd's generic signed webhooks (docs/notifications.md).

    webhook_receiver.py --port PORT [--secret SECRET | --secret-file FILE] [--address 127.0.0.1]

Listens on ADDRESS:PORT, checks every POST's X-Incidentd-Signature (HMAC-SHA256 over
"<timestamp>.<body>" with the route's secret) and timestamp (at most 5 minutes old), answers 204,
and prints one line per notification: the time, the notification id, the recipient and the text.
A request that fails the check gets 401 and a line saying why. A notification id seen before (a
re-send after a crash) is printed as a duplicate and still answered 204, as a receiver should.

Used by scripts/demo.sh; handy to watch what incidentd sends. Standard library only.
"""

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_SKEW_S = 300


class Receiver:
    """Verifies and prints; start() and stop() bring it up and down (the demo's outage)."""

    def __init__(self, address, port, secret, out=sys.stdout, prefix="webhook",
                 max_skew_s=MAX_SKEW_S):
        self.address, self.port, self.secret = address, port, secret
        self.max_skew_s = max_skew_s  # None: a drill's timestamps run on its scaled clock
        self.out, self.prefix = out, prefix
        self.lock = threading.Lock()
        self.seen = {}  # notification id -> deliveries
        self.server = None

    def check(self, headers, body):
        """(payload, None) for a genuine request, (None, why) for anything else."""
        ts = headers.get("X-Incidentd-Timestamp", "")
        sig = headers.get("X-Incidentd-Signature", "")
        want = "sha256=" + hmac.new(self.secret, ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, want):
            return None, "bad signature"
        if not ts.isdigit():
            return None, f"no timestamp ({ts!r})"
        if self.max_skew_s is not None and abs(time.time() - int(ts)) > self.max_skew_s:
            return None, f"stale timestamp {ts!r}"
        try:
            payload = json.loads(body)
        except ValueError:
            return None, "body is not JSON"
        if payload.get("notification_id") != headers.get("X-Incidentd-Notification-Id"):
            return None, "body and header name different notifications"
        return payload, None

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                payload, why = receiver.check(self.headers, body)
                if payload is None:
                    receiver.say(f"refused a request to {self.path}: {why}")
                    self.send_response(401)
                else:
                    nid = payload["notification_id"]
                    with receiver.lock:
                        receiver.seen[nid] = receiver.seen.get(nid, 0) + 1
                        copies = receiver.seen[nid]
                    note = "" if copies == 1 else f" (duplicate #{copies}, dropped)"
                    text = " ".join(str(payload.get("text", "")).split())
                    receiver.say(f"{payload.get('recipient', '?')} [{nid}]{note}: {text}")
                    self.send_response(204)
                self.end_headers()

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer((self.address, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def say(self, line):
        print(f"{time.strftime('%H:%M:%S')} {self.prefix} {line}", file=self.out, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--drill", action="store_true",
                        help="the daemon runs a drill clock (--time-scale): its timestamps are "
                             "not the wall clock, so only the signature is checked")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--secret", help="the [[notify.webhooks]] route's secret")
    group.add_argument("--secret-file", help="a file holding it (its secret_file)")
    args = parser.parse_args()
    if args.secret_file:
        with open(args.secret_file, encoding="utf-8") as f:
            secret = f.read().strip().encode()
    else:
        secret = args.secret.encode()
    receiver = Receiver(args.address, args.port, secret,
                        max_skew_s=None if args.drill else MAX_SKEW_S)
    receiver.start()
    receiver.say(f"listening on http://{args.address}:{args.port}/")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        receiver.stop()


if __name__ == "__main__":
    main()
