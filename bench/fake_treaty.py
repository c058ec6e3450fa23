#!/usr/bin/env python3
"""A stand-in for the `treaty` binary with just the surface bench_network.py uses, so its
selftest can walk the whole benchmark (init, network create, nodes, leader wait, writes,
follower stop/restart and catch-up) without a real network. Not a model of treaty's behaviour:
acme leads, each accepted write is one block, followers copy the leader's height at 5,000
blocks/s from their start."""
import http.server
import json
import os
import re
import secrets
import sys
import threading
import time


def arg(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


def cmd_init(args):
    d, org = arg(args, "--dir"), arg(args, "--org")
    os.makedirs(d, mode=0o700)
    with open(os.path.join(d, "node.json"), "x") as fh:
        json.dump({"org": org, "peer": arg(args, "--peer", "127.0.0.1:7401"),
                   "api": arg(args, "--api", "127.0.0.1:8401")}, fh)
    print("org=%s\npublic_key=%s\ndir=%s" % (org, secrets.token_hex(32), d))
    return 0


def cmd_apikey(args):
    d = arg(args, "--dir")
    if not args or args[0] != "create" or not d or not arg(args, "--role"):
        print("fake treaty: bad apikey %r" % args, file=sys.stderr)
        return 2
    key = "trk_%s_%s" % (secrets.token_hex(8), secrets.token_hex(32))
    with open(os.path.join(d, "apikeys.json"), "w") as fh:
        json.dump({"keys": [key]}, fh)  # the stand-in keeps the key itself; treaty keeps hashes
    print(key)
    return 0


def cmd_network(args):
    out = arg(args, "--out")
    members = [args[i + 1] for i, a in enumerate(args) if a == "--member"]
    if args[0] != "create" or not out or len(members) != 3:
        print("fake treaty: bad network create %r" % args, file=sys.stderr)
        return 2
    with open(out, "x") as fh:
        json.dump({"treaty_genesis": 2, "name": arg(args, "--name"), "members": members}, fh)
    print("network_id=" + "ab" * 32)
    return 0


def cmd_node(args):
    d = arg(args, "--dir")
    with open(os.path.join(d, "node.json")) as fh:
        cfg = json.load(fh)
    shared = os.path.join(os.path.dirname(os.path.abspath(arg(args, "--genesis"))), "height")
    leader = cfg["org"] == "acme"
    with open(os.path.join(d, "apikeys.json")) as fh:
        keys = json.load(fh)["keys"]
    started = time.monotonic()
    state = {"height": 0}
    lock = threading.Lock()

    def height():
        if leader:
            return state["height"]
        try:
            with open(shared) as fh:
                h = int(fh.read() or 0)
        except OSError:
            h = 0
        return min(h, int((time.monotonic() - started) * 5000))

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def reply(self, status, doc):
            out = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def authorized(self):
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer ") and auth[7:] in keys:
                return True
            self.reply(401, {"status": 401})
            return False

        def do_GET(self):
            if not self.authorized():
                return None
            if re.fullmatch(r"/v1/data/Shipment/SHP-[0-9]{8}", self.path):
                # A stand-in: any well-formed id reads as stored (the fake keeps no records).
                return self.reply(200, {"_key": self.path.rsplit("/", 1)[1], "_version": 1})
            if self.path != "/v1/ledger/head":
                return self.reply(404, {"status": 404})
            self.reply(200, {"height": height(), "block_hash": "00" * 32, "root": "00" * 32,
                             "tree_size": height(), "node": {"role": "leader" if leader else "follower"}})

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if not self.authorized():
                return None
            if not leader or self.path != "/v1/data/Shipment":
                return self.reply(403, {"status": 403})
            doc = json.loads(body)
            with lock:
                state["height"] += 1
                with open(shared + ".tmp", "w") as fh:
                    fh.write(str(state["height"]))
                os.replace(shared + ".tmp", shared)
            self.reply(201, {"_key": doc["shipmentId"], "_version": 1})

    host, port = cfg["api"].rsplit(":", 1)
    time.sleep(0.3)  # a node takes a moment before it answers
    srv = http.server.ThreadingHTTPServer((host, int(port)), H)
    srv.daemon_threads = True
    srv.serve_forever()


def main():
    cmds = {"init": cmd_init, "apikey": cmd_apikey, "network": cmd_network, "node": cmd_node}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print("fake treaty: unknown command %r" % sys.argv[1:], file=sys.stderr)
        return 2
    return cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
