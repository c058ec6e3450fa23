"""checker.py — what must hold once the cluster has healed. Each check returns violations: dicts
{"check", "what", "ops"?: [...]} naming the operations that show the problem.

1. converge: every node reports the same head (height, block hash, Merkle root, tree size),
   stable across two polls 2 s apart, within a bounded wait.
2. writes: every acknowledged write (201/200) is on every node exactly once: the key listed once,
   at version 1 (the workload only creates, so a second apply would show as a later version),
   with the tx id the acknowledgement gave; every node holds the same records; no record exists
   that the workload never tried to write.
3. reads (linearizable): a read that found a record found the tx that is in the final state; a
   read that began after an acknowledged write of its key ended, or after another read of that
   key ended having found it, must find it.
4. audit: `treaty audit export` of heights 1..H from every node, `treaty audit verify` passes on
   each, and the exports are byte-identical.
5. crashes: no node exited unless the harness killed it (or the disk-full fault stopped it, which
   the report lists); no sanitizer report in any log; every node stops cleanly (exit 0).
"""
import filecmp
import http.client as httpc
import json
import os
import subprocess
import time

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "ThreadSanitizer")


def _v(check, what, ops=None):
    return {"check": check, "what": what, "ops": [o.as_dict() for o in (ops or [])]}


def converge(cluster, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        heads = {}
        for n in cluster.nodes:
            try:
                h = n.head(timeout=3.0)
            except (OSError, httpc.HTTPException):
                h = None
            heads[n.org] = h
        keys = {(h["height"], h["block_hash"], h["root"], h["tree_size"]) if h else None
                for h in heads.values()}
        if len(keys) == 1 and None not in keys:
            key = keys.pop()
            if last == key:
                return key, []
            last = key
        else:
            last = None
        time.sleep(2.0)
    return None, [_v("converge", "heads differ after %.0fs: %s" % (
        timeout, json.dumps({k: (h and [h["height"], h["block_hash"][:16], h["root"][:16]])
                             for k, h in heads.items()})))]


def list_records(node):
    """key -> list of (tx, version) from a full paginated list (bounded pages)."""
    out, cursor = {}, None
    for _ in range(10000):
        path = "/v1/data/Shipment?limit=1000" + ("&cursor=" + cursor if cursor else "")
        st, _, body = node.http("GET", path, timeout=30.0)
        if st != 200:
            raise RuntimeError("%s: list answered %s %r" % (node.org, st, body))
        for it in body["items"]:
            out.setdefault(it["shipmentId"], []).append((it.get("_tx"), it.get("_version")))
        cursor = body.get("next_cursor")
        if not cursor:
            return out
    raise RuntimeError("%s: list did not end" % node.org)


def writes(cluster, ops):
    v = []
    states = {}
    for n in cluster.nodes:
        try:
            states[n.org] = list_records(n)
        except (OSError, RuntimeError, httpc.HTTPException) as e:
            v.append(_v("writes", "cannot list records of %s: %s" % (n.org, e)))
    by_key = {}
    for o in ops:
        if o.kind == "write":
            by_key.setdefault(o.key, []).append(o)
    for org, st in states.items():
        for key, vers in st.items():
            if len(vers) != 1 or vers[0][1] != 1:
                v.append(_v("writes", "%s: %s listed as %r (want once, version 1)" % (
                    org, key, vers), by_key.get(key)))
            if key not in by_key:
                v.append(_v("writes", "%s: %s exists but was never written" % (org, key)))
        for key, wops in by_key.items():
            for o in wops:
                if not o.acked():
                    continue
                got = st.get(key)
                if not got:
                    v.append(_v("writes", "%s: acknowledged write of %s is missing" % (org, key),
                                [o]))
                elif o.tx and got[0][0] != o.tx:
                    v.append(_v("writes", "%s: %s holds tx %s, the ack said %s" % (
                        org, key, got[0][0], o.tx), [o]))
    orgs = list(states)
    for org in orgs[1:]:
        if states[org] != states[orgs[0]]:
            only = sorted(set(states[org]) ^ set(states[orgs[0]]))[:10]
            v.append(_v("writes", "records of %s and %s differ (keys in one only: %s)" % (
                org, orgs[0], only or "none: the same keys with other txs")))
    final = states[orgs[0]] if orgs else {}
    return final, v


def reads(ops, final):
    v = []
    acked_end = {}
    for o in ops:
        if o.acked() and o.end is not None:
            acked_end[o.key] = min(acked_end.get(o.key, o.end), o.end)
    found_end = {}
    for o in ops:
        if o.kind == "read" and o.status == 200 and o.end is not None:
            found_end[o.key] = min(found_end.get(o.key, o.end), o.end)
    checked = 0
    for o in ops:
        if o.kind != "read" or o.status not in (200, 404):
            continue
        checked += 1
        if o.status == 200:
            got = final.get(o.key)
            if not got:
                v.append(_v("reads", "read saw %s, which is not in the final state" % o.key, [o]))
            elif o.tx and got[0][0] != o.tx:
                v.append(_v("reads", "read saw %s at tx %s, the final state has %s" % (
                    o.key, o.tx, got[0][0]), [o]))
        else:
            if o.key in acked_end and acked_end[o.key] < o.start:
                w = [w for w in ops if w.kind == "write" and w.key == o.key]
                v.append(_v("reads", "stale read: %s not found by a read that began %.3fs after "
                            "its write was acknowledged" % (o.key, o.start - acked_end[o.key]),
                            w + [o]))
            elif o.key in found_end and found_end[o.key] < o.start:
                r = [r for r in ops if r.kind == "read" and r.key == o.key and r.status == 200]
                v.append(_v("reads", "stale read: %s not found after an earlier read found it"
                            % o.key, r[:1] + [o]))
    return checked, v


def audit(cluster, height, workdir):
    v = []
    files = []
    for n in cluster.nodes:
        out = os.path.join(workdir, "export-%s.bin" % n.org)
        p = subprocess.run([cluster.treaty, "audit", "export", "--node", n.url(), "--key",
                            n.api_key, "--out", out, "--to", str(height)],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            v.append(_v("audit", "export from %s failed (%d): %s" % (
                n.org, p.returncode, (p.stderr or p.stdout)[-300:])))
            continue
        q = subprocess.run([cluster.treaty, "audit", "verify", out, "--json"],
                           capture_output=True, text=True, timeout=300)
        if q.returncode != 0:
            v.append(_v("audit", "verify of %s's export failed (%d): %s" % (
                n.org, q.returncode, (q.stdout + q.stderr)[-500:])))
        files.append((n.org, out))
    for org, f in files[1:]:
        if not filecmp.cmp(files[0][1], f, shallow=False):
            v.append(_v("audit", "exports of %s and %s differ" % (files[0][0], org)))
    return v


def crashes(cluster, stop_codes):
    v = []
    for n in cluster.all_nodes():
        for (t, code, expected) in n.exits:
            if not expected:
                v.append(_v("crash", "%s exited with %s at %s unasked" % (
                    n.org, code, time.strftime("%H:%M:%S", time.gmtime(t)))))
        code = stop_codes.get(n.org)
        if code not in (0, None):
            v.append(_v("crash", "%s did not stop cleanly: %s" % (n.org, code)))
        try:
            with open(n.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        for mark in SANITIZER_MARKS:
            if mark in text:
                i = text.index(mark)
                v.append(_v("crash", "%s log has a sanitizer report: %s" % (
                    n.org, text[max(0, i - 200): i + 400])))
                break
    return v
