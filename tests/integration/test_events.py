"""test_events.py — GET /v1/events (Server-Sent Events) on real `treaty node` processes of 3 orgs.

  python3 test_events.py TREATY_BINARY SCHEMA [test names...]

Covers: with writes at two nodes (and writes the ACL rejects), a stream on one node sees every
committed change exactly once, in order, with ids height.index; reconnecting with Last-Event-ID
and with ?from= resumes with no gap and no duplicate; streams on the other nodes have the same ids
for what they may read — an Invoice of globex is absent at initech (type read ACL) and
declaredValue is redacted at globex (field read ACL); ?types= filters; malformed ids and unknown
types are 400 problem+json; a stream open while writes happen gets them live; a client that stops
reading is told why (event: error) and disconnected while writes go on and another stream keeps
up; heartbeats; the stream limit answers 503; a node stopped with streams open exits 0.
"""
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_for  # noqa: E402

TREATY = SCHEMA = None
ORGS = ["acme", "globex", "initech"]


def shipment(i, status="created", value=None, checkpoints=0):
    doc = {"shipmentId": "SHP-%06d" % i, "origin": "Rotterdam", "destination": "Chicago",
           "carrier": "globex", "status": status, "weightKg": 10 + i % 1000}
    if value is not None:
        doc["declaredValue"] = {"amount": str(value), "currency": "EUR"}
    if checkpoints:
        doc["checkpoints"] = [{"at": "2026-11-29T10:00:00Z", "location": "Port %05d %s" % (k, "x" * 60)}
                              for k in range(checkpoints)]
    return doc


def invoice(i, shipment_id):
    return {"invoiceId": "INV-%04d" % i, "shipmentId": shipment_id,
            "total": {"amount": str(100 + i), "currency": "EUR"}, "paid": False}


def auth_headers(node):
    key = getattr(node, "api_key", None)
    return {"Authorization": "Bearer " + key} if key else {}


class SSE:
    """One GET /v1/events over a raw socket: the response head, then chunked SSE parsed into
    events {"id", "event", "data"} and comment lines. rcvbuf: a small receive buffer, for a client
    that is meant to fall behind."""

    def __init__(self, node, path="/v1/events", headers=None, timeout=10.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", node.api_port))
        hdrs = dict(auth_headers(node))
        hdrs.update(headers or {})
        req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" % path
        req += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        self.sock.sendall(req.encode())
        self.buf = b""
        self.body = b""  # de-chunked bytes not yet parsed as lines
        self.eof = False
        self.comments = 0
        self._head()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
        self.buf += data

    def _head(self):
        while b"\r\n\r\n" not in self.buf and not self.eof:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        if self.status != 200:
            n = int(self.headers.get("content-length", "0"))
            while len(self.buf) < n and not self.eof:
                self._fill()
            self.problem = json.loads(self.buf[:n].decode()) if n else None

    def _dechunk(self):
        """Moves complete chunks from buf to body; False when the terminal chunk was seen."""
        while True:
            line, sep, rest = self.buf.partition(b"\r\n")
            if not sep:
                return True
            size = int(line, 16)
            if len(rest) < size + 2:
                return True
            self.buf = rest[size + 2:]
            if size == 0:
                self.eof = True
                return False
            self.body += rest[:size]

    def next_event(self):
        """The next event, or {"comment": text} for a comment line, or None at the end."""
        fields = {}
        while True:
            line, sep, rest = self.body.partition(b"\n")
            if sep:
                self.body = rest
                text = line.decode()
                if text == "":
                    if fields:
                        return fields
                    continue
                if text.startswith(":"):
                    self.comments += 1
                    if not fields:
                        return {"comment": text[1:].strip()}
                    continue
                k, _, v = text.partition(":")
                fields[k] = v[1:] if v.startswith(" ") else v
                continue
            before = len(self.body)
            if self.chunked:
                self._dechunk()
            else:
                self.body += self.buf
                self.buf = b""
            if len(self.body) > before:
                continue
            if self.eof:
                return None
            self._fill()

    def changes(self, n):
        """The next n change events as (id, data dict); fails on an early end."""
        out = []
        while len(out) < n:
            ev = self.next_event()
            if ev is None:
                raise AssertionError("stream ended after %d of %d events" % (len(out), n))
            if ev.get("event") == "change":
                out.append((ev["id"], json.loads(ev["data"])))
        return out

    def close(self):
        self.sock.close()


def id_key(i):
    h, _, x = i.partition(".")
    return (int(h), int(x))


class EventsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = harness.Network(TREATY, SCHEMA, ORGS, node_json={
            "limits": {"events_max_clients": 6, "events_heartbeat_ms": 300}})
        cls.net.start()
        cls.acme, cls.globex, cls.initech = cls.net.nodes

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)

    def write(self, node, method, path, body, want):
        st, _, b = node.http(method, path, body)
        self.assertEqual(st, want, b)
        return b

    def do_writes(self, base):
        """Writes at acme and globex, plus ones the ACL rejects; the changes to expect as
        (type, key, version, tx) in commit order per writer."""
        exp = []
        for i in range(base, base + 6):
            b = self.write(self.acme, "POST", "/v1/data/Shipment", shipment(i, value=1000 + i), 201)
            exp.append(("Shipment", b["shipmentId"], 1, b["_tx"]))
        b = self.write(self.globex, "PUT", "/v1/data/Shipment/SHP-%06d" % base,
                       shipment(base, "picked_up", value=1000 + base), 200)
        exp.append(("Shipment", b["shipmentId"], 2, b["_tx"]))
        for i in range(2):
            b = self.write(self.globex, "POST", "/v1/data/Invoice",
                           invoice(base + i, "SHP-%06d" % base), 201)
            exp.append(("Invoice", b["invoiceId"], 1, b["_tx"]))
        # initech may not create a Shipment: rejected, so no event.
        st, _, _ = self.initech.http("POST", "/v1/data/Shipment", shipment(base + 90))
        self.assertGreaterEqual(st, 400)
        # One tx, three ops on two records: create, then patch the same record, and a delete.
        tx = {"ops": [
            {"op": "create", "type": "Shipment", "key": "SHP-%06d" % (base + 50),
             "body": shipment(base + 50)},
            {"op": "patch", "type": "Shipment", "key": "SHP-%06d" % (base + 50),
             "body": {"status": "in_transit"}},
            {"op": "delete", "type": "Shipment", "key": "SHP-%06d" % (base + 1)}]}
        st, _, b = self.acme.http("POST", "/v1/tx", tx)
        self.assertIn(st, (200, 201), b)
        txid = b.get("tx") or b["_tx"]
        exp += [("Shipment", "SHP-%06d" % (base + 50), 1, txid),
                ("Shipment", "SHP-%06d" % (base + 50), 2, txid),
                ("Shipment", "SHP-%06d" % (base + 1), 2, txid)]
        return exp

    def check_sequence(self, events):
        """ids strictly increase; within a block the indexes run 0, 1, 2… (acme reads all)."""
        prev = None
        for eid, d in events:
            h, i = id_key(eid)
            self.assertEqual((d["height"], d["index"]), (h, i), eid)
            if prev is not None:
                self.assertGreater((h, i), prev, "ids out of order")
                if h == prev[0]:
                    self.assertEqual(i, prev[1] + 1, "gap inside block %d" % h)
                else:
                    self.assertEqual(i, 0, "block %d does not start at index 0" % h)
            prev = (h, i)

    def test_1_every_change_once_in_order_and_resume(self):
        live = SSE(self.acme, "/v1/events")  # from the head: only what follows
        self.assertEqual(live.status, 200)
        self.assertTrue(live.headers["content-type"].startswith("text/event-stream"))
        self.assertEqual(live.headers.get("transfer-encoding"), "chunked")
        exp = self.do_writes(1)
        got = live.changes(len(exp))
        self.check_sequence(got)
        seen = [(d["type"], d["key"], d["version"], d["tx"]) for _, d in got]
        self.assertEqual(sorted(seen), sorted(exp))
        self.assertEqual(len(set(seen)), len(seen), "a change was sent twice")
        by_key = {(d["type"], d["key"], d["version"]): d for _, d in got}
        self.assertEqual(by_key[("Shipment", "SHP-000001", 2)]["org"], "globex")
        self.assertEqual(by_key[("Shipment", "SHP-000001", 2)]["owner"], "acme")
        self.assertEqual(by_key[("Shipment", "SHP-000001", 2)]["op"], "replace")
        self.assertEqual(by_key[("Shipment", "SHP-000051", 2)]["op"], "patch")
        self.assertEqual(by_key[("Shipment", "SHP-000051", 2)]["record"]["status"], "in_transit")
        self.assertEqual(by_key[("Shipment", "SHP-000002", 2)]["op"], "delete")
        self.assertIsNone(by_key[("Shipment", "SHP-000002", 2)]["record"])
        self.assertEqual(by_key[("Shipment", "SHP-000003", 1)]["record"]["declaredValue"]["amount"],
                         "1003")

        # From genesis: the same events (the ledger held nothing before these writes).
        full = SSE(self.acme, "/v1/events?from=0")
        allev = full.changes(len(exp))
        full.close()
        self.assertEqual([e for e, _ in allev], [e for e, _ in got])
        self.assertEqual([d for _, d in allev], [d for _, d in got])

        # Reconnect mid-stream: Last-Event-ID, ?from=, and Last-Event-ID winning over ?from=.
        for k in (0, 3, len(got) - 2):
            for how in ("header", "query", "both"):
                path, hdrs = "/v1/events", {}
                if how in ("header", "both"):
                    hdrs["Last-Event-ID"] = got[k][0]
                if how == "query":
                    path += "?from=" + got[k][0]
                if how == "both":
                    path += "?from=0"
                s = SSE(self.acme, path, hdrs)
                rest = s.changes(len(got) - k - 1)
                self.assertEqual([e for e, _ in rest], [e for e, _ in got[k + 1:]], (k, how))
                # nothing more: the next thing on the stream is a heartbeat, not an event
                more = self.more_changes(s, 0.8)
                self.assertEqual(more, [], (k, how))
                s.close()

        # Live: the open stream gets a write made now, with the next id.
        b = self.write(self.acme, "POST", "/v1/data/Shipment", shipment(70), 201)
        (eid, d), = live.changes(1)
        self.assertGreater(id_key(eid), id_key(got[-1][0]))
        self.assertEqual((d["key"], d["tx"]), ("SHP-000070", b["_tx"]))
        self.assertGreaterEqual(live.comments, 0)
        live.close()
        self.__class__.acme_events = got + [(eid, d)]

    def more_changes(self, s, seconds):
        """Change events that arrive within `seconds` (heartbeats keep coming meanwhile)."""
        out, deadline = [], time.time() + seconds
        try:
            while time.time() < deadline:
                s.sock.settimeout(max(0.01, deadline - time.time()))
                ev = s.next_event()
                if ev is None:
                    break
                if ev.get("event") == "change":
                    out.append(ev)
        except socket.timeout:
            pass
        s.sock.settimeout(10.0)
        return out

    def test_2_acl_filter_and_redaction_same_ids(self):
        if not hasattr(self, "acme_events"):
            self.skipTest("needs test_1's writes")
        ref = {e: d for e, d in self.acme_events}
        last = self.acme_events[-1][0]
        for node, absent_types, redacted in ((self.globex, set(), True),
                                             (self.initech, {"Invoice"}, False)):
            want = [e for e, d in self.acme_events if d["type"] not in absent_types]
            harness.wait_for(lambda n=node: n.head()["height"] >= id_key(last)[0], 10,
                             "%s caught up" % node.org)
            s = SSE(node, "/v1/events?from=0")
            got = s.changes(len(want))
            self.assertEqual(self.more_changes(s, 0.8), [], node.org)
            s.close()
            self.assertEqual([e for e, _ in got], want, node.org)
            for e, d in got:
                r, ar = d["record"], ref[e]["record"]
                self.assertEqual({k: v for k, v in d.items() if k != "record"},
                                 {k: v for k, v in ref[e].items() if k != "record"}, e)
                if r is None:
                    self.assertIsNone(ar)
                    continue
                if d["type"] == "Shipment" and "declaredValue" in ar:
                    self.assertEqual("declaredValue" in r, not redacted, (node.org, e))
                drop = {"declaredValue"} if redacted else set()
                self.assertEqual({k: v for k, v in r.items() if k not in drop},
                                 {k: v for k, v in ar.items() if k not in drop}, e)
        # ?types= keeps only those types, with the same ids.
        s = SSE(self.acme, "/v1/events?from=0&types=Invoice")
        inv = [e for e, d in self.acme_events if d["type"] == "Invoice"]
        self.assertEqual([e for e, _ in s.changes(len(inv))], inv)
        self.assertEqual(self.more_changes(s, 0.8), [])
        s.close()

    def test_3_bad_requests(self):
        for path, hdrs, slug in (("/v1/events", {"Last-Event-ID": "abc"}, "bad-event-id"),
                                 ("/v1/events?from=1.x", {}, "bad-event-id"),
                                 ("/v1/events?from=-1", {}, "bad-event-id"),
                                 ("/v1/events?from=1.", {}, "bad-event-id"),
                                 ("/v1/events?types=Nope", {}, "unknown-type"),
                                 ("/v1/events?color=red", {}, "bad-query")):
            s = SSE(self.acme, path, hdrs)
            self.assertEqual(s.status, 400, path)
            self.assertEqual(s.headers["content-type"], "application/problem+json")
            self.assertTrue(s.problem["type"].endswith(slug), s.problem)
            s.close()
        st, hdr, _ = self.acme.http("POST", "/v1/events", {})
        self.assertEqual((st, hdr.get("allow")), (405, "GET"))

    def test_4_stream_limit_and_heartbeats(self):
        streams = [SSE(self.acme, "/v1/events") for _ in range(6)]
        over = SSE(self.acme, "/v1/events")
        self.assertEqual(over.status, 503)
        self.assertIn("events_max_clients", over.problem["detail"])
        over.close()
        time.sleep(1.0)  # heartbeats every 300 ms
        streams[0].sock.settimeout(2.0)
        self.assertEqual(self.more_changes(streams[0], 0.5), [])
        self.assertGreaterEqual(streams[0].comments, 2)
        for s in streams:
            s.close()
        # Closed streams free their places.
        def place():
            s = SSE(self.acme, "/v1/events")
            s.close()
            return s.status == 200
        wait_for(place, 5, "a place again")


class SlowClientTest(unittest.TestCase):
    def setUp(self):
        self.net = harness.Network(TREATY, SCHEMA, ORGS, node_json={
            "limits": {"events_buffer_bytes": 65536, "events_heartbeat_ms": 200}})
        self.net.start()
        self.acme, self.globex, self.initech = self.net.nodes

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)
        self.net.close()

    def test_slow_client_told_and_dropped_while_writes_go_on(self):
        slow = SSE(self.acme, "/v1/events", rcvbuf=4096)
        fast = SSE(self.acme, "/v1/events")
        self.assertEqual((slow.status, fast.status), (200, 200))
        # ~40 KB records, 12 per tx: megabytes of events that the slow client does not read.
        n = 0
        for t in range(16):
            ops = [{"op": "create", "type": "Shipment", "key": "SHP-%06d" % (t * 100 + k),
                    "body": shipment(t * 100 + k, checkpoints=450)} for k in range(12)]
            st, _, b = self.acme.http("POST", "/v1/tx", {"ops": ops}, timeout=20)
            self.assertIn(st, (200, 201), b)
            n += len(ops)
            got = fast.changes(len(ops))  # the reading client keeps up meanwhile
            self.assertEqual(len(got), len(ops))
        fast.close()
        # Now read the slow one: some changes, then the error event, then the end.
        changes, error = 0, None
        while True:
            ev = slow.next_event()
            if ev is None:
                break
            if ev.get("event") == "change":
                self.assertIsNone(error, "a change after the error event")
                changes += 1
            elif ev.get("event") == "error":
                error = json.loads(ev["data"])
        self.assertIsNotNone(error, "no error event before the close")
        self.assertEqual(error["reason"], "too-slow")
        self.assertIn("65536", error["detail"])
        self.assertLess(changes, n)
        if changes:
            self.assertIn("last_id", error)
        slow.close()
        # The node still serves: a write and a new stream work.
        self.assertEqual(self.acme.http("POST", "/v1/data/Shipment", shipment(9999))[0], 201)
        s = SSE(self.acme, "/v1/events?from=0&types=Shipment")
        self.assertEqual(len(s.changes(n + 1)), n + 1)
        s.close()


if __name__ == "__main__":
    TREATY, SCHEMA = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
