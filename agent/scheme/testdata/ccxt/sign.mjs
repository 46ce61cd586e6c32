// sign.mjs: ccxt as a reference signer for keyward's differential tests.
//
// Reads a JSON array of cases on stdin and writes a JSON array of results on
// stdout, one per case, in order. Nothing here touches the network: only an
// exchange's sign() runs, with its clock frozen at the case's now_ms.
//
// case: {exchange, config?, credentials: {apiKey, secret, password, ...},
//        now_ms, nonce?, path, api, method, params?, headers?, body?}
// result: {url, method, headers, body} or {error}
import ccxt from 'ccxt';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const results = cases.map((c) => {
  try {
    const Exchange = ccxt[c.exchange];
    if (!Exchange) throw new Error(`ccxt has no exchange ${c.exchange}`);
    const ex = new Exchange({ ...(c.config || {}), ...(c.credentials || {}) });
    const ms = c.now_ms;
    ex.milliseconds = () => ms;
    ex.microseconds = () => ms * 1000;
    ex.seconds = () => Math.floor(ms / 1000);
    if (c.nonce !== undefined && c.nonce !== null) ex.nonce = () => c.nonce;
    if (c.uuid !== undefined) {
      ex.uuid = () => c.uuid;
      ex.uuid16 = () => c.uuid;
      ex.uuid22 = () => c.uuid;
    }
    if (c.options) Object.assign(ex.options, c.options);
    const r = ex.sign(c.path, c.api, c.method, c.params || {}, c.headers, c.body);
    return {
      url: r.url,
      method: r.method,
      headers: r.headers || {},
      body: r.body === undefined || r.body === null ? '' : String(r.body),
    };
  } catch (e) {
    return { error: `${e.constructor.name}: ${e.message}` };
  }
});
process.stdout.write(JSON.stringify(results));
