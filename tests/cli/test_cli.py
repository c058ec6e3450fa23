#!/usr/bin/env python3
"""The `treaty` command line as a user meets it: exit codes (0 ok, 1 false/invalid, 2 usage or
unusable input, 3 runtime), one clear line per error, --help on every command, and the schema
tools on the sample schema, including hostile inputs (50 MB document, 10,000-level nesting)."""
import argparse
import hashlib
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
                     ["schema", "validate", "--help"], ["schema", "diff", "--help"],
                     ["node", "--help"], ["key", "--help"], ["key", "rotate", "--help"],
                     ["connect", "--help"]):
            rc, out, _ = run(*args)
            self.assertEqual(rc, 0, args)
            self.assertIn("usage:", out)

    def test_node_and_key_usage_errors(self):
        for args, needle in ((["node"], "--dir is required"),
                             (["node", "--dir"], "needs a value"),
                             (["node", "--dir", "x", "--bogus"], "unknown option"),
                             (["key"], "rotate"),
                             (["key", "rotate"], "--dir is required"),
                             (["connect"], "--config is required"),
                             (["connect", "--config"], "needs a value"),
                             (["connect", "--config", "x", "--bogus"], "unknown option"),
                             (["connect", "--config", "/nonexistent/c.json"], "c.json")):
            rc, _, err = run(*args)
            self.assertEqual(rc, 2, args)
            self.assertIn(needle, err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)

    def test_node_refuses_a_missing_directory(self):
        t = Tmp()
        rc, _, err = run("node", "--dir", os.path.join(t.dir.name, "nope"))
        self.assertEqual(rc, 2)
        self.assertIn("node.json", err)

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


def init(t, org, *extra):
    d = os.path.join(t.dir.name, org)
    rc, out, err = run("init", "--org", org, "--dir", d, *extra)
    assert rc == 0, err
    lines = dict(l.split("=", 1) for l in out.splitlines())
    return d, lines["public_key"]


class TestInit(unittest.TestCase):
    def test_help(self):
        for args in (["init", "--help"], ["network", "--help"], ["network", "create", "--help"]):
            rc, out, _ = run(*args)
            self.assertEqual(rc, 0, args)
            self.assertIn("usage:", out)

    def test_creates_key_and_config(self):
        t = Tmp()
        d = os.path.join(t.dir.name, "acme")
        rc, out, err = run("init", "--org", "acme", "--dir", d, "--peer", "127.0.0.1:7501",
                           "--api", "127.0.0.1:8501")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "org=acme")
        self.assertRegex(lines[1], r"^public_key=[0-9a-f]{64}$")
        self.assertEqual(lines[2], f"dir={d}")
        self.assertEqual(os.stat(d).st_mode & 0o777, 0o700)
        key = os.path.join(d, "node.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        with open(key) as fh:
            self.assertRegex(fh.read(), r"^[0-9a-f]{64}\n$")
        with open(os.path.join(d, "node.json")) as fh:
            cfg = json.load(fh)
        self.assertEqual((cfg["org"], cfg["peer"], cfg["api"]),
                         ("acme", "127.0.0.1:7501", "127.0.0.1:8501"))
        self.assertEqual(cfg["batch"]["max_txs"], 256)
        self.assertEqual(cfg["limits"]["frame_max_bytes"], 16777216)

    def test_defaults(self):
        t = Tmp()
        d, _ = init(t, "globex")
        with open(os.path.join(d, "node.json")) as fh:
            cfg = json.load(fh)
        self.assertEqual((cfg["peer"], cfg["api"]), ("127.0.0.1:7401", "127.0.0.1:8401"))

    def test_refuses_overwrite(self):
        t = Tmp()
        d, _ = init(t, "acme")
        key = os.path.join(d, "node.key")
        with open(key) as fh:
            before = fh.read()
        rc, out, err = run("init", "--org", "acme", "--dir", d)
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        TestCommandLine.assert_one_line_error(self, err, key, "already exists")
        with open(key) as fh:
            self.assertEqual(fh.read(), before)
        # a leftover node.json alone also stops init before any key is written
        d2 = os.path.join(t.dir.name, "other")
        os.mkdir(d2)
        t.write("other/node.json", "{}")
        rc, _, err = run("init", "--org", "acme", "--dir", d2)
        self.assertEqual(rc, 2)
        TestCommandLine.assert_one_line_error(self, err, "node.json", "already exists")
        self.assertFalse(os.path.exists(os.path.join(d2, "node.key")))

    def test_usage_errors(self):
        t = Tmp()
        d = os.path.join(t.dir.name, "n")
        for args, needle in ((["--dir", d], "--org"), (["--org", "acme"], "--dir"),
                             (["--org", "Acme", "--dir", d], "'Acme'"),
                             (["--org", "a" * 64, "--dir", d], "not a valid name"),
                             (["--org", "acme", "--dir", d, "--peer", "127.0.0.1:0"], "--peer"),
                             (["--org", "acme", "--dir", d, "--api", "localhost"], "--api"),
                             (["--org", "acme", "--dir", d, "--bogus"], "unknown option '--bogus'"),
                             (["--org", "acme", "--dir", d, "extra"], "unexpected argument"),
                             (["--org", "acme", "--dir"], "--dir expects a value")):
            rc, out, err = run("init", *args)
            self.assertEqual(rc, 2, args)
            self.assertEqual(out, "")
            TestCommandLine.assert_one_line_error(self, err, needle)
        self.assertFalse(os.path.exists(d))

    def test_unwritable_dir_is_runtime_failure(self):
        t = Tmp()
        rc, _, err = run("init", "--org", "acme", "--dir", os.path.join(t.dir.name, "a", "b"))
        self.assertEqual(rc, 3)
        TestCommandLine.assert_one_line_error(self, err, "cannot create directory")


class TestNetworkCreate(unittest.TestCase):
    def setUp(self):
        self.t = Tmp()
        _, self.ka = init(self.t, "acme")
        _, self.kg = init(self.t, "globex", "--peer", "127.0.0.1:7402")
        self.out = os.path.join(self.t.dir.name, "genesis.json")

    def create(self, *extra, members=None, out=None):
        if members is None:
            members = [f"acme={self.ka}@127.0.0.1:7401", f"globex={self.kg}@127.0.0.1:7402"]
        args = ["network", "create", "--name", "it", "--schema", ex("supply-chain.json"),
                "--out", out or self.out]
        for m in members:
            args += ["--member", m]
        return run(*args, *extra)

    def test_writes_genesis(self):
        rc, out, err = self.create()
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"^network_id=[0-9a-f]{64}\n$")
        with open(self.out) as fh:
            doc = json.load(fh)
        self.assertEqual(doc["treaty_genesis"], 2)
        self.assertEqual(doc["name"], "it")
        with open(ex("supply-chain.json")) as fh:
            self.assertEqual(doc["schema"], json.load(fh))
        self.assertEqual(doc["members"], [
            {"org": "acme", "public_key": self.ka, "peer": "127.0.0.1:7401"},
            {"org": "globex", "public_key": self.kg, "peer": "127.0.0.1:7402"}])
        self.assertEqual(doc["timing"], {"tick_ms": 10, "heartbeat_ms": 100, "election_ms": 1000})
        self.assertEqual(doc["checkpoint"], {"every_blocks": 64, "every_ms": 5000})
        # the id is SHA-256 of the compact, sorted-key encoding (jansson's and Python's agree on
        # this document: ASCII strings, integers only)
        canon = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self.assertEqual(out.strip(), "network_id=" + hashlib.sha256(canon.encode()).hexdigest())
        # the same inputs give the same id; other timing gives another
        rc, out2, _ = self.create(out=os.path.join(self.t.dir.name, "g2.json"))
        self.assertEqual((rc, out2), (0, out))
        rc, out3, _ = self.create("--tick-ms", "5", out=os.path.join(self.t.dir.name, "g3.json"))
        self.assertEqual(rc, 0)
        self.assertNotEqual(out3, out)

    def test_timing_options(self):
        rc, _, err = self.create("--tick-ms", "20", "--heartbeat-ms", "60", "--election-ms", "600",
                                 "--checkpoint-blocks", "1", "--checkpoint-ms", "86400000")
        self.assertEqual(rc, 0, err)
        with open(self.out) as fh:
            doc = json.load(fh)
        self.assertEqual(doc["timing"], {"tick_ms": 20, "heartbeat_ms": 60, "election_ms": 600})
        self.assertEqual(doc["checkpoint"], {"every_blocks": 1, "every_ms": 86400000})

    def test_refuses_existing_out(self):
        with open(self.out, "w") as fh:
            fh.write("keep")
        rc, out, err = self.create()
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        TestCommandLine.assert_one_line_error(self, err, self.out, "already exists")
        with open(self.out) as fh:
            self.assertEqual(fh.read(), "keep")

    def test_refusals(self):
        ka, kg = self.ka, self.kg
        cases = [
            (dict(members=[f"acme={ka}@127.0.0.1:7401", f"acme={kg}@127.0.0.1:7402"]),
             "duplicate org"),
            (dict(members=[f"acme={ka}@127.0.0.1:7401", f"globex={ka}@127.0.0.1:7402"]),
             "duplicate public_key"),
            (dict(members=[f"acme={ka}@127.0.0.1:7401", f"globex={kg}@127.0.0.1:7401"]),
             "duplicate peer"),
            (dict(members=[f"Acme={ka}@127.0.0.1:7401"]), "org is not a valid name"),
            (dict(members=[f"acme={ka.upper()}@127.0.0.1:7401"]), "public key"),
            (dict(members=[f"acme={ka[:-2]}@127.0.0.1:7401"]), "public key"),
            (dict(members=["acme=" + "01" + "00" * 31 + "@127.0.0.1:7401"]), "public key"),
            (dict(members=[f"acme={ka}@127.0.0.1:0"]), "port"),
            (dict(members=[f"acme={ka}@127.0.0.1:65536"]), "port"),
            (dict(members=[f"acme={ka}@127.0.0.1"]), "HOST:PORT"),
            (dict(members=[f"acme{ka}@127.0.0.1:7401"]), "ORG=PUBHEX@HOST:PORT"),
            (dict(members=[]), "at least one --member"),
        ]
        for kw, needle in cases:
            rc, out, err = self.create(**kw)
            self.assertEqual(rc, 2, (kw, err))
            self.assertEqual(out, "")
            TestCommandLine.assert_one_line_error(self, err, needle)
        for extra, needle in ((["--heartbeat-ms", "1000"], "heartbeat_ms: must be less than"),
                              (["--heartbeat-ms", "2000"], "heartbeat_ms: must be less than"),
                              (["--heartbeat-ms", "105"], "must be a multiple"),
                              (["--election-ms", "1005"], "must be a multiple"),
                              (["--tick-ms", "1001"], "tick_ms"),
                              (["--tick-ms", "0"], "positive integer"),
                              (["--tick-ms", "-5"], "positive integer"),
                              (["--tick-ms", "ten"], "positive integer"),
                              (["--checkpoint-blocks", "1000001"], "every_blocks"),
                              (["--checkpoint-ms", "86400001"], "every_ms"),
                              (["--bogus"], "unknown option '--bogus'"),
                              (["--name"], "--name expects a value")):
            rc, out, err = self.create(*extra)
            self.assertEqual(rc, 2, (extra, err))
            TestCommandLine.assert_one_line_error(self, err, needle)
        self.assertFalse(os.path.exists(self.out))

    def test_bad_name_and_schema(self):
        for name in ("It", "1net", "a" * 64, ""):
            rc, _, err = run("network", "create", "--name", name, "--schema",
                             ex("supply-chain.json"), "--member",
                             f"acme={self.ka}@127.0.0.1:7401", "--out", self.out)
            self.assertEqual(rc, 2, name)
            TestCommandLine.assert_one_line_error(self, err, "--name")
        doc = json.load(open(ex("supply-chain.json")))
        doc["properties"]["Invoice"]["items"]["x-treaty-colour"] = "blue"
        for path, needle in ((self.t.write("bad.json", json.dumps(doc)), "x-treaty-colour"),
                             (self.t.write("nojson.json", "{"), "nojson.json"),
                             ("/nonexistent/schema.json", "/nonexistent/schema.json")):
            rc, _, err = run("network", "create", "--name", "it", "--schema", path, "--member",
                             f"acme={self.ka}@127.0.0.1:7401", "--out", self.out)
            self.assertEqual(rc, 2, path)
            TestCommandLine.assert_one_line_error(self, err, needle)
        self.assertFalse(os.path.exists(self.out))

    def test_member_limit(self):
        keys = []
        for i in range(33):
            _, k = init(self.t, f"o{i}")
            keys.append(k)
        members = [f"o{i}={keys[i]}@127.0.0.1:{9000 + i}" for i in range(32)]
        rc, _, err = self.create(members=members)
        self.assertEqual(rc, 0, err)
        rc, _, err = self.create(members=members + [f"o32={keys[32]}@127.0.0.1:9032"],
                                 out=os.path.join(self.t.dir.name, "g33.json"))
        self.assertEqual(rc, 2)
        TestCommandLine.assert_one_line_error(self, err, "at most 32")

    def test_subcommand(self):
        rc, _, _ = run("network")
        self.assertEqual(rc, 2)
        rc, _, err = run("network", "destroy")
        self.assertEqual(rc, 2)
        TestCommandLine.assert_one_line_error(self, err, "unknown subcommand 'destroy'")


class TestApikey(unittest.TestCase):
    def test_help(self):
        for args in (["apikey", "--help"], ["apikey", "create", "--help"],
                     ["apikey", "revoke", "--help"]):
            rc, out, _ = run(*args)
            self.assertEqual(rc, 0, args)
            self.assertIn("usage: treaty apikey create", out)
        rc, out, _ = run("--help")
        self.assertIn("apikey", out)

    def test_create_list_revoke(self):
        t = Tmp()
        d, _ = init(t, "acme")
        rc, out, err = run("apikey", "create", "--dir", d, "--role", "admin", "--name", "ops")
        self.assertEqual((rc, err), (0, ""))
        self.assertRegex(out, r"^trk_[0-9a-f]{16}_[0-9a-f]{64}\n$")  # the key alone, one line
        key = out.strip()
        rc, out2, _ = run("apikey", "create", "--dir", d, "--role", "reader")
        self.assertEqual(rc, 0)
        self.assertNotEqual(out2, out)
        path = os.path.join(d, "apikeys.json")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open(path) as fh:
            text = fh.read()
        doc = json.loads(text)
        self.assertNotIn(key[21:], text)  # no secret on disk
        entry = doc["keys"][0]
        self.assertEqual((entry["id"], entry["role"], entry["name"]), (key[4:20], "admin", "ops"))
        self.assertEqual(entry["sha256"], hashlib.sha256(key.encode()).hexdigest())
        self.assertRegex(entry["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        rc, out, _ = run("apikey", "list", "--dir", d)
        self.assertEqual(rc, 0)
        lines = out.splitlines()
        self.assertEqual(len(lines), 2)
        self.assertRegex(lines[0], key[4:20] + r"\s+admin\s+\S+\s+active\s+ops$")
        self.assertRegex(lines[1], r"^[0-9a-f]{16}\s+reader\s+")
        rc, out, err = run("apikey", "revoke", "--dir", d, "--id", key[4:20])
        self.assertEqual((rc, out.strip()), (0, "revoked " + key[4:20]), err)
        self.assertIn(" revoked ", run("apikey", "list", "--dir", d)[1].splitlines()[0])
        rc, _, err = run("apikey", "revoke", "--dir", d, "--id", key[4:20])
        self.assertEqual(rc, 1)
        TestCommandLine.assert_one_line_error(self, err, "already revoked")
        rc, _, err = run("apikey", "revoke", "--dir", d, "--id", "0" * 16)
        self.assertEqual(rc, 1)
        TestCommandLine.assert_one_line_error(self, err, "no key with id")
        with open(path) as fh:
            self.assertEqual(len(json.load(fh)["keys"]), 2)

    def test_usage_errors_change_nothing(self):
        t = Tmp()
        d, _ = init(t, "acme")
        for args, needle in ((["apikey"], "create, list or revoke"),
                             (["apikey", "make"], "unknown subcommand 'make'"),
                             (["apikey", "create", "--role", "admin"], "--dir is required"),
                             (["apikey", "create", "--dir", d], "--role is required"),
                             (["apikey", "create", "--dir", d, "--role", "root"],
                              "--role must be reader, writer or admin"),
                             (["apikey", "create", "--dir", d, "--role", "reader", "--name",
                               "x" * 65], "--name must be at most 64"),
                             (["apikey", "create", "--dir", d, "--role"], "missing value"),
                             (["apikey", "revoke", "--dir", d], "--id is required"),
                             (["apikey", "list", "--dir", os.path.join(d, "nope")],
                              "not a directory")):
            rc, out, err = run(*args)
            self.assertEqual(rc, 2, args)
            self.assertEqual(out, "")
            TestCommandLine.assert_one_line_error(self, err, needle)
        self.assertFalse(os.path.exists(os.path.join(d, "apikeys.json")))
        t.write("acme/apikeys.json", '{"keys": [{"id": "zz"}]}')
        rc, out, err = run("apikey", "create", "--dir", d, "--role", "reader")
        self.assertEqual((rc, out), (2, ""))
        TestCommandLine.assert_one_line_error(self, err, "apikeys.json: /keys/0: id")


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
