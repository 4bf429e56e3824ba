#!/usr/bin/env python3
"""The real daemon keeps systemd's start timeout at bay while its start works, and only then.

    start_timeout_test.py --incidentd PATH --source-dir DIR [--keep]

systemd ends a Type=notify start that has not sent READY=1 within TimeoutStartSec= (120 s in the
shipped unit): a start killed in a schema migration rolls it back and begins it again, and one
that waits for an unreachable broker restarts every two minutes. So the daemon asks for more
(EXTEND_TIMEOUT_USEC) while it works: a thread of its own until the loop runs
(daemon/service/start_keepalive.hpp), then each watchdog ping from the loop until READY=1.

Here the daemon starts against a port where no broker listens, with the socket systemd would
give it (NOTIFY_SOCKET) and a watchdog of 1 s (WATCHDOG_USEC: a ping every 0.5 s). It must:
- extend the start at once, saying it is checking the database and migrating its schema;
- then, with each ping from its loop, extend it by three intervals (1.5 s), saying the clocks
  run and it waits for Kafka: at least four times in 3 s, while its loop runs;
- never send READY=1 (it has not subscribed);
- stop on SIGTERM with status 0.
No broker is needed. Standard library.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_test as kt  # noqa: E402  (config, daemon and wait helpers)
from damaged_db_test import NoBroker  # noqa: E402
from disk_full_test import NotifySocket  # noqa: E402

KEEPALIVE = "EXTEND_TIMEOUT_USEC=30000000\nSTATUS=starting: checking the database"
WAITING = ("EXTEND_TIMEOUT_USEC=1500000\nSTATUS=starting: the incident clocks run; waiting for "
           "Kafka before consuming (the log says why)")


def run(args, work):
    notify = NotifySocket(os.path.join(work, "notify.sock"))
    os.environ["NOTIFY_SOCKET"] = notify.path
    os.environ["WATCHDOG_USEC"] = "1000000"
    daemon = None
    try:
        config = os.path.join(work, "incidentd.toml")
        kt.write_config(args.source_dir, config, NoBroker(), "start-timeout", "opinion.events.dlq")
        started = time.time()
        daemon = kt.Daemon(args.incidentd, config, os.path.join(work, "incidentd.db"),
                           os.path.join(work, "incidentd.log"))
        daemon.start()
        daemon.wait_loop_up()
        kt.wait_for("four extensions from the loop's pings",
                    lambda: notify.since(started).count(WAITING) >= 4, 30, interval=0.1)
        sent = notify.since(started)
        # The keepalive's thread and the loop's first ping may come in either order.
        keepalive = [d for d in sent if d.startswith(KEEPALIVE)]
        kt.check(keepalive, f"no extension from the start's keepalive: {sent}")
        kt.check("READY=1" not in sent, f"READY=1 sent with no broker to subscribe to: {sent}")
        kt.check(all(d in ("WATCHDOG=1", WAITING) or d.startswith(KEEPALIVE) for d in sent),
                 f"an unexpected datagram: {sent}")
        kt.log(f"{len(sent)} datagrams, none READY=1; the keepalive's: {keepalive[0]!r}")
        rc = daemon.stop()
        daemon = None
        kt.check(rc == 0, f"SIGTERM: exit status {rc}")
    finally:
        if daemon is not None:
            daemon.proc.kill()
            daemon.proc.wait()
        del os.environ["NOTIFY_SOCKET"]
        del os.environ["WATCHDOG_USEC"]
        notify.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    passed = kt.run_case("start_timeout", lambda work: run(args, work), args.keep)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
