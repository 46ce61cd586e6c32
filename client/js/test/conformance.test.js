// The shared conformance cases (protocol/testdata/conformance/*.json), run
// through keyward's JS Client against a real agent, one fresh agent per
// file. The Go and Python clients run the same files.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { CODES, Client, KeywardError } from '../src/index.js';
import { Agent, CONFORMANCE_DIR, verifyBinance } from './harness.js';

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
const MISSING = Symbol('missing');

/** The differences between a reply and a template, as readable lines. */
export function match(tmpl, got, at = '$') {
  if (typeof tmpl === 'string' && tmpl.startsWith('$')) return matchSpecial(tmpl, got, at);
  if (got === MISSING) return [`${at}: missing, want ${JSON.stringify(tmpl)}`];
  if (Array.isArray(tmpl)) {
    if (!Array.isArray(got) || got.length !== tmpl.length) return [`${at}: want ${tmpl.length} elements, got ${JSON.stringify(got)}`];
    return tmpl.flatMap((t, i) => match(t, got[i], `${at}[${i}]`));
  }
  if (tmpl !== null && typeof tmpl === 'object') {
    const keys = Object.keys(tmpl);
    if (keys.length === 1 && keys[0] === '$all') return tmpl.$all.flatMap((t) => match(t, got, at));
    if (keys.length === 1 && keys[0] === '$some') {
      if (!Array.isArray(got)) return [`${at}: want an array, got ${JSON.stringify(got)}`];
      return got.some((g) => match(tmpl.$some, g, `${at}[*]`).length === 0) ? [] : [`${at}: no element matches ${JSON.stringify(tmpl.$some)}`];
    }
    if (got === null || typeof got !== 'object' || Array.isArray(got)) return [`${at}: want an object, got ${JSON.stringify(got)}`];
    return keys.flatMap((k) => match(tmpl[k], got[k] === undefined || got[k] === null ? MISSING : got[k], `${at}.${k}`));
  }
  return tmpl === got ? [] : [`${at}: want ${JSON.stringify(tmpl)}, got ${JSON.stringify(got)}`];
}

function matchSpecial(tmpl, got, at) {
  const bad = [`${at}: want ${tmpl}, got ${got === MISSING ? 'nothing' : JSON.stringify(got)}`];
  const ok = (cond) => (cond ? [] : bad);
  if (tmpl === '$absent') return ok(got === MISSING);
  if (got === MISSING) return bad;
  if (tmpl === '$any') return [];
  if (tmpl === '$string') return ok(typeof got === 'string');
  if (tmpl === '$nonempty') return ok(typeof got === 'string' && got !== '');
  if (tmpl === '$number') return ok(typeof got === 'number');
  if (tmpl === '$bool') return ok(typeof got === 'boolean');
  if (tmpl === '$time') return ok(typeof got === 'string' && TIME.test(got));
  if (tmpl.startsWith('$prefix:')) return ok(typeof got === 'string' && got.startsWith(tmpl.slice('$prefix:'.length)));
  if (tmpl.startsWith('$contains:')) {
    const want = tmpl.slice('$contains:'.length);
    return ok((typeof got === 'string' || Array.isArray(got)) && got.includes(want));
  }
  if (tmpl.startsWith('$regexp:')) return ok(typeof got === 'string' && new RegExp(tmpl.slice('$regexp:'.length)).test(got));
  throw new Error(`unknown template matcher ${tmpl} at ${at}`);
}

function substitute(v, i) {
  if (typeof v === 'string') return v.replaceAll('{i}', String(i));
  if (Array.isArray(v)) return v.map((x) => substitute(x, i));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, i)]));
  return v;
}

function check(step, expect, result, err, secrets) {
  const name = step.name;
  const text = err ? err.message : JSON.stringify(result);
  for (const s of secrets) {
    assert.ok(!text.includes(s) && !text.includes(Buffer.from(s).toString('base64')), `${name}: a reply carries a secret`);
  }
  if (expect.error !== undefined) {
    assert.ok(err, `${name}: want error ${expect.error}, got ${JSON.stringify(result)}`);
    assert.equal(err.code, expect.error, `${name}: ${err.message}`);
    assert.ok(err instanceof CODES[expect.error], `${name}: ${err.constructor.name} is not the class for ${expect.error}`);
    if (expect.message !== undefined) assert.equal(err.message, expect.message, name);
    return;
  }
  assert.equal(err, undefined, `${name}: ${err?.message}`);
  assert.deepEqual(match(expect.result, result), [], name);
  const sig = expect.binance_signature;
  if (sig) {
    assert.ok(verifyBinance(sig.secret, result), `${name}: signature does not verify`);
    assert.equal(result.headers?.['X-MBX-APIKEY'], sig.api_key, name);
  }
}

const files = readdirSync(CONFORMANCE_DIR).filter((f) => f.endsWith('.json')).sort();

test('there are conformance cases', () => assert.ok(files.length >= 3, CONFORMANCE_DIR));

for (const file of files) {
  test(`conformance: ${file}`, async () => {
    const story = JSON.parse(readFileSync(path.join(CONFORMANCE_DIR, file), 'utf8'));
    const agent = await Agent.start(story.passphrase);
    const kw = new Client(agent.sock);
    let run = 0;
    try {
      const { operations } = await kw.hello('conformance');
      for (const step of story.steps) {
        if (operations.includes(step.when?.lacks_operation)) continue;
        const n = step.pipeline ?? 1;
        const copies = Array.from({ length: n }, (_, i) => [substitute(step.args, i), substitute(step.expect, i)]);
        // Every copy goes on the wire before any reply is read.
        const settled = await Promise.allSettled(copies.map(([args]) => kw.call(step.op, args)));
        settled.forEach((s, i) => {
          if (s.status === 'rejected' && !(s.reason instanceof KeywardError)) throw s.reason;
          check(step, copies[i][1], s.value, s.status === 'rejected' ? s.reason : undefined, story.secrets ?? []);
        });
        run++;
      }
    } finally {
      kw.close();
      await agent.stop();
    }
    assert.ok(run >= 5, `${file}: only ${run} steps ran`);
  });
}
