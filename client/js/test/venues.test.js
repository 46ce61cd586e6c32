// keyward.ccxt for every venue it hooks besides Binance (whose full story,
// over the network to the fake venue, is in ccxt.test.js): a private
// request made through a hooked ccxt exchange, signed by the real agent,
// must be exactly the request ccxt itself builds with the secret in hand,
// its clock frozen at the timestamp (or nonce) the agent chose. Nothing
// goes to the network: both exchanges' fetch is replaced by a recorder.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import ccxt from 'ccxt';

import keyward, { PLACEHOLDER_API_KEY, VENUES } from '../src/index.js';
import { Agent } from './harness.js';

const header = (r, name) => Object.entries(r.headers ?? {}).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
const msClock = (ref, ms) => {
  ref.milliseconds = () => ms;
  ref.seconds = () => Math.floor(ms / 1000);
  ref.microseconds = () => ms * 1000;
  ref.nonce = () => ms;
};

// Test credentials, made up: not keys to any account.
const CASES = [
  {
    id: 'bybit', scheme: 'bybit', secret: 'keyward-test-secret-bybit-0001',
    calls: [
      ['v5/account/wallet-balance', 'private', 'GET', { accountType: 'UNIFIED' }],
      ['v5/order/create', 'private', 'POST', { category: 'spot', symbol: 'BTCUSDT', side: 'Buy', orderType: 'Limit', qty: '0.001', price: '40000' }],
    ],
    freeze: (ref, r) => msClock(ref, Number(header(r, 'X-BAPI-TIMESTAMP'))),
  },
  {
    id: 'okx', scheme: 'okx', secret: 'keyward-test-secret-okx-0001', passphrase: 'keyward-test-passphrase-okx',
    calls: [
      ['account/balance', 'private', 'GET', { ccy: 'BTC' }],
      ['trade/order', 'private', 'POST', { instId: 'BTC-USDT', tdMode: 'cash', side: 'buy', ordType: 'limit', sz: '0.001', px: '40000' }],
    ],
    freeze: (ref, r) => msClock(ref, Date.parse(header(r, 'OK-ACCESS-TIMESTAMP'))),
  },
  {
    id: 'bitget', scheme: 'bitget', secret: 'keyward-test-secret-bitget-0001', passphrase: 'keyward-test-passphrase-bitget',
    calls: [
      ['v2/spot/account/assets', ['private', 'spot'], 'GET', { coin: 'USDT' }],
      ['v2/spot/trade/place-order', ['private', 'spot'], 'POST', { symbol: 'BTCUSDT', side: 'buy', orderType: 'limit', force: 'gtc', price: '40000', size: '0.001' }],
    ],
    freeze: (ref, r) => msClock(ref, Number(header(r, 'ACCESS-TIMESTAMP'))),
  },
  {
    id: 'kucoin', scheme: 'kucoin', secret: 'keyward-test-secret-kucoin-0001', passphrase: 'keyward-test-passphrase-kucoin',
    calls: [
      ['accounts', 'private', 'GET', { currency: 'USDT' }],
      ['orders', 'private', 'POST', { clientOid: 'keyward-test-1', side: 'buy', symbol: 'BTC-USDT', type: 'limit', price: '40000', size: '0.001' }],
    ],
    freeze: (ref, r) => msClock(ref, Number(header(r, 'KC-API-TIMESTAMP'))),
    // The agent leaves out ccxt's broker headers (their signature covers the
    // timestamp and the API key, which only the agent knows).
    agentDrops: ['KC-API-PARTNER', 'KC-API-PARTNER-SIGN', 'KC-API-PARTNER-VERIFY'],
  },
  {
    id: 'gate', scheme: 'gate', secret: 'keyward-test-secret-gate-0001',
    calls: [
      ['accounts', ['private', 'spot'], 'GET', { currency: 'USDT' }],
      ['orders', ['private', 'spot'], 'POST', { currency_pair: 'BTC_USDT', side: 'buy', amount: '0.001', price: '40000' }],
    ],
    freeze: (ref, r) => msClock(ref, Number(header(r, 'Timestamp')) * 1000),
  },
  {
    id: 'kraken', scheme: 'kraken', secret: Buffer.from('keyward-test-secret-kraken-0001-keyward-test-secret-kraken-0001-!!').subarray(0, 64).toString('base64'),
    calls: [
      ['Balance', 'private', 'POST', {}],
      ['AddOrder', 'private', 'POST', { pair: 'XBTUSD', type: 'buy', ordertype: 'limit', price: '40000', volume: '0.001' }],
    ],
    freeze: (ref, r) => {
      const nonce = Number(/(?:^|&)nonce=(\d+)/.exec(r.body)[1]);
      ref.nonce = () => nonce;
    },
  },
  {
    id: 'bitfinex', scheme: 'bitfinex', secret: 'keyward-test-secret-bitfinex-0001',
    calls: [
      ['auth/r/wallets', 'private', 'POST', {}],
      ['auth/w/order/submit', 'private', 'POST', { type: 'EXCHANGE LIMIT', symbol: 'tBTCUSD', price: '40000', amount: '0.001' }],
    ],
    freeze: (ref, r) => msClock(ref, Number(header(r, 'bfx-nonce'))),
  },
  {
    id: 'deribit', scheme: 'deribit', secret: 'keyward-test-secret-deribit-0001',
    calls: [
      ['private/get_account_summary', 'private', 'GET', { currency: 'BTC' }],
      ['private/buy', 'private', 'GET', { instrument_name: 'BTC-PERPETUAL', amount: '10', type: 'limit', price: '40000' }],
    ],
    freeze: (ref, r) => {
      const auth = header(r, 'Authorization');
      msClock(ref, Number(/ts=(\d+)/.exec(auth)[1]));
      const nonce = /nonce=([^,]+)/.exec(auth)[1];
      ref.nonce = () => nonce;
    },
  },
];

const record = (ex, sent) => {
  ex.fetch = async (url, method, headers, body) => {
    sent.push({ url, method, headers: headers ?? {}, body: body ?? '' });
    return {};
  };
};

describe('keyward.ccxt signs as ccxt would, venue by venue', () => {
  let agent;
  before(async () => {
    agent = await Agent.start();
    agent.unlock();
    for (const c of CASES) {
      agent.add({ name: c.id, scheme: c.scheme, apiKey: `keyward-test-api-key-${c.id}`, secret: c.secret, passphrase: c.passphrase });
    }
  });
  after(async () => agent?.stop());

  test('every hooked venue has a case here', () => {
    // alpaca is forward-only (the agent never signs for it): forward.test.js covers it.
    const covered = new Set(['binance', 'binanceusdm', 'binancecoinm', 'kucoinfutures', 'gateio', 'alpaca', ...CASES.map((c) => c.id)]);
    assert.deepEqual(Object.keys(VENUES).filter((id) => !covered.has(id)), []);
  });

  for (const c of CASES) {
    test(c.id, async () => {
      const hooked = new ccxt[c.id]();
      const hookedSent = [];
      record(hooked, hookedSent);
      keyward.ccxt(hooked, { credential: c.id, socket: agent.sock });
      const reference = new ccxt[c.id]({ apiKey: `keyward-test-api-key-${c.id}`, secret: c.secret, password: c.passphrase });
      const referenceSent = [];
      record(reference, referenceSent);

      for (const [path, api, method, params] of c.calls) {
        await hooked.request(path, api, method, { ...params });
        const got = hookedSent.at(-1);
        c.freeze(reference, got);
        await reference.request(path, api, method, { ...params });
        const want = { ...referenceSent.at(-1) };
        want.headers = Object.fromEntries(Object.entries(want.headers).filter(([k]) => !(c.agentDrops ?? []).includes(k)));
        assert.ok(!JSON.stringify(got).includes(PLACEHOLDER_API_KEY), `${path}: the placeholder key reached the request`);
        assert.deepStrictEqual(got, want, `${c.id} ${method} ${path}`);
      }
      assert.equal(hookedSent.length, c.calls.length);
    });
  }
});
