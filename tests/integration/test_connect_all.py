"""test_connect_all.py — one `treaty connect` process with a connector of every kind at once
(Salesforce, HubSpot, Dynamics 365 and SAP, each `both`, and an outbound webhook), all mapping
the ledger type Shipment, against a 3-org network of real `treaty node` processes and the test
doubles of tests/doubles: an org that syncs one shared record type with several systems.

  python3 test_connect_all.py TREATY_BINARY SCHEMA [test names...]
  CONNECT_ALL_RECORDS=N (default 200) records are seeded in each double, in disjoint key ranges.

Covers, in one ordered scenario: the 4*N records inbound while the process is SIGKILLed mid-sync
and restarted — each is in the ledger exactly once (version 1); fan-out without ping-pong: each
record reaches every other system and the webhook, and its echo from those systems is not applied
again (still version 1). Per docs/connectors.md ("Echo loops"), a connector skips outbound what
its own inbound side wrote, so a double must hold exactly one write of each record it did not
originate and none of its own; a crash re-delivers at most the change (HubSpot: the batch) in
flight. A record written through the node API reaches all four systems and the webhook once and
stays at version 1; GET /v1/connectors ends with five connectors, no dead letters, jobs idle.
A record applied twice fails with its history and the Idempotency-Key of each version's write
(which connector wrote it, from which source stamp).
"""
import os
import re
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
import dynamics  # noqa: E402
import hubspot  # noqa: E402
import salesforce  # noqa: E402
import sap  # noqa: E402
import webhook  # noqa: E402
import test_connect as t_sf  # noqa: E402  (the mappings and double settings of each kind)
import test_connect_dynamics as t_dyn  # noqa: E402
import test_connect_hubspot as t_hs  # noqa: E402
import test_connect_sap as t_sap  # noqa: E402
from connect_common import ConnectCase  # noqa: E402

SCHEMA = None
N = int(os.environ.get("CONNECT_ALL_RECORDS", "200"))
HS_BATCH = 20
PAGE = max(20, min(100, N // 3))  # HubSpot and SAP pages: several per system at any N
# Each system's records: SHP-<start + i>, i < N (the schema wants 4 to 12 digits).
START = {"sf": 100000, "hs": 200000, "d365": 300000, "s4": 400000}
API_KEY = "SHP-900001"
SYSTEMS = ["sf", "hs", "d365", "s4"]
# Re-deliveries a crash may cause per connector: the change in flight (HubSpot: the batch).
IN_FLIGHT = {"sf": 1, "hs": HS_BATCH, "d365": 1, "s4": 1, "hook": 1}


def keys_of(system, batch):
    return {"SHP-%06d" % (START[system] + batch * N + i) for i in range(N)}


class AllKinds(ConnectCase):
    """The network, the four doubles and the webhook, and one `treaty connect` with a connector
    of each kind in DIRECTION (plus the webhook when HOOK); the helpers of both test classes."""
    DIRECTION, HOOK = "both", True

    @classmethod
    def setUpClass(cls):
        cls.start_network(SCHEMA)
        cls.sf = salesforce.serve(fields=t_sf.FIELDS, client_secret=t_sf.SECRET)
        cls.hs = hubspot.serve(properties=t_hs.PROPS, token=t_hs.TOKEN)
        cls.dyn = dynamics.serve(fields=t_dyn.ATTRS, client_secret=t_dyn.SECRET)
        cls.sap = sap.serve(fields=t_sap.FIELDS, datetime_fields=["YY1_ETA_bus"],
                            users={t_sap.USER: t_sap.PASSWORD}, client="100")
        cls.hook = webhook.serve(t_sf.HOOK_SECRET)
        cls.dir = tempfile.mkdtemp(prefix="treaty-connect-all-")
        cls.status_port = harness.free_port()
        with open(os.path.join(cls.dir, "node.key"), "w") as f:
            f.write(cls.acme.apikey("writer", "connector") + "\n")
        common = {"direction": cls.DIRECTION, "ledger_type": "Shipment", "poll_interval_ms": 200}
        cls.cfg = {
            "node": {"url": "http://127.0.0.1:%d" % cls.acme.api_port,
                     "api_key": {"file": os.path.join(cls.dir, "node.key")}},
            "state_dir": os.path.join(cls.dir, "state"),
            "status_listen": "127.0.0.1:%d" % cls.status_port,
            "limits": {"backoff_base_ms": 50, "backoff_max_ms": 1000, "page_size": 200,
                       "max_inflight": 32, "max_attempts": 5},
            "connectors": [
                dict(common, name="sf", kind="salesforce", object="Shipment__c",
                     external_id="External_Id__c", fields=t_sf.mapping(),
                     salesforce={"login_url": "http://127.0.0.1:%d" % cls.sf.server_address[1],
                                 "client_id": {"env": "SF_CLIENT_ID"},
                                 "client_secret": {"env": "SF_CLIENT_SECRET"}}),
                dict(common, name="hs", kind="hubspot", object="p_shipments",
                     external_id="shipment_id", fields=t_hs.mapping(),
                     hubspot={"base_url": "http://127.0.0.1:%d" % cls.hs.server_address[1],
                              "token": {"env": "HS_TOKEN"}, "page_size": PAGE,
                              "batch_size": HS_BATCH}),
                dict(common, name="d365", kind="dynamics", object="treaty_shipments",
                     external_id="treaty_shipmentnumber", fields=t_dyn.mapping(),
                     dynamics={"org_url": cls.dyn.org_url + "/", "token_url": cls.dyn.token_url,
                               "id_attribute": "treaty_shipmentid",
                               "client_id": {"env": "DYN_CLIENT_ID"},
                               "client_secret": {"env": "DYN_CLIENT_SECRET"}}),
                dict(common, name="s4", kind="sap", fields=t_sap.mapping(),
                     sap={"base_url": "http://127.0.0.1:%d" % cls.sap.server_address[1],
                          "client": "100", "user": {"env": "SAP_USER"},
                          "password": {"env": "SAP_PASSWORD"}}),
                {"name": "hook", "kind": "webhook", "direction": "outbound",
                 "ledger_type": "Shipment",
                 "url": "http://127.0.0.1:%d/hook" % cls.hook.server_address[1],
                 "secret": {"env": "HOOK_SECRET"},
                 "fields": [{"ledger": "shipmentId", "saas": "id"},
                            {"ledger": "status", "saas": "state"}]},
            ][:5 if cls.HOOK else 4],
        }
        cls.env = dict(os.environ, SF_CLIENT_ID="cid", SF_CLIENT_SECRET=t_sf.SECRET,
                       HS_TOKEN=t_hs.TOKEN, DYN_CLIENT_ID="cid",
                       DYN_CLIENT_SECRET=t_dyn.SECRET, SAP_USER=t_sap.USER,
                       SAP_PASSWORD=t_sap.PASSWORD, HOOK_SECRET=t_sf.HOOK_SECRET)
        cls.write_config()

    @classmethod
    def tearDownClass(cls):
        cls.close_all(cls.sf, cls.hs, cls.dyn, cls.sap, cls.hook)

    # -- the doubles --
    def port(self, system):
        return {"sf": self.sf, "hs": self.hs, "d365": self.dyn, "s4": self.sap,
                "hook": self.hook}[system].server_address[1]

    def dstate(self, system):
        st, _, body = harness.http(self.port(system), "GET", "/_control", timeout=30)
        self.assertEqual(st, 200)
        return body

    def control(self, system, body):
        st, _, _ = harness.http(self.port(system), "POST", "/_control", body)
        self.assertEqual(st, 200)

    def writes(self, system):
        """Writes per key the double received (the webhook: deliveries per key)."""
        if system == "hook":
            out = {}
            for d in self.dstate("hook")["deliveries"]:
                out[d["key"]] = out.get(d["key"], 0) + 1
            return out
        s = self.dstate(system)
        return dict(s["writes"] if system == "s4" else s["upserts"])

    def double_state(self):
        return {s: self.dstate(s).get("served") for s in SYSTEMS}

    # -- settling --
    def jobs_idle(self, last_height):
        s = self.status()
        if not s or len(s["connectors"]) != 4 + self.HOOK:
            return False
        for c in s["connectors"]:
            for j in c["jobs"]:
                if j["state"] != "idle" or j.get("page_records", 0) or j.get("queued", 0):
                    return False
                if j["direction"] == "outbound" and (
                        not j["offset"] or int(j["offset"].split(".")[0]) < last_height):
                    return False
        return True

    def snapshot(self):
        recs = self.ledger_all()
        return (len(recs), max((r["_height"] for r in recs.values()), default=0),
                tuple(sum(self.writes(s).values()) for s in SYSTEMS + ["hook"] * self.HOOK))

    def wait_settled(self, timeout, what):
        """Until every job is idle at the ledger's last change and nothing has moved (ledger,
        double writes, webhook deliveries) for 2 s; bounded by timeout."""
        deadline, prev, since = time.time() + timeout, None, None
        while time.time() < deadline:
            snap = self.snapshot()
            if snap != prev:
                prev, since = snap, time.time()
            elif self.jobs_idle(snap[1]) and time.time() - since >= 2.0:
                return snap
            time.sleep(0.25)
        self.fail("%s: not settled within %ds (last %r)" % (what, timeout, prev))

    # -- checks --
    def assert_all_version_1(self, expected_keys):
        """Every expected key is on the ledger at version 1: written once, also across the
        SIGKILL of test_3 (an echo a restarted connector read back is recognised, a page it
        reads again is answered from its idempotency keys)."""
        recs = self.ledger_all()
        self.assertEqual(set(recs), expected_keys,
                         "missing %s, extra %s" % (sorted(expected_keys - set(recs))[:10],
                                                   sorted(set(recs) - expected_keys)[:10]))
        again = sorted(k for k, r in recs.items() if r["_version"] != 1)
        self.assertEqual(again, [], "applied more than once:\n%s"
                         % "\n".join(self.explain(k) for k in again[:5]))
        return recs

    def explain(self, key):
        """A record's history (what changed from version to version) and its writes in every
        double: what a failure prints."""
        st, _, body = self.node.http("GET", "/v1/data/Shipment/%s/history" % key)
        lines = ["%s (from %s): history %d" % (key, self.origin.get(key), st)]
        prev = {}
        for v in (body.get("versions", []) if st == 200 else []):
            diff = {f: v[f] for f in v if not f.startswith("_") and prev.get(f) != v[f]}
            meta = {f: v[f] for f in ("_version", "_height", "_org", "_author") if f in v}
            lines.append("  %s changed %s; keys in its block %s"
                         % (meta, diff, self.block_idempotency_keys(v.get("_height"), key)))
            prev = v
        lines.append("  writes: %s" % {s: self.writes(s).get(key, 0) for s in SYSTEMS + ["hook"]})
        return "\n".join(lines)

    def block_idempotency_keys(self, height, key):
        """The Idempotency-Keys of the txs writing `key` in the block at height, read from its
        audit export (a tx encodes its key before its ops): which connector wrote a version,
        from which source stamp."""
        try:
            st, _, body = self.node.http("GET", "/v1/ledger/export?from=%s&to=%s"
                                         % (height, height))
        except OSError as e:
            return "(export failed: %s)" % e
        if st != 200:
            return "(export answered %s)" % st
        raw = body.encode("latin-1", "replace") if isinstance(body, str) else b""
        parts = re.split(rb"(treaty-connect/[\x21-\x7e]+)", raw)
        return [parts[i].decode() for i in range(1, len(parts) - 1, 2)
                if re.search(re.escape(key.encode()) + rb"(?![0-9])", parts[i + 1])]

    def assert_fan_out(self, system, crashed):
        """system's double holds exactly one write of each record it did not originate (a
        crash allows IN_FLIGHT re-deliveries) and none of its own."""
        got = self.writes(system)
        own = {k for k, o in self.origin.items() if o == system}
        expected = set(self.all_keys) - own
        if self.api_done:
            expected.add(API_KEY)
        self.assertEqual(sorted(set(got) & own)[:10], [],
                         "%s: its own records were written back (ping-pong)" % system)
        self.assertEqual(sorted(expected - set(got))[:10], [], "%s: records never delivered"
                         % system)
        self.assertEqual(sorted(set(got) - expected)[:10], [], "%s: unknown keys" % system)
        # The webhook gets every ledger change: one per version of the record.
        want = ({k: r["_version"] for k, r in self.ledger_all().items()} if system == "hook"
                else {})
        extra = sorted((k, n) for k, n in got.items() if n != want.get(k, 1))
        allowed = IN_FLIGHT[system] if crashed else 0
        self.assertLessEqual(len(extra), allowed, "%s: repeated writes (key, count) %s"
                             % (system, extra[:20]))
        self.assertTrue(all(n == want.get(k, 1) + 1 for k, n in extra),
                        "%s: %s" % (system, extra[:20]))

    all_keys = set()
    origin = {}  # key -> the system that seeded it
    api_done = False

    # -- the scenario --
    def seed(self, batch):
        """Seeds N records in each double (batch b: SHP-<start + b*N + i>); returns their keys."""
        for system in SYSTEMS:
            seed = {"count": N, "start": START[system] + batch * N}
            if system != "d365":
                seed["ties"] = 3
            self.control(system, {"seed": seed})
            self.origin.update({k: system for k in keys_of(system, batch)})
        self.control("s4", {"server_page": PAGE})
        type(self).all_keys = set(self.origin)
        return set(self.origin)


class ConnectAllTest(AllKinds):
    def test_1_inbound_and_fan_out(self):
        keys = self.seed(0)
        self.start_connect()
        wait_for(lambda: len(self.ledger_all()) >= len(keys), 120 + len(keys) / 10,
                 "every record inbound")
        self.wait_settled(180 + len(keys) / 5, "inbound and fan-out")
        self.assert_all_version_1(self.all_keys)
        self.check_fan_out(crashed=False)
        # A second look after more polls of every system: nothing came back, nothing moved.
        snap = self.snapshot()
        time.sleep(2.0)
        self.assertEqual(self.snapshot(), snap)
        self.assert_all_version_1(self.all_keys)

    def check_fan_out(self, crashed):
        for system in SYSTEMS + ["hook"]:
            with self.subTest(system=system):
                self.assert_fan_out(system, crashed)

    def test_2_api_record_reaches_all(self):
        self.assertTrue(self.all_keys)
        before = {s: self.writes(s) for s in SYSTEMS + ["hook"]}
        doc = {"shipmentId": API_KEY, "origin": "Oslo", "destination": "Porto",
               "carrier": "acme", "status": "created", "weightKg": 12,
               "eta": "2026-12-24T15:30:00Z"}
        st, _, b = self.acme.http("POST", "/v1/data/Shipment", doc)
        self.assertEqual(st, 201, b)
        wait_for(lambda: all(self.writes(s).get(API_KEY) for s in SYSTEMS + ["hook"]), 60,
                 "the API record in every system")
        self.wait_settled(60, "the API record's echoes")
        for system in SYSTEMS + ["hook"]:
            after = self.writes(system)
            want = self.record(API_KEY)["_version"] if system == "hook" else 1
            self.assertEqual(after.pop(API_KEY, None), want, system)
            self.assertEqual(after, before[system], "%s: other writes meanwhile" % system)
        type(self).api_done = True
        self.assert_all_version_1(self.all_keys | {API_KEY})
        self.assertEqual(self.dstate("s4")["entities"][API_KEY]["SearchTerm1"], "Oslo")
        self.assertEqual(self.dstate("hs")["records"][API_KEY]["origin"], "Oslo")
        self.assertEqual(self.dstate("sf")["records"][API_KEY]["Origin__c"], "Oslo")
        self.assertEqual(self.dstate("d365")["rows"][API_KEY]["treaty_origin"], "Oslo")

    def test_3_kill_mid_sync(self):
        self.assertTrue(self.all_keys)
        before = len(self.ledger_all())
        keys = self.seed(1)
        wait_for(lambda: len(self.ledger_all()) >= before + N * 4 * 2 // 5, 120 + N,
                 "part of the new records inbound")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.assertLess(len(self.ledger_all()), len(keys) + 1,
                        "the kill came after the whole sync: nothing was tested")
        self.start_connect()
        wait_for(lambda: len(self.ledger_all()) >= len(keys) + 1, 120 + len(keys) / 10,
                 "every record inbound after the restart")
        self.wait_settled(180 + len(keys) / 5, "inbound and fan-out after the restart")
        self.assert_all_version_1(self.all_keys | {API_KEY})
        self.check_fan_out(crashed=True)

    def test_4_status(self):
        s = self.status()
        self.assertIsNotNone(s)
        self.assertEqual(sorted(c["name"] for c in s["connectors"]),
                         ["d365", "hook", "hs", "s4", "sf"])
        # Each inbound job polls every 200 ms: wait for an instant when all are idle.
        wait_for(lambda: self.jobs_idle(self.snapshot()[1]), 30, "every job idle")
        for c in s["connectors"]:
            self.assertEqual(c["dead_letters"], [], c["name"])
            for j in c["jobs"]:
                self.assertEqual(j["dead_letters"], 0, (c["name"], j))
        self.assertEqual(self.dstate("hook")["bad_signatures"], 0)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=20), 0)


if __name__ == "__main__":
    ConnectCase.TREATY, SCHEMA = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2, failfast=True)
