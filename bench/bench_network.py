#!/usr/bin/env python3
"""Network benchmark: a 3-org treaty network on loopback, measured with treaty-loadgen.

  bench_network.py TREATY_BINARY [--duration S] [--connections 1,16,64] [--out FILE]
  bench_network.py --selftest [--loadgen PATH]

Creates orgs acme, globex and initech (`treaty init`, then a writer API key each with
`treaty apikey create`, sent as "Authorization: Bearer <key>"), a genesis (`treaty network create` with
examples/supply-chain.json), starts one `treaty node` per org, waits for a leader, then writes
1 KB Shipment records through acme's API (only acme may create Shipment) at each concurrency and
prints writes/s, p50 and p99. Then catch-up: one follower is stopped (SIGTERM), N more records
are written, the follower is restarted and its head polled until it reaches the leader's height.
Every process it starts is stopped again (also on error and Ctrl-C); every wait is bounded.

--selftest runs treaty-loadgen against a local Python HTTP server and checks the JSON reports
and the bodies the server received, then walks the whole benchmark against bench/fake_treaty.py,
a stand-in for the binary (~10 s; ctest runs it as bench-loadgen-smoke).
"""
import argparse
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ORGS = ("acme", "globex", "initech")
RUN_STRIDE = 10_000_000  # {n} range per loadgen run, so shipment ids never repeat


class BenchError(Exception):
    pass


# Ports for the servers a benchmark starts, chosen as the multi-process tests choose theirs
# (tests/integration/harness.py: below the ephemeral range, so no concurrent client's local port
# can take one before its server binds it).
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import free_port  # noqa: E402,F401


def find_loadgen(explicit, treaty=None):
    cands = []
    if explicit:
        cands.append(explicit)
    if os.environ.get("TREATY_LOADGEN"):
        cands.append(os.environ["TREATY_LOADGEN"])
    if treaty:
        tdir = os.path.dirname(os.path.abspath(treaty))
        cands += [os.path.join(tdir, "treaty-loadgen"),
                  os.path.join(tdir, "..", "bench", "treaty-loadgen")]
    cands.append(shutil.which("treaty-loadgen") or "")
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    raise BenchError("treaty-loadgen not found; pass --loadgen PATH (tried: %s)"
                     % ", ".join(c for c in cands if c))


def http_get_json(url, key=None, timeout=2.0):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + key} if key else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


def run_loadgen(loadgen, target, connections, duration, warmup, start, out_json,
                requests=None, headers=(), body_size=1024, timeout_extra=30, read_cycle=None):
    """Writes of generated Shipments; with read_cycle, GETs of SHP-{n:8} for n in
    start .. start + read_cycle - 1, round and round (only 200 counts as ok)."""
    cmd = [loadgen, "--target", target, "--connections", str(connections),
           "--duration", str(duration), "--warmup", str(warmup),
           "--start", str(start), "--json", out_json]
    if read_cycle:
        cmd += ["--method", "GET", "--path", "/v1/data/Shipment/SHP-{n:8}",
                "--cycle", str(read_cycle), "--expect", "200"]
    else:
        cmd += ["--method", "POST", "--path", "/v1/data/Shipment", "--body-size", str(body_size)]
    if requests:
        cmd += ["--requests", str(requests)]
    for h in headers:
        cmd += ["--header", h]
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=duration + warmup + timeout_extra)
    if p.returncode != 0 or not os.path.exists(out_json):
        raise BenchError("treaty-loadgen exited %d: %s" % (p.returncode, p.stderr.strip()))
    with open(out_json) as fh:
        return json.load(fh)


# ---------------------------------------------------------------- the network

class Network:
    """The processes of one benchmark network; stop() is safe to call any time, twice."""

    def __init__(self, treaty, workdir, log=print, orgs=ORGS, schema=None, reader_keys=False,
                 batch_max_txs=None):
        self.treaty = treaty
        self.batch_max_txs = batch_max_txs  # node.json batch.max_txs (None: the default)
        self.dir = workdir
        self.log = log
        self.org_names = tuple(orgs)
        self.schema = schema or os.path.join(ROOT, "examples", "supply-chain.json")
        self.reader_keys = reader_keys  # also a reader key per org, in orgs[org]["reader"]
        self.orgs = {}   # org -> {"dir", "peer", "api", "pub", "key"[, "reader"]}
        self.procs = {}  # org -> Popen
        self.logs = {}

    def _run(self, *args, timeout=60):
        p = subprocess.run([self.treaty, *args], capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise BenchError("treaty %s exited %d: %s"
                             % (" ".join(args[:2]), p.returncode, p.stderr.strip()))
        return p.stdout

    def create(self):
        for org in self.org_names:
            d = os.path.join(self.dir, org)
            peer = "127.0.0.1:%d" % free_port()
            api = "127.0.0.1:%d" % free_port()
            out = self._run("init", "--org", org, "--dir", d, "--peer", peer, "--api", api)
            m = re.search(r"^public_key=([0-9a-f]{64})$", out, re.M)
            if not m:
                raise BenchError("treaty init --org %s printed no public_key=<hex>: %r" % (org, out))
            key = self._run("apikey", "create", "--dir", d, "--role", "writer",
                            "--name", "bench").strip()
            if not re.fullmatch(r"trk_[0-9a-f]{16}_[0-9a-f]{64}", key):
                raise BenchError("treaty apikey create --dir %s printed %r" % (d, key))
            self.orgs[org] = {"dir": d, "peer": peer, "api": api, "pub": m.group(1), "key": key}
            if self.batch_max_txs is not None:
                cfg_path = os.path.join(d, "node.json")
                with open(cfg_path) as fh:
                    cfg = json.load(fh)
                cfg.setdefault("batch", {})["max_txs"] = self.batch_max_txs
                with open(cfg_path, "w") as fh:
                    json.dump(cfg, fh, indent=2)
            if self.reader_keys:
                self.orgs[org]["reader"] = self._run("apikey", "create", "--dir", d, "--role",
                                                     "reader", "--name", "bench-read").strip()
        self.genesis = os.path.join(self.dir, "genesis.json")
        args = ["network", "create", "--name", "bench", "--schema", self.schema]
        for org, o in self.orgs.items():
            args += ["--member", "%s=%s@%s" % (org, o["pub"], o["peer"])]
        self._run(*args, "--out", self.genesis)

    def start(self, org):
        o = self.orgs[org]
        logf = open(os.path.join(self.dir, org + ".log"), "ab")
        self.logs[org] = logf
        self.procs[org] = subprocess.Popen(
            [self.treaty, "node", "--dir", o["dir"], "--genesis", self.genesis],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True)  # Ctrl-C reaches us only; we stop the nodes in order

    def stop(self, org, timeout=10.0):
        p = self.procs.pop(org, None)
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.log("%s did not stop in %.0f s after SIGTERM; killing it" % (org, timeout))
                p.kill()
                p.wait(timeout=timeout)
        f = self.logs.pop(org, None)
        if f:
            f.close()

    def stop_all(self):
        for org in list(self.procs):
            self.stop(org)

    def check_alive(self):
        for org, p in self.procs.items():
            if p.poll() is not None:
                raise BenchError("node %s exited with %d; last log lines:\n%s"
                                 % (org, p.returncode, self.log_tail(org)))

    def log_tail(self, org, n=15):
        try:
            with open(os.path.join(self.dir, org + ".log"), errors="replace") as fh:
                return "".join(fh.readlines()[-n:])
        except OSError:
            return "(no log)"

    def head(self, org):
        """GET /v1/ledger/head, or None while the node does not answer."""
        try:
            return http_get_json("http://%s/v1/ledger/head" % self.orgs[org]["api"],
                                 self.orgs[org].get("key"))
        except (OSError, ValueError, urllib.error.URLError):
            return None

    def roles(self):
        out = {}
        for org in self.procs:
            h = self.head(org)
            if isinstance(h, dict) and isinstance(h.get("node"), dict):
                out[org] = (h["node"].get("role"), h.get("height"))
        return out

    def wait_leader(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            roles = self.roles()
            leaders = [o for o, (role, _) in roles.items() if role == "leader"]
            if len(leaders) == 1 and len(roles) == len(self.procs):
                return leaders[0]
            time.sleep(0.2)
        raise BenchError("no leader within %.0f s (roles seen: %s)" % (timeout, self.roles()))


def wait_height(net, org, target, timeout):
    """Polls org's head until height >= target; returns (seconds, first_answer_seconds)."""
    t0 = time.monotonic()
    first = None
    while time.monotonic() - t0 < timeout:
        net.check_alive()
        h = net.head(org)
        if h is not None:
            if first is None:
                first = time.monotonic() - t0
            if int(h.get("height", 0)) >= target:
                return time.monotonic() - t0, first
        time.sleep(0.05)
    h = net.head(org)
    raise BenchError("%s did not reach height %d within %.0f s (at %s)"
                     % (org, target, timeout, h and h.get("height")))


def auth_headers(net, org, extra):
    """org's key as a loadgen --header, then the user's --header values."""
    return ["Authorization: Bearer " + net.orgs[org]["key"]] + list(extra or [])


def bench(args):
    treaty = os.path.abspath(args.treaty)
    if not os.access(treaty, os.X_OK):
        raise BenchError("%s is not an executable" % treaty)
    loadgen = find_loadgen(args.loadgen, treaty)
    conns = [int(c) for c in args.connections.split(",") if c.strip()]
    if args.batch_max_txs is not None and not 1 <= args.batch_max_txs <= 65536:
        raise BenchError("--batch-max-txs must be 1..65536 (node.json batch.max_txs)")
    workdir = args.workdir or tempfile.mkdtemp(prefix="treaty-bench-")
    os.makedirs(workdir, exist_ok=True)
    net = Network(treaty, workdir, batch_max_txs=args.batch_max_txs)
    results = {"connections": [], "catchup": None, "workdir": workdir,
               "batch_max_txs": args.batch_max_txs}
    print("bench_network: working in %s (node logs: ORG.log)" % workdir, flush=True)
    try:
        net.create()
        for org in ORGS:
            net.start(org)
        leader = net.wait_leader(args.leader_timeout)
        print("network up, leader %s" % leader, flush=True)
        acme_api = net.orgs["acme"]["api"]
        print("\n%12s %12s %10s %10s %8s" % ("connections", "writes/s", "p50 ms", "p99 ms", "errors"))
        for i, c in enumerate(conns):
            r = run_loadgen(loadgen, acme_api, c, args.duration, args.warmup,
                            1 + (i + 1) * RUN_STRIDE, os.path.join(workdir, "load-%d.json" % c),
                            headers=auth_headers(net, "acme", args.header))
            lat = r["latency_ms"]
            print("%12d %12.1f %10.3f %10.3f %8d" % (c, r["ok_rps"], lat["p50"], lat["p99"],
                                                      r["errors"]), flush=True)
            results["connections"].append({"connections": c, "report": r})
        reads = [int(c) for c in args.read_connections.split(",") if c.strip()]
        if reads and conns:
            # Reads by key on one node (globex: not the writer's node), over the records the first
            # write run stored: ids 1 + RUN_STRIDE onwards, contiguous while it had no errors.
            first = results["connections"][0]["report"]
            stored = first["ok"] if first["errors"] == 0 else 0
            if stored == 0:
                raise BenchError("reads: the first write run stored nothing contiguous to read")
            results["reads"] = []
            print("\nreads by key on globex's node over %d records" % stored)
            print("%12s %12s %10s %10s %8s" % ("connections", "reads/s", "p50 ms", "p99 ms",
                                                "errors"))
            for c in reads:
                r = run_loadgen(loadgen, net.orgs["globex"]["api"], c, args.duration, args.warmup,
                                1 + RUN_STRIDE, os.path.join(workdir, "read-%d.json" % c),
                                headers=auth_headers(net, "globex", args.header),
                                read_cycle=stored)
                lat = r["latency_ms"]
                print("%12d %12.1f %10.3f %10.3f %8d" % (c, r["ok_rps"], lat["p50"], lat["p99"],
                                                          r["errors"]), flush=True)
                results["reads"].append({"connections": c, "report": r})
        if args.catchup_records > 0:
            results["catchup"] = catchup(net, loadgen, args, len(conns) + 1)
    finally:
        net.stop_all()
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=2)
    if not args.keep and not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def catchup(net, loadgen, args, run_index):
    roles = net.roles()
    leader = [o for o, (role, _) in roles.items() if role == "leader"]
    if len(leader) != 1:
        raise BenchError("catch-up: no single leader (roles: %s)" % roles)
    leader = leader[0]
    # acme takes the writes, so the stopped follower is never acme.
    victim = [o for o in ORGS if o != leader and o != "acme"][0]
    before = net.head(victim) or {}
    h_stop = int(before.get("height", 0))
    net.stop(victim)
    print("\ncatch-up: stopped %s at height %d; writing %d records" %
          (victim, h_stop, args.catchup_records), flush=True)
    duration = max(60.0, args.catchup_records / 50.0)  # an upper bound; --requests ends it
    r = run_loadgen(loadgen, net.orgs["acme"]["api"], args.catchup_connections, duration, 0,
                    1 + run_index * RUN_STRIDE, os.path.join(net.dir, "load-catchup.json"),
                    requests=args.catchup_records,
                    headers=auth_headers(net, "acme", args.header))
    if r["ok"] < args.catchup_records:
        print("catch-up: only %d of %d writes succeeded" % (r["ok"], args.catchup_records))
    heights = [int(h.get("height", 0)) for h in (net.head(o) for o in net.procs) if h]
    if not heights:
        raise BenchError("catch-up: no running node answers GET /v1/ledger/head")
    target = max(heights)  # the leader's height, whichever node leads by now
    net.start(victim)
    secs, first = wait_height(net, victim, target, args.catchup_timeout)
    blocks = target - h_stop
    rate = blocks / secs if secs > 0 else 0.0
    print("catch-up: %s went from height %d to %d (%d blocks) in %.2f s = %.1f blocks/s "
          "(first answer after %.2f s)" % (victim, h_stop, target, blocks, secs, rate, first or 0))
    return {"follower": victim, "from_height": h_stop, "to_height": target, "blocks": blocks,
            "seconds": secs, "blocks_per_s": rate, "first_answer_s": first, "writes": r}


# ---------------------------------------------------------------- selftest

ALLOWED = {"shipmentId", "origin", "destination", "carrier", "status", "weightKg",
           "declaredValue", "eta", "checkpoints"}


class EchoServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.lock = threading.Lock()
        self.ids = []
        self.bad = []
        self.sizes = set()
        self.tags = []  # the X-Target headers of each POST


class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def reply(self, status, doc):
        out = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self):
        if self.path == "/v1/ledger/head":
            self.reply(200, {"height": 7, "block_hash": "00" * 32, "root": "00" * 32,
                             "tree_size": 3, "node": {"role": "leader"}})
        else:
            self.reply(404, {"title": "not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        srv = self.server
        try:
            doc = json.loads(raw)
            problem = shipment_problem(doc)
        except ValueError as e:
            doc, problem = None, "not JSON: %s" % e
        with srv.lock:
            srv.sizes.add(len(raw))
            srv.tags.append(tuple(self.headers.get_all("X-Target") or ()))
            if problem:
                srv.bad.append(problem)
            else:
                srv.ids.append(doc["shipmentId"])
        if problem:
            self.reply(400, {"title": problem})
        else:
            self.reply(201, {"_key": doc["shipmentId"], "_version": 1})


def shipment_problem(doc):
    """The rules of examples/supply-chain.json that a generated body could break."""
    if not isinstance(doc, dict):
        return "not an object"
    extra = set(doc) - ALLOWED
    if extra:
        return "unknown properties %s" % sorted(extra)
    if not re.fullmatch(r"SHP-[0-9]{4,12}", str(doc.get("shipmentId"))):
        return "bad shipmentId %r" % doc.get("shipmentId")
    for k in ("origin", "destination"):
        if not isinstance(doc.get(k), str) or not 2 <= len(doc[k]) <= 120:
            return "bad %s" % k
    cps = doc.get("checkpoints", [])
    if not isinstance(cps, list) or len(cps) > 500:
        return "bad checkpoints"
    for cp in cps:
        if set(cp) != {"at", "location"} or not isinstance(cp["location"], str):
            return "bad checkpoint %r" % cp
    if doc.get("status") not in ("created", "picked_up", "in_transit", "delivered", "lost"):
        return "bad status"
    return None


class Checks:
    def __init__(self):
        self.passed = 0
        self.failures = []

    def __call__(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failures.append(what)
        return cond


def check_report(r, check, label):
    def need(cond, what):
        return check(cond, "%s: %s" % (label, what))

    for k in ("requests", "ok", "errors", "connections", "body_bytes", "unfinished"):
        need(isinstance(r.get(k), int) and r[k] >= 0, "%s is not a count: %r" % (k, r.get(k)))
    for k in ("throughput_rps", "ok_rps", "elapsed_s", "duration_s"):
        need(isinstance(r.get(k), (int, float)), "%s is not a number" % k)
    need(isinstance(r.get("errors_by_status"), dict), "errors_by_status missing")
    lat = r.get("latency_ms", {})
    keys = ("p50", "p90", "p99", "p99.9", "max")
    if need(all(isinstance(lat.get(k), (int, float)) for k in keys),
            "latency_ms incomplete: %r" % lat):
        vals = [lat[k] for k in keys]
        need(vals == sorted(vals), "percentiles not ordered: %r" % vals)
    need(r.get("errors") == r.get("requests", 0) - r.get("ok", 0), "errors != requests - ok")


def fake_bench(loadgen, tmp, check):
    out = os.path.join(tmp, "bench.json")
    wd = os.path.join(tmp, "net")
    fargs = make_parser().parse_args([
        os.path.join(HERE, "fake_treaty.py"), "--loadgen", loadgen, "--duration", "1",
        "--warmup", "0.2", "--connections", "1,4", "--read-connections", "1,2",
        "--catchup-records", "300",
        "--catchup-connections", "4", "--catchup-timeout", "20", "--leader-timeout", "20",
        "--workdir", wd, "--out", out])
    rc = bench(fargs)
    with open(out) as fh:
        res = json.load(fh)
    runs = res["connections"]
    check(rc == 0 and [r["connections"] for r in runs] == [1, 4],
          "fake bench: rc %d, runs %r" % (rc, [r["connections"] for r in runs]))
    for r in runs:
        check(r["report"]["ok"] > 0 and r["report"]["errors"] == 0,
              "fake bench: %d connections: %r" % (r["connections"], r["report"]))
    reads = res.get("reads") or []
    check([r["connections"] for r in reads] == [1, 2]
          and all(r["report"]["ok"] > 0 and r["report"]["errors"] == 0 for r in reads),
          "fake bench: reads %r" % [(r["connections"], r["report"]["ok"], r["report"]["errors"])
                                    for r in reads])
    cu = res["catchup"] or {}
    check(cu.get("follower") in ("globex", "initech") and cu.get("blocks", 0) >= 300
          and cu.get("writes", {}).get("ok") == 300,
          "fake bench: catch-up %r" % {k: v for k, v in cu.items() if k != "writes"})
    leftover = subprocess.run(["pgrep", "-f", "fake_treaty.py node --dir " + wd],
                              capture_output=True, text=True)
    check(leftover.stdout.strip() == "", "fake bench: nodes left running: %s" % leftover.stdout)


def selftest(args):
    loadgen = find_loadgen(args.loadgen, args.treaty)
    srv = EchoServer()
    port = srv.server_address[1]
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    check = Checks()
    tmp = tempfile.mkdtemp(prefix="treaty-loadgen-selftest-")
    try:
        target = "127.0.0.1:%d" % port
        # 1. 2 s of 1 KB Shipment writes over 4 connections.
        r = run_loadgen(loadgen, target, 4, 2.0, 0.3, 1, os.path.join(tmp, "a.json"))
        check_report(r, check, "run")
        check(r["requests"] >= 10 and r["ok"] == r["requests"] and r["errors"] == 0,
              "run: expected >= 10 requests, all ok: %r"
              % {k: r.get(k) for k in ("requests", "ok", "errors", "errors_other")})
        check(r["body_bytes"] == 1024 and srv.sizes == {1024},
              "run: body sizes %s, report %s, want 1024" % (srv.sizes, r["body_bytes"]))
        check(not srv.bad, "run: server refused bodies: %s" % srv.bad[:3])
        check(len(set(srv.ids)) == len(srv.ids) >= r["requests"],
              "run: %d ids, %d distinct, report %d requests"
              % (len(srv.ids), len(set(srv.ids)), r["requests"]))
        # 2. --requests bounds the count; --expect makes other statuses errors.
        r2 = run_loadgen(loadgen, target, 2, 10.0, 0, RUN_STRIDE, os.path.join(tmp, "b.json"),
                         requests=50, headers=())
        check_report(r2, check, "requests")
        check(r2["requests"] == 50 and r2["ok"] == 50,
              "--requests 50: got %d requests, %d ok" % (r2["requests"], r2["ok"]))
        p = subprocess.run([loadgen, "--target", target, "--duration", "0.5", "--path",
                            "/v1/ledger/head", "--expect", "201", "--json", os.path.join(tmp, "c.json")],
                           capture_output=True, text=True, timeout=20)
        with open(os.path.join(tmp, "c.json")) as fh:
            r3 = json.load(fh)
        check_report(r3, check, "expect")
        check(p.returncode == 0 and r3["ok"] == 0 and r3["requests"] > 0
              and r3["errors_by_status"].get("200") == r3["requests"],
              "--expect 201 on 200 answers: rc %d, ok %d, by status %r"
              % (p.returncode, r3["ok"], r3["errors_by_status"]))
        # 3. Nobody listening: bounded, exit 3, connect errors counted.
        dead = "127.0.0.1:%d" % free_port()
        p = subprocess.run([loadgen, "--target", dead, "--duration", "0.5", "--json",
                            os.path.join(tmp, "d.json")], capture_output=True, text=True, timeout=20)
        with open(os.path.join(tmp, "d.json")) as fh:
            r4 = json.load(fh)
        check(p.returncode == 3 and r4["errors_other"]["connect"] >= 1 and r4["requests"] == 0,
              "dead target: rc %d, report %r" % (p.returncode, r4.get("errors_other")))
        # 4. Generated bodies have exactly the asked size and stay valid Shipments, from the
        #    smallest one through origin padding, one checkpoint, and the 500-item cap; 8 MB
        #    does not fit the socket at once, so the rest of the request is queued.
        for size in (148, 149, 209, 210, 211, 347, 348, 4096, 60000, 8000000):
            srv.sizes.clear()
            rs = run_loadgen(loadgen, target, 1, 10.0, 0, 2 * RUN_STRIDE + size,
                             os.path.join(tmp, "s.json"), requests=2, body_size=size)
            check(rs["ok"] == 2 and srv.sizes == {size} and not srv.bad,
                  "--body-size %d: ok %d, server saw sizes %s, problems %s"
                  % (size, rs["ok"], srv.sizes, srv.bad[:2]))
        # 5. Usage errors are one line, exit 2.
        p = subprocess.run([loadgen, "--target", target, "--body-size", "10"],
                           capture_output=True, text=True, timeout=20)
        check(p.returncode == 2 and "smallest Shipment body" in p.stderr
              and len(p.stderr.strip().splitlines()) == 1,
              "--body-size 10: rc %d, %r" % (p.returncode, p.stderr))
        # 6. --target-header goes to its own target only; --print-body prints the template.
        srv.tags.clear()
        p = subprocess.run([loadgen, "--target", target, "--target-header", "X-Target: a",
                            "--target", "localhost:%d" % port, "--target-header", "X-Target: b",
                            "--connections", "4", "--requests", "40", "--duration", "10",
                            "--method", "POST", "--body-size", "1024"],
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0 and set(srv.tags) == {("a",), ("b",)} and len(srv.tags) >= 40,
              "--target-header: rc %d, tags seen %r" % (p.returncode, sorted(set(srv.tags))))
        p = subprocess.run([loadgen, "--target-header", "X-Target: a", "--target", target],
                           capture_output=True, text=True, timeout=20)
        check(p.returncode == 2 and "after the --target" in p.stderr,
              "--target-header first: rc %d, %r" % (p.returncode, p.stderr))
        p = subprocess.run([loadgen, "--body-size", "500", "--print-body"], capture_output=True,
                           text=True, timeout=20)
        check(p.returncode == 0 and len(p.stdout) == 497 and p.stdout.count("{n:8}") == 1
              and shipment_problem(json.loads(p.stdout.replace("{n:8}", "00000001"))) is None,
              "--print-body: rc %d, %d bytes" % (p.returncode, len(p.stdout)))
        # 7. The latency histogram against exact percentiles of random samples.
        p = subprocess.run([loadgen, "--check-histogram"], capture_output=True, text=True,
                           timeout=60)
        check(p.returncode == 0 and "histogram ok" in p.stdout,
              "--check-histogram: rc %d %s %s" % (p.returncode, p.stdout, p.stderr))
        # 8. The head poller understands the head document.
        net = Network("/bin/false", tmp)
        net.orgs["acme"] = {"api": target, "key": "test"}
        net.procs["acme"] = subprocess.Popen(["sleep", "30"])
        try:
            check(net.wait_leader(5.0) == "acme", "wait_leader did not find the leader")
        finally:
            net.procs["acme"].kill()
            net.procs["acme"].wait()
            net.procs.clear()
        # 9. The whole benchmark against bench/fake_treaty.py (a stand-in for the binary).
        fake_bench(loadgen, tmp, check)
    finally:
        srv.shutdown()
        srv.server_close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("selftest: %d requests at %.0f req/s, p50 %.3f ms, p99 %.3f ms"
          % (r["requests"], r["throughput_rps"], r["latency_ms"]["p50"], r["latency_ms"]["p99"]))
    for f in check.failures:
        print("FAIL " + f)
    print("%d passed, %d failed" % (check.passed, len(check.failures)))
    return 1 if check.failures else 0


def make_parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("treaty", nargs="?", help="the treaty binary")
    ap.add_argument("--loadgen", help="treaty-loadgen (default: next to TREATY_BINARY)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per concurrency")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    ap.add_argument("--connections", default="1,16,64", help="comma-separated concurrencies")
    ap.add_argument("--read-connections", default="1,16,64",
                    help="comma-separated concurrencies of reads by key on one node ('' = skip)")
    ap.add_argument("--out", help="write all results as JSON here")
    ap.add_argument("--catchup-records", type=int, default=20000,
                    help="records written while a follower is down (0 = skip catch-up)")
    ap.add_argument("--catchup-connections", type=int, default=16)
    ap.add_argument("--catchup-timeout", type=float, default=600.0)
    ap.add_argument("--batch-max-txs", type=int,
                    help="node.json batch.max_txs of every node (1: one tx per block, so the "
                    "catch-up covers as many blocks as records)")
    ap.add_argument("--leader-timeout", type=float, default=60.0)
    ap.add_argument("--header", action="append", default=[],
                    help="extra request header for writes, e.g. 'Authorization: Bearer KEY'")
    ap.add_argument("--workdir", help="keep the network here (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--selftest", action="store_true",
                    help="check treaty-loadgen against a local Python server (~10 s)")
    return ap


def main():
    ap = make_parser()
    args = ap.parse_args()

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        if args.selftest:
            return selftest(args)
        if not args.treaty:
            ap.error("TREATY_BINARY is required (or --selftest)")
        return bench(args)
    except BenchError as e:
        print("bench_network: %s" % e, file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("bench_network: interrupted; every process stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
