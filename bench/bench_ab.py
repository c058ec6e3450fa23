#!/usr/bin/env python3
"""Two treaty builds (or settings) against each other: writes/s of fresh networks, alternating.

  bench_ab.py --a PATH --b PATH [--pairs 3] [--connections 256] [--duration 8] [--out FILE]
  bench_ab.py --a PATH --b PATH --env-b TREATY_X=1     (one binary, two environments)
  bench_ab.py --a PATH --b PATH --smoke --out FILE     (a short run whose JSON is checked)

Each run is bench_compare.py's write measurement on a network of its own: --nodes orgs created,
started, a leader awaited, --warmup then --duration seconds of 1 KB Shipment creates over
--connections connections round-robin over the nodes (after --preload records written
unmeasured at the same concurrency, for a store that is not empty), every node stopped. A pair is one run of
each build; the order alternates from pair to pair (A B, B A, A B, ...), because on a shared or
virtual machine the second of two runs in a row is not measured under the conditions of the
first (docs/performance.md, "Runs in a row"). Between runs it waits --pause seconds.

It prints every run, then per build the median and mean writes/s and the nodes' CPU per write,
and two ratios that the alternation separates: B / A (the builds) and second / first (the
position in the pair, whatever the build). Both are geometric means over the pairs, with their
smallest and largest pair. Everything it starts is stopped again, also on errors and Ctrl-C.
"""
import argparse
import json
import math
import os
import shutil
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_compare import SCALE_ORGS, Bench  # noqa: E402
from bench_network import BenchError, find_loadgen  # noqa: E402


def env_pairs(items, flag):
    out = {}
    for it in items or []:
        k, sep, v = it.partition("=")
        if not sep or not k:
            raise BenchError("%s %r: expected NAME=VALUE" % (flag, it))
        out[k] = v
    return out


def geo(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


class AB:
    def __init__(self, args):
        self.a = args
        a_bin, b_bin = os.path.abspath(args.a), os.path.abspath(args.b)
        for p in (a_bin, b_bin):
            if not os.access(p, os.X_OK):
                raise BenchError("not an executable: %s" % p)
        args.treaty = a_bin
        args.loadgen = find_loadgen(args.loadgen, a_bin)
        args.apply = None
        self.bench = Bench(args)
        self.builds = {"A": (a_bin, env_pairs(args.env_a, "--env-a")),
                       "B": (b_bin, env_pairs(args.env_b, "--env-b"))}

    def run(self, build, conns, tag):
        """One fresh network of `build`, measured at `conns` connections."""
        binary, env = self.builds[build]
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the nodes inherit it
        b = self.bench
        b.treaty = binary
        b.run_no = 0  # a fresh network: ids may start again
        net = b.treaty_network(SCALE_ORGS[:self.a.nodes], tag)
        try:
            b.treaty_up(net)
            if self.a.preload:
                saved_d = self.a.duration
                self.a.duration = max(saved_d, self.a.preload / 100.0)  # --requests ends it
                try:
                    b.treaty_writes(net, conns, self.a.record_bytes, requests=self.a.preload)
                finally:
                    self.a.duration = saved_d
            m, _ = b.treaty_writes(net, conns, self.a.record_bytes)
        finally:
            net.stop_all()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            shutil.rmtree(net.dir, ignore_errors=True)
        m.pop("report", None)
        return m

    def level(self, conns):
        a = self.a
        runs = []
        for i in range(a.pairs):
            order = ("A", "B") if i % 2 == 0 else ("B", "A")
            for pos, build in enumerate(order):
                if runs:
                    time.sleep(a.pause)
                m = self.run(build, conns, "ab-%d-%d-%s" % (conns, i, build))
                runs.append({"pair": i + 1, "position": pos + 1, "build": build, **m})
                cpu = m["cpu_s_per_1k"]
                self.bench.log("pair %d, %s (%s): %10.1f writes/s  p99 %7.2f ms  CPU %s ms/write"
                               % (i + 1, build, "first" if pos == 0 else "second",
                                  m["ops_per_s"], m["p99_ms"],
                                  "%.3f" % cpu if cpu is not None else "-"))
        return self.summary(conns, runs)

    def summary(self, conns, runs):
        out = {"connections": conns, "runs": runs, "builds": {}}
        for build in ("A", "B"):
            rates = [r["ops_per_s"] for r in runs if r["build"] == build]
            cpus = [r["cpu_s_per_1k"] for r in runs if r["build"] == build and
                    r["cpu_s_per_1k"] is not None]
            out["builds"][build] = {
                "median_writes_per_s": statistics.median(rates),
                "mean_writes_per_s": statistics.fmean(rates),
                "mean_cpu_ms_per_write": statistics.fmean(cpus) if cpus else None}
        by_pair = {}
        for r in runs:
            by_pair.setdefault(r["pair"], {})[r["build"]] = r
        ba = [p["B"]["ops_per_s"] / p["A"]["ops_per_s"] for p in by_pair.values()
              if p["A"]["ops_per_s"] > 0 and p["B"]["ops_per_s"] > 0]
        second = []
        for p in by_pair.values():
            first = [r for r in p.values() if r["position"] == 1][0]["ops_per_s"]
            last = [r for r in p.values() if r["position"] == 2][0]["ops_per_s"]
            if first > 0 and last > 0:
                second.append(last / first)
        out["b_over_a"] = {"geomean": geo(ba), "min": min(ba, default=None),
                           "max": max(ba, default=None), "pairs": ba}
        out["second_over_first"] = {"geomean": geo(second), "min": min(second, default=None),
                                    "max": max(second, default=None), "pairs": second}
        log = self.bench.log
        log("%d connections, %d pairs:" % (conns, len(by_pair)))
        for build in ("A", "B"):
            s = out["builds"][build]
            cpu = s["mean_cpu_ms_per_write"]
            log("  %s: median %.1f writes/s, mean %.1f, CPU %s ms/write (mean)"
                % (build, s["median_writes_per_s"], s["mean_writes_per_s"],
                   "%.3f" % cpu if cpu is not None else "-"))
        for name, key in (("B / A", "b_over_a"), ("second / first", "second_over_first")):
            r = out[key]
            if r["geomean"] is not None:
                log("  %s: %.3f (pairs %.3f to %.3f)" % (name, r["geomean"], r["min"], r["max"]))
        return out


def check_result(res, levels, pairs):
    """Problems in a report: an empty list when it is well formed."""
    bad = []
    got = [lv.get("connections") for lv in res.get("levels", [])]
    if got != levels:
        bad.append("levels %r, expected %r" % (got, levels))
    for lv in res.get("levels", []):
        runs = lv.get("runs", [])
        if len(runs) != 2 * pairs:
            bad.append("%s connections: %d runs, expected %d"
                       % (lv.get("connections"), len(runs), 2 * pairs))
        for r in runs:
            if not r.get("ops_per_s", 0) > 0 or not r.get("ok", 0) > 0:
                bad.append("a run without ok writes: %r" % {k: r.get(k) for k in
                                                            ("pair", "build", "ok")})
            if r.get("errors"):
                bad.append("pair %s, %s: %d errors" % (r.get("pair"), r.get("build"),
                                                       r["errors"]))
        orders = {}
        for r in runs:
            orders.setdefault(r["pair"], []).append(r["build"])
        for p, o in orders.items():
            want = ["A", "B"] if p % 2 == 1 else ["B", "A"]
            if o != want:
                bad.append("pair %d ran %s, expected %s" % (p, o, want))
        ba = lv.get("b_over_a", {}).get("geomean")
        if ba is None or not ba > 0:
            bad.append("%s connections: no B / A ratio" % lv.get("connections"))
    return bad


def make_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True, help="build A: a treaty binary")
    ap.add_argument("--b", required=True, help="build B: a treaty binary (may be A's)")
    ap.add_argument("--env-a", action="append", metavar="NAME=VALUE",
                    help="set in A's nodes' environment (repeatable)")
    ap.add_argument("--env-b", action="append", metavar="NAME=VALUE",
                    help="set in B's nodes' environment (repeatable)")
    ap.add_argument("--loadgen", help="treaty-loadgen (default: next to build A)")
    ap.add_argument("--pairs", type=int, default=3, help="pairs of runs per level")
    ap.add_argument("--connections", default="256", help="write concurrencies, e.g. 64,256")
    ap.add_argument("--nodes", type=int, default=3, help="nodes per network (1-7)")
    ap.add_argument("--record-bytes", type=int, default=1024, help="record size (>= 148)")
    ap.add_argument("--duration", type=float, default=8.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    ap.add_argument("--preload", type=int, default=0,
                    help="records written (unmeasured) before each run's measurement")
    ap.add_argument("--pause", type=float, default=5.0, help="seconds between runs")
    ap.add_argument("--leader-timeout", type=float, default=60.0)
    ap.add_argument("--smoke", action="store_true",
                    help="1 pair at 4 connections, 0.5 s, no pause; the JSON is checked")
    ap.add_argument("--out", help="write every run and the summary as JSON here")
    ap.add_argument("--workdir", help="work here (default: a temporary folder, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return ap


def main():
    ap = make_parser()
    args = ap.parse_args()
    if args.smoke:
        args.pairs, args.connections = 1, "4"
        args.duration, args.warmup, args.pause = 0.5, 0.2, 0.0
    try:
        levels = [int(x) for x in args.connections.split(",") if x]
    except ValueError:
        ap.error("--connections: a comma-separated list of numbers")
    if not levels or min(levels) < 1:
        ap.error("--connections: at least one level, each at least 1")
    if args.pairs < 1:
        ap.error("--pairs: at least 1")
    if not 1 <= args.nodes <= len(SCALE_ORGS):
        ap.error("--nodes: 1 to %d" % len(SCALE_ORGS))
    if args.preload < 0:
        ap.error("--preload: 0 or more")
    if args.pause < 0 or args.duration <= 0 or args.warmup < 0:
        ap.error("--pause and --warmup: 0 or more; --duration: more than 0")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    ab = None
    rc = 0
    try:
        ab = AB(args)
        ab.bench.log("A: %s %s\nB: %s %s" % (
            ab.builds["A"][0], " ".join("%s=%s" % kv for kv in ab.builds["A"][1].items()),
            ab.builds["B"][0], " ".join("%s=%s" % kv for kv in ab.builds["B"][1].items())))
        res = {"a": {"binary": ab.builds["A"][0], "env": ab.builds["A"][1]},
               "b": {"binary": ab.builds["B"][0], "env": ab.builds["B"][1]},
               "params": {k: v for k, v in vars(args).items()
                          if k not in ("a", "b", "env_a", "env_b", "treaty", "loadgen",
                                       "apply", "workdir", "out")},
               "levels": [ab.level(c) for c in levels]}
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(res, fh, indent=2)
        if args.smoke:
            bad = check_result(res, levels, args.pairs)
            for x in bad:
                print("FAIL " + x)
            print("smoke: %d problems in the report" % len(bad))
            rc = 1 if bad else 0
    except BenchError as e:
        print("bench_ab: %s" % e, file=sys.stderr)
        rc = 3
    except KeyboardInterrupt:
        print("bench_ab: interrupted; every process stopped", file=sys.stderr)
        rc = 130
    finally:
        if ab is not None and not args.keep and not args.workdir:
            shutil.rmtree(ab.bench.dir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
