#!/usr/bin/env python3
"""salesforce.py — a test double of the parts of the Salesforce REST API that treaty's connector
relies on, on 127.0.0.1 (Python 3 standard library only):

  POST /services/oauth2/token                      client-credentials or password flow -> access_token,
                                                   instance_url
  GET  /services/data/vNN.N/query?q=SOQL           SELECT … FROM Obj [WHERE SystemModstamp >|>= T]
  GET  /services/data/vNN.N/queryAll?q=SOQL          ORDER BY SystemModstamp[, Id]; queryAll adds
                                                   deleted rows (IsDeleted true); paging by
                                                   batchSize (Sforce-Query-Options) and nextRecordsUrl
  GET  /services/data/vNN.N/query/<locator>-<n>    the next page of a query
  PATCH  /services/data/vNN.N/sobjects/Obj/ExtField/value   upsert by external id (201 created / 200)
  DELETE /services/data/vNN.N/sobjects/Obj/ExtField/value   delete by external id (204 / 404)

Errors use Salesforce's body shape: [{"message": …, "errorCode": …}]. Faults are switched on
through the control endpoint (POST /_control with a JSON object), each one separately:

  {"rate_limit": {"after": N, "count": M}}  after N more API calls, M calls answer 403
                                            REQUEST_LIMIT_EXCEEDED (with Retry-After: 1)
  {"expire_tokens": true}                   every issued token becomes invalid (401)
  {"token_ttl_calls": N}                    a token is valid for N API calls
  {"reject_value": {"field": F, "value": V}} an upsert setting F to V answers 400
                                            FIELD_CUSTOM_VALIDATION_EXCEPTION
  {"seed": {"count": N, "ties": K}}         N records, K of them per SystemModstamp value
                                            ("start": S numbers them from S, default 0)
  {"modify": {"ext": E, "fields": {…}}}     a user's edit (new SystemModstamp)
  {"delete": {"ext": E}}                    a user's delete
GET /_control gives the state: records, upsert counts per external id, calls, faults served.
"""
import argparse
import datetime
import itertools
import json
import re
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
SOQL = re.compile(
    r"^SELECT\s+(?P<fields>[\w\s,]+?)\s+FROM\s+(?P<obj>\w+)"
    r"(?:\s+WHERE\s+SystemModstamp\s*(?P<op>>=|>)\s*(?P<ts>\S+))?"
    r"\s+ORDER\s+BY\s+SystemModstamp(?:\s+ASC)?(?:\s*,\s*Id(?:\s+ASC)?)?\s*$", re.I)


def fmt_ts(ms):
    t = EPOCH + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+0000" % (ms % 1000)


def parse_ts(s):
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,3}))?(Z|[+-]\d\d:?\d\d)$", s)
    if not m:
        raise ValueError(s)
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    tz = m.group(3)
    off = 0 if tz == "Z" else (1 if tz[0] == "+" else -1) * (int(tz[1:3]) * 60 + int(tz[-2:]))
    base = base.replace(tzinfo=datetime.timezone(datetime.timedelta(minutes=off)))
    ms = int((base - EPOCH).total_seconds() * 1000)
    return ms + int((m.group(2) or "0").ljust(3, "0"))


class Org:
    """The double's data and fault switches, shared by the handler threads under one lock."""

    def __init__(self, obj, fields, ext_field):
        self.lock = threading.Lock()
        self.obj, self.fields, self.ext = obj, set(fields), ext_field
        self.records = {}  # Id -> record dict (with SystemModstamp ms in _ms)
        self.by_ext = {}
        self.clock = 1000
        self.ids = itertools.count(1)
        self.tokens = {}  # token -> calls left (None: unlimited)
        self.token_ttl_calls = None
        self.locators = {}
        self.calls = 0
        self.rate_after, self.rate_count = None, 0
        self.reject = None
        self.upserts = {}
        self.deletes = {}
        self.served = {"rate_limited": 0, "expired": 0, "rejected": 0, "tokens": 0, "pages": 0}

    def tick(self):
        self.clock += 1
        return self.clock

    def new_id(self):
        return "a0B%015d" % next(self.ids)

    def put(self, ext, fields, ms=None):
        rid = self.by_ext.get(ext)
        rec = self.records.get(rid) if rid else None
        if rec is None:
            rid = self.new_id()
            rec = {"Id": rid, self.ext: ext, "IsDeleted": False}
            self.records[rid] = rec
            self.by_ext[ext] = rid
        rec.update(fields)
        rec["IsDeleted"] = False
        rec["_ms"] = ms if ms is not None else self.tick()
        return rec

    def seed(self, count, ties, start=0):
        for i in range(count):
            ms = self.clock + 1 + i // max(1, ties)
            key = "SHP-%06d" % (start + i)
            self.put(key, {"Origin__c": "Hamburg", "Destination__c": "Lyon %d" % i,
                                     "Status__c": "created", "Weight__c": "%d.5" % (i % 900 + 1),
                                     "ETA__c": "2026-12-%02d" % (i % 28 + 1)}, ms)
        self.clock += count // max(1, ties) + 2


def sf_errors(code, message):
    return [{"message": message, "errorCode": code}]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per answer and no Nagle: a head and a body in two small writes would meet the
    # client's delayed ACK and cost 40 ms per request.
    wbufsize = -1
    disable_nagle_algorithm = True
    org = None  # set on the subclass made by serve()

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

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # -- dispatch --
    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PATCH(self):
        self.route("PATCH")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        raw = self.body()
        if url.path == "/_control":
            return self.control(method, raw)
        if url.path == "/services/oauth2/token" and method == "POST":
            return self.token(raw)
        m = re.match(r"^/services/data/v\d+\.\d+/(.*)$", url.path)
        if not m:
            return self.answer(404, sf_errors("NOT_FOUND", "The requested resource does not exist"))
        with self.org.lock:
            err = self.gate()
            if err:
                return self.answer(*err)
            rest = m.group(1)
            if rest in ("query", "queryAll") and method == "GET":
                q = urllib.parse.parse_qs(url.query).get("q", [""])[0]
                return self.answer(*self.query(q, rest == "queryAll"))
            pm = re.match(r"^query/(\w+)-(\d+)$", rest)
            if pm and method == "GET":
                return self.answer(*self.page(pm.group(1), int(pm.group(2))))
            sm = re.match(r"^sobjects/(\w+)/(\w+)/(.+)$", rest)
            if sm and method in ("PATCH", "DELETE"):
                ext = urllib.parse.unquote(sm.group(3))
                return self.answer(*self.sobject(method, sm.group(1), sm.group(2), ext, raw))
        return self.answer(404, sf_errors("NOT_FOUND", "The requested resource does not exist"))

    def gate(self):
        """Auth and the rate limit, counted per API call (the lock is held)."""
        o = self.org
        o.calls += 1
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else None
        if tok not in o.tokens:
            o.served["expired"] += 1
            return 401, sf_errors("INVALID_SESSION_ID", "Session expired or invalid")
        if o.tokens[tok] is not None:
            if o.tokens[tok] <= 0:
                del o.tokens[tok]
                o.served["expired"] += 1
                return 401, sf_errors("INVALID_SESSION_ID", "Session expired or invalid")
            o.tokens[tok] -= 1
        if o.rate_after is not None:
            if o.rate_after > 0:
                o.rate_after -= 1
            elif o.rate_count > 0:
                o.rate_count -= 1
                o.served["rate_limited"] += 1
                return (403, sf_errors("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
                        {"Retry-After": "1"})
            else:
                o.rate_after = None
        return None

    def token(self, raw):
        form = urllib.parse.parse_qs(raw.decode())
        grant = form.get("grant_type")
        user_ok = grant == ["client_credentials"] or (
            grant == ["password"] and self.server.users.get(form.get("username", [""])[0])
            == form.get("password", [None])[0])
        if not user_ok or form.get("client_id") != [self.server.client_id] or \
                form.get("client_secret") != [self.server.client_secret]:
            return self.answer(400, {"error": "invalid_client",
                                     "error_description": "invalid client credentials"})
        with self.org.lock:
            tok = "00D!" + secrets.token_hex(16)
            self.org.tokens[tok] = self.org.token_ttl_calls
            self.org.served["tokens"] += 1
        host, port = self.server.server_address[:2]
        return self.answer(200, {"access_token": tok, "instance_url": "http://%s:%d" % (host, port),
                                 "token_type": "Bearer", "id": "x", "issued_at": "0",
                                 "signature": "x"})

    # -- queries --
    def query(self, q, all_rows):
        o = self.org
        m = SOQL.match(q.strip())
        if not m:
            return 400, sf_errors("MALFORMED_QUERY", "unexpected token in query")
        if m.group("obj") != o.obj:
            return 400, sf_errors("INVALID_TYPE", "sObject type '%s' is not supported" % m.group("obj"))
        fields = [f.strip() for f in m.group("fields").split(",")]
        for f in fields:
            if f not in o.fields | {"Id", "SystemModstamp", "IsDeleted", o.ext}:
                return 400, sf_errors("INVALID_FIELD", "No such column '%s' on entity '%s'" % (f, o.obj))
        rows = [r for r in o.records.values() if all_rows or not r["IsDeleted"]]
        if m.group("ts"):
            try:
                ts = parse_ts(m.group("ts"))
            except ValueError:
                return 400, sf_errors("MALFORMED_QUERY", "bad datetime literal")
            rows = [r for r in rows if (r["_ms"] >= ts if m.group("op") == ">=" else r["_ms"] > ts)]
        rows.sort(key=lambda r: (r["_ms"], r["Id"]))
        out = []
        for r in rows:
            rec = {"attributes": {"type": o.obj}}
            for f in fields:
                rec[f] = fmt_ts(r["_ms"]) if f == "SystemModstamp" else r.get(f)
            out.append(rec)
        size = 2000
        opts = self.headers.get("Sforce-Query-Options", "")
        bm = re.search(r"batchSize=(\d+)", opts)
        if bm:
            size = max(200, min(2000, int(bm.group(1))))
        loc = "01g" + secrets.token_hex(6)
        o.locators[loc] = (out, size)
        return 200, self.page_body(loc, 0)

    def page(self, loc, start):
        if loc not in self.org.locators:
            return 400, sf_errors("INVALID_QUERY_LOCATOR", "invalid query locator")
        return 200, self.page_body(loc, start)

    def page_body(self, loc, start):
        rows, size = self.org.locators[loc]
        chunk = rows[start:start + size]
        self.org.served["pages"] += 1
        body = {"totalSize": len(rows), "done": start + size >= len(rows), "records": chunk}
        if not body["done"]:
            body["nextRecordsUrl"] = "/services/data/v59.0/query/%s-%d" % (loc, start + size)
        return body

    # -- writes --
    def sobject(self, method, obj, field, ext, raw):
        o = self.org
        if obj != o.obj or field != o.ext:
            return 404, sf_errors("NOT_FOUND", "Provided external ID field does not exist or is "
                                               "not accessible: %s" % field)
        if method == "DELETE":
            rid = o.by_ext.get(ext)
            if not rid or o.records[rid]["IsDeleted"]:
                return 404, sf_errors("NOT_FOUND", "The requested resource does not exist")
            o.records[rid]["IsDeleted"] = True
            o.records[rid]["_ms"] = o.tick()
            o.deletes[ext] = o.deletes.get(ext, 0) + 1
            return (204,)
        try:
            fields = json.loads(raw or b"{}")
        except ValueError:
            return 400, sf_errors("JSON_PARSER_ERROR", "malformed JSON")
        if not isinstance(fields, dict):
            return 400, sf_errors("JSON_PARSER_ERROR", "expected an object")
        for k, v in fields.items():
            if k not in o.fields or k == o.ext:
                return 400, sf_errors("INVALID_FIELD", "No such column '%s' on sobject of type %s"
                                      % (k, o.obj))
            if o.reject and o.reject["field"] == k and o.reject["value"] == v:
                o.served["rejected"] += 1
                return 400, sf_errors("FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                      "%s: value not allowed" % k)
        created = ext not in o.by_ext or o.records[o.by_ext[ext]]["IsDeleted"]
        rec = o.put(ext, fields)
        o.upserts[ext] = o.upserts.get(ext, 0) + 1
        return (201 if created else 200), {"id": rec["Id"], "success": True, "errors": [],
                                           "created": created}

    # -- control --
    def control(self, method, raw):
        o = self.org
        with o.lock:
            if method == "GET":
                recs = {r[o.ext]: {k: (fmt_ts(v) if k == "_ms" else v) for k, v in r.items()}
                        for r in o.records.values()}
                return self.answer(200, {"records": recs, "upserts": o.upserts,
                                         "deletes": o.deletes, "calls": o.calls,
                                         "served": o.served})
            c = json.loads(raw or b"{}")
            if "rate_limit" in c:
                o.rate_after, o.rate_count = c["rate_limit"]["after"], c["rate_limit"]["count"]
            if c.get("expire_tokens"):
                o.tokens.clear()
            if "token_ttl_calls" in c:
                o.token_ttl_calls = c["token_ttl_calls"]
            if "reject_value" in c:
                o.reject = c["reject_value"]
            if "seed" in c:
                o.seed(c["seed"]["count"], c["seed"].get("ties", 1), c["seed"].get("start", 0))
            if "modify" in c:
                o.put(c["modify"]["ext"], c["modify"]["fields"])
            if "delete" in c:
                rid = o.by_ext[c["delete"]["ext"]]
                o.records[rid]["IsDeleted"] = True
                o.records[rid]["_ms"] = o.tick()
        return self.answer(200, {"ok": True})


def serve(obj="Shipment__c", fields=(), ext="External_Id__c", client_id="cid",
          client_secret="csecret", port=0, users=None):
    """Starts the double on 127.0.0.1 in a thread; returns the server (server.org is the data,
    server.server_address[1] the port; call shutdown() and server_close() to stop)."""
    org = Org(obj, list(fields) + [ext], ext)
    handler = type("SFHandler", (Handler,), {"org": org})
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, client_address: None  # a client killed mid-request
    srv.org, srv.client_id, srv.client_secret = org, client_id, client_secret
    srv.users = dict(users or {})  # username -> password, for the password flow
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fields", default="Origin__c,Destination__c,Status__c,Carrier__c,Weight__c,ETA__c")
    a = ap.parse_args()
    srv = serve(fields=a.fields.split(","), port=a.port)
    print("port=%d" % srv.server_address[1], flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
