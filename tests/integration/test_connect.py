"""test_connect.py — `treaty connect` with a Salesforce connector and an outbound webhook against
a 3-org network of real `treaty node` processes and the test doubles of tests/doubles.

  python3 test_connect.py TREATY_BINARY SCHEMA [test names...]
  CONNECT_RECORDS=N (default 5000) records are seeded in the Salesforce double.

Covers, in one ordered scenario: N records inbound across pages of 1,000 while the double answers
403 REQUEST_LIMIT_EXCEEDED and expires tokens mid-sync; the connector SIGKILLed mid-page and
restarted — every record is in the ledger exactly once (version 1), the double saw no upsert of
them (the connector's own writes are not echoed back); an outbound create and a patch by another
org land in the double once, and their echo (the double's new SystemModstamp) is not applied to the
ledger again; webhook deliveries are signed (HMAC-SHA256) and retried after 503s; a value the
ledger's schema refuses (422) and a value the double refuses (400) become dead letters visible at
GET /v1/connectors and in /metrics while later changes still flow; deletes in both directions.
Also: config errors name the exact field and never print a secret.
"""
import json
import os
import signal
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "doubles"))
import harness  # noqa: E402
from harness import wait_for  # noqa: E402
import salesforce  # noqa: E402
import webhook  # noqa: E402
from connect_common import ConnectCase, shipment_mapping  # noqa: E402

SCHEMA = None
N = int(os.environ.get("CONNECT_RECORDS", "5000"))
SECRET = "s3cr3t-client-value"
HOOK_SECRET = "hook-shared-secret"
FIELDS = ["Origin__c", "Destination__c", "Status__c", "Carrier__c", "Weight__c", "ETA__c"]


def mapping():
    return shipment_mapping("External_Id__c", "Origin__c", "Destination__c", "Status__c",
                            "Weight__c", "ETA__c")


class ConnectTest(ConnectCase):
    @classmethod
    def setUpClass(cls):
        cls.start_network(SCHEMA)
        cls.sf = cls.double = salesforce.serve(fields=FIELDS, client_secret=SECRET)
        cls.hook = webhook.serve(HOOK_SECRET)
        cls.dir = tempfile.mkdtemp(prefix="treaty-connect-")
        cls.status_port = harness.free_port()
        key = cls.acme.apikey("writer", "connector")
        with open(os.path.join(cls.dir, "node.key"), "w") as f:
            f.write(key + "\n")
        cls.cfg = {
            "node": {"url": "http://127.0.0.1:%d" % cls.acme.api_port,
                     "api_key": {"file": os.path.join(cls.dir, "node.key")}},
            "state_dir": os.path.join(cls.dir, "state"),
            "status_listen": "127.0.0.1:%d" % cls.status_port,
            "limits": {"backoff_base_ms": 50, "backoff_max_ms": 1000,
                       "page_size": 1000 if N >= 3000 else 200,
                       "max_inflight": 32, "max_attempts": 5},
            "connectors": [
                {"name": "sf", "kind": "salesforce", "direction": "both",
                 "ledger_type": "Shipment", "object": "Shipment__c",
                 "external_id": "External_Id__c", "poll_interval_ms": 200,
                 "salesforce": {"login_url": "http://127.0.0.1:%d" % cls.sf.server_address[1],
                                "client_id": {"env": "SF_CLIENT_ID"},
                                "client_secret": {"env": "SF_CLIENT_SECRET"}},
                 "fields": mapping()},
                {"name": "hook", "kind": "webhook", "direction": "outbound",
                 "ledger_type": "Shipment",
                 "url": "http://127.0.0.1:%d/hook" % cls.hook.server_address[1],
                 "secret": {"env": "HOOK_SECRET"},
                 "fields": [{"ledger": "shipmentId", "saas": "id"},
                            {"ledger": "status", "saas": "state"}]},
            ],
        }
        cls.env = dict(os.environ, SF_CLIENT_ID="cid", SF_CLIENT_SECRET=SECRET,
                       HOOK_SECRET=HOOK_SECRET)
        cls.write_config()

    @classmethod
    def tearDownClass(cls):
        cls.close_all(cls.sf, cls.hook)

    # -- helpers --

    def config_error(self, cfg, field):
        self.expect_config_error(cfg, field, [SECRET, HOOK_SECRET])

    def inbound_caught_up(self):
        """True once the inbound cursor is at the double's newest SystemModstamp and idle."""
        recs = self.dstate()["records"].values()
        newest = max(r["_ms"] for r in recs)
        j = self.job("sf", "inbound")
        return bool(j and j[0]["cursor"] and j[0]["cursor"].split("|")[0] >= newest
                    and j[0]["page_records"] == 0)

    # -- the scenario --
    def test_1_config_errors(self):
        bad = json.loads(json.dumps(self.cfg))
        bad["connectors"][0]["fields"][4]["transform"] = "reverse"
        self.config_error(bad, "connectors[0].fields[4].transform")
        bad = json.loads(json.dumps(self.cfg))
        bad["connectors"][0]["salesforce"]["client_secret"] = {"env": "NOPE_NOT_SET"}
        self.config_error(bad, "connectors[0].salesforce.client_secret")
        bad = json.loads(json.dumps(self.cfg))
        bad["limits"]["max_inflight"] = 0
        self.config_error(bad, "limits.max_inflight")
        bad = json.loads(json.dumps(self.cfg))
        bad["connectors"][1]["direction"] = "both"
        self.config_error(bad, "connectors[1].direction")
        bad = json.loads(json.dumps(self.cfg))
        bad["connectors"][0]["salesforce"]["client_secret"] = SECRET
        self.config_error(bad, "connectors[0].salesforce.client_secret")

    def test_2_inbound_faults_and_kill(self):
        self.dcontrol({"seed": {"count": N, "ties": 3}})
        # Mid-sync faults: 3 rate-limited calls after the 2nd call, tokens valid for 2 calls.
        self.dcontrol({"rate_limit": {"after": 2, "count": 3}, "token_ttl_calls": 2})
        self.kill_mid_sync(N, lambda: self.inbound_records("sf"), N // 2, "half of the records")
        self.start_connect()
        recs = self.all_inbound_once(N, "record")
        sf = self.dstate()
        self.assertGreaterEqual(sf["served"]["rate_limited"], 3, sf["served"])
        self.assertGreaterEqual(sf["served"]["expired"], 1, sf["served"])
        self.assertGreaterEqual(sf["served"]["tokens"], 3, sf["served"])
        # The outbound job read every inbound write from the event stream (its offset is at the
        # last change) and sent none of them back: they are the connector's own.
        last = max(r["_height"] for r in recs.values())
        wait_for(lambda: self.out_height("sf") >= last, 120, "outbound at the last change")
        self.assertEqual(self.dstate()["upserts"], {}, "an inbound write was echoed back")
        self.dcontrol({"token_ttl_calls": None})
        j, _ = self.job("sf", "inbound")
        self.assertEqual(j["dead_letters"], 0)

    def test_3_outbound_and_echo(self):
        self.assertIsNotNone(self.proc)
        self.hook_ctl({"fail_next": 2, "status": 503})
        doc = {"shipmentId": "SHP-900001", "origin": "Oslo", "destination": "Porto",
               "carrier": "acme", "status": "created", "weightKg": 12,
               "eta": "2026-12-24T15:30:00Z"}
        st, _, b = self.acme.http("POST", "/v1/data/Shipment", doc)
        self.assertEqual(st, 201, b)
        st, _, b = self.globex.http("PATCH", "/v1/data/Shipment/SHP-000007",
                                    {"status": "in_transit"})
        self.assertEqual(st, 200, b)
        wait_for(lambda: self.dstate()["upserts"].get("SHP-000007") == 1 and
                 self.dstate()["upserts"].get("SHP-900001") == 1, 60, "outbound upserts")
        rec = self.dstate()["records"]["SHP-900001"]
        self.assertEqual((rec["Origin__c"], rec["Weight__c"], rec["ETA__c"]),
                         ("Oslo", "12", "2026-12-24"))
        self.assertEqual(self.dstate()["records"]["SHP-000007"]["Status__c"], "in_transit")
        # The double's new SystemModstamps come back inbound: recognised, not applied again.
        wait_for(self.inbound_caught_up, 60, "inbound read the echoes")
        time.sleep(0.6)
        self.assertEqual(self.record("SHP-900001")["_version"], 1)
        self.assertEqual(self.record("SHP-000007")["_version"], 2)
        self.assertEqual(self.dstate()["upserts"], {"SHP-000007": 1, "SHP-900001": 1})
        # Webhook: every event delivered with a good signature; two 503s were retried.
        wait_for(lambda: any(d["key"] == "SHP-000007" and d["op"] == "patch"
                             for d in self.hook_state()["deliveries"]), 120, "webhook caught up")
        h = self.hook_state()
        self.assertEqual(h["bad_signatures"], 0)
        self.assertEqual(h["failed"], 2)
        keys = {d["key"] for d in h["deliveries"]}
        self.assertIn("SHP-900001", keys)
        self.assertGreaterEqual(len(keys), N + 1)
        ids = [d["id"] for d in h["deliveries"]]
        self.assertLessEqual(len(ids) - len(set(ids)), 1, "more than the one in-flight redelivery")
        new = [d for d in h["deliveries"] if d["key"] == "SHP-900001"][0]
        self.assertEqual(new["fields"], {"id": "SHP-900001", "state": "created"})
        self.assertEqual(new["_event_id_header"], new["id"])

    def test_4_dead_letters_and_deletes(self):
        self.assertIsNotNone(self.proc)
        # Inbound: a status the schema does not allow -> 422 -> dead letter; later edits flow.
        self.dcontrol({"modify": {"ext": "SHP-000009", "fields": {"Status__c": "teleported"}}})
        self.dcontrol({"modify": {"ext": "SHP-000010", "fields": {"Status__c": "delivered"}}})
        self.expect_inbound_dead_letter("sf", lambda r: r["External_Id__c"])
        # Outbound: the double refuses a value -> dead letter; the next change still lands.
        self.dcontrol({"reject_value": {"field": "Origin__c", "value": "Nowhere"}})
        st, _, b = self.acme.http("PATCH", "/v1/data/Shipment/SHP-900001", {"origin": "Nowhere"})
        self.assertEqual(st, 200, b)
        st, _, b = self.acme.http("PATCH", "/v1/data/Shipment/SHP-000012", {"origin": "Bergen"})
        self.assertEqual(st, 200, b)
        wait_for(lambda: self.dstate()["records"]["SHP-000012"]["Origin__c"] == "Bergen", 60,
                 "outbound after a rejected value")
        j, c = self.job("sf", "outbound")
        self.assertEqual(j["dead_letters"], 1)
        dl = [d for d in c["dead_letters"] if d["direction"] == "outbound"]
        self.assertIn("FIELD_CUSTOM_VALIDATION_EXCEPTION", dl[0]["reason"])
        self.assertEqual(self.dstate()["records"]["SHP-900001"]["Origin__c"], "Oslo")
        # Deletes: in the double -> ledger; in the ledger -> double.
        self.dcontrol({"delete": {"ext": "SHP-000011"}})
        wait_for(lambda: self.record("SHP-000011") is None, 60, "inbound delete")
        st, _, b = self.acme.http("DELETE", "/v1/data/Shipment/SHP-900001")
        self.assertEqual(st, 200, b)
        wait_for(lambda: self.dstate()["deletes"].get("SHP-900001") == 1, 60, "outbound delete")
        st, _, text = harness.http(self.status_port, "GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn('treaty_connector_dead_letters_total{connector="sf",direction="inbound"} 1',
                      text)
        self.assertIn('treaty_connector_records_total{connector="sf",direction="inbound"}', text)
        # A clean stop.
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=20), 0)
        with open(self.log_path) as f:
            log = f.read()
        self.assertNotIn(SECRET, log)
        self.assertNotIn(HOOK_SECRET, log)

    def out_height(self, name):
        j = self.job(name, "outbound")
        return int(j[0]["offset"].split(".")[0]) if j and j[0]["offset"] else 0

    def hook_ctl(self, body):
        self.control_post(self.hook, body)

    def hook_state(self):
        return self.control_get(self.hook)


if __name__ == "__main__":
    ConnectCase.TREATY, SCHEMA = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2, failfast=True)
