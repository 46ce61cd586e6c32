// The ccxt hook: a ccxt exchange whose private requests are signed by the
// keyward agent, so the bot never holds a secret.
//
// ccxt signs synchronously (exchange.sign) and then awaits
// exchange.fetch(url, method, headers, body). The hook gives the exchange
// placeholder credentials so ccxt's checks pass and it builds each private
// request as usual, then wraps exchange.fetch: a request that carries the
// placeholder API key is turned back into the unsigned request (the venue's
// signature, key and signature-timestamp parts are stripped; timestamp and
// nonce values in the parameters stay where ccxt put them, and the agent
// overwrites them in place), signed by the agent, and the agent's request is
// what is fetched. Public requests pass through untouched.

import { Client } from './client.js';
import { BadRequestError, UnsupportedError } from './errors.js';

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
        'sign mode cannot serve it without handing the bot the key: it needs forward mode',
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
});

/**
 * Makes a ccxt exchange sign through the keyward agent. An existing bot
 * changes one line:
 *
 *     const exchange = keyward.ccxt(new ccxt.binance(), { credential: 'binance-main' });
 *
 * The exchange must not be given the real API key or secret: it is given
 * placeholders, and each private request is signed by the agent with the
 * named credential. Returns the same exchange.
 *
 * @template {object} E
 * @param {E} exchange a ccxt exchange instance
 * @param {{credential: string, socket?: string, client?: Client}} opts
 * @returns {E}
 */
export function hookCCXT(exchange, opts) {
  const { credential, socket, client } = opts || {};
  if (!credential) throw new BadRequestError('keyward.ccxt: give the credential to sign with ({credential: "binance-main"})');
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

  const fetch = ex.fetch;
  ex.fetch = async function keywardFetch(url, method = 'GET', headers = undefined, body = undefined) {
    const unsigned = venue.strip({ url, method, headers, body });
    if (unsigned === null) return fetch.call(this, url, method, headers, body);
    const signed = await kw.sign(credential, unsigned);
    return fetch.call(this, signed.url, signed.method, signed.headers, signed.body === '' ? undefined : signed.body);
  };
  Object.defineProperty(ex, '__keyward', { value: { client: kw, credential, scheme: venue.scheme }, enumerable: false });
  return exchange;
}
