"""test_events_npm.py — GET /v1/events with the `eventsource` npm client, on a running network.

  python3 test_events_npm.py TREATY_BINARY SCHEMA NPM_DIR [test names...]

NPM_DIR holds node_modules installed by `npm ci` from tests/npm (the ctest fixture "npm"). On a
3-org network, `node --test` runs tests/npm/events.test.mjs against acme's node: a standard
EventSource reads the stream through a proxy that cuts it after a few events, reconnects on its
own with Last-Event-ID, and must see every change exactly once and in order.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TREATY = SCHEMA = NPM_DIR = None
NPM_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "npm")


class EventsNpmTest(unittest.TestCase):
    def setUp(self):
        if not os.path.isdir(os.path.join(NPM_DIR, "node_modules", "eventsource")):
            raise RuntimeError("%s has no node_modules/eventsource: run the npm-ci test "
                               "(ctest -R npm-ci) first" % NPM_DIR)
        self.net = harness.Network(TREATY, SCHEMA, ["acme", "globex", "initech"])
        self.net.start()
        # Under NPM_DIR, so that node resolves its node_modules and "type": "module".
        self.work = tempfile.mkdtemp(prefix="events-", dir=NPM_DIR)

    def tearDown(self):
        if harness.failed(self):
            print(self.net.logs(), file=sys.stderr)
        self.net.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def test_eventsource_reconnects_with_last_event_id(self):
        test = os.path.join(self.work, "events.test.mjs")
        shutil.copy(os.path.join(NPM_SRC, "events.test.mjs"), test)
        acme = self.net.nodes[0]
        env = dict(os.environ, TREATY_URL="http://127.0.0.1:%d" % acme.api_port,
                   TREATY_API_KEY=getattr(acme, "api_key", None) or "")
        p = subprocess.run(["node", "--test", test], cwd=self.work, env=env, capture_output=True,
                           text=True, timeout=120)
        log = p.stdout + p.stderr
        print(log)
        self.assertEqual(p.returncode, 0, log)
        self.assertIn("# pass 1", log)
        self.assertIn("# fail 0", log)


if __name__ == "__main__":
    TREATY, SCHEMA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    NPM_DIR = os.path.abspath(sys.argv[3])
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
