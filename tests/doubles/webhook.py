#!/usr/bin/env python3
"""webhook.py — a receiver of treaty's outbound webhooks on 127.0.0.1 that checks each POST's
X-Treaty-Signature (sha256=<hex HMAC-SHA256 of the raw body with the shared secret>).

Deliveries with a good signature are kept (deliveries, by X-Treaty-Event-Id); bad ones are
answered 401 and counted. POST /_control {"fail_next": N, "status": S} makes the next N good
deliveries answer S (default 503) without keeping them, to exercise the sender's retries.
GET /_control gives {"deliveries": [...], "bad_signatures": n, "failed": n}.
"""
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per answer and no Nagle: a head and a body in two small writes would meet the
    # client's delayed ACK and cost 40 ms per request.
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        s = self.server
        with s.lock:
            return self.answer(200, {"deliveries": list(s.deliveries),
                                     "bad_signatures": s.bad, "failed": s.failed})

    def do_POST(self):
        s = self.server
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with s.lock:
            if self.path == "/_control":
                c = json.loads(raw or b"{}")
                s.fail_next, s.fail_status = c.get("fail_next", 0), c.get("status", 503)
                return self.answer(200, {"ok": True})
            want = "sha256=" + hmac.new(s.secret, raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, self.headers.get("X-Treaty-Signature", "")):
                s.bad += 1
                return self.answer(401, {"error": "bad signature"})
            if s.fail_next > 0:
                s.fail_next -= 1
                s.failed += 1
                return self.answer(s.fail_status, {"error": "try again"})
            body = json.loads(raw)
            body["_event_id_header"] = self.headers.get("X-Treaty-Event-Id")
            s.deliveries.append(body)
        return self.answer(200, {"ok": True})


def serve(secret, port=0):
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, client_address: None  # a client killed mid-request
    srv.lock = threading.Lock()
    srv.secret = secret.encode() if isinstance(secret, str) else secret
    srv.deliveries, srv.bad, srv.failed, srv.fail_next, srv.fail_status = [], 0, 0, 0, 503
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
