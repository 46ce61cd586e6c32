// keyward: a dependency-free client for the keyward agent (Node 18+).
// A trading bot asks the agent, over a Unix socket, to sign its exchange
// requests or to send them itself (forward); it never holds an API secret. The protocol is protocol/SPEC.md
// in the keyward repository.
//
//   import keyward from 'keyward';
//   const kw = new keyward.Client();            // $KEYWARD_SOCK or the default socket
//   const signed = await kw.sign('binance-main', {method: 'GET', url: 'https://api.binance.com/api/v3/account'});
//   const res = await kw.forward('alpaca-paper', {method: 'GET', url: 'https://paper-api.alpaca.markets/v2/account'});
//
//   const exchange = keyward.ccxt(new ccxt.binance(), {credential: 'binance-main'});

import { Client, ForwardResponse, PROTOCOL_VERSION, MAX_FRAME, defaultSocketPath, socketPath } from './client.js';
import { hookCCXT, MODES, VENUES, PLACEHOLDER_API_KEY, PLACEHOLDER_SECRET, PLACEHOLDER_PASSWORD } from './ccxt.js';
import * as errors from './errors.js';

export * from './errors.js';
export { Client, ForwardResponse, PROTOCOL_VERSION, MAX_FRAME, defaultSocketPath, socketPath, MODES, VENUES, PLACEHOLDER_API_KEY, PLACEHOLDER_SECRET, PLACEHOLDER_PASSWORD };
export { hookCCXT as ccxt };

export default {
  Client,
  ForwardResponse,
  ccxt: hookCCXT,
  MODES,
  VENUES,
  PLACEHOLDER_API_KEY,
  PLACEHOLDER_SECRET,
  PLACEHOLDER_PASSWORD,
  PROTOCOL_VERSION,
  defaultSocketPath,
  socketPath,
  ...errors,
};
