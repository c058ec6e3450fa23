"""test_store_damage.py — damage to a stopped node's LMDB store is detected: at the node's start-up
(`store.check_blocks`, the latest blocks' chain) or by `treaty audit verify --store DIR`.

  python3 test_store_damage.py TREATY_BINARY SCHEMA [test names...]

A 3-org network (one block per write, a checkpoint every 32 blocks) gets about 300 blocks; then
initech's node is stopped and its store kept as it was. Each test damages a fresh copy of it —
the file truncated, a block deleted, two blocks swapped, and STORE_FLIPS (default 60) single-bit
flips in stored values (block headers, Merkle leaves, checkpoints, made through LMDB by
treaty-damage so the file stays well-formed; raft entries, in the log file raft.log, whose record
checksum then fails) — and checks that `verify --store` fails at
the right height and, where the damage is in what start-up checks, that the node refuses to
start with a sentence naming it. It also rewrites a copy as a store from before the log file
(the Raft log in LMDB): `verify --store` reads it without writing, and the node's start moves
the log.
"""
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_audit as ta  # noqa: E402  (the export reader)

TREATY = SCHEMA = None
ORGS = ["acme", "globex", "initech"]
BLOCKS = int(os.environ.get("STORE_BLOCKS", "300"))
FLIPS = int(os.environ.get("STORE_FLIPS", "60"))
SEED = int(os.environ.get("STORE_SEED", str(random.randrange(1 << 30))))


class StoreDamage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        print("STORE_SEED=%d STORE_BLOCKS=%d STORE_FLIPS=%d" % (SEED, BLOCKS, FLIPS),
              file=sys.stderr)
        cls.damage = os.environ.get("TREATY_DAMAGE")
        if not cls.damage or not os.access(cls.damage, os.X_OK):
            raise RuntimeError("TREATY_DAMAGE must name the treaty-damage binary (got %r)"
                               % cls.damage)
        cls.net = harness.Network(TREATY, SCHEMA, ORGS, checkpoint_blocks=32,
                                  batch={"max_txs": 1, "max_delay_ms": 0})
        cls.net.start()
        acme = cls.net.nodes[0]
        i = 0
        while acme.head()["height"] < BLOCKS:
            st, _, body = acme.http("POST", "/v1/data/Shipment", ta.shipment(i),
                                    {"Prefer": "wait=none"}, timeout=30)
            if st not in (201, 202):
                raise RuntimeError("write failed: %d %r" % (st, body))
            i += 1
        harness.wait_for(lambda: len(acme.http("GET", "/v1/ledger/checkpoints/latest")[2]
                                     .get("cosigners", [])) == 3, 30, "3 cosigners")
        cls.net.wait_converged(timeout=60)
        cls.node = cls.net.nodes[2]
        code = cls.node.stop()
        if code != 0:
            raise RuntimeError("initech stopped with %r" % code)
        cls.data = os.path.join(cls.node.dir, "data")
        cls.pristine = os.path.join(cls.net.root, "initech-data-pristine")
        shutil.copytree(cls.data, cls.pristine)
        p = subprocess.run([TREATY, "audit", "verify", "--store", cls.node.dir, "--json"],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("verify --store of the untouched store: %s %s" % (p.stdout,
                                                                                 p.stderr))
        cls.height = json.loads(p.stdout)["blocks"]
        # the same blocks from acme, which runs on (identical bytes up to initech's height)
        export_path = os.path.join(cls.net.root, "initech.export")
        p = subprocess.run([TREATY, "audit", "export", "--node", "http://127.0.0.1:%d" %
                            acme.api_port, "--key", acme.api_key, "--out", export_path,
                            "--to", str(cls.height)], capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("export failed: " + p.stderr)
        with open(export_path, "rb") as f:
            cls.ex = ta.Export(f.read())
        # leaf index -> height, and the checkpoint heights, from the export
        cls.leaf_height = []
        for h, b in enumerate(cls.ex.blocks, start=1):
            cls.leaf_height += [h] * sum(1 for f, _, _ in b if f == 5)
        cls.ckpts = [ta.pb_get(ta.pb_fields(ta.pb_get(c, 1)), 2) for c in cls.ex.ckpts]

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    def fresh(self):
        shutil.rmtree(self.data)
        shutil.copytree(self.pristine, self.data)

    def hurt(self, *args):
        p = subprocess.run([self.damage, self.data] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)

    def verify_store(self):
        p = subprocess.run([TREATY, "audit", "verify", "--store", self.node.dir, "--json"],
                           capture_output=True, text=True, timeout=120)
        self.assertNotIn(p.returncode, (-7, -11), "verify --store crashed: " + p.stderr)
        rep = json.loads(p.stdout) if p.stdout.strip() else None
        return p.returncode, rep, p.stderr

    def start_refused(self):
        """Starts initech's node on the damaged store: it must exit non-zero within 15 s.
        Returns its log."""
        log = os.path.join(self.net.root, "damaged-start.log")
        with open(log, "wb") as out:
            proc = subprocess.Popen([TREATY, "node", "--dir", self.node.dir], stdout=out,
                                    stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=20)
            code = None
        with open(log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        self.assertIsNotNone(code, "the node started on a damaged store:\n" + text[-2000:])
        self.assertNotIn(code, (0, -7, -11), "exit %r:\n%s" % (code, text[-2000:]))
        return text

    def set_check_blocks(self, n):
        """Sets store.check_blocks in initech's node.json (None: removes it)."""
        path = os.path.join(self.node.dir, "node.json")
        with open(path) as f:
            cfg = json.load(f)
        store = cfg.setdefault("store", {})
        if n is None:
            store.pop("check_blocks", None)
        else:
            store["check_blocks"] = n
        with open(path, "w") as f:
            json.dump(cfg, f)

    def starts(self):
        """Starts initech's node: it must answer /healthz within 15 s; then stops it (exit 0)."""
        def serving():
            if not self.node.alive():
                raise AssertionError("initech's node exited:\n" + self.node.log_tail())
            try:
                return harness.http(self.node.api_port, "GET", "/healthz", timeout=1.0)[0] == 200
            except OSError:
                return False

        self.node.start()
        try:
            harness.wait_for(serving, 15, "initech's node serving")
        finally:
            self.assertEqual(self.node.stop(), 0)

    def expect(self, rep, heights, whats=None):
        self.assertIsNotNone(rep)
        self.assertFalse(rep["ok"], rep)
        self.assertIn(rep["failure"]["height"], heights, rep["failure"])
        if whats:
            self.assertIn(rep["failure"]["what"], whats, rep["failure"])

    def test_0_untouched_store_verifies(self):
        self.fresh()
        rc, rep, err = self.verify_store()
        self.assertEqual(rc, 0, (rep, err))
        self.assertEqual(rep["blocks"], self.height)
        self.assertEqual(rep["confirmed_height"], self.ckpts[-1], rep)
        self.assertEqual(len(rep["checkpoints"]), len(self.ckpts))
        # the store was only read: still byte-identical in what verify sees
        rc2, rep2, _ = self.verify_store()
        self.assertEqual((rc2, rep2), (rc, rep))
        # and byte-identical on disk, also with a torn write at the log's end, which the node's
        # start would cut (lock.mdb is LMDB's reader table, not data)
        with open(os.path.join(self.data, "raft.log"), "ab") as f:
            f.write(b"\x40\x00\x00\x00torn")
        before = self.files()
        rc3, rep3, err = self.verify_store()
        self.assertEqual((rc3, rep3), (rc, rep), err)
        self.assertEqual(self.files(), before)

    def files(self):
        out = {}
        for name in sorted(os.listdir(self.data)):
            if name != "lock.mdb":
                with open(os.path.join(self.data, name), "rb") as f:
                    out[name] = hashlib.sha256(f.read()).hexdigest()
        return out

    def test_1_truncated_file(self):
        self.fresh()
        path = os.path.join(self.data, "data.mdb")
        os.truncate(path, os.path.getsize(path) // 2)
        rc, rep, err = self.verify_store()
        self.assertEqual(rc, 1, (rep, err))
        self.assertEqual(rep["failure"]["what"], "store", rep)
        self.assertIn("truncated", rep["failure"]["why"])
        log = self.start_refused()
        self.assertIn("store damaged", log)
        self.assertIn("truncated", log)

    def test_2_deleted_block(self):
        self.fresh()
        h = self.height // 2
        self.hurt("delete-block", h)
        rc, rep, err = self.verify_store()
        self.assertEqual(rc, 1, (rep, err))
        self.expect(rep, (h, h + 1))
        log = self.start_refused()
        self.assertRegex(log, r"store damaged at block (%d|%d): " % (h, h + 1))

    def test_3_swapped_blocks(self):
        self.fresh()
        h = self.height // 3
        self.hurt("swap-blocks", h, h + 1)
        rc, rep, err = self.verify_store()
        self.assertEqual(rc, 1, (rep, err))
        self.expect(rep, (h,), ("sequence", "hash-chain"))
        log = self.start_refused()
        self.assertIn("store damaged at block %d: " % h, log)
        # store.check_blocks at its edges: a window that just reaches the swap (its first block's
        # link to the one below is checked) refuses; one that stops short of it, or 0, starts
        try:
            self.set_check_blocks(self.height - h)  # blocks h+1..head, and h read for the link
            self.assertRegex(self.start_refused(), r"store damaged at block (%d|%d): " % (h, h + 1))
            self.set_check_blocks(self.height - h - 2)  # h+3..head, h+2 read: misses the swap
            self.starts()
            self.fresh()
            self.hurt("swap-blocks", h, h + 1)
            self.set_check_blocks(0)
            self.starts()
        finally:
            self.set_check_blocks(None)

    def test_4_bit_flips(self):
        rng = random.Random(SEED)
        kinds = ["l_blocks", "log", "l_leaves", "l_ckpt"]
        misses, starts = [], 0
        for k in range(FLIPS):
            db = kinds[k % len(kinds)]
            if db == "l_leaves":
                key = rng.randrange(len(self.leaf_height))
                want = (self.leaf_height[key],)
            elif db == "l_ckpt":
                key = rng.choice(self.ckpts)
                want = (key,)
            else:
                key = rng.randrange(1, self.height + 1)
                want = (key, key + 1)
            # a raft log value is 8 bytes of term, 1 of type, then the entry data: the term is
            # Raft's bookkeeping, outside every ledger hash, so flips go to type and data
            off, bit = rng.randrange(1 << 20), rng.randrange(8)
            self.fresh()
            self.hurt("flip", db, key, off, bit, 8 if db == "log" else 0)
            rc, rep, err = self.verify_store()
            if rc != 1 or rep["ok"] or rep["failure"]["height"] not in want:
                misses.append((db, key, off, bit, rc, rep and rep.get("failure"), err[-300:]))
                continue
            if db in ("l_blocks", "log") and starts < 8:  # start-up checks these
                starts += 1
                log = self.start_refused()
                self.assertRegex(log, r"store damaged at block (%d|%d): " % (key, key + 1))
        self.assertEqual(misses, [], "seed %d: undetected or misplaced flips" % SEED)
        self.assertGreater(starts, 0)

    def test_5_store_from_before_the_log_file(self):
        """A store as written before the log file (its Raft log in LMDB) verifies read-only with
        the same report, unchanged on disk; the node's start then moves the log and serves."""
        self.fresh()
        rc, rep, err = self.verify_store()
        self.assertEqual(rc, 0, (rep, err))
        self.hurt("old-layout")
        self.assertFalse(os.path.exists(os.path.join(self.data, "raft.log")))
        before = self.files()
        rc2, rep2, err2 = self.verify_store()
        self.assertEqual((rc2, rep2), (rc, rep), err2)
        self.assertEqual(self.files(), before)
        self.starts()
        self.assertIn("event=store_log_moved", self.node.log_tail(200))
        self.assertTrue(os.path.exists(os.path.join(self.data, "raft.log")))
        self.fresh()


def main():
    global TREATY, SCHEMA
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    ta.TREATY, ta.SCHEMA = TREATY, SCHEMA
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)


if __name__ == "__main__":
    main()
