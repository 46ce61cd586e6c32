"""keyward.requests_adapter.KeywardAdapter: a requests Session whose
requests are signed by the real agent reaches the fake venue, which
verifies them. Needs requests (Debian: python3-requests, run under
/usr/bin/python3); KEYWARD_REQUIRE_REQUESTS=1 turns a missing requests
into a failure instead of a skip."""

from __future__ import annotations

import os
import unittest

import keyward
from tests.harness import TEST_API_KEY, TEST_SECRET, Agent, FakeVenue, python_has_requests

if not python_has_requests() and os.environ.get("KEYWARD_REQUIRE_REQUESTS"):
    raise RuntimeError("KEYWARD_REQUIRE_REQUESTS is set but requests is not installed (apt install python3-requests)")


@unittest.skipUnless(python_has_requests(), "requests is not installed for this Python")
class RequestsAdapterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        import requests

        from keyward.requests_adapter import KeywardAdapter

        cls.agent = Agent()
        cls.agent.unlock()
        cls.agent.add_binance("venue", TEST_API_KEY, TEST_SECRET, hosts=["127.0.0.1"])
        cls.venue = FakeVenue()
        cls.kw = keyward.Client(cls.agent.sock)
        cls.session = requests.Session()
        # Per request, since REQUESTS_CA_BUNDLE in the environment would
        # override a Session's verify.
        cls.tls = {"verify": cls.venue.cert}
        cls.session.mount(cls.venue.url + "/", KeywardAdapter("venue", client=cls.kw))

    @classmethod
    def tearDownClass(cls) -> None:
        cls.session.close()
        cls.kw.close()
        cls.venue.stop()
        cls.agent.stop()

    def test_order_lifecycle_through_the_adapter(self) -> None:
        base = self.venue.url + "/api/v3"
        r = self.session.post(base + "/order", data={"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                                                     "timeInForce": "GTC", "quantity": "0.001", "price": "99000"}, **self.tls)
        self.assertEqual(200, r.status_code, r.text)
        placed = r.json()
        self.assertEqual("NEW", placed["status"])
        self.assertEqual(TEST_API_KEY, r.request.headers["X-MBX-APIKEY"])
        self.assertEqual(str(len(r.request.body)), r.request.headers["Content-Length"])
        self.assertIn(b"&signature=", r.request.body)

        r = self.session.get(base + "/openOrders", params={"symbol": "BTCUSDT"}, **self.tls)
        self.assertEqual(200, r.status_code, r.text)
        self.assertIn(placed["orderId"], [o["orderId"] for o in r.json()])

        r = self.session.delete(base + "/order", params={"symbol": "BTCUSDT", "orderId": placed["orderId"]}, **self.tls)
        self.assertEqual(200, r.status_code, r.text)
        self.assertEqual("CANCELED", r.json()["status"])

        r = self.session.get(base + "/account", **self.tls)
        self.assertEqual(200, r.status_code, r.text)

        seen = self.venue.requests_seen()
        self.assertGreaterEqual(len(seen), 4)
        self.assertTrue(all(s["verified"] for s in seen), seen)

    def test_unmounted_requests_are_not_signed(self) -> None:
        import requests

        r = requests.get(self.venue.url + "/api/v3/account", verify=self.venue.cert)
        self.assertEqual(401, r.status_code)
        self.assertEqual(-2014, r.json()["code"], "without the adapter no key reaches the venue")

    def test_agent_errors_surface_typed(self) -> None:
        with self.assertRaises(keyward.UnknownCredentialError):
            import requests

            from keyward.requests_adapter import KeywardAdapter

            s = requests.Session()
            s.mount(self.venue.url + "/", KeywardAdapter("nosuch", client=self.kw))
            s.get(self.venue.url + "/api/v3/account", verify=self.venue.cert)


if __name__ == "__main__":
    unittest.main()
