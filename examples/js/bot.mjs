// A small ccxt bot that never holds its API secret: the one keyward line
// below is the whole change from a plain ccxt bot. It reads the price,
// places a limit BUY well below it (so it rests), lists open orders and
// cancels the order, on Binance Spot's testnet by default.
//
//   KEYWARD_CREDENTIAL=binance-testnet node examples/js/bot.mjs
//
// Environment: KEYWARD_SOCK, KEYWARD_CREDENTIAL (default binance-testnet),
// KEYWARD_EXAMPLE_BASE_URL (another Binance-compatible base URL, e.g. the
// tests' fake venue), KEYWARD_EXAMPLE_SYMBOL (default BTC/USDT).

import ccxt from 'ccxt';
import keyward from 'keyward';

const credential = process.env.KEYWARD_CREDENTIAL || 'binance-testnet';
const symbol = process.env.KEYWARD_EXAMPLE_SYMBOL || 'BTC/USDT';

const exchange = new ccxt.binance({ options: { fetchMarkets: { types: ['spot'] } } });
exchange.setSandboxMode(true); // Binance Spot testnet
if (process.env.KEYWARD_EXAMPLE_BASE_URL) {
  const api = `${process.env.KEYWARD_EXAMPLE_BASE_URL.replace(/\/$/, '')}/api/v3`;
  exchange.urls.api = { ...exchange.urls.api, public: api, private: api };
}
keyward.ccxt(exchange, { credential }); // ← the one line: sign through the keyward agent

try {
  await exchange.loadMarkets();
  const market = exchange.market(symbol);
  const { price: last } = await exchange.publicGetTickerPrice({ symbol: market.id });
  const price = Number(exchange.priceToPrecision(symbol, Number(last) * 0.8));
  const minCost = market.limits.cost?.min ?? 10;
  const amount = Number(exchange.amountToPrecision(symbol, (minCost * 2) / price + market.precision.amount));
  console.log(`${symbol} last price ${last}; placing a limit BUY of ${amount} at ${price}`);

  const order = await exchange.createOrder(symbol, 'limit', 'buy', amount, price);
  console.log(`placed order ${order.id}: ${order.status}`);
  const open = await exchange.fetchOpenOrders(symbol);
  console.log(`open orders on ${symbol}: ${open.map((o) => o.id).join(', ')}`);
  const cancelled = await exchange.cancelOrder(order.id, symbol);
  console.log(`cancelled order ${cancelled.id}: ${cancelled.status}`);
} catch (e) {
  if (e instanceof keyward.KeywardError) {
    console.error(`bot: keyward refused (${e.code}): ${e.message}`); // e.g. locked: run `keyward unlock`
  } else {
    console.error(`bot: ${e.constructor.name}: ${e.message}`);
  }
  process.exitCode = 1;
}
