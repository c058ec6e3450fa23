"""test_audit_proof.py — `treaty audit checkpoint`, `prove` and `check-proof` on real nodes.

  python3 test_audit_proof.py TREATY_BINARY SCHEMA [test names...]

A 3-org network (a checkpoint every 8 blocks, one write per block) gets a few writes; a tx is
proved against the latest cosigned checkpoint and the proof checked offline against a checkpoint
file; then single-bit flips in the leaf, the path, the root and a cosignature, a checkpoint of
another network and a forked checkpoint are each refused with the right reason; and a proof
against a later checkpoint holds against an earlier trusted one only with its consistency proof.
"""
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TREATY = SCHEMA = None
ORGS = ["acme", "globex", "initech"]
EVERY = 8


def shipment(i):
    return {"shipmentId": "SHP-%06d" % (900000 + i), "origin": "Rotterdam", "destination": "Chicago",
            "carrier": "globex", "status": "created", "weightKg": 10 + i}


def flip_hex(s, bit=0):
    """The hex string s with one bit of its first byte flipped."""
    b = bytearray(bytes.fromhex(s))
    b[len(b) // 2] ^= 1 << bit
    return b.hex()


class AuditProofTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.net = harness.Network(TREATY, SCHEMA, ORGS, checkpoint_blocks=EVERY,
                                  batch={"max_txs": 1, "max_delay_ms": 0})
        cls.tmp = tempfile.mkdtemp(prefix="treaty-audit-proof-")
        try:  # tearDownClass does not run when setUpClass fails
            cls.net.start()
            cls.n = 0
            cls.txs = cls.write(EVERY * 2)
            cls.reader = cls.net.nodes[1].apikey("reader", "auditor")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def write(cls, count):
        acme, out = cls.net.nodes[0], []
        for _ in range(count):
            st, _, body = acme.http("POST", "/v1/data/Shipment", shipment(cls.n), timeout=30)
            cls.n += 1
            if st != 201:
                raise RuntimeError("write: %s %r" % (st, body))
            out.append(body.get("tx") or body["_tx"])
        return out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        cls.net.close()

    def treaty(self, *args):
        p = subprocess.run([TREATY, "audit"] + list(args), capture_output=True, text=True,
                           timeout=60)
        return p.returncode, p.stdout, p.stderr

    def path(self, name):
        return os.path.join(self.tmp, name)

    def node_args(self, node=None):
        node = node or self.net.nodes[1]
        return ["--node", "http://127.0.0.1:%d" % node.api_port, "--key", self.reader]

    def cosigned(self):
        """Waits until the latest checkpoint carries 3 cosignatures (best effort)."""
        node = self.net.nodes[1]
        try:
            harness.wait_for(lambda: len(node.http("GET", "/v1/ledger/checkpoints/latest")[2]
                                         .get("cosigners", [])) == 3, 15, "3 cosigners")
        except AssertionError:
            pass

    def checkpoint(self, name):
        self.cosigned()
        rc, out, err = self.treaty("checkpoint", *self.node_args(), "--out", self.path(name))
        self.assertEqual(rc, 0, err)
        with open(self.path(name)) as f:
            return json.load(f)

    def prove(self, tx, name, since=None):
        args = ["prove", *self.node_args(), "--tx", tx, "--out", self.path(name)]
        if since:
            args += ["--since", self.path(since)]
        rc, out, err = self.treaty(*args)
        self.assertEqual(rc, 0, err)
        with open(self.path(name)) as f:
            return json.load(f)

    def check(self, proof, ckpt="c1.json"):
        with open(self.path("try.json"), "w") as f:
            json.dump(proof, f)
        return self.treaty("check-proof", self.path("try.json"), "--checkpoint", self.path(ckpt))

    def expect_fail(self, proof, what, ckpt="c1.json"):
        rc, out, err = self.check(proof, ckpt)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("FAILED: %s:" % what, out)

    def base(self):
        if not hasattr(AuditProofTest, "_base"):
            c = self.checkpoint("c1.json")
            AuditProofTest._base = (c, self.prove(self.txs[1], "p1.json"))
        return AuditProofTest._base

    def test_1_prove_and_check(self):
        c, p = self.base()
        self.assertEqual(p["checkpoint"]["height"], c["height"])
        self.assertEqual(p["tree_size"], c["tree_size"])
        self.assertEqual(len(c["members"]), 3)
        rc, out, err = self.check(p)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("ok: tx %s is leaf" % self.txs[1], out)

    def test_2_flipped_bits(self):
        c, p = self.base()
        q = copy.deepcopy(p)
        q["leaf"] = flip_hex(q["leaf"], 3)
        rc, out, _ = self.check(q)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"FAILED: (inclusion|leaf):")
        q = copy.deepcopy(p)
        self.assertTrue(q["inclusion_path"])
        q["inclusion_path"][0] = flip_hex(q["inclusion_path"][0])
        self.expect_fail(q, "inclusion")
        q = copy.deepcopy(p)
        q["root"] = flip_hex(q["root"])
        self.expect_fail(q, "root")
        q = copy.deepcopy(p)
        q["checkpoint"]["root"] = flip_hex(q["checkpoint"]["root"])
        self.expect_fail(q, "checkpoint")
        q = copy.deepcopy(p)
        self.assertTrue(q["checkpoint"]["cosignatures"])
        s = q["checkpoint"]["cosignatures"][0]
        s["signature"] = flip_hex(s["signature"], 5)
        self.expect_fail(q, "cosignature")
        q = copy.deepcopy(p)
        q["leaf_index"] += 1
        self.expect_fail(q, "inclusion")

    def test_3_other_network_and_fork(self):
        c, p = self.base()
        other = copy.deepcopy(c)
        other["network_id"] = flip_hex(other["network_id"])
        with open(self.path("other.json"), "w") as f:
            json.dump(other, f)
        self.expect_fail(p, "network", "other.json")
        fork = copy.deepcopy(c)
        fork["root"] = flip_hex(fork["root"])
        with open(self.path("fork.json"), "w") as f:
            json.dump(fork, f)
        self.expect_fail(p, "checkpoint", "fork.json")
        # A checkpoint whose member key is not the signer's: the cosignatures do not verify.
        keys = copy.deepcopy(c)
        for m in keys["members"]:
            m["public_key"] = flip_hex(m["public_key"])
        with open(self.path("keys.json"), "w") as f:
            json.dump(keys, f)
        self.expect_fail(p, "cosignature", "keys.json")
        rc, out, err = self.treaty("check-proof", self.path("p1.json"), "--checkpoint",
                                   self.path("p1.json"))
        self.assertEqual(rc, 2, out + err)

    def test_4_later_checkpoint_needs_consistency(self):
        c, p = self.base()
        self.write(EVERY + 1)
        self.net.wait_converged(timeout=30)
        self.cosigned()
        later = self.prove(self.txs[1], "p2.json")
        self.assertGreater(later["checkpoint"]["height"], c["height"])
        self.expect_fail(later, "consistency")
        cons = self.prove(self.txs[1], "p3.json", since="c1.json")
        self.assertEqual(cons["consistency"]["from_tree_size"], c["tree_size"])
        rc, out, err = self.check(cons)
        self.assertEqual(rc, 0, out + err)
        q = copy.deepcopy(cons)
        self.assertTrue(q["consistency"]["proof"])
        q["consistency"]["proof"][0] = flip_hex(q["consistency"]["proof"][0])
        self.expect_fail(q, "consistency")
        # An older proof against a newer trusted checkpoint: prove again.
        self.checkpoint("c2.json")
        self.expect_fail(p, "checkpoint", "c2.json")

    def verify(self, export, trust):
        p = subprocess.run([TREATY, "audit", "verify", self.path(export), "--trust",
                            self.path(trust), "--json"], capture_output=True, text=True,
                           timeout=60)
        return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr

    def test_5_verify_trust(self):
        c, _ = self.base()
        h = c["height"]
        rc, out, err = self.treaty("export", *self.node_args(), "--out", self.path("all.export"))
        self.assertEqual(rc, 0, err)
        rc, rep, err = self.verify("all.export", "c1.json")
        self.assertEqual(rc, 0, err)
        self.assertTrue(rep["ok"])
        self.assertEqual(rep["trusted_checkpoint"]["height"], h)
        self.assertEqual(rep["trusted_checkpoint"]["tree_size"], c["tree_size"])
        for field, height in (("root", h), ("block_hash", h), ("network_id", 0)):
            bad = copy.deepcopy(c)
            bad[field] = flip_hex(bad[field])
            with open(self.path("bad.json"), "w") as f:
                json.dump(bad, f)
            rc, rep, err = self.verify("all.export", "bad.json")
            self.assertEqual(rc, 1, (field, rep, err))
            self.assertEqual(rep["failure"]["what"], "trust")
            self.assertEqual(rep["failure"]["height"], height)
            self.assertIn("inconsistent with trusted checkpoint", rep["failure"]["why"])
        rc, out, err = self.treaty("export", *self.node_args(), "--out", self.path("short.export"),
                                   "--to", str(h - 1))
        self.assertEqual(rc, 0, err)
        rc, rep, err = self.verify("short.export", "c1.json")
        self.assertEqual(rc, 1, (rep, err))
        self.assertEqual(rep["failure"]["what"], "trust")
        rc, rep, err = self.verify("all.export", "p1.json")
        self.assertEqual(rc, 2, err)

    def test_7_record_versions(self):
        """A proof of a record version carries the tx that wrote it: check-proof shows the op,
        and a changed version, key or tx byte fails with "record"."""
        acme = self.net.nodes[0]
        key = shipment(3)["shipmentId"]
        st, _, body = acme.http("PATCH", "/v1/data/Shipment/" + key, {"status": "picked_up"},
                                {"If-Match": '"1"', "Content-Type": "application/merge-patch+json"},
                                timeout=30)
        self.assertEqual(st, 200, body)
        st, _, body = acme.http("PATCH", "/v1/data/Shipment/" + key, {"status": "in_transit"},
                                {"Content-Type": "application/merge-patch+json"}, timeout=30)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["_version"], 3)
        # a version not yet under a checkpoint cannot be proved yet
        rc, out, err = self.treaty("prove", *self.node_args(), "--record", "Shipment/" + key,
                                   "--out", self.path("early.json"))
        if rc == 2:
            self.assertIn("not yet in the tree", err)
        self.write(EVERY)  # past the next checkpoint
        self.checkpoint("c7.json")

        def prove(version):
            args = ["prove", *self.node_args(), "--record", "Shipment/" + key, "--out",
                    self.path("r%s.json" % version)]
            if version:
                args += ["--version", str(version)]
            rc, out, err = self.treaty(*args)
            self.assertEqual(rc, 0, err)
            with open(self.path("r%s.json" % version)) as f:
                return json.load(f)

        for version, op, by_op in ((1, "CREATE", True), (2, "PATCH", True), (3, "PATCH", False),
                                   (None, "PATCH", False)):
            p = prove(version)
            self.assertEqual(p["record"]["version"], version or 3)
            rc, out, err = self.check(p, "c7.json")
            self.assertEqual(rc, 0, out + err)
            self.assertIn("ok: record Shipment/%s version %d" % (key, version or 3), out)
            self.assertIn("was written by %s of tx %s of org acme" % (op, p["tx"]), out)
            self.assertEqual("as the node counts it" not in out, by_op, out)
        p = prove(2)
        q = copy.deepcopy(p)
        q["record"]["version"] = 3
        self.expect_fail(q, "record", "c7.json")
        q = copy.deepcopy(p)
        q["record"]["key"] = shipment(4)["shipmentId"]
        self.expect_fail(q, "record", "c7.json")
        q = copy.deepcopy(p)
        q["record"]["tx"] = flip_hex(q["record"]["tx"])
        self.expect_fail(q, "record", "c7.json")
        for bad in (["--record", "Shipment"], ["--record", "Shipment/" + key, "--tx", p["tx"]],
                    ["--tx", p["tx"], "--version", "2"], ["--record", "Shipment/x",
                                                          "--version", "0"]):
            rc, out, err = self.treaty("prove", *self.node_args(), *bad, "--out",
                                       self.path("bad.json"))
            self.assertEqual(rc, 2, (bad, err))
        rc, out, err = self.treaty("prove", *self.node_args(), "--record", "Shipment/NOPE-1",
                                   "--out", self.path("bad.json"))
        self.assertEqual(rc, 2, err)
        self.assertIn("404", err)

    def test_8_cosign_after_restart(self):
        """Checkpoints made while initech's node was down get its cosignature once it is back:
        a node sends again any of its cosignatures of the latest checkpoints the ledger lacks."""
        acme, initech = self.net.nodes[0], self.net.nodes[2]
        self.assertEqual(initech.stop(), 0)
        start = acme.head()["height"]
        self.write(EVERY * 3)
        st, _, cps = acme.http("GET", "/v1/ledger/checkpoints/latest")
        self.assertEqual(st, 200, cps)
        self.assertGreater(cps["height"], start)
        heights = [h for h in range(start + 1, cps["height"] + 1) if h % EVERY == 0]
        self.assertGreaterEqual(len(heights), 2, heights)
        initech.start()

        def signers():
            out = os.path.join(self.tmp, "cosign.export")
            p = subprocess.run([TREATY, "audit", "export", *self.node_args(), "--out", out,
                                "--to", str(cps["height"])], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = subprocess.run([TREATY, "audit", "verify", out, "--json"], capture_output=True,
                               text=True, timeout=60)
            rep = json.loads(p.stdout)
            return {c["height"]: c["signers"] for c in rep["checkpoints"]}

        harness.wait_for(lambda: all(signers().get(h) == ORGS for h in heights), 30,
                         "initech's cosignatures of the checkpoints made while it was down")

    def test_6_checkpoint_from_export(self):
        c, p = self.base()
        h = c["height"]
        rc, out, err = self.treaty("export", *self.node_args(), "--out", self.path("e6.export"))
        self.assertEqual(rc, 0, err)
        rc, out, err = self.treaty("checkpoint", "--export", self.path("e6.export"), "--height",
                                   str(h), "--out", self.path("cx.json"))
        self.assertEqual(rc, 0, out + err)
        with open(self.path("cx.json")) as f:
            cx = json.load(f)
        for k in ("network_id", "height", "tree_size", "root", "block_hash"):
            self.assertEqual(cx[k], c[k], k)
        self.assertEqual(sorted((m["org"], m["public_key"]) for m in cx["members"]),
                         sorted((m["org"], m["public_key"]) for m in c["members"]))
        self.assertTrue(cx["cosignatures"])
        rc, out, err = self.treaty("check-proof", self.path("p1.json"), "--checkpoint",
                                   self.path("cx.json"))
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.treaty("checkpoint", "--export", self.path("e6.export"), "--out",
                                   self.path("last.json"))
        self.assertEqual(rc, 0, out + err)
        with open(self.path("last.json")) as f:
            self.assertGreaterEqual(json.load(f)["height"], h)
        rc, out, err = self.treaty("checkpoint", "--export", self.path("e6.export"), "--height",
                                   str(h + 1), "--out", self.path("none.json"))
        self.assertEqual(rc, 1, out + err)
        with open(self.path("e6.export"), "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0x10
        with open(self.path("bad6.export"), "wb") as f:
            f.write(data)
        rc, out, err = self.treaty("checkpoint", "--export", self.path("bad6.export"), "--out",
                                   self.path("bad6.json"))
        self.assertEqual(rc, 1, out + err)
        self.assertIn("does not verify", err)
        self.assertFalse(os.path.exists(self.path("bad6.json")))
        rc, out, err = self.treaty("checkpoint", "--export", self.path("e6.export"), "--node",
                                   "http://127.0.0.1:1", "--out", self.path("x.json"))
        self.assertEqual(rc, 2, out + err)


def main():
    global TREATY, SCHEMA
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)


if __name__ == "__main__":
    main()
