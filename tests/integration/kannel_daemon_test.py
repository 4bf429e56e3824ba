#!/usr/bin/env python3
"""End-to-end test of incidentd's SMS path: the real daemon, a real Kafka broker, a real Kannel.

    kannel_daemon_test.py --incidentd PATH --incidentctl PATH --source-dir DIR
                          [--time-scale N] [--keep]

Everything runs on 127.0.0.1 on free ports: a single-node broker (scripts/kafka.sh), a private
bearerbox + smsbox + fakesmsc (scripts/kannel.sh, its sms-service get-url pointing at the
daemon's GET /sms/kannel), and incidentd on a drill clock (--time-scale, default 1200: the 2 h
warning falls due 6 s after detection, the press conference's 20 h warning only after 60 s, so
the reply code still stands for first_release when the release is confirmed). Its configuration
is config/incidentd.toml with the broker, [sms] (Kannel's sendsms URL and credentials file),
[http] (a free port, an operator token) and a faster outbox poll. One drill incident with a
single responsible unit (zhaotong-gov: duty officers zt-duty1 and zt-duty2) goes in through
Kafka. Checks, in order:

  1. the first_release warning reaches fakesmsc for zt-duty1's phone, in Chinese (decoded from
     the UCS-2 parts fakesmsc logs), marked as a drill, with a reply code that the daemon's
     reply_codes table binds to that phone and incident;
  2. zt-duty2's phone replies "<zt-duty1's code>1": no acknowledgement is recorded, and the
     sender gets "回复码…不是发给本号码的" by SMS;
  3. an unknown code "<code>2 URL": no release confirmation, answer "回复码…不存在或已失效";
  4. "<code>1" from zt-duty1's phone: an `acknowledged` action for zt-duty1 (via sms), answer
     "已确认您收到…"; then "<code>2 URL" sent to /sms/kannel directly, without the callback
     secret or with a wrong one (Kannel's get-url carries it): 403 and no confirmation;
  5. "<code>2 https://…" from zt-duty1's phone: `release_confirmed` (zhaotong-gov, via sms,
     with the URL) and `milestone_met` for first_release, also as the HTTP API shows the
     incident; answer "已记录zhaotong-gov完成首次权威信息发布…";
  6. the incident is closed by a Kafka event; zt-duty2 replies "<its own code>1": nothing is
     recorded, answer "事件…已结束，回复码…已失效";
  7. no phone number, webhook URL or webhook secret of the roster is in the timeline, the
     outbox or the API's answers (GET /v1/incidents/{key}, /v1/incidents, /metrics).

Each reply is injected through fakesmsc (kannel.sh inject) and goes bearerbox -> smsbox ->
get-url -> incidentd; each answer is looked for at fakesmsc. Every wait polls a condition
against a deadline. The daemon, Kannel and the broker are stopped whatever happens.
Standard library only.
"""

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_test as kt  # noqa: E402  (the broker, the daemon, SQLite and wait helpers)
import kannel_test as kn  # noqa: E402  (decoding what fakesmsc received)

INCIDENT = "zt-e2e-landslide-drill"
TITLE = "昭通市某县山体滑坡引发网络关注"
UNIT = "zhaotong-gov"
DUTY1, DUTY1_PHONE = "zt-duty1", "+8613800000101"
DUTY2, DUTY2_PHONE = "zt-duty2", "+8613800000102"
STRANGER_PHONE = "+8613900000999"  # in no roster
RELEASE_URL = "https://example.org/release/e2e-1"
BUDGET_S = 480  # the whole run; ctest's TIMEOUT (600) is above it


class Stack:
    """Kannel, the broker and the daemon, started in that order and stopped in reverse."""

    def __init__(self, args, work):
        self.args, self.work = args, work
        self.kannel_sh = os.path.join(args.source_dir, "scripts", "kannel.sh")
        self.kannel_dir = os.path.join(work, "kannel")
        self.kannel_started = False
        self.broker = kt.Broker(args.source_dir, work)
        self.daemon = None
        self.db = os.path.join(work, "incidentd.db")
        self.config = os.path.join(work, "incidentd.toml")
        self.http_port = kt.free_port()
        self.callback_secret = os.path.join(work, "sms-callback-secret")
        self.token = secrets.token_urlsafe(32)
        self.kannel = {}
        self.origin_ms = None

    # ---- Kannel ------------------------------------------------------------------------------

    def start_kannel(self):
        # The callback secret, shared by the daemon ([sms] callback_secret_file) and Kannel's
        # get-url (kannel.sh --callback-secret-file).
        fd = os.open(self.callback_secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        self.kannel_started = True  # stop even if start fails half-way
        r = subprocess.run([self.kannel_sh, "start", "--dir", self.kannel_dir, "--callback",
                            f"http://127.0.0.1:{self.http_port}", "--callback-secret-file",
                            self.callback_secret], capture_output=True, text=True, timeout=120)
        kt.check(r.returncode == 0, f"kannel.sh start failed:\n{r.stdout}\n{r.stderr}")
        self.kannel = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
        kt.log(f"kannel up: sendsms {self.kannel['KANNEL_SENDSMS_URL']}, get-url to "
               f"http://127.0.0.1:{self.http_port}/sms/kannel with the callback secret")

    def received(self):
        """Every complete SMS fakesmsc got so far, as [(to, text, parts)], in arrival order."""
        return kn.received_messages(self.kannel_sh, self.kannel_dir)

    def inject(self, phone, text):
        r = subprocess.run([self.kannel_sh, "inject", "--dir", self.kannel_dir, phone,
                            self.kannel["KANNEL_SENDER"], text], capture_output=True, text=True,
                           timeout=60)
        kt.check(r.returncode == 0, f"kannel.sh inject failed: {r.stderr}")

    def stop_kannel(self):
        if self.kannel_started:
            subprocess.run([self.kannel_sh, "stop", "--dir", self.kannel_dir],
                           capture_output=True, timeout=120)
            self.kannel_started = False
            kt.log("kannel stopped")

    # ---- incidentd ---------------------------------------------------------------------------

    def write_config(self):
        kt.write_config(self.args.source_dir, self.config, self.broker, "kannel-e2e",
                        "opinion.events.dlq")
        with open(self.config, encoding="utf-8") as f:
            text = f.read()
        credentials = os.path.join(self.work, "sms-credentials")
        fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{self.kannel['KANNEL_USERNAME']}:{self.kannel['KANNEL_PASSWORD']}\n")

        def setting(section, key, value):
            nonlocal text
            text = kt.set_setting(text, section, key, value)

        setting("http", "enabled", "true")
        setting("http", "address", '"127.0.0.1"')
        setting("http", "port", str(self.http_port))
        for key, value in (("retry_base", "200ms"), ("retry_max", "2s"), ("fallback_after", "1h"),
                           ("send_timeout", "5s"), ("poll_every", "200ms")):
            setting("notify", key, f'"{value}"')
        setting("sms", "enabled", "true")
        setting("sms", "gateway", '"kannel"')
        setting("sms", "url", f'"{self.kannel["KANNEL_SENDSMS_URL"]}"')
        setting("sms", "credentials_file", f'"{credentials}"')
        setting("sms", "sender", f'"{self.kannel["KANNEL_SENDER"]}"')
        commented = '# callback_secret_file = "/etc/incidentd/sms-callback-secret"'
        kt.check(commented in text, "config/incidentd.toml has no callback_secret_file line")
        text = text.replace(commented, f'callback_secret_file = "{self.callback_secret}"')
        # An operator token (no unit) for GET /v1/incidents/{key}; only its SHA-256 is stored.
        digest = hashlib.sha256(self.token.encode()).hexdigest()
        text += f'\n[[http.tokens]]\nname = "kannel-e2e-operator"\nsha256 = "{digest}"\n'
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(text)
        r = subprocess.run([self.args.incidentctl, "check-config", self.config],
                           capture_output=True, text=True, timeout=30)
        kt.check(r.returncode == 0, f"check-config refused the test configuration:\n"
                                    f"{r.stdout}{r.stderr}")

    def start_daemon(self):
        self.daemon = kt.Daemon(self.args.incidentd, self.config, self.db,
                                os.path.join(self.work, "incidentd.log"),
                                extra=["--time-scale", str(self.args.time_scale)])
        self.daemon.start()
        m = self.daemon.wait_log(r"scaled clock origin_ms=(\d+)", 60)
        self.origin_ms = int(m.group(1))
        self.daemon.wait_log(r"HTTP API on http://127\.0\.0\.1:\d+", 60)
        self.daemon.wait_log(r"open incidents", 60)
        kt.wait_for("GET /readyz to answer 200 (consumer subscribed)",
                    lambda: self.http("/readyz")[0] == 200, 90, interval=0.2)

    def scaled_now(self):
        """The daemon's drill clock now (docs/kafka.md): origin + real elapsed x scale."""
        real_ms = time.time() * 1000
        ms = self.origin_ms + (real_ms - self.origin_ms) * self.args.time_scale
        return datetime.fromtimestamp(ms / 1000, timezone.utc)

    def http(self, path, token=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError:
            return None, b""

    def stop_daemon(self):
        if self.daemon and self.daemon.proc and self.daemon.proc.poll() is None:
            rc = self.daemon.stop()
            kt.log(f"incidentd stopped (exit {rc})")
            return rc
        return None

    def cleanup(self):
        try:
            if self.daemon:
                self.daemon.cleanup()
        finally:
            try:
                self.stop_kannel()
            finally:
                self.broker.stop()


# ---- what the daemon recorded ------------------------------------------------------------------


def actions(db, kind):
    """Bodies (dicts) of the timeline's `kind` actions for the incident, in order."""
    return kt.timeline_entries(db, INCIDENT, kind)


def recorded_answers(db):
    """What changes state when a reply is acted on: acknowledgements and confirmations."""
    return {k: len(actions(db, k)) for k in ("acknowledged", "release_confirmed",
                                              "milestone_met")}


def reply_codes(db):
    """{(phone, incident_key): code}"""
    return {(p, k): c for p, c, k in
            kt.db_query(db, "SELECT phone, code, incident_key FROM reply_codes")}


# ---- the scenario ------------------------------------------------------------------------------


def run(args, stack):
    stack.start_kannel()
    stack.broker.start()
    stack.broker.ensure_topics(kt.EVENTS, kt.RELEASES)
    stack.write_config()
    stack.start_daemon()
    db = stack.db

    # One drill incident, detected now on the drill clock; one responsible unit.
    detected = stack.scaled_now()
    stack.broker.produce(kt.EVENTS, [(INCIDENT.encode(), kt.event(
        "e2e-1", INCIDENT, level="II", detected_at=kt.rfc3339(detected), drill=True,
        title=TITLE, units=[UNIT]))])
    t_event = time.monotonic()
    kt.wait_for("the incident to open", lambda: actions(db, "incident_opened"), 60, interval=0.1)
    kt.log(f"incident {INCIDENT} opened (detected {kt.rfc3339(detected)} on the drill clock)")

    # 1. The warning at fakesmsc, in Chinese, for zt-duty1's phone, with its reply code.
    prefix = f"【演练】【舆情处置时限预警】{TITLE}（{INCIDENT}）：首次权威信息发布须在"

    def first_warning(phone):
        return next((m for m in stack.received() if m[0] == phone and m[1].startswith(prefix)),
                    None)

    to, text, parts = kt.wait_for("the first_release warning for zt-duty1 at fakesmsc",
                                  lambda: first_warning(DUTY1_PHONE), 90, interval=0.2)
    kt.log(f"1. warning at fakesmsc for {to} after {time.monotonic() - t_event:.1f} s "
           f"({parts} part(s)): {text}")
    m = re.search(r"还剩[^。]+。回复(\d{4})1或“收到”表示已知悉；本单位已发布请回复(\d{4})2，", text)
    kt.check(m and m.group(1) == m.group(2), f"no remaining time or reply hint in {text!r}")
    code1 = m.group(1)
    kt.check(code1[0] != "0", f"reply code {code1} starts with 0")
    kt.check(re.search(r"\d{1,2}月\d{1,2}日\d{2}:\d{2}前完成", text), f"no due time in {text!r}")
    kt.check(reply_codes(db).get((DUTY1_PHONE, INCIDENT)) == code1,
             f"reply_codes does not bind {code1} to {DUTY1_PHONE}: {reply_codes(db)}")
    warnings = actions(db, "warning")
    kt.check(warnings and warnings[0].get("milestone") == "first_release",
             f"no first_release warning on the timeline: {warnings}")
    to2, text2, _ = kt.wait_for("the warning for zt-duty2 at fakesmsc",
                                lambda: first_warning(DUTY2_PHONE), 60, interval=0.2)
    code2 = re.search(r"回复(\d{4})1", text2).group(1)
    kt.check(reply_codes(db).get((DUTY2_PHONE, INCIDENT)) == code2,
             f"reply_codes does not bind {code2} to {DUTY2_PHONE}")
    kt.check(not actions(db, "acknowledged") and not actions(db, "release_confirmed"),
             "something was acknowledged or confirmed before any reply")

    def reply(phone, message, answer, what):
        """Injects one MO SMS and waits for the answer to reach that phone at fakesmsc."""
        before = sum(1 for m in stack.received() if m[0] == phone and m[1] == answer)
        t0 = time.monotonic()
        stack.inject(phone, message)
        try:
            kt.wait_for(f"the answer {answer!r} to {phone} ({what})",
                        lambda: sum(1 for m in stack.received()
                                    if m[0] == phone and m[1] == answer) > before, 60,
                        interval=0.2)
        except kt.Failure as e:
            # Answers carry no 【…】 header, alerts do: say what the phone got instead.
            got = [m[1] for m in stack.received() if m[0] == phone and not m[1].startswith("【")]
            raise kt.Failure(f"{e}; answers {phone} got: {got}") from None
        return time.monotonic() - t0

    def refused(phone, answer):
        """The daemon's log says the reply changed nothing, with `answer` (the log masks the
        middle digits of phone numbers: +86138****0101)."""
        masked = re.escape(phone[:-8]) + r"\*{4}" + re.escape(phone[-4:])
        stack.daemon.wait_log(f"sms reply from {masked} to {stack.kannel['KANNEL_SENDER']}"
                              f": changes nothing: {re.escape(answer)}", 30)

    # 2. The wrong phone: zt-duty2 replies with zt-duty1's code (unless, by a 1-in-9000 chance,
    #    both got the same code; then a phone in no roster does).
    wrong_phone = DUTY2_PHONE if code2 != code1 else STRANGER_PHONE
    state = recorded_answers(db)
    answer = f"回复码{code1}不是发给本号码的，未作处理。"
    took = reply(wrong_phone, f"{code1}1", answer, "a code sent to another phone")
    kt.check(recorded_answers(db) == state,
             f"a reply from the wrong phone changed the record: {state} -> {recorded_answers(db)}")
    refused(wrong_phone, answer)
    kt.log(f"2. wrong phone {wrong_phone} with {code1}: answered in {took:.1f} s, nothing recorded")

    # 3. An unknown code, in the confirmation form.
    in_use = {c for c in reply_codes(db).values()}
    unknown = next(str(c) for c in range(1000, 10000) if str(c) not in in_use)
    answer = f"回复码{unknown}不存在或已失效，未作处理。"
    took = reply(DUTY1_PHONE, f"{unknown}2 {RELEASE_URL}", answer, "an unknown code")
    kt.check(recorded_answers(db) == state,
             f"a reply with an unknown code changed the record: {state} -> {recorded_answers(db)}")
    refused(DUTY1_PHONE, answer)
    kt.log(f"3. unknown code {unknown}: answered in {took:.1f} s, nothing recorded")

    # 3b. A bare 已发布 from the roster phone itself: a release needs the code, so it is answered
    #     with a request for it and records nothing (a sender's number is easy to forge).
    answer = ("确认发布须附回复码，未作处理。请回复通知短信中的回复码加2（可附链接），"
              "例如“12342 https://...”。")
    took = reply(DUTY1_PHONE, f"已发布 {RELEASE_URL}", answer, "a release without its code")
    kt.check(recorded_answers(db) == state,
             f"a release without a code changed the record: {state} -> {recorded_answers(db)}")
    refused(DUTY1_PHONE, answer)
    kt.log(f"3b. 已发布 without a code: answered in {took:.1f} s, nothing recorded")

    # 4. zt-duty1 acknowledges.
    took = reply(DUTY1_PHONE, f"{code1}1", f"已确认您收到事件{INCIDENT}的通知，将不再重复提醒您。",
                 "the acknowledgement")
    acks = kt.wait_for("the acknowledged action", lambda: actions(db, "acknowledged"), 30)
    kt.check(len(acks) == 1 and acks[0].get("recipient") == DUTY1,
             f"acknowledged actions: {acks}")
    kt.check(acks[0].get("via") == "sms", f"acknowledged not via sms: {acks[0]}")
    kt.check(acks[0].get("drill") is True, f"the drill's acknowledgement is not marked: {acks[0]}")
    kt.log(f"4. {code1}1 from {DUTY1_PHONE}: acknowledged for {DUTY1}, answered in {took:.1f} s")

    # 4b. The same callback Kannel calls, forged from this machine without the secret (or with
    # another): 403, and the release it claims is not recorded.
    forged = urllib.parse.urlencode({"from": DUTY1_PHONE, "to": stack.kannel["KANNEL_SENDER"],
                                     "text": f"{code1}2 {RELEASE_URL}"})
    for query in (forged, "secret=" + "0" * 64 + "&" + forged):
        status, _ = stack.http("/sms/kannel?" + query)
        kt.check(status == 403, f"a forged SMS callback got {status}, not 403")
    kt.check(not actions(db, "release_confirmed"), "a forged SMS callback confirmed a release")
    kt.log("4b. forged /sms/kannel requests without the secret: 403, nothing recorded")

    # 5. zt-duty1 confirms the release: the single responsible unit, so the milestone is met.
    kt.check(not actions(db, "release_confirmed") and not actions(db, "milestone_met"),
             "first_release was met before the confirmation")
    took = reply(DUTY1_PHONE, f"{code1}2 {RELEASE_URL}",
                 f"已记录{UNIT}完成首次权威信息发布（事件{INCIDENT}），谢谢。", "the confirmation")
    confirmed = kt.wait_for("release_confirmed", lambda: actions(db, "release_confirmed"), 30)
    kt.check(len(confirmed) == 1, f"release_confirmed actions: {confirmed}")
    c = confirmed[0]
    kt.check(c.get("milestone") == "first_release" and c.get("unit") == UNIT,
             f"release_confirmed for the wrong milestone or unit: {c}")
    kt.check(c.get("via") == "sms" and c.get("url") == RELEASE_URL,
             f"release_confirmed without via sms or the URL: {c}")
    met = kt.wait_for("milestone_met", lambda: actions(db, "milestone_met"), 30)
    kt.check(len(met) == 1 and met[0].get("milestone") == "first_release",
             f"milestone_met actions: {met}")
    status, body = stack.http(f"/v1/incidents/{INCIDENT}", stack.token)
    kt.check(status == 200, f"GET /v1/incidents/{INCIDENT}: {status} {body[:300]!r}")
    shown = json.loads(body)
    api_first = next((m for m in shown.get("milestones", [])
                      if m.get("milestone") == "first_release"), {})
    kt.check(api_first.get("met") is True and UNIT in api_first.get("confirmed_units", {}),
             f"GET /v1/incidents/{INCIDENT} does not show first_release met by {UNIT}: "
             f"{api_first or shown}")
    kt.check([a.get("action") for a in shown.get("timeline", [])].count("acknowledged") == 1,
             f"GET /v1/incidents/{INCIDENT}'s timeline has not one acknowledgement")
    kt.log(f"5. {code1}2 URL: release_confirmed for {UNIT} via sms, first_release met "
           f"(late: {met[0].get('late')}); answered in {took:.1f} s")

    # 6. The incident closes; a code of the closed incident changes nothing.
    stack.broker.produce(kt.EVENTS, [(INCIDENT.encode(), kt.event(
        "e2e-2", INCIDENT, kind="closed", level="II", detected_at=kt.rfc3339(detected),
        drill=True, title=TITLE, units=[UNIT]))])
    kt.wait_for("incident_closed", lambda: actions(db, "incident_closed"), 60, interval=0.1)
    state = recorded_answers(db)
    answer = f"事件{INCIDENT}已结束，回复码{code2}已失效，未作处理。"
    took = reply(DUTY2_PHONE, f"{code2}1", answer, "a code of a closed incident")
    kt.check(recorded_answers(db) == state,
             f"a reply to a closed incident changed the record: {state} -> {recorded_answers(db)}")
    refused(DUTY2_PHONE, answer)
    kt.check(not any(a.get("recipient") == DUTY2 for a in actions(db, "acknowledged")),
             "zt-duty2 was acknowledged")
    kt.log(f"6. {code2}1 after the close: answered in {took:.1f} s, nothing recorded")

    # In all: exactly one acknowledgement, one confirmation, one milestone met.
    final = recorded_answers(db)
    kt.check(final == {"acknowledged": 1, "release_confirmed": 1, "milestone_met": 1},
             f"final record: {final}")
    # 7. Privacy (plan item 95): after SMS and its replies, no roster phone number, webhook URL
    # or webhook secret in the timeline, the outbox, or what the API answers.
    bodies = []
    for path in (f"/v1/incidents/{INCIDENT}", "/v1/incidents", "/metrics"):
        status, body = stack.http(path, stack.token)
        kt.check(status == 200, f"GET {path}: {status}")
        bodies.append(body.decode("utf-8", errors="replace"))
    kt.check(any(a.get("action") == "delivery" for a in json.loads(bodies[0])["timeline"]),
             "the API's timeline shows no delivery record: the privacy check proves nothing")
    kt.check_no_addresses(db, stack.config, bodies)
    kt.log("7. no roster address in the database's timeline or the API's answers")
    rc = stack.stop_daemon()
    kt.check(rc == 0, f"incidentd exited {rc} on SIGTERM")
    report = subprocess.run([args.incidentctl, "report", INCIDENT, "--database", db, "--format",
                             "json", "--config", stack.config], capture_output=True, text=True,
                            timeout=60)
    kt.check(report.returncode == 0, f"incidentctl report failed: {report.stderr}")
    first = next(m for m in json.loads(report.stdout)["milestones"]
                 if m["milestone"] == "first_release")
    kt.check(first["met_at"] and [(r["unit"], r["via"], r["url"]) for r in first["releases"]]
             == [(UNIT, "sms", RELEASE_URL)], f"incidentctl report's first_release: {first}")
    kt.log(f"incidentctl report: first_release {first['status']}, released via sms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidentd", required=True)
    parser.add_argument("--incidentctl", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--time-scale", type=float, default=1200)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if not os.path.exists("/usr/sbin/bearerbox"):
        print("kannel_daemon_test: Kannel is not installed (apt-get install kannel kannel-extras)")
        return 1
    for tool in ("kcat", "java", "curl"):
        if shutil.which(tool) is None:
            print(f"kannel_daemon_test: {tool} not found (scripts/install-deps.sh installs it)")
            return 1
    kt.stop_on_sigterm()

    def body(work):
        stack = Stack(args, work)
        try:
            run(args, stack)
        finally:
            stack.cleanup()

    passed = kt.run_case("kannel_daemon", body, args.keep, prefix="incidentd-kannel-e2e-",
                         budget_s=BUDGET_S, tail=6000)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
