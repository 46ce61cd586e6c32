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

const SECRET_OPS = new Set(['unlock', 'add', 'passwd', 'rotate']);

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
 * @param {string} [op] the operation, for the messages
 */
export function requestArgs(credential, req, op = 'sign') {
  if (!credential) throw new BadRequestError(`keyward: ${op} needs a credential name`);
  if (!req || typeof req.url !== 'string') throw new BadRequestError(`keyward: ${op} needs a request with a url`);
  const args = { credential, method: String(req.method || 'GET').toUpperCase(), url: req.url };
  if (req.headers && Object.keys(req.headers).length > 0) {
    args.headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [String(k), String(v)]));
  }
  if (req.body !== undefined && req.body !== null && req.body !== '') {
    args.body = typeof req.body === 'string' ? req.body : Buffer.from(req.body).toString('utf8');
  }
  return args;
}

/**
 * How long a client waits for a forward reply beyond the timeout it gave
 * the agent, so that the agent's own answer (an UpstreamError that says
 * whether the request was sent) arrives before the client gives up.
 */
export const FORWARD_GRACE_MS = 5000;
const FORWARD_TIMEOUT_MAX_MS = 120000; // the agent's cap on timeout_ms

/**
 * The venue's answer to a forwarded request. `body` is the body's bytes as
 * the venue sent them (a Content-Encoding is not undone: a caller that asks
 * for one decodes it). `headers` joins a repeated field with ", ",
 * Set-Cookie with a newline; header() looks one up whatever its case. A
 * venue's own error (a 400, a 429) is a response like any other.
 */
export class ForwardResponse {
  /**
   * @param {number} status
   * @param {Record<string, string>} headers
   * @param {Buffer} body
   */
  constructor(status, headers, body) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  /**
   * Decodes a forward result.
   * @param {unknown} result
   */
  static fromResult(result) {
    if (result === null || typeof result !== 'object') throw new ProtocolError("keyward: the agent's forward reply is not an object");
    const { status, headers = {}, body = '', body_encoding: encoding = '' } = /** @type {any} */ (result);
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new ProtocolError("keyward: the agent's forward reply has no valid status");
    if (headers === null || typeof headers !== 'object' || Array.isArray(headers) || Object.values(headers).some((v) => typeof v !== 'string') || typeof body !== 'string') {
      throw new ProtocolError("keyward: the agent's forward reply is malformed");
    }
    let bytes;
    if (encoding === 'base64') {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) throw new ProtocolError('keyward: the agent sent a forwarded body that is not base64');
      bytes = Buffer.from(body, 'base64');
    } else if (encoding === '' || encoding === undefined || encoding === null) {
      bytes = Buffer.from(body, 'utf8');
    } else {
      throw new ProtocolError(`keyward: the agent sent a body_encoding this client does not know: ${JSON.stringify(String(encoding).slice(0, 32))}`);
    }
    return new ForwardResponse(status, { ...headers }, bytes);
  }

  /** True for a 2xx status. */
  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /**
   * The value of the header field name, compared without case.
   * @param {string} name
   */
  header(name) {
    const want = name.toLowerCase();
    for (const [k, v] of Object.entries(this.headers)) if (k.toLowerCase() === want) return v;
    return undefined;
  }

  /** The body as text, in the Content-Type's charset (UTF-8 without one). */
  text() {
    const m = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(this.header('Content-Type') ?? '');
    let decoder;
    try {
      decoder = new TextDecoder(m ? m[1] : 'utf-8');
    } catch {
      decoder = new TextDecoder('utf-8');
    }
    return decoder.decode(this.body);
  }

  /** The body parsed as JSON (a SyntaxError if it is not JSON). */
  json() {
    return JSON.parse(this.text());
  }
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
   * Forward mode: the agent sends the request itself, with the credential's
   * authentication added, and resolves with the venue's response; the bot
   * never holds a signature, a key header or a secret. The URL must be
   * https to one of the credential's hosts; the agent follows no redirect.
   * A venue's own error (a 400, a 429) is a response, not a rejection.
   *
   * `timeout` (ms; default the client's) bounds the agent's whole exchange
   * with the venue: it goes to the agent as timeout_ms (capped there at
   * 120 s) and the call waits a few seconds longer for the agent's answer;
   * 0 waits for ever and lets the agent use its default (30 s). Rejects
   * with UpstreamError when the venue gave no complete answer (the message
   * says whether the request was sent), and with the agent's other errors.
   * @param {string} credential
   * @param {{method: string, url: string, headers?: Record<string,string>, body?: string}} req
   * @param {{timeout?: number}} [opts]
   * @returns {Promise<ForwardResponse>}
   */
  async forward(credential, req, { timeout = this.timeout } = {}) {
    const args = requestArgs(credential, req, 'forward');
    if (typeof timeout !== 'number' || !(timeout >= 0)) throw new BadRequestError(`keyward: a forward timeout is a number of milliseconds, not ${timeout}`);
    if (timeout > 0) args.timeout_ms = Math.max(1, Math.ceil(timeout));
    const wait = timeout > 0 ? Math.min(timeout, FORWARD_TIMEOUT_MAX_MS) + FORWARD_GRACE_MS : 0;
    return ForwardResponse.fromResult(await this.call('forward', args, { timeout: wait }));
  }

  // The owner's operations. The frames that carried secrets are zeroed
  // once written, best effort: the base64 and JSON strings built on the
  // way are immutable and stay on the heap until collected, whatever type
  // the secret was passed as.

  unlock(passphrase) {
    return this.call('unlock', { passphrase: base64(passphrase) }, { timeout: 0 });
  }

  async lock() {
    await this.call('lock');
  }

  /**
   * Adds a credential. verify is 'auto', 'on' or 'off' (default: the
   * agent's, off): whether the agent asks the venue what the key may do
   * before keeping it; a key that can withdraw or transfer is refused
   * unless allowWithdrawPermission.
   */
  add({ name, scheme, apiKey, secret, passphrase, meta, verify, allowWithdrawPermission }) {
    const args = { name, scheme, api_key: apiKey, secret: base64(secret) };
    if (passphrase) args.passphrase = base64(passphrase);
    if (meta) args.meta = meta;
    if (verify) {
      if (!['auto', 'on', 'off'].includes(verify)) throw new BadRequestError(`keyward: verify is ${JSON.stringify(verify)}: want auto, on or off`);
      args.verify = verify;
    }
    if (allowWithdrawPermission) args.allow_withdraw_permission = true;
    // The agent may ask the venue, for up to 30 s.
    const timeout = this.timeout > 0 && (verify === 'auto' || verify === 'on') ? this.timeout + 35000 : this.timeout;
    return this.call('add', args, { timeout });
  }

  async remove(name) {
    await this.call('remove', { name });
  }

  async passwd(passphrase, newPassphrase) {
    await this.call('passwd', { passphrase: base64(passphrase), new_passphrase: base64(newPassphrase) }, { timeout: 0 });
  }
}

