"""cluster.py — N real `treaty node` processes whose peer links all pass through proxy.py.

Two modes, chosen by detect_mode():
- "netns": each node runs in its own network namespace, joined by a veth pair to a hub namespace
  in which this harness (re-executed there by chaos.py) and the proxies run. The hub does not
  forward IP, so a node reaches another only through the proxy listening on the peer address the
  genesis gives it (10.201.0.i); the proxy knows the dialer from the source address (10.200.i.2)
  and forwards to the node's real listen address. Needs root and `ip netns`.
- "loopback": every node on 127.0.0.1 with its own ports, one proxy per node on the genesis
  address. The proxy cannot tell dialers apart (all come from 127.0.0.1), so a link fault
  applies to every link into a node: partitions degrade to "cut all links into X".
One node (the last) keeps its data directory on a small tmpfs, for the disk-full fault.
"""
import errno
import http.client as httpc
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import free_port  # noqa: E402
import lostwrites  # noqa: E402

PEER_PORT, API_PORT = 7400, 8400


def run(args, check=True, timeout=60):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def detect_mode(want):
    """'netns' when asked (or auto) and namespaces work here, else 'loopback'."""
    if want == "loopback":
        return "loopback"
    probe = "tcprobe%d" % os.getpid()
    ok = (os.geteuid() == 0 and shutil.which("ip") is not None and
          run(["ip", "netns", "add", probe], check=False).returncode == 0)
    if ok:
        ok = run(["ip", "-n", probe, "link", "add", "name", "pa", "type", "veth", "peer",
                  "name", "pb"],
                 check=False).returncode == 0
        run(["ip", "netns", "del", probe], check=False)
    if not ok and want == "netns":
        raise RuntimeError("network namespaces are not available here (need root and ip netns)")
    return "netns" if ok else "loopback"


class Namespaces:
    """The hub and one namespace per node, named after this process so runs do not collide."""

    def __init__(self, n):
        self.tag = "tc%d" % os.getpid()
        self.hub = self.tag + "h"
        self.nodes = ["%sn%d" % (self.tag, i) for i in range(n)]

    def create(self):
        for ns in [self.hub] + self.nodes:
            run(["ip", "netns", "add", ns])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        for i, ns in enumerate(self.nodes):
            run(["ip", "link", "add", "name", "h%d" % i, "netns", self.hub, "type", "veth",
                 "peer", "name", "e0", "netns", ns])
            run(["ip", "-n", self.hub, "addr", "add", "10.200.%d.1/24" % i, "dev", "h%d" % i])
            run(["ip", "-n", self.hub, "link", "set", "h%d" % i, "up"])
            run(["ip", "-n", self.hub, "addr", "add", "10.201.0.%d/32" % (i + 1), "dev", "lo"])
            run(["ip", "-n", ns, "addr", "add", "10.200.%d.2/24" % i, "dev", "e0"])
            run(["ip", "-n", ns, "link", "set", "e0", "up"])
            run(["ip", "-n", ns, "route", "add", "default", "via", "10.200.%d.1" % i])

    def delete(self):
        for ns in self.nodes + [self.hub]:
            run(["ip", "netns", "del", ns], check=False)


def _decode(raw):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")


def http(host, port, method, path, body=None, headers=None, timeout=10.0):
    """One request to host:port; (status, headers, the body as JSON, else as text)."""
    conn = httpc.HTTPConnection(host, port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json"} if payload is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, payload, hdrs)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), _decode(resp.read())
    finally:
        conn.close()


class Node:
    """One node process. `i` is its slot (its namespace and addresses); `slot` names its proxy
    links ("org<i>" for founders, "spare" for the slot of orgs that join by governance)."""

    def __init__(self, cluster, i, org=None, slot=None):
        self.c, self.i = cluster, i
        self.org = org or "org%d" % i
        self.slot = slot or self.org
        self.dir = os.path.join(cluster.root, self.org)
        self.log_path = os.path.join(cluster.root, self.org + ".log")
        self.proc = None
        self.paused = False
        self.killed_by_harness = 0   # kill -9s we sent
        self.exits = []              # (time, code, expected) of every exit seen
        if cluster.mode == "netns":
            self.host = "10.200.%d.2" % i
            self.peer_port, self.api_port = PEER_PORT, API_PORT
            self.genesis_host, self.genesis_port = "10.201.0.%d" % (i + 1), PEER_PORT
            self.source = self.host
        else:
            self.host = "127.0.0.1"
            self.peer_port, self.api_port = free_port(), free_port()
            self.genesis_host, self.genesis_port = "127.0.0.1", free_port()
            self.source = None
            if i in cluster.loopback_ports:  # a later org in a slot keeps the slot's ports
                self.peer_port, self.api_port, self.genesis_port = cluster.loopback_ports[i]
            cluster.loopback_ports[i] = (self.peer_port, self.api_port, self.genesis_port)
        self.api_key = None
        self.public_key = None

    def start(self):
        log = open(self.log_path, "ab")
        args = [self.c.treaty, "node", "--dir", self.dir, "--genesis", self.c.genesis]
        if self.c.mode == "netns":
            args = ["ip", "netns", "exec", self.c.ns.nodes[self.i]] + args
        env = None
        if self.c.shim and self is not self.c.disk_node:  # the tmpfs has no room for images
            env = dict(os.environ, **lostwrites.env(self.c.shim, self.dir))
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.paused = False
        log.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def poll_exit(self, expected=False):
        """Records an exit not yet recorded; returns its code or None while running."""
        if self.proc is None or self.proc.poll() is None:
            return None
        code = self.proc.returncode
        self.exits.append((time.time(), code, expected))
        self.proc = None
        return code

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def kill9(self):
        if self.alive():
            if self.paused:
                self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.killed_by_harness += 1
            self.poll_exit(expected=True)

    def pause(self):
        if self.alive():
            self.proc.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self):
        if self.alive() and self.paused:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self):
        """SIGTERM; the exit code (0 is a clean stop), 'hung' if it did not stop in 30 s."""
        if not self.alive():
            return None
        self.resume()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            code = "hung"
        self.exits.append((time.time(), code, code == 0))
        self.proc = None
        return code

    def http(self, method, path, body=None, headers=None, timeout=10.0):
        hdrs = {"Authorization": "Bearer " + self.api_key}
        hdrs.update(headers or {})
        return http(self.host, self.api_port, method, path, body, hdrs, timeout)

    def head(self, timeout=3.0):
        st, _, body = self.http("GET", "/v1/ledger/head", timeout=timeout)
        return body if st == 200 else None

    def url(self):
        return "http://%s:%d" % (self.host, self.api_port)


class Cluster:
    """n founders, plus (spare=True) one more slot for orgs that join and leave by governance:
    self.spare is the org in it now (None before the first join), self.retired the earlier ones."""

    def __init__(self, treaty, schema, n, mode, root, tmpfs_mb, ns=None, spare=False):
        self.treaty, self.schema, self.mode, self.root = treaty, schema, mode, root
        self.ns = ns
        self.genesis = os.path.join(root, "genesis.json")
        self.loopback_ports = {}
        self.nodes = [Node(self, i) for i in range(n)]
        self.spare_slot = Node(self, n, org="spare0", slot="spare") if spare else None
        self.spare = None
        self.spare_member = False
        self.spare_count = 0
        self.pending_add = None
        self.findings = []  # behaviour worth a report that the checker does not fail
        self.retired = []
        self.disk_node = self.nodes[-1]
        self.tmpfs_mb = tmpfs_mb
        self.tmpfs = None
        self.shim = None  # the lost-writes shim nodes start under (kill9-lose), if found

    def init_org(self, n):
        """treaty init, an admin key and node.json for node n."""
        p = run([self.treaty, "init", "--org", n.org, "--dir", n.dir, "--peer",
                 "%s:%d" % (n.host, n.peer_port), "--api", "%s:%d" % (n.host, n.api_port)])
        for line in p.stdout.splitlines():
            if line.startswith("public_key="):
                n.public_key = line.split("=", 1)[1].strip()
        n.api_key = run([self.treaty, "apikey", "create", "--dir", n.dir, "--role",
                         "admin"]).stdout.strip()
        cfg_path = os.path.join(n.dir, "node.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        # reads wait at most 3 s for a read index, so a reader under a partition moves on
        cfg.setdefault("limits", {})["read_index_timeout_ms"] = 3000
        if n is self.disk_node:
            cfg.setdefault("store", {}).update({"map_size_mb": 8, "map_max_mb": 4096})
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)

    def new_spare(self):
        """A fresh org in the spare slot (treaty init; not started, not yet a member)."""
        self.spare_count += 1
        n = Node(self, self.spare_slot.i, org="spare%d" % self.spare_count, slot="spare")
        self.init_org(n)
        self.spare = n
        self.spare_member = False
        return n

    def members_nodes(self):
        """The nodes whose orgs are members now (the founders, and the spare once it joined)."""
        return self.nodes + ([self.spare] if self.spare is not None and self.spare_member else [])

    def all_nodes(self):
        return self.nodes + self.retired + ([self.spare] if self.spare is not None else [])

    def init(self):
        for n in self.nodes:
            self.init_org(n)
        args = [self.treaty, "network", "create", "--name", "chaos", "--schema", self.schema,
                "--out", self.genesis, "--tick-ms", "10", "--heartbeat-ms", "100",
                "--election-ms", "1000", "--checkpoint-blocks", "64"]
        for n in self.nodes:
            args += ["--member", "%s=%s@%s:%d" % (n.org, n.public_key, n.genesis_host,
                                                  n.genesis_port)]
        run(args)
        # the disk-full node's store lives on its own small tmpfs
        # (without the right to mount, the disk-full fault is skipped and the run says so)
        path = os.path.join(self.disk_node.dir, "data")
        os.makedirs(path, exist_ok=True)
        if shutil.which("mount") and run(["mount", "-t", "tmpfs", "-o", "size=%dm" % self.tmpfs_mb,
                                          "tmpfs", path], check=False).returncode == 0:
            self.tmpfs = path

    def proxy_nodes(self):
        slots = self.nodes + ([self.spare_slot] if self.spare_slot else [])
        return [(n.slot, n.source, n.genesis_host, n.genesis_port, n.host, n.peer_port)
                for n in slots]

    def fill_disk(self):
        """Fills the tmpfs to the last byte with a filler file; returns the bytes written."""
        path = os.path.join(self.tmpfs, "filler")
        st = os.statvfs(self.tmpfs)
        written = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            free = st.f_bavail * st.f_frsize
            if free > 1 << 20:
                os.posix_fallocate(fd, 0, free - (1 << 20))
                written = free - (1 << 20)
                os.lseek(fd, written, os.SEEK_SET)
            chunk = b"\0" * 4096
            for _ in range(1 << 16):
                try:
                    written += os.write(fd, chunk)
                except OSError as e:
                    if e.errno == errno.ENOSPC:
                        break
                    raise
        finally:
            os.close(fd)
        return written

    def unfill_disk(self):
        try:
            os.unlink(os.path.join(self.tmpfs, "filler"))
        except FileNotFoundError:
            pass

    def leader(self):
        for n in self.members_nodes():
            if not n.alive() or n.paused:
                continue
            try:
                h = n.head(timeout=1.0)
            except (OSError, httpc.HTTPException):
                continue
            if h and h.get("node", {}).get("role") == "leader":
                return n
        return None

    def wait_leader(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            lead = self.leader()
            if lead is not None:
                return lead
            time.sleep(0.1)
        return None

    def teardown(self):
        codes = {}
        for n in self.all_nodes():
            codes[n.org] = n.stop()
        if self.tmpfs:
            run(["umount", self.tmpfs], check=False)
        return codes
