"""test_auth.py — API keys, roles, read ACLs and bad input against real `treaty node` processes.

  python3 test_auth.py TREATY_BINARY SCHEMA [test names...]

Covers, on a 3-org network with the supply-chain schema: 401 (with the Bearer challenge) for a
missing, malformed, unknown or revoked key — a key revoked with `treaty apikey revoke` while the
node runs is refused within 2 s; 403 naming the rule for a reader writing and a writer doing
governance; 415 for a write that is not JSON; the read ACLs (Invoice readable by its owner and
acme only: 403 on get and history, left out of lists with a cursor that reveals nothing;
Shipment.declaredValue hidden from globex in gets, lists, history and write answers); the write
ACL refusal names the rule; a node without apikeys.json refuses every /v1 request and says how to
make a key. On a 1-org node with small limits: malformed JSON, unknown type and route, a body
and a head over the limit, a slowloris client and connections beyond the limit each get a clear
problem+json (or a refused connection), write nothing, and the node keeps serving.
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
NO_AUTH = {"Authorization": None}


def shipment(i, status="created", value=None):
    s = {"shipmentId": "SHP-%06d" % i, "origin": "Rotterdam", "destination": "Chicago",
         "carrier": "globex", "status": status, "weightKg": 10 + i}
    if value:
        s["declaredValue"] = {"amount": value, "currency": "EUR"}
    return s


def invoice(i, shipment_id="SHP-000001"):
    return {"invoiceId": "INV-%04d" % i, "shipmentId": shipment_id,
            "total": {"amount": "100.00", "currency": "EUR"}, "paid": False}


def bearer(key):
    return {"Authorization": "Bearer " + key}


def raw(port, data, timeout=3.0, drip=None):
    """Sends `data` on a fresh socket (then each of `drip`'s chunks 100 ms apart while the
    server has not answered); returns (bytes received until close or timeout, seconds)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t0 = time.time()
    got = b""
    try:
        s.sendall(data)
        for chunk in drip or []:
            s.settimeout(0.1)
            try:
                part = s.recv(65536)
                if not part:
                    break
                got += part
                break
            except socket.timeout:
                pass
            try:
                s.sendall(chunk)
            except OSError:
                break
        s.settimeout(timeout)
        while True:
            try:
                part = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not part:
                break
            got += part
    finally:
        s.close()
    return got, time.time() - t0


def status_of(resp):
    line = resp.split(b"\r\n", 1)[0].decode("latin-1")
    return int(line.split()[1]) if line.startswith("HTTP/1.1 ") else None


def body_of(resp):
    return json.loads(resp.split(b"\r\n\r\n", 1)[1].decode())


class AuthNetworkTest(unittest.TestCase):
    """One 3-org network for the key and ACL tests (they write disjoint records)."""

    @classmethod
    def setUpClass(cls):
        cls.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"])
        cls.net.start()
        cls.acme, cls.globex, cls.initech = cls.net.nodes
        cls.net.wait_leader()

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)

    def assertProblem(self, resp, status, needle):
        st, hdr, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(hdr.get("content-type"), "application/problem+json")
        self.assertEqual(body["status"], status)
        self.assertIn(needle, body["detail"])
        if status == 401:
            self.assertEqual(hdr.get("www-authenticate"), 'Bearer realm="treaty"')

    def test_keys_and_roles(self):
        a = self.acme
        # without a key, with a malformed, an unknown key, another org's key: 401, nothing done
        self.assertProblem(a.http("GET", "/v1/ledger/head", headers=NO_AUTH), 401,
                           "needs an API key")
        self.assertProblem(a.http("POST", "/v1/data/Shipment", shipment(101), headers=NO_AUTH),
                           401, "needs an API key")
        self.assertProblem(a.http("GET", "/v1/members", headers={"Authorization": "Basic eDp5"}),
                           401, "Bearer <key>")
        fake = "trk_%s_%s" % ("0" * 16, "1" * 64)
        self.assertProblem(a.http("POST", "/v1/data/Shipment", shipment(101),
                                  headers=bearer(fake)), 401, "unknown or revoked")
        self.assertProblem(a.http("POST", "/v1/data/Shipment", shipment(101),
                                  headers=bearer(self.globex.api_key)), 401, "not valid")
        self.assertEqual(a.http("GET", "/healthz", headers=NO_AUTH)[0], 200)
        self.assertEqual(a.http("GET", "/metrics", headers=NO_AUTH)[0], 200)
        # reader: reads, no writes; writer: writes, no governance
        reader, writer = a.apikey("reader", "dashboard"), a.apikey("writer", "erp")
        self.assertEqual(a.http("GET", "/v1/ledger/head", headers=bearer(reader))[0], 200)
        self.assertProblem(a.http("POST", "/v1/data/Shipment", shipment(101),
                                  headers=bearer(reader)), 403, "role writer or above")
        self.assertProblem(a.http("POST", "/v1/tx", {"ops": []}, headers=bearer(reader)), 403,
                           "this key has role reader")
        self.assertProblem(a.http("POST", "/v1/members/proposals",
                                  {"action": "remove", "org": "initech"}, headers=bearer(writer)),
                           403, "role admin")
        st, _, b = a.http("POST", "/v1/data/Shipment", shipment(101), headers=bearer(writer))
        self.assertEqual(st, 201, b)
        # revoked while the node runs: refused within 2 s, the other keys keep working
        key_id = writer[4:20]
        self.net.run("apikey", "revoke", "--dir", a.dir, "--id", key_id)
        t0 = time.time()
        wait_for(lambda: a.http("GET", "/v1/ledger/head", headers=bearer(writer))[0] == 401, 2.5,
                 "revoked key refused")
        self.assertLess(time.time() - t0, 2.5)
        self.assertProblem(a.http("POST", "/v1/data/Shipment", shipment(102),
                                  headers=bearer(writer)), 401, "revoked")
        self.assertEqual(a.http("GET", "/v1/ledger/head", headers=bearer(reader))[0], 200)
        listed = self.net.run("apikey", "list", "--dir", a.dir).stdout
        self.assertRegex(listed, key_id + r"\s+writer\s+\S+\s+revoked")
        # nothing the refused calls asked for exists
        self.net.wait_converged()
        self.assertEqual(a.http("GET", "/v1/data/Shipment/SHP-000102")[0], 404)
        st, _, b = a.http("GET", "/v1/members")
        self.assertEqual(sorted(m["org"] for m in b["members"]), ["acme", "globex", "initech"])

    def test_content_type(self):
        a = self.acme
        body = json.dumps(shipment(201))
        for ctype in ("text/plain", "application/x-www-form-urlencoded",
                      "application/json; charset=latin1"):
            self.assertProblem(a.http("POST", "/v1/data/Shipment", body,
                                      headers={"Content-Type": ctype}), 415, "application/json")
        self.assertEqual(a.http("GET", "/v1/data/Shipment/SHP-000201")[0], 404)
        st, _, b = a.http("POST", "/v1/data/Shipment", body,
                          headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(st, 201, b)
        st, _, b = a.http("PATCH", "/v1/data/Shipment/SHP-000201", {"status": "picked_up"},
                          headers={"Content-Type": "application/merge-patch+json"})
        self.assertEqual((st, b.get("status")), (200, "picked_up"), b)

    def test_read_acls(self):
        a, g, i = self.acme, self.globex, self.initech
        st, _, b = a.http("POST", "/v1/data/Shipment", shipment(301, value="9000.00"))
        self.assertEqual(st, 201, b)
        self.assertEqual(b["declaredValue"]["amount"], "9000.00")  # the owner sees it
        for n in range(1, 4):
            st, _, b = g.http("POST", "/v1/data/Invoice", invoice(300 + n, "SHP-000301"))
            self.assertEqual(st, 201, b)
        self.net.wait_converged()
        # Invoice: read ["owner", "acme"]
        self.assertProblem(i.http("GET", "/v1/data/Invoice/INV-0301"), 403,
                           "Invoice read ACL allows owner, acme; org initech is not the owner")
        self.assertProblem(i.http("GET", "/v1/data/Invoice/INV-0301/history"), 403,
                           "not the owner")
        self.assertEqual(a.http("GET", "/v1/data/Invoice/INV-0301")[0], 200)
        self.assertEqual(g.http("GET", "/v1/data/Invoice/INV-0301/history")[0], 200)
        st, _, page = i.http("GET", "/v1/data/Invoice?limit=2")
        self.assertEqual((st, page["items"]), (200, []))
        # the cursor of a page of hidden records names none of them and only this node takes it
        cursor = page.get("next_cursor")
        self.assertIsNotNone(cursor)
        self.assertNotIn("494e56", cursor.lower())  # hex of "INV": the store's own cursor form
        st, _, page2 = i.http("GET", "/v1/data/Invoice?limit=2&cursor=" + cursor)
        self.assertEqual((st, page2["items"]), (200, []))
        self.assertProblem(g.http("GET", "/v1/data/Invoice?cursor=" + cursor), 400, "cursor")
        self.assertProblem(i.http("GET", "/v1/data/Invoice?cursor=" + cursor[:-4] + "AAAA"), 400,
                           "cursor")
        st, _, mine = g.http("GET", "/v1/data/Invoice?shipmentId=SHP-000301")
        self.assertEqual(sorted(x["invoiceId"] for x in mine["items"]),
                         ["INV-0301", "INV-0302", "INV-0303"])
        # Shipment.declaredValue: read ["owner", "initech"]
        self.assertEqual(i.http("GET", "/v1/data/Shipment/SHP-000301")[2]["declaredValue"],
                         {"amount": "9000.00", "currency": "EUR"})
        st, hdr, b = g.http("GET", "/v1/data/Shipment/SHP-000301")
        self.assertEqual(st, 200)
        self.assertNotIn("declaredValue", b)
        self.assertEqual(b["carrier"], "globex")
        self.assertEqual(hdr.get("etag"), '"1"')
        st, _, lst = g.http("GET", "/v1/data/Shipment?carrier=globex&limit=1000")
        ours = [x for x in lst["items"] if x["shipmentId"] == "SHP-000301"]
        self.assertEqual(len(ours), 1)
        self.assertNotIn("declaredValue", ours[0])
        # globex may update the shipment; its answer and the history still hide the value
        st, _, b = g.http("PATCH", "/v1/data/Shipment/SHP-000301", {"status": "in_transit"})
        self.assertEqual((st, b.get("status")), (200, "in_transit"), b)
        self.assertNotIn("declaredValue", b)
        self.assertEqual(b["_version"], 2)
        st, _, h = g.http("GET", "/v1/data/Shipment/SHP-000301/history")
        self.assertEqual([v["_version"] for v in h["versions"]], [1, 2])
        self.assertTrue(all("declaredValue" not in v for v in h["versions"]))
        self.net.wait_converged()
        st, _, h = i.http("GET", "/v1/data/Shipment/SHP-000301/history")
        self.assertTrue(all("declaredValue" in v for v in h["versions"]), h)
        # write ACLs stay at apply; the refusal names the rule
        self.assertProblem(g.http("POST", "/v1/data/Shipment", shipment(302)), 403,
                           "Shipment create ACL allows acme")
        self.assertProblem(g.http("PATCH", "/v1/data/Shipment/SHP-000301",
                                  {"declaredValue": {"amount": "1.00", "currency": "EUR"}}),
                           403, "Shipment.declaredValue update ACL allows owner")
        self.assertProblem(i.http("DELETE", "/v1/data/Invoice/INV-0301"), 403,
                           "Invoice delete ACL allows nobody")

    def test_node_without_key_file(self):
        g = self.globex
        self.assertEqual(g.stop(), 0)
        path = os.path.join(g.dir, "apikeys.json")
        os.rename(path, path + ".away")
        g.start()
        wait_for(lambda: "apikey create" in g.log_tail(200), 10, "the hint in the log")
        wait_for(lambda: self._answers(g) == 401, 10, "globex answering 401")
        self.assertProblem(g.http("GET", "/v1/ledger/head"), 401, "not valid")
        self.assertEqual(g.http("GET", "/healthz", headers=NO_AUTH)[0], 200)
        self.assertEqual(g.log_tail(400).count("treaty apikey create"), 1)
        os.rename(path + ".away", path)  # keys back: served again within ~1 s
        wait_for(lambda: g.http("GET", "/v1/ledger/head")[0] == 200, 2.5, "keys reloaded")

    @staticmethod
    def _answers(node):
        try:
            return node.http("GET", "/v1/ledger/head", timeout=2.0)[0]
        except OSError:
            return None


class BadInputTest(unittest.TestCase):
    """One org, small limits: each bad request is refused clearly, writes nothing, and the node
    keeps serving a well-behaved client."""

    LIMITS = {"http_body_max_bytes": 4096, "http_header_max_bytes": 2048,
              "http_max_connections": 8, "http_request_timeout_ms": 600}

    @classmethod
    def setUpClass(cls):
        cls.net = harness.Network(TREATY, SCHEMA, ["acme"], node_json={"limits": cls.LIMITS})
        cls.net.start()
        cls.node = cls.net.nodes[0]
        cls.net.wait_leader()
        # the leader's first entry of its term becomes block 1: wait for it, so the heights the
        # tests compare move only by what they write
        harness.wait_for(lambda: cls.node.head()["height"] >= 1, 10, "block 1 applied")

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)

    def still_serving(self, height):
        st, _, b = self.node.http("GET", "/v1/ledger/head")
        self.assertEqual(st, 200, b)
        self.assertEqual(b["height"], height, "something was written")

    def head_height(self):
        return self.node.http("GET", "/v1/ledger/head")[2]["height"]

    def request(self, head, body=b""):
        key = self.node.api_key.encode()
        return (head + b"Host: x\r\nAuthorization: Bearer " + key +
                b"\r\nContent-Type: application/json\r\nContent-Length: " +
                str(len(body)).encode() + b"\r\n\r\n" + body)

    def assertProblemRaw(self, resp, status, needle):
        self.assertEqual(status_of(resp), status, resp[:300])
        self.assertIn(b"Content-Type: application/problem+json", resp)
        self.assertIn(needle, body_of(resp)["detail"])

    def test_bad_requests(self):
        n = self.node
        h = self.head_height()
        st, _, b = n.http("POST", "/v1/data/Shipment", '{"shipmentId": "SHP-000001", ')
        self.assertEqual(st, 400, b)
        self.assertIn("request body", b["detail"])
        self.still_serving(h)
        st, _, b = n.http("POST", "/v1/data/Cargo", shipment(1))
        self.assertEqual((st, b["type"]), (404, "urn:treaty:problem:unknown-type"), b)
        self.assertIn("Cargo", b["detail"])
        st, _, b = n.http("GET", "/v1/cargo/1")
        self.assertEqual(st, 404, b)
        self.assertIn("no route", b["detail"])
        st, _, b = n.http("POST", "/v1/data/Shipment", {"shipmentId": "bad"})
        self.assertEqual(st, 422, b)
        self.still_serving(h)

    def test_body_and_head_over_the_limit(self):
        h = self.head_height()
        big = json.dumps(dict(shipment(2), origin="x" * 4200)).encode()
        resp, _ = raw(self.node.api_port, self.request(b"POST /v1/data/Shipment HTTP/1.1\r\n",
                                                       big))
        self.assertProblemRaw(resp, 413, "larger than 4096 bytes")
        pad = b"X-Pad: " + b"p" * 2100 + b"\r\n"
        resp, _ = raw(self.node.api_port, self.request(b"GET /v1/ledger/head HTTP/1.1\r\n" + pad))
        self.assertProblemRaw(resp, 431, "larger than 2048 bytes")
        self.still_serving(h)
        self.assertEqual(self.node.http("GET", "/v1/data/Shipment/SHP-000002")[0], 404)

    def test_slowloris(self):
        h = self.head_height()
        start = b"POST /v1/data/Shipment HTTP/1.1\r\nHost: x\r\n"
        resp, secs = raw(self.node.api_port, start, timeout=5.0,
                         drip=[b"X-Slow-%d: y\r\n" % k for k in range(40)])
        self.assertProblemRaw(resp, 408, "not complete within 600 ms")
        self.assertLess(secs, 3.0)
        self.still_serving(h)

    def test_connections_beyond_the_limit(self):
        h = self.head_height()
        limit = self.LIMITS["http_max_connections"]
        held = []
        try:
            # idle connections (a begun request would meet its deadline while we wait)
            for _ in range(limit + 2):
                held.append(socket.create_connection(("127.0.0.1", self.node.api_port),
                                                     timeout=3))
            time.sleep(0.5)  # the node has accepted them all and answered those beyond
            refused, open_ = [], 0
            for s in held:
                s.setblocking(False)
                try:
                    got = s.recv(65536)
                except BlockingIOError:
                    open_ += 1
                    continue
                s.settimeout(2)
                part = got
                while part:  # the node closes after the 503: read to the end
                    part = s.recv(65536)
                    got += part
                refused.append(got)
            # at least the two beyond the limit were answered 503 and closed; never more than
            # `limit` stayed open
            self.assertLessEqual(open_, limit)
            self.assertGreaterEqual(len(refused), 2)
            for got in refused:
                self.assertProblemRaw(got, 503, "too many connections")
        finally:
            for s in held:
                s.close()
        wait_for(lambda: self.node.http("GET", "/v1/ledger/head")[0] == 200, 5,
                 "served again once connections closed")
        self.still_serving(h)


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
