"""test_audit.py — `treaty audit export` and `treaty audit verify` on real `treaty node` processes.

  python3 test_audit.py TREATY_BINARY SCHEMA [test names...]

A 3-org network with batch.max_txs 1 (every write its own block) gets AUDIT_BLOCKS (default 1000)
blocks. Covers: an export from each node of the same range is byte-identical and verifies (0
false positives); bad ranges are 400; a reader key may export; then tampering with the file —
single-bit flips at AUDIT_FLIPS (default 2000) sampled positions, a deleted block, two blocks
swapped, truncation, a replayed batch (the chain recomputed by a forger, so only the seq rule can
catch it), a forged cosignature, and a history forked by a minority (acme alone rewrites it from a
checkpoint on, keeping only its own batches and cosigning the new checkpoints with its real key) —
each detected, with the right height and reason.
"""
import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TREATY = SCHEMA = None
ORGS = ["acme", "globex", "initech"]
BLOCKS = int(os.environ.get("AUDIT_BLOCKS", "1000"))
FLIPS = int(os.environ.get("AUDIT_FLIPS", "2000"))
SEED = int(os.environ.get("AUDIT_SEED", str(random.randrange(1 << 30))))
WORKERS = max(1, min(4, os.cpu_count() or 1))


# ---- a minimal protobuf reader/writer: enough to take an export apart and rebuild it ----

def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def pb_fields(b):
    """[(field, wiretype, value)] in order; value is int (varint) or bytes (length-delimited)."""
    out, i = [], 0
    while i < len(b):
        key, i = read_varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 2:
            n, i = read_varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((f, wt, v))
    return out


def pb_encode(fields):
    out = bytearray()
    for f, wt, v in fields:
        out += varint(f << 3 | wt)
        out += varint(v) if wt == 0 else varint(len(v)) + v
    return bytes(out)


def pb_get(fields, f, default=None):
    for ff, _, v in fields:
        if ff == f:
            return v
    return default


def pb_set(fields, f, wt, v):
    """Sets field f (keeps field order; proto3: a default value is omitted)."""
    rest = [x for x in fields if x[0] != f]
    if (wt == 0 and v == 0) or (wt == 2 and len(v) == 0):
        return rest
    rest.append((f, wt, v))
    return sorted(rest, key=lambda x: x[0])


def records(data):
    """[(offset, record bytes)] of the length-delimited stream."""
    out, i = [], 0
    while i < len(data):
        n, j = read_varint(data, i)
        out.append((i, data[j:j + n]))
        i = j + n
    return out


def frame(rec):
    return varint(len(rec)) + rec


# ---- RFC 9162 and the ledger's hashes, for the forger ----

def leaf_hash(d):
    return hashlib.sha256(b"\x00" + d).digest()


def mth(hashes):
    """RFC 9162 §2.1.1 over leaf hashes."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hashes[:k]) + mth(hashes[k:])).digest()


def block_hash(hdr):
    return hashlib.sha256(b"treaty/block/v1\x00" + hdr).digest()


class Export:
    """An export taken apart: header, blocks [(header fields, block fields)], checkpoints, end."""

    def __init__(self, data):
        recs = [pb_fields(r) for _, r in records(data)]
        self.head = recs[0]
        self.blocks = [pb_fields(pb_get(r, 2)) for r in recs if pb_get(r, 2) is not None]
        self.ckpts = [pb_fields(pb_get(r, 3)) for r in recs if pb_get(r, 3) is not None]
        self.end = recs[-1]
        self.offsets = records(data)

    def height_of(self, i):
        return pb_get(pb_fields(pb_get(self.blocks[i], 1)), 1)

    def rechain(self):
        """Recomputes every header (batch hash, timestamp, root, size, prev hash), leaf index
        and checkpoint after an edit, as a forger without any org's key would."""
        prev, ts, all_leaves = b"\x00" * 32, 0, []
        hashes = {}
        for i, b in enumerate(self.blocks):
            hdr = pb_fields(pb_get(b, 1))
            data = pb_get(b, 3, b"")
            if pb_get(b, 2, 0) == 0:
                en = pb_fields(data)
                if pb_get(en, 2) is not None:
                    ts = max(ts, pb_get(en, 1, 0))
            b[:] = pb_set(b, 4, 0, len(all_leaves))
            all_leaves += [leaf_hash(v) for f, _, v in b if f == 5]
            hdr = pb_set(hdr, 3, 0, ts)
            hdr = pb_set(hdr, 4, 2, prev)
            hdr = pb_set(hdr, 5, 2, hashlib.sha256(data).digest())
            hdr = pb_set(hdr, 6, 2, mth(all_leaves))
            hdr = pb_set(hdr, 7, 0, len(all_leaves))
            hb = pb_encode(hdr)
            b[:] = pb_set(b, 1, 2, hb)
            prev = block_hash(hb)
            hashes[pb_get(hdr, 1)] = (prev, pb_get(hdr, 6), pb_get(hdr, 7, 0))
        self.hashes = hashes

    def bytes(self):
        out = frame(pb_encode(self.head))
        for b in self.blocks:
            out += frame(pb_encode([(2, 2, pb_encode(b))]))
        for c in self.ckpts:
            out += frame(pb_encode([(3, 2, pb_encode(c))]))
        return out + frame(pb_encode(self.end))


def shipment(i):
    return {"shipmentId": "SHP-%06d" % i, "origin": "Rotterdam", "destination": "Chicago",
            "carrier": "globex", "status": "created", "weightKg": 10 + i % 1000}


def signed_batches(data):
    """[(org, Batch bytes, signature)] of every block of an export that carries a batch."""
    out = []
    for b in Export(data).blocks:
        if pb_get(b, 2, 0) != 0:
            continue
        sb = pb_get(pb_fields(pb_get(b, 3, b"")), 2)
        if sb is not None:
            sb = pb_fields(sb)
            out.append((pb_get(sb, 1, b"").decode(), pb_get(sb, 2, b""), pb_get(sb, 3, b"")))
    return out


def ed25519_verify(tmp, public_key_hex, msg, sig):
    """Ed25519 (RFC 8032) verification by the openssl command, outside treaty's code."""
    der = bytes.fromhex("302a300506032b6570032100") + bytes.fromhex(public_key_hex)
    paths = [os.path.join(tmp, n) for n in ("pk.der", "msg.bin", "sig.bin")]
    for p, b in zip(paths, (der, msg, sig)):
        with open(p, "wb") as f:
            f.write(b)
    p = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey",
                        paths[0], "-rawin", "-in", paths[1], "-sigfile", paths[2]],
                       capture_output=True, text=True, timeout=30)
    return p.returncode == 0


def batch_signature_rules(tmp, data, nodes, limit=None):
    """For each batch of an export (the first `limit`): (verifies by rule v1, verifies by rule
    v2), the rules as docs/audit.md states them."""
    network_id = pb_get(pb_fields(pb_get(Export(data).head, 1)), 2)
    keys = {n.org: n.public_key for n in nodes}
    out = []
    for org, batch, sig in signed_batches(data)[:limit]:
        v1 = b"treaty/batch/v1\x00" + network_id + batch
        v2 = b"treaty/batch/v2\x00" + network_id + hashlib.sha256(batch).digest()
        out.append((ed25519_verify(tmp, keys[org], v1, sig), ed25519_verify(tmp, keys[org], v2, sig)))
    return out


def batch_of(block):
    """(org, [Tx fields]) of a block's batch, or None for a block without one."""
    if pb_get(block, 2, 0) != 0:
        return None
    sb = pb_get(pb_fields(pb_get(block, 3, b"")), 2)
    if sb is None:
        return None
    sb = pb_fields(sb)
    batch = pb_fields(pb_get(sb, 2, b""))
    return pb_get(sb, 1, b"").decode(), [pb_fields(v) for f, _, v in batch if f == 4]


class AuditTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        print("AUDIT_SEED=%d AUDIT_BLOCKS=%d AUDIT_FLIPS=%d" % (SEED, BLOCKS, FLIPS),
              file=sys.stderr)
        cls.net = harness.Network(TREATY, SCHEMA, ORGS, checkpoint_blocks=64,
                                  batch={"max_txs": 1, "max_delay_ms": 0})
        cls.net.start()
        cls.tmp = tempfile.mkdtemp(prefix="treaty-audit-")
        cls.fill(BLOCKS)
        cls.net.wait_converged(timeout=120)
        cls.reader = cls.net.nodes[1].apikey("reader", "auditor")

    @classmethod
    def fill(cls, blocks):
        """Writes shipments (one per block) from 4 threads until the head passes `blocks`."""
        acme = cls.net.nodes[0]
        counter = iter(range(10 ** 9))
        lock = threading.Lock()
        errors = []

        def worker():
            while not errors:
                with lock:
                    i = next(counter)
                if acme.head()["height"] >= blocks:
                    return
                st, _, body = acme.http("POST", "/v1/data/Shipment", shipment(i),
                                        {"Prefer": "wait=none"}, timeout=30)
                if st not in (201, 202):
                    errors.append((st, body))

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise RuntimeError("writes failed: %r" % errors[:3])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        cls.net.close()

    def export(self, node, to, key=None, name=None):
        out = os.path.join(self.tmp, name or ("%s.export" % node.org))
        p = subprocess.run([TREATY, "audit", "export", "--node", "http://127.0.0.1:%d" %
                            node.api_port, "--key", key or node.api_key, "--out", out,
                            "--from", "1", "--to", str(to)], capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out, "rb") as f:
            return f.read()

    def verify(self, data, name="check.export"):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        p = subprocess.run([TREATY, "audit", "verify", path, "--json"], capture_output=True,
                           text=True, timeout=300)
        rep = json.loads(p.stdout) if p.stdout.strip() else None
        return p.returncode, rep, p.stderr

    def last_checkpoint(self):
        """The height of the last checkpoint every node cosigned (so exports agree)."""
        cp = self.net.nodes[0].http("GET", "/v1/ledger/checkpoints/latest")[2]
        return cp["height"]

    def good_export(self):
        if not hasattr(AuditTest, "_good"):
            to = self.last_checkpoint()
            node = self.net.nodes[0]
            try:  # cosigning is best effort (a lost cosignature is not resent): wait a while
                harness.wait_for(lambda: len(node.http("GET", "/v1/ledger/checkpoints/latest")[2]
                                             .get("cosigners", [])) == 3, 20, "3 cosigners")
            except AssertionError:
                pass
            self.net.wait_converged(timeout=60)
            AuditTest._good = (to, self.export(self.net.nodes[0], to))
        return AuditTest._good

    def test_1_exports_identical_and_verify(self):
        to, data = self.good_export()
        self.assertGreaterEqual(to, min(BLOCKS, 64) - 64)
        for n in self.net.nodes[1:]:
            self.assertEqual(self.export(n, to), data, "export of %s differs" % n.org)
        rc, rep, err = self.verify(data)
        self.assertEqual(rc, 0, (rep, err))
        self.assertTrue(rep["ok"])
        self.assertEqual(rep["blocks"], to)
        self.assertGreater(len(rep["checkpoints"]), 0)
        # a network of today's genesis signs each batch's SHA-256, never the bytes themselves
        rules = batch_signature_rules(self.tmp, data, self.net.nodes, limit=20)
        self.assertEqual(len(rules), 20)
        self.assertEqual(set(rules), {(False, True)})
        # cosigning is best effort, so not every checkpoint need have a majority; most do
        full = [c for c in rep["checkpoints"] if c["signers"] == ORGS]
        self.assertGreater(len(full), len(rep["checkpoints"]) // 2, rep["checkpoints"])
        self.assertTrue(all(c["majority"] == (len(c["signers"]) >= 2) for c in rep["checkpoints"]))
        # the human form names the signers
        path = os.path.join(self.tmp, "good.export")
        with open(path, "wb") as f:
            f.write(data)
        p = subprocess.run([TREATY, "audit", "verify", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("signed by", p.stdout)

    def test_2_bad_ranges_and_reader_key(self):
        node = self.net.nodes[0]
        head = node.head()["height"]
        for q in ("from=0", "from=5&to=4", "to=%d" % (head + 1000), "from=x", "bogus=1"):
            st, _, body = node.http("GET", "/v1/ledger/export?" + q)
            self.assertEqual(st, 400, (q, body))
        data = self.export(self.net.nodes[1], 10, key=self.reader, name="reader.export")
        rc, rep, err = self.verify(data, "reader.export")
        self.assertEqual(rc, 0, (rep, err))
        self.assertEqual(rep["blocks"], 10)

    def expect_fail(self, data, height=None, what=None, name="bad.export"):
        rc, rep, err = self.verify(data, name)
        self.assertIn(rc, (1, 2), (rep, err))
        if rc == 1:
            self.assertFalse(rep["ok"])
            if height is not None:
                self.assertIn(rep["failure"]["height"], height if isinstance(height, tuple)
                              else (height,), rep)
            if what is not None:
                self.assertIn(rep["failure"]["what"], what if isinstance(what, tuple)
                              else (what,), rep)
        return rc, rep

    def test_3_deleted_swapped_truncated(self):
        to, data = self.good_export()
        ex = Export(data)
        h = len(ex.blocks) // 2
        del ex.blocks[h - 1]  # block h
        self.expect_fail(ex.bytes(), h, "sequence")
        ex = Export(data)
        ex.blocks[h - 1], ex.blocks[h] = ex.blocks[h], ex.blocks[h - 1]
        self.expect_fail(ex.bytes(), h, "sequence")
        off = Export(data).offsets[h][0]  # record h is block h (record 0 is the header)
        self.expect_fail(data[:off + 7], h, "truncated")
        self.expect_fail(data[:off], h, "truncated")
        self.expect_fail(data[:-3], None, ("truncated", "format", "checkpoint"))

    def test_4_bit_flips(self):
        to, data = self.good_export()
        rng = random.Random(SEED)
        starts = [o for o, _ in records(data)]
        flips = [(rng.randrange(len(data)), rng.randrange(8)) for _ in range(FLIPS)]

        def one(k):
            pos, bit = flips[k]
            bad = bytearray(data)
            bad[pos] ^= 1 << bit
            rc, rep, err = self.verify(bytes(bad), "flip-%d.export" % (k % WORKERS))
            if rc not in (1, 2):
                return (pos, bit, rc, rep)
            # the record the flip is in: 0 header, 1..to blocks, then checkpoints and the end
            r = max(i for i, s in enumerate(starts) if s <= pos)
            if rc == 1 and 1 <= r <= to:
                got = rep["failure"]["height"]
                if not (got == r or (got == r + 1 and rep["failure"]["what"] == "hash-chain")):
                    return (pos, bit, r, rep["failure"])
            return None

        misses = []
        for base in range(0, FLIPS, WORKERS):  # worker k % WORKERS owns its file
            with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
                misses += [m for m in ex.map(one, range(base, min(base + WORKERS, FLIPS))) if m]
        self.assertEqual(misses, [], "seed %d: undetected or misplaced flips" % SEED)

    def test_5_replayed_batch(self):
        """A forger re-proposes an already applied signed batch of acme in block h, claims its
        txs committed, and recomputes every hash after it: only the seq rule catches it."""
        to, data = self.good_export()
        ex = Export(data)
        n = len(ex.blocks)
        src = dst = None
        for i in range(n // 4, n // 2):
            b = ex.blocks[i]
            if any(f == 5 for f, _, _ in b) and pb_get(b, 2, 0) == 0:
                leaf = pb_fields([v for f, _, v in b if f == 5][0])
                if pb_get(leaf, 4) == b"acme" and pb_get(leaf, 7, 0) == 1:
                    src = i
                    break
        self.assertIsNotNone(src)
        for i in range(src + 10, n - 1):
            if any(f == 5 for f, _, _ in ex.blocks[i]):
                dst = i
                break
        h = dst + 1
        s = ex.blocks[src]
        new_leaves = []
        for f, _, v in s:
            if f == 5:
                lf = pb_set(pb_fields(v), 1, 0, h)
                new_leaves.append((5, 2, pb_encode(lf)))
        d = ex.blocks[dst]
        d[:] = [x for x in d if x[0] not in (3, 5)] + [(3, 2, pb_get(s, 3))] + new_leaves
        d.sort(key=lambda x: x[0])
        ex.rechain()
        self.expect_fail(ex.bytes(), h, "replay")

    def test_6_forged_cosignature(self):
        to, data = self.good_export()
        ex = Export(data)
        self.assertTrue(ex.ckpts)
        signed = [c for c in ex.ckpts if any(x[0] == 2 for x in c)]
        self.assertTrue(signed)
        c = signed[len(signed) // 2]
        cp_height = pb_get(pb_fields(pb_get(c, 1)), 2)
        sigs = [(i, x) for i, x in enumerate(c) if x[0] == 2]
        i, (_, wt, v) = sigs[0]
        sig = pb_fields(v)
        forged = bytes(random.Random(SEED).randrange(256) for _ in range(64))
        c[i] = (2, wt, pb_encode(pb_set(sig, 2, 2, forged)))
        self.expect_fail(ex.bytes(), cp_height, "cosignature")

    # acme, one org of three, rewrites history from height F: it keeps its own signed batches,
    # drops every other org's (and every Cosign), recomputes all hashes and roots, and cosigns the
    # forked checkpoints with its real key. Every signature in the fork is genuine, so only the
    # missing majority on its checkpoints can give it away.
    def test_8_minority_fork(self):
        forge = os.environ.get("TREATY_FORGE")
        if not forge or not os.access(forge, os.X_OK):
            raise RuntimeError("TREATY_FORGE must name the treaty-forge binary (got %r)" % forge)
        to, data = self.good_export()
        rc, rep, err = self.verify(data)
        self.assertEqual(rc, 0, (rep, err))
        self.assertEqual(rep["confirmed_height"], to, rep)  # every checkpoint has a majority
        ex = Export(data)
        heights = [pb_get(pb_fields(pb_get(c, 1)), 2) for c in ex.ckpts]
        self.assertGreaterEqual(len(heights), 4, heights)
        k1 = heights[len(heights) // 3]
        forked_ckpts = [h for h in heights if h > k1]
        acme = self.net.nodes[0]
        kept = 0
        for b in ex.blocks[k1:]:  # blocks k1+1 .. to
            got = batch_of(b)
            if got and got[0] == "acme" and not any(pb_get(t, 5) for t in got[1]):
                kept += 1
                continue
            if got:  # the block becomes an empty NORMAL entry: no batch, no leaves
                b[:] = [x for x in b if x[0] not in (3, 5)]
        self.assertGreater(kept, 0, "no acme batch after the fork point")
        ex.rechain()
        nid = pb_get(pb_fields(pb_get(ex.head, 1)), 2)
        def cosign(c, orgs):
            h = pb_get(pb_fields(pb_get(c, 1)), 2)
            bh, root, size = ex.hashes[h]
            cp = pb_encode([(1, 2, nid), (2, 0, h), (3, 0, size), (4, 2, root), (5, 2, bh)])
            c[:] = [(1, 2, cp)]
            for org in orgs:
                node = self.net.nodes[ORGS.index(org)]
                p = subprocess.run([forge, "--genesis", self.net.genesis, "--org", org, "--key",
                                    os.path.join(node.dir, "node.key"), "--sign-checkpoint",
                                    cp.hex()], capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
                sig = bytes.fromhex(p.stdout.split("signature=", 1)[1].strip())
                c.append((2, 2, pb_encode([(1, 2, org.encode()), (2, 2, sig)])))

        for c in ex.ckpts:
            if pb_get(pb_fields(pb_get(c, 1)), 2) > k1:
                cosign(c, ["acme"])
        # the whole fork: its first checkpoint is not the last, and has 1 cosigner of 3
        rc, rep = self.expect_fail(ex.bytes(), forked_ckpts[0], "confirmation")
        self.assertEqual(rc, 1, rep)
        self.assertIn("1 of its 3 members", rep["failure"]["why"])
        # cut right after the fork's first checkpoint: it holds, but is not confirmed past k1
        cut = Export(ex.bytes())
        cut.blocks = cut.blocks[:forked_ckpts[0]]
        cut.ckpts = [c for c in cut.ckpts
                     if pb_get(pb_fields(pb_get(c, 1)), 2) <= forked_ckpts[0]]
        cut.head = [(1, 2, pb_encode(pb_set(pb_fields(pb_get(cut.head, 1)), 5, 0,
                                            forked_ckpts[0])))]
        cut.end = [(4, 2, pb_encode(pb_set(pb_set([], 1, 0, len(cut.blocks)), 2, 0,
                                           len(cut.ckpts))))]
        rc, rep, err = self.verify(cut.bytes(), "cut.export")
        self.assertEqual(rc, 0, (rep, err))
        self.assertEqual(rep["confirmed_height"], k1, rep)
        self.assertFalse(rep["checkpoints"][-1]["majority"], rep["checkpoints"][-1])
        path = os.path.join(self.tmp, "cut.export")
        p = subprocess.run([TREATY, "audit", "verify", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("blocks %d..%d are not yet confirmed" % (k1 + 1, forked_ckpts[0]), p.stdout)
        # A later checkpoint that a majority cosigned confirms the ones before it that lack a
        # majority (its cosigners saw the chain of hashes through them): the whole export holds.
        cosign(ex.ckpts[-1], ORGS)
        rc, rep, err = self.verify(ex.bytes(), "confirmed.export")
        self.assertEqual(rc, 0, (rep, err))
        self.assertEqual(rep["confirmed_height"], to, rep)
        late = [c for c in rep["checkpoints"] if not c["majority"]]
        self.assertEqual([c["height"] for c in late], forked_ckpts[:-1])
        self.assertTrue(all(c["confirmed_by"] == to for c in late), late)
        p = subprocess.run([TREATY, "audit", "verify", os.path.join(self.tmp, "confirmed.export")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("checkpoint %d: signed by acme (not a majority; confirmed by checkpoint %d)"
                      % (forked_ckpts[0], to), p.stdout)
        self.assertIn("confirmed: the last block is a checkpoint cosigned by a majority", p.stdout)


class GovernanceHistory(unittest.TestCase):
    """Key rotation, a removal, and batches the ledger refused (a replay, an old key, a removed
    member's key) verify; claiming any of those refused txs committed is caught."""

    def test_7_rotation_removal_refused_batches(self):
        forge = os.environ.get("TREATY_FORGE")
        if not forge or not os.access(forge, os.X_OK):
            raise RuntimeError("TREATY_FORGE must name the treaty-forge binary (got %r)" % forge)
        net = harness.Network(TREATY, SCHEMA, ORGS, checkpoint_blocks=16,
                              batch={"max_txs": 1, "max_delay_ms": 0},
                              node_json={"test_hooks": True})
        tmp = tempfile.mkdtemp(prefix="treaty-audit-gov-")
        try:
            net.start()
            acme, globex, initech = net.nodes

            def write(node, method, path, body, want):
                st, _, b = node.http(method, path, body, timeout=30)
                self.assertEqual(st, want, b)

            def forged(org_dir, org, seq, i):
                p = subprocess.run([forge, "--genesis", net.genesis, "--org", org, "--key",
                                    os.path.join(org_dir, "node.key"), "--seq", str(seq),
                                    "--create", json.dumps(shipment(i))],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
                out = dict(line.split("=", 1) for line in p.stdout.split())
                res = None
                for _ in range(5):  # an entry forwarded to a leader that just stepped down is lost
                    write(acme, "POST", "/v1/_test/entry", {"entry": out["entry"]}, 202)
                    try:
                        res = harness.wait_for(lambda: (lambda r: r[2] if r[0] == 200 else None)(
                            acme.http("GET", "/v1/tx/" + out["tx"])), 5, "forged tx result")
                        break
                    except AssertionError:
                        harness.wait_for(net.leader, 20, "a leader")
                self.assertIsNotNone(res, "forged tx of %s never applied" % org)
                self.assertEqual(res["status"], "rejected", res)
                return res["height"]

            for i in range(20):  # past the first checkpoint (16), cosigned by all three
                write(acme, "POST", "/v1/data/Shipment", shipment(i), 201)
            harness.wait_for(lambda: len(acme.http("GET", "/v1/ledger/checkpoints/latest")[2]
                                         .get("cosigners", [])) == 3, 20, "3 cosigners")
            old = os.path.join(tmp, "globex-old")
            os.mkdir(old)
            shutil.copy(os.path.join(globex.dir, "node.key"), os.path.join(old, "node.key"))
            p = net.run("key", "rotate", "--dir", globex.dir)
            pub = [l.split("=", 1)[1] for l in p.stdout.splitlines()
                   if l.startswith("public_key=")][0]
            write(globex, "POST", "/v1/members/rotate-key", {"public_key": pub}, 200)
            harness.wait_for(lambda: not os.path.exists(os.path.join(globex.dir, "next-key")),
                             10, "globex switched keys")
            write(globex, "PATCH", "/v1/data/Shipment/SHP-000001", {"status": "picked_up"}, 200)
            h_replay = forged(acme.dir, "acme", 1, 900)
            h_oldkey = forged(old, "globex", 2 ** 62, 901)
            st, _, b = acme.http("POST", "/v1/members/proposals",
                                 {"action": "remove", "org": "initech"})
            self.assertEqual(st, 201, b)
            write(globex, "POST", "/v1/members/proposals/%s/approve" % b["proposal"], {}, 200)
            harness.wait_for(lambda: not initech.alive(), 20, "initech's node stops")
            harness.wait_for(net.leader, 20, "a leader")
            h_removed = forged(initech.dir, "initech", 2 ** 62, 902)
            start = acme.head()["height"]

            def latest():
                st, _, b = acme.http("GET", "/v1/ledger/checkpoints/latest")
                return b["height"] if st == 200 else 0

            i = 100
            while latest() < start + 16:
                write(acme, "POST", "/v1/data/Shipment", shipment(i), 201)
                i += 1
            to = latest()
            harness.wait_for(lambda: len(acme.http("GET", "/v1/ledger/checkpoints/latest")[2]
                                         ["cosigners"]) == 2, 20, "both cosigned")
            net.wait_converged(nodes=[acme, globex])
            exports = []
            for n in (acme, globex):
                out = os.path.join(tmp, n.org + ".export")
                p = subprocess.run([TREATY, "audit", "export", "--node",
                                    "http://127.0.0.1:%d" % n.api_port, "--key", n.api_key,
                                    "--out", out, "--to", str(to)],
                                   capture_output=True, text=True, timeout=120)
                self.assertEqual(p.returncode, 0, p.stderr)
                with open(out, "rb") as f:
                    exports.append(f.read())
            self.assertEqual(exports[0], exports[1])
            data = exports[0]
            path = os.path.join(tmp, "check.export")

            def verify(blob):
                with open(path, "wb") as f:
                    f.write(blob)
                p = subprocess.run([TREATY, "audit", "verify", path, "--json"],
                                   capture_output=True, text=True, timeout=120)
                return p.returncode, json.loads(p.stdout)

            rc, rep = verify(data)
            self.assertEqual(rc, 0, rep)
            self.assertGreaterEqual(rep["refused_batches"], 2, rep)
            signers = [tuple(c["signers"]) for c in rep["checkpoints"]]
            self.assertIn(("acme", "globex", "initech"), signers)
            self.assertEqual(signers[-1], ("acme", "globex"))
            for h, what in ((h_replay, "replay"), (h_oldkey, "signature"),
                            (h_removed, "signature")):
                ex = Export(data)
                b = ex.blocks[h - 1]
                b[:] = [(f, wt, pb_encode(pb_set(pb_set(pb_fields(v), 8, 2, b""), 7, 0, 1)))
                        if f == 5 else (f, wt, v) for f, wt, v in b]
                ex.rechain()
                rc, rep = verify(ex.bytes())
                self.assertEqual(rc, 1, rep)
                self.assertEqual((rep["failure"]["height"], rep["failure"]["what"]), (h, what),
                                 rep)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            net.close()


class FirstGenesisFormat(unittest.TestCase):
    """A network created with genesis version 1 (batches signed over their bytes, not their
    SHA-256) still runs: writes at every node commit, and its export verifies by that rule."""

    def test_9_genesis_version_1_network(self):
        net = harness.Network(TREATY, SCHEMA, ORGS, genesis_version=1, checkpoint_blocks=8)
        tmp = tempfile.mkdtemp(prefix="treaty-audit-v1-")
        try:
            with open(net.genesis) as f:
                self.assertEqual(json.load(f)["treaty_genesis"], 1)
            net.start()
            acme, globex = net.nodes[0], net.nodes[1]
            for i in range(30):
                st, _, b = acme.http("POST", "/v1/data/Shipment", shipment(10000 + i),
                                     timeout=30)
                self.assertEqual(st, 201, b)
            for i in range(10):  # batches signed by another org (the carrier may update)
                st, _, b = globex.http("PATCH", "/v1/data/Shipment/SHP-%06d" % (10000 + i),
                                       {"status": "picked_up"}, timeout=30)
                self.assertEqual(st, 200, b)
            net.wait_converged(timeout=60)
            to = net.nodes[0].head()["height"]
            datas = []
            for n in net.nodes:
                out = os.path.join(tmp, "%s.export" % n.org)
                p = subprocess.run([TREATY, "audit", "export", "--node", "http://127.0.0.1:%d" %
                                    n.api_port, "--key", n.api_key, "--out", out, "--from", "1",
                                    "--to", str(to)], capture_output=True, text=True, timeout=120)
                self.assertEqual(p.returncode, 0, p.stderr)
                with open(out, "rb") as f:
                    datas.append(f.read())
            self.assertEqual(datas[1], datas[0])
            self.assertEqual(datas[2], datas[0])
            p = subprocess.run([TREATY, "audit", "verify", os.path.join(tmp, "acme.export"),
                                "--json"], capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            rep = json.loads(p.stdout)
            self.assertTrue(rep["ok"], rep)
            self.assertEqual(rep["blocks"], to)
            self.assertGreaterEqual(rep["txs"], 40)
            # each batch is signed over its bytes (rule v1), checked outside treaty's code
            rules = batch_signature_rules(tmp, datas[0], net.nodes)
            self.assertGreaterEqual(len(rules), 40)
            self.assertEqual(set(rules), {(True, False)})
            # checkpoints cosigned by every org: the cosignatures are batches too
            self.assertTrue(any(c["signers"] == ORGS for c in rep["checkpoints"]), rep)
            # every write committed at every node (a refused batch would leave no record)
            for n in net.nodes:
                for i in range(30):
                    st, _, body = n.http("GET", "/v1/data/Shipment/SHP-%06d" % (10000 + i))
                    self.assertEqual(st, 200, (n.org, i, body))
                    self.assertEqual(body["status"], "picked_up" if i < 10 else "created")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            net.close()


def main():
    global TREATY, SCHEMA
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)


if __name__ == "__main__":
    main()
