#!/usr/bin/env python3
"""hubspot.py — a test double of the parts of HubSpot's CRM v3 objects API that treaty's HubSpot
connector relies on, on 127.0.0.1 (Python 3 standard library only). One object type; every call
needs "Authorization: Bearer <the private app token>".

  POST /crm/v3/objects/T/search          filterGroups (EQ, GT, GTE, LT, LTE on any property;
                                         date-times compare as epoch ms, hs_object_id as a
                                         number), one sort, properties, limit 1..100, after (an
                                         offset); a query pages through at most 10,000 results
                                         (`cap`): after + limit beyond it is a 400
                                         VALIDATION_ERROR, as HubSpot does. HubSpot leaves the
                                         order of equal sort values unspecified: here they come
                                         scrambled, not in id order
  GET  /crm/v3/objects/T?archived=true   archived objects (archivedAt), paging by after
  GET  /crm/v3/objects/T/V?idProperty=P  one object by a unique property (404 OBJECT_NOT_FOUND)
  POST /crm/v3/objects/T/batch/upsert    inputs [{id, idProperty, properties}] <= 100: creates or
                                         updates by idProperty, bumps hs_lastmodifieddate; a bad
                                         value fails the whole batch (400 VALIDATION_ERROR)
  POST /crm/v3/objects/T/batch/read      idProperty, inputs [{id}] <= 100: 200, or 207 with an
                                         OBJECT_NOT_FOUND error naming the ids not found
  POST /crm/v3/objects/T/batch/archive   inputs [{id}] <= 100 (204)

Property values are strings, as HubSpot returns them. Errors use HubSpot's body shape
{"status": "error", "message", "correlationId", "category"}; a rate limit answers 429 with
{"errorType": "RATE_LIMIT", "policyName"}. Faults, switched on through POST /_control:

  {"rate_limit": {"after": N, "count": M, "policy": P, "retry_after": S}}
                              after N more calls, M calls answer 429 with policyName P
                              (TEN_SECONDLY_ROLLING by default; Retry-After S when given)
  {"revoke": true|false}      every call answers 401 (the token was revoked) / stops doing so
  {"reject_value": {"property": P, "value": V}}   an upsert setting P to V is a validation error
  {"seed": {"count": N, "ties": K, "prefix": P}}   N objects (keys P000000…, P is SHP- by
                              default; "start": S numbers them from S), K of them per
                              modification stamp
  {"modify": {"key": E, "properties": {...}}}   a user's edit (new stamp)
  {"archive": {"key": E}}     a user's delete
  {"cap": N}                  the search result cap (default 10,000)
GET /_control: records by key, upserts and archives per key, the write log (one entry per object
written), the batches ([op, size] per call), calls, faults served, searches that used `after`
(`paged`).
"""
import argparse
import datetime
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
OPS = {"EQ": lambda a, b: a == b, "GT": lambda a, b: a > b, "GTE": lambda a, b: a >= b,
       "LT": lambda a, b: a < b, "LTE": lambda a, b: a <= b}
DATE_PROPS = ("hs_lastmodifieddate", "lastmodifieddate", "createdate")


def iso(ms):
    t = EPOCH + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def to_ms(value):
    """A date-time filter value: epoch ms digits or ISO 8601 with Z."""
    if re.fullmatch(r"\d+", value):
        return int(value) - int(EPOCH.timestamp() * 1000)
    t = datetime.datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return int((t - EPOCH).total_seconds() * 1000)


def error(status, category, message, **extra):
    body = {"status": "error", "message": message, "correlationId": "c0ffee", "category": category}
    body.update(extra)
    return status, body


class Portal:
    """The double's objects and fault switches, shared by the handler threads under one lock."""

    def __init__(self, obj, properties, id_property, token):
        self.lock = threading.Lock()
        self.obj, self.props, self.idp, self.token = obj, set(properties), id_property, token
        self.records = {}  # HubSpot id -> {"id", "props", "ms", "created", "archived_ms"}
        self.clock = 1000
        self.next_id = 1001
        self.cap = 10000
        self.calls = 0
        self.rate = None
        self.revoked = False
        self.reject = None
        self.upserts, self.archives, self.log, self.batches = {}, {}, [], []
        self.served = {"rate_limited": 0, "unauthorized": 0, "rejected": 0, "searches": 0,
                       "cap_refused": 0, "paged": 0}

    def tick(self):
        self.clock += 1
        return self.clock

    def by_key(self, key):
        for r in self.records.values():
            if r["props"].get(self.idp) == key and r["archived_ms"] is None:
                return r
        return None

    def put(self, key, props, ms=None):
        rec = self.by_key(key)
        if rec is None:
            rid = str(self.next_id)
            self.next_id += 1
            rec = {"id": rid, "props": {self.idp: key}, "created": ms or self.clock,
                   "archived_ms": None}
            self.records[rid] = rec
        # An empty value clears a property, which then reads as null.
        rec["props"].update({k: (None if v in (None, "") else str(v)) for k, v in props.items()})
        rec["ms"] = ms if ms is not None else self.tick()
        return rec

    def view(self, rec, wanted):
        props = {"hs_object_id": rec["id"], "hs_lastmodifieddate": iso(rec["ms"]),
                 "lastmodifieddate": iso(rec["ms"]), "createdate": iso(rec["created"])}
        for p in wanted:
            if p in rec["props"]:
                props[p] = rec["props"][p]
        out = {"id": rec["id"], "properties": props, "createdAt": iso(rec["created"]),
               "updatedAt": iso(rec["ms"]), "archived": rec["archived_ms"] is not None}
        if rec["archived_ms"] is not None:
            out["archivedAt"] = iso(rec["archived_ms"])
        return out

    def seed(self, count, ties, prefix="SHP-", start=0):
        for i in range(count):
            key = "%s%06d" % (prefix, start + i)
            self.put(key, {"origin": "Hamburg", "destination": "Lyon %d" % i,
                                      "status": "created", "weight": "%d.5" % (i % 900 + 1),
                                      "eta": "2026-12-%02d" % (i % 28 + 1)},
                     self.clock + 1 + i // max(1, ties))
        self.clock += count // max(1, ties) + 2

    def value(self, rec, prop):
        if prop == "hs_object_id":
            return int(rec["id"])
        if prop in DATE_PROPS:
            return rec["ms"] if prop != "createdate" else rec["created"]
        return rec["props"].get(prop)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per answer, no Nagle: no delayed-ACK stall per request
    disable_nagle_algorithm = True
    portal = None  # set on the subclass made by serve()

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=None, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if url.path == "/_control":
            return self.control(method, raw)
        m = re.match(r"^/crm/v3/objects/([\w-]+)(?:/(.+))?$", url.path)
        p = self.portal
        with p.lock:
            if not m or m.group(1) != p.obj:
                return self.answer(*error(404, "OBJECT_NOT_FOUND", "unknown object type"))
            fault = self.gate()
            if fault:
                return self.answer(*fault)
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return self.answer(*error(400, "VALIDATION_ERROR", "Invalid input JSON"))
            q = urllib.parse.parse_qs(url.query)
            rest = m.group(2)
            if method == "POST" and rest == "search":
                return self.answer(*self.search(body))
            if method == "POST" and rest == "batch/upsert":
                return self.answer(*self.upsert(body))
            if method == "POST" and rest == "batch/read":
                return self.answer(*self.batch_read(body))
            if method == "POST" and rest == "batch/archive":
                return self.answer(*self.archive(body))
            if method == "GET" and rest is None and q.get("archived") == ["true"]:
                return self.answer(*self.archived(q))
            if method == "GET" and rest:
                return self.answer(*self.get_one(urllib.parse.unquote(rest), q))
        return self.answer(*error(404, "OBJECT_NOT_FOUND", "no such endpoint"))

    def gate(self):
        """Auth, then the rate limit, counted per API call (the lock is held)."""
        p = self.portal
        p.calls += 1
        if p.revoked or self.headers.get("Authorization") != "Bearer " + p.token:
            p.served["unauthorized"] += 1
            return error(401, "INVALID_AUTHENTICATION",
                         "Authentication credentials not found or the token was revoked.")
        r = p.rate
        if r is not None:
            if r["after"] > 0:
                r["after"] -= 1
            elif r["count"] > 0:
                r["count"] -= 1
                p.served["rate_limited"] += 1
                policy = r.get("policy", "TEN_SECONDLY_ROLLING")
                status, body = error(429, "RATE_LIMITS",
                                     "You have reached your %s limit." % policy.lower(),
                                     errorType="RATE_LIMIT", policyName=policy)
                del body["category"]
                hdr = {"Retry-After": str(r["retry_after"])} if "retry_after" in r else {}
                return status, body, hdr
            else:
                p.rate = None
        return None

    # -- reads --
    def search(self, body):
        p = self.portal
        limit = body.get("limit", 10)
        after = int(body.get("after") or 0)
        if not isinstance(limit, int) or limit < 1 or limit > 100:
            return error(400, "VALIDATION_ERROR", "limit must be between 1 and 100")
        if after + limit > p.cap:
            p.served["cap_refused"] += 1
            return error(400, "VALIDATION_ERROR",
                         "Search results are limited to %d; page past it refused" % p.cap)
        rows = [r for r in p.records.values() if r["archived_ms"] is None]
        groups = body.get("filterGroups") or []
        for g in groups:
            for f in g.get("filters", []):
                if f.get("operator") not in OPS:
                    return error(400, "VALIDATION_ERROR", "unsupported operator %s"
                                 % f.get("operator"))
        if groups:
            rows = [r for r in rows if any(all(self.match(r, f) for f in g.get("filters", []))
                                           for g in groups)]
        sorts = body.get("sorts") or [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        if len(sorts) != 1:
            return error(400, "VALIDATION_ERROR", "only one sort is supported")
        prop = sorts[0]["propertyName"]
        # Ties in the sort property: an order that is not the id order (HubSpot leaves it
        # unspecified), fixed for one set of records.
        rows.sort(key=lambda r: (self.sort_key(r, prop), int(r["id"]) * 7919 % 10007),
                  reverse=sorts[0].get("direction") == "DESCENDING")
        p.served["searches"] += 1
        p.served["paged"] += after > 0
        page = rows[after:after + limit]
        out = {"total": len(rows), "results": [p.view(r, body.get("properties") or []) for r in page]}
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit), "link": "?after=%d" % (after + limit)}}
        return 200, out

    def sort_key(self, rec, prop):
        v = self.portal.value(rec, prop)
        return (0, v) if isinstance(v, int) else (1, v or "")

    def match(self, rec, f):
        p = self.portal
        prop, op, val = f.get("propertyName"), f.get("operator"), f.get("value")
        have = p.value(rec, prop)
        if prop in DATE_PROPS:
            val = to_ms(str(val))
        elif prop == "hs_object_id":
            val = int(val)
        return have is not None and OPS[op](have, val)

    def archived(self, q):
        p = self.portal
        limit = min(100, int(q.get("limit", ["10"])[0]))
        after = int(q.get("after", ["0"])[0])
        rows = sorted((r for r in p.records.values() if r["archived_ms"] is not None),
                      key=lambda r: int(r["id"]))
        rows = [r for r in rows if int(r["id"]) > after]
        wanted = q.get("properties", [""])[0].split(",")
        out = {"results": [p.view(r, wanted) for r in rows[:limit]]}
        if len(rows) > limit:
            out["paging"] = {"next": {"after": rows[limit - 1]["id"]}}
        return 200, out

    def get_one(self, value, q):
        p = self.portal
        idp = q.get("idProperty", [None])[0]
        rec = p.by_key(value) if idp == p.idp else p.records.get(value)
        if rec is None or rec["archived_ms"] is not None:
            return error(404, "OBJECT_NOT_FOUND", "Object not found.")
        return 200, p.view(rec, q.get("properties", [""])[0].split(","))

    def batch_read(self, body):
        p = self.portal
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
            return error(400, "VALIDATION_ERROR", "inputs must hold 1 to 100 objects")
        idp = body.get("idProperty")
        found, missing = [], []
        for i in inputs:
            rec = p.by_key(i.get("id")) if idp == p.idp else p.records.get(str(i.get("id")))
            if rec is None or rec["archived_ms"] is not None:
                missing.append(i.get("id"))
            else:
                found.append(p.view(rec, body.get("properties") or []))
        out = {"status": "COMPLETE", "results": found}
        if missing:  # HubSpot answers 207 Multi-Status naming the ids it did not find
            out["numErrors"] = 1
            out["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                              "message": "Could not get some objects", "context": {"ids": missing}}]
        return (207 if missing else 200), out

    # -- writes --
    def upsert(self, body):
        p = self.portal
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
            return error(400, "VALIDATION_ERROR", "inputs must hold 1 to 100 objects")
        keys = [i.get("id") for i in inputs]
        if len(set(keys)) != len(keys):
            return error(400, "VALIDATION_ERROR", "Duplicate IDs found in batch input")
        for i in inputs:  # validation first: a bad input fails the whole batch, nothing written
            if i.get("idProperty") != p.idp or not isinstance(i.get("properties"), dict):
                return error(400, "VALIDATION_ERROR", "idProperty must be %s" % p.idp)
            for k, v in i["properties"].items():
                if k not in p.props:
                    return error(400, "VALIDATION_ERROR", "Property \"%s\" does not exist" % k)
                if p.reject and p.reject["property"] == k and p.reject["value"] == v:
                    p.served["rejected"] += 1
                    return error(400, "VALIDATION_ERROR",
                                 "Property values were not valid: %s=%s" % (k, v),
                                 errors=[{"message": "%s is not allowed" % v,
                                          "context": {"propertyName": [k]}}])
        results = []
        p.batches.append(["upsert", len(inputs)])
        for i in inputs:
            new = p.by_key(i["id"]) is None
            rec = p.put(i["id"], i["properties"])
            p.upserts[i["id"]] = p.upserts.get(i["id"], 0) + 1
            p.log.append({"op": "upsert", "key": i["id"], "properties": i["properties"]})
            res = p.view(rec, list(i["properties"]))
            res["new"] = new
            results.append(res)
        return 200, {"status": "COMPLETE", "results": results}

    def archive(self, body):
        p = self.portal
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
            return error(400, "VALIDATION_ERROR", "inputs must hold 1 to 100 objects")
        p.batches.append(["archive", len(inputs)])
        for i in inputs:
            rec = p.records.get(str(i.get("id")))
            if rec is not None and rec["archived_ms"] is None:
                rec["archived_ms"] = p.tick()
                key = rec["props"].get(p.idp)
                p.archives[key] = p.archives.get(key, 0) + 1
                p.log.append({"op": "archive", "key": key, "id": rec["id"]})
        return (204,)

    # -- control --
    def control(self, method, raw):
        p = self.portal
        with p.lock:
            if method == "GET":
                recs = {r["props"].get(p.idp): dict(r["props"], _id=r["id"], _ms=r["ms"],
                                                     _archived=r["archived_ms"] is not None)
                        for r in p.records.values()}
                return self.answer(200, {"records": recs, "upserts": p.upserts,
                                         "archives": p.archives, "log": p.log,
                                         "batches": p.batches, "calls": p.calls,
                                         "served": p.served, "clock": p.clock})
            c = json.loads(raw or b"{}")
            if "rate_limit" in c:
                p.rate = dict(c["rate_limit"])
            if "revoke" in c:
                p.revoked = bool(c["revoke"])
            if "reject_value" in c:
                p.reject = c["reject_value"]
            if "cap" in c:
                p.cap = int(c["cap"])
            if "seed" in c:
                sd = c["seed"]
                p.seed(sd["count"], sd.get("ties", 1), sd.get("prefix", "SHP-"),
                       sd.get("start", 0))
            if "modify" in c:
                p.put(c["modify"]["key"], c["modify"]["properties"])
            if "archive" in c:
                p.by_key(c["archive"]["key"])["archived_ms"] = p.tick()
        return self.answer(200, {"ok": True})


def serve(obj="p_shipments", properties=(), id_property="shipment_id", token="pat-na1-test",
          port=0):
    """Starts the double on 127.0.0.1 in a thread; returns the server (server.portal is the data,
    server.server_address[1] the port; call shutdown() and server_close() to stop)."""
    portal = Portal(obj, list(properties) + [id_property], id_property, token)
    handler = type("HSHandler", (Handler,), {"portal": portal})
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, client_address: None  # a client killed mid-request
    srv.portal = portal
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--properties", default="origin,destination,status,carrier,weight,eta")
    ap.add_argument("--token", default="pat-na1-test", help="the private app token it accepts")
    a = ap.parse_args()
    srv = serve(properties=a.properties.split(","), port=a.port, token=a.token)
    print("port=%d" % srv.server_address[1], flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
