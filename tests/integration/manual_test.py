#!/usr/bin/env python3
"""Incidents entered by hand, through a real Kafka broker and the real daemon.

    manual_test.py --incidentd PATH --incidentctl PATH --source-dir DIR [--keep]

`incidentctl open` publishes a manual event to opinion.events; the daemon consumes it like any
other: the incident is in the database with an incident_opened entry naming who entered it, and
its 0 h alert fired. `incidentctl level` raises and lowers it (reading its units from the API,
then from the database), `incidentctl close` closes it; a bad unit is refused before anything
is published. The API does the same with an operator token (POST /v1/incidents, .../level,
.../close, 202 once the broker has the event); a unit token is refused with 403. The report and
`show` say who entered it. Every wait polls a condition against a deadline.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import board_test as bt  # noqa: E402  (a broker and incidentd with [http] and two tokens)
import kafka_test as kt  # noqa: E402

KEY = "tel-zt-1"


def timeline(db, key, action):
    return kt.timeline_entries(db, key, action)


def ctl(stack, *args, ok=True):
    r = subprocess.run([stack.args.incidentctl, *args], capture_output=True, text=True, timeout=60)
    kt.log(f"incidentctl {' '.join(args[:2])}: rc {r.returncode}: {(r.stdout + r.stderr).strip()}")
    if ok:
        kt.check(r.returncode == 0, f"incidentctl {args} failed ({r.returncode}):\n{r.stderr}")
    return r


def published(r):
    m = re.search(r"^published (\S+) .* to opinion\.events partition (\d+) offset (\d+)$", r.stdout,
                  re.MULTILINE)
    kt.check(m, f"incidentctl did not say where it published: {r.stdout!r}")
    return m.group(1)


def event_count(stack):
    return len(stack.broker.consume_all(kt.EVENTS))


def post(stack, path, token, body, content_type="application/json"):
    status, raw, _ = stack.http(path, token, "POST", json.dumps(body).encode(), content_type)
    kt.log(f"POST {path}: {status} {raw[:200]!r}")
    return status, (json.loads(raw) if raw.strip().startswith(b"{") else raw)


def case(stack):
    stack.broker.start()
    stack.broker.ensure_topics(kt.EVENTS, kt.RELEASES, "opinion.events.dlq")
    stack.write_config()
    stack.start_daemon()
    db, cfg = stack.db, stack.config
    token_file = os.path.join(stack.work, "operator.token")
    with open(token_file, "w") as f:
        f.write(stack.operator_token + "\n")
    api = ["--url", f"http://127.0.0.1:{stack.http_port}", "--token-file", token_file]

    # ---- incidentctl open: a typo is refused before anything is published ----
    before = event_count(stack)
    r = ctl(stack, "open", "--config", cfg, "--key", KEY, "--level", "II", "--title", "电话报告",
            "--lead-unit", "zhaotong-gv", "--by", "张伟", ok=False)
    kt.check(r.returncode == 1 and 'unknown unit "zhaotong-gv"' in r.stderr,
             f"a bad unit was not refused with its reason: {r.returncode} {r.stderr!r}")
    kt.check(event_count(stack) == before, "a refused event reached the topic")

    r = ctl(stack, "open", "--config", cfg, "--key", KEY, "--level", "II",
            "--title", "电话报告：某县山体滑坡", "--lead-unit", "zhaotong-gov",
            "--units", "prov-emergency", "--by", "张伟")
    event_id = published(r)
    kt.check(event_id.startswith(f"manual-{KEY}-"), f"unexpected event id {event_id}")
    opened = kt.wait_for("the incident opened from the manual event",
                         lambda: timeline(db, KEY, "incident_opened"), 30, 0.1)[0]
    kt.check(opened.get("source") == "manual" and opened.get("by") == "张伟",
             f"incident_opened does not say who entered it: {opened}")
    kt.check(opened["units"] == ["zhaotong-gov", "prov-emergency"], f"units: {opened}")
    alert = kt.wait_for("the alert at open (0 h warning)",
                        lambda: [w for w in timeline(db, KEY, "warning") if w.get("opening")],
                        30, 0.1)
    kt.check(timeline(db, KEY, "notification"), "the alert at open notified nobody")
    kt.log(f"PASS: opened by hand by 张伟; alert at open {alert[0]['at']}")

    # ---- incidentctl level: units from the API, then from the database ----
    published(ctl(stack, "level", KEY, "I", "--config", cfg, "--by", "李娜", *api))
    raised = kt.wait_for("the raise to I", lambda: timeline(db, KEY, "level_changed"), 30, 0.1)[0]
    kt.check(raised["level"] == "I" and raised["previous_level"] == "II" and
             raised.get("by") == "李娜", f"level_changed: {raised}")
    published(ctl(stack, "level", KEY, "III", "--config", cfg, "--by", "李娜", "--database", db))
    lowered = kt.wait_for("the lowering to III",
                          lambda: timeline(db, KEY, "level_changed")[1:], 30, 0.1)[0]
    kt.check(lowered["level"] == "III" and lowered["units"] == ["zhaotong-gov", "prov-emergency"],
             f"level_changed: {lowered}")
    r = ctl(stack, "level", KEY, "III", "--config", cfg, "--by", "李娜", "--database", db, ok=False)
    kt.check(r.returncode == 1 and "already" in r.stderr, f"same level: {r.stderr!r}")

    # ---- the report and show say who entered it ----
    r = ctl(stack, "report", KEY, "--config", cfg, "--database", db, "--lang", "en")
    kt.check("by hand by 张伟" in r.stdout, f"the report does not say who opened it:\n{r.stdout}")
    r = ctl(stack, "report", KEY, "--config", cfg, "--database", db)
    kt.check("张伟" in r.stdout and "人工录入" in r.stdout, f"zh report:\n{r.stdout}")
    r = ctl(stack, "show", KEY, "--database", db, "--lang", "en")
    kt.check("by hand by 张伟" in r.stdout, f"show does not say who opened it:\n{r.stdout}")

    # ---- incidentctl close ----
    published(ctl(stack, "close", KEY, "--config", cfg, "--by", "王强", *api))
    closed = kt.wait_for("the close", lambda: timeline(db, KEY, "incident_closed"), 30, 0.1)[0]
    kt.check(closed.get("by") == "王强" and closed.get("source") == "manual", f"closed: {closed}")
    r = ctl(stack, "close", KEY, "--config", cfg, "--by", "王强", *api, ok=False)
    kt.check(r.returncode == 1 and "closed" in r.stderr, f"second close: {r.stderr!r}")
    kt.log("PASS: incidentctl level raised and lowered it, close closed it")

    # ---- the API: operator tokens only ----
    body = {"level": "II", "title": "电话：网络谣言", "lead_unit": "prov-cac",
            "units": ["prov-publicsecurity"], "by": "赵敏"}
    status, answer = post(stack, "/v1/incidents", stack.unit_token, body)
    kt.check(status == 403 and answer["error"] == "operator_only", "a unit token opened one")
    status, answer = post(stack, "/v1/incidents", stack.operator_token, body, "text/plain")
    kt.check(status == 415, f"no JSON content type: {status}")
    status, answer = post(stack, "/v1/incidents", stack.operator_token, {**body, "levle": "I"})
    kt.check(status == 422 and "levle" in answer["detail"], f"unknown field: {answer}")
    status, answer = post(stack, "/v1/incidents", stack.operator_token,
                          {**body, "lead_unit": "nowhere"})
    kt.check(status == 422 and 'unknown unit "nowhere"' in answer["detail"], f"bad unit: {answer}")
    status, answer = post(stack, "/v1/incidents", stack.operator_token, {**body,
                                                                         "incident_key": KEY})
    kt.check(status == 409, f"an existing key: {status} {answer}")
    status, answer = post(stack, "/v1/incidents", stack.operator_token, body)
    kt.check(status == 202 and answer["status"] == "published" and answer["offset"] >= 0,
             f"POST /v1/incidents: {status} {answer}")
    key = answer["incident_key"]
    opened = kt.wait_for("the API's incident opened", lambda: timeline(db, key, "incident_opened"),
                         30, 0.1)[0]
    kt.check(opened.get("by") == "赵敏" and opened["units"] == ["prov-cac", "prov-publicsecurity"],
             f"incident_opened: {opened}")
    kt.wait_for("its alert at open",
                lambda: [w for w in timeline(db, key, "warning") if w.get("opening")], 30, 0.1)
    status, answer = post(stack, f"/v1/incidents/{key}/level", stack.unit_token, {"level": "I"})
    kt.check(status == 403, f"a unit token changed the level: {status}")
    status, answer = post(stack, f"/v1/incidents/{key}/level", stack.operator_token, {"level": "I"})
    kt.check(status == 202, f"level: {status} {answer}")
    changed = kt.wait_for("the API's raise", lambda: timeline(db, key, "level_changed"), 30, 0.1)[0]
    kt.check(changed["level"] == "I" and changed.get("by") == "board-operator",
             f"level_changed (by defaults to the token's name): {changed}")
    status, answer = post(stack, f"/v1/incidents/{key}/close", stack.unit_token, {})
    kt.check(status == 403, f"a unit token closed it: {status}")
    status, answer = post(stack, f"/v1/incidents/{key}/close", stack.operator_token, {"by": "赵敏"})
    kt.check(status == 202, f"close: {status} {answer}")
    kt.wait_for("the API's close", lambda: timeline(db, key, "incident_closed"), 30, 0.1)
    status, answer = post(stack, f"/v1/incidents/{key}/close", stack.operator_token, {})
    kt.check(status == 409, f"closing a closed incident: {status} {answer}")
    kt.check(not stack.broker.dead_letters("opinion.events.dlq"),
             "an event entered by hand became a dead letter")
    kt.log("PASS: the API opened, raised and closed one with an operator token; a unit token got 403")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--incidentctl", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="manual-")
    stack = bt.Stack(args, work)
    rc = 1
    try:
        rc = case(stack)
    except Exception as e:  # noqa: BLE001 - report every failure the same way
        if not isinstance(e, kt.Failure):
            traceback.print_exc()
        if stack.daemon:
            print(stack.daemon.output(since_start=False)[-3000:], file=sys.stderr)
        print(f"FAIL: {e}", file=sys.stderr)
        rc = 1
    finally:
        stack.cleanup()
        if args.keep or rc != 0:
            kt.log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
