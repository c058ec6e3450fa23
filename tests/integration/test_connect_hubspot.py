"""test_connect_hubspot.py — `treaty connect` with a HubSpot CRM v3 connector (direction both)
against a 3-org network of real `treaty node` processes and the HubSpot double
(tests/doubles/hubspot.py).

  python3 test_connect_hubspot.py TREATY_BINARY SCHEMA [test names...]
  HUBSPOT_RECORDS=N (default 2000) objects are seeded in the double.

Covers, in one ordered scenario: N objects inbound through search pages of 100 while the double
answers 429 (TEN_SECONDLY_ROLLING) and, after a restart, 401 (a revoked token) mid-sync; the
search cap (500 here) is never passed although N is larger (keyset paging restarts from the last
stamp); the connector SIGKILLed mid-sync and restarted — every object in the ledger exactly once
(version 1) and the double's write log empty (nothing echoed back); outbound creates, patches and
deletes reach the double as batch upserts by idProperty and batch archives, each key written once,
and their echoes (new hs_lastmodifieddate) are not applied to the ledger again; a value the ledger
refuses (422) and a value the double refuses (VALIDATION_ERROR) become dead letters while later
changes flow; a DAILY rate limit waits (capped) and says so; archived objects become deletes.
Config errors name the exact field and never print the token.
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
import hubspot  # noqa: E402
from connect_common import ConnectCase, shipment_mapping  # noqa: E402

SCHEMA = None
N = int(os.environ.get("HUBSPOT_RECORDS", "2000"))
TOKEN = "pat-na1-0123-secret-token-value"
PROPS = ["origin", "destination", "status", "carrier", "weight", "eta"]
CAP = 500


def mapping():
    return shipment_mapping("shipment_id", "origin", "destination", "status", "weight", "eta")


class HubSpotTest(ConnectCase):
    @classmethod
    def setUpClass(cls):
        cls.start_network(SCHEMA)
        cls.hs = cls.double = hubspot.serve(properties=PROPS, token=TOKEN)
        cls.hs.portal.cap = CAP
        cls.dir = tempfile.mkdtemp(prefix="treaty-hubspot-")
        cls.status_port = harness.free_port()
        with open(os.path.join(cls.dir, "node.key"), "w") as f:
            f.write(cls.acme.apikey("writer", "connector") + "\n")
        cls.cfg = {
            "node": {"url": "http://127.0.0.1:%d" % cls.acme.api_port,
                     "api_key": {"file": os.path.join(cls.dir, "node.key")}},
            "state_dir": os.path.join(cls.dir, "state"),
            "status_listen": "127.0.0.1:%d" % cls.status_port,
            "limits": {"backoff_base_ms": 50, "backoff_max_ms": 1000, "max_inflight": 32,
                       "max_attempts": 5},
            "connectors": [
                {"name": "hs", "kind": "hubspot",
                 "direction": os.environ.get("HUBSPOT_DIRECTION", "both"),
                 "ledger_type": "Shipment", "object": "p_shipments",
                 "external_id": "shipment_id", "poll_interval_ms": 200,
                 "hubspot": {"base_url": "http://127.0.0.1:%d" % cls.hs.server_address[1],
                             "token": {"env": "HS_TOKEN"}, "page_size": 100,
                             "batch_size": 50,
                             "daily_wait_max_ms": 1500},
                 "fields": mapping()},
            ],
        }
        cls.env = dict(os.environ, HS_TOKEN=TOKEN)
        cls.write_config()

    # -- helpers --
    def inbound_caught_up(self):
        """True once the inbound cursor is at the double's newest stamp and the job idle."""
        h = self.dstate()
        newest = max(r["_ms"] for r in h["records"].values() if not r["_archived"])
        newest_ms = int(hubspot.EPOCH.timestamp() * 1000) + newest
        j = self.job("hs", "inbound")
        return bool(j and j[0]["cursor"] and int(j[0]["cursor"].split("|")[0]) >= newest_ms
                    and j[0]["page_records"] == 0)

    def config_error(self, cfg, field):
        self.expect_config_error(cfg, field, [TOKEN])

    def bad_cfg(self, edit):
        cfg = json.loads(json.dumps(self.cfg))
        edit(cfg["connectors"][0])
        return cfg

    # -- the scenario --
    def test_1_config_errors(self):
        def hs(**kv):
            return lambda c: c["hubspot"].update(kv)
        self.config_error(self.bad_cfg(hs(page_size=101)), "connectors[0].hubspot.page_size")
        self.config_error(self.bad_cfg(hs(page_size=0)), "connectors[0].hubspot.page_size")
        self.config_error(self.bad_cfg(hs(batch_size=101)),
                                 "connectors[0].hubspot.batch_size")
        self.config_error(self.bad_cfg(hs(token=TOKEN)), "connectors[0].hubspot.token")
        self.config_error(self.bad_cfg(hs(token={"env": "HS_NOT_SET"})),
                                 "connectors[0].hubspot.token")
        self.config_error(self.bad_cfg(hs(tokn="x")), "connectors[0].hubspot.tokn")
        self.config_error(self.bad_cfg(lambda c: c.update(object="p shipments")),
                                 "connectors[0].object")
        self.config_error(self.bad_cfg(lambda c: c.update(external_id="other")),
                                 "connectors[0].external_id")
        self.config_error(self.bad_cfg(lambda c: c.pop("hubspot")),
                                 "connectors[0].hubspot")

    def test_2_inbound_faults_and_kill(self):
        self.dcontrol({"seed": {"count": N, "ties": 3}})
        # Rate-limited mid-sync: 3 answers 429 TEN_SECONDLY_ROLLING after the 4th call.
        self.dcontrol({"rate_limit": {"after": 4, "count": 3, "policy": "TEN_SECONDLY_ROLLING"}})
        self.kill_mid_sync(N, lambda: self.inbound_records("hs"), N // 3,
                           "a third of the records")
        # The token is revoked while the connector is down and comes back after it saw 401s.
        self.dcontrol({"revoke": True})
        self.start_connect()
        wait_for(lambda: (self.job("hs", "inbound") or ({"state": ""},))[0]["state"] == "auth_failed",
                 60, "the 401 reported")
        j, _ = self.job("hs", "inbound")
        self.assertIn("401", j["last_error"])
        self.assertIn("access token", j["last_error"])
        self.assertNotIn(TOKEN, j["last_error"])
        self.dcontrol({"revoke": False})
        recs = self.all_inbound_once(N, "record")
        h = self.dstate()
        self.assertGreaterEqual(h["served"]["rate_limited"], 3, h["served"])
        self.assertGreaterEqual(h["served"]["unauthorized"], 1, h["served"])
        self.assertEqual(h["served"]["cap_refused"], 0, "a search paged past the cap")
        self.assertGreaterEqual(h["served"]["searches"], N // 100, "pages of at most 100")
        if self.cfg["connectors"][0]["direction"] == "both":
            last = max(r["_height"] for r in recs.values())
            wait_for(lambda: self.out_height() >= last, 120, "outbound at the last change")
        self.assertEqual(self.dstate()["log"], [], "an inbound write was echoed back")
        j, c = self.job("hs", "inbound")
        self.assertEqual(j["dead_letters"], 0)
        self.assertEqual(c["kind"], "hubspot")
        self.assertNotIn(TOKEN, json.dumps(self.status()))

    def test_3_outbound_batches_and_echo(self):
        self.assertIsNotNone(self.proc)
        doc = {"shipmentId": "SHP-900001", "origin": "Oslo", "destination": "Porto",
               "carrier": "acme", "status": "created", "weightKg": 12,
               "eta": "2026-12-24T15:30:00Z"}
        st, _, b = self.acme.http("POST", "/v1/data/Shipment", doc)
        self.assertEqual(st, 201, b)
        st, _, b = self.globex.http("PATCH", "/v1/data/Shipment/SHP-000007",
                                    {"status": "in_transit"})
        self.assertEqual(st, 200, b)
        wait_for(lambda: len(self.dstate()["upserts"]) == 2, 60, "the first two upserts")
        # A burst made while the token is refused queues up; once it works again the changes go
        # out as batches of at most batch_size (50), through a rate limit.
        self.dcontrol({"revoke": True})
        burst = ["SHP-8%06d" % i for i in range(120)]
        for k in burst:
            st, _, b = self.acme.http("POST", "/v1/data/Shipment",
                                      dict(doc, shipmentId=k, destination="Burst"))
            self.assertEqual(st, 201, b)
        wait_for(lambda: "401" in (self.job("hs", "outbound")[0]["last_error"] or ""), 30,
                 "deliveries held by the 401")
        self.dcontrol({"rate_limit": {"after": 0, "count": 2, "policy": "TEN_SECONDLY_ROLLING"},
                       "revoke": False})
        want = ["SHP-900001", "SHP-000007"] + burst
        wait_for(lambda: all(self.dstate()["upserts"].get(k) == 1 for k in want), 120,
                 "outbound upserts")
        h = self.dstate()
        rec = h["records"]["SHP-900001"]
        self.assertEqual((rec["origin"], rec["weight"], rec["eta"], rec.get("carrier")),
                         ("Oslo", "12", "2026-12-24", None))
        self.assertEqual(h["records"]["SHP-000007"]["status"], "in_transit")
        sizes = [n for op, n in h["batches"] if op == "upsert"]
        self.assertEqual(max(sizes), 50, sizes)  # batch_size, reached and never passed
        self.assertLessEqual(len(sizes), 2 + 4, sizes)
        # The double's new stamps come back inbound: recognised, not applied again.
        wait_for(self.inbound_caught_up, 60, "inbound read the echoes")
        time.sleep(0.6)
        self.assertEqual(self.record("SHP-900001")["_version"], 1)
        self.assertEqual(self.record("SHP-000007")["_version"], 2)
        self.assertEqual(max(self.record(k)["_version"] for k in burst[::17]), 1)
        h = self.dstate()
        self.assertEqual(sorted(e["key"] for e in h["log"]), sorted(want), "a duplicate write")
        self.assertGreaterEqual(h["served"]["rate_limited"], 5)

    def test_4_inbound_dead_letter_archive_daily(self):
        self.assertIsNotNone(self.proc)
        written = len(self.dstate()["log"])
        # A status the schema does not allow -> 422 -> dead letter; a later edit still flows.
        self.dcontrol({"modify": {"key": "SHP-000009", "properties": {"status": "teleported"}}})
        self.dcontrol({"modify": {"key": "SHP-000010", "properties": {"status": "delivered"}}})
        self.expect_inbound_dead_letter("hs", lambda r: r["properties"]["shipment_id"])
        self.assertEqual(self.record("SHP-000010")["_version"], 2)
        # A DAILY limit: the connector waits (up to hubspot.daily_wait_max_ms, 1.5 s here) and
        # says so; then the next edit arrives.
        self.dcontrol({"rate_limit": {"after": 0, "count": 1, "policy": "DAILY"}})
        wait_for(lambda: "DAILY" in (self.job("hs", "inbound")[0]["last_error"] or ""), 30,
                 "the daily limit reported")
        j, _ = self.job("hs", "inbound")
        self.assertIn("daily limit", j["last_error"])
        t0 = time.time()
        self.dcontrol({"modify": {"key": "SHP-000012", "properties": {"status": "in_transit"}}})
        wait_for(lambda: self.record("SHP-000012")["status"] == "in_transit", 30, "after DAILY")
        self.assertLess(time.time() - t0, 10, "the daily wait was not capped")
        # An object archived in HubSpot is deleted in the ledger, once.
        self.dcontrol({"archive": {"key": "SHP-000011"}})
        wait_for(lambda: self.record("SHP-000011") is None, 60, "inbound delete")
        time.sleep(1.0)  # several more polls read the archived listing again
        j, _ = self.job("hs", "inbound")
        self.assertEqual(j["dead_letters"], 1)
        self.assertEqual(self.dstate()["log"][written:], [], "an inbound write was echoed back")
        j, _ = self.job("hs", "outbound")
        self.assertEqual(j["dead_letters"], 0)

    def test_5_tie_run_edited_while_read(self):
        """More objects share one stamp than the search cap lets a query page through (a bulk
        import), and users edit a quarter of them while the run is read: every one is synced
        once, and no search pages with `after`."""
        n = CAP + 100
        self.dcontrol({"seed": {"count": n, "ties": n, "prefix": "SHP-7"}})
        for i in range(0, n, 4):  # the same values: only the stamp moves, nothing new to write
            self.dcontrol({"modify": {"key": "SHP-7%06d" % i, "properties": {"status": "created"}}})
            if i % 40 == 0:
                time.sleep(0.05)
        wait_for(lambda: len([k for k in self.ledger_all() if k.startswith("SHP-7")]) == n and
                 self.inbound_caught_up(), 120, "the whole tie run")
        tie = [r for k, r in self.ledger_all().items() if k.startswith("SHP-7")]
        self.assertEqual(len(tie), n)
        self.assertEqual(max(r["_version"] for r in tie), 1)
        served = self.dstate()["served"]
        self.assertEqual(served["cap_refused"], 0)
        self.assertEqual(served["paged"], 0)
        j, _ = self.job("hs", "inbound")
        self.assertEqual(j["dead_letters"], 1)  # only test_4's 422

    def test_6_outbound_dead_letter_auth_deletes(self):
        self.assertIsNotNone(self.proc)
        # The double refuses a value: a dead letter; the change after it still lands.
        self.dcontrol({"reject_value": {"property": "origin", "value": "Nowhere"}})
        st, _, b = self.acme.http("PATCH", "/v1/data/Shipment/SHP-900001", {"origin": "Nowhere"})
        self.assertEqual(st, 200, b)
        st, _, b = self.acme.http("PATCH", "/v1/data/Shipment/SHP-000012", {"origin": "Bergen"})
        self.assertEqual(st, 200, b)
        wait_for(lambda: self.dstate()["records"]["SHP-000012"]["origin"] == "Bergen", 60,
                 "outbound after a refused value")
        j, c = self.job("hs", "outbound")
        self.assertEqual(j["dead_letters"], 1)
        dl = [d for d in c["dead_letters"] if d["direction"] == "outbound"]
        self.assertEqual(len(dl), 1, c["dead_letters"])
        self.assertIn("VALIDATION_ERROR", dl[0]["reason"])
        self.assertEqual(dl[0]["record"]["key"], "SHP-900001")
        self.assertEqual(self.dstate()["records"]["SHP-900001"]["origin"], "Oslo")
        # A revoked token holds deliveries (reported) until it works again; nothing is lost.
        self.dcontrol({"revoke": True})
        st, _, b = self.acme.http("PATCH", "/v1/data/Shipment/SHP-000013", {"origin": "Tromso"})
        self.assertEqual(st, 200, b)
        wait_for(lambda: "401" in (self.job("hs", "outbound")[0]["last_error"] or ""), 30,
                 "the outbound 401 reported")
        self.dcontrol({"revoke": False})
        wait_for(lambda: self.dstate()["records"]["SHP-000013"]["origin"] == "Tromso", 60,
                 "outbound after the token works again")
        self.assertEqual(self.dstate()["upserts"]["SHP-000013"], 1)
        # A delete in the ledger archives the object; its archived copy read inbound is no-op.
        st, _, b = self.acme.http("DELETE", "/v1/data/Shipment/SHP-900001")
        self.assertEqual(st, 200, b)
        wait_for(lambda: self.dstate()["archives"].get("SHP-900001") == 1, 60, "outbound delete")
        time.sleep(1.0)
        j, _ = self.job("hs", "inbound")
        self.assertEqual(j["dead_letters"], 1)  # only test_4's 422
        st, _, text = harness.http(self.status_port, "GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn('treaty_connector_dead_letters_total{connector="hs",direction="outbound"} 1',
                      text)
        # A clean stop; the token never reached the log.
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=20), 0)
        with open(self.log_path) as f:
            self.assertNotIn(TOKEN, f.read())

    def out_height(self):
        j = self.job("hs", "outbound")
        return int(j[0]["offset"].split(".")[0]) if j and j[0]["offset"] else 0


if __name__ == "__main__":
    ConnectCase.TREATY, SCHEMA = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2, failfast=True)
