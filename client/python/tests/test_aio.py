"""keyward.aio.AsyncClient against a real agent."""

from __future__ import annotations

import asyncio
import unittest

import keyward
from keyward.aio import AsyncClient
from tests.harness import TEST_API_KEY, TEST_SECRET, Agent
from tests.test_client import verify_binance


class AsyncClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.agent = Agent()
        cls.agent.unlock()
        cls.agent.add_binance("venue", TEST_API_KEY, TEST_SECRET)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.agent.stop()

    def test_operations_and_typed_errors(self) -> None:
        async def scenario() -> None:
            async with AsyncClient(self.agent.sock) as kw:
                h = await kw.hello()
                self.assertEqual(1, h["version"])
                self.assertFalse((await kw.status())["locked"])
                self.assertEqual(["venue"], [c["name"] for c in await kw.list()])
                s = await kw.sign("venue", "GET", "https://api.binance.com/api/v3/account")
                self.assertTrue(verify_binance(TEST_SECRET, s))
                self.assertEqual(TEST_API_KEY, s.headers["X-MBX-APIKEY"])
                with self.assertRaises(keyward.UnknownCredentialError):
                    await kw.sign("nosuch", "GET", "https://api.binance.com/api/v3/account")
                with self.assertRaises(keyward.DeniedError):
                    await kw.sign("venue", "GET", "https://example.com/api/v3/account")
                with self.assertRaises(keyward.DeniedError):
                    await kw.forward("venue", "GET", "https://example.com/api/v3/account")
            with self.assertRaises(keyward.ClientClosedError):
                await kw.status()

        asyncio.run(scenario())

    def test_many_tasks_pipelined_on_one_connection(self) -> None:
        async def scenario() -> None:
            async with AsyncClient(self.agent.sock) as kw:
                await kw.status()
                conn = kw._cur
                urls = ["https://api.binance.com/api/v3/order?symbol=BTCUSDT&orderId=%d" % i for i in range(400)]
                signed = await asyncio.gather(*(kw.sign("venue", "GET", u) for u in urls))
                for i, s in enumerate(signed):
                    self.assertIn("orderId=%d&" % i, s.url)
                    self.assertTrue(verify_binance(TEST_SECRET, s))
                self.assertIs(conn, kw._cur)

        asyncio.run(scenario())

    def test_unreachable(self) -> None:
        async def scenario() -> None:
            with self.assertRaises(keyward.AgentUnreachableError):
                await AsyncClient(self.agent.sock + ".nothing").status()

        asyncio.run(scenario())

    def test_redials_after_the_agent_restarts(self) -> None:
        agent = Agent()
        self.addCleanup(agent.stop)

        async def scenario() -> None:
            async with AsyncClient(agent.sock) as kw:
                self.assertTrue((await kw.status())["locked"])
                agent.stop(keep=True)
                with self.assertRaises((keyward.ConnectionLostError, keyward.AgentUnreachableError)):
                    await kw.status()
                agent.start()
                with self.assertRaises(keyward.LockedError):
                    await kw.sign("venue", "GET", "https://api.binance.com/api/v3/account")

        asyncio.run(scenario())


if __name__ == "__main__":
    unittest.main()
