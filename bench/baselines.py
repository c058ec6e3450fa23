"""The reference systems bench_compare.py measures treaty against, and /proc figures.

- EtcdCluster: N etcd members (Debian etcd-server 3.4) on loopback, default settings (fsync on),
  one data dir each under the workdir; driven through etcd's JSON gateway.
- Nginx: one nginx process (master_process off, so it is the worker) with its own config file
  in the workdir, serving one static file on a loopback port.
- cpu_seconds / vm_hwm_kb: utime+stime and VmHWM of a process from /proc.
- ensure_packages: installs missing Debian packages (as root), or says which are missing.

Every process is started in its own session (Ctrl-C reaches only the benchmark, which stops
them in order) and stopped with SIGTERM, then SIGKILL after a bounded wait.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")

# binary -> Debian package that has it
PACKAGES = {"etcd": "etcd-server", "nginx": "nginx-light"}
BIN_DIRS = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")


class BaselineError(Exception):
    pass


def cpu_seconds(pid):
    """utime + stime of process pid (all its threads) in seconds."""
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5)


def machine_busy_seconds():
    """CPU seconds all processes of this machine have used (every core), from /proc/stat."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    return (sum(v[:8]) - idle) / CLK_TCK  # user nice system idle iowait irq softirq steal


def vm_hwm_kb(pid):
    """Peak resident set size (VmHWM) of process pid in KiB."""
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise BaselineError("/proc/%d/status has no VmHWM" % pid)


def find_binary(name):
    path = shutil.which(name)
    if path:
        return path
    for d in BIN_DIRS:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def ensure_packages(names, install, log=print):
    """Paths of the binaries `names` (etcd, nginx). Missing ones are installed with apt-get when
    `install` is true and we are root; otherwise a BaselineError names the packages."""
    missing = [n for n in names if not find_binary(n)]
    if missing and install:
        pkgs = [PACKAGES[n] for n in missing]
        if os.geteuid() != 0:
            raise BaselineError("missing %s; install as root: apt-get install %s"
                                % (", ".join(missing), " ".join(pkgs)))
        log("installing %s (apt-get)" % " ".join(pkgs))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *pkgs]):
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            if p.returncode != 0:
                raise BaselineError("%s exited %d: %s" % (" ".join(cmd), p.returncode,
                                                         p.stderr.strip()[-500:]))
        missing = [n for n in names if not find_binary(n)]
    if missing:
        raise BaselineError("not installed: %s (Debian packages %s)"
                            % (", ".join(missing), ", ".join(PACKAGES[n] for n in missing)))
    return {n: find_binary(n) for n in names}


def version_of(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (p.stdout + p.stderr).strip().splitlines()
    return out[0] if out else None


def stop_process(p, timeout=10.0):
    """SIGTERM, then SIGKILL after `timeout`; safe on an exited process."""
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=timeout)


def http_ok(url, data=None, timeout=1.0):
    """The body of a 2xx answer, or None."""
    try:
        with urllib.request.urlopen(url, data=data, timeout=timeout) as r:
            return r.read()
    except (OSError, ValueError, urllib.error.URLError):
        return None


class _Procs:
    """Processes started in their own sessions, with their log files."""

    def __init__(self, workdir):
        self.dir = workdir
        self.procs = []
        self.logs = []

    def spawn(self, argv, log_name):
        logf = open(os.path.join(self.dir, log_name), "ab")
        self.logs.append(logf)
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                             stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def pids(self):
        return [p.pid for p in self.procs]

    def check_alive(self, what):
        for p in self.procs:
            if p.poll() is not None:
                raise BaselineError("%s exited with %d (logs in %s)" % (what, p.returncode,
                                                                        self.dir))

    def stop(self):
        for p in self.procs:
            stop_process(p)
        self.procs = []
        for f in self.logs:
            f.close()
        self.logs = []


class EtcdCluster(_Procs):
    def __init__(self, etcd, workdir, members, free_port):
        super().__init__(workdir)
        self.etcd = etcd
        self.names = ["etcd%d" % (i + 1) for i in range(members)]
        self.client = {n: "127.0.0.1:%d" % free_port() for n in self.names}
        self.peer = {n: "127.0.0.1:%d" % free_port() for n in self.names}

    def start(self, timeout=30.0):
        cluster = ",".join("%s=http://%s" % (n, self.peer[n]) for n in self.names)
        token = "bench-%d-%d" % (os.getpid(), int(time.time()))
        for n in self.names:
            data = os.path.join(self.dir, n + ".data")
            self.spawn([self.etcd, "--name", n, "--data-dir", data,
                        "--listen-client-urls", "http://" + self.client[n],
                        "--advertise-client-urls", "http://" + self.client[n],
                        "--listen-peer-urls", "http://" + self.peer[n],
                        "--initial-advertise-peer-urls", "http://" + self.peer[n],
                        "--initial-cluster", cluster, "--initial-cluster-state", "new",
                        "--initial-cluster-token", token, "--logger", "zap",
                        "--log-level", "warn"], n + ".log")
        deadline = time.monotonic() + timeout
        pending = list(self.names)
        while pending and time.monotonic() < deadline:
            self.check_alive("etcd")
            pending = [n for n in pending
                       if b'"true"' not in (http_ok("http://%s/health" % self.client[n]) or b"")]
            if pending:
                time.sleep(0.2)
        if pending:
            raise BaselineError("etcd members %s not healthy within %.0f s (logs in %s)"
                                % (", ".join(pending), timeout, self.dir))

    def endpoints(self):
        return [self.client[n] for n in self.names]

    def count_keys(self, endpoint, key_b64):
        """How many keys the member at endpoint holds under exactly key_b64 (0 or 1)."""
        body = ('{"key":"%s","serializable":true,"count_only":true}' % key_b64).encode()
        raw = http_ok("http://%s/v3/kv/range" % endpoint, data=body, timeout=5.0)
        if raw is None:
            raise BaselineError("etcd range on %s did not answer" % endpoint)
        return int(json.loads(raw).get("count", 0))


NGINX_CONF = """# written by bench_compare.py: one process, loopback only, files under the prefix
daemon off;
master_process off;
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path %(dir)s/tmp-body;
    proxy_temp_path %(dir)s/tmp-proxy;
    fastcgi_temp_path %(dir)s/tmp-fastcgi;
    uwsgi_temp_path %(dir)s/tmp-uwsgi;
    scgi_temp_path %(dir)s/tmp-scgi;
    types { application/json json; }
    server {
        listen %(listen)s;
        root %(dir)s/www;
        location / { }
    }
}
"""


class Nginx(_Procs):
    def __init__(self, nginx, workdir, free_port):
        super().__init__(os.path.join(workdir, "nginx"))
        os.makedirs(os.path.join(self.dir, "www"), exist_ok=True)
        self.nginx = nginx
        self.listen = "127.0.0.1:%d" % free_port()

    def start(self, path, body, timeout=10.0):
        """Serves `body` (bytes) at `path` (e.g. /record.json)."""
        with open(os.path.join(self.dir, "www", path.lstrip("/")), "wb") as fh:
            fh.write(body)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as fh:
            fh.write(NGINX_CONF % {"dir": self.dir, "listen": self.listen})
        self.spawn([self.nginx, "-p", self.dir, "-c", conf, "-e",
                    os.path.join(self.dir, "nginx-error.log")], "nginx.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive("nginx")
            got = http_ok("http://%s%s" % (self.listen, path))
            if got is not None:
                if got != body:
                    raise BaselineError("nginx served %d bytes at %s, expected %d"
                                        % (len(got), path, len(body)))
                return
            time.sleep(0.1)
        raise BaselineError("nginx did not answer on %s within %.0f s" % (self.listen, timeout))
