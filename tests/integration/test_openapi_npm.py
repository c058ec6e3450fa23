"""test_openapi_npm.py — the OpenAPI document with the npm tools, against a running network.

  python3 test_openapi_npm.py TREATY_BINARY SCHEMA NPM_DIR [test names...]

NPM_DIR holds node_modules installed by `npm ci` from tests/npm (the ctest fixture "npm").
On a 3-org network: every node serves the same GET /v1/openapi.json, byte for byte what
`treaty codegen openapi` writes for the schema; `redocly lint` (recommended rules,
tests/npm/redocly.yaml) finds no error in either; openapi-typescript turns the served document
into types, `tsc` compiles the typed client and its test against them (tests/npm/client*.ts, whose
@ts-expect-error lines must be type errors), and `node --test` runs it against acme's node:
a Shipment created and read back, and a 422 with its violations.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TREATY = SCHEMA = NPM_DIR = None
NPM_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "npm")


def tool(name):
    path = os.path.join(NPM_DIR, "node_modules", ".bin", name)
    if not os.path.exists(path):
        raise RuntimeError("%s is missing: run the npm-ci test (ctest -R npm-ci) first" % path)
    return path


def run(cmd, cwd=None, env=None, timeout=300):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


class OpenApiNpmTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"])
        cls.net.start()
        # Work under NPM_DIR, so that node resolves its node_modules and "type": "module".
        cls.work = tempfile.mkdtemp(prefix="openapi-", dir=NPM_DIR)

    @classmethod
    def tearDownClass(cls):
        cls.net.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def served(self, node):
        st, hdr, _ = node.http("GET", "/v1/openapi.json")
        self.assertEqual(st, 200)
        self.assertEqual(hdr.get("content-type"), "application/json")
        # the raw bytes, not the parsed JSON
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", node.api_port, timeout=10)
        key = getattr(node, "api_key", None)
        conn.request("GET", "/v1/openapi.json",
                     headers={"Authorization": "Bearer " + key} if key else {})
        raw = conn.getresponse().read()
        conn.close()
        return raw

    def test_1_served_equals_codegen_and_lints_clean(self):
        texts = [self.served(n) for n in self.net.nodes]
        self.assertEqual(len(set(texts)), 1, "the nodes serve different documents")
        served = os.path.join(self.work, "served.json")
        with open(served, "wb") as f:
            f.write(texts[0])
        out = os.path.join(self.work, "codegen")
        rc, log = run([TREATY, "codegen", "openapi", "--schema", SCHEMA, "--out", out])
        self.assertEqual(rc, 0, log)
        with open(os.path.join(out, "openapi.json"), "rb") as f:
            self.assertEqual(f.read(), texts[0], "codegen openapi differs from what nodes serve")
        rc, log = run([tool("redocly"), "lint", "--config", os.path.join(NPM_SRC, "redocly.yaml"),
                       "--format", "summary", served, os.path.join(out, "openapi.json")],
                      cwd=self.work)
        print(log)
        self.assertEqual(rc, 0, log)
        self.assertNotIn("error", log.lower().replace("0 errors", ""))

    def test_2_typescript_client(self):
        served = os.path.join(self.work, "ts-served.json")
        with open(served, "wb") as f:
            f.write(self.served(self.net.nodes[1]))
        ts = os.path.join(self.work, "ts")
        os.makedirs(ts)
        for name in ("client.ts", "client.test.ts", "tsconfig.json"):
            shutil.copy(os.path.join(NPM_SRC, name), ts)
        rc, log = run([tool("openapi-typescript"), served, "-o",
                       os.path.join(ts, "treaty-api.d.ts")], cwd=ts)
        self.assertEqual(rc, 0, log)
        rc, log = run([tool("tsc"), "-p", "tsconfig.json", "--noEmit"], cwd=ts)
        self.assertEqual(rc, 0, log)
        rc, log = run([tool("tsc"), "-p", "tsconfig.json"], cwd=ts)
        self.assertEqual(rc, 0, log)
        acme = self.net.nodes[0]
        env = dict(os.environ, TREATY_URL="http://127.0.0.1:%d" % acme.api_port,
                   TREATY_API_KEY=getattr(acme, "api_key", None) or "")
        rc, log = run(["node", "--test", os.path.join(ts, "out", "client.test.js")], cwd=ts,
                      env=env)
        print(log)
        self.assertEqual(rc, 0, log)
        self.assertIn("# pass 2", log)


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    NPM_DIR = os.path.abspath(sys.argv[3])
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
