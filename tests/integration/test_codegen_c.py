"""test_codegen_c.py — the C client `treaty codegen c` writes, against a running network.

  python3 test_codegen_c.py TREATY_BINARY SCHEMA [test names...]

Generates the client for the sample schema, compiles it with the system C compiler (CC, else cc;
-Wall -Wextra -Werror) together with codegen_client.c and links libcurl and jansson, then runs it
against acme's node of a 3-org network: create, get, merge-patch, a stale If-Match (412), a list
by an indexed field, a schema violation (422 with both violations), a missing record (404),
history and delete, all through the generated typed functions. Also: the generator refuses a
schema it cannot load (exit 2) and a missing --out value (exit 2).
"""
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TREATY = SCHEMA = None
HERE = os.path.dirname(os.path.abspath(__file__))


def pkg_flags():
    p = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl", "jansson"],
                       capture_output=True, text=True, check=True)
    return shlex.split(p.stdout)


class CodegenCTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="treaty-codegen-c-")
        self.net = None

    def tearDown(self):
        if self.net is not None:
            if harness.failed(self):
                print(self.net.logs(), file=sys.stderr)
            self.net.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def generate_and_compile(self):
        out = os.path.join(self.tmp, "gen")
        p = subprocess.run([TREATY, "codegen", "c", "--schema", SCHEMA, "--out", out],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        for name in ("treaty_client.h", "treaty_client.c"):
            self.assertTrue(os.path.getsize(os.path.join(out, name)) > 1000, name)
        exe = os.path.join(self.tmp, "client")
        cc = os.environ.get("CC") or "cc"
        cmd = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", out,
               os.path.join(HERE, "codegen_client.c"), os.path.join(out, "treaty_client.c"),
               "-o", exe] + pkg_flags()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, "%s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
        return exe

    def test_generated_client_drives_network(self):
        exe = self.generate_and_compile()
        self.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"])
        self.net.start()
        acme = self.net.nodes[0]
        key = getattr(acme, "api_key", None) or ""
        url = "http://127.0.0.1:%d" % acme.api_port
        p = subprocess.run([exe, url, key, "1"], capture_output=True, text=True, timeout=120)
        print(p.stdout, end="")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("0 failed", p.stdout)
        # What the client wrote is on every node.
        self.net.wait_converged()
        for n in self.net.nodes:
            st, _, body = n.http("GET", "/v1/data/Shipment/SHP-00000001/history")
            self.assertEqual(st, 200, body)
            self.assertEqual(len(body["versions"]), 3, body)  # create, patch, delete

    def test_refusals(self):
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"type": "object", "properties": {"T": {"type": "array", "items": '
                    '{"type": "object"}}}}')
        p = subprocess.run([TREATY, "codegen", "c", "--schema", bad, "--out", self.tmp],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("x-treaty-key", p.stderr)
        p = subprocess.run([TREATY, "codegen", "c", "--schema", SCHEMA, "--out"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--out expects a value", p.stderr)
        p = subprocess.run([TREATY, "codegen", "java", "--schema", SCHEMA, "--out", self.tmp],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
