"""test_connect_dynamics.py — `treaty connect` with a Dynamics 365 (Dataverse Web API) connector
against a 3-org network of real `treaty node` processes and the double tests/doubles/dynamics.py.

  python3 test_connect_dynamics.py TREATY_BINARY SCHEMA [test names...]
  DYN_RECORDS=N (default 2000) rows are seeded in the double.

Covers, in one ordered scenario: N rows inbound through change tracking across pages
(@odata.nextLink, then the @odata.deltaLink stored as the cursor) while the double answers 429
with Retry-After and its tokens expire mid-sync (a 401 refetches the token); the connector
SIGKILLed mid-sync and restarted — every row is in the ledger exactly once (version 1) and the
double's write log holds no write of them (no echo); tokens refreshed before they expire; an
outbound create and a patch by another org upserted by alternate key once each, and their echo
(new row versions in the next delta) not applied again; a value the ledger's schema refuses (422)
and a value the double refuses (400 with a Web API error body) dead-lettered and visible at
GET /v1/connectors while later changes still flow; deletes in both directions (a $deletedEntity
row mapped back to its ledger key). Also: config errors name the exact field and never print a
secret, and the connector's log never holds one; a delta link answered 410 Gone starts a full
sync that writes nothing again.
"""
import json
import os
import signal
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "doubles"))
import harness  # noqa: E402
from harness import wait_for  # noqa: E402
import dynamics  # noqa: E402
from connect_common import ConnectCase, shipment_mapping  # noqa: E402

SCHEMA = None
N = int(os.environ.get("DYN_RECORDS", "2000"))
SECRET = "dyn-client-s3cret-value"
ATTRS = ["treaty_origin", "treaty_destination", "treaty_status", "treaty_weight", "treaty_eta"]


def mapping():
    return shipment_mapping("treaty_shipmentnumber", "treaty_origin", "treaty_destination",
                            "treaty_status", "treaty_weight", "treaty_eta", weight_transform=None)


class ConnectDynamicsTest(ConnectCase):
    @classmethod
    def setUpClass(cls):
        cls.start_network(SCHEMA)
        cls.dyn = cls.double = dynamics.serve(fields=ATTRS, client_secret=SECRET)
        cls.dir = tempfile.mkdtemp(prefix="treaty-connect-dyn-")
        cls.status_port = harness.free_port()
        cls.proc = None
        with open(os.path.join(cls.dir, "node.key"), "w") as f:
            f.write(cls.acme.apikey("writer", "connector") + "\n")
        cls.cfg = {
            "node": {"url": "http://127.0.0.1:%d" % cls.acme.api_port,
                     "api_key": {"file": os.path.join(cls.dir, "node.key")}},
            "state_dir": os.path.join(cls.dir, "state"),
            "status_listen": "127.0.0.1:%d" % cls.status_port,
            "limits": {"backoff_base_ms": 50, "backoff_max_ms": 1000, "page_size": 200,
                       "max_inflight": 32, "max_attempts": 5},
            "connectors": [
                {"name": "d365", "kind": "dynamics", "direction": "both",
                 "ledger_type": "Shipment", "object": "treaty_shipments",
                 "external_id": "treaty_shipmentnumber", "poll_interval_ms": 200,
                 "dynamics": {"org_url": cls.dyn.org_url + "/", "token_url": cls.dyn.token_url,
                              "id_attribute": "treaty_shipmentid",
                              "client_id": {"env": "DYN_CLIENT_ID"},
                              "client_secret": {"env": "DYN_CLIENT_SECRET"}},
                 "fields": mapping()},
            ],
        }
        cls.write_config()
        cls.env = dict(os.environ, DYN_CLIENT_ID="cid", DYN_CLIENT_SECRET=SECRET)

    # -- helpers --
    def patches(self):
        return [w for w in self.dstate()["writes"] if w["method"] == "PATCH"]

    def inbound_caught_up(self):
        """True once the stored cursor is a delta link at the double's version, page settled."""
        version = self.dstate()["version"]
        j = self.job("d365", "inbound")
        cur = j and j[0]["cursor"]
        return bool(cur and "$deltatoken=%d" % version in cur and j[0]["page_records"] == 0)

    # -- the scenario --
    def test_1_config_errors(self):
        def bad(edit, field):
            cfg = json.loads(json.dumps(self.cfg))
            edit(cfg["connectors"][0])
            self.expect_config_error(cfg, field, [SECRET])

        bad(lambda c: c["dynamics"].update(id_attribute="bad-name"),
            "connectors[0].dynamics.id_attribute")
        bad(lambda c: c["dynamics"].update(client_secret={"env": "NOPE_NOT_SET"}),
            "connectors[0].dynamics.client_secret")
        bad(lambda c: c["dynamics"].update(client_secret=SECRET),
            "connectors[0].dynamics.client_secret")
        bad(lambda c: c["dynamics"].update(tenant="x"), "connectors[0].dynamics.tenant")
        bad(lambda c: c["dynamics"].update(token_url="ftp://x"), "connectors[0].dynamics.token_url")
        bad(lambda c: c.update(external_id="treaty_other"), "connectors[0].external_id")
        bad(lambda c: c.update(object="shipments?$top=1"), "connectors[0].object")
        bad(lambda c: c.pop("dynamics"), "connectors[0].dynamics")

    def test_2_inbound_faults_and_kill(self):
        self.dcontrol({"seed": {"count": N}})
        # Mid-sync faults: 3 calls answered 429 after the 3rd call; tokens live 2 s while the
        # token answer claims an hour, so only a 401 tells the connector.
        self.dcontrol({"rate_limit": {"after": 3, "count": 3, "retry_after": 1},
                       "token_ttl_s": 2, "report_expires_in": 3600})
        self.kill_mid_sync(N, lambda: self.inbound_records("d365"), N // 2, "half of the rows")
        self.start_connect()
        recs = self.all_inbound_once(N, "row")
        served = self.dstate()["served"]
        self.assertGreaterEqual(served["rate_limited"], 3, served)
        self.assertGreaterEqual(served["expired"], 1, served)
        self.assertGreaterEqual(served["tokens"], 3, served)
        # The restart resumed at the stored nextLink: at most the page in flight at the kill
        # was served twice (a new full sync would have served every page again).
        self.assertGreaterEqual(served["full_pages"], N // 200, served)
        self.assertLessEqual(served["full_pages"], N // 200 + 2, served)
        # The outbound job read every inbound write from the event stream and sent none back.
        last = max(r["_height"] for r in recs.values())
        wait_for(lambda: self.out_height() >= last, 120, "outbound at the last change")
        self.assertEqual(self.dstate()["writes"], [], "an inbound write was echoed back")
        j, c = self.job("d365", "inbound")
        self.assertEqual(j["dead_letters"], 0)
        self.assertEqual(c["kind"], "dynamics")
        self.assertIn("$deltatoken=", j["cursor"])

    def test_3_token_refresh_before_expiry(self):
        # Honest expires_in of 6 s: the connector refreshes a quarter (1.5 s) ahead of it, so no
        # call meets a 401.
        tokens = self.dstate()["served"]["tokens"]
        self.dcontrol({"token_ttl_s": 6, "report_expires_in": None, "expire_tokens": True})
        wait_for(lambda: self.dstate()["served"]["tokens"] > tokens and self.inbound_caught_up(),
                 30, "a new token after revocation")
        before = self.dstate()["served"]
        time.sleep(12)
        after = self.dstate()["served"]
        self.assertGreaterEqual(after["tokens"] - before["tokens"], 2, (before, after))
        self.assertGreaterEqual(after["delta_pages"] - before["delta_pages"], 20, (before, after))
        self.assertEqual(after["expired"], before["expired"],
                         "a token was used past its expiry: %r" % self.dstate()["denied"][-3:])
        self.dcontrol({"token_ttl_s": 3600})

    def test_3b_stale_link_full_resync(self):
        # Every link the connector holds answers 410 Gone: it syncs in full again, recognises
        # every row as what it already wrote, and writes nothing.
        before = self.dstate()["served"]
        skipped = self.job("d365", "inbound")[0]["skipped"]
        self.dcontrol({"expire_links": True})
        wait_for(lambda: self.dstate()["served"]["gone"] > before["gone"] and
                 self.inbound_caught_up(), 60 + N / 20, "a full sync after 410 Gone")
        after = self.dstate()["served"]
        self.assertGreaterEqual(after["full_pages"] - before["full_pages"], N // 200, after)
        self.assertGreaterEqual(self.job("d365", "inbound")[0]["skipped"] - skipped, N)
        self.assertEqual(self.dstate()["writes"], [])
        recs = self.ledger_all()
        self.assertEqual(len(recs), N)
        self.assertEqual(max(r["_version"] for r in recs.values()), 1)

    def test_4_outbound_and_echo(self):
        # The outbound side meets a revoked token (401) and then two 429s.
        served = self.dstate()["served"]
        self.dcontrol({"expire_tokens": True, "rate_limit": {
            "after": 1, "count": 2, "retry_after": 1, "methods": ["PATCH", "DELETE"]}})
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
        rows = self.dstate()["rows"]
        new = rows["SHP-900001"]
        self.assertEqual((new["treaty_origin"], new["treaty_weight"], new["treaty_eta"]),
                         ("Oslo", 12, "2026-12-24"))
        self.assertEqual(rows["SHP-000007"]["treaty_status"], "in_transit")
        self.assertEqual(rows["SHP-000007"]["treaty_destination"], "Lyon 7")
        # The new row versions come back in the next delta: recognised, not applied again.
        wait_for(self.inbound_caught_up, 60, "inbound read the echoes")
        time.sleep(0.6)
        self.assertEqual(self.record("SHP-900001")["_version"], 1)
        self.assertEqual(self.record("SHP-000007")["_version"], 2)
        self.assertEqual(sorted((w["key"], w["status"]) for w in self.patches()),
                         [("SHP-000007", 200), ("SHP-900001", 201)])
        after = self.dstate()["served"]
        self.assertEqual(after["rate_limited"] - served["rate_limited"], 2, after)
        self.assertGreater(after["expired_writes"], served["expired_writes"], after)
        self.assertEqual(self.dstate()["upserts"], {"SHP-000007": 1, "SHP-900001": 1})
        j, _ = self.job("d365", "inbound")
        self.assertGreaterEqual(j["skipped"], 2)

    def test_5_dead_letters_and_deletes(self):
        # Inbound: a status the schema does not allow -> 422 -> dead letter; later edits flow.
        self.dcontrol({"modify": {"key": "SHP-000009", "fields": {"treaty_status": "teleported"}}})
        self.dcontrol({"modify": {"key": "SHP-000010", "fields": {"treaty_status": "delivered"}}})
        self.expect_inbound_dead_letter("d365", lambda r: r["treaty_shipmentnumber"])
        # Outbound: the double refuses a value (400, Web API error) -> dead letter; the next
        # change still lands.
        self.dcontrol({"reject_value": {"field": "treaty_origin", "value": "Nowhere"}})
        st, _, b = self.acme.http("PATCH", "/v1/data/Shipment/SHP-900001", {"origin": "Nowhere"})
        self.assertEqual(st, 200, b)
        st, _, b = self.acme.http("PATCH", "/v1/data/Shipment/SHP-000012", {"origin": "Bergen"})
        self.assertEqual(st, 200, b)
        wait_for(lambda: self.dstate()["rows"]["SHP-000012"]["treaty_origin"] == "Bergen", 60,
                 "outbound after a rejected value")
        j, c = self.job("d365", "outbound")
        self.assertEqual(j["dead_letters"], 1)
        dl = [d for d in c["dead_letters"] if d["direction"] == "outbound"]
        self.assertIn("0x80040265", dl[0]["reason"])
        self.assertIn("is not allowed", dl[0]["reason"])
        self.assertEqual(self.dstate()["rows"]["SHP-900001"]["treaty_origin"], "Oslo")
        # Deletes: in the double ($deletedEntity in the delta) -> ledger; ledger -> double.
        self.dcontrol({"delete": {"key": "SHP-000011"}})
        wait_for(lambda: self.record("SHP-000011") is None, 60, "inbound delete")
        st, _, b = self.acme.http("DELETE", "/v1/data/Shipment/SHP-900001")
        self.assertEqual(st, 200, b)
        wait_for(lambda: self.dstate()["deletes"].get("SHP-900001") == 1, 60, "outbound delete")
        self.assertTrue(self.dstate()["rows"]["SHP-900001"]["deleted"])
        wait_for(self.inbound_caught_up, 60, "inbound read the delete's echo")
        st, _, text = harness.http(self.status_port, "GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn('treaty_connector_dead_letters_total{connector="d365",direction="inbound"} 1',
                      text)
        # A clean stop; no secret in the connector's log.
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=20), 0)
        with open(self.log_path) as f:
            log = f.read()
        self.assertNotIn(SECRET, log)
        self.assertNotIn(urllib.parse.quote(SECRET), log)

    def out_height(self):
        j = self.job("d365", "outbound")
        return int(j[0]["offset"].split(".")[0]) if j and j[0]["offset"] else 0


if __name__ == "__main__":
    ConnectCase.TREATY, SCHEMA = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2, failfast=True)
