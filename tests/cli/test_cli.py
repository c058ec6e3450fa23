#!/usr/bin/env python3
"""The `treaty` command line as a user meets it: exit codes (0 ok, 1 false/invalid, 2 usage or
unusable input, 3 runtime), one clear line per error, --help on every command, and the schema
tools on the sample schema, including hostile inputs (50 MB document, 10,000-level nesting)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import unittest

TREATY = ""
ROOT = ""


def run(*args, stdin=None):
    p = subprocess.run([TREATY, *args], capture_output=True, text=True, input=stdin, timeout=120)
    return p.returncode, p.stdout, p.stderr


def ex(name):
    return os.path.join(ROOT, "examples", name)


class Tmp:
    def __init__(self):
        self.dir = tempfile.TemporaryDirectory()

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w") as fh:
            fh.write(text)
        return path


class TestCommandLine(unittest.TestCase):
    def assert_one_line_error(self, err, *needles):
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, f"expected one error line, got: {err!r}")
        for n in needles:
            self.assertIn(n, lines[0])

    def test_no_arguments_is_usage(self):
        rc, _, err = run()
        self.assertEqual(rc, 2)
        self.assertIn("usage: treaty", err)

    def test_help(self):
        rc, out, _ = run("--help")
        self.assertEqual(rc, 0)
        self.assertIn("usage: treaty <command>", out)
        self.assertIn("schema", out)

    def test_unknown_command(self):
        rc, out, err = run("frobnicate")
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assert_one_line_error(err, "unknown command 'frobnicate'")

    def test_unknown_option(self):
        rc, _, err = run("--bogus")
        self.assertEqual(rc, 2)
        self.assert_one_line_error(err, "unknown option '--bogus'")
        rc, _, err = run("schema", "check", ex("supply-chain.json"), "--bogus")
        self.assertEqual(rc, 2)
        self.assert_one_line_error(err, "unknown option '--bogus'")

    def test_version(self):
        rc, out, _ = run("version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^treaty \d+\.\d+\.\d+\n")
        for lib in ("jansson", "pcre2", "libuv", "lmdb", "libsodium", "protobuf-c", "libcurl",
                    "http-parser"):
            self.assertRegex(out, rf"\n  {lib} +\S*\d")
        rc, _, err = run("version", "extra")
        self.assertEqual(rc, 2)
        self.assert_one_line_error(err, "unexpected argument 'extra'")

    def test_every_command_has_help(self):
        for args in (["version", "--help"], ["schema", "--help"], ["schema", "check", "--help"],
                     ["schema", "validate", "--help"], ["schema", "diff", "--help"]):
            rc, out, _ = run(*args)
            self.assertEqual(rc, 0, args)
            self.assertIn("usage:", out)

    def test_schema_without_subcommand(self):
        rc, _, _ = run("schema")
        self.assertEqual(rc, 2)
        rc, _, err = run("schema", "lint")
        self.assertEqual(rc, 2)
        self.assert_one_line_error(err, "unknown subcommand 'lint'")


class TestSchemaCheck(unittest.TestCase):
    def test_sample_schema(self):
        rc, out, err = run("schema", "check", ex("supply-chain.json"))
        self.assertEqual(rc, 0, err)
        self.assertIn("2 record types", out)
        self.assertIn("Shipment: key shipmentId (string), indexes status,carrier", out)
        self.assertIn("Invoice: key invoiceId", out)

    def test_json_output(self):
        rc, out, _ = run("schema", "check", ex("supply-chain.json"), "--json")
        self.assertEqual(rc, 0)
        self.assertEqual(json.loads(out)["types"], ["Shipment", "Invoice"])

    def test_missing_file(self):
        rc, _, err = run("schema", "check", "/nonexistent/schema.json")
        self.assertEqual(rc, 2)
        TestCommandLine.assert_one_line_error(self, err, "/nonexistent/schema.json", "cannot open")

    def test_not_json(self):
        t = Tmp()
        p = t.write("bad.json", '{"properties": {,}}')
        rc, _, err = run("schema", "check", p)
        self.assertEqual(rc, 2)
        TestCommandLine.assert_one_line_error(self, err, "bad.json:1:", "invalid JSON")

    def test_refused_schema_names_pointer(self):
        doc = json.load(open(ex("supply-chain.json")))
        doc["properties"]["Shipment"]["items"]["required"].remove("shipmentId")
        t = Tmp()
        p = t.write("s.json", json.dumps(doc))
        rc, _, err = run("schema", "check", p)
        self.assertEqual(rc, 1)
        TestCommandLine.assert_one_line_error(self, err, "/properties/Shipment/items", "shipmentId")

    def test_schema_not_an_object(self):
        t = Tmp()
        for text in ("[]", '"schema"', "42"):
            rc, _, err = run("schema", "check", t.write("s.json", text))
            self.assertEqual(rc, 1, text)
            TestCommandLine.assert_one_line_error(self, err, "s.json")
        rc, _, err = run("schema", "validate", t.write("s2.json", "[]"), t.write("i.json", "1"))
        self.assertEqual(rc, 2)
        TestCommandLine.assert_one_line_error(self, err, "s2.json")

    def test_unknown_extension_refused(self):
        doc = json.load(open(ex("supply-chain.json")))
        doc["properties"]["Invoice"]["items"]["x-treaty-colour"] = "blue"
        t = Tmp()
        rc, _, err = run("schema", "check", t.write("s.json", json.dumps(doc)))
        self.assertEqual(rc, 1)
        TestCommandLine.assert_one_line_error(self, err, "x-treaty-colour")


class TestSchemaValidate(unittest.TestCase):
    def validate(self, *extra):
        return run("schema", "validate", ex("supply-chain.json"), "--type", "Shipment", *extra)

    def test_valid_record(self):
        rc, out, err = self.validate(ex("instances/shipment-valid.json"))
        self.assertEqual(rc, 0, out + err)
        self.assertIn("valid", out)

    def test_invalid_record_lists_every_violation(self):
        rc, out, _ = self.validate(ex("instances/shipment-invalid.json"))
        self.assertEqual(rc, 1)
        for needle in ("/shipmentId: must match pattern", "/destination:", "/status: must be one of:",
                       "/weightKg: must be > 0", "/declaredValue/currency:", "/eta:",
                       "/checkpoints/0: missing required property at",
                       "/checkpoints/0/temperatureC: must be <= 80",
                       "/: property color is not allowed"):
            self.assertIn(needle, out)

    def test_json_errors(self):
        rc, out, _ = self.validate(ex("instances/shipment-invalid.json"), "--json")
        self.assertEqual(rc, 1)
        doc = json.loads(out)
        self.assertFalse(doc["valid"])
        paths = {e["instancePath"] for e in doc["errors"]}
        self.assertIn("/weightKg", paths)
        e = next(e for e in doc["errors"] if e["instancePath"] == "/weightKg")
        self.assertTrue(e["schemaPath"].endswith("/weightKg/exclusiveMinimum"), e)

    def test_max_errors_edge(self):
        rc, out, _ = self.validate(ex("instances/shipment-invalid.json"), "--json", "--max-errors", "2")
        self.assertEqual(rc, 1)
        doc = json.loads(out)
        self.assertEqual(len(doc["errors"]), 2)
        self.assertTrue(doc["truncated"])
        rc, _, err = self.validate(ex("instances/shipment-invalid.json"), "--max-errors", "zero")
        self.assertEqual(rc, 2)

    def test_unknown_type(self):
        rc, _, err = run("schema", "validate", ex("supply-chain.json"), "--type", "Parcel",
                         ex("instances/shipment-valid.json"))
        self.assertEqual(rc, 2)
        TestCommandLine.assert_one_line_error(self, err, "no record type named 'Parcel'")

    def test_plain_draft07(self):
        t = Tmp()
        s = t.write("s.json", '{"type": "integer", "minimum": 0}')
        for inst, want in (("5", 0), ("1.0", 0), ("-1", 1), ("1.5", 1), ('"5"', 1)):
            rc, out, err = run("schema", "validate", s, t.write("i.json", inst))
            self.assertEqual(rc, want, (inst, out, err))

    def test_unusable_schema_is_2(self):
        t = Tmp()
        s = t.write("s.json", '{"type": "integer", "minimum": "zero"}')
        rc, _, err = run("schema", "validate", s, t.write("i.json", "1"))
        self.assertEqual(rc, 2)
        TestCommandLine.assert_one_line_error(self, err, "/minimum")

    def test_huge_document_refused(self):
        t = Tmp()
        path = os.path.join(t.dir.name, "big.json")
        with open(path, "w") as fh:
            fh.write('["' + "x" * (50 * 1024 * 1024) + '"]')
        rc, _, err = self.validate(path)
        self.assertEqual(rc, 2)
        TestCommandLine.assert_one_line_error(self, err, "over the limit")
        rc, _, err = self.validate(path, "--max-bytes", str(60 * 1024 * 1024))
        self.assertEqual(rc, 1)  # allowed through when the limit is raised: then just invalid

    def test_deep_instance_refused(self):
        t = Tmp()
        p = t.write("deep.json", "[" * 10000 + "]" * 10000)
        rc, _, err = self.validate(p)
        self.assertEqual(rc, 2)
        TestCommandLine.assert_one_line_error(self, err, "nesting deeper than the limit")

    def test_deep_schema_refused(self):
        t = Tmp()
        s = t.write("s.json", '{"items":' * 10000 + "{}" + "}" * 10000)
        rc, _, err = run("schema", "validate", s, t.write("i.json", "[]"))
        self.assertEqual(rc, 2)
        TestCommandLine.assert_one_line_error(self, err, "nesting deeper than the limit")

    def test_depth_limit_edge(self):
        t = Tmp()
        s = t.write("s.json", "true")
        ok = t.write("ok.json", "[" * 512 + "]" * 512)
        over = t.write("over.json", "[" * 513 + "]" * 513)
        self.assertEqual(run("schema", "validate", s, ok)[0], 0)
        self.assertEqual(run("schema", "validate", s, over)[0], 2)
        self.assertEqual(run("schema", "validate", s, over, "--max-depth", "513")[0], 0)


class TestSchemaDiff(unittest.TestCase):
    def test_compatible_evolution(self):
        rc, out, err = run("schema", "diff", ex("supply-chain.json"), ex("supply-chain-v2.json"))
        self.assertEqual(rc, 0, out + err)
        self.assertIn("compatible", out)
        self.assertNotIn("breaking ", out.replace("0 breaking", ""))

    def test_breaking_evolution(self):
        rc, out, _ = run("schema", "diff", ex("supply-chain.json"), ex("supply-chain-breaking.json"))
        self.assertEqual(rc, 1)
        self.assertIn("/properties/Invoice/items/required", out)
        self.assertIn("/properties/Shipment/items/properties/weightKg/maximum", out)
        self.assertIn("/properties/Shipment/items/properties/status/enum", out)

    def test_same_schema_no_changes(self):
        rc, out, _ = run("schema", "diff", ex("supply-chain.json"), ex("supply-chain.json"), "--json")
        self.assertEqual(rc, 0)
        self.assertEqual(json.loads(out)["changes"], [])


def main():
    global TREATY, ROOT
    ap = argparse.ArgumentParser()
    ap.add_argument("--treaty", required=True)
    ap.add_argument("--root", required=True)
    args, rest = ap.parse_known_args()
    TREATY, ROOT = args.treaty, args.root
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    print(f"cli: {result.testsRun - failed} passed, {failed} failed")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
