"""keyward.Client against a real agent and the fake Binance venue."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import ssl
import tempfile
import threading
import unittest
import urllib.error
import urllib.parse
import urllib.request

import keyward
from keyward import wire
from tests.harness import TEST_API_KEY, TEST_SECRET, Agent, FakeVenue


def verify_binance(secret: str, signed: keyward.SignedRequest) -> bool:
    """This test's own HMAC check: signature=<hex HMAC-SHA256> over query + body."""
    payload = urllib.parse.urlsplit(signed.url).query + signed.body
    i = payload.rfind("&signature=")
    want = hmac.new(secret.encode(), payload[:i].encode(), hashlib.sha256).hexdigest()
    return i >= 0 and hmac.compare_digest(payload[i + len("&signature="):], want)


class AgentTestCase(unittest.TestCase):
    """One agent, unlocked, with a Binance credential `venue` that may also
    sign for 127.0.0.1 (the fake venue)."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.agent = Agent()
        cls.agent.unlock()
        cls.agent.add_binance("venue", TEST_API_KEY, TEST_SECRET, hosts=["127.0.0.1"])

    @classmethod
    def tearDownClass(cls) -> None:
        cls.agent.stop()

    def client(self) -> keyward.Client:
        kw = keyward.Client(self.agent.sock)
        self.addCleanup(kw.close)
        return kw


class ClientTest(AgentTestCase):
    def test_hello_status_list(self) -> None:
        kw = self.client()
        h = kw.hello()
        self.assertEqual(1, h["version"])
        self.assertIn("sign", h["operations"])
        self.assertIn("binance", [s["name"] for s in h["schemes"]])
        st = kw.status()
        self.assertFalse(st["locked"])
        self.assertEqual(1, st["credentials"])
        creds = kw.list()
        self.assertEqual(["venue"], [c["name"] for c in creds])
        self.assertEqual(TEST_API_KEY, creds[0]["api_key"])
        self.assertNotIn(TEST_SECRET, json.dumps(creds))

    def test_sign_is_a_valid_binance_signature(self) -> None:
        kw = self.client()
        s = kw.sign("venue", "post", "https://api.binance.com/api/v3/order",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    body=b"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=10000")
        self.assertEqual("POST", s.method)
        self.assertEqual("https://api.binance.com/api/v3/order", s.url)
        self.assertTrue(s.body.startswith("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=10000&recvWindow=5000&timestamp="), s.body)
        self.assertEqual(TEST_API_KEY, s.headers["X-MBX-APIKEY"])
        self.assertTrue(verify_binance(TEST_SECRET, s))
        self.assertFalse(verify_binance("another-secret", s), "the check itself must be able to fail")
        self.assertEqual(s.as_dict()["url"], s.url)

    def test_typed_errors(self) -> None:
        kw = self.client()
        with self.assertRaises(keyward.UnknownCredentialError) as cm:
            kw.sign("nosuch", "GET", "https://api.binance.com/api/v3/account")
        self.assertEqual("unknown_credential", cm.exception.code)
        self.assertIn("keyward list", str(cm.exception))
        with self.assertRaises(keyward.DeniedError):
            kw.sign("venue", "GET", "https://api.binance.com.evil.example/api/v3/account")
        with self.assertRaises(keyward.BadRequestError):
            kw.sign("venue", "GET", "http://api.binance.com/api/v3/account")
        with self.assertRaises(keyward.BadRequestError):
            kw.sign("", "GET", "https://api.binance.com/api/v3/account")
        with self.assertRaises(keyward.DeniedError):
            kw.forward("venue", "GET", "https://api.binance.com.evil.example/api/v3/account")
        with self.assertRaises(keyward.AlreadyUnlockedError):
            kw.unlock("whatever")
        # Every typed error is a KeywardError, and nothing in them is secret.
        self.assertTrue(issubclass(keyward.LockedError, keyward.KeywardError))
        self.assertEqual("internal", wire_error({"code": "a_future_code", "message": "m"}).__class__.code)
        self.assertEqual("a_future_code", wire_error({"code": "a_future_code", "message": "m"}).code)

    def test_unreachable(self) -> None:
        path = os.path.join(tempfile.gettempdir(), "keyward-no-agent-here.sock")
        with self.assertRaises(keyward.AgentUnreachableError) as cm:
            keyward.Client(path).status()
        self.assertIn(path, str(cm.exception))
        self.assertEqual(path, cm.exception.path)

    def test_threads_share_one_pipelined_connection(self) -> None:
        kw = self.client()
        kw.status()
        conn = kw._cur
        failures: list = []
        n_threads, per_thread = 16, 25

        def worker(t: int) -> None:
            for i in range(per_thread):
                oid = "%d-%d" % (t, i)
                try:
                    s = kw.sign("venue", "GET", "https://api.binance.com/api/v3/order?symbol=BTCUSDT&orderId=" + oid)
                except Exception as e:  # collected and reported below
                    failures.append(repr(e))
                    continue
                if ("orderId=%s&" % oid) not in s.url or not verify_binance(TEST_SECRET, s):
                    failures.append("reply for %s came back as %s" % (oid, s.url))

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual([], failures)
        self.assertIs(conn, kw._cur, "every call went over the one connection")

    def test_submit_pipelines_before_reading(self) -> None:
        kw = self.client()
        futs = [kw.submit("sign", {"credential": "venue", "method": "GET",
                                   "url": "https://api.binance.com/api/v3/order?symbol=BTCUSDT&orderId=%d" % i})
                for i in range(300)]
        for i, f in enumerate(futs):
            self.assertIn("orderId=%d&" % i, kw.wait(f)["url"])

    def test_frame_limit_is_checked_before_sending(self) -> None:
        kw = self.client()
        with self.assertRaises(keyward.BadRequestError) as cm:
            kw.sign("venue", "POST", "https://api.binance.com/api/v3/order", body="a=" + "x" * (1 << 20))
        self.assertIn("frame limit", str(cm.exception))
        self.assertFalse(kw.status()["locked"], "the connection is still usable")

    def test_close(self) -> None:
        kw = keyward.Client(self.agent.sock)
        kw.status()
        kw.close()
        with self.assertRaises(keyward.ClientClosedError):
            kw.status()

    def test_socket_path_rules(self) -> None:
        self.assertEqual("/run/keyward/agent.sock", wire.default_socket_path(0, "/run/user/0"))
        self.assertEqual("/run/user/1000/keyward/agent.sock", wire.default_socket_path(1000, "/run/user/1000"))
        old = os.environ.get("TMPDIR")
        os.environ.pop("TMPDIR", None)
        try:
            self.assertEqual("/tmp/keyward-1000/agent.sock", wire.default_socket_path(1000, ""))
        finally:
            if old is not None:
                os.environ["TMPDIR"] = old
        old_sock = os.environ.get("KEYWARD_SOCK")
        os.environ["KEYWARD_SOCK"] = "/somewhere/agent.sock"
        try:
            self.assertEqual("/somewhere/agent.sock", keyward.Client().path)
        finally:
            if old_sock is None:
                del os.environ["KEYWARD_SOCK"]
            else:
                os.environ["KEYWARD_SOCK"] = old_sock


def wire_error(err: dict) -> keyward.KeywardError:
    from keyward.errors import error_from_wire

    return error_from_wire(err)


class VenueTest(AgentTestCase):
    """Requests signed through keyward.Client and sent with urllib reach the
    fake venue, which verifies each signature with its own HMAC."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.venue = FakeVenue()
        cls.ctx = ssl.create_default_context(cafile=cls.venue.cert)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.venue.stop()
        super().tearDownClass()

    def send(self, s: keyward.SignedRequest) -> tuple:
        req = urllib.request.Request(s.url, data=s.body.encode() if s.body else None, method=s.method, headers=s.headers)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_place_and_cancel_an_order(self) -> None:
        kw = self.client()
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        status, placed = self.send(kw.sign("venue", "POST", self.venue.url + "/api/v3/order", form,
                                           "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=10000"))
        self.assertEqual(200, status, placed)
        self.assertEqual("NEW", placed["status"])
        status, open_orders = self.send(kw.sign("venue", "GET", self.venue.url + "/api/v3/openOrders?symbol=BTCUSDT"))
        self.assertEqual(200, status, open_orders)
        self.assertIn(placed["orderId"], [o["orderId"] for o in open_orders])
        status, cancelled = self.send(kw.sign("venue", "DELETE", self.venue.url + "/api/v3/order?symbol=BTCUSDT&orderId=%d" % placed["orderId"]))
        self.assertEqual(200, status, cancelled)
        self.assertEqual("CANCELED", cancelled["status"])
        status, account = self.send(kw.sign("venue", "GET", self.venue.url + "/api/v3/account"))
        self.assertEqual(200, status, account)
        self.assertIn("USDT", [b["asset"] for b in account["balances"]])

    def test_the_venue_refuses_a_tampered_request(self) -> None:
        kw = self.client()
        s = kw.sign("venue", "GET", self.venue.url + "/api/v3/openOrders?symbol=BTCUSDT")
        tampered = keyward.SignedRequest(s.method, s.url.replace("symbol=BTCUSDT", "symbol=ETHUSDT"), s.headers, s.body)
        status, body = self.send(tampered)
        self.assertEqual(401, status)
        self.assertEqual(-1022, body["code"])
        status, _ = self.send(s)
        self.assertEqual(200, status, "the untampered request verifies")


class ReconnectTest(unittest.TestCase):
    def test_redials_after_the_agent_restarts(self) -> None:
        agent = Agent()
        self.addCleanup(agent.stop)
        kw = keyward.Client(agent.sock)
        self.addCleanup(kw.close)
        self.assertTrue(kw.status()["locked"])
        agent.stop(keep=True)
        with self.assertRaises((keyward.ConnectionLostError, keyward.AgentUnreachableError)):
            kw.status()
        agent.start()
        self.assertTrue(kw.status()["locked"], "the next call dials again")
        with self.assertRaises(keyward.LockedError) as cm:
            kw.sign("venue", "GET", "https://api.binance.com/api/v3/account")
        self.assertEqual("the agent is locked: run `keyward unlock`", str(cm.exception))


if __name__ == "__main__":
    unittest.main()


class OwnerOperationsTest(unittest.TestCase):
    """unlock, add, passwd, lock and remove through the client's own methods."""

    def test_owner_operations(self) -> None:
        agent = Agent()
        self.addCleanup(agent.stop)
        with keyward.Client(agent.sock) as kw:
            with self.assertRaises(keyward.WrongPassphraseError):
                kw.unlock("not the passphrase")
            self.assertEqual({"credentials": 0}, kw.unlock(bytearray(agent.passphrase.encode())))
            info = kw.add("main", "binance", TEST_API_KEY, bytearray(TEST_SECRET.encode()), meta={"hosts": "127.0.0.1"})
            self.assertEqual("main", info["name"])
            self.assertEqual("127.0.0.1", info["meta"]["hosts"])
            with self.assertRaises(keyward.ExistsError):
                kw.add("main", "binance", TEST_API_KEY, TEST_SECRET)
            self.assertTrue(verify_binance(TEST_SECRET, kw.sign("main", "GET", "https://127.0.0.1:1/api/v3/account")))
            kw.passwd(agent.passphrase, "a new test passphrase")
            kw.lock()
            with self.assertRaises(keyward.LockedError):
                kw.sign("main", "GET", "https://api.binance.com/api/v3/account")
            with self.assertRaises(keyward.WrongPassphraseError):
                kw.unlock(agent.passphrase)
            self.assertEqual({"credentials": 1}, kw.unlock("a new test passphrase"))
            kw.remove("main")
            self.assertEqual([], kw.list())
            with self.assertRaises(keyward.UnknownCredentialError):
                kw.remove("main")
