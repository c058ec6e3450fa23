"""test_lostwrites.py — the lost-writes shim (lostwrites.c, lostwrites.py) on its own.

  python3 test_lostwrites.py SHIM LMDB_HELPER

1. A child process under the shim writes files with write, pwrite, pwritev, writev, an O_DSYNC fd,
   ftruncate, O_TRUNC and a rename, fsyncing some of it; it is killed with SIGKILL. The files
   must first hold everything written (the page cache survives a SIGKILL), and after lose() exactly
   what was synced.
2. LMDB (lostwrites_lmdb.c): N durable commits, then M with MDB_NOSYNC (all lost) or
   MDB_NOMETASYNC (only the last meta page is lost: the next commit's fdatasync covers the one
   before), SIGKILL, lose: the environment opens and holds exactly the durable commits.
Exit 0 when every check holds, 1 otherwise.
"""
import os
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lostwrites  # noqa: E402

A, B = b"A" * 10000, b"b" * 10


def child(d):
    """The writes (run under the shim); prints "ready" and waits for the SIGKILL."""
    j = lambda n: os.path.join(d, n)  # noqa: E731
    fd = os.open(j("a.bin"), os.O_RDWR | os.O_CREAT, 0o600)
    os.write(fd, A)
    os.fsync(fd)
    os.pwrite(fd, b"P" * 100, 50)
    os.lseek(fd, 5000, os.SEEK_SET)
    os.writev(fd, [b"V" * 10, b"W" * 10])
    os.pwritev(fd, [b"X" * 7, b"Y" * 7], 9000)
    os.ftruncate(fd, 8000)
    dfd = os.open(j("a.bin"), os.O_WRONLY | os.O_DSYNC)
    os.pwrite(dfd, b"E" * 20, 100)  # durable at once; the rest of a.bin is not
    os.close(dfd)
    fd2 = os.open(j("b.bin"), os.O_RDWR | os.O_CREAT, 0o600)
    os.write(fd2, A)
    os.fsync(fd2)
    os.ftruncate(fd2, 10)
    os.pwrite(fd2, b"xyz", 100)  # bytes 10..100 are zeros now, not the old A
    os.fdatasync(fd2)
    os.lseek(fd2, 0, os.SEEK_END)
    os.write(fd2, b"lost")
    fd3 = os.open(j("c.bin"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd3, b"never synced")
    fd4 = os.open(j("pre.bin"), os.O_WRONLY | os.O_TRUNC)
    os.write(fd4, b"NEW")
    fd5 = os.open(j("d.tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd5, b"renamed")
    os.fsync(fd5)
    os.close(fd5)
    os.rename(j("d.tmp"), j("d.json"))
    print("ready", flush=True)
    signal.pause()


def expected():
    cache_a = bytearray(A[:8000])
    cache_a[50:150] = b"P" * 100
    cache_a[100:120] = b"E" * 20
    cache_a[5000:5020] = b"V" * 10 + b"W" * 10
    durable_a = bytearray(A)
    durable_a[100:120] = b"E" * 20
    b_sync = A[:10] + bytes(90) + b"xyz"
    return {"a.bin": (bytes(cache_a), bytes(durable_a)),
            "b.bin": (b_sync + b"lost", b_sync),
            "c.bin": (b"never synced", b""),
            "pre.bin": (b"NEW", b"OLD CONTENT"),
            "d.json": (b"renamed", b"renamed")}


def run_killed(args, env, what):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, env=dict(os.environ, **env))
    line = p.stdout.readline().strip()
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    p.stdout.close()
    if line != b"ready":
        raise AssertionError("%s did not get ready: %r (exit %s)" % (what, line, p.returncode))


def files_case(shim, bad):
    with tempfile.TemporaryDirectory(prefix="treaty-lw-") as d:
        with open(os.path.join(d, "pre.bin"), "wb") as f:
            f.write(b"OLD CONTENT")
        run_killed([sys.executable, os.path.abspath(__file__), "--child", d],
                   lostwrites.env(shim, d), "the writer")
        exp = expected()
        for name, (cache, _) in exp.items():
            got = open(os.path.join(d, name), "rb").read()
            if got != cache:
                bad.append("%s before lose: %r..., expected %r..." % (name, got[:40], cache[:40]))
        r = lostwrites.lose(d)
        print("files: " + lostwrites.describe(r))
        for name, (cache, durable) in exp.items():
            got = open(os.path.join(d, name), "rb").read()
            if got != durable:
                bad.append("%s after lose: %d bytes %r..., expected %d bytes %r..." % (
                    name, len(got), got[:40], len(durable), durable[:40]))
        if r["changed"] != 4 or r["files"] != 5:
            bad.append("lose changed %d of %d files, expected 4 of 5" % (r["changed"], r["files"]))
        left = [n for n in os.listdir(d) if n.endswith(lostwrites.SUFFIX)]
        if left or os.path.exists(os.path.join(d, "d.tmp")):
            bad.append("left behind: %s" % (left or "d.tmp"))


def lmdb_case(shim, helper, flag, n, m, expect, bad):
    with tempfile.TemporaryDirectory(prefix="treaty-lw-lmdb-") as d:
        run_killed([helper, "write", d, str(n), str(m), flag], lostwrites.env(shim, d),
                   "lostwrites-lmdb")
        before = subprocess.run([helper, "check", d], capture_output=True, text=True, timeout=30)
        r = lostwrites.lose(d)
        after = subprocess.run([helper, "check", d], capture_output=True, text=True, timeout=30)
        print("lmdb %s N=%d M=%d: before lose %s, after lose %s; %s" % (
            flag, n, m, before.stdout.split()[:1], after.stdout.split()[:1],
            lostwrites.describe(r)))
        if before.returncode != 0 or before.stdout.split() != [str(n + m)] * 2:
            bad.append("lmdb %s before lose: %r %r" % (flag, before.stdout, before.stderr))
        if after.returncode != 0:
            bad.append("lmdb %s: the environment does not open after lose: %s" % (
                flag, after.stderr.strip()))
        elif after.stdout.split() != [str(expect)] * 2:
            bad.append("lmdb %s after lose: keys/first missing %r, expected %d" % (
                flag, after.stdout.strip(), expect))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return 0
    shim, helper = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    bad = []
    files_case(shim, bad)
    lmdb_case(shim, helper, "nosync", 20, 30, 20, bad)
    lmdb_case(shim, helper, "nometasync", 20, 30, 49, bad)
    for b in bad:
        print("FAIL: " + b)
    print("%d passed, %d failed" % (0 if bad else 1, 1 if bad else 0))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
