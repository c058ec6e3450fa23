"""test_lostwrites_node.py — real nodes that lose their un-fsynced writes at a crash.

  python3 test_lostwrites_node.py TREATY SHIM [--rounds N] [--seed N] [--keep]

A 3-org network whose nodes all run under the lost-writes shim (lostwrites.c) takes Shipment
creates from writers on every node (test_crash_points.py's writers, checks and rejoin). Each round
kills one node with SIGKILL (the leader, a follower, then every node at once: a power loss of
the whole network, in turn) after a random time under load or, every other pair of rounds, just
after the writers paused (the last commit is then the lazy apply of the last writes, the commit a
power loss undoes), replaces its files (each node's, in a whole-network round) with what a power
loss would leave (lostwrites.lose: every byte not covered
by an fsync/fdatasync/O_DSYNC write is lost; in a whole-network round data.mdb keeps a random half
of its un-synced 4 KiB pages instead, as a disk that took some of them would), restarts it and waits until it serves and has caught
up; then the writers pause and the checker requires every acknowledged write on every node exactly
once and converged heads. With a failpoint build (-DTREATY_FAILPOINTS=ON) the rounds also kill the
node at the persist points (test_crash_points.Run.iteration) before the loss. Each round prints
the bytes and 4 KiB pages lost per file; the store's data.mdb must lose something in at least one
round (the lock file's contents do not count: LMDB rebuilds it at open). Exit 0 no violation,
1 violations, 2 the harness failed (no shim).
"""
import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lostwrites  # noqa: E402
import test_crash_points as tcp  # noqa: E402

PERSIST_POINTS = ("persist-entries", "persist-hard-state", "persist-committed",
                  "persist-lazy-committed", "persist-vote-committed")
STORE_FILE = os.path.join("data", "data.mdb")


class LostRun(tcp.Run):
    """test_crash_points.Run whose nodes start under the shim and lose un-synced writes before
    every restart after a crash."""

    def __init__(self, args, shim):
        super().__init__(args, [])
        self.shim, self.lost, self.rounds = shim, [], []
        for n in self.net.nodes:
            n.start = self._shim_start(n, n.start)

    def _shim_start(self, node, start):
        def wrapped(env=None):
            return start(env=dict(lostwrites.env(self.shim, node.dir), **(env or {})))
        return wrapped

    def rejoin(self, victim, point, role, it):
        r = lostwrites.lose(victim.dir)
        store = r["per_file"].get(STORE_FILE, 0)
        self.lost.append(store)
        print("  %s %s #%s: %s lost %s" % (point, role, it, victim.org, lostwrites.describe(r)),
              flush=True)
        return super().rejoin(victim, point, role, it)

    def kill_round(self, role, it):
        lead = self.net.wait_leader(30)
        victim = lead if role == "leader" else self.rng.choice(
            [n for n in self.net.nodes if n is not lead])
        time.sleep(self.rng.uniform(0.3, 2.5))
        quiet = (it // 2) % 2 == 1
        if quiet:  # the last commit is then the lazy apply of the last writes (check() resumes)
            self.writers.pause()
            time.sleep(0.2)
        victim.kill9()
        ok = self.rejoin(victim, "kill9-lose", role, it)
        print("  kill9-lose %s #%d: %s %s%s" % (role, it, victim.org, "rejoined" if ok else
                                                "DID NOT REJOIN", " (killed at rest)" if quiet
                                                else " (killed under load)"), flush=True)

    def power_loss_round(self, it):
        """Every node killed at once and each loses its un-fsynced writes (a power loss of the
        whole network): all restart, elect a leader and serve; acknowledged writes survive."""
        self.net.wait_leader(30)
        time.sleep(self.rng.uniform(0.3, 2.5))
        quiet = (it // 3) % 2 == 1
        if quiet:
            self.writers.pause()
            time.sleep(0.2)
        for n in self.net.nodes:
            n.kill9()
        for n in self.net.nodes:
            # the store keeps a random half of its un-synced pages: any subset may reach the disk
            r = lostwrites.lose(n.dir, rng=self.rng)
            self.lost.append(r["per_file"].get(STORE_FILE, 0))
            print("  power-loss #%d: %s lost %s" % (it, n.org, lostwrites.describe(r)), flush=True)
        for n in self.net.nodes:
            n.start()
        ok = True
        for n in self.net.nodes:
            try:
                tcp.harness.wait_for(lambda: n.proc.poll() is not None or self._head(n),
                                     tcp.REJOIN_TIMEOUT_S, "%s serves its head" % n.org)
            except AssertionError as e:
                self.fail("power-loss", "all", it, str(e))
                ok = False
            if n.proc.poll() is not None:
                self.fail("power-loss", "all", it, "%s did not start again (exit %s):\n%s" % (
                    n.org, n.proc.returncode, n.log_tail(20)))
                ok = False
        if ok:
            self.net.wait_leader(tcp.REJOIN_TIMEOUT_S)
        print("  power-loss #%d: all nodes %s%s" % (it, "restarted" if ok else "DID NOT RESTART",
                                                    " (killed at rest)" if quiet
                                                    else " (killed under load)"), flush=True)

    def run_lost(self, fail_points):
        print("lost writes: seed %d, %d round(s) of kill -9 + loss, failpoints: %s" % (
            self.args.seed, self.args.rounds, " ".join(fail_points) or "none (not a failpoint "
            "build)"), flush=True)
        self.net.start()
        self.writers.start()
        head = None
        try:
            for it in range(self.args.rounds):
                if it % 3 == 2:
                    self.power_loss_round(it)
                else:
                    self.kill_round(("leader", "follower")[it % 3], it)
                head = self.check("kill9-lose round %d" % it)
            for point in fail_points:
                for role in tcp.ROLES.get(point, ("leader", "follower")):
                    self.iteration(point, role, 0)
                head = self.check(point)
            self.writers.close()
            head = self.check("end", expect_writes=False)
            self.writers.running.clear()
        finally:
            self.writers.close()
            self.net.close(keep=self.args.keep or bool(self.violations))
        rounds_lost = sum(1 for b in self.lost if b > 0)
        print("data.mdb bytes lost per crash: %s; crashes that lost store bytes: %d of %d" % (
            self.lost, rounds_lost, len(self.lost)))
        if rounds_lost == 0 and not self.args.allow_nothing_lost:
            self.fail("end", "-", "-", "no crash lost any byte of store/data.mdb: the test "
                      "showed nothing")
        self.report(head)
        return 1 if self.violations else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("treaty")
    ap.add_argument("shim")
    ap.add_argument("--schema", default=os.path.join(HERE, "chaos-schema.json"))
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("TREATY_LOST_ROUNDS", "6")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get(
        "TREATY_LOST_SEED", str(random.SystemRandom().randrange(1, 10 ** 6)))))
    ap.add_argument("--checkpoint-blocks", type=int, default=64)
    ap.add_argument("--allow-nothing-lost", action="store_true",
                    help="do not fail when no crash lost a byte of the store")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.treaty, args.schema = os.path.abspath(args.treaty), os.path.abspath(args.schema)
    args.iterations = 1
    if not 1 <= args.rounds <= 1000:
        raise SystemExit("--rounds must be 1..1000")
    if not os.path.exists(args.shim):
        print("lost writes: no shim at %s" % args.shim)
        return 2
    try:
        known = tcp.list_points(args.treaty)
    except RuntimeError:
        known = []
    try:
        return LostRun(args, os.path.abspath(args.shim)).run_lost(
            [p for p in PERSIST_POINTS if p in known])
    except (RuntimeError, OSError) as e:
        print("lost writes: the harness failed: %s" % e, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
