"""test_schema.py — schema evolution through governance, with real nodes.

  python3 test_schema.py TREATY_BINARY SCHEMA

acme proposes the next schema (a new type, a new optional property, a new index on a type that
already holds records); before a majority approves, the new type has no routes anywhere; once
globex approves, every node serves it without a restart, the new index answers queries over the
records written before it existed, and a restarted node comes back with it. A breaking proposal
is refused at once with a 422 that lists each breaking change, and changes nothing.
"""
import copy
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_for  # noqa: E402

TREATY = SCHEMA = None


def shipment(i, origin):
    return {"shipmentId": "SHP-%07d" % i, "origin": origin, "destination": "Chicago",
            "carrier": "globex", "status": "created", "weightKg": 3}


class SchemaEvolution(unittest.TestCase):
    def setUp(self):
        with open(SCHEMA) as f:
            self.doc = json.load(f)
        self.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"])
        self.net.start()
        self.acme, self.globex, self.initech = self.net.nodes

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)
        self.net.close()

    def evolved(self):
        doc = copy.deepcopy(self.doc)
        props = doc["properties"]
        ship = props["Shipment"]["items"]
        ship["properties"]["incoterm"] = {"type": "string", "maxLength": 3}
        ship["x-treaty-indexes"] = ship["x-treaty-indexes"] + ["origin"]
        props["Container"] = {
            "type": "array",
            "items": {
                "type": "object", "x-treaty-key": "containerId",
                "x-treaty-acl": {"read": ["*"], "create": ["*"], "update": ["owner"],
                                 "delete": ["owner"]},
                "required": ["containerId", "sizeFt"],
                "properties": {"containerId": {"type": "string", "pattern": "^[A-Z]{4}[0-9]{7}$"},
                               "sizeFt": {"type": "integer", "enum": [20, 40, 45]}},
            },
        }
        return doc

    def test_additive_change_takes_effect_on_approval(self):
        acme, globex, initech = self.acme, self.globex, self.initech
        for i, origin in enumerate(["Rotterdam", "Hamburg", "Rotterdam"]):
            st, _, b = acme.http("POST", "/v1/data/Shipment", shipment(i, origin), timeout=20)
            self.assertEqual(st, 201, b)
        container = {"containerId": "MSCU1234567", "sizeFt": 40}
        st, _, b = acme.http("GET", "/v1/openapi.json")  # built and cached before the change
        self.assertEqual(st, 200, b)
        self.assertNotIn("/v1/data/Container", b["paths"])
        st, _, b = acme.http("POST", "/v1/schema/proposals", {"schema": self.evolved()},
                             timeout=20)
        self.assertEqual(st, 201, b)
        proposal = b["proposal"]
        # Proposed, not approved: one of three orgs is no majority.
        for n in self.net.nodes:
            st, _, b = n.http("POST", "/v1/data/Container", container)
            self.assertEqual(st, 404, b)
        st, _, b = globex.http("POST", "/v1/schema/proposals/%s/approve" % proposal, {},
                               timeout=20)
        self.assertEqual(st, 200, b)
        # Every node serves the new type now, without a restart: once it has applied the approval
        # (answered by globex once globex applied it; another node may apply it a moment later).
        wait_for(lambda: "Container" in (initech.http("GET", "/v1/schema")[2] or {}).get(
            "properties", {}), 10, "the approved schema at initech")
        st, _, b = initech.http("POST", "/v1/data/Container", container, timeout=20)
        self.assertEqual(st, 201, b)
        for n in self.net.nodes:
            wait_for(lambda n=n: n.http("GET", "/v1/data/Container/MSCU1234567")[0] == 200, 10,
                     "the new type's record at " + n.org)
            st, _, b = n.http("POST", "/v1/data/Container",
                              {"containerId": "bad", "sizeFt": 41})
            self.assertEqual(st, 422, b)  # validated by the new schema everywhere
        # The documents served follow the schema in force.
        for n in self.net.nodes:
            st, _, b = n.http("GET", "/v1/schema")
            self.assertEqual(st, 200, b)
            self.assertIn("Container", b["properties"])
            st, _, b = n.http("GET", "/v1/openapi.json")
            self.assertEqual(st, 200, b)
            self.assertIn("/v1/data/Container", b["paths"])
        # The new optional property is accepted; the new index covers the older records.
        st, _, b = acme.http("POST", "/v1/data/Shipment",
                             dict(shipment(9, "Hamburg"), incoterm="FOB"), timeout=20)
        self.assertEqual(st, 201, b)
        for n in self.net.nodes:
            def origins(n=n):
                st, _, b = n.http("GET", "/v1/data/Shipment?origin=Rotterdam")
                return sorted(r["shipmentId"] for r in b["items"]) if st == 200 else None
            got = wait_for(lambda: origins() or None, 10, "index on origin at " + n.org)
            self.assertEqual(got, ["SHP-0000000", "SHP-0000002"])
        # A restarted node keeps the evolved schema.
        self.assertEqual(initech.stop(), 0)
        initech.start()
        self.net.wait_converged()
        st, _, b = initech.http("GET", "/v1/data/Container/MSCU1234567")
        self.assertEqual(st, 200, b)
        st, _, b = initech.http("GET", "/v1/data/Shipment?origin=Hamburg")
        self.assertEqual(st, 200, b)
        self.assertEqual(sorted(r["shipmentId"] for r in b["items"]),
                         ["SHP-0000001", "SHP-0000009"])
        # Approving a settled proposal again is refused.
        st, _, b = initech.http("POST", "/v1/schema/proposals/%s/approve" % proposal, {},
                                timeout=20)
        self.assertEqual(st, 409, b)

    def test_breaking_change_refused(self):
        acme = self.acme
        # The leader's first entry of its term is a block too: let it land everywhere first.
        wait_for(lambda: acme.head()["height"] >= 1, 10, "the leader's first block")
        head = self.net.wait_converged()
        doc = copy.deepcopy(self.doc)
        ship = doc["properties"]["Shipment"]["items"]
        ship["required"] = ship["required"] + ["eta"]            # new required property
        del doc["properties"]["Invoice"]                         # removed type
        st, _, b = acme.http("POST", "/v1/schema/proposals", {"schema": doc}, timeout=20)
        self.assertEqual(st, 422, b)
        rules = sorted(e["rule"] for e in b["errors"])
        self.assertIn("new-required-property", rules)
        self.assertIn("removed-type", rules)
        self.assertTrue(all(e["schemaPath"] and e["message"] for e in b["errors"]))
        # Nothing was ordered: the head did not move.
        self.assertEqual(acme.head()["height"], head["height"])
        st, _, b = acme.http("POST", "/v1/schema/proposals", {"schema": self.doc}, timeout=20)
        self.assertEqual(st, 422, b)  # the schema in force: nothing to propose
        st, _, b = acme.http("POST", "/v1/schema/proposals", {"schema": {"type": "object",
                                                                       "properties": 3}})
        self.assertEqual(st, 422, b)
        st, _, b = acme.http("POST", "/v1/schema/proposals", {"nothing": 1})
        self.assertEqual(st, 422, b)
        st, _, b = acme.http("GET", "/v1/schema/proposals")
        self.assertEqual(st, 405, b)
        self.assertEqual(acme.head()["height"], head["height"])


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
