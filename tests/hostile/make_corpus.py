"""make_corpus.py — writes corpus.jsonl, the hostile API requests test_hostile.py replays:

  python3 make_corpus.py > corpus.jsonl

One JSON object per line: "id", "category", "note", "request" and "expect". "request" is the raw
bytes of what a client sends, one JSON string character per byte (U+0000..U+00FF, so invalid UTF-8
and control bytes are written as \\u00XX escapes). The runner fills in {KEY} (an admin API key of
the node), {RKEY} (a reader key), {CL} (the length of what follows the blank line) and
{REPEAT:n:text} (text n times). "expect" is "4xx" (an answer 400..499 that is a problem document),
"4xx|close" (that, or the connection closed or reset before any answer: see "note"), or a list of
the exact statuses allowed. The schema is examples/supply-chain.json (Shipment, Invoice).
"""
import json
import sys

CASES = []


def case(cat, note, request, expect="4xx"):
    CASES.append({"id": "%s-%03d" % (cat, sum(1 for c in CASES if c["category"] == cat) + 1),
                  "category": cat, "note": note, "request": request, "expect": expect})


def req(method, path, body=None, headers="", auth="{KEY}", ctype="application/json",
        version="HTTP/1.1"):
    h = "%s %s %s\r\nHost: 127.0.0.1\r\n" % (method, path, version)
    if auth:
        h += "Authorization: Bearer %s\r\n" % auth
    if body is not None:
        if ctype:
            h += "Content-Type: %s\r\n" % ctype
        h += "Content-Length: {CL}\r\n"
    return h + headers + "\r\n" + (body or "")


SERIAL = [7100]


def ship(**over):
    """A Shipment with a key of its own per call (unless given), so that a case the node wrongly
    accepts cannot hide a later one behind a 409."""
    SERIAL[0] += 1
    d = {"shipmentId": "SHP-%d" % SERIAL[0], "origin": "Rotterdam", "destination": "Chicago",
         "carrier": "globex", "status": "created"}
    for k, v in over.items():
        if v is DROP:
            d.pop(k, None)
        else:
            d[k] = v
    return json.dumps(d, ensure_ascii=False)  # raw bytes stay raw (one character per byte)


DROP = object()
POST = "/v1/data/Shipment"


def json_syntax():
    bodies = [
        ("empty body", ""), ("whitespace only", "   \r\n\t "), ("truncated object", '{"shipmentId":'),
        ("trailing garbage", ship() + "xyz"), ("two documents", ship() + ship()),
        ("single quotes", "{'shipmentId':'SHP-7001'}"), ("NaN", '{"weightKg":NaN}'),
        ("Infinity", '{"weightKg":Infinity}'), ("comment", '{/* c */"a":1}'),
        ("trailing comma", '{"shipmentId":"SHP-7001",}'), ("unquoted key", "{shipmentId:1}"),
        ("top-level array", "[" + ship() + "]"), ("top-level string", '"SHP-7001"'),
        ("top-level number", "42"), ("top-level null", "null"), ("top-level true", "true"),
        ("byte order mark", "\u00ef\u00bb\u00bf" + ship()),
        ("deep array nesting", "{REPEAT:5000:[}{REPEAT:5000:]}"),
        ("deep object nesting", "{REPEAT:3000:{\"a\":}1{REPEAT:3000:}}"),
        ("deep nesting in a field", ship()[:-1] + ',"eta":{REPEAT:2000:[}{REPEAT:2000:]}}'),
        ("unterminated string", '{"shipmentId":"SHP-7001'), ("bad escape", '{"origin":"\\q"}'),
        ("bad unicode escape", '{"origin":"\\u12"}'), ("lone surrogate escape",
                                                        ship(origin="x")[:-1] + ',"a":"\\ud800"}'),
        ("NUL escape in a string", ship(origin="Rot\u0000x")),
        ("raw NUL byte", '{"shipmentId":"SHP-7001\u0000"}'),
        ("raw control char in string", '{"origin":"a\u0001b"}'),
        ("invalid UTF-8 byte", ship(origin="Rot\u00ffdam")),
        ("overlong UTF-8 slash", ship(origin="a\u00c0\u00afb")),
        ("truncated UTF-8 sequence", ship(origin="ab\u00e2\u0082")),
        ("UTF-8 surrogate bytes", ship(origin="a\u00ed\u00a0\u0080b")),
        ("invalid UTF-8 in a key", '{"ship\u00ffId":"SHP-7001"}'),
        ("number overflow exponent", ship()[:-1] + ', "weightKg": 1e400}'),
        ("huge integer", '{"shipmentId":"SHP-7001","weightKg":123456789012345678901234567890}'),
        ("negative huge exponent", '{"weightKg":-1e999}'), ("leading zeros", '{"weightKg":007}'),
        ("plus sign number", '{"weightKg":+5}'), ("hex number", '{"weightKg":0x10}'),
        ("lone minus", '{"weightKg":-}'), ("just a brace", "{"), ("just a bracket", "]"),
    ]
    for note, body in bodies:
        case("json", note, req("POST", POST, body))
    # the same through PUT, PATCH and POST /v1/tx
    for note, body in bodies[:12]:
        case("json", note + " (PUT)", req("PUT", POST + "/SHP-7001", body))
    for note, body in bodies[:8]:
        case("json", note + " (merge patch)",
             req("PATCH", POST + "/SHP-7001", body, ctype="application/merge-patch+json"))
    for note, body in bodies[:8]:
        case("json", note + " (tx)", req("POST", "/v1/tx", body))


def duplicates_and_unknown():
    case("dupkey", "duplicate key, same value",
         req("POST", POST, ship()[:-1] + ', "shipmentId": "SHP-7001"}'))
    case("dupkey", "duplicate key, other value",
         req("POST", POST, ship()[:-1] + ', "shipmentId": "SHP-7002"}'))
    case("dupkey", "duplicate status",
         req("POST", POST, ship()[:-1] + ', "status": "lost"}'))
    case("dupkey", "duplicate key in tx envelope",
         req("POST", "/v1/tx", '{"ops":[],"ops":[{"op":"create","type":"Shipment","body":%s}]}' %
             ship()))
    case("dupkey", "duplicate key in merge patch",
         req("PATCH", POST + "/SHP-7001", '{"status":"lost","status":"created"}',
             ctype="application/merge-patch+json"))
    for field in ("extra", "_owner", "_version", "_tx", "__proto__", "constructor", ""):
        case("unknown", "unknown field %r" % field, req("POST", POST, ship(**{field: "x"})))
    case("unknown", "unknown tx member", req("POST", "/v1/tx", '{"ops":[%s],"evil":1}' %
                                             json.dumps({"op": "create", "type": "Shipment",
                                                         "body": json.loads(ship())})))
    case("unknown", "unknown op member", req("POST", "/v1/tx", '{"ops":[%s]}' % json.dumps(
        {"op": "create", "type": "Shipment", "body": json.loads(ship()), "sudo": True})))
    case("unknown", "overlong key 60 KB", req("POST", POST, ship()[:-1] +
                                              ', "{REPEAT:60000:k}": 1}'))
    case("unknown", "300 unknown fields", req("POST", POST, ship()[:-1] + "".join(
        ', "f%d": %d' % (i, i) for i in range(300)) + "}"))


def wrong_types():
    values = [("number", 7), ("null", None), ("array", ["a"]), ("object", {"a": 1}),
              ("bool", True), ("empty string", "")]
    for field in ("shipmentId", "origin", "destination", "carrier", "status"):
        for vn, v in values:
            if field in ("carrier",) and vn == "empty string":
                continue
            case("types", "%s as %s" % (field, vn), req("POST", POST, ship(**{field: v})))
    for vn, v in (("string", "10"), ("zero", 0), ("negative", -1), ("too large", 100001),
                  ("huge", 1e300), ("array", [1])):
        case("types", "weightKg %s" % vn, req("POST", POST, ship(weightKg=v)))
    for v in ("yesterday", "2026-13-01T00:00:00Z", "", 5):
        case("types", "eta %r" % (v,), req("POST", POST, ship(eta=v)))
    for field in ("shipmentId", "origin", "destination", "status", "carrier"):
        case("types", "missing required %s" % field, req("POST", POST, ship(**{field: DROP})))
    case("types", "status not in enum", req("POST", POST, ship(status="stolen")))
    case("types", "shipmentId breaks its pattern", req("POST", POST, ship(shipmentId="X-1")))
    case("types", "origin too long", req("POST", POST, ship(origin="a" * 121)))
    case("types", "checkpoints not an array", req("POST", POST, ship(checkpoints={"a": 1})))
    case("types", "checkpoints item missing fields", req("POST", POST, ship(checkpoints=[{}])))
    cp = '{"at": "2026-01-01T00:00:00Z", "location": "x"}'
    case("types", "501 checkpoints", req("POST", POST, ship()[:-1] + ', "checkpoints": '
                                         '[{REPEAT:500:%s, }%s]}' % (cp, cp)))
    case("types", "temperature out of range", req("POST", POST, ship(checkpoints=[
        {"at": "2026-01-01T00:00:00Z", "location": "x", "temperatureC": 81}])))
    case("types", "invoice total wrong type", req("POST", "/v1/data/Invoice", json.dumps(
        {"invoiceId": "INV-1", "shipmentId": "SHP-7001", "total": "lots", "paid": False})))
    case("types", "invoice paid wrong type", req("POST", "/v1/data/Invoice", json.dumps(
        {"invoiceId": "INV-1", "shipmentId": "SHP-7001", "total": 1, "paid": "no"})))


def keys_and_paths():
    for key in ("..%2F..%2Fetc%2Fpasswd", "%2e%2e", "..", "%00", "SHP-7001%00x", "SHP-7001%2F..",
                "%ZZ", "%", "SHP%207001", "{REPEAT:300:9}", "%C0%AF", "%FF"):
        case("path", "replace at key %r" % key, req("PUT", POST + "/" + key, ship()))
        case("path", "read key %r" % key, req("GET", POST + "/" + key, auth="{RKEY}"))
    for m in ("DELETE", "PATCH", "PUT", "GET"):
        case("path", "%s at a key that is not UTF-8" % m,
             req(m, POST + "/%FF%FEa1", "{}" if m != "GET" else None,
                 headers='If-Match: "1"\r\n', ctype="application/merge-patch+json"))
    case("path", "type name that is not UTF-8", req("POST", "/v1/data/Ship%FF%C3", ship()))
    for key in ("../x", "a/b", "SHP-7001\u0000", "", "{REPEAT:300:9}"):
        case("path", "body key %r" % key, req("POST", POST, ship(shipmentId=key)))
    case("path", "key in body differs from path", req("PUT", POST + "/SHP-7002", ship()))
    case("path", "merge patch changes the key",
         req("PATCH", POST + "/SHP-7001", '{"shipmentId":"SHP-7002"}',
             ctype="application/merge-patch+json"))
    for path in ("/v1/data/Nope", "/v1/data/", "/v1/data", "/v1/data/Shipment/SHP-7001/x/y",
                 "/v1/data/shipment", "/v1/data/Shipment%2FSHP-7001", "/v1/../v1/data/Shipment",
                 "/v2/data/Shipment", "/v1/data/Shipment?x", "//v1/data/Shipment", "/",
                 "/v1/data/%00", "/v1/tx/../data/Shipment"):
        case("path", "write to %r" % path, req("POST", path, ship()))
    case("path", "absolute-form target to another host",
         req("POST", "http://evil.example/v1/data/Shipment", ship()))
    case("path", "asterisk target", req("OPTIONS", "*", None))
    case("path", "URL 20 KB", req("GET", "/v1/data/Shipment/{REPEAT:20000:a}", auth="{RKEY}"),
         "4xx")


def headers():
    base = "POST /v1/data/Shipment HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    auth = "Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"

    class Tail:  # a fresh record per use
        def __radd__(self, head):
            return head + "Content-Length: {CL}\r\n\r\n" + ship()

    tail = Tail()
    # Requests whose framing or credentials are lenient but allowed (each note says which rule)
    # carry an invalid record, which decides: nothing may reach the ledger.
    bad = "Content-Length: {CL}\r\n\r\n" + ship(status="stolen")
    for note, line in (("CR inside a header value", "X-A: a\rb\r\n"),

                       ("space in a header name", "Bad Header: x\r\n"),
                       ("header without colon", "NoColon\r\n"),

                       ("NUL in a header value", "X-A: a\u0000b\r\n"),
                       ("header name with a slash", "X/A: 1\r\n"),

                       ("empty header name", ": x\r\n")):
        case("header", note, base + auth + line + tail)
    case("header", "bare LF ends a header line: accepted as a line end (RFC 9112 section 2.2 "
         "allows it), so the invalid body decides",
         base + auth + "X-A: a\nX-B: b\r\nContent-Length: 2\r\n\r\n{}")
    case("header", "obs-fold continuation: unfolded (RFC 9112 section 5.2 allows it), invalid "
         "record", base + auth + "X-A: a\r\n folded\r\n" + bad)
    case("header", "DEL in a header value: kept (RFC 9110 section 5.5 allows it), invalid record",
         base + auth + "X-A: \u007f\r\n" + bad)
    case("header", "CRLF injected into Authorization",
         base + "Authorization: Bearer {KEY}\r\nX-Injected: 1\rContent-Type: application/json\r\n"
         + tail)
    for note, cl in (("negative Content-Length", "-1"), ("non-numeric Content-Length", "abc"),
                     ("Content-Length overflow", "99999999999999999999999"),
                     ("Content-Length with sign", "+5"), ("Content-Length list", "5, 5"),
                     ("empty Content-Length", "")):
        case("header", note, base + auth + "Content-Length: %s\r\n\r\n" % cl + ship())
    case("header", "two different Content-Lengths",
         base + auth + "Content-Length: 5\r\nContent-Length: {CL}\r\n\r\n" + ship())
    case("header", "Content-Length longer than the body (truncated body: 408 at the request "
         "timeout)", base + auth + "Content-Length: 9999\r\n\r\n" + ship())
    case("header", "head never finished (408 at the request timeout)",
         base + "Authorization: Bearer {KEY}\r\nX-A: 1\r\n")
    case("header", "oversize head 20 KB", base + "X-Pad: {REPEAT:20000:a}\r\n" + auth + tail)
    case("header", "2000 headers", base + "{REPEAT:2000:X-H: v\r\n}" + auth + tail)
    case("header", "header name 10 KB", base + "{REPEAT:10000:X}: 1\r\n" + auth + tail)
    # The node serves one origin and does not check Host (RFC 9112 section 3.2 asks for a 400 when
    # it is missing or repeated).
    case("header", "HTTP/1.1 without Host (not checked), invalid record",
         "POST /v1/data/Shipment HTTP/1.1\r\n" + auth + bad)
    case("header", "two Host headers (not checked), invalid record",
         base + "Host: evil.example\r\n" + auth + bad)
    for note, a in (("no Authorization", None), ("Basic credentials", "Basic YWRtaW46YWRtaW4="),
                    ("Bearer without token", "Bearer"),
                    ("unknown key", "Bearer trk_0000000000000000_nope"),
                    ("key 4 KB", "Bearer trk_{REPEAT:4000:a}"),
                    ("key with NUL", "Bearer {KEY}\u0000x"), ("two tokens", "Bearer {KEY} {KEY}")):
        hdr = "Authorization: %s\r\n" % a if a else ""
        case("auth", note, base + hdr + "Content-Type: application/json\r\n" + tail)
    for note, a in (("two spaces after Bearer (RFC 6750 allows 1*SP)", "Bearer  {KEY}"),
                    ("lowercase scheme (RFC 9110 section 11.1: case-insensitive)", "bearer {KEY}")):
        case("auth", note + ", invalid record", base + "Authorization: %s\r\n" % a +
             "Content-Type: application/json\r\n" + bad)
    case("auth", "reader key writes", req("POST", POST, ship(), auth="{RKEY}"))
    case("auth", "reader key posts a tx", req("POST", "/v1/tx", '{"ops":[]}', auth="{RKEY}"))
    case("auth", "reader key proposes a member", req("POST", "/v1/members/proposals",
                                                     '{"action":"remove","org":"acme"}',
                                                     auth="{RKEY}"))
    for ct in ("text/plain", None, "application/xml", "application/x-www-form-urlencoded",
               "multipart/form-data; boundary=x", "application/jsonx", "json", "*/*",
               "application/json\u0000", "application/merge-patch+json"):
        case("ctype", "Content-Type %r" % ct, req("POST", POST, ship(), ctype=ct))
    case("ctype", "merge patch sent as text/plain",
         req("PATCH", POST + "/SHP-7001", '{"status":"lost"}', ctype="text/plain"))
    for v in ("garbage", 'W/"1"', '"-1"', '"abc"', '"99999999999999999999999"', '"1", "2"', '""'):
        case("ifmatch", "If-Match %s" % v,
             req("PUT", POST + "/SHP-7001", ship(shipmentId="SHP-7001"),
                 headers="If-Match: %s\r\n" % v))
    for note, v in (("empty", ""), ("129 bytes", "{REPEAT:129:k}"), ("300 bytes", "{REPEAT:300:k}"),
                    ("control byte", "a\u0001b"), ("non-ASCII", "cl\u00e9"),
                    ("UTF-8", "cl\u00c3\u00a9")):
        case("idem", "Idempotency-Key %s" % note,
             req("POST", POST, ship(shipmentId="SHP-notvalid"),
                 headers="Idempotency-Key: %s\r\n" % v))
        case("idem", "Idempotency-Key %s on a valid tx" % note,
             req("POST", "/v1/tx", '{"ops": [{"op": "create", "type": "Shipment", "body": %s}]}'
                 % ship(), headers="Idempotency-Key: %s\r\n" % v))


def methods_and_framing():
    for m in ("BREW", "get", "PROPFIND", "TRACE", "MKCOL", "{REPEAT:1000:X}", "PURGE", "LINK"):
        case("method", "method %r" % m[:20], req(m, POST, None))
    case("method", "CONNECT", "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    for m, path in (("PATCH", POST), ("DELETE", POST), ("PUT", "/v1/tx"),
                    ("POST", "/v1/ledger/head"), ("DELETE", "/v1/ledger/head"),
                    ("POST", "/healthz"), ("PUT", "/v1/schema"), ("POST", POST + "/SHP-7001"),
                    ("POST", "/v1/openapi.json"), ("DELETE", "/v1/members")):
        case("method", "%s on %s" % (m, path), req(m, path, ship()))
    for note, raw in (("HTTP/0.9 request", "GET /v1/ledger/head\r\n\r\n"),
                      ("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
                      ("HTTP/3.0 version", "GET /v1/ledger/head HTTP/3.0\r\nHost: x\r\n\r\n"),
                      ("version HTTP/1.x", "GET /v1/ledger/head HTTP/1.x\r\nHost: x\r\n\r\n"),
                      ("lowercase version", "GET /v1/ledger/head http/1.1\r\nHost: x\r\n\r\n"),
                      ("binary garbage", "\u0000\u00ff\u0001\u00fe" * 16),
                      ("TLS ClientHello", "\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000"),
                      ("only a blank line then garbage", "\r\n\r\nxx yy\r\n\r\n"),
                      ("tab separators", "GET\t/v1/ledger/head\tHTTP/1.1\r\nHost: x\r\n\r\n"),
                      ("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
                      ("Upgrade to h2c on a write",
                       "POST /v1/data/Shipment HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                       "Upgrade: h2c\r\nAuthorization: Bearer {KEY}\r\nContent-Type: "
                       "application/json\r\nContent-Length: 2\r\n\r\n{}")):
        case("framing", note, raw, "4xx|close" if note == "binary garbage" else "4xx")
    start = ("POST /v1/data/Shipment HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}"
             "\r\nContent-Type: application/json\r\n")
    for note, rest in (
            ("chunk size not hex", "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
            ("chunk size overflow",
             "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"),
            ("chunk longer than said", "Transfer-Encoding: chunked\r\n\r\n1\r\n{}\r\n0\r\n\r\n"),
            ("chunk without CRLF", "Transfer-Encoding: chunked\r\n\r\n2\r\n{}0\r\n\r\n"),
            ("negative chunk size", "Transfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n"),
            ("chunked then gzip", "Transfer-Encoding: chunked, gzip\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
            ("gzip only", "Transfer-Encoding: gzip\r\n\r\n{}"),
            ("TE and CL both (smuggling)", "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"
             "\r\n0\r\n\r\nGET /v1/ledger/head HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("CL then TE (smuggling)", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
             "0\r\n\r\n"),
            ("TE with odd case", "Transfer-Encoding: ChUnKeD\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
            ("chunk extension 10 KB",
             "Transfer-Encoding: chunked\r\n\r\n2;{REPEAT:10000:e}\r\n{}\r\n0\r\n\r\n"),
            ("trailer 20 KB",
             "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: {REPEAT:20000:t}\r\n\r\n"),
            ("chunked body over the limit",
             "Transfer-Encoding: chunked\r\n\r\n" + "8000\r\n{REPEAT:32768:a}\r\n" * 3 +
             "0\r\n\r\n"),
            ("last chunk missing (408 at the request timeout)",
             "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n")):
        case("chunked", note, start + rest)


def oversize_and_queries():
    case("oversize", "body over the limit (the node may reset the connection while the client "
         "still sends: its answer can be lost)", req("POST", POST, "{REPEAT:200000:a}"),
         "4xx|close")
    case("oversize", "Content-Length over the limit, no body sent",
         "POST /v1/data/Shipment HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
         "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
    dop = '{"op": "delete", "type": "Shipment", "key": "SHP-8000"}'
    case("oversize", "tx of 257 ops", req("POST", "/v1/tx", '{"ops": [{REPEAT:256:%s, }%s]}' %
                                          (dop, dop)))
    case("oversize", "string field 60 KB", req("POST", POST, ship(origin="{REPEAT:60000:o}")))
    r = "{RKEY}"
    for q in ("limit=0", "limit=-1", "limit=abc", "limit=100000", "limit=1e3", "limit=",
              "cursor=%ZZ", "cursor=notacursor", "consistency=bogus", "foo=bar", "status",
              "origin=Rotterdam", "weightKg.gt=1", "status.gt=1&status=x", "order_by=nope",
              "limit=1&limit=2", "%=1", "status=%00", "desc=maybe", "{REPEAT:200:a=1&}a=1"):
        case("query", "list ?%s" % q[:40], req("GET", POST + "?" + q, auth=r))
    for q in ("version=1&version=2", "version=0", "version=x", "evil=1"):
        case("query", "record ?%s" % q, req("GET", POST + "/SHP-7001?" + q, auth=r))
    for q in ("after_version=abc", "after_version=-1", "limit=0", "bogus=1"):
        case("query", "history ?%s" % q, req("GET", POST + "/SHP-7001/history?" + q, auth=r))
    for q in ("inclusion?tx=zz", "inclusion", "inclusion?tx=%s&tree_size=abc" % ("a" * 32),
              "consistency?first=0&second=1", "consistency?first=5&second=2",
              "consistency?first=1&second=99999999999999999999", "consistency"):
        case("query", "proof %s" % q[:40], req("GET", "/v1/ledger/proofs/" + q, auth=r))
    for q in ("from=0", "from=abc", "from=5&to=2", "to=-1", "from=1&to=99999999999", "from=1&from=1"):
        case("query", "export ?%s" % q, req("GET", "/v1/ledger/export?" + q, auth=r))
    for p in ("/v1/tx/zz", "/v1/tx/" + "g" * 32, "/v1/ledger/blocks/abc", "/v1/ledger/blocks/0",
              "/v1/ledger/blocks/-1", "/v1/ledger/checkpoints/first"):
        case("query", "read %s" % p, req("GET", p, auth=r))


def governance_and_tx():
    op = {"op": "create", "type": "Shipment", "body": json.loads(ship())}
    for note, body in (("ops not an array", {"ops": {}}), ("no ops", {}), ("ops empty", {"ops": []}),
                       ("op not an object", {"ops": [1]}), ("unknown op", {"ops": [dict(op, op="x")]}),
                       ("unknown type", {"ops": [dict(op, type="Nope")]}),
                       ("delete without key", {"ops": [{"op": "delete", "type": "Shipment"}]}),
                       ("expected_version string", {"ops": [dict(op, expected_version="1")]}),
                       ("expected_version negative", {"ops": [dict(op, expected_version=-1)]}),
                       ("expected_version huge", {"ops": [dict(op, expected_version=2**70)]}),
                       ("invalid body with a valid op", {"ops": [op, dict(op, body={"a": 1})]}),
                       ("key disagrees with body", {"ops": [dict(op, key="SHP-9999")]}),
                       ("idempotency_key wrong type", {"ops": [op], "idempotency_key": 5}),
                       ("patch with array body", {"ops": [{"op": "patch", "type": "Shipment",
                                                          "key": "SHP-7001", "body": [1]}]})):
        case("tx", note, req("POST", "/v1/tx", json.dumps(body)))
    for note, body in (("unknown action", {"action": "nuke"}), ("add without key",
                                                                  {"action": "add", "org": "x"}),
                       ("remove unknown org", {"action": "remove", "org": 5}),
                       ("not an object", [1])):
        case("gov", note, req("POST", "/v1/members/proposals", json.dumps(body)))
    case("gov", "approve a bad id", req("POST", "/v1/members/proposals/zz/approve", "{}"))
    case("gov", "schema proposal not an object",
         req("POST", "/v1/schema/proposals", '{"schema":"x"}'))
    case("gov", "schema proposal missing", req("POST", "/v1/schema/proposals", "{}"))
    case("gov", "schema approve bad id", req("POST", "/v1/schema/proposals/../approve", "{}"))
    case("gov", "rotate key with garbage", req("POST", "/v1/members/rotate-key", '{"key":1}'))
    case("gov", "test hook when off", req("POST", "/v1/_test/entry", '{"entry":"AAAA"}'))


def main():
    for part in (json_syntax, duplicates_and_unknown, wrong_types, keys_and_paths, headers,
                 methods_and_framing, oversize_and_queries, governance_and_tx):
        part()
    for c in CASES:
        for ch in c["request"]:
            assert ord(ch) < 256, c["id"]
        sys.stdout.write(json.dumps(c, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
