#!/usr/bin/env python3
"""sap.py — a test double of the parts of an SAP S/4HANA OData V2 service (API_BUSINESS_PARTNER,
entity set A_BusinessPartner) that treaty's sap connector relies on, on 127.0.0.1 (Python 3
standard library only). Every call needs HTTP Basic credentials (or a configured bearer token)
and, when the double was started with a client, sap-client=<client> in its query (else 401).

  GET    <root>/                        with X-CSRF-Token: Fetch -> x-csrf-token header and a
                                        session cookie (SAP_SESSIONID_…) the token is bound to
  GET    <root>/A_BusinessPartner?$filter=…&$orderby=…&$top=N&$format=json
                                        only the filters the connector sends (anything else: 400);
                                        $orderby LastChangeDate,LastChangeTime,BusinessPartner;
                                        server-driven paging (server_page) with d.__next and
                                        $skiptoken; $top bounds the whole answer
  GET    <root>/A_BusinessPartner('K')  the entity; its ETag in __metadata.etag and the header
  PATCH|MERGE <root>/A_BusinessPartner('K')  If-Match required (412 on a stale one); 204
  POST   <root>/A_BusinessPartner       create (201); the key in the body
  DELETE <root>/A_BusinessPartner('K')  If-Match required; 204, 404 when gone

Writes need the session's X-CSRF-Token, else 403 with "x-csrf-token: Required". Errors use the
OData V2 body {"error": {"code", "message": {"lang", "value"}}}. Faults (POST /_control, JSON):

  {"rate_limit": {"after": N, "count": M, "status": 429}}  after N calls, M answer 429 (or 503)
                                              with Retry-After: 1
  {"expire_csrf": true}                       every CSRF token (and session) becomes invalid
  {"refuse_auth": true}                       every call answers 401 (a locked user) until false
  {"csrf_ttl_writes": N}                      a token is good for N writes (null: unlimited)
  {"reject_value": {"field": F, "value": V}}  a write setting F to V answers 400 with an error
  {"conflict_next": N}                        the next N writes find the entity changed under
                                              them (new stamp and ETag) and answer 412
  {"server_page": N}                          entities per answer before a __next
  {"seed": {"count": N, "ties": K}}           N entities, K per LastChange second ("start": S
                                              numbers them from S, default 0)
  {"modify": {"key": K, "fields": {…}}}       a user's change (new stamp and ETag; with
                                              "same_second": true in the last change's second)
GET /_control: entities, writes per key, deletes, the write log, calls, faults served.
"""
import argparse
import base64
import datetime
import itertools
import json
import re
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = "/sap/opu/odata/sap/API_BUSINESS_PARTNER"
SET = "A_BusinessPartner"
KEY = "BusinessPartner"
ORDER = "LastChangeDate,LastChangeTime,BusinessPartner"
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
DT = r"datetime'(\d{4}-\d\d-\d\dT00:00:00)'"
TM = r"time'PT(\d\d)H(\d\d)M(\d\d)S'"
# The two filters the connector sends: a fresh poll (the cursor's second again) and the
# continuation after a full $top (strictly after the cursor's key).
FRESH = re.compile(r"^LastChangeDate gt %s or \(LastChangeDate eq %s and LastChangeTime ge %s\)$"
                   % (DT, DT, TM))
AFTER = re.compile(r"^LastChangeDate gt %s or \(LastChangeDate eq %s and \(LastChangeTime gt %s "
                   r"or \(LastChangeTime eq %s and BusinessPartner gt '((?:[^']|'')*)'\)\)\)$"
                   % (DT, DT, TM, TM))
DATE_VALUE = re.compile(r"^/Date\(-?\d{1,15}\)/$")


def odata_error(code, message):
    return {"error": {"code": code, "message": {"lang": "en", "value": message}}}


def day_secs(stamp):
    """(days since 1970 at midnight UTC in ms, seconds of the day) of a stamp in seconds."""
    t = EPOCH + datetime.timedelta(seconds=stamp)
    midnight = t.replace(hour=0, minute=0, second=0)
    return int(midnight.timestamp() * 1000), t.hour * 3600 + t.minute * 60 + t.second


class Service:
    """The double's data and fault switches, shared by the handler threads under one lock."""

    def __init__(self, fields, datetime_fields):
        self.lock = threading.Lock()
        self.fields, self.dt_fields = set(fields), set(datetime_fields)
        self.ents = {}  # key -> entity dict (LastChange stamp in seconds in _s, etag in _etag)
        self.clock = 3600 * 24 * 300
        self.etags = itertools.count(1)
        self.sessions = {}  # session id -> [csrf token, writes left or None]
        self.csrf_ttl_writes = None
        self.queries = {}
        self.server_page = 500
        self.calls = 0
        self.rate_after, self.rate_count, self.rate_status = None, 0, 429
        self.reject, self.conflicts, self.refuse_auth = None, 0, False
        self.writes, self.deletes, self.log = {}, {}, []
        self.served = {"rate_limited": 0, "csrf_required": 0, "csrf_fetched": 0, "rejected": 0,
                       "conflicts": 0, "pages": 0, "bad_filter": 0, "unauthorized": 0,
                       "wrong_client": 0}

    def touch(self, ent, stamp=None):
        if stamp is None:
            self.clock += 1
            stamp = self.clock
        ent["_s"] = stamp
        ent["_etag"] = "W/\"datetimeoffset'%d-%d'\"" % (stamp, next(self.etags))

    def seed(self, count, ties, start=0):
        for i in range(count):
            ent = {KEY: "SHP-%06d" % (start + i), "SearchTerm1": "Hamburg",
                   "BusinessPartnerFullName": "Lyon %d" % i, "YY1_Status_bus": "created",
                   "YY1_WeightKg_bus": "%d.5" % (i % 900 + 1),
                   "YY1_ETA_bus": "/Date(%d)/" % (1796083200000 + 86400000 * (i % 28))}
            self.ents[ent[KEY]] = ent
            self.touch(ent, self.clock + 1 + i // max(1, ties))
        self.clock += count // max(1, ties) + 2

    def view(self, ent, root):
        """The entity as OData V2 JSON (verbose): __metadata, properties, the change stamp."""
        out = {"__metadata": {"id": "%s/%s('%s')" % (root, SET, ent[KEY]),
                              "uri": "%s/%s('%s')" % (root, SET, ent[KEY]),
                              "type": "API_BUSINESS_PARTNER.A_BusinessPartnerType",
                              "etag": ent["_etag"]}}
        for k, v in ent.items():
            if not k.startswith("_"):
                out[k] = v
        ms, secs = day_secs(ent["_s"])
        out["LastChangeDate"] = "/Date(%d)/" % ms
        out["LastChangeTime"] = "PT%02dH%02dM%02dS" % (secs // 3600, secs // 60 % 60, secs % 60)
        return out


def stamp_of(date, hh, mm, ss):
    d = datetime.datetime.strptime(date, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int((d - EPOCH).total_seconds()) + int(hh) * 3600 + int(mm) * 60 + int(ss)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per answer, no Nagle: no delayed-ACK stalls
    disable_nagle_algorithm = True
    svc = None  # set on the subclass made by serve()

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=None, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            if isinstance(v, list):
                for one in v:
                    self.send_header(k, one)
            else:
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

    def do_PATCH(self):
        self.route("PATCH")

    def do_MERGE(self):
        self.route("MERGE")

    def do_PUT(self):
        self.route("PUT")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if url.path == "/_control":
            return self.control(method, raw)
        if not url.path.startswith(SERVICE + "/"):
            return self.answer(404, odata_error("/IWFND/MED/170", "No service found"))
        rest = url.path[len(SERVICE) + 1:]
        client = urllib.parse.parse_qs(url.query).get("sap-client")
        with self.svc.lock:
            if self.server.client and client != [self.server.client]:
                self.svc.served["wrong_client"] += 1
                return self.answer(401, odata_error("/IWFND/MED/401", "Logon to client %s failed"
                                                    % (client or ["(default)"])[0]))
            err = self.gate(method)
            if err:
                return self.answer(*err)
            if rest == "" and method == "GET":
                return self.service_doc()
            if rest == SET and method == "GET":
                return self.answer(*self.query(urllib.parse.parse_qs(url.query)))
            if rest == SET and method == "POST":
                return self.answer(*self.create(raw))
            m = re.match(r"^%s\('((?:[^']|'')*)'\)$" % SET, urllib.parse.unquote(rest))
            if m:
                key = m.group(1).replace("''", "'")
                if method == "GET":
                    return self.answer(*self.read(key))
                if method in ("PATCH", "MERGE", "DELETE"):
                    return self.answer(*self.change(method, key, raw))
        return self.answer(404, odata_error("/IWFND/CM_MGW/020", "Resource not found"))

    def gate(self, method):
        """Basic auth, the rate limit and, for writes, the CSRF token (the lock is held)."""
        s = self.svc
        s.calls += 1
        auth = self.headers.get("Authorization", "")
        ok = auth == "Bearer " + self.server.token if self.server.token else False
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:], validate=True).decode().partition(":")
                ok = self.server.users.get(user) == pw
            except ValueError:
                ok = False
        if not ok or s.refuse_auth:
            s.served["unauthorized"] += 1
            return 401, odata_error("/IWFND/MED/401", "Unauthorized"), {
                "WWW-Authenticate": 'Basic realm="SAP NetWeaver Application Server"'}
        if s.rate_after is not None:
            if s.rate_after > 0:
                s.rate_after -= 1
            elif s.rate_count > 0:
                s.rate_count -= 1
                s.served["rate_limited"] += 1
                return (s.rate_status, odata_error("/IWFND/CM_BEC/026", "Too many requests"),
                        {"Retry-After": "1"})
            else:
                s.rate_after = None
        if method in ("GET", "HEAD"):
            return None
        sess = s.sessions.get(self.session_id())
        tok = self.headers.get("X-CSRF-Token")
        if not sess or not tok or tok != sess[0] or sess[1] == 0:
            s.served["csrf_required"] += 1
            return 403, odata_error("/IWFND/CM_COS/023", "CSRF token validation failed"), {
                "x-csrf-token": "Required"}
        if sess[1] is not None:
            sess[1] -= 1
        return None

    def session_id(self):
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "SAP_SESSIONID_TST_100":
                return value
        return None

    def service_doc(self):
        hdrs = {}
        if (self.headers.get("X-CSRF-Token") or "").lower() == "fetch":
            sid, tok = secrets.token_hex(12), secrets.token_urlsafe(18)
            self.svc.sessions[sid] = [tok, self.svc.csrf_ttl_writes]
            self.svc.served["csrf_fetched"] += 1
            hdrs = {"x-csrf-token": tok,
                    "Set-Cookie": ["SAP_SESSIONID_TST_100=%s; path=/; HttpOnly" % sid,
                                   "sap-usercontext=sap-client=100; path=/"]}
        return self.answer(200, {"d": {"EntitySets": [SET]}}, hdrs)

    # -- reads --
    def root(self):
        host, port = self.server.server_address[:2]
        return "http://%s:%d%s" % (host, port, SERVICE)

    def query(self, q):
        s = self.svc
        one = {k: v[-1] for k, v in q.items()}
        if "$skiptoken" in one:
            return self.page(one["$skiptoken"])
        if one.get("$format", "json") != "json":
            return 400, odata_error("/IWFND/MED/110", "unsupported $format")
        if one.get("$orderby") != ORDER:
            s.served["bad_filter"] += 1
            return 400, odata_error("/IWBEP/CM_MGW_RT/022", "unexpected $orderby %r"
                                    % one.get("$orderby"))
        rows = sorted(s.ents.values(), key=lambda e: (e["_s"], e[KEY]))
        flt = one.get("$filter")
        if flt is not None:
            m, a = FRESH.match(flt), AFTER.match(flt)
            if m and m.group(1) == m.group(2):
                lo = stamp_of(m.group(1), *m.group(3, 4, 5))
                rows = [e for e in rows if e["_s"] >= lo]
            elif a and a.group(1) == a.group(2) and a.group(3, 4, 5) == a.group(6, 7, 8):
                lo, key = stamp_of(a.group(1), *a.group(3, 4, 5)), a.group(9).replace("''", "'")
                rows = [e for e in rows if (e["_s"], e[KEY]) > (lo, key)]
            else:
                s.served["bad_filter"] += 1
                return 400, odata_error("/IWBEP/CM_MGW_RT/022", "invalid $filter %r" % flt)
        try:
            top = int(one.get("$top", "1000000"))
        except ValueError:
            return 400, odata_error("/IWFND/MED/110", "invalid $top")
        qid = secrets.token_hex(4)
        s.queries[qid] = [self.svc.view(e, self.root()) for e in rows[:max(0, top)]]
        return self.page("%s.0" % qid)

    def page(self, token):
        s = self.svc
        qid, _, start = token.partition(".")
        if qid not in s.queries or not start.isdigit():
            return 400, odata_error("/IWBEP/CM_MGW_RT/021", "invalid $skiptoken")
        rows, start = s.queries[qid], int(start)
        chunk = rows[start:start + s.server_page]
        s.served["pages"] += 1
        d = {"results": chunk}
        if start + s.server_page < len(rows):
            d["__next"] = "%s/%s?$skiptoken=%s.%d&$format=json" % (
                self.root(), SET, qid, start + s.server_page)
            if self.server.client:
                d["__next"] += "&sap-client=" + self.server.client
        else:
            del s.queries[qid]
        return 200, {"d": d}

    def read(self, key):
        ent = self.svc.ents.get(key)
        if not ent:
            return 404, odata_error("/IWBEP/CM_MGW_RT/020", "Resource not found for segment "
                                    "'A_BusinessPartnerType'")
        return 200, {"d": self.svc.view(ent, self.root())}, {"ETag": ent["_etag"]}

    # -- writes --
    def fields_of(self, raw, allow_key):
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return None, (400, odata_error("/IWBEP/CM_MGW_RT/004", "Malformed JSON"))
        if not isinstance(body, dict):
            return None, (400, odata_error("/IWBEP/CM_MGW_RT/004", "expected an object"))
        for k, v in body.items():
            if k == KEY and allow_key:
                continue
            if k not in self.svc.fields:
                return None, (400, odata_error("/IWBEP/CM_MGW_RT/021",
                                               "Property '%s' is invalid" % k))
            if k in self.svc.dt_fields and v is not None and not DATE_VALUE.match(str(v)):
                return None, (400, odata_error("/IWBEP/CM_MGW_RT/021",
                                               "Invalid Edm.DateTime literal for '%s'" % k))
            if self.svc.reject and self.svc.reject["field"] == k and self.svc.reject["value"] == v:
                self.svc.served["rejected"] += 1
                return None, (400, odata_error("BUPA/405", "%s: value '%s' not allowed" % (k, v)))
        return body, None

    def logged(self, method, key, fields, result):
        self.svc.log.append({"method": method, "key": key, "fields": fields,
                             "status": result[0]})
        if result[0] < 300:
            bucket = self.svc.deletes if method == "DELETE" else self.svc.writes
            bucket[key] = bucket.get(key, 0) + 1
        return result

    def create(self, raw):
        body, err = self.fields_of(raw, True)
        key = (body or {}).get(KEY)
        if err or not isinstance(key, str) or not key:
            return self.logged("POST", key, body, err or (400, odata_error(
                "/IWBEP/CM_MGW_RT/021", "BusinessPartner is required")))
        if key in self.svc.ents:
            return self.logged("POST", key, body, (400, odata_error(
                "BUPA/010", "Business partner %s already exists" % key)))
        ent = dict(body)
        self.svc.ents[key] = ent
        self.svc.touch(ent)
        return self.logged("POST", key, body, (201, {"d": self.svc.view(ent, self.root())},
                                               {"ETag": ent["_etag"]}))

    def change(self, method, key, raw):
        s = self.svc
        ent = s.ents.get(key)
        if not ent:
            return self.logged(method, key, None, (404, odata_error(
                "/IWBEP/CM_MGW_RT/020", "Resource not found")))
        match = self.headers.get("If-Match")
        if not match:
            return self.logged(method, key, None, (428, odata_error(
                "/IWBEP/CM_MGW_RT/011", "If-Match header required")))
        if s.conflicts > 0:  # someone else changed it first
            s.conflicts -= 1
            s.served["conflicts"] += 1
            s.touch(ent)
        if match != ent["_etag"] and match != "*":
            return self.logged(method, key, None, (412, odata_error(
                "/IWBEP/CM_MGW_RT/019", "Precondition failed: the entity was changed")))
        if method == "DELETE":
            del s.ents[key]
            return self.logged(method, key, None, (204,))
        body, err = self.fields_of(raw, False)
        if err:
            return self.logged(method, key, body, err)
        ent.update(body)
        s.touch(ent)
        return self.logged(method, key, body, (204,))

    # -- control --
    def control(self, method, raw):
        s = self.svc
        with s.lock:
            if method == "GET":
                ents = {k: dict(s.view(e, "")) for k, e in s.ents.items()}
                for k, e in s.ents.items():
                    ents[k]["_s"] = e["_s"]
                return self.answer(200, {"entities": ents, "writes": s.writes,
                                         "deletes": s.deletes, "log": s.log, "calls": s.calls,
                                         "served": s.served, "clock": s.clock})
            c = json.loads(raw or b"{}")
            if "rate_limit" in c:
                r = c["rate_limit"]
                s.rate_after, s.rate_count = r["after"], r["count"]
                s.rate_status = r.get("status", 429)
            if "refuse_auth" in c:
                s.refuse_auth = bool(c["refuse_auth"])
            if c.get("expire_csrf"):
                s.sessions.clear()
            if "csrf_ttl_writes" in c:
                s.csrf_ttl_writes = c["csrf_ttl_writes"]
            if "reject_value" in c:
                s.reject = c["reject_value"]
            if "conflict_next" in c:
                s.conflicts = c["conflict_next"]
            if "server_page" in c:
                s.server_page = max(1, int(c["server_page"]))
            if "seed" in c:
                s.seed(c["seed"]["count"], c["seed"].get("ties", 1), c["seed"].get("start", 0))
            if "modify" in c:
                ent = s.ents.setdefault(c["modify"]["key"], {KEY: c["modify"]["key"]})
                ent.update(c["modify"]["fields"])
                s.touch(ent, s.clock if c["modify"].get("same_second") else None)
        return self.answer(200, {"ok": True})


def serve(fields=(), datetime_fields=(), users=None, token=None, port=0, client=None):
    """Starts the double on 127.0.0.1 in a thread; returns the server (server.svc is the data,
    server.server_address[1] the port; call shutdown() and server_close() to stop)."""
    svc = Service(list(fields), list(datetime_fields))
    handler = type("SAPHandler", (Handler,), {"svc": svc})
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, client_address: None  # a client killed mid-request
    srv.svc, srv.users, srv.token, srv.client = svc, dict(users or {}), token, client
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", default="CONNECT")
    ap.add_argument("--password", default="secret")
    a = ap.parse_args()
    srv = serve(fields=["SearchTerm1", "BusinessPartnerFullName", "YY1_Status_bus",
                        "YY1_WeightKg_bus", "YY1_ETA_bus"], datetime_fields=["YY1_ETA_bus"],
                users={a.user: a.password}, port=a.port)
    print("port=%d" % srv.server_address[1], flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
