"""proxy.py — a userspace TCP proxy on every directed peer link, faults switched at run time.

Every treaty node dials every peer and sends its own frames only on the connection it dialed
(node/net.h), so a directed link A->B is exactly the set of TCP connections A opened to B. The
proxy for B listens on B's address in the genesis; it learns A from the connection's source
address (each node has its own address) and forwards to B's real listen address.

Faults of one directed link (LinkFaults), applied to both byte directions of its connections:
- blocked: open connections are reset and new ones are accepted and reset at once (a partition
  as a peer sees it across a firewall that rejects, so the dialer retries with its backoff);
- delay_ms +- jitter_ms: each chunk read is held until now + delay + uniform(-jitter, +jitter),
  never before the chunk before it (TCP keeps order, so jitter reorders nothing);
- loss: TCP hides packet loss behind retransmission, so loss is emulated at the stream level:
  each chunk, with probability `loss`, stalls its direction for a retransmission timeout
  (200-1000 ms, as an RTO after a lost segment), and with probability `loss` / 10 the connection
  is reset (as after repeated losses a middlebox or the peer gives up).
The proxy runs on its own asyncio loop in a thread; the scheduler changes faults from other
threads through set_link(), which takes effect at the next chunk (blocking resets at once).
"""
import asyncio
import random
import socket
import struct
import threading
import time


class LinkFaults:
    def __init__(self):
        self.blocked = False
        self.delay_ms = 0.0
        self.jitter_ms = 0.0
        self.loss = 0.0

    def clean(self):
        return not self.blocked and self.delay_ms == 0 and self.loss == 0


def _reset(writer):
    """Closes with RST (SO_LINGER 0), as a dropped connection looks to the peer."""
    try:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    except (OSError, RuntimeError, AttributeError):
        pass


class ProxySet:
    """nodes: list of (name, source_host, genesis_host, genesis_port, real_host, real_port).
    source_host is the address a node's outbound connections come from."""

    def __init__(self, nodes, seed):
        self.nodes = nodes
        self.by_source = {n[1]: n[0] for n in nodes if n[1] is not None}
        # without distinct sources (loopback mode) a link is "every link into dst"
        self.wildcard = not self.by_source
        if self.wildcard:
            self.links = {("*", b[0]): LinkFaults() for b in nodes}
        else:
            self.links = {(a[0], b[0]): LinkFaults() for a in nodes for b in nodes if a is not b}
        self.conns = {k: set() for k in self.links}
        self.rng = random.Random(seed ^ 0x5eed)
        self.stats = {"accepted": 0, "refused": 0, "resets": 0, "stalls": 0,
                      "unknown_or_self_source": 0}
        self.loop = asyncio.new_event_loop()
        self.servers = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()
        self.error = None

    # ---- control, from any thread ----
    def start(self, timeout=10.0):
        self.thread.start()
        if not self.ready.wait(timeout) or self.error:
            raise RuntimeError("proxies did not start: %s" % self.error)

    def set_link(self, src, dst, blocked=None, delay_ms=None, jitter_ms=None, loss=None):
        if self.wildcard:
            src = "*"
        f = self.links[(src, dst)]
        if delay_ms is not None:
            f.delay_ms, f.jitter_ms = float(delay_ms), float(jitter_ms or 0)
        if loss is not None:
            f.loss = float(loss)
        if blocked is not None:
            f.blocked = bool(blocked)
            if blocked:
                self.loop.call_soon_threadsafe(self._reset_link, (src, dst))

    def heal(self):
        for (src, dst) in self.links:
            self.set_link(src, dst, blocked=False, delay_ms=0, jitter_ms=0, loss=0)

    def stop(self):
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    # ---- the loop ----
    def _run(self):
        asyncio.set_event_loop(self.loop)
        try:
            for (name, _src, ghost, gport, rhost, rport) in self.nodes:
                srv = self.loop.run_until_complete(asyncio.start_server(
                    lambda r, w, d=name, h=rhost, p=rport: self._accept(r, w, d, h, p),
                    host=ghost, port=gport, reuse_address=True))
                self.servers.append(srv)
        except OSError as e:
            self.error = str(e)
            self.ready.set()
            return
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            for s in self.servers:
                s.close()
            for conns in self.conns.values():
                for w in list(conns):
                    _reset(w)
            self.loop.run_until_complete(asyncio.sleep(0))
            self.loop.close()

    def _reset_link(self, key):
        for w in list(self.conns[key]):
            _reset(w)
            self.stats["resets"] += 1

    async def _accept(self, reader, writer, dst, host, port):
        peer = writer.get_extra_info("peername")
        src = "*" if self.wildcard else self.by_source.get(peer[0] if peer else None)
        if src is None or src == dst:
            self.stats["unknown_or_self_source"] += 1
            _reset(writer)
            return
        key = (src, dst)
        if self.links[key].blocked:
            self.stats["refused"] += 1
            _reset(writer)
            return
        try:
            ur, uw = await asyncio.wait_for(asyncio.open_connection(host, port), 5.0)
        except (OSError, asyncio.TimeoutError):
            _reset(writer)
            return
        self.stats["accepted"] += 1
        conns = self.conns[key]
        conns.add(writer)
        conns.add(uw)
        try:
            await asyncio.gather(self._pump(reader, uw, key, writer),
                                 self._pump(ur, writer, key, uw), return_exceptions=True)
        finally:
            conns.discard(writer)
            conns.discard(uw)
            _reset(writer)
            _reset(uw)

    @staticmethod
    async def _send(queue, writer):
        """Writes each chunk at its release time; at the end of the stream, a half-close."""
        while True:
            item = await queue.get()
            if item is None:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            release, data = item
            wait = release - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    async def _pump(self, reader, writer, key, other):
        """Copies reader to writer through the link's faults. The end of the stream is passed on
        after the bytes before it (as TCP does); a fault (block, emulated reset) or an error
        resets both sides at once, losing what was in flight."""
        f = self.links[key]
        last_release = 0.0
        queue = asyncio.Queue()
        sender = asyncio.ensure_future(self._send(queue, writer))
        abort = False
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if f.blocked or sender.done():
                    abort = True
                    break
                now = time.monotonic()
                hold = 0.0
                if f.delay_ms > 0:
                    hold = max(0.0, f.delay_ms + self.rng.uniform(-f.jitter_ms, f.jitter_ms)) / 1e3
                if f.loss > 0:
                    r = self.rng.random()
                    if r < f.loss / 10:
                        self.stats["resets"] += 1
                        abort = True
                        break
                    if r < f.loss:
                        self.stats["stalls"] += 1
                        hold += self.rng.uniform(0.2, 1.0)
                last_release = max(now + hold, last_release)
                queue.put_nowait((last_release, data))
        except (OSError, ConnectionError):
            abort = True
        if not abort:
            queue.put_nowait(None)
            try:
                await asyncio.wait_for(sender, 30.0)
                return
            except (OSError, ConnectionError, asyncio.TimeoutError):
                pass
        sender.cancel()
        _reset(writer)
        _reset(other)
