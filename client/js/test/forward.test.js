// Forward mode against the real agent and the fake exchange
// (internal/fakeexchange): the agent sends the request itself, over TLS to
// the venue's real host name (dialled at the fake's address, verified
// against the fake's CA). Client.forward, then the ccxt hook's modes with
// the pinned ccxt. Nothing here reaches the real network.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import ccxt from 'ccxt';

import keyward, {
  BadRequestError,
  Client,
  DeniedError,
  ForwardOnlyError,
  ForwardResponse,
  KeywardError,
  PLACEHOLDER_API_KEY,
  PLACEHOLDER_SECRET,
  ProtocolError,
  UnknownCredentialError,
  UpstreamError,
  errorFromWire,
} from '../src/index.js';
import { Agent, FakeExchange, closedPort } from './harness.js';

// Made up for the tests: not keys to any account.
const ALPACA_KEY = 'PKFAKEALPACAKEYJS0001';
const ALPACA_SECRET = 'fake-alpaca-secret-for-tests-only-js';
const BINANCE_KEY = 'fake-binance-api-key-for-tests-only-js';
const BINANCE_SECRET = 'fake-binance-secret-for-tests-only-js';

const ALPACA = 'https://paper-api.alpaca.markets';
const BINANCE = 'https://api.binance.com';
const JSON_HEADERS = { 'Content-Type': 'application/json' };
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const ALPACA_ORDER = JSON.stringify({ symbol: 'AAPL', qty: '1', side: 'buy', type: 'limit', limit_price: '150.25', time_in_force: 'day' });
const BINANCE_ORDER = 'symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=10000';

describe('forward mode', () => {
  let fx;
  let agent;
  let kw;
  const lastSeen = (p) => {
    const seen = fx.seen().filter((s) => s.path === p);
    assert.ok(seen.length > 0, `the fake exchange saw no authenticated request to ${p}:\n${fx.logs()}`);
    return seen.at(-1);
  };

  before(async () => {
    const permissions = { read: true, trade: true, withdraw: false, transfer: false };
    fx = await FakeExchange.start([
      { venue: 'alpaca', api_key: ALPACA_KEY, secret: ALPACA_SECRET, permissions },
      { venue: 'binance', api_key: BINANCE_KEY, secret: BINANCE_SECRET, permissions },
    ]);
    agent = await Agent.start();
    agent.unlock();
    agent.add({ name: 'alpaca', scheme: 'alpaca', apiKey: ALPACA_KEY, secret: ALPACA_SECRET, meta: fx.meta() });
    agent.add({ name: 'alpaca-wrong', scheme: 'alpaca', apiKey: ALPACA_KEY, secret: 'not-the-secret-the-venue-knows', meta: fx.meta() });
    agent.add({ name: 'binance', scheme: 'binance', apiKey: BINANCE_KEY, secret: BINANCE_SECRET, meta: fx.meta() });
    agent.add({ name: 'binance-wrong', scheme: 'binance', apiKey: BINANCE_KEY, secret: 'not-the-secret-the-venue-knows', meta: fx.meta() });
    agent.add({
      name: 'binance-down', scheme: 'binance', apiKey: BINANCE_KEY, secret: BINANCE_SECRET,
      meta: { connect_to: `127.0.0.1:${await closedPort()}`, ca_file: fx.caFile },
    });
    kw = new Client(agent.sock);
  });
  after(async () => {
    kw?.close();
    await agent?.stop();
    await fx?.stop();
  });

  describe('Client.forward', () => {
    test('hello marks forward-only schemes', async () => {
      const schemes = Object.fromEntries((await kw.hello()).schemes.map((s) => [s.name, s]));
      assert.equal(schemes.alpaca.forward_only, true);
      assert.deepEqual(schemes.alpaca.operations, ['forward']);
      assert.ok(!schemes.binance.forward_only);
      assert.ok(schemes.binance.operations.includes('forward'));
    });

    test('an Alpaca order arrives authenticated', async () => {
      const r = await kw.forward('alpaca', { method: 'POST', url: `${ALPACA}/v2/orders`, headers: JSON_HEADERS, body: ALPACA_ORDER });
      assert.ok(r instanceof ForwardResponse);
      assert.equal(r.status, 200, r.text());
      assert.ok(r.ok);
      assert.ok(Buffer.isBuffer(r.body));
      const order = r.json();
      assert.deepEqual([order.symbol, order.status, order.limit_price], ['AAPL', 'accepted', '150.25']);
      assert.equal(r.header('content-type'), 'application/json');
      assert.equal(r.headers['Content-Type'], 'application/json');
      const seen = lastSeen('/v2/orders');
      assert.deepEqual([seen.venue, seen.method, seen.host, seen.api_key, seen.verified, seen.status],
        ['alpaca', 'POST', 'paper-api.alpaca.markets', ALPACA_KEY, 'true', '200']);
    });

    test('a Binance order is forwarded signed', async () => {
      const r = await kw.forward('binance', { method: 'post', url: `${BINANCE}/api/v3/order`, headers: FORM, body: BINANCE_ORDER });
      assert.equal(r.status, 200, r.text());
      const order = r.json();
      assert.deepEqual([order.symbol, order.status, order.side], ['BTCUSDT', 'NEW', 'BUY']);
      const seen = lastSeen('/api/v3/order');
      assert.deepEqual([seen.venue, seen.api_key, seen.verified, seen.status], ['binance', BINANCE_KEY, 'true', '200']);
    });

    test("a venue's 4xx is a response, not a rejection", async () => {
      let r = await kw.forward('binance-wrong', { method: 'POST', url: `${BINANCE}/api/v3/order`, headers: FORM, body: BINANCE_ORDER });
      assert.equal(r.status, 400);
      assert.ok(!r.ok);
      assert.equal(r.json().code, -1022, 'the venue refused the signature made with the wrong secret');
      assert.equal(lastSeen('/api/v3/order').verified, 'false');
      r = await kw.forward('binance', { method: 'GET', url: `${BINANCE}/api/v3/no-such-endpoint` });
      assert.equal(r.status, 404);
      assert.equal(r.json().code, -1000);
      r = await kw.forward('alpaca', { method: 'POST', url: `${ALPACA}/v2/orders`, headers: JSON_HEADERS, body: '{not json' });
      assert.equal(r.status, 422);
    });

    test('sign with a forward-only credential is ForwardOnlyError', async () => {
      await assert.rejects(kw.sign('alpaca', { method: 'GET', url: `${ALPACA}/v2/account` }), (e) => {
        assert.ok(e instanceof ForwardOnlyError && e instanceof KeywardError, String(e));
        assert.equal(e.code, 'forward_only');
        assert.match(e.message, /forward/);
        assert.ok(!e.message.includes(ALPACA_SECRET));
        return true;
      });
    });

    test('an unreachable venue is UpstreamError', async () => {
      await assert.rejects(kw.forward('binance-down', { method: 'POST', url: `${BINANCE}/api/v3/order`, headers: FORM, body: BINANCE_ORDER }), (e) => {
        assert.ok(e instanceof UpstreamError, String(e));
        assert.equal(e.code, 'upstream');
        assert.ok(!e.message.includes(BINANCE_SECRET));
        return true;
      });
    });

    test('the timeout goes to the agent as timeout_ms', async () => {
      const start = Date.now();
      await assert.rejects(kw.forward('alpaca', { method: 'GET', url: `${ALPACA}/__fake/slow?ms=20000` }, { timeout: 500 }), (e) => {
        assert.ok(e instanceof UpstreamError, String(e));
        assert.match(e.message, /500ms/);
        return true;
      });
      assert.ok(Date.now() - start < 5000, 'the agent stopped waiting for the venue after timeout_ms');
      const r = await kw.forward('alpaca', { method: 'GET', url: `${ALPACA}/__fake/slow?ms=10` }, { timeout: 10000 });
      assert.deepEqual(r.json(), { slept_ms: 10 });
    });

    test("the agent's other errors stay typed", async () => {
      await assert.rejects(kw.forward('nosuch', { method: 'GET', url: `${ALPACA}/v2/account` }), UnknownCredentialError);
      await assert.rejects(kw.forward('alpaca', { method: 'GET', url: `${BINANCE}/api/v3/account` }), DeniedError);
      await assert.rejects(kw.forward('alpaca', { method: 'GET', url: 'http://paper-api.alpaca.markets/v2/account' }), BadRequestError);
      await assert.rejects(kw.forward('', { method: 'GET', url: `${ALPACA}/v2/account` }), BadRequestError);
      await assert.rejects(kw.forward('alpaca', { method: 'GET', url: `${ALPACA}/v2/account` }, { timeout: -1 }), BadRequestError);
    });
  });

  describe('the ccxt hook', () => {
    const alpacaOrder = { symbol: 'AAPL', qty: '3', side: 'buy', type: 'market', time_in_force: 'day' };
    const alpacaExchange = (credential, opts = {}) => {
      const ex = new ccxt.alpaca();
      ex.setSandboxMode(true); // paper-api.alpaca.markets
      const sent = [];
      const fetch = ex.fetch;
      ex.fetch = async function recordingFetch(...args) {
        sent.push(args);
        return fetch.apply(this, args);
      };
      ex.networkFetches = sent; // below the hook: what ccxt itself would have sent
      return keyward.ccxt(ex, { credential, client: kw, ...opts });
    };

    test('auto mode: an Alpaca order is signed, refused forward_only, then forwarded', async () => {
      const ex = alpacaExchange('alpaca');
      assert.equal(ex.__keyward.mode, 'auto');
      assert.equal(ex.__keyward.forwarding, false);
      ex.enableLastJsonResponse = true;
      const order = await ex.traderPrivatePostV2Orders({ ...alpacaOrder });
      assert.equal(ex.__keyward.forwarding, true, 'the hook remembers that the credential is forward-only');
      assert.deepEqual([order.symbol, order.qty, order.status], ['AAPL', '3', 'accepted']);
      assert.deepEqual(ex.networkFetches, [], "ccxt's own fetch sent nothing: the agent did");
      assert.equal(ex.last_json_response.id, order.id, "ccxt's handleRestResponse handled the answer");
      const seen = lastSeen('/v2/orders');
      assert.deepEqual([seen.api_key, seen.verified], [ALPACA_KEY, 'true']);
      const account = await ex.traderPrivateGetV2Account();
      assert.equal(account.status, 'ACTIVE');
      assert.equal(lastSeen('/v2/account').verified, 'true');
    });

    test('a venue 4xx reaches ccxt\'s handleErrors as the status and body', async () => {
      const ex = alpacaExchange('alpaca-wrong');
      await assert.rejects(ex.traderPrivateGetV2Account(), (e) => {
        assert.ok(e instanceof ccxt.PermissionDenied, `${e.constructor.name}: ${e.message}`); // alpaca's code 40110000
        assert.match(e.message, /request is not authorized/);
        return true;
      });
      const bin = keyward.ccxt(new ccxt.binance(), { credential: 'binance-wrong', client: kw, mode: 'forward' });
      await assert.rejects(bin.privatePostOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '10000' }), (e) => {
        assert.ok(e instanceof ccxt.AuthenticationError, `${e.constructor.name}: ${e.message}`); // binance's -1022
        assert.match(e.message, /-1022/);
        return true;
      });
      bin.enableLastResponseHeaders = true;
      await assert.rejects(bin.fetch(`${BINANCE}/api/v3/no-such-endpoint?timestamp=1&signature=x`, 'GET', { 'X-MBX-APIKEY': PLACEHOLDER_API_KEY }),
        (e) => e instanceof ccxt.BaseError);
      assert.equal(bin.last_http_response.includes('-1000'), true);
      assert.equal(bin.last_response_headers['Content-Type'], 'application/json');
    });

    test('forward mode: a Binance order through ccxt', async () => {
      const ex = keyward.ccxt(new ccxt.binance(), { credential: 'binance', client: kw, mode: 'forward' });
      const sent = [];
      ex.fetch = ((hooked) => async function (url, method, headers, body) {
        sent.push({ url, method, headers, body });
        return hooked.call(this, url, method, headers, body);
      })(ex.fetch);
      const order = await ex.privatePostOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.001', price: '10000' });
      assert.deepEqual([order.symbol, order.status], ['BTCUSDT', 'NEW']);
      assert.equal(sent.length, 1);
      const seen = lastSeen('/api/v3/order');
      assert.deepEqual([seen.api_key, seen.verified], [BINANCE_KEY, 'true']);
      const account = await ex.privateGetAccount();
      assert.ok(Array.isArray(account.balances), JSON.stringify(account));
    });

    test('sign mode with a forward-only credential is ForwardOnlyError', async () => {
      const ex = alpacaExchange('alpaca', { mode: 'sign' });
      await assert.rejects(ex.traderPrivateGetV2Account(), ForwardOnlyError);
      assert.equal(ex.__keyward.forwarding, false);
      assert.deepEqual(ex.networkFetches, []);
    });

    test("an unreachable venue is ccxt's NetworkError, caused by UpstreamError", async () => {
      const ex = keyward.ccxt(new ccxt.binance(), { credential: 'binance-down', client: kw, mode: 'forward' });
      await assert.rejects(ex.privateGetAccount(), (e) => {
        assert.ok(e instanceof ccxt.NetworkError && !(e instanceof ccxt.RequestTimeout), `${e.constructor.name}: ${e.message}`);
        assert.ok(e.cause instanceof UpstreamError);
        assert.match(e.message, /^binance GET https:\/\/api\.binance\.com\/api\/v3\/account\?.* fetch failed: /);
        return true;
      });
      const slow = alpacaExchange('alpaca', { mode: 'forward' });
      slow.timeout = 500;
      await assert.rejects(slow.fetch(`${ALPACA}/__fake/slow?ms=20000`, 'GET', { 'APCA-API-KEY-ID': PLACEHOLDER_API_KEY, 'APCA-API-SECRET-KEY': PLACEHOLDER_SECRET }), (e) => {
        assert.ok(e instanceof ccxt.RequestTimeout, `${e.constructor.name}: ${e.message}`);
        assert.ok(e.cause instanceof UpstreamError);
        return true;
      });
    });

    test('forward mode refuses a proxy set on the exchange', async () => {
      const ex = alpacaExchange('alpaca', { mode: 'forward' });
      ex.httpsProxy = 'http://127.0.0.1:3128';
      await assert.rejects(ex.traderPrivateGetV2Account(), (e) => e instanceof BadRequestError && /meta proxy/.test(e.message));
    });

    test('a bad mode is refused', () => {
      assert.throws(() => keyward.ccxt(new ccxt.alpaca(), { credential: 'alpaca', mode: 'proxy' }), BadRequestError);
    });
  });
});

describe('ForwardResponse', () => {
  test('UTF-8 and base64 bodies', () => {
    let r = ForwardResponse.fromResult({ status: 200, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: 'h\u00e9' });
    assert.deepEqual(r.body, Buffer.from('h\u00e9'));
    assert.equal(r.text(), 'h\u00e9');
    const raw = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    r = ForwardResponse.fromResult({ status: 201, body: raw.toString('base64'), body_encoding: 'base64' });
    assert.deepEqual(r.body, raw);
    assert.deepEqual(r.headers, {});
    r = ForwardResponse.fromResult({ status: 204 });
    assert.deepEqual([r.status, r.body.length, r.text()], [204, 0, '']);
    r = ForwardResponse.fromResult({ status: 200, headers: { 'Content-Type': 'text/plain; charset=latin1' }, body: Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString('base64'), body_encoding: 'base64' });
    assert.equal(r.text(), 'caf\u00e9');
    assert.deepEqual(ForwardResponse.fromResult({ status: 200, body: '[1,{"a":null}]' }).json(), [1, { a: null }]);
  });

  test('malformed results', () => {
    for (const bad of [null, {}, { status: '200' }, { status: 200, body: '!!', body_encoding: 'base64' },
      { status: 200, body: 'x', body_encoding: 'gzip' }, { status: 200, headers: { A: 1 } }]) {
      assert.throws(() => ForwardResponse.fromResult(bad), ProtocolError, JSON.stringify(bad));
    }
  });

  test('error codes', () => {
    assert.ok(errorFromWire({ code: 'forward_only', message: 'use forward' }) instanceof ForwardOnlyError);
    const e = errorFromWire({ code: 'upstream', message: 'unreachable' });
    assert.ok(e instanceof UpstreamError);
    assert.equal(e.code, 'upstream');
    assert.equal(keyward.CODES.upstream, UpstreamError);
  });
});
