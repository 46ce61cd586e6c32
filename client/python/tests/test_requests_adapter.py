"""keyward.requests_adapter.KeywardAdapter: a requests Session whose
requests are signed by the real agent reaches the fake venue, which
verifies them; in forward mode (and in auto mode with a forward-only
credential) the agent sends them to the fake exchange itself. Needs
requests (Debian: python3-requests, run under /usr/bin/python3);
KEYWARD_REQUIRE_REQUESTS=1 turns a missing requests into a failure instead
of a skip."""

from __future__ import annotations

import os
import unittest

import keyward
from tests.harness import TEST_API_KEY, TEST_SECRET, Agent, FakeVenue, python_has_requests
from tests.test_forward import (
    ALPACA,
    ALPACA_KEY,
    ALPACA_SECRET,
    BINANCE,
    BINANCE_KEY,
    BINANCE_ORDER,
    BINANCE_SECRET,
    ForwardTestCase,
)

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


@unittest.skipUnless(python_has_requests(), "requests is not installed for this Python")
class ForwardAdapterTest(ForwardTestCase):
    """The adapter's modes against the fake exchange."""

    def session(self, prefix: str, credential: str, **kwargs: object):
        import requests

        from keyward.requests_adapter import KeywardAdapter

        kw = self.client()
        adapter = KeywardAdapter(credential, client=kw, **kwargs)
        s = requests.Session()
        s.trust_env = False  # nothing from the environment: the agent decides how the venue is reached
        s.mount(prefix + "/", adapter)
        self.addCleanup(s.close)
        return s, adapter

    def test_auto_mode_forwards_an_alpaca_order(self) -> None:
        s, adapter = self.session(ALPACA, "alpaca")
        self.assertEqual("auto", adapter.mode)
        self.assertFalse(adapter.forwarding)
        r = s.post(ALPACA + "/v2/orders", json={"symbol": "AAPL", "qty": "2", "side": "buy", "type": "market", "time_in_force": "day"})
        self.assertTrue(adapter.forwarding, "the agent said forward_only and the adapter remembers it")
        self.assertEqual(200, r.status_code, r.text)
        self.assertEqual("OK", r.reason)
        self.assertEqual(ALPACA + "/v2/orders", r.url)
        self.assertEqual("POST", r.request.method)
        self.assertEqual("application/json", r.headers["content-type"])
        order = r.json()
        self.assertEqual(("AAPL", "2", "accepted"), (order["symbol"], order["qty"], order["status"]))
        self.assertNotIn("APCA-API-SECRET-KEY", {k.upper() for k in r.request.headers})
        seen = self.last_seen("/v2/orders")
        self.assertEqual((ALPACA_KEY, "true"), (seen["api_key"], seen["verified"]))

        r = s.get(ALPACA + "/v2/account", timeout=(5, 10))
        self.assertEqual(200, r.status_code, r.text)
        self.assertEqual("ACTIVE", r.json()["status"])
        r = s.get(ALPACA + "/v2/account", stream=True)
        self.assertIn(b'"status":"ACTIVE"', b"".join(r.iter_content(100)))

    def test_forward_mode_sends_a_binance_order(self) -> None:
        s, adapter = self.session(BINANCE, "binance", mode="forward")
        r = s.post(BINANCE + "/api/v3/order", data=BINANCE_ORDER,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(200, r.status_code, r.text)
        self.assertEqual("NEW", r.json()["status"])
        self.assertNotIn("X-MBX-APIKEY", r.request.headers, "the bot never held the key header")
        self.assertNotIn("signature=", r.request.body)
        seen = self.last_seen("/api/v3/order")
        self.assertEqual((BINANCE_KEY, "true"), (seen["api_key"], seen["verified"]))

    def test_a_venue_error_is_a_response(self) -> None:
        import requests

        s, _ = self.session(BINANCE, "binance", mode="forward")
        r = s.get(BINANCE + "/api/v3/no-such-endpoint")
        self.assertEqual(404, r.status_code)
        self.assertEqual("Not Found", r.reason)
        self.assertEqual(-1000, r.json()["code"])
        with self.assertRaises(requests.HTTPError):
            r.raise_for_status()
        s, _ = self.session(ALPACA, "alpaca")
        r = s.post(ALPACA + "/v2/orders", data="{not json", headers={"Content-Type": "application/json"})
        self.assertEqual(422, r.status_code)

    def test_sign_mode_refuses_a_forward_only_credential(self) -> None:
        s, adapter = self.session(ALPACA, "alpaca", mode="sign")
        with self.assertRaises(keyward.ForwardOnlyError):
            s.get(ALPACA + "/v2/account")
        self.assertFalse(adapter.forwarding)

    def test_an_unreachable_venue(self) -> None:
        import requests

        from keyward.requests_adapter import UpstreamConnectionError

        s, _ = self.session(BINANCE, "binance-down", mode="forward")
        with self.assertRaises(requests.ConnectionError) as cm:
            s.post(BINANCE + "/api/v3/order", data=BINANCE_ORDER)
        self.assertIsInstance(cm.exception, UpstreamConnectionError)
        self.assertIsInstance(cm.exception, keyward.UpstreamError)
        self.assertEqual("upstream", cm.exception.code)
        self.assertEqual(BINANCE + "/api/v3/order", cm.exception.request.url)
        self.assertNotIn(BINANCE_SECRET, str(cm.exception))
        s, _ = self.session(ALPACA, "alpaca", mode="forward")
        with self.assertRaises(keyward.UpstreamError):
            s.get(ALPACA + "/__fake/slow?ms=20000", timeout=0.5)
        self.assertNotIn(ALPACA_SECRET, str(cm.exception))

    def test_a_redirect_is_followed_through_the_agent_only_to_the_credential_hosts(self) -> None:
        s, _ = self.session(ALPACA, "alpaca", mode="forward")
        r = s.get(ALPACA + "/__fake/redirect?to=/v2/account")
        self.assertEqual(200, r.status_code, r.text)
        self.assertEqual([302], [h.status_code for h in r.history])
        self.assertEqual(ALPACA + "/v2/account", r.url)
        r = s.get(ALPACA + "/__fake/redirect?to=/v2/account", allow_redirects=False)
        self.assertEqual(302, r.status_code)
        self.assertTrue(r.is_redirect)
        # Mounted for every https URL, a redirect to another host goes to the
        # agent too, which refuses a host that is not the credential's.
        s, _ = self.session("https:/", "alpaca", mode="forward")
        with self.assertRaises(keyward.DeniedError):
            s.get(ALPACA + "/__fake/redirect?to=" + BINANCE + "/api/v3/account")

    def test_a_compressed_body_is_decoded_as_requests_would(self) -> None:
        import gzip

        import requests

        from keyward.requests_adapter import KeywardAdapter, _raw_response

        req = requests.Request("GET", ALPACA + "/v2/account").prepare()
        res = keyward.ForwardResponse(200, {"Content-Encoding": "gzip", "Content-Type": "application/json",
                                            "Set-Cookie": "a=1\nb=2"}, gzip.compress(b'{"ok": true}'))
        r = KeywardAdapter("alpaca", client=self.client()).build_response(req, _raw_response(req, res))
        self.assertEqual({"ok": True}, r.json())
        self.assertEqual(["a=1", "b=2"], r.raw.headers.getlist("Set-Cookie"))

    def test_bad_mode(self) -> None:
        from keyward.requests_adapter import KeywardAdapter

        with self.assertRaises(ValueError):
            KeywardAdapter("alpaca", client=self.client(), mode="proxy")


if __name__ == "__main__":
    unittest.main()
