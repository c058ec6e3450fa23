"""test_connect_sap.py — `treaty connect` with an SAP S/4HANA connector (OData V2, Business
Partner API) against a 3-org network of real `treaty node` processes and the double
tests/doubles/sap.py.

  python3 test_connect_sap.py TREATY_BINARY SCHEMA [test names...]
  CONNECT_SAP_RECORDS=N (default 2000) entities are seeded in the double.

Covers, in one ordered scenario: N entities inbound across $top queries and __next pages while
the double answers 429 with Retry-After; the connector SIGKILLed mid-sync and restarted — every
entity in the ledger exactly once (version 1) and the double saw no write of them (no echo); a
change in the same second as the cursor's entity, to an entity with a lower key, is not lost;
outbound create (POST) and update (PATCH with If-Match) after a CSRF token fetch, with CSRF
expiry and a 412 ETag conflict mid-delivery; their echo is not applied again; an OData error
body (400) and a schema refusal (422) become dead letters while later changes still flow;
an outbound delete. Config errors name the field and never print a secret.
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
import sap  # noqa: E402
from connect_common import ConnectCase, shipment_mapping  # noqa: E402

SCHEMA = None
N = int(os.environ.get("CONNECT_SAP_RECORDS", "2000"))
PASSWORD = "sap-pa55word-value"
USER = "CONNECT_USER"
FIELDS = ["SearchTerm1", "BusinessPartnerFullName", "YY1_Status_bus", "YY1_WeightKg_bus",
          "YY1_ETA_bus"]


def mapping():
    return shipment_mapping("BusinessPartner", "SearchTerm1", "BusinessPartnerFullName",
                            "YY1_Status_bus", "YY1_WeightKg_bus", "YY1_ETA_bus",
                            eta_format="odata_v2")


class ConnectSapTest(ConnectCase):
    @classmethod
    def setUpClass(cls):
        cls.start_network(SCHEMA)
        cls.sap = cls.double = sap.serve(fields=FIELDS, datetime_fields=["YY1_ETA_bus"],
                            users={USER: PASSWORD}, client="100")
        cls.dir = tempfile.mkdtemp(prefix="treaty-connect-sap-")
        cls.status_port = harness.free_port()
        cls.proc = None
        with open(os.path.join(cls.dir, "node.key"), "w") as f:
            f.write(cls.acme.apikey("writer", "connector") + "\n")
        with open(os.path.join(cls.dir, "sap.password"), "w") as f:
            f.write(PASSWORD + "\n")
        cls.cfg = {
            "node": {"url": "http://127.0.0.1:%d" % cls.acme.api_port,
                     "api_key": {"file": os.path.join(cls.dir, "node.key")}},
            "state_dir": os.path.join(cls.dir, "state"),
            "status_listen": "127.0.0.1:%d" % cls.status_port,
            "limits": {"backoff_base_ms": 50, "backoff_max_ms": 1000,
                       "page_size": 1000 if N >= 1500 else 200, "max_inflight": 32,
                       "max_attempts": 5},
            "connectors": [
                {"name": "s4", "kind": "sap", "direction": "both",
                 "ledger_type": "Shipment", "poll_interval_ms": 200,
                 "sap": {"base_url": "http://127.0.0.1:%d" % cls.sap.server_address[1],
                         "client": "100", "user": {"env": "SAP_USER"},
                         "password": {"file": os.path.join(cls.dir, "sap.password")}},
                 "fields": mapping()},
            ],
        }
        cls.env = dict(os.environ, SAP_USER=USER)
        cls.write_config()


    def inbound_caught_up(self):
        """True once the inbound cursor is at the double's newest change and the job idle."""
        ents = self.dstate()["entities"].values()
        newest = max((e["_s"], e["BusinessPartner"]) for e in ents)
        j = self.job("s4", "inbound")
        if not (j and j[0]["cursor"] and j[0]["page_records"] == 0):
            return False
        newest_ent = self.dstate()["entities"][newest[1]]
        stamp = sap_stamp(newest_ent)
        return j[0]["cursor"].split("|")[0] >= stamp

    def out_job(self):
        return (self.job("s4", "outbound") or ({},))[0]

    def writes_of(self, key):
        return [w for w in self.dstate()["log"] if w["key"] == key]

    # -- the scenario --
    def test_1_config_errors(self):
        def bad(edit, field):
            cfg = json.loads(json.dumps(self.cfg))
            edit(cfg["connectors"][0])
            self.expect_config_error(cfg, field, [PASSWORD])
        bad(lambda c: c["fields"][5]["transform"]["date"].update(saas="odata_v3"),
            "connectors[0].fields[5].transform")
        bad(lambda c: c["sap"].update(user={"env": "NOPE_NOT_SET"}), "connectors[0].sap.user")
        bad(lambda c: c["sap"].update(password=PASSWORD), "connectors[0].sap.password")
        bad(lambda c: c["sap"].update(key="Customer"), "connectors[0]")
        bad(lambda c: c["sap"].update(token={"env": "SAP_USER"}), "connectors[0].sap")
        bad(lambda c: c["sap"].update(entity_set="A_Business Partner"), "connectors[0].sap")
        bad(lambda c: c["sap"].update(base_url="ftp://x"), "connectors[0].sap")
        bad(lambda c: c["sap"].update(max_etag_retries=101), "connectors[0].sap")
        bad(lambda c: c["fields"].append({"ledger": "x", "saas": "LastChangeDate"}),
            "connectors[0]")
        bad(lambda c: c.update(object="A_BusinessPartner"), "connectors[0]")

    def test_2_inbound_rate_limit_and_kill(self):
        self.dcontrol({"seed": {"count": N, "ties": 3}, "server_page": 300})
        self.dcontrol({"rate_limit": {"after": 3, "count": 3, "status": 429}})
        self.kill_mid_sync(N, lambda: self.inbound_records("s4"), N // 2, "half of the entities")
        self.start_connect()
        recs = self.all_inbound_once(N, "entity")
        st = self.dstate()
        self.assertGreaterEqual(st["served"]["rate_limited"], 3, st["served"])
        self.assertEqual(st["served"]["bad_filter"], 0, st["served"])
        self.assertGreater(st["served"]["pages"], N // 300, st["served"])
        self.assertEqual(st["served"]["unauthorized"], 0, st["served"])
        # The outbound job read every inbound write from the event stream and sent none back.
        last = max(r["_height"] for r in recs.values())
        wait_for(lambda: self.out_height() >= last, 120, "outbound at the last change")
        self.assertEqual(self.dstate()["log"], [], "an inbound write was echoed back")
        j, _ = self.job("s4", "inbound")
        self.assertEqual(j["dead_letters"], 0)

    def test_3_same_second_change(self):
        # The cursor ends at entity `hi` in second S; `lo` (a lower key) then changes in S too.
        lo, hi = "SHP-%06d" % (N // 2), "SHP-%06d" % (N // 2 + 1)
        self.dcontrol({"modify": {"key": hi, "fields": {"SearchTerm1": "Kiel"}}})
        wait_for(lambda: self.record(hi)["origin"] == "Kiel", 60, "first change")
        wait_for(self.inbound_caught_up, 30, "inbound caught up")
        self.dcontrol({"modify": {"key": lo, "fields": {"SearchTerm1": "Bremen"},
                                 "same_second": True}})
        self.assertEqual(sap_stamp(self.dstate()["entities"][lo]),
                         sap_stamp(self.dstate()["entities"][hi]))
        wait_for(lambda: self.record(lo)["origin"] == "Bremen", 60,
                 "a change in the cursor's second")
        time.sleep(0.6)  # a few polls re-read that second: applied once
        self.assertEqual(self.record(lo)["_version"], 2)
        self.assertEqual(self.record(hi)["_version"], 2)

    def test_4_outbound_csrf_etag_and_echo(self):
        # The held CSRF token expires, each new one is good for one write, and the first PATCH
        # meets a concurrent change (412).
        before = self.dstate()["served"]
        self.dcontrol({"expire_csrf": True, "csrf_ttl_writes": 1, "conflict_next": 1})
        doc = {"shipmentId": "SHP-900001", "origin": "Oslo", "destination": "Porto",
               "carrier": "acme", "status": "created", "weightKg": 12,
               "eta": "2026-12-24T15:30:00Z"}
        st, _, b = self.acme.http("POST", "/v1/data/Shipment", doc)
        self.assertEqual(st, 201, b)
        st, _, b = self.globex.http("PATCH", "/v1/data/Shipment/SHP-000007",
                                    {"status": "in_transit"})
        self.assertEqual(st, 200, b)
        wait_for(lambda: self.dstate()["writes"] == {"SHP-900001": 1, "SHP-000007": 1}, 60,
                 "outbound create and update")
        sap_state = self.dstate()
        ent = sap_state["entities"]["SHP-900001"]
        self.assertEqual((ent["SearchTerm1"], ent["YY1_WeightKg_bus"], ent["YY1_ETA_bus"]),
                         ("Oslo", "12", "/Date(1798126200000)/"))
        self.assertEqual(sap_state["entities"]["SHP-000007"]["YY1_Status_bus"], "in_transit")
        ok = [(w["method"], w["key"]) for w in sap_state["log"] if w["status"] < 300]
        self.assertEqual(sorted(ok), [("PATCH", "SHP-000007"), ("POST", "SHP-900001")])
        self.assertEqual([w["status"] for w in self.writes_of("SHP-000007")], [412, 204])
        served = sap_state["served"]
        self.assertEqual(served["conflicts"], 1, served)
        # POST, PATCH (412), PATCH: each write after the first on a token met 403 Required.
        self.assertGreaterEqual(served["csrf_required"] - before["csrf_required"], 2, served)
        self.assertGreaterEqual(served["csrf_fetched"] - before["csrf_fetched"], 3, served)
        # The double's new stamps come back inbound: recognised, not applied again.
        wait_for(self.inbound_caught_up, 60, "inbound read the echoes")
        time.sleep(0.6)
        self.assertEqual(self.record("SHP-900001")["_version"], 1)
        self.assertEqual(self.record("SHP-000007")["_version"], 2)
        self.assertEqual(self.dstate()["writes"], {"SHP-900001": 1, "SHP-000007": 1})
        self.dcontrol({"csrf_ttl_writes": None})

    def test_5_dead_letters_and_delete(self):
        # Inbound: a status the schema does not allow -> 422 -> dead letter; later edits flow.
        self.dcontrol({"modify": {"key": "SHP-000009", "fields": {"YY1_Status_bus": "teleported"}}})
        self.dcontrol({"modify": {"key": "SHP-000010", "fields": {"YY1_Status_bus": "delivered"}}})
        self.expect_inbound_dead_letter("s4", lambda r: r["BusinessPartner"])
        # Outbound: the OData error body of a 400 is the dead letter's reason; 503s with
        # Retry-After are waited out; the next change still lands.
        self.dcontrol({"reject_value": {"field": "SearchTerm1", "value": "Nowhere"}})
        st, _, b = self.acme.http("PATCH", "/v1/data/Shipment/SHP-900001", {"origin": "Nowhere"})
        self.assertEqual(st, 200, b)
        wait_for(lambda: self.out_job().get("dead_letters") == 1, 60, "outbound dead letter")
        self.dcontrol({"rate_limit": {"after": 0, "count": 2, "status": 503}})
        st, _, b = self.acme.http("PATCH", "/v1/data/Shipment/SHP-000012", {"origin": "Bergen"})
        self.assertEqual(st, 200, b)
        wait_for(lambda: self.dstate()["entities"]["SHP-000012"]["SearchTerm1"] == "Bergen", 60,
                 "outbound after a rejected value")
        j, c = self.job("s4", "outbound")
        self.assertEqual(j["dead_letters"], 1)
        dl = [d for d in c["dead_letters"] if d["direction"] == "outbound"]
        self.assertIn("sap answered HTTP 400 BUPA/405 SearchTerm1: value 'Nowhere' not allowed",
                      dl[0]["reason"])
        self.assertEqual(self.dstate()["entities"]["SHP-900001"]["SearchTerm1"], "Oslo")
        self.assertGreaterEqual(self.dstate()["served"]["rate_limited"], 5)
        # Deletes outbound: DELETE with If-Match; while SAP refuses the credentials (401) the
        # change waits (no dead letter) and goes out once they work again.
        self.dcontrol({"refuse_auth": True})
        st, _, b = self.acme.http("DELETE", "/v1/data/Shipment/SHP-900001")
        self.assertEqual(st, 200, b)
        wait_for(lambda: "401" in (self.out_job().get("last_error") or ""), 30,
                 "outbound refused with 401")
        time.sleep(0.5)
        self.dcontrol({"refuse_auth": False})
        wait_for(lambda: self.dstate()["deletes"].get("SHP-900001") == 1, 60, "outbound delete")
        self.assertEqual(self.job("s4", "outbound")[0]["dead_letters"], 1)
        self.assertEqual(self.dstate()["served"]["wrong_client"], 0)  # every URL had sap-client
        self.assertNotIn("SHP-900001", self.dstate()["entities"])
        st, _, text = harness.http(self.status_port, "GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn('treaty_connector_dead_letters_total{connector="s4",direction="inbound"} 1',
                      text)
        self.assertIn('treaty_connector_dead_letters_total{connector="s4",direction="outbound"} 1',
                      text)
        # A clean stop; no credential in the log.
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=20), 0)
        with open(self.log_path) as f:
            log = f.read()
        self.assertNotIn(PASSWORD, log)
        self.assertNotIn(USER, log)

    def out_height(self):
        j = self.job("s4", "outbound")
        return int(j[0]["offset"].split(".")[0]) if j and j[0]["offset"] else 0


def sap_stamp(ent):
    """The connector's cursor stamp of an entity as the double shows it."""
    ms = int(ent["LastChangeDate"][6:-2])
    t = ent["LastChangeTime"]
    day = time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))
    return "%sT%s:%s:%s" % (day, t[2:4], t[5:7], t[8:10])


if __name__ == "__main__":
    ConnectCase.TREATY, SCHEMA = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2, failfast=True)
