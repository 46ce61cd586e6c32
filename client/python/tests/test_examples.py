"""The example bots (examples/) run end to end against the fake venue
through a real agent: place, list and cancel an order, each request
verified by the venue. The Go bot runs when EXAMPLE_GO_BIN names its
binary (make test-python builds it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unittest

from tests.harness import REPO, TEST_API_KEY, TEST_SECRET, Agent, FakeVenue


class ExampleBotsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.agent = Agent()
        cls.agent.unlock()
        # The examples' default credential name.
        cls.agent.add_binance("binance-testnet", TEST_API_KEY, TEST_SECRET, hosts=["127.0.0.1"])
        cls.venue = FakeVenue()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.venue.stop()
        cls.agent.stop()

    def env(self) -> dict:
        return dict(
            os.environ,
            KEYWARD_SOCK=self.agent.sock,
            KEYWARD_EXAMPLE_BASE_URL=self.venue.url,
            KEYWARD_EXAMPLE_CAFILE=self.venue.cert,
            PYTHONPATH=os.path.join(REPO, "client", "python"),
        )

    def check_run(self, argv: list) -> None:
        before = len(self.venue.requests_seen())
        p = subprocess.run(argv, env=self.env(), capture_output=True, text=True, timeout=120)
        self.assertEqual(0, p.returncode, p.stderr)
        self.assertNotIn(TEST_SECRET, p.stdout + p.stderr)
        placed = re.search(r"^placed order (\d+): NEW$", p.stdout, re.M)
        self.assertIsNotNone(placed, p.stdout)
        self.assertRegex(p.stdout, r"open orders on BTCUSDT: .*\b%s\b" % placed.group(1))
        self.assertRegex(p.stdout, r"(?m)^cancelled order %s: CANCELED$" % placed.group(1))
        seen = self.venue.requests_seen()[before:]
        self.assertEqual(["POST /api/v3/order", "GET /api/v3/openOrders", "DELETE /api/v3/order"],
                         ["%s %s" % (s["method"], s["path"]) for s in seen])
        self.assertTrue(all(s["verified"] and s["api_key"] == TEST_API_KEY for s in seen), seen)

    def test_python_bot(self) -> None:
        self.check_run([sys.executable, os.path.join(REPO, "examples", "python", "bot.py")])

    @unittest.skipUnless(os.environ.get("EXAMPLE_GO_BIN"), "EXAMPLE_GO_BIN is not set (make test-python sets it)")
    def test_go_bot(self) -> None:
        self.check_run([os.environ["EXAMPLE_GO_BIN"]])

    def test_python_bot_says_what_to_do_when_the_agent_is_locked(self) -> None:
        self.agent.cli("lock")
        try:
            p = subprocess.run([sys.executable, os.path.join(REPO, "examples", "python", "bot.py")],
                               env=self.env(), capture_output=True, text=True, timeout=120)
        finally:
            self.agent.unlock()
        self.assertEqual(1, p.returncode)
        self.assertIn("the agent is locked: run `keyward unlock`", p.stderr)


if __name__ == "__main__":
    unittest.main()
