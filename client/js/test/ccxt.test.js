// keyward.ccxt against the real ccxt package (pinned in package-lock.json),
// the real agent and the fake Binance venue.

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';

import ccxt from 'ccxt';

import keyward, { BadRequestError, Client, LockedError, PLACEHOLDER_API_KEY, UnsupportedError } from '../src/index.js';
import { Agent, FakeVenue, REPO, TEST_API_KEY, TEST_SECRET, runNode, verifyBinance } from './harness.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The fake venue's log of signed requests, read trusting its certificate. */
function venueRequests(venue) {
  return new Promise((resolve, reject) => {
    https.get(`${venue.url}/fakevenue/requests`, { ca: readFileSync(venue.cert) }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

describe('keyward.ccxt with binance', () => {
  let agent;
  let venue;
  before(async () => {
    agent = await Agent.start();
    agent.unlock();
    agent.addBinance('venue', TEST_API_KEY, TEST_SECRET, ['127.0.0.1']);
    agent.addBinance('binance-testnet', TEST_API_KEY, TEST_SECRET, ['127.0.0.1']); // the example bot's default
    venue = await FakeVenue.start();
  });
  after(async () => {
    await venue?.stop();
    await agent?.stop();
  });

  test('a hooked exchange sends exactly what ccxt with the secret would, and the venue verifies it', async () => {
    const r = await runNode(path.join(HERE, 'fixtures', 'ccxt-scenario.mjs'), [], {
      ...process.env,
      KEYWARD_SOCK: agent.sock,
      KEYWARD_CREDENTIAL: 'venue',
      VENUE_URL: venue.url,
      REFERENCE_API_KEY: TEST_API_KEY,
      REFERENCE_SECRET: TEST_SECRET,
      NODE_EXTRA_CA_CERTS: venue.cert,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(TEST_SECRET) && !r.stderr.includes(TEST_SECRET), 'no secret in the output');
    const report = JSON.parse(r.stdout);
    assert.equal(report.error, undefined, report.error);
    assert.equal(report.hookedSecretIsPlaceholder, true, 'the bot never loads the secret');
    assert.deepEqual(report.calls.map((c) => c.name), ['loadMarkets', 'fetchBalance', 'createOrder', 'fetchOpenOrders', 'cancelOrder']);

    const privateRequests = [];
    for (const call of report.calls) {
      assert.ok(call.hooked.length >= 1, `${call.name} sent nothing`);
      // The whole request, byte for byte: URL (parameter order, timestamp,
      // recvWindow, signature), method, headers and body.
      assert.deepStrictEqual(call.hooked, call.reference, `${call.name}: hooked and reference requests differ`);
      assert.deepStrictEqual(call.hookedResult, call.referenceResult, `${call.name}: results differ`);
      for (const req of call.hooked) {
        assert.ok(!JSON.stringify(req).includes('keyward-placeholder'), `${call.name}: a placeholder reached the wire`);
        if (req.headers['X-MBX-APIKEY'] !== undefined) privateRequests.push({ call: call.name, req });
      }
    }
    assert.deepEqual(privateRequests.map((p) => p.call), ['fetchBalance', 'createOrder', 'fetchOpenOrders', 'cancelOrder']);
    for (const { call, req } of privateRequests) {
      assert.equal(req.headers['X-MBX-APIKEY'], TEST_API_KEY, call);
      assert.ok(verifyBinance(TEST_SECRET, req), `${call}: signature does not verify`);
    }
    const create = privateRequests[1].req;
    assert.equal(create.method, 'POST');
    assert.match(create.body, /^timestamp=\d{13}&symbol=BTCUSDT&side=BUY&newClientOrderId=x-TKT5PX2FkeywardTestUuid22chars&.*&recvWindow=10000&signature=[0-9a-f]{64}$/,
      'ccxt parameter order is kept: timestamp first, recvWindow last, then the signature');

    const order = report.calls[2].hookedResult;
    assert.equal(order.status, 'open');
    assert.equal(report.calls[4].hookedResult.status, 'canceled');
    assert.deepEqual(report.calls[3].hookedResult, [order.id]);

    // The venue saw the four private calls, each verified with its own HMAC.
    assert.deepEqual(
      report.venueSaw.map((s) => `${s.method} ${s.path} ${s.verified} ${s.status} ${s.api_key}`),
      [
        `GET /api/v3/account true 200 ${TEST_API_KEY}`,
        `POST /api/v3/order true 200 ${TEST_API_KEY}`,
        `GET /api/v3/openOrders true 200 ${TEST_API_KEY}`,
        `DELETE /api/v3/order true 200 ${TEST_API_KEY}`,
      ],
    );
  });

  test('the example bot (examples/js) places and cancels an order through the agent', async () => {
    // As a user installs it: `keyward` and `ccxt` resolved from node_modules.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kwjs-bot-'));
    try {
      mkdirSync(path.join(dir, 'node_modules'));
      symlinkSync(path.resolve(HERE, '..'), path.join(dir, 'node_modules', 'keyward'));
      symlinkSync(path.resolve(HERE, '..', 'node_modules', 'ccxt'), path.join(dir, 'node_modules', 'ccxt'));
      copyFileSync(path.join(REPO, 'examples', 'js', 'bot.mjs'), path.join(dir, 'bot.mjs'));
      const before = (await venueRequests(venue)).length;
      const r = await runNode(path.join(dir, 'bot.mjs'), [], {
        ...process.env,
        KEYWARD_SOCK: agent.sock,
        KEYWARD_EXAMPLE_BASE_URL: venue.url,
        NODE_EXTRA_CA_CERTS: venue.cert,
      });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const placed = /^placed order (\d+): open$/m.exec(r.stdout);
      assert.ok(placed, r.stdout);
      assert.match(r.stdout, new RegExp(`^open orders on BTC/USDT: .*\\b${placed[1]}\\b`, 'm'));
      assert.match(r.stdout, new RegExp(`^cancelled order ${placed[1]}: canceled$`, 'm'));
      const seen = (await venueRequests(venue)).slice(before);
      assert.deepEqual(seen.map((s) => `${s.method} ${s.path} ${s.verified}`), [
        'POST /api/v3/order true',
        'GET /api/v3/openOrders true',
        'DELETE /api/v3/order true',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a locked agent stops a private call before anything is sent', async () => {
    const ex = new ccxt.binance({ options: { fetchCurrencies: false } });
    ex.urls.api = { ...ex.urls.api, private: `${venue.url}/api/v3` };
    const sent = [];
    ex.fetch = async (url) => {
      sent.push(url);
      throw new Error('nothing may be sent');
    };
    keyward.ccxt(ex, { credential: 'venue', socket: agent.sock });
    agent.cli(['lock']);
    try {
      await assert.rejects(ex.privateGetAccount(), (e) => {
        assert.ok(e instanceof LockedError, String(e));
        assert.equal(e.message, 'the agent is locked: run `keyward unlock`');
        return true;
      });
      assert.deepEqual(sent, []);
    } finally {
      agent.unlock();
    }
  });

  test('public requests pass through without the agent', async () => {
    const ex = new ccxt.binance();
    const sent = [];
    ex.fetch = async (url, method, headers, body) => {
      sent.push({ url, method, headers, body });
      return { serverTime: 1 };
    };
    // No agent at this socket: a public call must not need one.
    keyward.ccxt(ex, { credential: 'venue', socket: path.join(os.tmpdir(), 'keyward-no-agent-here.sock') });
    await ex.publicGetTime();
    assert.equal(sent.length, 1);
    assert.equal(sent[0].url, 'https://api.binance.com/api/v3/time');
    assert.ok(!JSON.stringify(sent[0]).includes(PLACEHOLDER_API_KEY));
  });

  test('hooking refuses what would defeat it', () => {
    assert.throws(() => keyward.ccxt(new ccxt.binance({ secret: 'a-real-secret-in-the-bot' }), { credential: 'venue' }),
      (e) => e instanceof BadRequestError && /real secret/.test(e.message) && !e.message.includes('a-real-secret-in-the-bot'));
    assert.throws(() => keyward.ccxt(new ccxt.binance(), {}), BadRequestError);
    assert.throws(() => keyward.ccxt({}, { credential: 'venue' }), BadRequestError);
    assert.throws(() => keyward.ccxt(new ccxt.poloniex(), { credential: 'venue' }), (e) => e instanceof UnsupportedError && /poloniex/.test(e.message));
    const ex = keyward.ccxt(new ccxt.binance(), { credential: 'venue', client: new Client(agent.sock) });
    assert.throws(() => keyward.ccxt(ex, { credential: 'venue' }), BadRequestError);
  });
});
