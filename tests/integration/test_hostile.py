"""test_hostile.py — replays the hostile request corpus (tests/hostile/corpus.jsonl, written by
tests/hostile/make_corpus.py) over raw sockets against a real 3-org loopback network (harness.py):

  python3 test_hostile.py TREATY_BINARY SCHEMA [test names...]

Each request goes on a fresh connection to one of the nodes in turn (small http limits, so the
limit cases stay small). Checks: each is answered 4xx (or as its "expect" says) with Content-Type
application/problem+json and a problem body naming its status and saying what is wrong (title and
detail); a case marked "4xx|close" may instead see the connection closed or reset before any
answer (its note says why). Around the replay: the ledger head (height, block hash) of every node
is the same before and after, every node still runs and a valid write afterwards succeeds.
"""
import http.client as httpc
import json
import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TREATY = SCHEMA = None
ORGS = ["acme", "globex", "initech"]
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile", "corpus.jsonl")
LIMITS = {"http_body_max_bytes": 65536, "http_header_max_bytes": 8192,
          "http_request_timeout_ms": 1000, "http_idle_timeout_ms": 2000}
ANSWER_TIMEOUT_S = 5.0  # the request timeout (1 s) answers a stalled request long before this


def expand(raw, keys):
    """The case's bytes: {REPEAT:n:text}, {KEY}, {RKEY} filled in, then {CL}."""
    raw = re.sub(r"\{REPEAT:(\d+):([^}]*)\}", lambda m: m.group(2) * int(m.group(1)), raw)
    raw = raw.replace("{KEY}", keys["admin"]).replace("{RKEY}", keys["reader"])
    data = raw.encode("latin-1")
    if b"{CL}" in data:
        head, sep, body = data.partition(b"\r\n\r\n")
        data = head.replace(b"{CL}", str(len(body)).encode()) + sep + body
    return data


def exchange(port, data):
    """Sends `data` on a new connection and reads one answer. Returns (status, headers, body) or
    (None, why, None) when the connection closed or reset before an answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT_S)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the node closed early (a limit); its answer may still be readable
        resp = httpc.HTTPResponse(s)
        try:
            resp.begin()
            body = resp.read()
        except (httpc.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
            return None, type(e).__name__, None
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        s.close()


def problem_fault(status, hdrs, body):
    """What is wrong with an error answer, or None."""
    ctype = hdrs.get("content-type", "")
    if ctype != "application/problem+json":
        return "content type %r" % ctype
    try:
        doc = json.loads(body)
    except ValueError:
        return "body is not JSON: %r" % body[:120]
    if not isinstance(doc, dict) or doc.get("status") != status:
        return "problem does not name status %d: %r" % (status, body[:160])
    if not doc.get("title") or not isinstance(doc.get("detail"), str) or not doc["detail"]:
        return "problem has no title/detail: %r" % body[:160]
    return None


def judge(case, status, hdrs, body):
    """None when the answer is what the case expects, else what is wrong."""
    expect = case["expect"]
    if status is None:
        return None if expect == "4xx|close" else "no answer (%s)" % hdrs
    if isinstance(expect, list):
        ok = status in expect
    else:
        ok = 400 <= status <= 499
    if not ok:
        return "status %d: %r" % (status, (body or b"")[:200])
    return problem_fault(status, hdrs, body)


class HostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = harness.Network(TREATY, SCHEMA, ORGS, node_json={"limits": LIMITS})
        cls.net.start()
        cls.keys = [{"admin": n.api_key, "reader": n.apikey("reader")} for n in cls.net.nodes]
        with open(CORPUS) as f:
            cls.cases = [json.loads(line) for line in f if line.strip()]

    @classmethod
    def tearDownClass(cls):
        cls.net.close()  # raises unless every node exits 0 on SIGTERM

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)

    def heads(self):
        return [(h["height"], h["block_hash"]) for h in (n.head() for n in self.net.nodes)]

    def test_corpus(self):
        self.assertGreaterEqual(len(self.cases), 200)
        self.assertEqual(len({c["id"] for c in self.cases}), len(self.cases))
        self.net.wait_converged()
        before = self.heads()
        faults, closed = [], []
        started = time.time()
        for i, case in enumerate(self.cases):
            node = self.net.nodes[i % len(self.net.nodes)]
            data = expand(case["request"], self.keys[i % len(self.net.nodes)])
            status, hdrs, body = exchange(node.api_port, data)
            if status is None:
                closed.append(case["id"])
            why = judge(case, status, hdrs, body)
            if why:
                faults.append("%s (%s): %s" % (case["id"], case["note"], why))
            if not node.alive():
                self.fail("%s killed node %s:\n%s" % (case["id"], node.org, node.log_tail()))
        print("hostile: %d cases in %.1f s, %d closed without an answer %s" % (
            len(self.cases), time.time() - started, len(closed), closed), file=sys.stderr)
        self.assertEqual(faults, [], "\n".join(faults))
        self.assertEqual(self.heads(), before, "a hostile request changed the ledger")
        for n in self.net.nodes:
            self.assertTrue(n.alive(), n.org)
        st, _, b = self.net.nodes[0].http("POST", "/v1/data/Shipment", {
            "shipmentId": "SHP-7001", "origin": "Rotterdam", "destination": "Chicago",
            "carrier": "globex", "status": "created"})
        self.assertEqual(st, 201, b)
        self.net.wait_converged()


def main():
    global TREATY, SCHEMA
    if len(sys.argv) < 3:
        print("usage: test_hostile.py TREATY_BINARY SCHEMA [tests...]", file=sys.stderr)
        return 2
    TREATY, SCHEMA = sys.argv[1], sys.argv[2]
    prog = unittest.main(argv=[sys.argv[0]] + sys.argv[3:], exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
