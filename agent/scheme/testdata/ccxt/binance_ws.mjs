// binance_ws.mjs: ccxt.pro's Binance WebSocket API signer (signParams) as a
// reference for keyward's binance-ws differential test.
//
// Reads a JSON array of cases on stdin, writes a JSON array of results:
// case:   {credentials: {apiKey, secret}, now_ms, id, method, params, options?}
// result: {message} (the JSON text ccxt.pro sends: JSON.stringify of
//         {id, method, params: signParams(params)}) or {error}.
// Nothing here opens a connection: only signParams runs, clock frozen.
import ccxt from 'ccxt';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const results = cases.map((c) => {
  try {
    const ex = new ccxt.pro.binance({ ...(c.credentials || {}) });
    const ms = c.now_ms;
    ex.milliseconds = () => ms;
    ex.microseconds = () => ms * 1000;
    ex.seconds = () => Math.floor(ms / 1000);
    if (c.options) Object.assign(ex.options, c.options);
    const message = { id: c.id, method: c.method, params: ex.signParams(c.params || {}) };
    return { message: JSON.stringify(message) };
  } catch (e) {
    return { error: `${e.constructor.name}: ${e.message}` };
  }
});
process.stdout.write(JSON.stringify(results));
