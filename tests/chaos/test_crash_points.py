"""test_crash_points.py — crash consistency: a node killed at each failpoint of the persist and
apply paths restarts from a consistent store, rejoins, and no acknowledged write is lost.

  python3 test_crash_points.py TREATY [--iterations N] [--points a,b] [--seed N] [--keep]

TREATY must be built with -DTREATY_FAILPOINTS=ON (node/failpoint.h); `treaty failpoints` gives
the points. A 3-org network (a checkpoint every 64 blocks) takes Shipment creates from writers on every node (half of them with
an Idempotency-Key, retried with it after a crash). For each point, each role it applies to and
each iteration: a victim (the leader, or a follower) is stopped and started again with
TREATY_FAILPOINT=point:count@role (count random, from the seed), made leader if the role asks
(pausing the others' leader), and must die by SIGKILL at that point within a bounded time; it is
then started without the failpoint and must come up (its store passes the start-up check of the
last store.check_blocks blocks) and catch up. After each point the writers pause and the chaos
checker runs: the heads converge (height, block hash, Merkle root), every acknowledged write is
on every node exactly once with the acknowledged tx, and no node exited unasked. At the end
`treaty audit verify` passes on every node's export, the exports are identical, every node stops
cleanly and `treaty audit verify --store` passes on every node's whole store. Iterations per point and role: --iterations, else TREATY_CRASH_ITERATIONS (default 1);
the seed: --seed, else TREATY_CRASH_SEED, else drawn and printed. Exit 0 no violation, 1
violations (printed with point, role, iteration and seed), 2 the harness failed.
"""
import argparse
import http.client as httpc
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import checker  # noqa: E402
import harness  # noqa: E402
from workload import Op  # noqa: E402

# Largest count drawn per point (log-uniformly, so most crashes come soon after the restart,
# during catch-up, and some seconds later under steady load).
MAX_COUNT = {"persist-vote-committed": 1, "apply-checkpoint": 4, "apply-cosign": 8,
             "checkpoint-signed": 4, "apply-block-begin": 100, "answer-client": 100}
DEFAULT_MAX_COUNT = 300
# Points a role never reaches: a leader does not persist a new term or vote while it leads.
ROLES = {"persist-vote-committed": ("follower",)}
# Points reached only at an election, which the test provokes while the victim is armed.
ELECTION_POINTS = ("persist-vote-committed",)
DEATH_TIMEOUT_S = 40.0   # armed until dead
FIRST_NUDGE_S = 2.0      # then an election is provoked (vote points) or leadership re-steered,
NUDGE_AFTER_S = 6.0      # and again every NUDGE_AFTER_S
REJOIN_TIMEOUT_S = 40.0
WRITE_TRIES = 30         # attempts of one idempotent write across a crash


class NodeView:
    """A harness node as the chaos checker expects it (head(timeout), url())."""

    def __init__(self, node):
        self.n = node
        self.org, self.api_key, self.log_path = node.org, node.api_key, node.log_path
        self.exits = []

    def http(self, *a, **k):
        return self.n.http(*a, **k)

    def head(self, timeout=3.0):
        st, _, body = self.n.http("GET", "/v1/ledger/head", timeout=timeout)
        return body if st == 200 else None

    def url(self):
        return "http://127.0.0.1:%d" % self.n.api_port


class ClusterView:
    def __init__(self, net):
        self.treaty = net.treaty
        self.nodes = [NodeView(n) for n in net.nodes]

    def all_nodes(self):
        return self.nodes


class Writers:
    """Writers bound to one node each; pausable; every attempt recorded as a workload Op."""

    def __init__(self, net, seed, per_node=2):
        self.net, self.seed = net, seed
        self.ops, self.lock = [], threading.Lock()
        self.running, self.stop = threading.Event(), threading.Event()
        self.busy = 0
        self.next_id = 0
        self.threads = [threading.Thread(target=self._writer, args=(n, i * per_node + j),
                                         daemon=True)
                        for i, n in enumerate(net.nodes) for j in range(per_node)]

    def _key(self):
        with self.lock:
            self.next_id += 1
            return "SHP-%04d%06d" % (self.seed % 10000, self.next_id)

    def _attempt(self, node, key, body, idem):
        op = Op("write", node.org, key)
        with self.lock:
            self.ops.append(op)
        hdrs = {"Idempotency-Key": key} if idem else None
        try:
            st, _, resp = node.http("POST", "/v1/data/Shipment", body, hdrs, timeout=8.0)
            op.status = st
            if isinstance(resp, dict):
                op.tx = resp.get("_tx") or resp.get("tx")
                op.detail = str(resp.get("detail", ""))[:200] if st >= 400 else None
        except (OSError, httpc.HTTPException) as e:
            op.status = "timeout" if "timed out" in str(e) else "conn"
        op.end = time.time()
        return op

    def _write(self, node, rng):
        key = self._key()
        body = {"shipmentId": key, "origin": "crash", "destination": node.org,
                "status": "created"}
        idem = rng.random() < 0.5
        for _ in range(WRITE_TRIES if idem else 1):
            op = self._attempt(node, key, body, idem)
            if op.status in (200, 201):
                return
            if isinstance(op.status, int) and op.status < 500:
                time.sleep(0.2)  # refused (a harness or schema problem): the checks report it
                return
            time.sleep(0.3)  # the node is down or stopping: retry the same key when it is back

    def _writer(self, node, idx):
        rng = random.Random(self.seed * 1000 + idx)
        while not self.stop.is_set():
            if not self.running.wait(0.2):
                continue
            with self.lock:
                self.busy += 1
            try:
                self._write(node, rng)
            finally:
                with self.lock:
                    self.busy -= 1

    def start(self):
        self.running.set()
        for t in self.threads:
            t.start()

    def pause(self, timeout=60.0):
        """Stops new writes and waits (bounded) until none is in flight."""
        self.running.clear()
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if self.busy == 0:
                    return True
            time.sleep(0.05)
        return False

    def close(self):
        self.running.clear()
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def acked(self):
        with self.lock:
            return sum(1 for o in self.ops if o.acked())


def list_points(treaty):
    p = subprocess.run([treaty, "failpoints"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("treaty failpoints: exit %d: %s (build with -DTREATY_FAILPOINTS=ON)"
                           % (p.returncode, p.stderr.strip()))
    return [line.split("\t", 1)[0] for line in p.stdout.splitlines() if line.strip()]


class Run:
    def __init__(self, args, points):
        self.args, self.points = args, points
        self.rng = random.Random(args.seed)
        self.violations = []
        self.acked_before = 0
        self.t0 = time.time()
        self.stats = {}   # (point, role) -> [iterations, deaths, seconds]
        self.net = harness.Network(args.treaty, args.schema, ["acme", "globex", "initech"],
                                   checkpoint_blocks=args.checkpoint_blocks, name="crash")
        self.view = ClusterView(self.net)
        self.writers = Writers(self.net, args.seed)

    def fail(self, point, role, it, what):
        line = "VIOLATION point=%s role=%s iteration=%s seed=%d: %s" % (
            point, role, it, self.args.seed, what)
        print(line, flush=True)
        self.violations.append(line)

    def leader(self, skip=None):
        for n in self.net.nodes:
            if n is skip or not n.alive():
                continue
            try:
                h = n.head()
            except (OSError, harness.HttpError, httpc.HTTPException):
                continue
            if h["node"]["role"] == "leader":
                return n
        return None

    def make_leader(self, victim, deadline):
        """Pauses whoever else leads until victim leads (bounded); True if it does."""
        while time.time() < deadline and victim.alive():
            lead = self.leader()
            if lead is victim:
                return True
            if lead is None:
                time.sleep(0.1)
                continue
            lead.proc.send_signal(signal.SIGSTOP)
            try:
                harness.wait_for(lambda: self.leader(skip=lead) or not victim.alive(), 6.0,
                                 "a new leader while %s is paused" % lead.org)
            except AssertionError:
                pass
            finally:
                lead.proc.send_signal(signal.SIGCONT)
        return victim.alive() and self.leader() is victim

    def nudge(self, victim, role, point):
        """Puts the victim back in its role if it left it (pausing whoever leads wrongly for
        1.5 s); for a point reached at elections only, provokes one the same way."""
        if role == "leader":
            self.make_leader(victim, time.time() + 10)
            return
        lead = self.leader()
        if lead is victim or (lead is not None and point in ELECTION_POINTS):
            lead.proc.send_signal(signal.SIGSTOP)
            time.sleep(1.5)
            lead.proc.send_signal(signal.SIGCONT)

    def wait_death(self, victim, role, point):
        start = time.time()
        next_nudge = start + FIRST_NUDGE_S
        while time.time() - start < DEATH_TIMEOUT_S:
            if victim.proc.poll() is not None:
                return victim.proc.returncode, time.time() - start
            if time.time() > next_nudge:
                self.nudge(victim, role, point)
                next_nudge = time.time() + NUDGE_AFTER_S
            time.sleep(0.05)
        return None, DEATH_TIMEOUT_S

    def log_since(self, node, offset):
        with open(node.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def rejoin(self, victim, point, role, it):
        """Starts victim without a failpoint; True once it serves and has caught up."""
        others = [n for n in self.net.nodes if n is not victim and n.alive()]
        victim.start()
        try:
            harness.wait_for(lambda: victim.proc.poll() is not None or self._head(victim),
                             REJOIN_TIMEOUT_S, "%s serves its head" % victim.org)
        except AssertionError as e:
            self.fail(point, role, it, str(e))
            return False
        if victim.proc.poll() is not None:
            self.fail(point, role, it, "%s did not start again after the crash (exit %s):\n%s"
                      % (victim.org, victim.proc.returncode, victim.log_tail(20)))
            return False
        target = max([(self._head(n) or {}).get("height", 0) for n in others] or [0])
        try:
            harness.wait_for(lambda: (self._head(victim) or {}).get("height", 0) >= target,
                             REJOIN_TIMEOUT_S, "%s reaches height %d" % (victim.org, target))
        except AssertionError as e:
            self.fail(point, role, it, str(e))
            return False
        return True

    def _head(self, n):
        try:
            return n.head()
        except (OSError, harness.HttpError, httpc.HTTPException):
            return None

    def iteration(self, point, role, it):
        top = MAX_COUNT.get(point, DEFAULT_MAX_COUNT)
        count = min(top, int(math.exp(self.rng.uniform(0, math.log(top + 1)))))
        lead = self.net.wait_leader(30)
        followers = [n for n in self.net.nodes if n is not lead]
        victim = lead if role == "leader" else self.rng.choice(followers)
        rc = victim.stop()
        if rc != 0:
            self.fail(point, role, it, "%s did not stop cleanly before arming: %s" % (
                victim.org, rc))
        offset = os.path.getsize(victim.log_path)
        spec = "%s:%d@%s" % (point, count, role)
        victim.start(env={"TREATY_FAILPOINT": spec})
        if role == "leader":
            self.make_leader(victim, time.time() + 20)
        code, took = self.wait_death(victim, role, point)
        text = self.log_since(victim, offset)
        mark = "failpoint %s reached" % point
        died = code == -signal.SIGKILL and mark in text
        if code is None:
            victim.kill9()
            self.fail(point, role, it, "%s armed with %s did not reach it within %.0fs" % (
                victim.org, spec, DEATH_TIMEOUT_S))
        elif not died:
            self.fail(point, role, it, "%s armed with %s exited %s without the failpoint:\n%s"
                      % (victim.org, spec, code, "\n".join(text.splitlines()[-15:])))
        ok = self.rejoin(victim, point, role, it)
        st = self.stats.setdefault((point, role), [0, 0, 0.0])
        st[0] += 1
        st[1] += 1 if died else 0
        st[2] += took
        print("  %s %s #%d: %s count=%d %s after %.1fs, %s" % (
            point, role, it, victim.org, count, "died" if died else "NOT DEAD", took,
            "rejoined" if ok else "DID NOT REJOIN"), flush=True)
        return ok

    def check(self, point, expect_writes=True):
        """Writers paused: heads converge, acknowledged writes are all there, nothing crashed."""
        if not self.writers.pause():
            self.fail(point, "-", "-", "writers still busy after 60s")
        for n in self.net.nodes:
            if not n.alive():
                self.fail(point, "-", "-", "%s is not running (exit %s):\n%s" % (
                    n.org, n.proc.returncode if n.proc else None, n.log_tail(15)))
                n.start()
        acked = self.writers.acked()
        if expect_writes and acked <= self.acked_before:
            self.fail(point, "-", "-", "no write was acknowledged meanwhile (%d attempts in all)"
                      % len(self.writers.ops))
        self.acked_before = acked
        key, v = checker.converge(self.view, 60)
        _, w = checker.writes(self.view, self.writers.ops)
        for x in v + w:
            self.fail(point, "-", "-", "%s: %s" % (x["check"], x["what"]))
        self.writers.running.set()
        return key

    def verify_stores(self):
        """Stops every node (cleanly: exit 0) and checks its whole store offline."""
        for n in self.net.nodes:
            rc = n.stop()
            if rc != 0:
                self.fail("end", "-", "-", "%s did not stop cleanly: %s" % (n.org, rc))
            p = subprocess.run([self.net.treaty, "audit", "verify", "--store", n.dir],
                               capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                self.fail("end", "-", "-", "treaty audit verify --store %s: exit %d: %s" % (
                    n.org, p.returncode, (p.stdout + p.stderr)[-500:]))

    def run(self):
        print("crash points: seed %d, %d iteration(s) per point and role, points: %s" % (
            self.args.seed, self.args.iterations, " ".join(self.points)), flush=True)
        self.net.start()
        self.writers.start()
        head = None
        try:
            for point in self.points:
                for role in ROLES.get(point, ("leader", "follower")):
                    for it in range(self.args.iterations):
                        if not self.iteration(point, role, it):
                            break
                head = self.check(point)
            self.writers.close()
            head = self.check("end", expect_writes=False)
            self.writers.running.clear()
            if head is not None:
                with tempfile.TemporaryDirectory(prefix="treaty-crash-audit-") as d:
                    for x in checker.audit(self.view, head[0], d):
                        self.fail("end", "-", "-", "%s: %s" % (x["check"], x["what"]))
            self.verify_stores()
        finally:
            self.writers.close()
            try:
                self.net.close(keep=self.args.keep or bool(self.violations))
            except RuntimeError as e:
                self.fail("end", "-", "-", str(e))
        self.report(head)
        return 1 if self.violations else 0

    def report(self, head):
        print("\npoint                     role      iterations  died  mean s to death")
        for (point, role), (n, died, secs) in self.stats.items():
            print("%-25s %-9s %10d %5d %16.1f" % (point, role, n, died, secs / max(n, 1)))
        print("writes acknowledged: %d (attempts %d); final height %s; %.0f s" % (
            self.writers.acked(), len(self.writers.ops), head[0] if head else "?",
            time.time() - self.t0))
        by = {}
        for o in self.writers.ops:
            by[str(o.status)] = by.get(str(o.status), 0) + 1
        print("write attempts by answer: %s" % ", ".join(
            "%s %d" % kv for kv in sorted(by.items())))
        print("violations: %d (seed %d)%s" % (len(self.violations), self.args.seed,
                                               "; kept " + self.net.root if self.violations
                                               else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("treaty")
    ap.add_argument("--schema", default=os.path.join(HERE, "chaos-schema.json"))
    ap.add_argument("--iterations", type=int,
                    default=int(os.environ.get("TREATY_CRASH_ITERATIONS", "1")))
    ap.add_argument("--points", default=os.environ.get("TREATY_CRASH_POINTS", ""),
                    help="comma-separated subset (default: every point of treaty failpoints)")
    ap.add_argument("--seed", type=int, default=int(os.environ.get(
        "TREATY_CRASH_SEED", str(random.SystemRandom().randrange(1, 10 ** 6)))))
    ap.add_argument("--checkpoint-blocks", type=int, default=64,
                    help="checkpoint.every_blocks of the genesis (default 64, as `treaty network "
                         "create`): with 8 under this load, 64 checkpoints pass in about 11 s, the "
                         "window in which a node resends a lost cosignature (docs/reliability.md)")
    ap.add_argument("--keep", action="store_true", help="keep the network's directories")
    args = ap.parse_args()
    args.treaty, args.schema = os.path.abspath(args.treaty), os.path.abspath(args.schema)
    if not 1 <= args.iterations <= 10000:
        raise SystemExit("--iterations must be 1..10000")
    try:
        known = list_points(args.treaty)
    except RuntimeError as e:
        print(e)
        return 2
    points = [p for p in args.points.split(",") if p] or known
    unknown = [p for p in points if p not in known]
    if unknown:
        print("unknown failpoints: %s (treaty failpoints lists %s)" % (
            ", ".join(unknown), ", ".join(known)))
        return 2
    try:
        return Run(args, points).run()
    except (RuntimeError, OSError) as e:
        print("crash points: the harness failed: %s" % e, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
