#!/usr/bin/env python3
"""dynamics.py — a test double of the parts of the Dynamics 365 / Dataverse Web API (OData v4)
that treaty's connector relies on, on 127.0.0.1 (Python 3 standard library only):

  POST /<tenant>/oauth2/v2.0/token          client credentials (scope <org>/.default) ->
                                            access_token, expires_in
  GET  /api/data/v9.2/<set>?$select=…       with Prefer: odata.track-changes, odata.maxpagesize=N:
                                            a full sync in pages (@odata.nextLink, keyset
                                            $skiptoken), the last page with @odata.deltaLink
  GET  /api/data/v9.2/<set>?$deltatoken=V   rows changed since server version V (full rows) and
                                            deleted ones ({"@odata.context": "…$deletedEntity",
                                            "id", "reason": "deleted"}), paged the same way
  PATCH  /api/data/v9.2/<set>(<altkey>='v') upsert by alternate key (204, or 201/200 with
                                            Prefer: return=representation); If-Match: * and
                                            If-None-Match: * honoured
  DELETE /api/data/v9.2/<set>(<altkey>='v') 204, or 404 when there is no such row

Every row carries a row version (the server's version counter when it last changed) as its
@odata.etag W/"<version>"; delta tokens encode a server version. Errors use the Web API shape
{"error": {"code": "0x…", "message": …}} (the connector reads only the status, the code and the
message; the codes here are illustrative). Faults are switched through POST /_control (a JSON
object), each separately:

  {"rate_limit": {"after": N, "count": M, "retry_after": S, "methods": [..]}}  after N more API
                                          calls (of those methods, default all), M calls answer
                                          429 with Retry-After: S (default 1)
  {"token_ttl_s": T}                      tokens issued from now on expire after T seconds
  {"report_expires_in": E}                the token answer says expires_in E (null: the truth)
  {"expire_tokens": true}                 every issued token becomes invalid (401)
  {"expire_links": true}                  every nextLink and deltaLink issued so far answers
                                          410 Gone (OData's answer to a delta link no longer
                                          valid): the client must sync in full again
  {"reject_value": {"field": F, "value": V}}  an upsert setting F to V answers 400
  {"seed": {"count": N, "start": S}}      N rows with alternate keys SHP-<S>… (S default 0)
  {"modify": {"key": K, "fields": {…}}}   a user's edit (upsert: a new row version)
  {"delete": {"key": K}}                  a user's delete
GET /_control gives the state: rows by key, upsert and delete counts per key, the write log
(every PATCH and DELETE answered, in order), calls, faults served, the server version.
"""
import argparse
import json
import re
import secrets
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = "/api/data/v9.2/"
KEY_PATH = re.compile(r"^(\w+)\((\w+)='((?:[^']|'')*)'\)$")


def web_error(code, message):
    return {"error": {"code": code, "message": message}}


class Throttle:
    """Lets `after` calls (of `methods`, default all) pass, then refuses `count` with 429."""

    def __init__(self, after, count, retry_after=1, methods=None):
        self.passes, self.refusals = after, count
        self.retry_after, self.methods = retry_after, methods

    def refuses(self, method):
        if self.methods is not None and method not in self.methods:
            return False
        if self.passes > 0:
            self.passes -= 1
            return False
        if self.refusals > 0:
            self.refusals -= 1
            return True
        return False


class Org:
    """The double's rows and fault switches, shared by the handler threads under one lock."""

    def __init__(self, entity_set, id_attr, alt_key, fields):
        self.lock = threading.Lock()
        self.set, self.id_attr, self.alt = entity_set, id_attr, alt_key
        self.fields = set(fields) | {alt_key}
        self.version = 1000
        self.seq = 0
        self.rows = {}  # guid -> {"_seq", "_ver", "_deleted", attributes…}
        self.live = {}  # alternate key value -> guid
        self.tokens = {}  # token -> expiry (time.monotonic())
        self.denied = []  # the last 50 calls answered 401: method, path, seconds past expiry
        self.token_ttl_s, self.report_expires_in = 3600.0, None
        self.calls = 0
        self.throttle = None  # a switched-on service protection limit (Throttle)
        self.reject = None
        self.links_from = 0  # skip/delta tokens of a server version below this are gone
        self.upserts, self.deletes, self.writes = {}, {}, []
        self.served = {"rate_limited": 0, "expired": 0, "expired_writes": 0, "rejected": 0,
                       "tokens": 0, "full_pages": 0, "delta_pages": 0, "deleted_rows": 0, "gone": 0}

    def bump(self):
        self.version += 1
        return self.version

    def upsert(self, key, attrs):
        guid = self.live.get(key)
        created = guid is None
        if created:
            self.seq += 1
            guid = str(uuid.UUID(int=(0x7e57 << 112) + self.seq))
            self.rows[guid] = {"_seq": self.seq, "_guid": guid, self.alt: key}
            self.live[key] = guid
        row = self.rows[guid]
        row.update(attrs)
        row["_deleted"] = False
        row["_ver"] = self.bump()
        return row, guid, created

    def remove(self, key):
        guid = self.live.pop(key, None)
        if guid is None:
            return False
        self.rows[guid]["_deleted"] = True
        self.rows[guid]["_ver"] = self.bump()
        return True

    def seed(self, count, start=0):
        for i in range(count):
            self.upsert("SHP-%06d" % (start + i), {
                "treaty_origin": "Hamburg", "treaty_destination": "Lyon %d" % i,
                "treaty_status": "created", "treaty_weight": i % 900 + 1.5,
                "treaty_eta": "2026-12-%02d" % (i % 28 + 1)})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per answer (no delayed-ACK stall between head and body)
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
            self.send_header("Content-Type", "application/json; odata.metadata=minimal")
        self.send_header("OData-Version", "4.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.route(self.command)

    do_POST = do_PATCH = do_DELETE = do_GET

    def route(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_control":
            return self.control(method, raw)
        if url.path == self.server.token_path and method == "POST":
            return self.token(raw)
        if not url.path.startswith(API):
            return self.answer(404, web_error("0x80060888", "Resource not found for the segment"))
        rest = urllib.parse.unquote(url.path[len(API):])
        with self.org.lock:
            err = self.gate()
            if err:
                return self.answer(*err)
            if rest == self.org.set and method == "GET":
                return self.answer(*self.read(urllib.parse.parse_qs(url.query)))
            m = KEY_PATH.match(rest)
            if m and m.group(1) == self.org.set and method in ("PATCH", "DELETE"):
                if m.group(2) != self.org.alt:
                    return self.answer(400, web_error(
                        "0x80060891", "Key '%s' is not an alternate key of %s"
                        % (m.group(2), self.org.set)))
                key = m.group(3).replace("''", "'")
                out = self.write(method, key, raw)
                self.org.writes.append({"method": method, "key": key, "status": out[0]})
                return self.answer(*out)
        return self.answer(404, web_error("0x80060888", "Resource not found for the segment"))

    def gate(self):
        """Auth and the service protection limit, counted per API call (the lock is held)."""
        o = self.org
        o.calls += 1
        auth = self.headers.get("Authorization", "")
        exp = o.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
        now = time.monotonic()
        if exp is None or exp <= now:
            o.served["expired"] += 1
            o.denied = o.denied[-49:] + [{"method": self.command, "path": self.path[:80],
                                          "late_s": None if exp is None else now - exp}]
            o.served["expired_writes"] += self.command in ("PATCH", "DELETE")
            return 401, web_error("0x80072560", "The user is not authenticated (token missing "
                                                "or expired)"), {"WWW-Authenticate": "Bearer"}
        if o.throttle and o.throttle.refuses(self.command):
            o.served["rate_limited"] += 1
            return (429, web_error("0x80072322", "Number of requests exceeded the limit of 6000 "
                                                 "over time window of 300 seconds."),
                    {"Retry-After": str(o.throttle.retry_after)})
        return None

    def token(self, raw):
        s = self.server
        form = urllib.parse.parse_qs(raw.decode())
        if form.get("grant_type") != ["client_credentials"] or \
                form.get("client_id") != [s.client_id] or \
                form.get("client_secret") != [s.client_secret]:
            return self.answer(401, {"error": "invalid_client",
                                     "error_description": "AADSTS7000215: Invalid client secret"})
        if form.get("scope") != [s.org_url + "/.default"]:
            return self.answer(400, {"error": "invalid_scope",
                                     "error_description": "AADSTS70011: invalid scope"})
        with self.org.lock:
            o = self.org
            tok = "eyJ0" + secrets.token_hex(20)
            o.tokens[tok] = time.monotonic() + o.token_ttl_s
            o.served["tokens"] += 1
            told = o.report_expires_in if o.report_expires_in is not None else o.token_ttl_s
        return self.answer(200, {"token_type": "Bearer", "expires_in": int(told),
                                 "ext_expires_in": int(told), "access_token": tok})

    # -- change tracking --
    def read(self, q):
        o = self.org
        select = [f for f in q.get("$select", [""])[0].split(",") if f]
        for f in select:
            if f not in o.fields | {o.id_attr}:
                return 400, web_error("0x80060888", "Could not find a property named '%s' on "
                                                    "type 'Microsoft.Dynamics.CRM.%s'." % (f, o.set))
        prefer = self.headers.get("Prefer", "")
        track = "odata.track-changes" in prefer
        pm = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        size = max(1, min(5000, int(pm.group(1)))) if pm else 5000
        try:
            state = self.paging_state(q)
        except ValueError:
            return 400, web_error("0x80040203", "Invalid paging or delta token")
        kind, since, upto, after = state
        token_version = upto if "$skiptoken" in q else since
        if ("$skiptoken" in q or "$deltatoken" in q) and token_version < o.links_from:
            o.served["gone"] += 1
            return 410, web_error("0x80044352", "The delta link is no longer valid; sync again "
                                                "without it")
        if kind == "full":
            rows = sorted((r for r in o.rows.values() if not r["_deleted"] and r["_ver"] <= upto
                           and r["_seq"] > after), key=lambda r: r["_seq"])
        else:
            rows = sorted((r for r in o.rows.values() if since < r["_ver"] <= upto
                           and r["_ver"] > after), key=lambda r: r["_ver"])
        page, more = rows[:size], len(rows) > size
        o.served["full_pages" if kind == "full" else "delta_pages"] += 1
        base = "http://%s:%d%s%s" % (self.server.server_address[:2] + (API, o.set))
        sel = "$select=" + ",".join(select)
        body = {"@odata.context": "%s$metadata#%s(%s)%s" % (base[:-len(o.set)], o.set,
                                                             ",".join(select),
                                                             "" if kind == "full" else "/$delta"),
                "value": [self.entity(r, select, base) for r in page]}
        if more:
            last = page[-1]["_seq"] if kind == "full" else page[-1]["_ver"]
            tok = "%s.%d.%d.%d" % (kind, since, upto, last)
            body["@odata.nextLink"] = "%s?%s&$skiptoken=%s" % (base, sel, tok)
        elif track:
            body["@odata.deltaLink"] = "%s?%s&$deltatoken=%d" % (base, sel, upto)
        hdr = {"Preference-Applied": "odata.maxpagesize=%d%s" % (
            size, ", odata.track-changes" if track else "")}
        return 200, body, hdr

    def paging_state(self, q):
        """(kind, since, upto, after) of a request: a new full sync, a page of one, or a delta."""
        o = self.org
        if "$skiptoken" in q:
            kind, since, upto, after = q["$skiptoken"][0].split(".")
            if kind not in ("full", "delta"):
                raise ValueError(kind)
            return kind, int(since), int(upto), int(after)
        if "$deltatoken" in q:
            since = int(q["$deltatoken"][0])
            if since > o.version:
                raise ValueError(since)
            return "delta", since, o.version, since
        return "full", 0, o.version, 0

    def entity(self, r, select, base):
        o = self.org
        guid = r["_guid"]
        if r["_deleted"]:
            o.served["deleted_rows"] += 1
            return {"@odata.context": "%s$metadata#%s/$deletedEntity" % (base[:-len(o.set)], o.set),
                    "id": guid, "reason": "deleted"}
        ent = {"@odata.etag": 'W/"%d"' % r["_ver"], o.id_attr: guid}
        for f in select:
            if f != o.id_attr:
                ent[f] = r.get(f)
        return ent

    # -- writes --
    def write(self, method, key, raw):
        o = self.org
        if method == "DELETE":
            if not o.remove(key):
                return 404, web_error("0x80040217", "%s With Ids = %s Does Not Exist" % (o.set, key))
            o.deletes[key] = o.deletes.get(key, 0) + 1
            return (204,)
        try:
            attrs = json.loads(raw or b"{}")
        except ValueError:
            return 400, web_error("0x80040216", "Error in parsing the request body")
        if not isinstance(attrs, dict):
            return 400, web_error("0x80040216", "The request body must be a JSON object")
        for k, v in attrs.items():
            if k not in o.fields:
                return 400, web_error("0x80060888", "Could not find a property named '%s' on "
                                                    "type 'Microsoft.Dynamics.CRM.%s'." % (k, o.set))
            if k == o.alt and v != key:
                return 400, web_error("0x80060891", "The alternate key value in the body "
                                                    "differs from the one in the URL")
            if o.reject and o.reject["field"] == k and o.reject["value"] == v:
                o.served["rejected"] += 1
                return 400, web_error("0x80040265", "%s: the value '%s' is not allowed" % (k, v))
        exists = key in o.live
        if self.headers.get("If-None-Match") == "*" and exists:
            return 412, web_error("0x80060892", "A record with matching key values already exists")
        if self.headers.get("If-Match") == "*" and not exists:
            return 404, web_error("0x80040217", "%s With Ids = %s Does Not Exist" % (o.set, key))
        row, guid, created = o.upsert(key, attrs)
        o.upserts[key] = o.upserts.get(key, 0) + 1
        base = "http://%s:%d%s%s" % (self.server.server_address[:2] + (API, o.set))
        if "return=representation" in self.headers.get("Prefer", ""):
            return (201 if created else 200), self.entity(row, sorted(o.fields), base)
        return 204, None, {"OData-EntityId": "%s(%s)" % (base, guid)}

    # -- control --
    def control(self, method, raw):
        o = self.org
        with o.lock:
            if method == "GET":
                rows = {}
                for guid, r in o.rows.items():
                    rows[r[o.alt]] = dict({k: v for k, v in r.items() if not k.startswith("_")},
                                          id=guid, version=r["_ver"], deleted=r["_deleted"])
                return self.answer(200, {"rows": rows, "upserts": o.upserts,
                                         "deletes": o.deletes, "writes": o.writes,
                                         "calls": o.calls, "served": o.served,
                                         "denied": o.denied,
                                         "version": o.version})
            c = json.loads(raw or b"{}")
            if "rate_limit" in c:
                o.throttle = Throttle(**c["rate_limit"])
            if "token_ttl_s" in c:
                o.token_ttl_s = float(c["token_ttl_s"])
            if "report_expires_in" in c:
                o.report_expires_in = c["report_expires_in"]
            if c.get("expire_tokens"):
                o.tokens.clear()
            if c.get("expire_links"):
                o.links_from = o.bump()
            if "reject_value" in c:
                o.reject = c["reject_value"]
            if "seed" in c:
                o.seed(c["seed"]["count"], c["seed"].get("start", 0))
            if "modify" in c:
                o.upsert(c["modify"]["key"], c["modify"]["fields"])
            if "delete" in c:
                o.remove(c["delete"]["key"])
        return self.answer(200, {"ok": True})


def serve(entity_set="treaty_shipments", id_attr="treaty_shipmentid",
          alt_key="treaty_shipmentnumber", fields=(), client_id="cid", client_secret="csecret",
          tenant="tenant-1", port=0):
    """Starts the double on 127.0.0.1 in a thread; returns the server (server.org is the data,
    server.org_url the org URL, server.token_url the token endpoint; call shutdown() and
    server_close() to stop)."""
    org = Org(entity_set, id_attr, alt_key, fields)
    handler = type("DynHandler", (Handler,), {"org": org})
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, client_address: None  # a client killed mid-request
    srv.org, srv.client_id, srv.client_secret = org, client_id, client_secret
    srv.org_url = "http://127.0.0.1:%d" % srv.server_address[1]
    srv.token_path = "/%s/oauth2/v2.0/token" % tenant
    srv.token_url = srv.org_url + srv.token_path
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fields", default="treaty_origin,treaty_destination,treaty_status,"
                                        "treaty_weight,treaty_eta")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    srv = serve(fields=a.fields.split(","), port=a.port)
    if a.seed:
        srv.org.seed(a.seed)
    print("org_url=%s token_url=%s" % (srv.org_url, srv.token_url), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
