#!/usr/bin/env python3
"""A small Binance Spot bot that never holds its API secret.

It reads the price of a symbol, places a limit BUY well below it (so it
rests and does not fill), lists its open orders and cancels the order.
Every private request is signed by the keyward agent with the credential
named in KEYWARD_CREDENTIAL; only the standard library and the keyward
package are used.

    KEYWARD_CREDENTIAL=binance-testnet python3 examples/python/bot.py

Environment:
    KEYWARD_SOCK             the agent's socket (default: the standard location)
    KEYWARD_CREDENTIAL       credential to sign with (default binance-testnet)
    KEYWARD_EXAMPLE_BASE_URL venue base URL (default https://testnet.binance.vision)
    KEYWARD_EXAMPLE_SYMBOL   symbol to trade (default BTCUSDT)
    KEYWARD_EXAMPLE_CAFILE   extra CA certificate to trust (the tests' fake venue)
"""

import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import keyward

BASE = os.environ.get("KEYWARD_EXAMPLE_BASE_URL", "https://testnet.binance.vision").rstrip("/")
CREDENTIAL = os.environ.get("KEYWARD_CREDENTIAL", "binance-testnet")
SYMBOL = os.environ.get("KEYWARD_EXAMPLE_SYMBOL", "BTCUSDT")
TLS = ssl.create_default_context(cafile=os.environ.get("KEYWARD_EXAMPLE_CAFILE") or None)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def send(method, url, headers=None, body=""):
    req = urllib.request.Request(url, data=body.encode() if body else None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=TLS, timeout=15) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        sys.exit("bot: %s %s: HTTP %d: %s" % (method, url.split("?")[0], e.code, e.read().decode(errors="replace")))


def signed(kw, method, path, params=None, body=None):
    """Signs through the agent and sends; params go in the query, body as a form."""
    url = BASE + path + ("?" + urllib.parse.urlencode(params) if params else "")
    form = urllib.parse.urlencode(body) if body else ""
    s = kw.sign(CREDENTIAL, method, url, FORM if form else None, form)
    return send(s.method, s.url, s.headers, s.body)


def main():
    kw = keyward.Client()
    try:
        kw.status()
    except keyward.AgentUnreachableError as e:
        sys.exit("bot: %s" % e)

    info = send("GET", BASE + "/api/v3/exchangeInfo?symbol=" + SYMBOL)
    filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
    tick = Decimal(filters["PRICE_FILTER"]["tickSize"]).normalize()
    step = Decimal(filters["LOT_SIZE"]["stepSize"]).normalize()
    min_notional = Decimal((filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}).get("minNotional", "10"))

    last = Decimal(send("GET", BASE + "/api/v3/ticker/price?symbol=" + SYMBOL)["price"])
    price = (last * Decimal("0.8")).quantize(tick, rounding=ROUND_DOWN)
    qty = (min_notional * 2 / price).quantize(step, rounding=ROUND_UP)
    print("%s last price %s; placing a limit BUY of %s at %s" % (SYMBOL, last, qty, price))

    try:
        order = signed(kw, "POST", "/api/v3/order", body={
            "symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": str(qty), "price": str(price),
        })
        print("placed order %s: %s" % (order["orderId"], order["status"]))
        open_ids = [o["orderId"] for o in signed(kw, "GET", "/api/v3/openOrders", {"symbol": SYMBOL})]
        print("open orders on %s: %s" % (SYMBOL, open_ids))
        cancelled = signed(kw, "DELETE", "/api/v3/order", {"symbol": SYMBOL, "orderId": order["orderId"]})
        print("cancelled order %s: %s" % (cancelled["orderId"], cancelled["status"]))
    except keyward.LockedError as e:
        sys.exit("bot: %s" % e)  # "the agent is locked: run `keyward unlock`"
    except keyward.KeywardError as e:
        sys.exit("bot: keyward refused (%s): %s" % (e.code, e))
    finally:
        kw.close()


if __name__ == "__main__":
    main()
