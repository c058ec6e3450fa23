#!/usr/bin/env python3
"""`treaty demo`, the README's main command, run as a user runs it: the whole tour with
--exit-after-tour (every step shown, exit 0, the temporary directory removed), the interactive
mode stopped with Ctrl-C (SIGINT) and with SIGTERM, and the ways it must fail cleanly — a port
taken, a step that fails mid-tour, an unusable --dir or --schema. The optional connector step
(--connector: the HubSpot double of tests/doubles and `treaty connect`) through its whole tour,
stopped with Ctrl-C, and failing (no doubles directory, a double that dies, no python3). After
every run no process of it may be left: each test looks for any process whose command line names
its work directory, and for the connector's children by their pids.

  python3 test_demo.py TREATY_BINARY SCHEMA
"""
import json
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

TREATY = ""
SCHEMA = ""
REPO = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOUBLES = os.path.join(REPO, "tests", "doubles")
TOUR_TIMEOUT = 240  # seconds; the tour takes a few seconds, more under the sanitizers

STEPS = ["network", "start", "write", "read", "acl", "validation", "events", "failover",
         "catch-up", "verify"]


def free_base(count=6):
    """A base port P with P..P+count-1 free on 127.0.0.1 (bound with SO_REUSEADDR, as nodes do).
    Chosen below the kernel's ephemeral range, so that other tests' ephemeral ports (outgoing
    connections, port-0 listeners) do not take one between this check and the demo's start."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(500):
        base = rng.randrange(10000, max(low, 10000 + 2 * count) - count)
        ok = True
        for p in range(base, base + count):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no %d consecutive free ports below %d" % (count, low))


def processes_naming(text):
    """PIDs of live (not zombie) processes whose command line contains `text`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open("/proc/%s/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append((int(pid), cmd))
    return found


def work_dir(stdout):
    for line in stdout.splitlines():
        if line.startswith("treaty demo: work directory "):
            return line[len("treaty demo: work directory "):].split(" (")[0]
    return None


def run_demo(*args, timeout=TOUR_TIMEOUT, **kw):
    return subprocess.run([TREATY, "demo", *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def connector_pids(out):
    """The pids of the HubSpot double and of `treaty connect` the demo printed (None: absent)."""
    dbl = re.search(r"\$ python3 \S+/hubspot\.py --port 0 --token \.\.\. +\(pid (\d+)", out)
    con = re.search(r"\$ treaty connect --config \S+ +\(pid (\d+)", out)
    return [int(m.group(1)) if m else None for m in (dbl, con)]


def running(pid, needle):
    """Whether process `pid` lives (not a zombie) and its command line contains `needle`."""
    return any(p == pid for p, _ in processes_naming(needle))


class TestDemo(unittest.TestCase):
    def assert_nothing_left(self, root):
        self.assertTrue(root)
        left = processes_naming(root)
        for pid, _ in left:
            os.kill(pid, signal.SIGKILL)
        self.assertEqual(left, [], "processes left running")

    def test_tour_exit_after_tour(self):
        p = run_demo("--exit-after-tour", "--base-port", str(free_base()))
        out = p.stdout
        self.assertEqual(p.returncode, 0, out + p.stderr)
        for i, name in enumerate(STEPS, 1):
            self.assertIn("== [%d/%d] %s: " % (i, len(STEPS), name), out)
        root = work_dir(out)
        self.assertIsNotNone(root, out)
        # The things the tour shows, each checked by the demo itself.
        self.assertRegex(out, r"leader elected: (acme|globex|initech)'s node")
        self.assertEqual(out.count("<- 201: version 1"), 4, out)  # 3 shipments, 1 invoice
        self.assertIn("<- 200: version 2", out)  # globex's conditional update
        self.assertRegex(out, r"<- 403 .*initech may not create Shipment")
        self.assertRegex(out, r"<- 422 .*violates the schema \(4 violations\)")
        self.assertRegex(out, r"errors\[3\]: ")
        for org in ("acme", "globex", "initech"):  # one admin key per org, made by the demo
            self.assertRegex(out, r"\n  %s +http://127\.0\.0\.1:\d+ +API key: "
                                  r"trk_[0-9a-f]{16}_[0-9a-f]{64}\n" % org)
        self.assertRegex(out, r"\(no key\) -> GET .*\n +<- 401 ")
        self.assertRegex(out, r"initech -> GET .*/v1/data/Invoice/INV-0001\n +<- 403 ")
        self.assertIn("declaredValue (field read rule [owner, initech]) reaches initech, "
                      "not globex", out)
        events = re.findall(r"\n  event (\d+\.\d+) +(\w+) +(\w+) +(\w+) (\S+) ", out)
        self.assertEqual([e[1:] for e in events],
                         [("acme", "create", "Shipment", "SHP-000001"),
                          ("acme", "create", "Shipment", "SHP-000002"),
                          ("acme", "create", "Shipment", "SHP-000003"),
                          ("globex", "create", "Invoice", "INV-0001"),
                          ("globex", "patch", "Shipment", "SHP-000001")], out)
        self.assertRegex(out, r"kill -9 \d+ +\((acme|globex|initech)'s node, the leader\)")
        self.assertRegex(out, r"new leader: (acme|globex|initech)'s node .*12 of 12 writes")
        self.assertRegex(out, r"caught up in [\d.]+ s: the same head on all three nodes")
        self.assertIn("cosigned by acme, globex and initech", out)
        self.assertIn("to the head checked on each node", out)
        self.assertRegex(out, r"tx [0-9a-f]{12}\.\.\. \(acme's first shipment\) is leaf 0 of the "
                              r"cosigned tree of \d+ leaves: leaf hash and inclusion proof "
                              r"\(\d+ hashes\) checked")
        self.assertRegex(out, r"the head's tree \(\d+ leaves\) extends the cosigned one: "
                              r"consistency proof \(\d+ hashes\) checked")
        self.assertRegex(out, r"writes acknowledged +(1[7-9]|[2-9]\d)\n")  # 5 + 12 at least
        self.assertRegex(out, r"leader changes +[1-9]")
        self.assertRegex(out, r"verified head +height \d+, block [0-9a-f]{16}\.\.\., identical")
        self.assertIn("all nodes stopped", out)
        self.assertFalse(os.path.exists(root), "temporary work directory left behind")
        self.assert_nothing_left(root)

    def test_dir_is_kept(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "net")
            p = run_demo("--exit-after-tour", "--base-port", str(free_base()), "--dir", root)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("work directory %s (kept)" % os.path.realpath(root), p.stdout)
            for org in ("acme", "globex", "initech"):
                self.assertTrue(os.path.exists(os.path.join(root, org, "node.key")))
                self.assertTrue(os.path.exists(os.path.join(root, org, "node.log")))
                self.assertTrue(os.path.exists(os.path.join(root, org, "apikeys.json")))
            self.assertTrue(os.path.exists(os.path.join(root, "genesis.json")))
            self.assert_nothing_left(root)
            # The same directory again is refused (it is not empty): usage, nothing started.
            p = run_demo("--exit-after-tour", "--base-port", str(free_base()), "--dir", root)
            self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
            self.assertIn("exists and is not empty", p.stderr)
            self.assertNotIn("== [", p.stdout)

    def until_running(self, proc):
        """Reads the demo's output until it says it keeps running; returns it."""
        out = b""
        deadline = time.time() + TOUR_TIMEOUT
        while b"Press Ctrl-C" not in out and time.time() < deadline:
            r, _, _ = select.select([proc.stdout], [], [], 1.0)
            if r:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
        out = out.decode("utf-8", "replace")
        if "Press Ctrl-C" not in out:
            proc.kill()
            rest, err = proc.communicate(timeout=60)
            self.fail("no 'Press Ctrl-C': %s%s\nstderr: %s" % (out, rest.decode(), err.decode()))
        return out

    def interactive(self, sig, *extra):
        """Runs the demo without --exit-after-tour, waits for it to say it keeps running, sends
        `sig`, and checks it stops everything and exits 0."""
        proc = subprocess.Popen([TREATY, "demo", "--base-port", str(free_base(7)), *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        kids = []
        try:
            out = self.until_running(proc)
            root = work_dir(out)
            # three nodes (and `treaty connect`, whose config is in the work directory)
            self.assertEqual(len(processes_naming(root + "/")), 4 if extra else 3)
            if extra:
                kids = connector_pids(out)
                self.assertTrue(running(kids[0], "hubspot.py"), out)
                self.assertTrue(running(kids[1], "connect"), out)
                self.assertRegex(out, r"connector +http://127\.0\.0\.1:\d+/v1/connectors +"
                                      r"HubSpot double http://127\.0\.0\.1:\d+/_control")
            proc.send_signal(sig)
            rest, err = proc.communicate(timeout=60)
            rest, err = rest.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, out + rest + err)
        self.assertIn("all nodes stopped", rest)
        if extra:
            self.assertIn("connector and HubSpot double stopped", rest)
            self.assertFalse(running(kids[0], "hubspot.py"), "the double was left running")
        self.assertFalse(os.path.exists(root))
        self.assert_nothing_left(root)

    def test_ctrl_c_stops_everything(self):
        self.interactive(signal.SIGINT)

    def test_sigterm_stops_everything(self):
        self.interactive(signal.SIGTERM)

    def test_ctrl_c_stops_the_connector(self):
        self.interactive(signal.SIGINT, "--connector", "--doubles", DOUBLES)

    def test_connector_step(self):
        """--connector run from the repository's root without --doubles, as scripts/demo.sh
        does: eleven steps, a record each way, the connector's status; then both children are
        stopped."""
        p = run_demo("--exit-after-tour", "--connector", "--base-port", str(free_base(7)),
                     cwd=REPO)
        out = p.stdout
        self.assertEqual(p.returncode, 0, out + p.stderr)
        for i, name in enumerate(STEPS + ["connector"], 1):
            self.assertIn("== [%d/%d] %s: " % (i, len(STEPS) + 1, name), out)
        step = out[out.index("== [11/11] connector"):]
        self.assertIn("$ python3 %s/hubspot.py --port 0" % DOUBLES, step)
        self.assertRegex(step, r"treaty apikey create --dir \S+/acme --role writer "
                               r"--name connector")
        for org in ("acme", "globex", "initech"):  # made in the double, on every node
            self.assertRegex(step, r"%s -> GET http://127\.0\.0\.1:\d+/v1/data/Shipment/"
                                   r"SHP-000500\n +<- 200 \{\"_owner\":\"acme\",\"carrier\":"
                                   r"\"globex\",\"destination\":\"Oslo\",\"origin\":\"Osaka\","
                                   r"\"shipmentId\":\"SHP-000500\",\"status\":\"created\","
                                   r"\"weightKg\":812\.5\}" % org)
        self.assertIn("SHP-000500, made in HubSpot, is in the ledger on all three nodes", step)
        self.assertRegex(step, r"acme -> POST .*/v1/data/Shipment \{\"shipmentId\":\"SHP-000501\""
                               r".*\n +<- 201 ")
        self.assertRegex(step, r"<- 200 \{\"records\.SHP-000501\":\{\"shipment_id\":\"SHP-000501\","
                               r"\"origin\":\"Genoa\",\"destination\":\"Valencia\","
                               r"\"status\":\"created\",\"carrier\":\"globex\",\"weight\":\"640\"")
        self.assertIn("SHP-000501, written through acme's API, is an object in HubSpot", step)
        self.assertRegex(step, r"-> GET http://127\.0\.0\.1:\d+/v1/connectors\n +<- 200: "
                               r"connector hubspot \(hubspot, Shipment\), dead letters 0")
        inbound = re.search(r"inbound +state (\w+) +records (\d+) +skipped (\d+) +lag (\d+) ms "
                            r"+cursor (\d+)\|(\d+)", step)
        outbound = re.search(r"outbound +state (\w+) +records (\d+) +skipped (\d+) +lag (\d+) ms"
                             r" +offset (\d+)\.(\d+)", step)
        self.assertIsNotNone(inbound, step)
        self.assertIsNotNone(outbound, step)
        self.assertGreaterEqual(int(inbound.group(2)), 1)
        # Every Shipment change of the tour is accounted for: delivered, or skipped (SHP-000500
        # coming back from the double; SHP-000001's create superseded by its patch). How many
        # there are depends on the tour's path: the failover step writes 12 shipments when
        # another org's node leads, and the verify step writes SHP-000300 only when the latest
        # checkpoint lacks a cosignature.
        written = len(re.findall(r"-> (?:POST|PATCH) http://\S+/v1/data/Shipment\S* .*\n"
                                 r" +<- 20[01][ :]", out))
        written += len(re.findall(r"-> POST /v1/data/Shipment SHP-\d+: 201 ", out))
        self.assertGreaterEqual(written, 5, out)  # 3 creates, the patch, SHP-000501
        self.assertEqual(int(outbound.group(2)) + int(outbound.group(3)), written + 1, step)
        self.assertGreaterEqual(int(outbound.group(2)), written - 1, step)
        self.assertIn("connector and HubSpot double stopped", out)
        root = work_dir(out)
        self.assertFalse(os.path.exists(root))
        self.assert_nothing_left(root)
        dbl, con = connector_pids(out)
        self.assertFalse(running(dbl, "hubspot.py"), "the double was left running")
        self.assertFalse(running(con, "connect"), "treaty connect was left running")

    def connector_fails(self, doubles, needle, env=None):
        """The connector step fails: exit 3 naming the step and `needle`, nothing left."""
        p = run_demo("--exit-after-tour", "--connector", "--doubles", doubles, "--base-port",
                     str(free_base(7)), env=env)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("== [11/11] connector: ", p.stdout)
        self.assertIn("treaty: demo: step 'connector' failed: " + needle, p.stderr)
        self.assertIn("all nodes stopped", p.stdout)
        self.assertNotIn("== summary", p.stdout)
        root = work_dir(p.stdout)
        self.assertFalse(os.path.exists(root))
        self.assert_nothing_left(root)
        return p

    def test_connector_double_dies(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "hubspot.py"), "w") as f:
                f.write("import sys\nsys.exit('hubspot double: cannot bind the port')\n")
            p = self.connector_fails(tmp, "the HubSpot double exited with 1: hubspot double: "
                                          "cannot bind the port (log ")
        self.assertNotIn("$ treaty connect", p.stdout)  # nothing after the failure

    def test_connector_without_python(self):
        """No python3 on PATH: the step says so (the demo runs its own binary by path)."""
        with tempfile.TemporaryDirectory() as empty:
            self.connector_fails(DOUBLES, "cannot run python3 (the connector step needs it on "
                                          "PATH)", env=dict(os.environ, PATH=empty))

    def test_connector_no_doubles_dir(self):
        """An unusable --doubles is a usage error found before anything starts."""
        p = run_demo("--exit-after-tour", "--connector", "--doubles", "/nonexistent/doubles",
                     "--base-port", str(free_base(7)), timeout=30)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("demo: --doubles /nonexistent/doubles: No such file or directory", p.stderr)
        self.assertNotIn("== [", p.stdout)
        with tempfile.TemporaryDirectory() as tmp:  # a directory without hubspot.py
            p = run_demo("--connector", "--doubles", tmp, timeout=30)
            self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
            self.assertIn("no hubspot.py in it", p.stderr)
            self.assertNotIn("== [", p.stdout)

    def test_killed_demo_leaves_no_node(self):
        """SIGKILL gives the demo no chance to clean up; its nodes still stop (the kernel sends
        them SIGTERM when their parent dies) and exit cleanly."""
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "net")
            proc = subprocess.Popen([TREATY, "demo", "--base-port", str(free_base()), "--dir",
                                     root], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                self.until_running(proc)
                self.assertEqual(len(processes_naming(root + "/")), 3)
            finally:
                proc.kill()
                proc.communicate(timeout=60)
            deadline = time.time() + 30
            while processes_naming(root + "/") and time.time() < deadline:
                time.sleep(0.1)
            self.assert_nothing_left(root)
            for org in ("acme", "globex", "initech"):
                with open(os.path.join(root, org, "node.log")) as f:
                    log = f.read()
                self.assertIn("event=stopping signal=15", log, org)
                self.assertNotIn("Assertion", log, org)

    def test_port_taken_fails_cleanly(self):
        base = free_base()
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "net")
            with socket.socket() as s:  # someone else listens on acme's peer port
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", base + 3))
                s.listen()
                p = run_demo("--exit-after-tour", "--base-port", str(base), "--dir", root,
                             timeout=60)
            self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
            lines = [l for l in p.stderr.splitlines() if l.strip()]
            self.assertEqual(len(lines), 1, p.stderr)
            self.assertIn("port %d on 127.0.0.1 is not free" % (base + 3), lines[0])
            self.assertIn("--base-port", lines[0])
            self.assertNotIn("== [", p.stdout)
            self.assertFalse(os.path.exists(root), "nothing is created when a port is taken")
            self.assert_nothing_left(root)

    def test_failing_step_stops_everything(self):
        """A schema without the Invoice type: the network starts, the write step fails on
        globex's invoice; the demo names the step and the reason, exits 3, stops its nodes."""
        with open(SCHEMA) as f:
            schema = json.load(f)
        del schema["properties"]["Invoice"]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "no-invoice.json")
            with open(path, "w") as f:
                json.dump(schema, f)
            p = run_demo("--exit-after-tour", "--base-port", str(free_base()), "--schema", path)
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("== [3/10] write: ", p.stdout)
        self.assertNotIn("== [4/10]", p.stdout)
        self.assertRegex(p.stderr, r"treaty: demo: step 'write' failed: POST /v1/data/Invoice "
                                   r"answered 404")
        self.assertIn("all nodes stopped", p.stdout)
        root = work_dir(p.stdout)
        self.assertFalse(os.path.exists(root))
        self.assert_nothing_left(root)

    def test_usage(self):
        for args, needle in ((["--bogus"], "unknown option '--bogus'"),
                             (["--base-port", "0"], "--base-port expects a port"),
                             (["--base-port", "65531"], "--base-port expects a port"),
                             (["--base-port"], "--base-port expects a value"),
                             (["--schema", "/nonexistent/s.json"], "--schema /nonexistent"),
                             (["--doubles", DOUBLES], "--doubles is for the connector step"),
                             (["--connector", "--base-port", "65530"], "no port P+6")):
            p = run_demo(*args, timeout=30)
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
            self.assertIn(needle, p.stderr)
            self.assertNotIn("== [", p.stdout)
        p = run_demo("--help", timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage: treaty demo", p.stdout)
        p = subprocess.run([TREATY, "--help"], capture_output=True, text=True, timeout=30)
        self.assertRegex(p.stdout, r"\n  demo +")


if __name__ == "__main__":
    TREATY = os.path.abspath(sys.argv[1])
    SCHEMA = os.path.abspath(sys.argv[2])
    del sys.argv[1:3]
    unittest.main(verbosity=2)
