"""test_resend_key.py — a governance tx resent after a leader change keeps its public key.
  python3 test_resend_key.py TREATY_BINARY SCHEMA

Regression test for a bug the fault harness found (seed 2 of the CI schedule): an ADD_ORG tx
is resent, re-signed, when the leader changes before it is applied, and the resend encoded the
key from a copy of the tx that no longer existed, so the org joined with a key nobody holds.
Here the leader is paused (SIGSTOP) and a follower is asked at once to propose adding an org:
the follower forwards the batch to the paused leader, the other two elect a new leader, and the
follower resends the batch to it. The ledger must hold exactly the key that was proposed; then
the new org's node must join and catch up. Real nodes on 127.0.0.1 (tests/integration/harness.py).
"""
import os
import signal
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

TREATY = SCHEMA = None


class ResendKeepsKey(unittest.TestCase):
    def setUp(self):
        self.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"])
        self.net.start()

    def tearDown(self):
        for n in self.net.nodes:
            if n.alive():
                n.proc.send_signal(signal.SIGCONT)
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)
        self.net.close()

    def members(self, node):
        st, _, b = node.http("GET", "/v1/members", timeout=5)
        self.assertEqual(st, 200, b)
        return {m["org"]: m for m in b["members"]}

    def test_add_org_resent_after_leader_change(self):
        lead = self.net.wait_leader()
        proposer, approver = [n for n in self.net.nodes if n is not lead]
        new = self.net.add_org("umbrella")
        answer = {}

        def propose():
            answer["r"] = proposer.http("POST", "/v1/members/proposals", {
                "action": "add", "org": "umbrella", "public_key": new.public_key,
                "peer": "127.0.0.1:%d" % new.peer_port}, timeout=60)

        lead.proc.send_signal(signal.SIGSTOP)
        t = threading.Thread(target=propose)
        t.start()
        t.join(70)
        self.assertFalse(t.is_alive(), "the proposal got no answer within 70 s")
        st, _, b = answer["r"]
        self.assertEqual(st, 201, b)
        st, _, b = approver.http("POST", "/v1/members/proposals/%s/approve" % b["proposal"], {},
                                 timeout=30)
        self.assertEqual(st, 200, b)
        harness.wait_for(lambda: "umbrella" in self.members(approver), 20, "umbrella is a member")
        self.assertEqual(self.members(approver)["umbrella"]["public_key"], new.public_key)
        lead.proc.send_signal(signal.SIGCONT)
        new.start()
        target = self.net.wait_leader().head()["height"]

        def caught_up():
            try:
                return new.head()["height"] >= target
            except (OSError, harness.HttpError):
                return False  # not listening yet

        harness.wait_for(caught_up, 60, "umbrella's node catches up")
        self.net.wait_converged(timeout=30)


if __name__ == "__main__":
    TREATY, SCHEMA = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:])
