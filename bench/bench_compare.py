#!/usr/bin/env python3
"""treaty against etcd and nginx on this machine, with one load generator (treaty-loadgen).

  bench_compare.py --treaty PATH [--duration S] [--connections 1,16,64,256] [--out FILE]
  bench_compare.py --treaty PATH --scale nodes,sizes,startup   (scaling modes instead)
  bench_compare.py --treaty PATH --smoke --out FILE             (~20 s check, for ctest)

Default run, one system loaded at a time (--rounds N: N times on fresh systems, the system
that goes first at each level alternating from round to round; medians reported):
 1. writes: a 3-org treaty network (1 KB Shipment creates; every org may create them here, so the
    connections go round-robin over the three nodes, each with its own writer key) and a 3-member
    etcd cluster (PUT of a 1 KB value under a unique key through the JSON gateway), at each
    concurrency: writes/s, p50/p99/p99.9, CPU seconds per 1,000 writes of the 3 server processes
    over the measured window, peak RSS per node, and treaty/etcd per level;
 2. reads by key on one node (treaty GET with a reader key, etcd serializable range), and the same
    1 KB record as a static file from one nginx process: the HTTP read limit of this machine;
 3. the single-process apply limit (treaty-bench-apply, same records and schema).
Prints tables and writes all figures as JSON (--out). Everything it starts is stopped again, also
on errors and Ctrl-C; every wait is bounded.
"""
import argparse
import base64
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baselines import (BaselineError, EtcdCluster, Nginx, cpu_seconds,  # noqa: E402
                       ensure_packages, machine_busy_seconds, stop_process, version_of,
                       vm_hwm_kb)
from bench_network import (ROOT, BenchError, Network, find_loadgen,  # noqa: E402
                           free_port)

STRIDE = 5_000_000  # {n} range per run: ids stay 8 digits (body sizes exact) for 19 runs
SCALE_ORGS = ("acme", "globex", "initech", "hooli", "umbrella", "stark", "wayne")
ETCD_KEY_PREFIX = base64.b64encode(b"bench/").decode()  # 8 characters, no padding
RECORD_PATH = "/record.json"
ROUNDS_MAX = 9


def memory_mb(pid):
    """Peak and current resident memory of process pid in MB, from /proc/PID/status: VmHWM,
    RssAnon (heap and stacks) and RssFile (file pages mapped and touched: LMDB's map)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "RssAnon", "RssFile"):
                out[k] = round(int(v.split()[0]) / 1024.0, 1)
    return {"hwm": out.get("VmHWM"), "anon": out.get("RssAnon"), "file": out.get("RssFile")}


def store_mb(node_dir):
    """Bytes of the LMDB data files under a node's directory, in MB."""
    total = 0
    for root, _, files in os.walk(node_dir):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if f == "data.mdb")
    return round(total / 1048576.0, 1)


def mem_text(mems):
    return ", ".join("%.0f/%.0f/%.0f" % (m["hwm"] or 0, m["anon"] or 0, m["file"] or 0)
                     for m in mems)


def ints(text):
    return [int(x) for x in text.split(",") if x.strip()]


class Bench:
    def __init__(self, args):
        self.a = args
        self.treaty = os.path.abspath(args.treaty)
        self.loadgen = find_loadgen(args.loadgen, self.treaty)
        self.apply = args.apply or os.path.join(os.path.dirname(self.loadgen),
                                                "treaty-bench-apply")
        self.dir = args.workdir or tempfile.mkdtemp(prefix="treaty-compare-")
        os.makedirs(self.dir, exist_ok=True)
        self.run_no = 0
        self.bins = {}
        self.schema = os.path.join(self.dir, "schema.json")
        with open(os.path.join(ROOT, "examples", "supply-chain.json")) as fh:
            doc = json.load(fh)
        # The sample schema lets only acme create Shipments; here every member may, so that
        # writes can go to every node (each signs its own batches, as in a real network).
        doc["properties"]["Shipment"]["items"]["x-treaty-acl"]["create"] = ["*"]
        with open(self.schema, "w") as fh:
            json.dump(doc, fh)

    # ------------------------------------------------------------ helpers

    def log(self, msg):
        print(msg, flush=True)

    def record_template(self, size):
        """The Shipment body treaty-loadgen sends with --body-size size ({n:8} unrendered)."""
        p = subprocess.run([self.loadgen, "--body-size", str(size), "--print-body"],
                           capture_output=True, timeout=30)
        if p.returncode != 0:
            raise BenchError("treaty-loadgen --print-body: %s" % p.stderr.decode().strip())
        return p.stdout

    def record(self, size):
        return self.record_template(size).replace(b"{n:8}", b"00000000")

    def next_start(self):
        self.run_no += 1
        return 1 + self.run_no * STRIDE

    def load(self, name, targets, conns, request, pids, start, requests=None):
        """One treaty-loadgen run; CPU of `pids` is sampled at the start and end of the measured
        window. targets: [(host:port, [per-target headers])]. request: extra loadgen args."""
        a = self.a
        out = os.path.join(self.dir, "%s-%d.json" % (name, conns))
        cmd = [self.loadgen, "--connections", str(conns), "--duration", str(a.duration),
               "--warmup", str(a.warmup), "--start", str(start), "--json", out, *request]
        for hp, headers in targets:
            cmd += ["--target", hp]
            for h in headers:
                cmd += ["--target-header", h]
        if requests:
            cmd += ["--requests", str(requests)]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
        try:
            linger(p, a.warmup)
            t0 = time.monotonic()
            c0 = [sum(cpu_seconds(x) for x in pids), cpu_seconds(p.pid), machine_busy_seconds()]
            linger(p, a.duration)  # shorter when --requests ends the run first
            c1 = [sum(cpu_seconds(x) for x in pids), cpu_seconds(p.pid), machine_busy_seconds()]
            window = max(time.monotonic() - t0, 1e-3)
            _, err = p.communicate(timeout=a.warmup + a.duration + 60)
        finally:
            stop_process(p, timeout=5)
        if p.returncode != 0 or not os.path.exists(out):
            raise BenchError("treaty-loadgen (%s, %d connections) exited %d: %s"
                             % (name, conns, p.returncode, err.decode().strip()))
        with open(out) as fh:
            r = json.load(fh)
        lat = r["latency_ms"]
        ok = r["ok"]
        self.log("  %s, %d connections: %.1f/s, p99 %.2f ms, %d errors"
                 % (name, conns, r["ok_rps"], lat["p99"], r["errors"]))
        return {"connections": conns, "ops_per_s": r["ok_rps"], "p50_ms": lat["p50"],
                "p99_ms": lat["p99"], "p99_9_ms": lat["p99.9"], "errors": r["errors"],
                "unfinished": r["unfinished"], "ok": ok,
                "cpu_s_per_1k": (c1[0] - c0[0]) / ok * 1000.0 if ok else None,
                "loadgen_cpu_s_per_1k": (c1[1] - c0[1]) / ok * 1000.0 if ok else None,
                # cores busy with anything else on the machine (other users, the kernel's
                # softirq work not charged to a process) during the window
                "other_cores": max(0.0, (c1[2] - c0[2]) - (c1[0] - c0[0]) - (c1[1] - c0[1]))
                / window,
                "rss_peak_mb": [round(vm_hwm_kb(x) / 1024.0, 1) for x in pids],
                "report": r}

    def row(self, label, m):
        cpu = "%.3f" % m["cpu_s_per_1k"] if m["cpu_s_per_1k"] is not None else "-"
        rss = "/".join("%.0f" % x for x in m["rss_peak_mb"])
        lg = m["loadgen_cpu_s_per_1k"]
        self.log("%6d %-7s %10.1f %8.2f %8.2f %9.2f %9s  %-16s %6d %8s %6.2f"
                 % (m["connections"], label, m["ops_per_s"], m["p50_ms"], m["p99_ms"],
                    m["p99_9_ms"], cpu, rss, m["errors"], "%.3f" % lg if lg is not None else "-",
                    m["other_cores"]))

    def header(self, title, what):
        self.log("\n" + title)
        self.log("%6s %-7s %10s %8s %8s %9s %9s  %-16s %6s %8s %6s" % (
            "conns", "system", what + "/s", "p50 ms", "p99 ms", "p99.9 ms", "CPU s/1k",
            "peak RSS MB", "errors", "lg s/1k", "other"))

    # ------------------------------------------------------------ treaty

    def treaty_network(self, orgs, tag):
        d = os.path.join(self.dir, tag)
        os.makedirs(d, exist_ok=True)
        net = Network(self.treaty, d, log=self.log, orgs=orgs, schema=self.schema,
                      reader_keys=True)
        return net

    def treaty_up(self, net):
        net.create()
        for org in net.org_names:
            net.start(org)
        leader = net.wait_leader(self.a.leader_timeout)
        return leader

    def treaty_writes(self, net, conns, size, requests=None):
        targets = [(net.orgs[o]["api"], ["Authorization: Bearer " + net.orgs[o]["key"]])
                   for o in net.org_names]
        pids = [net.procs[o].pid for o in net.org_names]
        req = ["--method", "POST", "--path", "/v1/data/Shipment", "--body-size", str(size)]
        start = self.next_start()
        m = self.load("treaty-write", targets, conns, req, pids, start, requests)
        net.check_alive()
        return m, start

    def treaty_reads(self, net, org, conns, first, stored):
        o = net.orgs[org]
        req = ["--method", "GET", "--path", "/v1/data/Shipment/SHP-{n:8}", "--cycle",
               str(stored), "--expect", "200"]
        return self.load("treaty-read", [(o["api"], ["Authorization: Bearer " + o["reader"]])],
                         conns, req, [net.procs[org].pid], first)

    # ------------------------------------------------------------ etcd

    def etcd_put_body(self, size):
        value = base64.b64encode(self.record(size)).decode()
        path = os.path.join(self.dir, "etcd-put-%d.json" % size)
        with open(path, "w") as fh:
            # The key's base64 text is the prefix then 12 digits, which are base64 characters
            # too: it decodes to "bench/" + 9 bytes, one-to-one with the number, so every
            # request writes a new key without the load generator knowing base64.
            fh.write('{"key":"%s{n:12}","value":"%s"}' % (ETCD_KEY_PREFIX, value))
        return path

    def etcd_writes(self, etcd, conns, size):
        req = ["--method", "POST", "--path", "/v3/kv/put", "--body-file",
               self.etcd_put_body(size)]
        start = self.next_start()
        m = self.load("etcd-write", [(e, []) for e in etcd.endpoints()], conns, req,
                      etcd.pids(), start)
        etcd.check_alive("etcd")
        return m, start

    def etcd_reads(self, etcd, conns, first, stored):
        path = os.path.join(self.dir, "etcd-range.json")
        with open(path, "w") as fh:
            fh.write('{"key":"%s{n:12}","serializable":true}' % ETCD_KEY_PREFIX)
        ep = etcd.endpoints()[1]
        for n in (first, first + stored - 1):  # a range of a missing key is a 200 too
            key = "%s%012d" % (ETCD_KEY_PREFIX, n)
            if etcd.count_keys(ep, key) != 1:
                raise BenchError("etcd reads: key number %d was not stored" % n)
        req = ["--method", "POST", "--path", "/v3/kv/range", "--body-file", path, "--cycle",
               str(stored)]
        return self.load("etcd-read", [(ep, [])], conns, req, [etcd.pids()[1]], first)

    # ------------------------------------------------------------ the default run

    def compare(self, res):
        a = self.a
        self.log("workdir %s; %s s measured after %s s warm-up per level; %d round(s)"
                 % (self.dir, a.duration, a.warmup, a.rounds))
        rounds = []
        for i in range(a.rounds):
            # Alternate who goes first at every level: what the machine's hour or a first run's
            # memory costs then falls on both systems alike.
            order = ("treaty", "etcd") if i % 2 == 0 else ("etcd", "treaty")
            self.log("\nround %d of %d: %s first at each level" % (i + 1, a.rounds, order[0]))
            rounds.append(self.compare_round(i, order))
        res.update(aggregate(rounds))
        if len(rounds) > 1:
            res["rounds"] = rounds
        self.print_compare(res)

    def compare_round(self, i, order):
        """One round: a fresh treaty network and etcd cluster, both up throughout but loaded one
        at a time, level by level in `order`; then reads (nginx last) and the apply limit."""
        a = self.a
        rd = {"first": order[0], "writes": [{"connections": c} for c in ints(a.connections)],
              "reads": [{"connections": c} for c in ints(a.read_connections)]}
        self.run_no = 0  # fresh systems: ids may start again
        net = self.treaty_network(SCALE_ORGS[:3], "treaty-r%d" % (i + 1))
        edir = os.path.join(self.dir, "etcd-r%d" % (i + 1))
        os.makedirs(edir, exist_ok=True)
        etcd = EtcdCluster(self.bins["etcd"], edir, 3, free_port)
        ngx = Nginx(self.bins["nginx"], self.dir, free_port)
        try:
            self.log("treaty: 3 nodes up, leader %s" % self.treaty_up(net))
            etcd.start(a.leader_timeout)
            self.log("etcd: 3 members healthy")
            ngx.start(RECORD_PATH, self.record(a.record_bytes))
            write = {"treaty": lambda c: self.treaty_writes(net, c, a.record_bytes),
                     "etcd": lambda c: self.etcd_writes(etcd, c, a.record_bytes)}
            first = {}
            for w in rd["writes"]:
                for s in order:
                    w[s], start = write[s](w["connections"])
                    first.setdefault(s, (start, w[s]))
                w["ratio"] = ratios(w["treaty"], w["etcd"])
            # reads on one node, over the first write level's records
            read = {"treaty": lambda c: self.treaty_reads(net, net.org_names[1], c,
                                                          first["treaty"][0],
                                                          stored_count(first["treaty"][1])),
                    "etcd": lambda c: self.etcd_reads(etcd, c, first["etcd"][0],
                                                      stored_count(first["etcd"][1])),
                    "nginx": lambda c: self.load("nginx-read", [(ngx.listen, [])], c,
                                                 ["--method", "GET", "--path", RECORD_PATH],
                                                 ngx.pids(), 1)}
            for r in rd["reads"]:
                for s in order + ("nginx",):
                    r[s] = read[s](r["connections"])
                read_pcts(r)
        finally:
            net.stop_all()
            etcd.stop()
            ngx.stop()
            if not (a.keep or a.workdir):  # a round's stores are not needed after it
                shutil.rmtree(net.dir, ignore_errors=True)
                shutil.rmtree(edir, ignore_errors=True)
        rd["apply"] = self.apply_limit(max(w["treaty"]["ops_per_s"] for w in rd["writes"]))
        return rd

    def apply_limit(self, treaty_best):
        a = self.a
        body = os.path.join(self.dir, "apply-body.json")
        with open(body, "wb") as fh:
            fh.write(self.record_template(a.record_bytes))
        out = os.path.join(self.dir, "apply.json")
        p = subprocess.run([self.apply, "--txs", str(a.apply_txs), "--batches", a.apply_batches,
                            "--schema", self.schema, "--type", "Shipment", "--key", "SHP-{n:8}",
                            "--body-file", body, "--json", out],
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0:
            raise BenchError("treaty-bench-apply exited %d: %s" % (p.returncode,
                                                                 p.stderr.strip()))
        with open(out) as fh:
            ap = json.load(fh)
        ap["treaty_best_writes_per_s"] = treaty_best
        ap["fraction"] = treaty_best / ap["best_txs_per_s"] if ap["best_txs_per_s"] else None
        return ap

    def print_compare(self, res):
        self.header("writes (%d B records; connections round-robin over 3 nodes)"
                    % self.a.record_bytes, "writes")
        for w in res["writes"]:
            self.row("treaty", w["treaty"])
            self.row("etcd", w["etcd"])
            rt = w["ratio"]
            self.log("%6s %-7s %9.2fx %8.2f %8.2f %9.2f %9s" % (
                "", "t/e", rt["ops_per_s"], rt["p50_ms"], rt["p99_ms"], rt["p99_9_ms"],
                "%.2f" % rt["cpu_s_per_1k"] if rt["cpu_s_per_1k"] is not None else "-"))
            if len(w["ratio_rounds"]) > 1:
                self.log("%6s %-7s %s" % ("", "rounds", ", ".join(
                    "%.2fx" % x for x in w["ratio_rounds"])))
        self.header("reads by key on one node (nginx: the same record as a static file)", "reads")
        for r in res["reads"]:
            for s in ("treaty", "etcd", "nginx"):
                self.row(s, r[s])
            self.log("%6s treaty = %.1f %% of nginx, etcd = %.1f %% of nginx%s"
                     % ("", r["treaty_pct_of_nginx"], r["etcd_pct_of_nginx"],
                        rounds_text(r["treaty_pct_of_nginx_rounds"], "%.1f %%")))
        ap = res["apply"]
        runs = ", ".join("batch %d: %.0f/s" % (x["batch"], x["txs_per_s"]) for x in ap["runs"])
        self.log("\napply limit (treaty-bench-apply, one process, %d B Shipments): %s"
                 % (ap["record_bytes"], runs))
        self.log("treaty's best end-to-end writes/s %.1f = %.1f %% of the best apply rate %.0f/s%s"
                 % (ap["treaty_best_writes_per_s"], 100.0 * (ap["fraction"] or 0),
                    ap["best_txs_per_s"],
                    rounds_text([100.0 * (x or 0) for x in ap["fraction_rounds"]], "%.1f %%")))

    # ------------------------------------------------------------ scaling modes

    def scale_nodes(self, res):
        a = self.a
        out = res.setdefault("scale_nodes", [])
        self.log("\nwrites/s by network size (%d connections, %d B)" % (a.scale_connections,
                                                                       a.record_bytes))
        for n in ints(a.scale_nodes):
            if not 1 <= n <= len(SCALE_ORGS):
                raise BenchError("--scale-nodes: 1..%d nodes" % len(SCALE_ORGS))
            net = self.treaty_network(SCALE_ORGS[:n], "treaty-%d" % n)
            try:
                self.treaty_up(net)
                m, _ = self.treaty_writes(net, a.scale_connections, a.record_bytes)
            finally:
                net.stop_all()
            out.append({"nodes": n, "treaty": m})
            self.log("%3d nodes: %9.1f writes/s  p99 %.2f ms  CPU %.3f s/1k  errors %d"
                     % (n, m["ops_per_s"], m["p99_ms"], m["cpu_s_per_1k"] or 0, m["errors"]))

    def scale_sizes(self, res):
        a = self.a
        out = res.setdefault("scale_sizes", [])
        sizes = ints(a.scale_sizes)
        self.log("\nwrites/s by record size (%d connections)" % a.scale_connections)
        net = self.treaty_network(SCALE_ORGS[:3], "treaty-sizes")
        try:
            self.treaty_up(net)
            for s in sizes:
                out.append({"record_bytes": s,
                            "treaty": self.treaty_writes(net, a.scale_connections, s)[0]})
        finally:
            net.stop_all()
        etcd = EtcdCluster(self.bins["etcd"], self.dir, 3, free_port)
        try:
            etcd.start(a.leader_timeout)
            for row in out:
                row["etcd"] = self.etcd_writes(etcd, a.scale_connections, row["record_bytes"])[0]
        finally:
            etcd.stop()
        for row in out:
            row["ratio"] = ratios(row["treaty"], row["etcd"])
            self.log("%6d B: treaty %9.1f writes/s  etcd %9.1f writes/s  treaty/etcd %.2f"
                     % (row["record_bytes"], row["treaty"]["ops_per_s"],
                        row["etcd"]["ops_per_s"], row["ratio"]["ops_per_s"]))

    def scale_startup(self, res):
        a = self.a
        out = res.setdefault("startup", [])
        self.log("\nstartup time of a 3-node network holding N records")
        for n in ints(a.startup_records):
            net = self.treaty_network(SCALE_ORGS[:3], "treaty-startup-%d" % n)
            try:
                self.treaty_up(net)
                saved = a.duration
                a.duration = max(a.duration, n / 20.0)  # an upper bound; --requests ends it
                try:
                    m, _ = self.treaty_writes(net, a.scale_connections, a.record_bytes,
                                              requests=n)
                finally:
                    a.duration = saved
                heights = [int((net.head(o) or {}).get("height", 0)) for o in net.org_names]
                mem_loaded = [memory_mb(net.procs[o].pid) for o in net.org_names]
                net.stop_all()
                stores = [store_mb(os.path.join(net.dir, o)) for o in net.org_names]
                t0 = time.monotonic()
                for org in net.org_names:
                    net.start(org)
                net.wait_leader(a.leader_timeout)
                t_leader = time.monotonic() - t0
                deadline = t0 + a.leader_timeout + n / 100.0
                while min(int((net.head(o) or {}).get("height", 0)) for o in net.org_names) \
                        < max(heights):
                    if time.monotonic() > deadline:
                        raise BenchError("startup: nodes did not reach height %d" % max(heights))
                    net.check_alive()
                    time.sleep(0.05)
                t_all = time.monotonic() - t0
                mem_restarted = [memory_mb(net.procs[o].pid) for o in net.org_names]
            finally:
                net.stop_all()
            out.append({"records": n, "written_ok": m["ok"], "height": max(heights),
                        "load_writes_per_s": m["ops_per_s"], "leader_s": t_leader,
                        "all_at_height_s": t_all, "store_mb": stores,
                        "memory_mb_after_load": mem_loaded,
                        "memory_mb_after_restart": mem_restarted})
            self.log("%9d records (height %d): leader after %.2f s, every node at height after "
                     "%.2f s" % (n, max(heights), t_leader, t_all))
            self.log("    loaded at %.0f writes/s; data.mdb MB per node %s; memory MB per node "
                     "(VmHWM/RssAnon/RssFile) after the load %s, after the restart %s"
                     % (m["ops_per_s"], "/".join("%.0f" % s for s in stores),
                        mem_text(mem_loaded), mem_text(mem_restarted)))


def linger(p, secs):
    """Sleeps secs, or less when process p exits first; p is left unreaped (WNOWAIT), so its
    /proc/PID/stat still gives its CPU time."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            if os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return
        except ChildProcessError:
            return
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))


def markdown(res):
    """The default run's tables as Markdown (for docs/performance.md)."""
    def cells(m):
        return "%.1f | %.2f | %.2f | %.2f | %.3f | %s | %.3f | %.2f" % (
            m["ops_per_s"], m["p50_ms"], m["p99_ms"], m["p99_9_ms"], m["cpu_s_per_1k"],
            "/".join("%.0f" % x for x in m["rss_peak_mb"]), m["loadgen_cpu_s_per_1k"],
            m["other_cores"])
    head = ("| conns | system | %s/s | p50 ms | p99 ms | p99.9 ms | server CPU s/1k | "
            "peak RSS MB | loadgen CPU s/1k | other cores |\n|---:|---|---:|---:|---:|---:|---:|"
            "---|---:|---:|")
    out = []
    if res.get("writes"):
        out += ["", head % "writes"]
    for w in res.get("writes", []):
        rt = w["ratio"]
        out += ["| %d | treaty | %s |" % (w["connections"], cells(w["treaty"])),
                "| %d | etcd | %s |" % (w["connections"], cells(w["etcd"])),
                "| %d | treaty/etcd | %.2f | %.2f | %.2f | %.2f | %.2f | | | |"
                % (w["connections"], rt["ops_per_s"], rt["p50_ms"], rt["p99_ms"], rt["p99_9_ms"],
                   rt["cpu_s_per_1k"])]
        if len(w.get("ratio_rounds", [])) > 1:
            out.append("| %d | rounds' treaty/etcd | %s | | | | | | | |"
                       % (w["connections"], ", ".join("%.2f" % x for x in w["ratio_rounds"])))
    if res.get("reads"):
        out += ["", head % "reads"]
    for r in res.get("reads", []):
        for sname in ("treaty", "etcd", "nginx"):
            out.append("| %d | %s | %s |" % (r["connections"], sname, cells(r[sname])))
        out.append("| %d | treaty / nginx | %.1f %% | | | | | | | |"
                   % (r["connections"], r["treaty_pct_of_nginx"]))
    ap = res.get("apply")
    if ap:
        out += ["", "Apply limit (`treaty-bench-apply`, %d-byte Shipments): %s; treaty's best "
                "end-to-end %.1f writes/s = %.1f %% of the best, %.0f txs/s."
                % (ap["record_bytes"],
                   ", ".join("batch %d: %.0f txs/s" % (x["batch"], x["txs_per_s"])
                             for x in ap["runs"]),
                   ap["treaty_best_writes_per_s"], 100.0 * ap["fraction"], ap["best_txs_per_s"])]
    if res.get("scale_nodes"):
        out += ["", "| treaty nodes | writes/s | p50 ms | p99 ms | server CPU s/1k (all nodes) | "
                "peak RSS MB per node | other cores |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for n in res.get("scale_nodes", []):
        t = n["treaty"]
        out.append("| %d | %.1f | %.1f | %.1f | %.3f | %.0f | %.2f |"
                   % (n["nodes"], t["ops_per_s"], t["p50_ms"], t["p99_ms"], t["cpu_s_per_1k"],
                      max(t["rss_peak_mb"]), t["other_cores"]))
    if res.get("scale_sizes"):
        out += ["", "| record bytes | treaty writes/s | etcd writes/s | treaty/etcd | treaty CPU "
                "s/1k | etcd CPU s/1k | treaty p99 ms | etcd p99 ms |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for z in res.get("scale_sizes", []):
        t, e = z["treaty"], z["etcd"]
        out.append("| %d | %.1f | %.1f | %.2f | %.3f | %.3f | %.1f | %.1f |"
                   % (z["record_bytes"], t["ops_per_s"], e["ops_per_s"],
                      t["ops_per_s"] / e["ops_per_s"] if e["ops_per_s"] else 0.0,
                      t["cpu_s_per_1k"], e["cpu_s_per_1k"], t["p99_ms"], e["p99_ms"]))
    return "\n".join(out[1:] if out and out[0] == "" else out)


def stored_count(m):
    """Records of a write run that surely exist: its measured ok count, when it had no errors
    (numbers run from the run's start, and warm-up requests took the first of them)."""
    if m["errors"] or m["unfinished"] or m["ok"] == 0:
        raise BenchError("reads: the first write run had errors; no contiguous records to read")
    return m["ok"]


def ratios(t, e):
    def q(x, y):
        return x / y if x is not None and y else None
    return {k: q(t[k], e[k]) for k in ("ops_per_s", "p50_ms", "p99_ms", "p99_9_ms",
                                        "cpu_s_per_1k")}


def pct(x, y):
    return 100.0 * x / y if y else 0.0


def rounds_text(xs, fmt):
    """'; rounds: a, b, c' for more than one round, else nothing."""
    return "; rounds: " + ", ".join(fmt % x for x in xs) if len(xs) > 1 else ""


def read_pcts(r):
    r["treaty_pct_of_nginx"] = pct(r["treaty"]["ops_per_s"], r["nginx"]["ops_per_s"])
    r["etcd_pct_of_nginx"] = pct(r["etcd"]["ops_per_s"], r["nginx"]["ops_per_s"])


def median_run(ms):
    """Of one system's runs of a level, the run with the median rate (the lower of the two
    middle ones for an even count): its latencies, CPU and memory are reported with it."""
    return sorted(ms, key=lambda m: m["ops_per_s"])[(len(ms) - 1) // 2]


def aggregate(rounds):
    """writes[], reads[] and apply of the rounds: per level and system the median run; a
    ratio of the two median runs, with each round's own ratio beside it (ratio_rounds); the
    apply limit of the round with the median best rate, as a fraction of treaty's best
    median level (fraction_rounds: each round's own)."""
    out = {"writes": [], "reads": []}
    for j, w0 in enumerate(rounds[0]["writes"]):
        w = {"connections": w0["connections"]}
        for s in ("treaty", "etcd"):
            w[s] = median_run([rd["writes"][j][s] for rd in rounds])
        w["ratio"] = ratios(w["treaty"], w["etcd"])
        w["ratio_rounds"] = [rd["writes"][j]["ratio"]["ops_per_s"] for rd in rounds]
        out["writes"].append(w)
    for j, r0 in enumerate(rounds[0]["reads"]):
        r = {"connections": r0["connections"]}
        for s in ("treaty", "etcd", "nginx"):
            r[s] = median_run([rd["reads"][j][s] for rd in rounds])
        read_pcts(r)
        r["treaty_pct_of_nginx_rounds"] = [rd["reads"][j]["treaty_pct_of_nginx"]
                                           for rd in rounds]
        out["reads"].append(r)
    ap = dict(sorted((rd["apply"] for rd in rounds),
                     key=lambda x: x["best_txs_per_s"])[(len(rounds) - 1) // 2])
    ap["treaty_best_writes_per_s"] = max(w["treaty"]["ops_per_s"] for w in out["writes"])
    ap["fraction"] = (ap["treaty_best_writes_per_s"] / ap["best_txs_per_s"]
                      if ap["best_txs_per_s"] else None)
    ap["fraction_rounds"] = [rd["apply"]["fraction"] for rd in rounds]
    out["apply"] = ap
    return out


def check_result(res, wconns, rconns, rounds=1):
    """Problems of a result document of the default run (the smoke test's assertions)."""
    bad = []

    def system(where, m):
        for k in ("ops_per_s", "p50_ms", "p99_ms", "p99_9_ms", "cpu_s_per_1k"):
            if not isinstance(m.get(k), (int, float)) or m[k] <= 0:
                bad.append("%s: %s = %r" % (where, k, m.get(k)))
        if not m.get("p50_ms", 0) <= m.get("p99_ms", 0) <= m.get("p99_9_ms", 0):
            bad.append("%s: percentiles out of order" % where)
        if not isinstance(m.get("other_cores"), float) or m["other_cores"] < 0 \
                or not isinstance(m.get("loadgen_cpu_s_per_1k"), float):
            bad.append("%s: other_cores %r, loadgen_cpu_s_per_1k %r"
                       % (where, m.get("other_cores"), m.get("loadgen_cpu_s_per_1k")))
        if m.get("errors") != 0:
            bad.append("%s: %r errors" % (where, m.get("errors")))
        rss = m.get("rss_peak_mb")
        if not isinstance(rss, list) or not rss or not all(x > 0 for x in rss):
            bad.append("%s: rss_peak_mb = %r" % (where, rss))

    if [w.get("connections") for w in res.get("writes", [])] != wconns:
        bad.append("writes: levels %r, want %r" % (res.get("writes"), wconns))
    for w in res.get("writes", []):
        for s in ("treaty", "etcd"):
            system("writes %d %s" % (w["connections"], s), w.get(s, {}))
            if len(w.get(s, {}).get("rss_peak_mb", [])) != 3:
                bad.append("writes %d %s: not 3 nodes" % (w["connections"], s))
        rt = w.get("ratio", {}).get("ops_per_s")
        if not rt or abs(rt - w["treaty"]["ops_per_s"] / w["etcd"]["ops_per_s"]) > 1e-9:
            bad.append("writes %d: ratio %r" % (w["connections"], rt))
    if [r.get("connections") for r in res.get("reads", [])] != rconns:
        bad.append("reads: levels %r, want %r" % (res.get("reads"), rconns))
    for r in res.get("reads", []):
        for s in ("treaty", "etcd", "nginx"):
            system("reads %d %s" % (r["connections"], s), r.get(s, {}))
        if not 0 < r.get("treaty_pct_of_nginx", 0):
            bad.append("reads %d: treaty_pct_of_nginx %r" % (r["connections"],
                                                             r.get("treaty_pct_of_nginx")))
    ap = res.get("apply", {})
    if not ap.get("best_txs_per_s", 0) > 0 or not ap.get("fraction", 0) > 0:
        bad.append("apply: %r" % ap)
    bad += check_rounds(res, rounds)
    return bad


def check_rounds(res, rounds):
    """The rounds of a default run and their medians (check_result's part for --rounds)."""
    bad = []
    rds = res.get("rounds", [])
    if rounds == 1:
        return ["rounds: %d present for one round" % len(rds)] if rds else []
    if len(rds) != rounds:
        return ["rounds: %d, want %d" % (len(rds), rounds)]
    firsts = [rd.get("first") for rd in rds]
    if firsts != [("treaty", "etcd")[i % 2] for i in range(rounds)]:
        bad.append("rounds: first systems %r do not alternate" % firsts)
    for j, w in enumerate(res.get("writes", [])):
        got = [rd["writes"][j]["ratio"]["ops_per_s"] for rd in rds]
        if w.get("ratio_rounds") != got:
            bad.append("writes %d: ratio_rounds %r, rounds say %r"
                       % (w["connections"], w.get("ratio_rounds"), got))
        for s in ("treaty", "etcd"):
            rates = sorted(rd["writes"][j][s]["ops_per_s"] for rd in rds)
            if w[s]["ops_per_s"] != rates[(rounds - 1) // 2]:
                bad.append("writes %d %s: %r is not the median of %r"
                           % (w["connections"], s, w[s]["ops_per_s"], rates))
    for j, r in enumerate(res.get("reads", [])):
        for s in ("treaty", "etcd", "nginx"):
            rates = sorted(rd["reads"][j][s]["ops_per_s"] for rd in rds)
            if r[s]["ops_per_s"] != rates[(rounds - 1) // 2]:
                bad.append("reads %d %s: %r is not the median of %r"
                           % (r["connections"], s, r[s]["ops_per_s"], rates))
    fr = res.get("apply", {}).get("fraction_rounds")
    if not isinstance(fr, list) or len(fr) != rounds or not all(x and x > 0 for x in fr):
        bad.append("apply: fraction_rounds %r" % fr)
    return bad


def make_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--treaty", help="the treaty binary (required but with --markdown-from)")
    ap.add_argument("--markdown-from", metavar="JSON",
                    help="print the tables of an --out file of a default run as Markdown; no run")
    ap.add_argument("--loadgen", help="treaty-loadgen (default: next to the treaty binary)")
    ap.add_argument("--apply", help="treaty-bench-apply (default: next to treaty-loadgen)")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per level")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    ap.add_argument("--connections", default="1,16,64,256", help="write concurrencies")
    ap.add_argument("--read-connections", default="1,16,64,256", help="read concurrencies")
    ap.add_argument("--record-bytes", type=int, default=1024, help="record size (>= 148)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="default run: rounds on fresh systems, the first system alternating; "
                         "the medians are reported")
    ap.add_argument("--apply-txs", type=int, default=8192, help="txs per treaty-bench-apply run")
    ap.add_argument("--apply-batches", default="1,64,256", help="treaty-bench-apply batch sizes")
    ap.add_argument("--leader-timeout", type=float, default=60.0)
    ap.add_argument("--scale", default="",
                    help="instead of the default run: any of nodes,sizes,startup")
    ap.add_argument("--scale-nodes", default="3,5,7")
    ap.add_argument("--scale-sizes", default="256,1024,8192")
    ap.add_argument("--scale-connections", type=int, default=64)
    ap.add_argument("--startup-records", default="10000,100000")
    ap.add_argument("--no-install", action="store_true",
                    help="fail if etcd or nginx is missing instead of installing them")
    ap.add_argument("--smoke", action="store_true",
                    help="a short run (levels 1,4; 0.5 s each) whose JSON is checked; implies "
                         "--no-install")
    ap.add_argument("--out", help="write all figures as JSON here")
    ap.add_argument("--workdir", help="work here (default: a temporary folder, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return ap


def main():
    ap = make_parser()
    args = ap.parse_args()
    if args.markdown_from:
        with open(args.markdown_from) as fh:
            print(markdown(json.load(fh)))
        return 0
    if not args.treaty:
        ap.error("--treaty PATH is required")
    if args.smoke:
        args.connections = args.read_connections = "1,4"
        args.duration, args.warmup, args.apply_txs = 0.5, 0.2, 256
        args.no_install, args.scale, args.rounds = True, "", 2

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started with SIGINT ignored (a & job)
    b = None
    rc = 0
    try:
        modes = [m for m in args.scale.split(",") if m]
        if not 1 <= args.rounds <= ROUNDS_MAX:
            raise BenchError("--rounds must be 1 to %d, not %d" % (ROUNDS_MAX, args.rounds))
        if modes and args.rounds != 1:
            raise BenchError("--rounds is for the default run, not for --scale")
        unknown = set(modes) - {"nodes", "sizes", "startup"}
        if unknown:
            raise BenchError("--scale: unknown mode(s) %s" % ", ".join(sorted(unknown)))
        b = Bench(args)
        need = ["etcd", "nginx"] if not modes else (["etcd"] if "sizes" in modes else [])
        b.bins = ensure_packages(need, not args.no_install, b.log)
        res = {"machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                           "etcd": version_of([b.bins["etcd"], "--version"]) if "etcd" in b.bins
                           else None,
                           "nginx": version_of([b.bins["nginx"], "-v"]) if "nginx" in b.bins
                           else None},
               "params": {k: v for k, v in vars(args).items()
                          if k not in ("treaty", "loadgen", "apply", "workdir", "out")}}
        if modes:
            for m in modes:
                getattr(b, "scale_" + m)(res)
        else:
            b.compare(res)
        if args.out:
            with open(args.out, "w") as fh:
                json.dump(res, fh, indent=2)
        if args.smoke:
            bad = check_result(res, ints(args.connections), ints(args.read_connections),
                               args.rounds)
            for x in bad:
                print("FAIL " + x)
            print("smoke: %d problems in the report" % len(bad))
            rc = 1 if bad else 0
    except (BenchError, BaselineError) as e:
        print("bench_compare: %s" % e, file=sys.stderr)
        rc = 3
    except KeyboardInterrupt:
        print("bench_compare: interrupted; every process stopped", file=sys.stderr)
        rc = 130
    finally:
        if b is not None and not args.keep and not args.workdir:
            shutil.rmtree(b.dir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
