// The keyward client for Node.js: one Unix socket, many requests in flight.
// It implements protocol/SPEC.md with nothing but Node's standard library.

import net from 'node:net';
import path from 'node:path';

import {
  AgentUnreachableError,
  BadRequestError,
  ClientClosedError,
  ConnectionLostError,
  KeywardError,
  ProtocolError,
  TimeoutError,
  errorFromWire,
} from './errors.js';

export const PROTOCOL_VERSION = 1;
export const MAX_FRAME = 1 << 20;
export const SOCKET_ENV = 'KEYWARD_SOCK';

const SECRET_OPS = new Set(['unlock', 'add', 'passwd']);

/**
 * The socket path without the KEYWARD_SOCK override, by the rules of
 * protocol/socket.go: /run/keyward/agent.sock for root,
 * $XDG_RUNTIME_DIR/keyward/agent.sock for other users, else
 * $TMPDIR/keyward-UID/agent.sock (/tmp when TMPDIR is unset).
 * @param {number} [uid]
 * @param {string} [runtimeDir]
 */
export function defaultSocketPath(uid = process.getuid?.() ?? -1, runtimeDir = process.env.XDG_RUNTIME_DIR ?? '') {
  if (uid === 0) return '/run/keyward/agent.sock';
  if (runtimeDir) return path.join(runtimeDir, 'keyward', 'agent.sock');
  return path.join(process.env.TMPDIR || '/tmp', `keyward-${uid}`, 'agent.sock');
}

/** $KEYWARD_SOCK if set, else defaultSocketPath(). */
export function socketPath() {
  return process.env[SOCKET_ENV] || defaultSocketPath();
}

/** Standard base64 with padding, as secrets travel on the wire. */
export function base64(secret) {
  const buf = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  return buf.toString('base64');
}

/**
 * The args of a sign (or forward) request.
 * @param {string} credential
 * @param {{method: string, url: string, headers?: Record<string,string>, body?: string}} req
 */
export function requestArgs(credential, req) {
  if (!credential) throw new BadRequestError('keyward: sign needs a credential name');
  if (!req || typeof req.url !== 'string') throw new BadRequestError('keyward: sign needs a request with a url');
  const args = { credential, method: String(req.method || 'GET').toUpperCase(), url: req.url };
  if (req.headers && Object.keys(req.headers).length > 0) {
    args.headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [String(k), String(v)]));
  }
  if (req.body !== undefined && req.body !== null && req.body !== '') {
    args.body = typeof req.body === 'string' ? req.body : Buffer.from(req.body).toString('utf8');
  }
  return args;
}

/** One socket and the calls waiting on it. */
class Conn {
  constructor(sock) {
    this.sock = sock;
    /** @type {Map<number, {resolve: Function, reject: Function, timer?: NodeJS.Timeout}>} */
    this.pending = new Map();
    /** @type {KeywardError | null} */
    this.error = null;
    this.buf = Buffer.alloc(0);
    sock.on('data', (chunk) => this.onData(chunk));
    sock.on('error', (e) => this.shutdown(new ConnectionLostError(`keyward: connection to the agent lost: ${e.message}`)));
    sock.on('close', () => this.shutdown(new ConnectionLostError('keyward: the agent closed the connection')));
    sock.unref(); // an idle client never keeps a bot's process alive
  }

  onData(chunk) {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    try {
      while (this.buf.length >= 4) {
        const n = this.buf.readUInt32BE(0);
        if (n === 0 || n > MAX_FRAME) {
          throw new ProtocolError(`keyward: the agent sent a frame of ${n} bytes (limit ${MAX_FRAME})`);
        }
        if (this.buf.length < 4 + n) break;
        const body = this.buf.subarray(4, 4 + n);
        this.buf = this.buf.subarray(4 + n);
        this.onReply(body);
      }
    } catch (e) {
      this.shutdown(e instanceof KeywardError ? e : new ProtocolError(`keyward: ${e.message}`));
    }
  }

  onReply(body) {
    let msg;
    try {
      msg = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw new ProtocolError(`keyward: the agent sent a malformed reply: ${e.message}`);
    }
    if (msg === null || typeof msg !== 'object' || !Number.isInteger(msg.id)) {
      throw new ProtocolError('keyward: the agent sent a reply without a numeric id');
    }
    if (msg.id === 0 && msg.error) throw errorFromWire(msg.error); // about the connection itself
    const call = this.pending.get(msg.id);
    if (!call) return; // a call that gave up waiting
    this.pending.delete(msg.id);
    this.settled();
    if (call.timer) clearTimeout(call.timer);
    if (msg.error !== undefined && msg.error !== null) call.reject(errorFromWire(msg.error));
    else call.resolve(msg.result ?? {});
  }

  add(id, call) {
    if (this.pending.size === 0) this.sock.ref();
    this.pending.set(id, call);
  }

  settled() {
    if (this.pending.size === 0) this.sock.unref();
  }

  shutdown(err) {
    if (this.error === null) this.error = err;
    const pending = this.pending;
    this.pending = new Map();
    this.sock.destroy();
    for (const call of pending.values()) {
      if (call.timer) clearTimeout(call.timer);
      call.reject(this.error);
    }
  }
}

/**
 * A connection to a keyward agent. Calls are pipelined on one socket and
 * their replies matched by id, so any number may be in flight. If the
 * connection breaks, calls in flight fail and the next call dials again.
 */
export class Client {
  /**
   * @param {string} [socket] the socket path; default $KEYWARD_SOCK or the standard location
   * @param {{timeout?: number, connectTimeout?: number}} [opts] milliseconds; timeout 0 waits for ever
   */
  constructor(socket, { timeout = 30000, connectTimeout = 5000 } = {}) {
    this.path = socket || socketPath();
    this.timeout = timeout;
    this.connectTimeout = connectTimeout;
    /** @type {Conn | null} */
    this.cur = null;
    /** @type {Promise<Conn> | null} */
    this.dialing = null;
    this.closed = false;
    this.nextId = 1;
  }

  /** Closes the connection; calls in flight fail with ClientClosedError. */
  close() {
    this.closed = true;
    if (this.cur) this.cur.shutdown(new ClientClosedError('keyward: client closed'));
    this.cur = null;
  }

  /** @returns {Promise<Conn>} */
  conn() {
    if (this.closed) return Promise.reject(new ClientClosedError('keyward: client closed'));
    if (this.cur && this.cur.error === null) return Promise.resolve(this.cur);
    if (this.dialing) return this.dialing;
    this.dialing = new Promise((resolve, reject) => {
      const sock = net.createConnection({ path: this.path });
      const timer = setTimeout(() => sock.destroy(new Error('timed out')), this.connectTimeout);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        this.cur = new Conn(sock);
        resolve(this.cur);
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        const err = new AgentUnreachableError(
          `cannot reach the keyward agent at ${this.path}: ${e.code || e.message} (is \`keyward agent\` running? is KEYWARD_SOCK right?)`,
        );
        err.path = this.path;
        reject(err);
      });
    }).finally(() => {
      this.dialing = null;
    });
    return this.dialing;
  }

  /**
   * Sends one request and resolves with its result, or rejects with the
   * typed error for the agent's code.
   * @param {string} op
   * @param {object} [args]
   * @param {{timeout?: number}} [opts]
   */
  async call(op, args, { timeout = this.timeout } = {}) {
    const cn = await this.conn();
    if (cn.error) throw cn.error;
    const id = this.nextId++;
    const msg = args === undefined ? { id, op } : { id, op, args };
    const body = Buffer.from(JSON.stringify(msg), 'utf8');
    if (body.length > MAX_FRAME) {
      throw new BadRequestError(`keyward: the ${op} request is ${body.length} bytes, over the protocol's ${MAX_FRAME}-byte frame limit`);
    }
    const frame = Buffer.allocUnsafe(4 + body.length);
    frame.writeUInt32BE(body.length, 0);
    body.copy(frame, 4);
    if (SECRET_OPS.has(op)) body.fill(0);
    return new Promise((resolve, reject) => {
      const call = { resolve, reject, timer: undefined };
      if (timeout > 0) {
        call.timer = setTimeout(() => {
          cn.pending.delete(id);
          cn.settled();
          reject(new TimeoutError(`keyward: no reply from the agent within ${timeout} ms`));
        }, timeout);
      }
      cn.add(id, call);
      cn.sock.write(frame, () => {
        if (SECRET_OPS.has(op)) frame.fill(0);
      });
    });
  }

  /** What the agent speaks: version, operations, schemes. */
  hello(client = 'keyward-js') {
    return this.call('hello', { version: PROTOCOL_VERSION, client });
  }

  /** Locked or not, credential count, uptime, locked memory. */
  status() {
    return this.call('status');
  }

  /** The credentials' public parts, sorted by name (works while locked). */
  async list() {
    const r = await this.call('list');
    return r.credentials ?? [];
  }

  /**
   * The request exactly as it must be sent, signed with credential.
   * @param {string} credential
   * @param {{method: string, url: string, headers?: Record<string,string>, body?: string}} req
   */
  async sign(credential, req) {
    const r = await this.call('sign', requestArgs(credential, req));
    if (typeof r.url !== 'string') throw new ProtocolError("keyward: the agent's sign reply has no url");
    return { method: r.method, url: r.url, headers: r.headers ?? {}, body: r.body ?? '' };
  }

  /**
   * Forward mode: the agent sends the request itself. Agents of protocol
   * version 1 have no `forward` operation yet and answer UnsupportedError.
   */
  forward(credential, req) {
    return this.call('forward', requestArgs(credential, req));
  }

  // The owner's operations. Pass secrets as Buffers: the frames that
  // carried them are zeroed once written.

  unlock(passphrase) {
    return this.call('unlock', { passphrase: base64(passphrase) }, { timeout: 0 });
  }

  async lock() {
    await this.call('lock');
  }

  add({ name, scheme, apiKey, secret, passphrase, meta }) {
    const args = { name, scheme, api_key: apiKey, secret: base64(secret) };
    if (passphrase) args.passphrase = base64(passphrase);
    if (meta) args.meta = meta;
    return this.call('add', args);
  }

  async remove(name) {
    await this.call('remove', { name });
  }

  async passwd(passphrase, newPassphrase) {
    await this.call('passwd', { passphrase: base64(passphrase), new_passphrase: base64(newPassphrase) }, { timeout: 0 });
  }
}

