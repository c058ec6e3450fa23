"""test_governance.py — governed membership with real nodes.

  python3 test_governance.py TREATY_BINARY SCHEMA

A 4th org joins: acme proposes it, globex approves (2 of 3 current orgs: a majority), the new
org's node starts from the genesis alone, joins as a Raft learner, catches up a log of more than
10,000 blocks, and is promoted to voter once caught up; while it is a learner it never votes or
campaigns (its term never passes the leader's and its role stays follower). Then an org is
removed by the same kind of vote: its node stops, and the others keep committing without it.
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import wait_for  # noqa: E402

TREATY = SCHEMA = None
BLOCKS = int(os.environ.get("TREATY_IT_CATCHUP_BLOCKS", "10000"))


def shipment(i):
    return {"shipmentId": "SHP-%07d" % i, "origin": "Rotterdam", "destination": "Chicago",
            "carrier": "globex", "status": "created", "weightKg": 3}




class Governance(unittest.TestCase):
    def setUp(self):
        # One tx per batch at acme so each write is one block.
        self.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"],
                                   batch={"max_txs": 1, "max_delay_ms": 0})
        self.net.start()
        self.acme, self.globex, self.initech = self.net.nodes

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)
        self.net.close()

    def fill(self, blocks):
        counter = [0]
        lock = threading.Lock()
        errors = []

        def writer():
            while True:
                with lock:
                    if self.acme.head()["height"] >= blocks and counter[0] > 0:
                        return
                    counter[0] += 1
                    i = counter[0]
                st, _, b = self.acme.http("POST", "/v1/data/Shipment", shipment(i), timeout=30)
                if st != 201:
                    errors.append((st, b))
                    return

        threads = [threading.Thread(target=writer) for _ in range(8)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        self.assertEqual(errors, [])
        took = time.time() - t0
        print("wrote %d records, height %d in %.1fs" % (counter[0], self.acme.head()["height"],
                                                        took), file=sys.stderr)

    def propose(self, node, body):
        st, _, b = node.http("POST", "/v1/members/proposals", body)
        self.assertEqual(st, 201, b)
        return b["proposal"]

    def approve(self, node, proposal):
        st, _, b = node.http("POST", "/v1/members/proposals/%s/approve" % proposal, {})
        self.assertEqual(st, 200, b)
        return b

    def members(self, node):
        st, _, b = node.http("GET", "/v1/members")
        self.assertEqual(st, 200, b)
        return {m["org"]: m for m in b["members"]}

    def test_join_catch_up_promote_then_remove(self):
        self.fill(BLOCKS)
        new = self.net.add_org("umbrella")
        pid = self.propose(self.acme, {"action": "add", "org": "umbrella",
                                       "public_key": new.public_key,
                                       "peer": "127.0.0.1:%d" % new.peer_port})
        self.assertNotIn("umbrella", self.members(self.globex))  # 1 of 3 is no majority
        self.approve(self.globex, pid)
        wait_for(lambda: "umbrella" in self.members(self.initech), 10, "umbrella is a member")

        new.start()
        leader = self.net.wait_leader()
        target = leader.head()["height"]
        t0 = time.time()
        max_term = [0]
        roles = set()

        def caught_up():
            try:
                h = new.head()
            except Exception:  # noqa: BLE001 — not listening yet
                return False
            lead_term = leader.head()["node"]["term"]
            if not h["node"]["voter"]:
                roles.add(h["node"]["role"])
                max_term[0] = max(max_term[0], h["node"]["term"] - lead_term)
            return h["height"] >= target and h

        wait_for(caught_up, 300, "umbrella catches up to height %d" % target)
        took = time.time() - t0
        print("umbrella caught up %d blocks in %.1fs (%.0f blocks/s)" % (
            target, took, target / took), file=sys.stderr)
        self.assertEqual(roles - {"follower"}, set(), "a learner left the follower role")
        self.assertLessEqual(max_term[0], 0, "a learner's term passed the leader's")
        wait_for(lambda: new.head()["node"]["voter"], 30, "umbrella promoted to voter")
        self.assertEqual(self.members(self.acme)["umbrella"]["raft"], "voter")

        # Remove initech: 3 of the 4 orgs must approve (more than half).
        pid = self.propose(self.acme, {"action": "remove", "org": "initech"})
        self.approve(self.globex, pid)
        self.assertIn("initech", self.members(self.acme))
        self.approve(new, pid)
        wait_for(lambda: "initech" not in self.members(self.acme), 10, "initech removed")
        wait_for(lambda: not self.initech.alive(), 20, "initech's node stops")
        st, _, b = self.acme.http("POST", "/v1/data/Shipment", shipment(BLOCKS + 100))
        self.assertEqual(st, 201, b)
        self.net.wait_converged(nodes=[self.acme, self.globex, new])


class KeyRotation(unittest.TestCase):
    def test_rotate_key_then_old_key_refused(self):
        forge = os.environ.get("TREATY_FORGE")
        if not forge or not os.access(forge, os.X_OK):
            raise RuntimeError("TREATY_FORGE must name the treaty-forge binary (got %r)" % forge)
        net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"],
                              node_json={"test_hooks": True})
        try:
            net.start()
            acme, globex, _ = net.nodes
            old_key = os.path.join(net.root, "acme-old.key")
            shutil.copy(os.path.join(acme.dir, "node.key"), old_key)
            p = net.run("key", "rotate", "--dir", acme.dir)
            new_pub = [l.split("=", 1)[1] for l in p.stdout.splitlines()
                       if l.startswith("public_key=")][0]
            self.assertNotEqual(new_pub, acme.public_key)
            st, _, b = acme.http("POST", "/v1/members/rotate-key", {"public_key": new_pub})
            self.assertEqual(st, 200, b)
            wait_for(lambda: self.key_of(globex, "acme") == new_pub, 10,
                     "globex knows acme's new key")
            wait_for(lambda: not os.path.exists(os.path.join(acme.dir, "next-key")), 10,
                     "acme's node moved its next key into place")
            # acme signs with the new key now, and its links came back with it.
            st, _, b = acme.http("POST", "/v1/data/Shipment", shipment(1), timeout=20)
            self.assertEqual(st, 201, b)
            net.wait_converged()
            # A batch signed with the old key is refused by every node.
            p = subprocess.run([forge, "--genesis", net.genesis, "--org", "acme", "--key",
                                old_key, "--seq", str(2 ** 62), "--create",
                                json.dumps(shipment(2))], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            out = dict(line.split("=", 1) for line in p.stdout.split())
            st, _, b = acme.http("POST", "/v1/_test/entry", {"entry": out["entry"]})
            self.assertEqual(st, 202, b)
            for n in net.nodes:
                res = wait_for(lambda n=n: (lambda r: r[2] if r[0] == 200 else None)(
                    n.http("GET", "/v1/tx/" + out["tx"])), 10, "tx result at " + n.org)
                self.assertEqual(res["status"], "rejected")
                self.assertIn("signature", res["reason"])
            # acme's node restarts with the rotated key.
            self.assertEqual(acme.stop(), 0)
            acme.start()
            net.wait_leader()
            net.wait_converged()  # acme's API answers and it has caught up
            st, _, b = acme.http("POST", "/v1/data/Shipment", shipment(3), timeout=20)
            self.assertEqual(st, 201, b)
        finally:
            net.close()

    @staticmethod
    def key_of(node, org):
        st, _, b = node.http("GET", "/v1/members")
        return {m["org"]: m["public_key"] for m in b["members"]}.get(org) if st == 200 else None


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
