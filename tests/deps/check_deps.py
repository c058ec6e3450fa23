#!/usr/bin/env python3
"""Checks that treaty's modules depend only downwards (docs/architecture.md):

  node -> api, connectors, consensus -> schema -> common

Two checks:
  includes  every #include in a module's sources names a header that module may use;
  purity    the undefined symbols of the consensus library (`nm -u`) are all in an allowlist, so
            the Raft core cannot reach a clock, socket, file, random source, thread or environment.

`--selftest` proves the checker has teeth: it builds small trees that break each rule and
expects every one to be reported.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

# C library headers any module may include. consensus/ gets a narrower list below.
LIBC = {
    "assert.h", "ctype.h", "errno.h", "float.h", "inttypes.h", "limits.h", "math.h", "stdarg.h",
    "stdbool.h", "stddef.h", "stdint.h", "stdio.h", "stdlib.h", "string.h", "strings.h",
    "stdalign.h", "stdnoreturn.h",
}
POSIX = {
    "unistd.h", "fcntl.h", "sys/stat.h", "sys/types.h", "dirent.h", "time.h", "sys/time.h",
    "signal.h", "sys/wait.h", "poll.h", "sys/mman.h", "sys/resource.h", "getopt.h",
}
CONSENSUS_LIBC = {"stdbool.h", "stddef.h", "stdint.h", "string.h", "limits.h", "inttypes.h",
                  "stdlib.h"}

# module -> (allowed project folders, allowed external headers as regexes)
RULES = {
    "common": ({"common"}, LIBC | POSIX, []),
    "consensus": ({"consensus", "common"}, CONSENSUS_LIBC, []),
    "schema": ({"schema", "common"}, LIBC | POSIX, [r"jansson\.h", r"pcre2\.h"]),
    "api": ({"api", "schema", "common"}, LIBC | POSIX,
            [r"jansson\.h", r"uv\.h", r"http_parser\.h"]),
    "connectors": ({"connectors", "schema", "common"}, LIBC | POSIX,
                   [r"jansson\.h", r"uv\.h", r"curl/.*\.h"]),
    "node": (None, None, None),  # the composition root may use everything
}
PROJECT_DIRS = {"common", "consensus", "schema", "api", "connectors", "node"}

# Symbols the pure core may leave undefined: memory and string functions, abort/assert, the
# common leaf's allocator hooks, assert helper and PRNG.
NM_ALLOW = [
    r"memcpy", r"memmove", r"memset", r"memcmp", r"strlen", r"strcmp", r"strncmp", r"strchr",
    r"abort", r"__assert_fail", r"__stack_chk_fail",
    r"tr_malloc", r"tr_calloc", r"tr_realloc", r"tr_alloc_free", r"tr_strdup", r"tr_strndup",
    r"tr__assert_fail", r"tr_prng_\w+", r"tr_strerror", r"tr_err_name",
    r"_GLOBAL_OFFSET_TABLE_",
    # sanitizer and coverage runtime hooks of instrumented builds
    r"__asan_\w+", r"__ubsan_\w+", r"__sanitizer_\w+", r"__tsan_\w+", r"__msan_\w+",
]
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def module_sources(root, module):
    folder = os.path.join(root, module)
    for dirpath, _, files in os.walk(folder):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.join(dirpath, f)


def check_include(module, path, header, quoted, abspath):
    allowed_dirs, libc, ext = RULES[module]
    if allowed_dirs is None:
        return None
    first = header.split("/")[0]
    if first in PROJECT_DIRS and "/" in header:
        if first not in allowed_dirs:
            return f"{path}: module {module} may not include {header} ({module} must not depend on {first})"
        return None
    if quoted and os.path.exists(os.path.join(os.path.dirname(abspath), header)):
        return None
    if header in libc or any(re.fullmatch(rx, header) for rx in ext):
        return None
    return f"{path}: module {module} may not include <{header}>"


def check_includes(root):
    errors = []
    for module in RULES:
        for path in module_sources(root, module):
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            for m in INCLUDE_RE.finditer(text):
                err = check_include(module, os.path.relpath(path, root), m.group(2), m.group(1) == '"',
                                    path)
                if err:
                    errors.append(err)
    return errors


def nm_symbols(lib, flag):
    out = subprocess.run(["nm", flag, "--format=posix", lib], check=True, capture_output=True,
                         text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if parts and not parts[0].endswith(":") and not parts[0].endswith("]:"):
            syms.add(parts[0].split("@")[0])
    return syms


def check_purity(lib):
    # An archive's objects reference each other: only what no object of it defines leaves it.
    external = nm_symbols(lib, "-u") - nm_symbols(lib, "--defined-only")
    errors = []
    for sym in sorted(external):
        if not any(re.fullmatch(rx, sym) for rx in NM_ALLOW):
            errors.append(f"{os.path.basename(lib)}: consensus references '{sym}', which is not in the purity allowlist")
    return sorted(set(errors))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


def selftest():
    cases = {
        "consensus includes libuv": ("consensus/a.c", "#include <uv.h>\n"),
        "consensus includes time.h": ("consensus/a.c", "#include <time.h>\n"),
        "consensus includes a socket header": ("consensus/a.c", "#include <sys/socket.h>\n"),
        "consensus includes pthread": ("consensus/a.c", "#include <pthread.h>\n"),
        "consensus includes libsodium": ("consensus/a.c", "#include <sodium.h>\n"),
        "consensus includes lmdb": ("consensus/a.c", "#include <lmdb.h>\n"),
        "consensus includes stdio": ("consensus/a.c", "#include <stdio.h>\n"),
        "schema includes node": ("schema/a.c", '#include "node/cli.h"\n'),
        "schema includes lmdb": ("schema/a.c", "#include <lmdb.h>\n"),
        "common includes schema": ("common/a.c", '#include "schema/schema.h"\n'),
        "api includes node": ("api/a.c", '#include "node/store.h"\n'),
        "connectors includes api": ("connectors/a.c", '#include "api/http.h"\n'),
    }
    failed = 0
    for name, (rel, text) in cases.items():
        with tempfile.TemporaryDirectory() as d:
            write(os.path.join(d, rel), text)
            if not check_includes(d):
                print(f"selftest: NOT caught: {name}")
                failed += 1
    with tempfile.TemporaryDirectory() as d:
        write(os.path.join(d, "consensus/ok.c"), '#include "consensus/raft.h"\n#include <string.h>\n')
        write(os.path.join(d, "node/ok.c"), "#include <uv.h>\n#include <lmdb.h>\n")
        errs = check_includes(d)
        if errs:
            print("selftest: false positive:", errs)
            failed += 1
        src = os.path.join(d, "bad.c")
        write(src, "#include <time.h>\nlong f(void){return (long)time(0);}\n")
        obj = os.path.join(d, "bad.o")
        lib = os.path.join(d, "libbad.a")
        subprocess.run(["cc", "-c", src, "-o", obj], check=True)
        subprocess.run(["ar", "rcs", lib, obj], check=True)
        if not any("'time'" in e for e in check_purity(lib)):
            print("selftest: NOT caught: consensus library calling time()")
            failed += 1
    total = len(cases) + 2
    print(f"deps selftest: {total - failed} passed, {failed} failed")
    return failed == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", help="source tree")
    ap.add_argument("--consensus-lib", help="path of libtreaty_consensus.a for the purity check")
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args()
    if args.selftest:
        return 0 if selftest() else 1
    if not args.root:
        ap.error("--root is required")
    checks = [("includes", check_includes(args.root))]
    if args.consensus_lib:
        checks.append(("purity", check_purity(args.consensus_lib)))
    for _, errs in checks:
        for e in errs:
            print(e)
    failed = sum(1 for _, errs in checks if errs)
    print(f"deps: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
