#!/usr/bin/env python3
"""Integration test of incidentd's SMS side against a real Kannel (scripts/kannel.sh).

    kannel_test.py --kannel-send PATH --source-dir DIR [--keep]

Starts a private bearerbox + smsbox + fakesmsc on free 127.0.0.1 ports, and a test HTTP
endpoint standing in for the daemon's sms-service callback (Kannel's get-url with %p %P %a).
The endpoint hands each reply to `kannel_send reply` (the daemon's handle_sms_reply on the
reply-code table) and sends the answer back through `kannel_send send` (SmsChannel over the
Kannel adapter), as the daemon does. Checks:

  1. a Chinese warning composed by SmsChannel (reply code issued, templates rendered) reaches
     fakesmsc intact, decoded from the UCS-2 parts fakesmsc logs;
  2. a long message arrives complete, as concatenated parts of 67 characters (Kannel splits);
  3. MO replies injected through fakesmsc reach the endpoint via get-url: "<code>1"
     acknowledges, "<code>2 URL" confirms, the wrong phone, an unknown code and the code of a
     closed incident change nothing, and each sender gets the answer by SMS.

Every wait polls a condition against a deadline. Standard library only.
"""

import argparse
import http.server
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

DUTY_PHONE = "+8613800000101"
OTHER_PHONE = "+8613900000999"
INCIDENT = "zt-landslide-20261126"
TITLE = "昭通市某县山体滑坡引发网络关注"
NOW = "2026-11-26T10:00:00+08:00"


class Failure(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def wait_for(what, condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise Failure(f"timed out after {timeout}s waiting for {what}")


def decode_bytes(data):
    # fakesmsc prints octets URL-encoded, a space as "+".
    return urllib.parse.unquote_to_bytes(data.replace("+", " "))


def received_messages(kannel_sh, kannel_dir):
    """What fakesmsc got, as [(to, text, parts)], concatenated parts joined by their UDH."""
    out = subprocess.run([kannel_sh, "received", "--dir", kannel_dir], check=True,
                         capture_output=True, text=True).stdout
    messages, pending = [], {}
    for line in out.splitlines():
        fields = line.split(" ")
        to, kind = fields[1], fields[2]  # fields[0] is the sender
        if kind == "ucs-2":
            messages.append((to, decode_bytes(fields[3]).decode("utf-16-be"), 1))
        elif kind == "udh":
            check(fields[4] == "data", f"unexpected fakesmsc line: {line}")
            udh, data = decode_bytes(fields[3]), decode_bytes(fields[5])
            # 05 00 03 ref total seq: the 8-bit-reference concatenation header.
            check(len(udh) == 6 and udh[1] == 0, f"unexpected UDH {udh.hex()}")
            ref, total, seq = udh[3], udh[4], udh[5]
            parts = pending.setdefault((to, ref), {})
            parts[seq] = data
            if len(parts) == total:
                joined = b"".join(parts[k] for k in sorted(parts))
                messages.append((to, joined.decode("utf-16-be"), total))
                del pending[(to, ref)]
        else:
            raise Failure(f"unexpected coding {kind} (want UCS-2): {line}")
    return messages


class Endpoint:
    """The sms-service callback: decides with kannel_send reply, answers with kannel_send send."""

    def __init__(self, kannel_send, db, send_args):
        self.kannel_send, self.db, self.send_args = kannel_send, db, send_args
        self.hits = queue.Queue()
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                ok = url.path == "/sms/kannel" and {"from", "to", "text"} <= query.keys()
                self.send_response(200 if ok else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if ok:
                    endpoint.on_reply(query)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def on_reply(self, query):
        decided = subprocess.run(
            [self.kannel_send, "reply", "--db", self.db, "--from", query["from"], "--to",
             query["to"], "--text", query["text"], "--now", NOW],
            capture_output=True, text=True)
        outcome = json.loads(decided.stdout) if decided.returncode == 0 else {
            "error": decided.stderr}
        self.hits.put((query, outcome))
        if "answer" in outcome:
            subprocess.run([self.kannel_send, "send", *self.send_args, "--phone", query["from"],
                            "--text", outcome["answer"]], capture_output=True, text=True)

    def next_hit(self, timeout=30.0):
        try:
            return self.hits.get(timeout=timeout)
        except queue.Empty:
            raise Failure(f"no sms-service callback within {timeout}s") from None

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def warning_body():
    return {
        "at": NOW, "incident_key": INCIDENT, "action": "notification",
        "milestone": "first_release", "level": 0, "due": "2026-11-26T11:00:00+08:00",
        "cause": "warning", "recipient": "zt-duty1", "unit": "zhaotong-gov", "channel": "sms",
        "notification_id": f"{INCIDENT}/first_release/0/zt-duty1/1", "send": 1,
    }


def run(args, work):
    kannel_sh = os.path.join(args.source_dir, "scripts", "kannel.sh")
    kannel_dir = os.path.join(work, "kannel")
    db = os.path.join(work, "incidentd.db")
    credentials = os.path.join(work, "sms-credentials")

    # The endpoint must exist before Kannel is configured with its URL; it learns the sendsms
    # address once Kannel is up.
    send_args = []
    endpoint = Endpoint(args.kannel_send, db, send_args)
    try:
        get_url = f"http://127.0.0.1:{endpoint.port}/sms/kannel?from=%p&to=%P&text=%a"
        started = subprocess.run([kannel_sh, "start", "--dir", kannel_dir, "--get-url", get_url],
                                 capture_output=True, text=True, timeout=120)
        if started.returncode != 0:
            raise Failure(f"kannel.sh start failed: {started.stderr}")
        env = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
        with open(credentials, "w") as f:
            f.write(f"{env['KANNEL_USERNAME']}:{env['KANNEL_PASSWORD']}\n")
        send_args += ["--url", env["KANNEL_SENDSMS_URL"], "--credentials", credentials,
                      "--sender", env["KANNEL_SENDER"]]
        received = lambda: received_messages(kannel_sh, kannel_dir)  # noqa: E731

        # 1. A Chinese warning through SmsChannel with the composer.
        body_file = os.path.join(work, "warning.json")
        with open(body_file, "w") as f:
            json.dump(warning_body(), f, ensure_ascii=False)
        sent = subprocess.run([args.kannel_send, "notify", *send_args, "--db", db, "--phone",
                               DUTY_PHONE, "--body", body_file, "--title", TITLE, "--now", NOW],
                              capture_output=True, text=True)
        check(sent.returncode == 0, f"notify failed: {sent.stdout} {sent.stderr}")
        result = json.loads(sent.stdout)
        code, text = result["code"], result["text"]
        log(f"sent ({result['detail']}), code {code}: {text}")
        check(len(code) == 4 and code.isdigit(), f"bad reply code {code!r}")
        check(text.startswith("【舆情处置时限预警】" + TITLE), f"unexpected text {text!r}")
        check(f"回复{code}1" in text and "还剩1小时" in text, f"no reply hint or time in {text!r}")
        got = wait_for("the warning at fakesmsc", lambda: [m for m in received() if m[1] == text])
        check(got[0][0] == DUTY_PHONE, f"sent to {got[0][0]}")
        log(f"1. warning arrived intact at fakesmsc in {got[0][2]} part(s)")

        # 2. A long message arrives complete: 300 characters = 5 parts of up to 67.
        long_text = ("舆情处置长消息测试" * 34)[:299] + "终"
        sent = subprocess.run([args.kannel_send, "send", *send_args, "--phone", OTHER_PHONE,
                               "--text", long_text], capture_output=True, text=True)
        check(sent.returncode == 0, f"send failed: {sent.stdout} {sent.stderr}")
        got = wait_for("the long message", lambda: [m for m in received() if m[1] == long_text])
        check(got[0][2] == 5, f"long message came in {got[0][2]} parts, want 5")
        log("2. a 300-character message arrived complete as 5 concatenated parts")

        # 3. Replies through fakesmsc -> bearerbox -> smsbox get-url -> endpoint.
        def reply(phone, message):
            before = len(received())
            subprocess.run([kannel_sh, "inject", "--dir", kannel_dir, phone, env["KANNEL_SENDER"],
                            message], check=True, capture_output=True, timeout=60)
            query, outcome = endpoint.next_hit()
            check(query["text"] == message, f"get-url text {query['text']!r} != {message!r}")
            check(query["from"] == phone, f"get-url from {query['from']!r} != {phone!r}")
            answer = outcome.get("answer", "")
            wait_for(f"the answer to {message!r}",
                     lambda: any(m == (phone, answer, m[2]) for m in received()[before:]))
            return outcome

        out = reply(DUTY_PHONE, f"{code}1")
        check(out.get("ack") == {"incident_key": INCIDENT, "recipient": "zt-duty1"}, f"{out}")
        log(f"3a. {code}1 acknowledged; answer by SMS: {out['answer']}")
        out = reply(DUTY_PHONE, "收到")
        check(out.get("ack", {}).get("incident_key") == INCIDENT, f"{out}")
        log("3b. 收到 acknowledged the phone's latest code")
        out = reply(DUTY_PHONE, f"{code}2 https://example.org/release/1")
        check(out.get("confirm") == {"incident_key": INCIDENT, "unit": "zhaotong-gov",
                                     "milestone": "first_release",
                                     "url": "https://example.org/release/1"}, f"{out}")
        log(f"3c. {code}2 URL confirmed the release for zhaotong-gov")
        out = reply(OTHER_PHONE, f"{code}1")
        check("ack" not in out and "confirm" not in out and "不是发给本号码" in out["answer"],
              f"{out}")
        log(f"3d. wrong phone: {out['answer']}")
        unknown = "1000" if code != "1000" else "1001"
        out = reply(DUTY_PHONE, f"{unknown}1")
        check("ack" not in out and "不存在或已失效" in out["answer"], f"{out}")
        log(f"3e. unknown code: {out['answer']}")
        subprocess.run([args.kannel_send, "close", "--db", db, "--incident", INCIDENT, "--at",
                        NOW], check=True, capture_output=True)
        out = reply(DUTY_PHONE, f"{code}1")
        check("ack" not in out and "已结束" in out["answer"], f"{out}")
        log(f"3f. closed incident: {out['answer']}")
    finally:
        endpoint.stop()
        subprocess.run([kannel_sh, "stop", "--dir", kannel_dir], capture_output=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kannel-send", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if not os.path.exists("/usr/sbin/bearerbox"):
        print("Kannel is not installed (apt-get install kannel kannel-extras)")
        return 1
    work = tempfile.mkdtemp(prefix="kannel-test-")
    try:
        run(args, work)
        log("PASS")
        return 0
    except Exception:  # noqa: BLE001 - report every failure the same way
        traceback.print_exc()
        log(f"FAIL (logs in {work})")
        args.keep = True
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
