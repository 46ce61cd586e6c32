// Real processes for the tests: a `keyward agent` over a fresh vault, the
// fake Binance venue (internal/fakevenue) and the fake exchange of every
// venue (internal/fakeexchange/cmd/fakeexchange). No mocks of the agent.
//
// KEYWARD_BIN names the keyward binary, FAKEVENUE_BIN the fake venue and
// FAKEEXCHANGE_BIN the fake exchange (`make test-js` builds them into bin/);
// they default to bin/ in the repo.

import { spawn, spawnSync } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CONFORMANCE_DIR = path.join(REPO, 'protocol', 'testdata', 'conformance');

// Made up for the tests: not keys to any account.
export const TEST_PASSPHRASE = 'keyward-test-passphrase-js';
export const TEST_API_KEY = 'keyward-test-api-key-js';
export const TEST_SECRET = 'keyward-test-secret-js-0001';

function binary(env, name) {
  const p = process.env[env] || path.join(REPO, 'bin', name);
  try {
    accessSync(p, constants.X_OK);
  } catch {
    throw new Error(`${name}: no executable at ${p}: run \`make test-bins\` (make test-js does), or set ${env}`);
  }
  return p;
}

export const keywardBin = () => binary('KEYWARD_BIN', 'keyward');
export const fakevenueBin = () => binary('FAKEVENUE_BIN', 'fakevenue');
export const fakeexchangeBin = () => binary('FAKEEXCHANGE_BIN', 'fakeexchange');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function canConnect(sock) {
  return new Promise((resolve) => {
    const c = net.createConnection({ path: sock });
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** A running `keyward agent` over a fresh vault in a temporary directory. */
export class Agent {
  static async start(passphrase = TEST_PASSPHRASE) {
    const a = new Agent(passphrase);
    await a.launch();
    return a;
  }

  constructor(passphrase) {
    this.bin = keywardBin();
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'kwjs-')); // short: sun_path is 108 bytes
    this.sock = path.join(this.dir, 'run', 'agent.sock');
    this.vault = path.join(this.dir, 'vault');
    this.passphrase = passphrase;
    this.logPath = path.join(this.dir, 'agent.log');
    this.env = { ...process.env, KEYWARD_SOCK: this.sock, GORACE: 'atexit_sleep_ms=10' };
    this.cli(['init', '--vault', this.vault, '--argon2-memory', '8', '--argon2-time', '1'], passphrase + '\n');
  }

  async launch() {
    const log = openSync(this.logPath, 'a');
    this.proc = spawn(this.bin, ['agent', '--socket', this.sock, '--vault', this.vault], { env: this.env, stdio: ['ignore', 'ignore', log] });
    closeSync(log);
    this.exited = new Promise((resolve) => this.proc.once('exit', resolve));
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`keyward agent exited: ${this.logs()}`);
      if (await canConnect(this.sock)) return;
      await sleep(20);
    }
    throw new Error(`keyward agent did not start listening: ${this.logs()}`);
  }

  /** Runs the keyward CLI against this agent and returns its stdout. */
  cli(args, stdin = '') {
    const r = spawnSync(this.bin, args, { env: this.env, input: stdin });
    if (r.status !== 0) throw new Error(`keyward ${args[0]}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.toString();
  }

  unlock() {
    this.cli(['unlock'], this.passphrase + '\n');
  }

  addBinance(name, apiKey, secret, hosts = []) {
    this.cli(['add', name, '--scheme', 'binance', '--api-key', apiKey, ...hosts.flatMap((h) => ['--host', h])], secret + '\n');
  }

  /** Adds any scheme's credential; the secret, then the passphrase, go on stdin. */
  add({ name, scheme, apiKey, secret, passphrase, meta = {} }) {
    const args = ['add', name, '--scheme', scheme, '--api-key', apiKey, ...Object.entries(meta).flatMap(([k, v]) => ['--meta', `${k}=${v}`])];
    this.cli(args, secret + '\n' + (passphrase ? passphrase + '\n' : ''));
  }

  logs() {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops the agent; keep leaves its vault and socket directory for launch(). */
  async stop({ keep = false } = {}) {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGINT');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(timer);
    }
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** internal/fakevenue on 127.0.0.1, verifying every signature itself. */
export class FakeVenue {
  static async start(apiKey = TEST_API_KEY, secret = TEST_SECRET) {
    const v = new FakeVenue();
    v.dir = mkdtempSync(path.join(os.tmpdir(), 'kwjs-venue-'));
    const secretFile = path.join(v.dir, 'secret');
    writeFileSync(secretFile, secret, { mode: 0o600 });
    v.proc = spawn(fakevenueBin(), ['-cert', path.join(v.dir, 'venue.pem'), '-api-key', apiKey, '-secret-file', secretFile], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    v.exited = new Promise((resolve) => v.proc.once('exit', resolve));
    const rl = createInterface({ input: v.proc.stdout });
    const line = await new Promise((resolve, reject) => {
      rl.once('line', resolve);
      v.proc.once('exit', (code) => reject(new Error(`fakevenue exited (${code}) before serving`)));
    });
    rl.close();
    const ready = JSON.parse(line);
    v.url = ready.url;
    v.cert = ready.cert;
    return v;
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGINT');
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * internal/fakeexchange on 127.0.0.1: every venue's host names behind one
 * TLS listener with a certificate from its own CA, checking each
 * authenticated request by the venue's own rules. A credential reaches it
 * with meta() (connect_to and ca_file).
 */
export class FakeExchange {
  /** @param {Array<{venue: string, api_key: string, secret: string, passphrase?: string, permissions?: object}>} accounts */
  static async start(accounts) {
    const x = new FakeExchange();
    x.dir = mkdtempSync(path.join(os.tmpdir(), 'kwjs-fx-'));
    const accountsFile = path.join(x.dir, 'accounts.json');
    writeFileSync(accountsFile, JSON.stringify(accounts), { mode: 0o600 });
    x.logPath = path.join(x.dir, 'fakeexchange.log');
    const log = openSync(x.logPath, 'a');
    x.proc = spawn(fakeexchangeBin(), ['--accounts', accountsFile], { stdio: ['ignore', 'pipe', log] });
    closeSync(log);
    x.exited = new Promise((resolve) => x.proc.once('exit', resolve));
    const rl = createInterface({ input: x.proc.stdout });
    const line = await new Promise((resolve, reject) => {
      rl.once('line', resolve);
      x.proc.once('exit', (code) => reject(new Error(`fakeexchange exited (${code}) before serving: ${x.logs()}`)));
    });
    rl.close();
    const ready = JSON.parse(line);
    x.addr = ready.addr;
    x.caFile = ready.ca_file;
    x.hosts = ready.hosts;
    return x;
  }

  /** The credential metadata that points the agent at this exchange. */
  meta() {
    return { connect_to: this.addr, ca_file: this.caFile };
  }

  logs() {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** The authenticated requests the exchange logged, with its verdict ("verified": "true" or "false"). */
  seen() {
    const out = [];
    for (const line of this.logs().split('\n')) {
      const fields = {};
      for (const m of line.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) fields[m[1]] = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
      if (fields.msg === 'fakeexchange: signed request') out.push(fields);
    }
    return out;
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGINT');
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A loopback TCP port nothing listens on (bound, then released). */
export function closedPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a node script with env; resolves with {code, stdout, stderr}. */
export function runNode(script, args, env) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** This test's own HMAC check: signature=<hex HMAC-SHA256> over query + body. */
export function verifyBinance(secret, signed) {
  const u = signed.url;
  const payload = (u.includes('?') ? u.slice(u.indexOf('?') + 1) : '') + (signed.body || '');
  const i = payload.lastIndexOf('&signature=');
  if (i < 0) return false;
  const want = createHmac('sha256', secret).update(payload.slice(0, i)).digest('hex');
  const got = payload.slice(i + '&signature='.length);
  return got.length === want.length && timingSafeEqual(Buffer.from(got), Buffer.from(want));
}

