"""scheduler.py — a seeded fault schedule, made up front and then played against the cluster.

plan(seed, ...) depends on nothing but its arguments, so a seed replays the same schedule: the
same kinds in the same order, at the same offsets, for the same durations, on the same node
indexes and link sets. Only "isolated leader" names its target at run time (whichever node leads
then), since who wins an election is not seeded. Faults run one at a time, each for a bounded
random time, with a short calm gap after each heal; a fault may carry a cross-cloud delay
(50 +- 20 ms on every link) beside it. After the last fault everything heals.
"""
import os
import random
import time

import lostwrites
import membership

KINDS = ["partition-halves", "partition-leader", "partition-oneway", "partition-ring", "kill9",
         "kill9-lose", "pause", "delay", "loss", "disk-full"]


def plan(seed, n, duration, min_fault=4.0, max_fault=12.0, gap=(1.0, 4.0), membership=True):
    """A list of dicts {at, kind, dur, nodes?, links?, delay?, with?}; every kind comes once in a
    shuffled round before any comes again, so a short run still covers them all. A membership
    change runs "with" a companion fault: delay, kill -9 of a founder, or a one-way cut."""
    rng = random.Random(seed)
    out, t, bag = [], 3.0, []
    kinds = KINDS + (["membership"] if membership else [])
    while True:
        if not bag:
            bag = list(kinds)
            rng.shuffle(bag)
        kind = bag.pop()
        dur = round(rng.uniform(min_fault, max_fault), 2)
        if t + dur > duration - 2:
            break
        f = {"at": round(t, 2), "kind": kind, "dur": dur}
        order = list(range(n))
        rng.shuffle(order)
        if kind == "partition-halves":
            side = set(order[: n // 2])
            f["links"] = [(a, b) for a in range(n) for b in range(n)
                          if a != b and ((a in side) != (b in side))]
        elif kind == "partition-oneway":
            a, b = order[0], order[1]
            f["links"] = [(a, b)]
            if n > 3:  # one-way from a to a minority of two
                f["links"].append((a, order[2]))
        elif kind == "partition-ring":
            # each node keeps links only to its neighbours on a random ring
            ring = order
            keep = set()
            for i in range(n):
                x, y = ring[i], ring[(i + 1) % n]
                keep |= {(x, y), (y, x)}
            f["links"] = [(a, b) for a in range(n) for b in range(n)
                          if a != b and (a, b) not in keep]
        elif kind in ("kill9", "pause"):
            f["nodes"] = [order[0]] if n <= 3 or rng.random() < 0.5 else order[:2]
        elif kind == "kill9-lose":
            # not the disk-full node: its tmpfs has no room for the shim's images
            f["nodes"] = [i for i in order if i != n - 1][:1]
        elif kind == "delay":
            f["delay"] = [50, 20]
        elif kind == "loss":
            f["loss"] = round(rng.choice([0.01, 0.02, 0.05]), 3)
            f["delay"] = [50, 20]
        elif kind == "membership":
            f["with"] = rng.choice(["delay", "kill9", "partition-oneway"])
            if f["with"] == "kill9":
                f["nodes"] = [order[0]]
            elif f["with"] == "partition-oneway":
                f["links"] = [(order[0], order[1])]
            else:
                f["delay"] = [50, 20]
        if kind.startswith("partition") or kind in ("kill9", "kill9-lose", "pause", "disk-full"):
            if rng.random() < 0.3:
                f["delay"] = [50, 20]
        out.append(f)
        t += dur + rng.uniform(*gap)
    return out


class Player:
    """Plays a plan against a Cluster and a ProxySet; records what it did in self.history."""

    def __init__(self, cluster, proxies, log, seed):
        self.c, self.p, self.log = cluster, proxies, log
        self.history = []
        self.rng = random.Random(seed ^ 0x3e3b)
        self.counts = {}
        self.disk_observations = []

    def _names(self, pairs):
        return [(self.c.nodes[a].slot, self.c.nodes[b].slot) for a, b in pairs]

    def _links_all(self, **kw):
        for (a, b) in self.p.links:
            self.p.set_link(a, b, **kw)

    def _restart_dead(self, note):
        for n in self.c.members_nodes():
            if n.proc is None or not n.alive():
                code = n.poll_exit(expected=False) if n.proc is not None else None
                if code is not None:
                    self.log("node %s had exited %s (%s)" % (n.org, code, note))
                n.start()

    def play(self, faults, t0, stop_at):
        for f in faults:
            wait = t0 + f["at"] - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() + f["dur"] > stop_at:
                break
            self._one(f)
        self.heal("end of schedule")

    def _one(self, f):
        kind = f["kind"]
        skip = {"disk-full": self.c.tmpfs is None and "no tmpfs could be mounted here",
                "kill9-lose": self.c.shim is None and "no lost-writes shim (libtreaty-lostwrites.so)"}
        if skip.get(kind):
            self.log("fault %s skipped: %s" % (kind, skip[kind]))
            self.counts[kind + "-skipped"] = self.counts.get(kind + "-skipped", 0) + 1
            return
        rec = {"kind": kind, "start": time.time(), "plan": f}
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if "delay" in f:
            self._links_all(delay_ms=f["delay"][0], jitter_ms=f["delay"][1])
        undo = None
        names = self._names(f.get("links", []))
        if kind == "partition-leader":
            lead = self.c.leader() or self.c.nodes[0]
            others = [m.slot for m in self.c.members_nodes() if m is not lead]
            names = [(lead.slot, b) for b in others] + [(b, lead.slot) for b in others]
            rec["target"] = lead.org
        if names:
            rec["links"] = names
            for a, b in names:
                self.p.set_link(a, b, blocked=True)
            undo = lambda: [self.p.set_link(a, b, blocked=False) for a, b in names]
        if kind == "kill9" or f.get("with") == "kill9":
            victims = [self.c.nodes[i] for i in f["nodes"]]
            rec["target"] = [v.org for v in victims]
            for v in victims:
                v.kill9()
            undo = lambda: [v.start() for v in victims if not v.alive()]
        elif kind == "kill9-lose":
            victims = [self.c.nodes[i] for i in f["nodes"]]
            rec["target"] = [v.org for v in victims]
            for v in victims:
                v.kill9()
            undo = lambda: self._lose_restart(victims, rec)
        elif kind == "pause":
            victims = [self.c.nodes[i] for i in f["nodes"]]
            rec["target"] = [v.org for v in victims]
            for v in victims:
                v.pause()
            undo = lambda: [v.resume() for v in victims]
        elif kind == "loss":
            self._links_all(loss=f["loss"])
        elif kind == "disk-full":
            undo = self._disk_full(rec)
        self.log("fault %-17s for %5.1fs %s" % (kind, f["dur"], {k: rec[k] for k in rec
                                                               if k in ("target", "links")}))
        end = time.time() + f["dur"]
        if kind == "membership":
            rec["completed"] = membership.change(self.c, self.rng, rec, max(f["dur"], 20.0))
            self.log("  membership: %s %s" % (rec["change"], "done" if rec["completed"]
                                              else "not completed within its bounds"))
        time.sleep(max(0.0, end - time.time()))
        if undo:
            undo()
        if kind == "disk-full":
            self._disk_recover(rec)
        self._links_all(delay_ms=0, jitter_ms=0, loss=0)
        rec["end"] = time.time()
        self.history.append(rec)

    def _lose_restart(self, victims, rec):
        """The lose step of kill9-lose: each victim's files as a power loss leaves them, then
        the restart (under the shim again)."""
        rec["lost"] = {}
        for v in victims:
            r = lostwrites.lose(v.dir)
            rec["lost"][v.org] = {k: r[k] for k in ("bytes", "pages", "changed", "files")}
            self.log("  %s: %s" % (v.org, lostwrites.describe(r)))
            v.start()

    def _disk_full(self, rec):
        n = self.c.disk_node
        rec["target"] = n.org
        rec["log_offset"] = os.path.getsize(n.log_path) if os.path.exists(n.log_path) else 0
        rec["filled_bytes"] = self.c.fill_disk()
        return None

    def _disk_recover(self, rec):
        n = self.c.disk_node
        code = n.poll_exit(expected=True) if n.proc is not None and not n.alive() else None
        with open(n.log_path, "rb") as f:
            f.seek(max(0, rec.get("log_offset", 0)))
            tail = f.read().decode("utf-8", "replace").splitlines()
        hits = [l for l in tail if "full" in l.lower() or "space" in l.lower() or
                "persist" in l.lower()][-3:]
        self.c.unfill_disk()
        obs = {"node": n.org, "exited": code, "log": hits}
        if code is not None:
            n.start()
            obs["restarted"] = True
        rec["observed"] = obs
        self.disk_observations.append(obs)

    def heal(self, why):
        self.p.heal()
        if self.c.tmpfs:
            self.c.unfill_disk()
        for n in self.c.nodes:
            n.resume()
        self._restart_dead(why)
        late = membership.settle(self.c)
        if late:
            self.log("membership: the pending join %s" % late)
        self.log("healed (%s)" % why)
