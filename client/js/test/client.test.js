// keyward's JS Client against a real agent.

import assert from 'node:assert/strict';
import path from 'node:path';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';

import keyward, {
  AgentUnreachableError,
  AlreadyUnlockedError,
  BadRequestError,
  Client,
  ClientClosedError,
  ConnectionLostError,
  DeniedError,
  KeywardError,
  LockedError,
  UnknownCredentialError,
  UnsupportedError,
  defaultSocketPath,
  errorFromWire,
  InternalError,
  ExistsError,
  WrongPassphraseError,
} from '../src/index.js';
import { Agent, TEST_API_KEY, TEST_SECRET, verifyBinance } from './harness.js';

describe('Client', () => {
  let agent;
  before(async () => {
    agent = await Agent.start();
    agent.unlock();
    agent.addBinance('venue', TEST_API_KEY, TEST_SECRET, ['127.0.0.1']);
  });
  after(async () => agent.stop());

  test('hello, status and list', async () => {
    const kw = new Client(agent.sock);
    try {
      const h = await kw.hello();
      assert.equal(h.version, 1);
      assert.ok(h.operations.includes('sign'));
      assert.ok(h.schemes.some((s) => s.name === 'binance'));
      const st = await kw.status();
      assert.equal(st.locked, false);
      assert.equal(st.credentials, 1);
      const creds = await kw.list();
      assert.deepEqual(creds.map((c) => c.name), ['venue']);
      assert.equal(creds[0].api_key, TEST_API_KEY);
      assert.ok(!JSON.stringify(creds).includes(TEST_SECRET));
    } finally {
      kw.close();
    }
  });

  test('sign returns a valid Binance signature', async () => {
    const kw = new Client(agent.sock);
    try {
      const s = await kw.sign('venue', {
        method: 'post',
        url: 'https://api.binance.com/api/v3/order',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=10000',
      });
      assert.equal(s.method, 'POST');
      assert.equal(s.url, 'https://api.binance.com/api/v3/order');
      assert.match(s.body, /^symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0\.001&price=10000&recvWindow=5000&timestamp=\d{13}&signature=[0-9a-f]{64}$/);
      assert.equal(s.headers['X-MBX-APIKEY'], TEST_API_KEY);
      assert.ok(verifyBinance(TEST_SECRET, s));
      assert.ok(!verifyBinance('another-secret', s), 'the check itself can fail');
    } finally {
      kw.close();
    }
  });

  test('typed errors', async () => {
    const kw = new Client(agent.sock);
    try {
      await assert.rejects(kw.sign('nosuch', { method: 'GET', url: 'https://api.binance.com/api/v3/account' }), (e) => {
        assert.ok(e instanceof UnknownCredentialError && e instanceof KeywardError);
        assert.equal(e.code, 'unknown_credential');
        assert.match(e.message, /keyward list/);
        return true;
      });
      await assert.rejects(kw.sign('venue', { method: 'GET', url: 'https://api.binance.com.evil.example/x' }), DeniedError);
      await assert.rejects(kw.sign('venue', { method: 'GET', url: 'http://api.binance.com/api/v3/account' }), BadRequestError);
      await assert.rejects(kw.sign('', { method: 'GET', url: 'https://api.binance.com/api/v3/account' }), BadRequestError);
      await assert.rejects(kw.forward('venue', { method: 'GET', url: 'https://api.binance.com.evil.example/x' }), DeniedError);
      await assert.rejects(kw.forward('venue', { method: 'WS', url: 'wss://stream.binance.com/ws' }), UnsupportedError);
      await assert.rejects(kw.unlock('whatever'), AlreadyUnlockedError);
      const future = errorFromWire({ code: 'a_future_code', message: 'm' });
      assert.ok(future instanceof InternalError);
      assert.equal(future.code, 'a_future_code');
      assert.equal(keyward.LockedError, LockedError, 'the default export carries the same classes');
    } finally {
      kw.close();
    }
  });

  test('many calls in flight share one connection', async () => {
    const kw = new Client(agent.sock);
    try {
      await kw.status();
      const conn = kw.cur;
      const n = 500;
      const signed = await Promise.all(
        Array.from({ length: n }, (_, i) => kw.sign('venue', { method: 'GET', url: `https://api.binance.com/api/v3/order?symbol=BTCUSDT&orderId=${i}` })),
      );
      signed.forEach((s, i) => {
        assert.ok(s.url.includes(`orderId=${i}&`), s.url);
        assert.ok(verifyBinance(TEST_SECRET, s));
      });
      assert.equal(kw.cur, conn, 'every call went over the one connection');
    } finally {
      kw.close();
    }
  });

  test('the frame limit is checked before sending', async () => {
    const kw = new Client(agent.sock);
    try {
      await assert.rejects(
        kw.sign('venue', { method: 'POST', url: 'https://api.binance.com/api/v3/order', body: 'a=' + 'x'.repeat(1 << 20) }),
        (e) => e instanceof BadRequestError && /frame limit/.test(e.message),
      );
      assert.equal((await kw.status()).locked, false, 'the connection is still usable');
    } finally {
      kw.close();
    }
  });

  test('close fails later calls', async () => {
    const kw = new Client(agent.sock);
    await kw.status();
    kw.close();
    await assert.rejects(kw.status(), ClientClosedError);
  });

  test('unreachable agent', async () => {
    const p = path.join(os.tmpdir(), 'keyward-no-agent-here.sock');
    await assert.rejects(new Client(p).status(), (e) => {
      assert.ok(e instanceof AgentUnreachableError);
      assert.equal(e.path, p);
      assert.ok(e.message.includes(p));
      return true;
    });
  });

  test('socket path rules', () => {
    assert.equal(defaultSocketPath(0, '/run/user/0'), '/run/keyward/agent.sock');
    assert.equal(defaultSocketPath(1000, '/run/user/1000'), '/run/user/1000/keyward/agent.sock');
    const old = process.env.TMPDIR;
    delete process.env.TMPDIR;
    try {
      assert.equal(defaultSocketPath(1000, ''), '/tmp/keyward-1000/agent.sock');
    } finally {
      if (old !== undefined) process.env.TMPDIR = old;
    }
    const oldSock = process.env.KEYWARD_SOCK;
    process.env.KEYWARD_SOCK = '/somewhere/agent.sock';
    try {
      assert.equal(new Client().path, '/somewhere/agent.sock');
    } finally {
      if (oldSock === undefined) delete process.env.KEYWARD_SOCK;
      else process.env.KEYWARD_SOCK = oldSock;
    }
  });
});

test('the client dials again after the agent restarts', async () => {
  const agent = await Agent.start();
  const kw = new Client(agent.sock);
  try {
    assert.equal((await kw.status()).locked, true);
    await agent.stop({ keep: true });
    await assert.rejects(kw.status(), (e) => e instanceof ConnectionLostError || e instanceof AgentUnreachableError);
    await agent.launch();
    await assert.rejects(kw.sign('venue', { method: 'GET', url: 'https://api.binance.com/api/v3/account' }), (e) => {
      assert.ok(e instanceof LockedError);
      assert.equal(e.message, 'the agent is locked: run `keyward unlock`');
      return true;
    });
  } finally {
    kw.close();
    await agent.stop();
  }
});

test('owner operations through the client', async () => {
  const agent = await Agent.start();
  const kw = new Client(agent.sock);
  try {
    await assert.rejects(kw.unlock('not the passphrase'), WrongPassphraseError);
    assert.deepEqual(await kw.unlock(Buffer.from(agent.passphrase)), { credentials: 0 });
    const info = await kw.add({ name: 'main', scheme: 'binance', apiKey: TEST_API_KEY, secret: Buffer.from(TEST_SECRET), meta: { hosts: '127.0.0.1' } });
    assert.equal(info.name, 'main');
    assert.equal(info.meta.hosts, '127.0.0.1');
    await assert.rejects(kw.add({ name: 'main', scheme: 'binance', apiKey: TEST_API_KEY, secret: TEST_SECRET }), ExistsError);
    assert.ok(verifyBinance(TEST_SECRET, await kw.sign('main', { method: 'GET', url: 'https://127.0.0.1:1/api/v3/account' })));
    await kw.passwd(agent.passphrase, 'a new test passphrase');
    await kw.lock();
    await assert.rejects(kw.sign('main', { method: 'GET', url: 'https://api.binance.com/api/v3/account' }), LockedError);
    await assert.rejects(kw.unlock(agent.passphrase), WrongPassphraseError);
    assert.deepEqual(await kw.unlock('a new test passphrase'), { credentials: 1 });
    await kw.remove('main');
    assert.deepEqual(await kw.list(), []);
    await assert.rejects(kw.remove('main'), UnknownCredentialError);
  } finally {
    kw.close();
    await agent.stop();
  }
});
