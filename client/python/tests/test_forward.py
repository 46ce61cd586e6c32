"""Forward mode against the real agent and the fake exchange
(internal/fakeexchange): the agent sends the request itself, over TLS to
the venue's real host name (dialled at the fake's address, verified
against the fake's CA), and the client gets the venue's response."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import unittest

import keyward
from keyward import wire
from keyward.aio import AsyncClient
from tests.harness import Agent, FakeExchange, RecordingProxy, closed_port

# Made up for the tests: not keys to any account.
ALPACA_KEY = "PKFAKEALPACAKEY00001"
ALPACA_SECRET = "fake-alpaca-secret-for-tests-only"
BINANCE_KEY = "fake-binance-api-key-for-tests-only"
BINANCE_SECRET = "fake-binance-secret-for-tests-only"

ALPACA = "https://paper-api.alpaca.markets"
BINANCE = "https://api.binance.com"
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ALPACA_ORDER = json.dumps({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit",
                           "limit_price": "150.25", "time_in_force": "day"})
BINANCE_ORDER = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=10000"


class ForwardTestCase(unittest.TestCase):
    """One fake exchange that knows an Alpaca paper key and a Binance key,
    and one agent holding them (alpaca, binance), a Binance credential with
    the wrong secret (binance-wrong) and one whose venue address is a
    closed port (binance-down)."""

    @classmethod
    def setUpClass(cls) -> None:
        perms = {"read": True, "trade": True, "withdraw": False, "transfer": False}
        cls.fx = FakeExchange([
            {"venue": "alpaca", "api_key": ALPACA_KEY, "secret": ALPACA_SECRET, "permissions": perms},
            {"venue": "binance", "api_key": BINANCE_KEY, "secret": BINANCE_SECRET, "permissions": perms},
        ])
        cls.agent = Agent()
        cls.agent.unlock()
        meta = cls.fx.meta()
        cls.agent.add("alpaca", "alpaca", ALPACA_KEY, ALPACA_SECRET, meta)
        cls.agent.add("binance", "binance", BINANCE_KEY, BINANCE_SECRET, meta)
        cls.agent.add("binance-wrong", "binance", BINANCE_KEY, "not-the-secret-the-venue-knows", meta)
        cls.agent.add("binance-down", "binance", BINANCE_KEY, BINANCE_SECRET,
                      {"connect_to": "127.0.0.1:%d" % closed_port(), "ca_file": cls.fx.ca_file})

    @classmethod
    def tearDownClass(cls) -> None:
        cls.agent.stop()
        cls.fx.stop()

    def client(self, path: str = "") -> keyward.Client:
        kw = keyward.Client(path or self.agent.sock)
        self.addCleanup(kw.close)
        return kw

    def last_seen(self, path: str) -> dict:
        seen = [s for s in self.fx.seen() if s["path"] == path]
        self.assertTrue(seen, "the fake exchange saw no authenticated request to %s:\n%s" % (path, self.fx.logs()))
        return seen[-1]


class ForwardTest(ForwardTestCase):
    def test_hello_marks_forward_only_schemes(self) -> None:
        schemes = {s["name"]: s for s in self.client().hello()["schemes"]}
        self.assertTrue(schemes["alpaca"].get("forward_only"))
        self.assertEqual(["forward"], schemes["alpaca"]["operations"])
        self.assertFalse(schemes["binance"].get("forward_only", False))
        self.assertIn("forward", schemes["binance"]["operations"])

    def test_alpaca_order_is_forwarded_authenticated(self) -> None:
        r = self.client().forward("alpaca", "POST", ALPACA + "/v2/orders", JSON, ALPACA_ORDER)
        self.assertIsInstance(r, keyward.ForwardResponse)
        self.assertEqual(200, r.status, r.text)
        self.assertTrue(r.ok)
        self.assertIsInstance(r.body, bytes)
        order = r.json()
        self.assertEqual(("AAPL", "accepted", "150.25"), (order["symbol"], order["status"], order["limit_price"]))
        self.assertEqual("application/json", r.header("content-type"))
        self.assertEqual(r.headers["Content-Type"], r.header("CONTENT-TYPE"))
        seen = self.last_seen("/v2/orders")
        self.assertEqual(("alpaca", "POST", "paper-api.alpaca.markets", ALPACA_KEY, "true", "200"),
                         (seen["venue"], seen["method"], seen["host"], seen["api_key"], seen["verified"], seen["status"]))

    def test_binance_order_is_forwarded_signed(self) -> None:
        r = self.client().forward("binance", "post", BINANCE + "/api/v3/order", FORM, BINANCE_ORDER.encode())
        self.assertEqual(200, r.status, r.text)
        order = r.json()
        self.assertEqual(("BTCUSDT", "NEW", "BUY"), (order["symbol"], order["status"], order["side"]))
        seen = self.last_seen("/api/v3/order")
        self.assertEqual(("binance", BINANCE_KEY, "true", "200"), (seen["venue"], seen["api_key"], seen["verified"], seen["status"]))

    def test_a_venue_error_is_a_response(self) -> None:
        kw = self.client()
        r = kw.forward("binance-wrong", "POST", BINANCE + "/api/v3/order", FORM, BINANCE_ORDER)
        self.assertEqual(400, r.status)
        self.assertFalse(r.ok)
        self.assertEqual(-1022, r.json()["code"], "the venue refused the signature made with the wrong secret")
        self.assertEqual("false", self.last_seen("/api/v3/order")["verified"])
        r = kw.forward("binance", "GET", BINANCE + "/api/v3/no-such-endpoint")
        self.assertEqual(404, r.status)
        self.assertEqual(-1000, r.json()["code"])
        r = kw.forward("alpaca", "POST", ALPACA + "/v2/orders", JSON, "{not json")
        self.assertEqual(422, r.status)
        self.assertIn("JSON", r.json()["message"])

    def test_sign_with_a_forward_only_credential(self) -> None:
        with self.assertRaises(keyward.ForwardOnlyError) as cm:
            self.client().sign("alpaca", "POST", ALPACA + "/v2/orders", JSON, ALPACA_ORDER)
        self.assertEqual("forward_only", cm.exception.code)
        self.assertIsInstance(cm.exception, keyward.KeywardError)
        self.assertIn("forward", str(cm.exception))
        self.assertNotIn(ALPACA_SECRET, str(cm.exception))

    def test_an_unreachable_venue_is_an_upstream_error(self) -> None:
        with self.assertRaises(keyward.UpstreamError) as cm:
            self.client().forward("binance-down", "POST", BINANCE + "/api/v3/order", FORM, BINANCE_ORDER)
        self.assertEqual("upstream", cm.exception.code)
        self.assertNotIn(BINANCE_SECRET, str(cm.exception))

    def test_the_timeout_goes_to_the_agent(self) -> None:
        kw = self.client()
        start = time.monotonic()
        with self.assertRaises(keyward.UpstreamError) as cm:
            kw.forward("alpaca", "GET", ALPACA + "/__fake/slow?ms=20000", timeout=0.5)
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, 5, "the agent stopped waiting for the venue after timeout_ms")
        self.assertIn("500ms", str(cm.exception))
        r = kw.forward("alpaca", "GET", ALPACA + "/__fake/slow?ms=10", timeout=10)
        self.assertEqual({"slept_ms": 10}, r.json())

    def test_other_agent_errors_stay_typed(self) -> None:
        kw = self.client()
        with self.assertRaises(keyward.UnknownCredentialError):
            kw.forward("nosuch", "GET", ALPACA + "/v2/account")
        with self.assertRaises(keyward.DeniedError):
            kw.forward("alpaca", "GET", BINANCE + "/api/v3/account")
        with self.assertRaises(keyward.BadRequestError):
            kw.forward("alpaca", "GET", "http://paper-api.alpaca.markets/v2/account")
        with self.assertRaises(keyward.BadRequestError):
            kw.forward("", "GET", ALPACA + "/v2/account")
        with self.assertRaises(keyward.BadRequestError):
            kw.forward("alpaca", "GET", ALPACA + "/v2/account", timeout=0)

    def test_asyncio_forward(self) -> None:
        async def scenario() -> None:
            async with AsyncClient(self.agent.sock) as kw:
                rs = await asyncio.gather(*(kw.forward("alpaca", "POST", ALPACA + "/v2/orders", JSON, ALPACA_ORDER)
                                            for _ in range(5)))
                self.assertEqual([200] * 5, [r.status for r in rs])
                self.assertEqual(5, len({r.json()["id"] for r in rs}), "five distinct orders")
                r = await kw.forward("binance", "POST", BINANCE + "/api/v3/order", FORM, BINANCE_ORDER, timeout=10)
                self.assertEqual("NEW", r.json()["status"])
                with self.assertRaises(keyward.ForwardOnlyError):
                    await kw.sign("alpaca", "GET", ALPACA + "/v2/account")
                with self.assertRaises(keyward.UpstreamError):
                    await kw.forward("binance-down", "GET", BINANCE + "/api/v3/account")

        asyncio.run(scenario())


class NothingSecretCrossesTheSocketTest(ForwardTestCase):
    def test_the_bot_side_of_the_socket_never_carries_a_secret(self) -> None:
        proxy = RecordingProxy(self.agent.sock)
        self.addCleanup(proxy.stop)
        kw = self.client(proxy.sock)
        kw.hello()
        kw.list()
        r = kw.forward("alpaca", "POST", ALPACA + "/v2/orders", JSON, ALPACA_ORDER)
        self.assertEqual(200, r.status, r.text)
        r = kw.forward("alpaca", "GET", ALPACA + "/v2/account")
        self.assertEqual(200, r.status, r.text)
        r = kw.forward("binance", "POST", BINANCE + "/api/v3/order", FORM, BINANCE_ORDER)
        self.assertEqual(200, r.status, r.text)
        r = kw.forward("binance", "GET", BINANCE + "/api/v3/account")
        self.assertEqual(200, r.status, r.text)
        kw.close()

        stream = proxy.recorded()
        # The recording is real: the requests and the venue's answers are in it.
        self.assertIn(b'"op":"forward"', proxy.sent)
        self.assertIn(b"150.25", proxy.sent)
        self.assertIn(b'\\"status\\":\\"accepted\\"', proxy.received)
        self.assertIn(b"BTCUSDT", proxy.received)
        self.assertIn(ALPACA_KEY.encode(), proxy.received, "hello and list may name the key id, which is public")
        for secret in (ALPACA_SECRET, BINANCE_SECRET):
            for form in (secret.encode(), base64.b64encode(secret.encode()), secret.encode().hex().encode()):
                self.assertNotIn(form, stream)
        self.assertNotIn(b"signature=", stream)
        self.assertNotIn(b"APCA-API-SECRET-KEY", stream.upper())
        # Binance's signature is 64 hex digits (HMAC-SHA256): none crossed.
        self.assertIsNone(re.search(rb"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])", stream))
        # ...while the venue did receive authenticated requests.
        seen = [(s["path"], s["verified"]) for s in self.fx.seen()]
        for path in ("/v2/orders", "/v2/account", "/api/v3/order", "/api/v3/account"):
            self.assertIn((path, "true"), seen)


class ForwardResponseTest(unittest.TestCase):
    """Decoding the forward result, without an agent."""

    def test_utf8_and_base64_bodies(self) -> None:
        r = wire.ForwardResponse.from_result({"status": 200, "headers": {"Content-Type": "text/plain; charset=utf-8"}, "body": "h\u00e9"})
        self.assertEqual("h\u00e9".encode(), r.body)
        self.assertEqual("h\u00e9", r.text)
        raw = bytes(range(256))
        r = wire.ForwardResponse.from_result({"status": 201, "body": base64.b64encode(raw).decode(), "body_encoding": "base64"})
        self.assertEqual(raw, r.body)
        self.assertEqual({}, r.headers)
        r = wire.ForwardResponse.from_result({"status": 204})
        self.assertEqual((204, b"", ""), (r.status, r.body, r.text))
        r = wire.ForwardResponse.from_result({"status": 200, "headers": {"Content-Type": "text/plain; charset=latin-1"}, "body": base64.b64encode(b"caf\xe9").decode(), "body_encoding": "base64"})
        self.assertEqual("caf\u00e9", r.text)
        self.assertEqual([1, {"a": None}], wire.ForwardResponse.from_result({"status": 200, "body": '[1,{"a":null}]'}).json())

    def test_malformed_results(self) -> None:
        for bad in ({}, {"status": "200"}, {"status": True}, {"status": 200, "body": "!!", "body_encoding": "base64"},
                    {"status": 200, "body": "x", "body_encoding": "gzip"}, {"status": 200, "headers": {"A": 1}}, []):
            with self.assertRaises(keyward.ProtocolError, msg=repr(bad)):
                wire.ForwardResponse.from_result(bad)

    def test_forward_args(self) -> None:
        args = wire.forward_args("c", "post", "https://x/y", {"A": "b"}, b"k=v", 2.5)
        self.assertEqual({"credential": "c", "method": "POST", "url": "https://x/y", "headers": {"A": "b"},
                          "body": "k=v", "timeout_ms": 2500}, args)
        self.assertNotIn("timeout_ms", wire.forward_args("c", "GET", "https://x/y"))
        self.assertEqual(1, wire.forward_args("c", "GET", "https://x/y", timeout=0.0001)["timeout_ms"])

    def test_error_codes(self) -> None:
        from keyward.errors import error_from_wire

        e = error_from_wire({"code": "forward_only", "message": "use forward"})
        self.assertIs(type(e), keyward.ForwardOnlyError)
        e = error_from_wire({"code": "upstream", "message": "unreachable"})
        self.assertIs(type(e), keyward.UpstreamError)
        self.assertEqual("upstream", e.code)
        self.assertIs(keyward.CODES["forward_only"], keyward.ForwardOnlyError)


if __name__ == "__main__":
    unittest.main()
