// The ccxt hook: a ccxt exchange whose private requests are signed, or
// sent, by the keyward agent, so the bot never holds a secret.
//
// ccxt signs synchronously (exchange.sign) and then awaits
// exchange.fetch(url, method, headers, body). The hook gives the exchange
// placeholder credentials so ccxt's checks pass and it builds each private
// request as usual, then wraps exchange.fetch: a request that carries the
// placeholder API key is turned back into the unsigned request (the venue's
// signature, key and signature-timestamp parts are stripped; timestamp and
// nonce values in the parameters stay where ccxt put them, and the agent
// overwrites them in place). In sign mode the agent signs it and the
// agent's request is what ccxt's own fetch sends; in forward mode the agent
// sends it and the venue's answer goes through ccxt's own response handling
// (handleRestResponse: parsing, handleErrors, the HTTP status exceptions),
// as if ccxt had fetched it. Public requests pass through untouched.

import { STATUS_CODES } from 'node:http';
import zlib from 'node:zlib';

import { Client } from './client.js';
import { BadRequestError, ForwardOnlyError, UnsupportedError, UpstreamError } from './errors.js';

/** The hook's modes; see hookCCXT. */
export const MODES = Object.freeze(['auto', 'sign', 'forward']);

// Placeholders ccxt signs with. They are not secrets: the signature ccxt
// makes with them is thrown away before anything is sent.
export const PLACEHOLDER_API_KEY = 'keyward-placeholder-api-key';
// Valid base64 text, since some venues' ccxt code decodes the secret
// (Kraken) before signing.
export const PLACEHOLDER_SECRET = 'a2V5d2FyZHBsYWNlaG9sZGVy';
export const PLACEHOLDER_PASSWORD = 'keyward-placeholder-password';

/** Splits a URL at its first '?' without re-encoding anything. */
function splitURL(url) {
  const i = url.indexOf('?');
  return i < 0 ? [url, ''] : [url.slice(0, i), url.slice(i + 1)];
}

/** Removes the parameter `name` from a form/query string, bytes as given. */
function dropParam(params, name) {
  if (!params) return { rest: params, found: false };
  let found = false;
  const kept = params.split('&').filter((p) => {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    if (key === name) {
      found = true;
      return false;
    }
    return true;
  });
  return { rest: kept.join('&'), found };
}

/** headers without the given names (case-insensitive). */
function withoutHeaders(headers, names) {
  const drop = new Set(names.map((n) => n.toLowerCase()));
  const out = {};
  for (const [k, v] of Object.entries(headers || {})) {
    if (!drop.has(k.toLowerCase())) out[k] = v;
  }
  return out;
}

function headerValue(headers, name) {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers || {})) {
    if (k.toLowerCase() === want) return v;
  }
  return undefined;
}

/**
 * Binance (Spot, USDⓈ-M, COIN-M): ccxt puts timestamp first and recvWindow
 * after the bot's parameters, appends &signature=<hex> (query for GET and
 * DELETE, body otherwise) and sets X-MBX-APIKEY. Strip the signature and
 * the key header; the agent overwrites the timestamp in place and signs.
 */
function binance(req) {
  if (headerValue(req.headers, 'X-MBX-APIKEY') !== PLACEHOLDER_API_KEY) return null;
  const [base, query] = splitURL(req.url);
  const q = dropParam(query, 'signature');
  const b = dropParam(typeof req.body === 'string' ? req.body : '', 'signature');
  if (!q.found && !b.found) {
    throw new UnsupportedError(
      `keyward: ${req.method} ${base} sends Binance's API key without a signature (a listen key or historical trades request); ` +
        'sign mode cannot serve it without handing the bot the key, and the agent signs every Binance request it forwards: the hook does not serve it',
    );
  }
  return {
    method: req.method,
    url: q.rest ? `${base}?${q.rest}` : base,
    headers: withoutHeaders(req.headers, ['X-MBX-APIKEY']),
    body: b.found ? b.rest : req.body,
  };
}

/**
 * Venues that sign in headers: a request whose keyHeader carries the
 * placeholder key was signed by ccxt; drop the auth headers the agent sets
 * (key, signature, timestamp, passphrase) and keep everything else. A nonce
 * in the parameters (Kraken's) stays where ccxt put it: the agent
 * overwrites it in place.
 */
function headerVenue(keyHeader, authHeaders) {
  return (req) => {
    if (headerValue(req.headers, keyHeader) !== PLACEHOLDER_API_KEY) return null;
    return { method: req.method, url: req.url, headers: withoutHeaders(req.headers, [keyHeader, ...authHeaders]), body: req.body };
  };
}

/** Deribit: one Authorization header, "deri-hmac-sha256 id=KEY,ts=…,sig=…,nonce=…". */
function deribit(req) {
  const auth = headerValue(req.headers, 'Authorization');
  if (typeof auth !== 'string' || !auth.includes(`id=${PLACEHOLDER_API_KEY},`)) return null;
  return { method: req.method, url: req.url, headers: withoutHeaders(req.headers, ['Authorization']), body: req.body };
}

const bybit = headerVenue('X-BAPI-API-KEY', ['X-BAPI-SIGN', 'X-BAPI-TIMESTAMP']);
const okx = headerVenue('OK-ACCESS-KEY', ['OK-ACCESS-SIGN', 'OK-ACCESS-TIMESTAMP', 'OK-ACCESS-PASSPHRASE']);
const bitget = headerVenue('ACCESS-KEY', ['ACCESS-SIGN', 'ACCESS-TIMESTAMP', 'ACCESS-PASSPHRASE']);
// The agent leaves KuCoin's partner headers out: their signature covers
// the timestamp and key, which only the agent knows (see agent/scheme/kucoin.go).
const kucoin = headerVenue('KC-API-KEY', ['KC-API-SIGN', 'KC-API-TIMESTAMP', 'KC-API-PASSPHRASE', 'KC-API-PARTNER', 'KC-API-PARTNER-SIGN', 'KC-API-PARTNER-VERIFY']);
const gate = headerVenue('KEY', ['SIGN', 'Timestamp']);
const kraken = headerVenue('API-Key', ['API-Sign']);
const bitfinex = headerVenue('bfx-apikey', ['bfx-signature', 'bfx-nonce']);
// Alpaca sends the secret key itself in a header: the agent only forwards.
const alpaca = headerVenue('APCA-API-KEY-ID', ['APCA-API-SECRET-KEY']);

/** The venues the hook knows, by ccxt exchange id, with the scheme each needs. */
export const VENUES = Object.freeze({
  binance: { scheme: 'binance', strip: binance },
  binanceusdm: { scheme: 'binance', strip: binance },
  binancecoinm: { scheme: 'binance', strip: binance },
  bybit: { scheme: 'bybit', strip: bybit },
  okx: { scheme: 'okx', strip: okx },
  bitget: { scheme: 'bitget', strip: bitget },
  kucoin: { scheme: 'kucoin', strip: kucoin },
  kucoinfutures: { scheme: 'kucoin', strip: kucoin },
  gate: { scheme: 'gate', strip: gate },
  gateio: { scheme: 'gate', strip: gate },
  kraken: { scheme: 'kraken', strip: kraken },
  bitfinex: { scheme: 'bitfinex', strip: bitfinex },
  deribit: { scheme: 'deribit', strip: deribit },
  alpaca: { scheme: 'alpaca', strip: alpaca },
});

/**
 * ccxt's NetworkError and RequestTimeout classes, from the exchange's own
 * copy of ccxt (its HTTP 408 exception is RequestTimeout, a NetworkError),
 * so that they are the classes the bot catches; undefined when not found.
 */
function ccxtNetworkErrors(ex) {
  const timeout = ex.httpExceptions?.['408'] ?? ex.httpExceptions?.['504'];
  if (typeof timeout !== 'function') return undefined;
  for (let c = timeout; c && c !== Error && c !== Function.prototype; c = Object.getPrototypeOf(c)) {
    if (c.name === 'NetworkError') return { NetworkError: c, RequestTimeout: timeout.name === 'RequestTimeout' ? timeout : c };
  }
  return undefined;
}

/** Undoes a Content-Encoding, as a fetch implementation does. */
function decodeBody(body, encoding) {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(body);
    case 'deflate':
      try {
        return zlib.inflateSync(body);
      } catch {
        return zlib.inflateRawSync(body);
      }
    case 'br':
      return zlib.brotliDecompressSync(body);
    default:
      return body;
  }
}

/** The agent's answer as the WHATWG Response a fetch would have returned. */
function fetchResponse(res) {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    for (const line of k.toLowerCase() === 'set-cookie' ? v.split('\n') : [v]) headers.append(k, line);
  }
  const nullBody = [101, 103, 204, 205, 304].includes(res.status);
  const body = nullBody ? null : decodeBody(res.body, headers.get('content-encoding'));
  return new Response(body, { status: res.status, statusText: STATUS_CODES[res.status] ?? '', headers });
}

/**
 * What ccxt's fetch does before and after its HTTP call (ccxt 4.5, base
 * Exchange.fetch), with the agent's forward in place of the call: the
 * exchange's own headers, the User-Agent, setHeaders, multipart bodies, the
 * verbose log; then handleRestResponse on the venue's answer, so parsing,
 * handleErrors and the HTTP status exceptions are ccxt's own. A proxy set
 * on the exchange is refused: in forward mode the agent reaches the venue,
 * through the credential's meta.proxy if it names one.
 */
async function forwardFetch(ex, kw, credential, url, method, headers, body) {
  headers = ex.extend(ex.headers, headers);
  const proxyUrl = typeof ex.checkProxyUrlSettings === 'function' ? ex.checkProxyUrlSettings(url, method, headers, body) : undefined;
  const proxies = typeof ex.checkProxySettings === 'function' ? ex.checkProxySettings(url, method, headers, body) : [];
  if (proxyUrl !== undefined || proxies.some((p) => p !== undefined && p !== '')) {
    throw new BadRequestError(
      `keyward.ccxt: ${ex.id} has a proxy set, but in forward mode the agent sends the request: give the credential a proxy (keyward add --meta proxy=http://host:port) and remove it from the exchange`,
    );
  }
  let userAgent = ex.userAgent !== undefined ? ex.userAgent : ex.user_agent;
  if (userAgent === undefined) userAgent = ex.userAgents?.chrome;
  if (userAgent !== undefined && userAgent !== null && userAgent !== '') {
    if (typeof userAgent === 'string') headers = ex.extend({ 'User-Agent': userAgent }, headers);
    else if (ex.isDictionary(userAgent) && 'User-Agent' in userAgent) headers = ex.extend(userAgent, headers);
  }
  headers = ex.setHeaders(headers);
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === 'content-type' && headers[key] === 'multipart/form-data') {
      const boundary = '--------------------------' + ex.randomBytes(12);
      let multipart = '';
      for (const k of Object.keys(body)) {
        multipart += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${body[k]}\r\n`;
      }
      headers[key] = `multipart/form-data; boundary=${boundary}`;
      body = multipart + `--${boundary}--\r\n`;
      break;
    }
  }
  if (ex.verbose) ex.log('fetch Request (forwarded by keyward):\n', ex.id, method, url, '\nRequestHeaders:\n', headers, '\nRequestBody:\n', body, '\n');
  const started = Date.now();
  let res;
  try {
    res = await kw.forward(credential, { method, url, headers, body }, { timeout: ex.timeout > 0 ? ex.timeout : 0 });
  } catch (e) {
    const classes = e instanceof UpstreamError ? ccxtNetworkErrors(ex) : undefined;
    if (!classes) throw e;
    // ccxt's own exceptions for a failed fetch, as its fetch words them,
    // with the agent's UpstreamError (which says whether the request was
    // sent) as the cause.
    const timedOut = ex.timeout > 0 && Date.now() - started >= ex.timeout;
    const err = timedOut
      ? new classes.RequestTimeout(`${ex.id} ${method} ${url} request timed out (${ex.timeout} ms): ${e.message}`)
      : new classes.NetworkError(`${ex.id} ${method} ${url} fetch failed: ${e.message}`);
    err.cause = e;
    throw err;
  }
  return ex.handleRestResponse(fetchResponse(res), url, method, headers, body);
}


/**
 * Makes a ccxt exchange sign (or send) through the keyward agent. An
 * existing bot changes one line:
 *
 *     const exchange = keyward.ccxt(new ccxt.binance(), { credential: 'binance-main' });
 *
 * The exchange must not be given the real API key or secret: it is given
 * placeholders, and each private request is handled by the agent with the
 * named credential, as `mode` says (the Go client's Transport behaves the
 * same way):
 *
 * - 'auto' (default) signs, except with credentials whose venue receives
 *   the secret itself (Alpaca): the agent refuses to sign those
 *   (ForwardOnlyError), and the hook forwards instead and remembers;
 * - 'sign': the agent signs and ccxt's own fetch sends the signed request;
 * - 'forward': the agent sends the request and ccxt handles the venue's
 *   answer as its own (status exceptions, handleErrors, parsing). The bot
 *   never holds a signature or a key header. A venue that gives no complete
 *   answer raises ccxt's NetworkError (RequestTimeout after the exchange's
 *   timeout) with the agent's UpstreamError as its cause.
 *
 * Returns the same exchange.
 *
 * @template {object} E
 * @param {E} exchange a ccxt exchange instance
 * @param {{credential: string, socket?: string, client?: Client, mode?: 'auto' | 'sign' | 'forward'}} opts
 * @returns {E}
 */
export function hookCCXT(exchange, opts) {
  const { credential, socket, client, mode = 'auto' } = opts || {};
  if (!credential) throw new BadRequestError('keyward.ccxt: give the credential to sign with ({credential: "binance-main"})');
  if (!MODES.includes(mode)) throw new BadRequestError(`keyward.ccxt: mode is ${JSON.stringify(mode)}: want ${MODES.join(', ')}`);
  const ex = /** @type {any} */ (exchange);
  if (!ex || typeof ex.fetch !== 'function' || typeof ex.sign !== 'function') {
    throw new BadRequestError('keyward.ccxt: the first argument must be a ccxt exchange instance');
  }
  const venue = Object.hasOwn(VENUES, ex.id) ? VENUES[ex.id] : undefined;
  if (!venue) {
    throw new UnsupportedError(
      `keyward.ccxt: no hook for ccxt exchange "${ex.id}" yet; hooked exchanges: ${Object.keys(VENUES).join(', ')}`,
    );
  }
  if (mode !== 'sign' && typeof ex.handleRestResponse !== 'function') {
    throw new UnsupportedError('keyward.ccxt: forward mode needs a ccxt with Exchange.handleRestResponse (ccxt 4); use mode "sign"');
  }
  if (ex.__keyward) throw new BadRequestError('keyward.ccxt: this exchange is already hooked');
  for (const [field, placeholder] of [['secret', PLACEHOLDER_SECRET], ['password', PLACEHOLDER_PASSWORD]]) {
    if (ex[field] && ex[field] !== placeholder) {
      throw new BadRequestError(
        `keyward.ccxt: the exchange was given a real ${field}; remove it: the agent holds the credential, the bot must not`,
      );
    }
  }
  const kw = client ?? new Client(socket);
  ex.apiKey = PLACEHOLDER_API_KEY;
  ex.secret = PLACEHOLDER_SECRET;
  if (ex.requiredCredentials?.password) ex.password = PLACEHOLDER_PASSWORD;

  let forwardOnly = false; // auto mode learnt that the credential is forward-only
  const fetch = ex.fetch;
  ex.fetch = async function keywardFetch(url, method = 'GET', headers = undefined, body = undefined) {
    const unsigned = venue.strip({ url, method, headers, body });
    if (unsigned === null) return fetch.call(this, url, method, headers, body);
    const forward = () => forwardFetch(this, kw, credential, unsigned.url, unsigned.method, unsigned.headers, unsigned.body);
    if (mode === 'forward' || (mode === 'auto' && forwardOnly)) return forward();
    let signed;
    try {
      signed = await kw.sign(credential, unsigned);
    } catch (e) {
      if (mode === 'auto' && e instanceof ForwardOnlyError) {
        forwardOnly = true;
        return forward();
      }
      throw e;
    }
    return fetch.call(this, signed.url, signed.method, signed.headers, signed.body === '' ? undefined : signed.body);
  };
  Object.defineProperty(ex, '__keyward', {
    value: {
      client: kw,
      credential,
      scheme: venue.scheme,
      mode,
      /** Whether private requests go to the agent to be sent. */
      get forwarding() {
        return mode === 'forward' || (mode === 'auto' && forwardOnly);
      },
    },
    enumerable: false,
  });
  return exchange;
}
