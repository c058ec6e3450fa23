"""connect_common.py — what the `treaty connect` integration tests share: the connector process
and its log, its status server (GET /v1/connectors), the ledger listing of one record type,
config errors that must name a field and hide secrets, and a dump of logs and state when a test
fails; the SaaS double's /_control, and the steps the scenarios of every kind share: a kill
mid-sync with the check that every record is then in the ledger exactly once, and an inbound
dead letter. A test class derives from ConnectCase and sets, in setUpClass: net (a harness.Network),
node (the node the connector writes to), double (the SaaS double, closed by tearDownClass), dir,
status_port, cfg (written by write_config) and env.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import unittest
import urllib.parse

import harness
from harness import wait_for


ORGS = ["acme", "globex", "initech"]


def shipment_mapping(shipment_id, origin, destination, status, weight, eta,
                     weight_transform="number_string", eta_format="date"):
    """The Shipment field mapping of the connector tests, given the SaaS side's field names:
    the weight through weight_transform (None: as is), the ETA as a date of eta_format, and
    the carrier a constant."""
    w = {"ledger": "weightKg", "saas": weight}
    if weight_transform:
        w["transform"] = weight_transform
    return [
        {"ledger": "shipmentId", "saas": shipment_id},
        {"ledger": "origin", "saas": origin},
        {"ledger": "destination", "saas": destination},
        {"ledger": "status", "saas": status},
        w,
        {"ledger": "eta", "saas": eta,
         "transform": {"date": {"ledger": "rfc3339", "saas": eta_format}}},
        {"ledger": "carrier", "constant": "acme"},
    ]


class ConnectCase(unittest.TestCase):
    TREATY = None
    LEDGER_TYPE, LEDGER_KEY = "Shipment", "shipmentId"
    keep = False  # a failed test keeps the connector's directory (log, state) for a look
    proc = None
    double = None  # the SaaS double: a server with GET/POST /_control

    @classmethod
    def start_network(cls, schema):
        """A 3-org network (ORGS); the connector writes to acme's node."""
        cls.net = harness.Network(cls.TREATY, schema, ORGS)
        cls.net.start()
        cls.acme, cls.globex, cls.initech = cls.net.nodes
        cls.node = cls.acme

    @classmethod
    def write_config(cls):
        cls.cfg_path = os.path.join(cls.dir, "connect.json")
        cls.log_path = os.path.join(cls.dir, "connect.log")
        with open(cls.cfg_path, "w") as f:
            json.dump(cls.cfg, f)

    @classmethod
    def start_connect(cls):
        log = open(cls.log_path, "ab")
        cls.proc = subprocess.Popen([cls.TREATY, "connect", "--config", cls.cfg_path],
                                    env=cls.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    @classmethod
    def close_all(cls, *servers):
        if cls.proc and cls.proc.poll() is None:
            cls.proc.kill()
            cls.proc.wait(timeout=10)
        for s in servers:
            s.shutdown()
            s.server_close()
        cls.net.close()
        if not cls.keep:
            shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls.close_all(cls.double)

    def double_state(self):
        """What a failed test prints about the SaaS double: its request counters."""
        return self.dstate()["served"]

    def tearDown(self):
        if not harness.failed(self):
            return
        type(self).keep = True
        print(self.net.logs(), file=sys.stderr)
        print("--- status ---\n%s\n%s" % (json.dumps(self.status()),
                                            json.dumps(self.double_state())), file=sys.stderr)
        try:
            with open(self.log_path) as f:
                print("--- treaty connect ---\n" + f.read()[-6000:], file=sys.stderr)
        except OSError:
            pass

    def status(self):
        try:
            st, _, body = harness.http(self.status_port, "GET", "/v1/connectors")
        except OSError:
            return None
        return body if st == 200 else None

    def job(self, name, direction):
        """(job, connector) from the status document, or None while it cannot be read."""
        for c in (self.status() or {}).get("connectors", []):
            if c["name"] == name:
                for j in c["jobs"]:
                    if j["direction"] == direction:
                        return j, c
        return None

    def ledger_all(self, max_pages=100):
        out, cursor = {}, None
        for _ in range(max_pages):
            path = "/v1/data/%s?limit=1000%s" % (
                self.LEDGER_TYPE, "&cursor=" + urllib.parse.quote(cursor) if cursor else "")
            st, _, body = self.node.http("GET", path)
            self.assertEqual(st, 200, body)
            for r in body["items"]:
                out[r[self.LEDGER_KEY]] = r
            cursor = body.get("next_cursor")
            if not cursor:
                return out
        self.fail("the list did not end within %d pages" % max_pages)

    def control_get(self, double):
        """The state of a double (GET /_control)."""
        st, _, body = harness.http(double.server_address[1], "GET", "/_control")
        self.assertEqual(st, 200)
        return body

    def control_post(self, double, body):
        """Steers a double (POST /_control)."""
        st, _, _ = harness.http(double.server_address[1], "POST", "/_control", body)
        self.assertEqual(st, 200)

    def dstate(self):
        """The state of the SaaS double."""
        return self.control_get(self.double)

    def dcontrol(self, body):
        """Steers the SaaS double."""
        self.control_post(self.double, body)

    def inbound_records(self, name):
        """The records the inbound job of connector `name` applied (0 while unknown)."""
        j = self.job(name, "inbound")
        return j[0]["records"] if j else 0

    def kill_mid_sync(self, n, records_in, at, what):
        """Starts the connector and SIGKILLs it once records_in() >= at, with fewer than n of the
        records in the ledger."""
        self.start_connect()
        wait_for(lambda: records_in() >= at, 240, "%s inbound" % what)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        before = len(self.ledger_all())
        self.assertLess(before, n, "the kill came after the whole sync: nothing was tested")

    def all_inbound_once(self, n, what):
        """Waits until all n records are in the ledger and the inbound job caught up
        (inbound_caught_up, of the test class); checks each is there once (version 1) and the
        mapping of SHP-000010. Returns the ledger's records by key."""
        wait_for(lambda: len(self.ledger_all()) >= n and self.inbound_caught_up(), 60 + n / 20,
                 "every %s inbound after the restart" % what)
        recs = self.ledger_all()
        self.assertEqual(len(recs), n)
        self.assertEqual(max(r["_version"] for r in recs.values()), 1, "a record written twice")
        r = recs["SHP-000010"]
        self.assertEqual((r["weightKg"], r["eta"], r["carrier"], r["destination"]),
                         (11.5, "2026-12-11T00:00:00Z", "acme", "Lyon 10"))
        return recs

    def expect_inbound_dead_letter(self, name, key_of):
        """After the double set SHP-000009 to a status the schema refuses and SHP-000010 to
        "delivered": the later edit lands, and the refused one is the one inbound dead letter
        (422; key_of(its record) == "SHP-000009") while the ledger keeps its old status."""
        wait_for(lambda: self.record("SHP-000010")["status"] == "delivered", 60, "later edit")
        j, c = self.job(name, "inbound")
        self.assertEqual(j["dead_letters"], 1)
        dl = [d for d in c["dead_letters"] if d["direction"] == "inbound"]
        self.assertEqual(len(dl), 1, c["dead_letters"])
        self.assertIn("422", dl[0]["reason"])
        self.assertEqual(key_of(dl[0]["record"]), "SHP-000009")
        self.assertEqual(self.record("SHP-000009")["status"], "created")

    def record(self, key):
        st, _, body = self.node.http("GET", "/v1/data/%s/%s" % (
            self.LEDGER_TYPE, urllib.parse.quote(key)))
        return body if st == 200 else None

    def expect_config_error(self, cfg, field, secrets):
        """`treaty connect` with cfg exits 2 naming field, and prints none of secrets."""
        path = os.path.join(self.dir, "bad.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run([self.TREATY, "connect", "--config", path], env=self.env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(field, p.stderr)
        for s in secrets:
            self.assertNotIn(s, p.stderr + p.stdout)
