"""workload.py — concurrent writers and linearizable readers through random nodes' APIs.

Writers create Shipment records with ids unique to the run; some ask `Prefer: wait=none`. Only a
201 (or 200) is an acknowledgement: a 202, an error status or a timeout leaves the write
"indeterminate" (it may or may not be in the final state, but at most once). Readers GET a key
with ?consistency=linearizable: one recently acknowledged, one still in flight, or one never
written. Every op is recorded: (kind, node, key, start, end, status, tx, height).
Every loop is bounded by the deadline and by max_ops.
"""
import http.client as httpc
import random
import threading
import time


class Op:
    __slots__ = ("kind", "node", "key", "start", "end", "status", "tx", "height", "wait_none",
                 "detail")

    def __init__(self, kind, node, key, wait_none=False):
        self.kind, self.node, self.key, self.wait_none = kind, node, key, wait_none
        self.start = time.time()
        self.end = None
        self.status = None   # HTTP status, or "timeout"/"conn" for no answer
        self.tx = self.height = self.detail = None

    def acked(self):
        return self.kind == "write" and self.status in (200, 201)

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


class Workload:
    def __init__(self, cluster, seed, writers, readers, max_ops, deadline, run_id):
        self.c = cluster
        self.seed = seed
        self.writers, self.readers = writers, readers
        self.max_ops = max_ops
        self.deadline = deadline
        self.run_id = run_id
        self.ops = []
        self.lock = threading.Lock()
        self.next_id = 0
        self.threads = []

    def _new_key(self):
        with self.lock:
            self.next_id += 1
            return "SHP-%04d%06d" % (self.run_id % 10000, self.next_id)

    def _record(self, op):
        """Adds op to the history; False (op not added) once max_ops are recorded."""
        with self.lock:
            if len(self.ops) >= self.max_ops:
                return False
            self.ops.append(op)
            return True

    def _node(self, rng):
        nodes = [n for n in self.c.nodes if n.api_key]
        return rng.choice(nodes)

    def _call(self, op, node, method, path, body=None, headers=None, timeout=8.0):
        try:
            st, _, resp = node.http(method, path, body, headers, timeout=timeout)
            op.status = st
            if isinstance(resp, dict):
                op.tx = resp.get("_tx") or resp.get("tx")
                op.height = resp.get("_height")
                if st >= 400:
                    op.detail = str(resp.get("detail", ""))[:200]
        except (TimeoutError, OSError, httpc.HTTPException) as e:
            op.status = "timeout" if "timed out" in str(e) else "conn"
            op.detail = str(e)[:200]
        op.end = time.time()

    def _writer(self, idx):
        rng = random.Random(self.seed * 1000 + idx)
        while time.time() < self.deadline:
            node = self._node(rng)
            key = self._new_key()
            wait_none = rng.random() < 0.2
            op = Op("write", node.org, key, wait_none)
            if not self._record(op):
                return
            body = {"shipmentId": key, "origin": "writer-%d" % idx, "destination": node.org,
                    "status": "created"}
            self._call(op, node, "POST", "/v1/data/Shipment", body,
                       {"Prefer": "wait=none"} if wait_none else None)
            if op.status not in (200, 201, 202):
                time.sleep(0.05 + rng.random() * 0.2)  # back off a little from a sick node

    def _reader(self, idx):
        rng = random.Random(self.seed * 1000 + 500 + idx)
        while time.time() < self.deadline:
            with self.lock:
                writes = [o for o in self.ops[-400:] if o.kind == "write"]
            pick = rng.random()
            if writes and pick < 0.6:
                acked = [o for o in writes if o.acked()] or writes
                key = rng.choice(acked).key
            elif writes and pick < 0.9:
                key = rng.choice(writes).key
            else:
                key = "SHP-9999%06d" % rng.randrange(10 ** 6)  # never written
            node = self._node(rng)
            op = Op("read", node.org, key)
            if not self._record(op):
                return
            self._call(op, node, "GET", "/v1/data/Shipment/%s?consistency=linearizable" % key,
                       timeout=6.0)
            if op.status != 200 and op.status != 404:
                time.sleep(0.05 + rng.random() * 0.2)

    def start(self):
        for i in range(self.writers):
            self.threads.append(threading.Thread(target=self._writer, args=(i,), daemon=True))
        for i in range(self.readers):
            self.threads.append(threading.Thread(target=self._reader, args=(i,), daemon=True))
        for t in self.threads:
            t.start()

    def join(self, timeout):
        end = time.time() + timeout
        for t in self.threads:
            t.join(max(0.0, end - time.time()))
        return not any(t.is_alive() for t in self.threads)
