#!/usr/bin/env python3
"""chaos.py — the fault harness: real treaty nodes, proxied peer links, a seeded fault schedule,
concurrent writers and linearizable readers, and a checker after healing (tests/chaos/README.md).

  python3 tests/chaos/chaos.py --treaty build/dbg/node/treaty --nodes 3 --duration 120 --seed 7

Exit status: 0 no violation; 1 violations (printed with the seed, the fault history and the
operations that show them); 2 the harness could not run (bad arguments, setup failed).
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import checker  # noqa: E402
import lostwrites  # noqa: E402
import cluster as cl  # noqa: E402
import proxy  # noqa: E402
import scheduler  # noqa: E402
import workload  # noqa: E402


def parse(argv):
    ap = argparse.ArgumentParser(description="fault-injection run against real treaty nodes")
    ap.add_argument("--treaty", required=True, help="the treaty binary")
    ap.add_argument("--schema", default=os.path.join(HERE, "chaos-schema.json"))
    ap.add_argument("--nodes", type=int, default=3, choices=(3, 5))
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of faults and load")
    ap.add_argument("--seed", type=int, default=None, help="default: a random one (printed)")
    ap.add_argument("--out", help="write the summary as JSON here")
    ap.add_argument("--mode", default="auto", choices=("auto", "netns", "loopback"))
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--readers", type=int, default=3)
    ap.add_argument("--max-ops", type=int, default=200000, help="bound on recorded operations")
    ap.add_argument("--min-fault", type=float, default=4.0)
    ap.add_argument("--max-fault", type=float, default=12.0)
    ap.add_argument("--tmpfs-mb", type=int, default=64, help="size of the disk-full node's tmpfs")
    ap.add_argument("--heal-timeout", type=float, default=120.0)
    ap.add_argument("--no-membership", action="store_true",
                    help="leave out the membership fault (and the spare slot it needs)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--plan-only", action="store_true", help="print the schedule and exit")
    ap.add_argument("--in-hub", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 2 ** 31)
    if a.duration < 20 or a.duration > 24 * 3600:
        ap.error("--duration must be 20 s to 24 h")
    return a


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def in_namespaces(a, argv):
    """Makes the namespaces, runs this script again inside the hub, removes them."""
    ns = cl.Namespaces(a.nodes + (0 if a.no_membership else 1))
    try:
        ns.create()
        args = ["ip", "netns", "exec", ns.hub, sys.executable, os.path.abspath(__file__)] + argv
        args += ["--seed", str(a.seed), "--in-hub", ns.tag]
        return subprocess.call(args)
    finally:
        ns.delete()


def main(argv):
    a = parse(argv)
    if a.plan_only:
        print(json.dumps(scheduler.plan(a.seed, a.nodes, a.duration, a.min_fault, a.max_fault,
                                        membership=not a.no_membership), indent=1))
        return 0
    if a.in_hub is None:
        print("chaos: seed %d" % a.seed, flush=True)
        mode = cl.detect_mode(a.mode)
        if mode == "netns":
            return in_namespaces(a, argv)
        return run(a, "loopback", None)
    ns = cl.Namespaces(a.nodes + (0 if a.no_membership else 1))
    ns.tag, ns.hub = a.in_hub, a.in_hub + "h"
    ns.nodes = ["%sn%d" % (a.in_hub, i) for i in range(len(ns.nodes))]
    return run(a, "netns", ns)


def run(a, mode, ns):
    log("chaos: seed %d, mode %s (%s), %d nodes, %.0f s" % (
        a.seed, mode, "a namespace per node, veth pairs to a hub, proxies in the hub"
        if mode == "netns" else "loopback, one proxy per node: link faults cut every link into "
        "a node", a.nodes, a.duration))
    root = tempfile.mkdtemp(prefix="treaty-chaos-")
    c = cl.Cluster(os.path.abspath(a.treaty), a.schema, a.nodes, mode, root, a.tmpfs_mb, ns,
                   spare=not a.no_membership)
    c.shim = lostwrites.find_shim(a.treaty)
    log("lost writes: %s" % ("nodes run under the shim %s (kill9-lose loses their un-fsynced "
                             "writes; not the disk-full node)" % c.shim if c.shim else
                             "no shim (libtreaty-lostwrites.so) beside the treaty binary nor in "
                             "TREATY_LOSTWRITES_SO: kill9-lose faults are skipped"))
    p = None
    result = {"seed": a.seed, "mode": mode, "nodes": a.nodes, "duration_s": a.duration}
    violations, codes, player, wl = [], {}, None, None
    try:
        c.init()
        p = proxy.ProxySet(c.proxy_nodes(), a.seed)
        p.start()
        for n in c.nodes:
            n.start()
        if c.wait_leader(60.0) is None:
            raise RuntimeError("no leader within 60 s")
        faults = scheduler.plan(a.seed, a.nodes, a.duration, a.min_fault, a.max_fault,
                                membership=not a.no_membership)
        log("schedule: %d faults: %s" % (len(faults), " ".join(f["kind"] for f in faults)))
        t0 = time.time()
        wl = workload.Workload(c, a.seed, a.writers, a.readers, a.max_ops, t0 + a.duration,
                               a.seed)
        wl.start()
        player = scheduler.Player(c, p, log, a.seed)
        player.play(faults, t0, t0 + a.duration)
        if not wl.join(60.0):
            log("warning: some workload threads still running after 60 s")
        log("load done; checking (heal wait up to %.0f s)" % a.heal_timeout)
        violations += check(c, wl, player, a, root, result)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        log("harness error: %s" % e)
        result["harness_error"] = str(e)
        for n in c.nodes:
            log("--- %s log tail ---" % n.org)
            log(tail(n.log_path))
    finally:
        codes = c.teardown()
        if p is not None:
            p.stop()
    violations += checker.crashes(c, codes)
    summarize(a, result, violations, player, wl, p, codes)
    if not a.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        log("work directory kept: %s" % root)
    if "harness_error" in result:
        return 2
    return 1 if violations else 0


def check(c, wl, player, a, root, result):
    v = []
    c = types.SimpleNamespace(nodes=c.members_nodes(), treaty=c.treaty)
    result["checked_nodes"] = [n.org for n in c.nodes]
    key, cv = checker.converge(c, a.heal_timeout)
    v += cv
    final, wv = checker.writes(c, wl.ops)
    v += wv
    checked, rv = checker.reads(wl.ops, final)
    v += rv
    result["reads_checked"] = checked
    result["records_final"] = len(final)
    if key is not None:
        result["head"] = {"height": key[0], "block_hash": key[1], "root": key[2],
                          "tree_size": key[3]}
        v += checker.audit(c, key[0], root)
    return v


def tail(path, n=25):
    try:
        with open(path, "rb") as f:
            return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def summarize(a, result, violations, player, wl, p, codes):
    ops = wl.ops if wl else []
    writes = [o for o in ops if o.kind == "write"]
    result.update({
        "faults": dict(sorted((player.counts if player else {}).items())),
        "writes_attempted": len(writes),
        "writes_acknowledged": sum(1 for o in writes if o.acked()),
        "writes_wait_none_accepted": sum(1 for o in writes if o.status == 202),
        "writes_indeterminate": sum(1 for o in writes if o.status in ("timeout", "conn")
                                    or (isinstance(o.status, int) and o.status >= 500)),
        "reads": sum(1 for o in ops if o.kind == "read"),
        "proxy": dict(p.stats) if p else {},
        "kills": {n.org: n.killed_by_harness for n in (player.c.nodes if player else [])},
        "membership": [{k: h.get(k) for k in ("change", "completed", "earlier_join")}
                       for h in (player.history if player else []) if h["kind"] == "membership"],
        "disk_full": player.disk_observations if player else [],
        "stop_codes": codes,
        "findings": player.c.findings if player else [],
        "violations": violations,
    })
    result.setdefault("reads_checked", 0)
    if violations:
        print("\nVIOLATIONS (seed %d):" % a.seed)
        for x in violations[:50]:
            print(" - [%s] %s" % (x["check"], x["what"]))
            for o in x["ops"][:6]:
                print("     op %s" % json.dumps(o))
        print("fault history (seed %d):" % a.seed)
        for h in (player.history if player else []):
            print("   %s" % json.dumps({k: h[k] for k in h if k not in ("plan", "log_offset")}))
    print("\nseed %d  mode %s  faults %s" % (a.seed, result["mode"], json.dumps(result["faults"])))
    print("writes acknowledged %d of %d (202 accepted %d, indeterminate %d); reads checked %d; "
          "violations %d" % (result["writes_acknowledged"], result["writes_attempted"],
                             result["writes_wait_none_accepted"], result["writes_indeterminate"],
                             result["reads_checked"], len(violations)))
    for x in result["findings"]:
        print("finding: %s" % x)
    if result.get("disk_full"):
        print("disk full observed: %s" % json.dumps(result["disk_full"]))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1, default=str)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
