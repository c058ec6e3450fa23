"""test_openapi_responses.py — the OpenAPI document tells the truth about real answers.

  python3 test_openapi_responses.py TREATY_BINARY SCHEMA [test names...]

On a 3-org network, requests of every kind are sent (records created by the orgs the ACLs allow,
read, listed, paged, patched, replaced, deleted, history; a 422, a 404, a 412, a 202 with
`Prefer: wait=none`; a breaking schema proposal; a wrong API key; tx status, ledger head,
blocks, proofs, members, healthz, readyz) and each
answer is checked against what GET /v1/openapi.json declares for that path, method and status:
the status must be declared, the content type must match, and the body must validate against
the declared schema (JSON Schema 2020-12, python3-jsonschema). Also a deliberately wrong body
does not validate, so the check can fail.
"""
import json
import os
import sys
import unittest

import jsonschema

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TREATY = SCHEMA = None


def shipment(i, status="created"):
    return {"shipmentId": "SHP-%06d" % i, "origin": "Rotterdam", "destination": "Chicago",
            "carrier": "globex", "status": status, "weightKg": 10 + i}


class OpenApiResponsesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"])
        cls.net.start()
        cls.acme, cls.globex, cls.initech = cls.net.nodes
        st, _, cls.doc = cls.acme.http("GET", "/v1/openapi.json")
        assert st == 200, cls.doc
        cls.checked = set()

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def operation(self, method, path):
        segs = path.split("?")[0].split("/")
        for template, item in self.doc["paths"].items():
            tsegs = template.split("/")
            if len(tsegs) == len(segs) and method.lower() in item and all(
                    t == s or (t.startswith("{") and t.endswith("}") and s)
                    for t, s in zip(tsegs, segs)):
                return template, item[method.lower()]
        self.fail("no operation for %s %s in the document" % (method, path))

    def resolve(self, obj):
        while "$ref" in obj:
            node = self.doc
            for part in obj["$ref"][2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            obj = node
        return obj

    def validator(self, schema):
        root = dict(schema, components=self.doc["components"])
        return jsonschema.Draft202012Validator(root)

    def check(self, node, method, path, body=None, headers=None, want=None):
        st, hdr, answer = node.http(method, path, body, headers)
        if want is not None:
            self.assertEqual(st, want, answer)
        template, op = self.operation(method, path)
        responses = op["responses"]
        self.assertIn(str(st), responses, "%s %s answered %d, not declared" % (method, path, st))
        resp = self.resolve(responses[str(st)])
        ctype = (hdr.get("content-type") or "").split(";")[0]
        content = resp.get("content", {})
        self.assertIn(ctype, content, "%s %s %d: %s not declared" % (method, path, st, ctype))
        schema = content[ctype]["schema"]
        if isinstance(answer, (dict, list)):
            errors = sorted(self.validator(schema).iter_errors(answer), key=str)
            self.assertEqual(errors, [], "%s %s %d: %s" % (method, path, st, answer))
        self.checked.add((method, template, st))
        return st, hdr, answer

    def test_records(self):
        c = self.check
        _, hdr, rec = c(self.acme, "POST", "/v1/data/Shipment", shipment(1), want=201)
        c(self.acme, "POST", "/v1/data/Shipment", shipment(2), want=201)
        c(self.acme, "POST", "/v1/data/Shipment", shipment(1), want=409)
        c(self.globex, "POST", "/v1/data/Shipment", shipment(9), want=403)
        c(self.globex, "POST", "/v1/data/Invoice",
          {"invoiceId": "INV-1", "shipmentId": "SHP-000001", "paid": False,
           "total": {"amount": "12.50", "currency": "EUR"}}, want=201)
        c(self.acme, "GET", "/v1/data/Shipment/SHP-000001", want=200)
        c(self.acme, "GET", "/v1/data/Shipment/SHP-000001?version=1", want=200)
        # Written through globex's node: acme's node may apply it a moment later, so the read
        # asks for it (docs/api.md, read consistency).
        c(self.acme, "GET", "/v1/data/Invoice/INV-1?consistency=linearizable", want=200)
        c(self.acme, "GET", "/v1/data/Shipment/SHP-404", want=404)
        c(self.acme, "GET", "/v1/data/Shipment?status=created&limit=1", want=200)
        c(self.acme, "GET", "/v1/data/Shipment?carrier.gte=a&order_by=-carrier", want=200)
        c(self.acme, "GET", "/v1/data/Shipment?nosuch=1", want=400)
        c(self.acme, "POST", "/v1/data/Shipment", dict(shipment(3), weightKg=-1), want=422)
        c(self.globex, "PATCH", "/v1/data/Shipment/SHP-000001", {"status": "picked_up"},
          {"If-Match": '"1"', "Content-Type": "application/merge-patch+json"}, want=200)
        c(self.globex, "PATCH", "/v1/data/Shipment/SHP-000001", {"status": "lost"},
          {"If-Match": '"1"'}, want=412)
        c(self.acme, "PUT", "/v1/data/Shipment/SHP-000002", shipment(2, "in_transit"), want=200)
        c(self.acme, "DELETE", "/v1/data/Shipment/SHP-000002", want=200)
        _, _, h = c(self.acme, "GET", "/v1/data/Shipment/SHP-000002/history", want=200)
        self.assertTrue(h["versions"][-1].get("_deleted"))
        _, hdr, acc = c(self.acme, "POST", "/v1/data/Shipment", shipment(4),
                        {"Prefer": "wait=none"}, want=202)
        self.assertEqual(hdr.get("location"), "/v1/tx/" + acc["tx"])
        harness.wait_for(lambda: self.acme.http("GET", "/v1/tx/" + acc["tx"])[0] == 200, 10,
                         "the wait=none tx is in a block")
        c(self.acme, "GET", "/v1/tx/" + acc["tx"], want=200)
        c(self.acme, "POST", "/v1/tx", {"ops": [{"op": "create", "type": "Shipment",
                                                 "body": shipment(5)}]}, want=201)

    def test_ledger_and_operations(self):
        c = self.check
        _, _, head = c(self.initech, "GET", "/v1/ledger/head", want=200)
        c(self.initech, "GET", "/v1/ledger/blocks/1", want=200)
        c(self.initech, "GET", "/v1/ledger/blocks/999999", want=404)
        c(self.initech, "GET", "/v1/members", want=200)
        c(self.initech, "GET", "/healthz", want=200)
        c(self.initech, "GET", "/readyz", want=200)
        c(self.initech, "GET", "/v1/schema", want=200)
        if head["tree_size"] >= 1:
            c(self.initech, "GET", "/v1/ledger/proofs/consistency?first=1", want=200)
        st, _, first = self.acme.http("POST", "/v1/data/Shipment", shipment(7))
        self.assertEqual(st, 201, first)
        c(self.acme, "GET", "/v1/ledger/proofs/inclusion?tx=" + first["_tx"], want=200)
        c(self.acme, "GET", "/v1/tx/" + first["_tx"], want=200)
        c(self.acme, "GET", "/v1/tx/" + "0" * 32, want=404)

    def test_governance_and_auth(self):
        c = self.check
        with open(os.path.join(os.path.dirname(SCHEMA), "supply-chain-breaking.json")) as f:
            breaking = json.load(f)
        _, _, p = c(self.acme, "POST", "/v1/schema/proposals", {"schema": breaking}, want=422)
        self.assertTrue(p["errors"] and all("rule" in e for e in p["errors"]), p)
        c(self.acme, "GET", "/v1/data/Shipment/SHP-000001",
          headers={"Authorization": "Bearer trk_0000000000000000_" + "0" * 64}, want=401)

    def test_check_can_fail(self):
        rec = self.doc["components"]["schemas"]["ShipmentRecord"]
        bad = dict(shipment(1), _key="SHP-000001", _version=0, _owner="acme", _tx="x",
                   _height=1, _updated_at="2026-01-01T00:00:00Z")
        self.assertTrue(list(self.validator(rec).iter_errors(bad)))
        problem = self.doc["components"]["schemas"]["ValidationProblem"]
        self.assertTrue(list(self.validator(problem).iter_errors(
            {"type": "about:blank", "title": "x", "status": 422})))  # no errors array


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
