#!/usr/bin/env python3
"""`treaty codegen openapi|c` as a user meets it: help, usage errors (exit 2, one line), an
unusable schema (2, naming the JSON pointer), an unwritable --out (3), and what it writes: the
OpenAPI document (the same bytes on every run and whatever the order of the schema file's
members) and the C client's header and source."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TREATY = ""
ROOT = ""


def run(*args):
    p = subprocess.run([TREATY, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def reversed_members(v):
    if isinstance(v, dict):
        return {k: reversed_members(v[k]) for k in reversed(list(v))}
    if isinstance(v, list):
        return [reversed_members(x) for x in v]
    return v


class TestCodegen(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.schema = os.path.join(ROOT, "examples", "supply-chain.json")

    def tearDown(self):
        self.tmp.cleanup()

    def one_line(self, err, *needles):
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, err)
        for n in needles:
            self.assertIn(n, lines[0])

    def test_help(self):
        rc, out, _ = run("codegen", "--help")
        self.assertEqual(rc, 0)
        self.assertIn("treaty codegen openapi --schema FILE --out DIR", out)
        self.assertIn("treaty codegen c --schema FILE --out DIR", out)
        rc, out, _ = run("--help")
        self.assertIn("codegen", out)

    def test_usage_errors(self):
        for args, needle in ((["codegen"], "expected 'openapi' or 'c'"),
                             (["codegen", "java"], "got java"),
                             (["codegen", "c", "--schema", self.schema], "are required"),
                             (["codegen", "openapi", "--out", self.dir], "are required"),
                             (["codegen", "c", "--schema"], "--schema expects a value"),
                             (["codegen", "openapi", "--schema", self.schema, "--out", self.dir,
                               "--lang", "x"], "unknown argument '--lang'")):
            rc, out, err = run(*args)
            self.assertEqual(rc, 2, args)
            self.one_line(err, needle)
            self.assertEqual(os.listdir(self.dir), [])

    def test_unusable_schema(self):
        bad = os.path.join(self.dir, "bad.json")
        with open(bad, "w") as f:
            json.dump({"type": "object", "properties": {"T": {"type": "array", "items": {
                "type": "object", "x-treaty-key": "id",
                "properties": {"id": {"type": "string"}}}}}}, f)
        out = os.path.join(self.dir, "out")
        rc, _, err = run("codegen", "openapi", "--schema", bad, "--out", out)
        self.assertEqual(rc, 2)
        self.one_line(err, "bad.json", "/properties/T/items")
        self.assertFalse(os.path.exists(out))
        rc, _, err = run("codegen", "c", "--schema", os.path.join(self.dir, "none.json"), "--out",
                         out)
        self.assertEqual(rc, 2)
        self.one_line(err, "none.json")

    def test_unwritable_out(self):
        f = os.path.join(self.dir, "a-file")
        with open(f, "w") as fh:
            fh.write("x")
        for kind in ("openapi", "c"):
            rc, _, err = run("codegen", kind, "--schema", self.schema, "--out", f)
            self.assertEqual(rc, 3, err)
            self.one_line(err, "a-file")

    def test_openapi_same_bytes(self):
        rc, out, err = run("codegen", "openapi", "--schema", self.schema, "--out", self.dir + "/1")
        self.assertEqual(rc, 0, err)
        self.assertIn("openapi.json", out)
        with open(self.schema) as f:
            doc = json.load(f)
        rev = os.path.join(self.dir, "reversed.json")
        with open(rev, "w") as f:
            json.dump(reversed_members(doc), f)
        rc, _, err = run("codegen", "openapi", "--schema", rev, "--out", self.dir + "/2")
        self.assertEqual(rc, 0, err)
        texts = []
        for d in ("1", "2"):
            with open(os.path.join(self.dir, d, "openapi.json"), "rb") as f:
                texts.append(f.read())
        self.assertEqual(texts[0], texts[1])
        api = json.loads(texts[0])
        self.assertEqual(api["openapi"], "3.1.0")
        self.assertIn("/v1/data/Shipment/{key}", api["paths"])
        self.assertTrue(texts[0].endswith(b"}\n"))

    def test_c_client_files(self):
        rc, out, err = run("codegen", "c", "--schema", self.schema, "--out", self.dir)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(self.dir, "treaty_client.h")) as f:
            h = f.read()
        with open(os.path.join(self.dir, "treaty_client.c")) as f:
            c = f.read()
        for needle in ("struct treaty_Shipment {", "    double weightKg;", "    bool paid;",
                       "int treaty_Invoice_create(", "int treaty_Shipment_list(",
                       "struct treaty_error {"):
            self.assertIn(needle, h)
        self.assertIn("int treaty_Shipment_from_json(const json_t *j", c)
        self.assertIn('"/v1/data/Invoice/"', c)

    def test_c_client_odd_names_compile(self):
        """Names that are not C identifiers, keywords, members the struct has already, and a
        "has_" clash all become distinct identifiers; the result compiles with -Werror."""
        odd = {"type": "object", "definitions": {"Num": {"type": "integer"}},
               "properties": {
                   "line-item": {"type": "array", "items": {
                       "type": "object", "x-treaty-key": "id", "required": ["id", "2nd"],
                       "properties": {
                           "id": {"type": "integer"}, "class": {"type": "string"},
                           "weight-kg": {"type": "number"}, "2nd": {"$ref": "#/definitions/Num"},
                           "x": {"type": "boolean"}, "has_x": {"type": "boolean"},
                           "has_y": {"type": "string"}, "y": {"type": "integer"},
                           "extra": {"type": "object"}, "meta": {"type": "string"},
                           "q\"uote": {"type": "string"}}}},
                   "line_item": {"type": "array", "items": {
                       "type": "object", "x-treaty-key": "k", "required": ["k"],
                       "properties": {"k": {"type": "string"}}}}}}
        path = os.path.join(self.dir, "odd.json")
        with open(path, "w") as f:
            json.dump(odd, f)
        rc, _, err = run("codegen", "c", "--schema", path, "--out", self.dir)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(self.dir, "treaty_client.h")) as f:
            h = f.read()
        for needle in ("struct treaty_line_item {", "struct treaty_line_item_2 {", "char *class_;",
                       "double weight_kg;", "int64_t f2nd; /* required */", "bool has_x_2;", "char *has_y;", "int64_t y_2;", "bool has_y_2;",
                       "json_t *extra_;", "char *meta_;"):
            self.assertIn(needle, h)
        flags = subprocess.run(["pkg-config", "--cflags", "libcurl", "jansson"],
                               capture_output=True, text=True, check=True).stdout.split()
        cc = os.environ.get("CC") or "cc"
        p = subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-c",
                            os.path.join(self.dir, "treaty_client.c"), "-o",
                            os.path.join(self.dir, "client.o")] + flags,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        # The header is usable from C++ too (no member named like a C++ keyword).
        cxx = shutil.which("c++")
        if cxx:
            src = os.path.join(self.dir, "use.cpp")
            with open(src, "w") as f:
                f.write('extern "C" {\n#include "treaty_client.h"\n}\nint main() {'
                        ' treaty_line_item r{}; return r.class_ ? 1 : 0; }\n')
            p = subprocess.run([cxx, "-fsyntax-only", "-Wall", "-Werror", "-I", self.dir, src]
                               + flags, capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)


def main():
    global TREATY, ROOT
    ap = argparse.ArgumentParser()
    ap.add_argument("--treaty", required=True)
    ap.add_argument("--root", required=True)
    args, _ = ap.parse_known_args()
    TREATY, ROOT = args.treaty, args.root
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"cli codegen: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
