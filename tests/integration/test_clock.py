"""test_clock.py — wall clocks that disagree and jump do not break the ledger.

  python3 test_clock.py TREATY_BINARY SCHEMA

globex's node runs under libfaketime (Debian package `faketime`; the test fails if it is missing),
its wall clock offset read from a file the test rewrites; the monotonic clock, which Raft's timers
use, is left alone, as a stepped NTP clock leaves it. acme and initech keep the real clock. Writes go through acme (Shipments) and globex (Invoices),
each signed by its own org.
docs/reliability.md ("Clocks") says what clocks may and may not do; this checks it on real nodes:

1. globex's clock an hour behind: writes through globex are committed — its batch sequence
   numbers (the wall clock in µs, or the last one plus one) do not fall back, so its batches are
   not taken for replays;
2. globex leading an hour behind: every block it makes keeps the previous block's timestamp;
3. globex leading an hour ahead: its blocks carry its future time ...
4. ... and after it is killed, the blocks of the next leader carry at least that time;
5. globex restarted an hour behind: its writes are still committed (the sequence survives the
   restart);
6. at the end: block timestamps never decrease from height 1, the nodes converge, and
   `treaty audit verify` passes on every node's export.
"""
import glob
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_for  # noqa: E402

TREATY = SCHEMA = None
HOUR_US = 3600 * 10 ** 6
FAKETIME_LIBS = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/*/faketime/libfaketime.so.1", "/usr/local/lib/faketime/libfaketime.so.1"]


def faketime_lib():
    for pattern in FAKETIME_LIBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    return None


class ClockTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lib = faketime_lib()
        if cls.lib is None:
            raise RuntimeError("libfaketime not found (Debian package faketime; "
                               "scripts/install-deps.sh installs it)")
        cls.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"])
        cls.acme, cls.globex, cls.initech = cls.net.nodes
        cls.tmp = tempfile.mkdtemp(prefix="treaty-clock-")
        cls.clock_file = os.path.join(cls.tmp, "globex.clock")
        cls.set_clock("+0")
        cls.acme.start()
        cls.initech.start()
        cls.start_globex()
        cls.net.wait_leader(30)
        cls.seq = 0

    @classmethod
    def tearDownClass(cls):
        cls.net.close()

    @classmethod
    def set_clock(cls, offset):
        """globex's wall clock offset (libfaketime syntax: "+0", "-1h", "+1h"); libfaketime
        reads it at every call (FAKETIME_NO_CACHE)."""
        with open(cls.clock_file, "w") as f:
            f.write(offset + "\n")
        time.sleep(1.2)

    @classmethod
    def start_globex(cls):
        asan = os.environ.get("ASAN_OPTIONS", "")
        cls.globex.start(env={
            "LD_PRELOAD": cls.lib, "FAKETIME_TIMESTAMP_FILE": cls.clock_file,
            "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            # a sanitizer runtime must come first unless told otherwise
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"})

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)

    # -- helpers --
    def write(self, node, n):
        """n creates through node, each signed by its org (acme creates Shipments, globex
        Invoices: the schema's ACLs); each must be committed (201)."""
        for _ in range(n):
            type(self).seq += 1
            if node is self.globex:
                path, doc = "/v1/data/Invoice", {
                    "invoiceId": "INV-%07d" % self.seq, "shipmentId": "SHP-0000001",
                    "total": {"amount": "10.50", "currency": "EUR"}, "paid": False}
            else:
                path, doc = "/v1/data/Shipment", {
                    "shipmentId": "SHP-%07d" % self.seq, "origin": "Oslo",
                    "destination": "Porto", "carrier": "acme", "status": "created",
                    "weightKg": 1}
            st, _, body = node.http("POST", path, doc, timeout=20)
            self.assertEqual(st, 201, "%s: %r" % (node.org, body))

    def height(self, node=None):
        return (node or self.acme).head()["height"]

    def stamps(self, first, last):
        """Block timestamps (µs) of heights first..last, read from acme."""
        out = []
        for h in range(first, last + 1):
            st, _, body = self.acme.http("GET", "/v1/ledger/blocks/%d" % h)
            self.assertEqual(st, 200, body)
            out.append(body["timestamp_us"])
        return out

    def make_leader(self, node, tries=16):
        """Kills (and restarts) whichever other node leads until node is elected; bounded."""
        for _ in range(tries):
            lead = self.net.wait_leader(30)
            if lead is node:
                return
            lead.kill9()
            wait_for(lambda: self.net.leader() not in (None, lead), 30, "a new leader")
            if lead is self.globex:
                self.start_globex()
            else:
                lead.start()
            self.net.wait_converged(timeout=30)
        self.fail("%s was not elected in %d elections" % (node.org, tries))

    def new_blocks(self, since, node):
        """Timestamps of the blocks after height `since`, once acme holds them all, and the
        check that `node` led throughout (it is the leader now and its term did not change)."""
        self.net.wait_converged(timeout=30)
        lead = self.net.leader()
        self.assertIs(lead, node, "leadership moved during the step")
        return self.stamps(since + 1, self.height())

    # -- the scenario, in order --
    def test_1_writes_through_a_clock_behind(self):
        self.write(self.acme, 3)
        self.write(self.globex, 3)
        self.set_clock("-1h")
        self.write(self.globex, 5)
        self.write(self.acme, 3)

    def test_2_leader_behind_keeps_the_last_time(self):
        self.make_leader(self.globex)
        self.write(self.acme, 2)  # a block of globex's term, so `before` is its own
        before = self.height()
        last = self.stamps(before, before)[0]
        self.write(self.acme, 4)
        self.write(self.globex, 4)
        got = self.new_blocks(before, self.globex)
        self.assertTrue(got, "no block while globex led")
        self.assertEqual(set(got), {last}, "blocks of a leader an hour behind: %r" % got)

    def test_3_leader_ahead_stamps_its_time(self):
        self.assertIs(self.net.leader(), self.globex)
        self.set_clock("+1h")
        before = self.height()
        self.write(self.acme, 4)
        got = self.new_blocks(before, self.globex)
        now_us = int(time.time() * 10 ** 6)
        self.assertTrue(got)
        for ts in got:
            self.assertGreater(ts, now_us + HOUR_US // 2, "not the leader's future time")
        type(self).future = got[-1]

    def test_4_later_leaders_do_not_go_back(self):
        self.globex.kill9()
        wait_for(lambda: self.net.leader() not in (None, self.globex), 30, "a new leader")
        lead = self.net.leader()
        before = self.height(lead)
        self.write(self.acme, 4)
        got = self.new_blocks(before, lead)
        self.assertTrue(got)
        for ts in got:
            self.assertGreaterEqual(ts, self.future, "a block earlier than the last one")

    def test_5_restart_behind_still_writes(self):
        self.set_clock("-1h")
        self.start_globex()
        self.net.wait_converged(timeout=60)
        self.write(self.globex, 5)

    def test_6_timestamps_monotonic_and_audit_verifies(self):
        head = self.net.wait_converged(timeout=60)
        stamps = self.stamps(1, head["height"])
        back = [(h + 2, a, b) for h, (a, b) in enumerate(zip(stamps, stamps[1:])) if b < a]
        self.assertEqual(back, [], "block timestamps that go back (height, before, after)")
        for n in self.net.nodes:
            out = os.path.join(self.tmp, "%s.export" % n.org)
            p = subprocess.run([TREATY, "audit", "export", "--node",
                                "http://127.0.0.1:%d" % n.api_port, "--key", n.api_key, "--out",
                                out, "--from", "1", "--to", str(head["height"])],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = subprocess.run([TREATY, "audit", "verify", out], capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(p.returncode, 0, "%s: %s%s" % (n.org, p.stdout, p.stderr))


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2, failfast=True)
