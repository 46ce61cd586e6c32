// hyperliquid.mjs: ccxt's hyperliquid signer as the reference for keyward's
// hyperliquid scheme (agent/scheme/hyperliquid_test.go).
//
// Hyperliquid signs actions, not HTTP requests, so sign.mjs (which calls
// sign() alone) cannot reach it: this script calls the helpers ccxt's own
// createOrder/cancelOrder/withdraw/transfer call (signL1Action,
// signUserSignedAction, ethEncodeStructuredData + signMessage), with a
// fixed key and nonce, then builds the request with ccxt's sign(). Nothing
// touches the network.
//
// Reads a JSON array of cases on stdin, writes a JSON array of results.
// case: {private_key, sandbox, kind: "l1"|"user", action, nonce,
//        vault_address?, expires_after?,              (l1)
//        types?, message?, chain_id?}                 (user)
// result: {r, s, v, packb, url, method, headers, body} or {error}
import ccxt from 'ccxt';

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const results = cases.map((c) => {
  try {
    const ex = new ccxt.hyperliquid({ privateKey: c.private_key, walletAddress: '0x0000000000000000000000000000000000000001' });
    if (c.sandbox) ex.setSandboxMode(true);
    let sig;
    let packb = '';
    const request = { action: c.action, nonce: c.nonce };
    if (c.kind === 'l1') {
      // ccxt passes the vault address without 0x (formatVaultAddress).
      const vault = c.vault_address === undefined || c.vault_address === null ? undefined : ex.formatVaultAddress(c.vault_address);
      const expires = c.expires_after === undefined || c.expires_after === null ? undefined : c.expires_after;
      sig = ex.signL1Action(c.action, c.nonce, vault, expires);
      packb = ex.binaryToBase16(ex.packb(c.action));
      request.signature = sig;
      if (vault !== undefined) request.vaultAddress = c.vault_address;
      if (expires !== undefined) request.expiresAfter = expires;
    } else if (c.kind === 'user') {
      if (c.chain_id === undefined || c.chain_id === 421614) {
        sig = ex.signUserSignedAction(c.types, c.message);
      } else {
        // ccxt hard-codes chain id 421614 (0x66eee); for others, the same
        // encoder and signer with the domain the action names.
        const domain = {
          chainId: c.chain_id,
          name: 'HyperliquidSignTransaction',
          verifyingContract: '0x0000000000000000000000000000000000000000',
          version: '1',
        };
        sig = ex.signMessage(ex.ethEncodeStructuredData(domain, c.types, c.message), ex.privateKey);
      }
      request.signature = sig;
    } else {
      throw new Error(`unknown kind ${c.kind}`);
    }
    const r = ex.sign('exchange', 'private', 'POST', request);
    return {
      r: sig.r, s: sig.s, v: sig.v, packb,
      url: r.url, method: r.method, headers: r.headers || {}, body: r.body,
    };
  } catch (e) {
    return { error: `${e.constructor.name}: ${e.message}` };
  }
});
process.stdout.write(JSON.stringify(results));
