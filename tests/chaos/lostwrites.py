"""lostwrites.py — the Python half of the lost-writes simulation (lostwrites.c is the other).

A process started with env(dir) keeps, beside each file it writes under dir, <file>.durable: the
file as a power loss would leave it (as of its last fsync). After the process is killed with
SIGKILL, lose(dir) moves every image over its file, so the next start sees only what was synced;
lose(dir, rng) keeps a random half of data.mdb's un-synced pages instead (a disk that took some
of the writes before the power went).
clear(dir) removes images left by an earlier run (after a clean stop the files are taken as they
are) and is called by env(); find_shim() locates the built library.
"""
import os

SUFFIX = ".durable"
SHIM_NAME = "libtreaty-lostwrites.so"


def find_shim(hint=None):
    """The shim's path: $TREATY_LOSTWRITES_SO, else the library beside hint (a built treaty
    binary: <build>/node/treaty -> <build>/tests/chaos/), else None."""
    p = os.environ.get("TREATY_LOSTWRITES_SO")
    if p:
        return p if os.path.exists(p) else None
    if hint:
        build = os.path.dirname(os.path.dirname(os.path.abspath(hint)))
        p = os.path.join(build, "tests", "chaos", SHIM_NAME)
        if os.path.exists(p):
            return p
    return None


def _images(d):
    for root, _, files in os.walk(d):
        for f in files:
            if f.endswith(SUFFIX):
                yield os.path.join(root, f)


def clear(d):
    """Removes every image under d; returns how many there were."""
    n = 0
    for img in _images(d):
        os.unlink(img)
        n += 1
    return n


def env(shim, d):
    """The environment variables that start a process under the shim for directory d (whose
    stale images are removed first)."""
    clear(d)
    preload = os.environ.get("LD_PRELOAD")
    return {"LD_PRELOAD": shim + (" " + preload if preload else ""),
            "TREATY_LOSTWRITES_DIR": os.path.abspath(d),
            # an ASan build checks that its runtime comes first; the shim does not need it to
            "ASAN_OPTIONS": "verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", "")}


def _diff(a, b):
    """(bytes that differ or exist in only one, 4 KiB pages touched by them) of files a and b."""
    nbytes, pages = 0, 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(4096), fb.read(4096)
            if not x and not y:
                break
            if x != y:
                pages += 1
                nbytes += abs(len(x) - len(y)) + sum(
                    1 for i in range(min(len(x), len(y))) if x[i] != y[i])
    return nbytes, pages


def _torn(path, img, rng):
    """Writes over img what a power loss may leave of path when the disk took any subset of the
    writes since the last sync: each 4 KiB page that differs is path's with probability 1/2, else
    img's (zeros past img's end). Returns the pages taken from path."""
    kept = 0
    with open(path, "rb") as fa, open(img, "r+b") as fb:
        off = 0
        while True:
            x = fa.read(4096)
            fb.seek(off)
            y = fb.read(4096)
            if not x:
                break
            if x != y and rng.random() < 0.5:
                fb.seek(off)
                fb.write(x)
                kept += 1
            elif len(y) < len(x):
                fb.seek(off)
                fb.write(y + bytes(len(x) - len(y)))
            off += len(x)
        fb.truncate(off)
    return kept


def lose(d, rng=None, torn=("data.mdb",)):
    """Replaces every file under d with its durable image (the process must be dead). With rng,
    the files named in torn keep a random half of their un-synced pages instead (_torn). Returns
    {"files": images applied, "changed": files that differed, "bytes": differing bytes,
    "pages": 4 KiB pages they touch, "per_file": {relative path: bytes}, "kept": {relative path:
    un-synced pages kept}}."""
    out = {"files": 0, "changed": 0, "bytes": 0, "pages": 0, "per_file": {}, "kept": {}}
    for img in _images(d):
        path = img[: -len(SUFFIX)]
        out["files"] += 1
        if not os.path.exists(path):
            os.unlink(img)  # unlinked after its image was made: gone for good
            continue
        if rng is not None and os.path.basename(path) in torn:
            out["kept"][os.path.relpath(path, d)] = _torn(path, img, rng)
        nbytes, pages = _diff(path, img)
        if nbytes:
            out["changed"] += 1
            out["bytes"] += nbytes
            out["pages"] += pages
            out["per_file"][os.path.relpath(path, d)] = nbytes
        os.replace(img, path)
    return out


def describe(r):
    return "%d byte(s) in %d page(s) of %d/%d file(s) lost%s%s" % (
        r["bytes"], r["pages"], r["changed"], r["files"],
        (" (" + ", ".join("%s %d" % kv for kv in sorted(r["per_file"].items())) + ")")
        if r["per_file"] else "",
        ("; un-synced pages kept: " + ", ".join("%s %d" % kv for kv in sorted(
            r.get("kept", {}).items()))) if r.get("kept") else "")
