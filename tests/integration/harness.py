"""harness.py — starts real `treaty node` processes on loopback for the multi-process tests.

A Network is N orgs, each made with `treaty init` in its own directory under a temporary folder,
one genesis from `treaty network create`, and one `treaty node` process per org with its peer
and API ports on 127.0.0.1. Each org gets an admin API key (`treaty apikey create`) that
Node.http sends as "Authorization: Bearer <key>" unless the caller overrides that header (None
leaves it out). Every wait is bounded; on failure the nodes' logs are printed.
"""
import http.client as httpc
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def _ephemeral_low():
    """The low end of the kernel's range for outgoing connections' local ports."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_PORT_HIGH = min(_ephemeral_low(), 32768)  # read once per process
_ports_given = set()
_port_rng = random.Random(os.getpid() ^ time.time_ns())


def free_port():
    """A port on 127.0.0.1 that is free now, for a server a test starts.

    Drawn below the kernel's ephemeral range: a port there cannot be taken, between this check
    and the server's bind, by an outgoing connection of another process (a fuzzer's client, a
    load generator, another test), which draw their local ports from that range. Random within
    it, never the same port twice in one process; bind(0) only when the range is too small."""
    low, high = 10000, _PORT_HIGH
    for _ in range(500 if high - low >= 1000 else 0):
        port = _port_rng.randrange(low, high)
        if port in _ports_given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpError(Exception):
    pass


def http(port, method, path, body=None, headers=None, timeout=10.0):
    """One request; returns (status, headers dict, parsed JSON body or text)."""
    conn = httpc.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None
        hdrs = {k: v for k, v in (headers or {}).items() if v is not None}
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        text = raw.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed
    finally:
        conn.close()


class Node:
    def __init__(self, net, org, directory, peer_port, api_port):
        self.net, self.org, self.dir = net, org, directory
        self.peer_port, self.api_port = peer_port, api_port
        self.proc = None
        self.log_path = os.path.join(directory, "node.log")
        self.public_key = None
        self.api_key = None  # admin key, made at init

    def start(self, env=None):
        """Starts the node; env: extra environment variables for this process only."""
        log = open(self.log_path, "ab")
        args = [self.net.treaty, "node", "--dir", self.dir]
        if not os.path.exists(os.path.join(self.dir, "genesis.json")):
            args += ["--genesis", self.net.genesis]
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **env) if env else None)
        log.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        """SIGTERM; returns the exit code (None if it was not running). A clean stop is 0: a
        sanitizer report, a leak or a hang at shutdown is not."""
        if not self.alive():
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return "hung at shutdown"

    def http(self, method, path, body=None, headers=None, timeout=10.0):
        """Like http(), with this org's admin key unless headers names Authorization (a value
        replaces it, None sends none)."""
        hdrs = dict(headers or {})
        if "Authorization" not in hdrs and self.api_key:
            hdrs["Authorization"] = "Bearer " + self.api_key
        return http(self.api_port, method, path, body, hdrs, timeout)

    def apikey(self, role, name=None):
        """A new key of this org with `role` (treaty apikey create); returns the key text."""
        args = ["apikey", "create", "--dir", self.dir, "--role", role]
        if name:
            args += ["--name", name]
        key = self.net.run(*args).stdout.strip()
        if not key.startswith("trk_") or "\n" in key:
            raise RuntimeError("treaty apikey create printed %r" % key)
        return key

    def head(self):
        st, _, body = self.http("GET", "/v1/ledger/head", timeout=2.0)
        if st != 200:
            raise HttpError("head: %d %r" % (st, body))
        return body

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return "(no log)"


class Network:
    """orgs: list of names. timing: genesis timing overrides (ms). genesis_version: rewrite the
    created genesis's `treaty_genesis` to it (None keeps what `network create` writes)."""

    def __init__(self, treaty, schema, orgs, heartbeat_ms=50, election_ms=500, tick_ms=10,
                 checkpoint_blocks=64, batch=None, node_json=None, name="it",
                 genesis_version=None):
        self.treaty = os.path.abspath(treaty)
        self.root = tempfile.mkdtemp(prefix="treaty-it-")
        self.genesis = os.path.join(self.root, "genesis.json")
        self.nodes = []
        self.schema = schema
        self.name = name
        self.timing = (tick_ms, heartbeat_ms, election_ms, checkpoint_blocks)
        for org in orgs:
            self.nodes.append(self._init_org(org, batch, node_json))
        self._create_genesis(self.nodes)
        if genesis_version is not None:
            with open(self.genesis) as f:
                doc = json.load(f)
            doc["treaty_genesis"] = genesis_version
            with open(self.genesis, "w") as f:
                json.dump(doc, f)

    def run(self, *args, check=True):
        p = subprocess.run([self.treaty] + list(args), capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise RuntimeError("treaty %s: exit %d: %s%s" % (" ".join(args), p.returncode,
                                                              p.stdout, p.stderr))
        return p

    def _init_org(self, org, batch, node_json):
        d = os.path.join(self.root, org)
        peer, api = free_port(), free_port()
        p = self.run("init", "--org", org, "--dir", d, "--peer", "127.0.0.1:%d" % peer,
                     "--api", "127.0.0.1:%d" % api)
        node = Node(self, org, d, peer, api)
        for line in p.stdout.splitlines():
            if line.startswith("public_key="):
                node.public_key = line.split("=", 1)[1].strip()
        if node.public_key is None:
            raise RuntimeError("treaty init printed no public_key= line: %r" % p.stdout)
        node.api_key = node.apikey("admin", "harness")
        if batch or node_json:
            cfg_path = os.path.join(d, "node.json")
            with open(cfg_path) as f:
                cfg = json.load(f)
            if batch:
                cfg.setdefault("batch", {}).update(batch)
            for k, v in (node_json or {}).items():
                cfg[k] = v
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)
        return node

    def _create_genesis(self, founders):
        tick, hb, el, cpb = self.timing
        args = ["network", "create", "--name", self.name, "--schema", self.schema, "--out",
                self.genesis, "--tick-ms", str(tick), "--heartbeat-ms", str(hb),
                "--election-ms", str(el), "--checkpoint-blocks", str(cpb)]
        for n in founders:
            args += ["--member", "%s=%s@127.0.0.1:%d" % (n.org, n.public_key, n.peer_port)]
        self.run(*args)

    def add_org(self, org, batch=None, node_json=None):
        """A new org (treaty init) that is not in the genesis; start it after governance."""
        node = self._init_org(org, batch, node_json)
        self.nodes.append(node)
        return node

    def start(self, timeout=20.0):
        for n in self.nodes:
            n.start()
        self.wait_leader(timeout)

    def leader(self):
        """The node every live node agrees leads, or None."""
        ids = {}
        for n in self.nodes:
            if not n.alive():
                continue
            try:
                h = n.head()
            except (OSError, HttpError, httpc.HTTPException):
                continue
            ids[n.org] = h["node"]
        for n in self.nodes:
            if n.org in ids and ids[n.org]["role"] == "leader":
                return n
        return None

    def wait_leader(self, timeout=20.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            lead = self.leader()
            if lead is not None:
                return lead
            for n in self.nodes:
                if n.proc is not None and not n.alive():
                    raise RuntimeError("node %s exited with %s:\n%s" % (
                        n.org, n.proc.returncode, n.log_tail()))
            time.sleep(0.05)
        raise RuntimeError("no leader within %.1fs\n%s" % (timeout, self.logs()))

    def wait_converged(self, nodes=None, timeout=30.0):
        """Waits until the given live nodes report the same head (height, hash, root)."""
        nodes = [n for n in (nodes or self.nodes) if n.alive()]
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                heads = [n.head() for n in nodes]
            except (OSError, HttpError, httpc.HTTPException):
                time.sleep(0.1)
                continue
            keys = {(h["height"], h["block_hash"], h["root"], h["tree_size"]) for h in heads}
            last = heads
            if len(keys) == 1:
                return heads[0]
            time.sleep(0.1)
        raise RuntimeError("nodes did not converge within %.1fs: %s" % (
            timeout, json.dumps(last, indent=1)))

    def logs(self):
        return "\n".join("--- %s ---\n%s" % (n.org, n.log_tail()) for n in self.nodes)

    def close(self, keep=False):
        """Stops every running node; raises if one did not stop cleanly (exit 0)."""
        bad = []
        for n in self.nodes:
            rc = n.stop()
            if rc not in (None, 0):
                bad.append("%s exited %s:\n%s" % (n.org, rc, n.log_tail(30)))
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)
        if bad:
            raise RuntimeError("nodes did not stop cleanly:\n" + "\n".join(bad))


def metric_values(text):
    """A Prometheus text scrape as {series with its labels: value} (comment lines left out)."""
    values = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name and not line.startswith("#"):
            values[name] = float(value)
    return values


def failed(test):
    """True when the unittest test case running its tearDown has failed (Python 3.11+)."""
    result = getattr(getattr(test, "_outcome", None), "result", None)
    if result is None:
        return False
    return any(t is test for t, _ in list(result.failures) + list(result.errors))


def wait_for(fn, timeout, what):
    """Polls fn() every 50 ms until it returns something true (returned); fails after timeout."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError("%s: not true within %.1fs (last: %r)" % (what, timeout, last))
