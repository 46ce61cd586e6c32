package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/sha3"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/fakeexchange"
	venue "github.com/keyward/keyward/internal/fakeexchange/verify"
	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// These tests run the built agent and forward real orders through it to
// the fake exchange (internal/fakeexchange), whose signature checks
// (package verify) were written from the venues' documentation, apart from
// the agent's signing code: an order the fake accepts was signed as the
// venue says, by the binary a user runs. Every key is made at test time.

const fwdVaultPass = "forward-e2e-vault-passphrase"

// The hosts of the venues without hosts of their own (hmac, bearer): the
// fake's certificate must name them.
const (
	fwdHMACHost   = "api.hmac-venue.example"
	fwdBearerHost = "api.bearer-venue.example"
)

// fwdAgent is a running, unlocked agent and a client connected to it.
type fwdAgent struct {
	dir, sock string
	c         *client.Client
}

func startFwdAgent(t *testing.T) *fwdAgent {
	t.Helper()
	dir := shortTempDir(t, "kw-fwd-")
	a := &fwdAgent{dir: dir, sock: filepath.Join(dir, "agent.sock")}
	vault := filepath.Join(dir, "vault")
	initVault(t, vault, fwdVaultPass)
	startAgent(t, a.sock, vault, "--no-audit")
	c, err := client.Dial(a.sock)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	a.c = c
	_, err = c.Unlock(fwdCtx(t), protocol.UnlockArgs{Passphrase: protocol.Secret(fwdVaultPass)})
	require.NoError(t, err)
	return a
}

// add adds a credential that reaches ex: dialled at its address, its CA
// trusted. The venue is not asked about the key.
func (a *fwdAgent) add(t *testing.T, ex *fakeexchange.Exchange, args protocol.AddArgs) {
	t.Helper()
	meta := map[string]string{"connect_to": ex.Addr(), "ca_file": ex.CAFile()}
	for k, v := range args.Meta {
		meta[k] = v
	}
	args.Meta, args.Verify = meta, protocol.VerifyOff
	_, err := a.c.Add(fwdCtx(t), args)
	require.NoError(t, err, "add %s", args.Name)
}

// writeSecret writes a secret file for `keyward add --secret-file`.
func (a *fwdAgent) writeSecret(t *testing.T, name, secret string) string {
	t.Helper()
	p := filepath.Join(a.dir, name)
	require.NoError(t, os.WriteFile(p, []byte(secret), 0o600))
	return p
}

func startFwdExchange(t *testing.T) *fakeexchange.Exchange {
	t.Helper()
	ex, err := fakeexchange.Start(fakeexchange.Config{ExtraHosts: []string{fwdHMACHost, fwdBearerHost}})
	require.NoError(t, err)
	t.Cleanup(func() { ex.Close() })
	return ex
}

func fwdCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ---- key material, made now ----

func fwdHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// fwdUpper is n random upper-case letters and digits.
func fwdUpper(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// fwdDigits is n random decimal digits.
func fwdDigits(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// fwdFakeSecret is an HMAC secret no one could mistake for a real one.
func fwdFakeSecret(venue string) string {
	return "fake-" + venue + "-secret-for-tests-only-" + fwdHex(8)
}

// fwdBase64Secret is base64 of n bytes that read as a fake secret, for the
// venues that issue base64 secrets (Kraken's are 64 bytes).
func fwdBase64Secret(venue string, n int) string {
	raw := []byte("fake-" + venue + "-secret-for-tests-only-" + fwdHex(n))[:n]
	return base64.StdEncoding.EncodeToString(raw)
}

func fwdPEM(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func fwdRSAKey(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return fwdPEM("PRIVATE KEY", der)
}

func fwdEd25519Key(t *testing.T) string {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return fwdPEM("PRIVATE KEY", der)
}

// fwdECKey is a P-256 key in SEC 1 PEM, as Coinbase's CDP issues it.
func fwdECKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	return fwdPEM("EC PRIVATE KEY", der)
}

// fwdSecp256k1Key is a Hyperliquid API wallet's key (64 hex digits) and
// its Ethereum address (0x, lower case), derived here with Keccak-256.
func fwdSecp256k1Key(t *testing.T) (key, address string) {
	t.Helper()
	k, err := secp256k1.GeneratePrivateKey()
	require.NoError(t, err)
	pub := k.PubKey().SerializeUncompressed()
	h := sha3.NewLegacyKeccak256()
	h.Write(pub[1:])
	return hex.EncodeToString(k.Serialize()), "0x" + hex.EncodeToString(h.Sum(nil)[12:])
}

// ---- one order per scheme ----

// fwdCase is one scheme's credential and an order the venue takes.
type fwdCase struct {
	name   string // the subtest and the credential
	scheme string // keyward's scheme
	venue  string // the fake's venue (verify's name)
	apiKey string
	secret string // as added to the agent and known to the exchange
	pass   string // the venue's passphrase, if any
	meta   map[string]string
	req    protocol.HTTPRequest
	status int    // the venue's success status
	path   string // the path the exchange records
	want   string // in the venue's success body
}

func fwdCases(t *testing.T) []fwdCase {
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	js := map[string]string{"Content-Type": "application/json"}
	binanceOrder := "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=30000"
	hlKey, hlAddr := fwdSecp256k1Key(t)
	oandaAccount := "101-004-" + fwdDigits(7) + "-001"
	return []fwdCase{
		{name: "binance-hmac", scheme: "binance", venue: "binance", apiKey: "fwdBinanceHmacKey" + fwdUpper(20), secret: fwdFakeSecret("binance"),
			req:    protocol.HTTPRequest{Method: "POST", URL: "https://api.binance.com/api/v3/order", Headers: form, Body: binanceOrder},
			status: 200, path: "/api/v3/order", want: `"orderId"`},
		{name: "binance-rsa", scheme: "binance", venue: "binance", apiKey: "fwdBinanceRsaKey" + fwdUpper(20), secret: fwdRSAKey(t),
			req:    protocol.HTTPRequest{Method: "POST", URL: "https://api.binance.com/api/v3/order", Headers: form, Body: binanceOrder},
			status: 200, path: "/api/v3/order", want: `"orderId"`},
		{name: "binance-ed25519", scheme: "binance", venue: "binance", apiKey: "fwdBinanceEdKey" + fwdUpper(20), secret: fwdEd25519Key(t),
			req:    protocol.HTTPRequest{Method: "POST", URL: "https://api.binance.com/api/v3/order", Headers: form, Body: binanceOrder},
			status: 200, path: "/api/v3/order", want: `"orderId"`},
		{name: "binance-usdm-futures", scheme: "binance", venue: "binance", apiKey: "fwdBinanceFapiKey" + fwdUpper(20), secret: fwdFakeSecret("binance-futures"),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://fapi.binance.com/fapi/v1/order", Headers: form,
				Body: "symbol=BTCUSDT&side=BUY&positionSide=BOTH&type=LIMIT&timeInForce=GTC&quantity=0.002&price=30000"},
			status: 200, path: "/fapi/v1/order", want: `"positionSide":"BOTH"`},
		{name: "bybit", scheme: "bybit", venue: "bybit", apiKey: "fwdBybit" + fwdUpper(10), secret: fwdFakeSecret("bybit"),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://api.bybit.com/v5/order/create", Headers: js,
				Body: `{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"30000","orderLinkId":"fwd-e2e-1"}`},
			status: 200, path: "/v5/order/create", want: `"retCode":0`},
		{name: "okx", scheme: "okx", venue: "okx", apiKey: "fwd-okx-" + fwdHex(8), secret: fwdFakeSecret("okx"), pass: "fake-okx-passphrase-" + fwdHex(4),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://www.okx.com/api/v5/trade/order", Headers: js,
				Body: `{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","sz":"0.001","px":"30000"}`},
			status: 200, path: "/api/v5/trade/order", want: `"sCode":"0"`},
		{name: "coinbase-cdp", scheme: "coinbase", venue: "coinbase", apiKey: "organizations/fake-org-" + fwdHex(4) + "/apiKeys/fake-key-" + fwdHex(4), secret: fwdECKey(t),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://api.coinbase.com/api/v3/brokerage/orders", Headers: js,
				Body: `{"client_order_id":"fwd-e2e-1","product_id":"BTC-USD","side":"BUY","order_configuration":{"limit_limit_gtc":{"base_size":"0.001","limit_price":"30000"}}}`},
			status: 200, path: "/api/v3/brokerage/orders", want: `"success":true`},
		{name: "coinbase-exchange", scheme: "coinbase", venue: "coinbase", apiKey: "fwd-cbx-" + fwdHex(8), secret: fwdBase64Secret("coinbase", 64), pass: "fake-cbx-pass-" + fwdHex(4),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://api.exchange.coinbase.com/orders", Headers: js,
				Body: `{"product_id":"BTC-USD","side":"buy","type":"limit","price":"30000","size":"0.001"}`},
			status: 200, path: "/orders", want: `"status":"pending"`},
		{name: "kraken-spot", scheme: "kraken", venue: "kraken", apiKey: "fwdKraken" + fwdUpper(20), secret: fwdBase64Secret("kraken", 64),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://api.kraken.com/0/private/AddOrder", Headers: form,
				Body: "ordertype=limit&type=buy&volume=0.001&pair=XBTUSD&price=30000"},
			status: 200, path: "/0/private/AddOrder", want: `"txid"`},
		{name: "kraken-futures", scheme: "kraken", venue: "kraken", apiKey: "fwdKrakenFutures" + fwdUpper(20), secret: fwdBase64Secret("kraken-futures", 64),
			req: protocol.HTTPRequest{Method: "POST",
				URL: "https://futures.kraken.com/derivatives/api/v3/sendorder?orderType=lmt&symbol=PF_XBTUSD&side=buy&size=1&limitPrice=30000"},
			status: 200, path: "/derivatives/api/v3/sendorder", want: `"result":"success"`},
		{name: "kucoin", scheme: "kucoin", venue: "kucoin", apiKey: "fwd" + fwdHex(10), secret: fwdFakeSecret("kucoin"), pass: "fake-kucoin-pass-" + fwdHex(4),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://api.kucoin.com/api/v1/orders", Headers: js,
				Body: `{"clientOid":"fwd-e2e-1","side":"buy","symbol":"BTC-USDT","type":"limit","price":"30000","size":"0.001"}`},
			status: 200, path: "/api/v1/orders", want: `"code":"200000"`},
		{name: "gate", scheme: "gate", venue: "gate", apiKey: "fwd" + fwdHex(14), secret: fwdFakeSecret("gate"),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://api.gateio.ws/api/v4/spot/orders", Headers: js,
				Body: `{"text":"t-fwd-e2e","currency_pair":"BTC_USDT","type":"limit","account":"spot","side":"buy","amount":"0.001","price":"30000"}`},
			status: 201, path: "/api/v4/spot/orders", want: `"status":"open"`},
		{name: "bitget", scheme: "bitget", venue: "bitget", apiKey: "bg_fwd" + fwdHex(12), secret: fwdFakeSecret("bitget"), pass: "fakeBitgetPass" + fwdHex(3),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://api.bitget.com/api/v2/spot/trade/place-order", Headers: js,
				Body: `{"symbol":"BTCUSDT","side":"buy","orderType":"limit","force":"gtc","price":"30000","size":"0.001","clientOid":"fwd-e2e-1"}`},
			status: 200, path: "/api/v2/spot/trade/place-order", want: `"code":"00000"`},
		{name: "bitfinex", scheme: "bitfinex", venue: "bitfinex", apiKey: "fwdBitfinex" + fwdHex(12), secret: fwdFakeSecret("bitfinex"),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://api.bitfinex.com/v2/auth/w/order/submit", Headers: js,
				Body: `{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","amount":"0.001","price":"30000","cid":12345}`},
			status: 200, path: "/v2/auth/w/order/submit", want: `"SUCCESS"`},
		{name: "deribit", scheme: "deribit", venue: "deribit", apiKey: "fwd" + fwdHex(4), secret: fwdFakeSecret("deribit"),
			req: protocol.HTTPRequest{Method: "GET",
				URL: "https://www.deribit.com/api/v2/private/buy?amount=10&instrument_name=BTC-PERPETUAL&label=fwd-e2e&price=30000&type=limit"},
			status: 200, path: "/api/v2/private/buy", want: `"order_state":"open"`},
		{name: "hyperliquid", scheme: "hyperliquid", venue: "hyperliquid", apiKey: hlAddr, secret: hlKey,
			req: protocol.HTTPRequest{Method: "POST", URL: "https://api.hyperliquid.xyz/exchange", Headers: js,
				Body: `{"action":{"type":"order","orders":[{"a":0,"b":true,"p":"30000","s":"0.001","r":false,"t":{"limit":{"tif":"Gtc"}}}],"grouping":"na"},"vaultAddress":null}`},
			status: 200, path: "/exchange", want: `"resting"`},
		{name: "hmac", scheme: "hmac", venue: "hmac", apiKey: "fwd-hmac-" + fwdHex(8), secret: fwdFakeSecret("hmac"),
			meta: map[string]string{
				"hosts": fwdHMACHost, "algorithm": "sha256", "template": "{timestamp}{method}{path_query}{body}",
				"key_header": "X-KEY", "signature_header": "X-SIGN", "timestamp_header": "X-TS",
			},
			req: protocol.HTTPRequest{Method: "POST", URL: "https://" + fwdHMACHost + "/v1/order?test=1", Headers: js,
				Body: `{"symbol":"BTC-USD","side":"buy","qty":"0.001","price":"30000"}`},
			status: 200, path: "/v1/order", want: `"ok":true`},
		{name: "alpaca", scheme: "alpaca", venue: "alpaca", apiKey: "PK" + fwdUpper(18), secret: "fake-alpaca-secret-for-tests-only-" + fwdHex(4),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://paper-api.alpaca.markets/v2/orders", Headers: js,
				Body: `{"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day"}`},
			status: 200, path: "/v2/orders", want: `"status":"accepted"`},
		{name: "oanda", scheme: "oanda", venue: "oanda", apiKey: oandaAccount, secret: "fake-oanda-token-for-tests-only-" + fwdHex(8),
			req: protocol.HTTPRequest{Method: "POST", URL: "https://api-fxpractice.oanda.com/v3/accounts/" + oandaAccount + "/orders", Headers: js,
				Body: `{"order":{"type":"MARKET","instrument":"EUR_USD","units":"100","timeInForce":"FOK","positionFill":"DEFAULT"}}`},
			status: 201, path: "/v3/accounts/" + oandaAccount + "/orders", want: `"orderCreateTransaction"`},
		{name: "bearer", scheme: "bearer", venue: "bearer", apiKey: "fwd-bearer-label", secret: "fake-bearer-token-for-tests-only-" + fwdHex(8),
			meta: map[string]string{"hosts": fwdBearerHost},
			req: protocol.HTTPRequest{Method: "POST", URL: "https://" + fwdBearerHost + "/v1/orders", Headers: js,
				Body: `{"symbol":"BTC-USD","side":"buy","qty":"0.001"}`},
			status: 200, path: "/v1/orders", want: `"ok":true`},
	}
}

// requireVenue skips a test whose venue the fake cannot check yet.
func requireVenue(t *testing.T, name string) {
	t.Helper()
	if _, ok := venue.Lookup(name); !ok {
		var have []string
		for _, v := range venue.Venues() {
			have = append(have, v.Name)
		}
		t.Skipf("the fake exchange cannot check %s requests yet: internal/fakeexchange/verify has no %q venue (it has %s)", name, name, strings.Join(have, ", "))
	}
}

// seenSince finds the last request to host and path the exchange
// recorded after the first since.
func seenSince(t *testing.T, ex *fakeexchange.Exchange, since int, host, path string) fakeexchange.Seen {
	t.Helper()
	reqs := ex.Requests()
	for i := len(reqs) - 1; i >= since && i >= 0; i-- {
		if reqs[i].Host == host && reqs[i].Path == path {
			return reqs[i]
		}
	}
	var got []string
	for _, r := range reqs[min(since, len(reqs)):] {
		got = append(got, r.Method+" "+r.Host+r.Path)
	}
	t.Fatalf("the exchange recorded no request to %s%s (it recorded %q)", host, path, got)
	return fakeexchange.Seen{}
}

// TestForwardSchemes forwards one order per signing scheme through the
// agent binary to the fake exchange, which checks the signature as the
// venue documents it.
func TestForwardSchemes(t *testing.T) {
	ex := startFwdExchange(t)
	a := startFwdAgent(t)
	ex.MapHost(fwdHMACHost, "hmac")

	for _, c := range fwdCases(t) {
		t.Run(c.name, func(t *testing.T) {
			requireVenue(t, c.venue)
			ex.AddAccount(c.venue, venue.Account{APIKey: c.apiKey, Secret: []byte(c.secret), Passphrase: c.pass, Meta: c.meta},
				fakeexchange.Permissions{Read: true, Trade: true})
			args := protocol.AddArgs{Name: c.name, Scheme: c.scheme, APIKey: c.apiKey, Secret: protocol.Secret(c.secret), Meta: c.meta}
			if c.pass != "" {
				args.Passphrase = protocol.Secret(c.pass)
			}
			a.add(t, ex, args)

			since := len(ex.Requests())
			res, err := a.c.Forward(fwdCtx(t), protocol.ForwardArgs{Credential: c.name, HTTPRequest: c.req})
			require.NoError(t, err)
			host := strings.TrimPrefix(c.req.URL, "https://")
			host, _, _ = strings.Cut(host, "/")
			seen := seenSince(t, ex, since, host, c.path)
			assert.True(t, seen.Verified, "the exchange refused the signature: %s", seen.Reason)
			assert.Equal(t, c.status, res.Status, "venue's answer: %s", res.Body)
			assert.Equal(t, c.req.Method, seen.Method)
			assert.Contains(t, res.Body, c.want)
			assert.Empty(t, res.BodyEncoding)
		})
	}

	// The command line forwards too, and prints the venue's answer.
	t.Run("cli", func(t *testing.T) {
		since := len(ex.Requests())
		cmd := exec.Command(keywardBin, "forward", "binance-hmac", "POST", "https://api.binance.com/api/v3/order",
			"--header", "Content-Type: application/x-www-form-urlencoded",
			"--body", "symbol=ETHUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.01&price=4000&newClientOrderId=fwdCli1", "--json")
		cmd.Env = append(os.Environ(), "KEYWARD_SOCK="+a.sock, raceQuiet)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "stderr: %s", stderr.String())
		var res protocol.HTTPResponse
		require.NoError(t, json.Unmarshal(out, &res), "stdout: %s", out)
		assert.Equal(t, 200, res.Status)
		var order map[string]any
		require.NoError(t, json.Unmarshal([]byte(res.Body), &order), "body: %s", res.Body)
		assert.Equal(t, "ETHUSDT", order["symbol"])
		assert.Equal(t, "fwdCli1", order["clientOrderId"])
		assert.Equal(t, "SELL", order["side"])
		assert.True(t, seenSince(t, ex, since, "api.binance.com", "/api/v3/order").Verified)
	})
}

// TestForwardRefusals covers what forward mode refuses or cannot finish:
// sign on a forward-only credential, a redirect to another host, a slow
// venue, an oversized answer, an unreachable venue and an untrusted
// certificate.
func TestForwardRefusals(t *testing.T) {
	ex := startFwdExchange(t)
	a := startFwdAgent(t)
	bnKey, bnSecret := "fwdRefusalsKey"+fwdUpper(20), fwdFakeSecret("binance")
	ex.AddAccount("binance", venue.Account{APIKey: bnKey, Secret: []byte(bnSecret)}, fakeexchange.Permissions{Read: true, Trade: true})
	a.add(t, ex, protocol.AddArgs{Name: "bn", Scheme: "binance", APIKey: bnKey, Secret: protocol.Secret(bnSecret)})

	t.Run("sign forward-only", func(t *testing.T) {
		alpKey, alpSecret := "PK"+fwdUpper(18), "fake-alpaca-secret-for-tests-only-"+fwdHex(4)
		a.add(t, ex, protocol.AddArgs{Name: "alpaca", Scheme: "alpaca", APIKey: alpKey, Secret: protocol.Secret(alpSecret)})
		_, err := a.c.Sign(fwdCtx(t), protocol.SignArgs{Credential: "alpaca",
			HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://paper-api.alpaca.markets/v2/account"}})
		require.Error(t, err)
		assert.Equal(t, protocol.CodeForwardOnly, protocol.CodeOf(err), "%v", err)
		t.Logf("sign with alpaca: %v", err)
		assert.NotContains(t, err.Error(), alpSecret)

		// A signing scheme still signs.
		signed, err := a.c.Sign(fwdCtx(t), protocol.SignArgs{Credential: "bn",
			HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}})
		require.NoError(t, err)
		assert.NoError(t, agenttest.VerifyBinance(bnSecret, signed))
		assert.Equal(t, bnKey, signed.Headers["X-MBX-APIKEY"])
	})

	t.Run("redirect", func(t *testing.T) {
		const redirect = "https://api.binance.com/__fake/redirect?to=https://attacker.example/steal"
		res, err := a.c.Forward(fwdCtx(t), protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: redirect}})
		require.NoError(t, err)
		assert.Equal(t, http.StatusFound, res.Status)
		assert.Equal(t, "https://attacker.example/steal", res.Headers["Location"])

		// A bot's http.Client follows it, and the agent refuses the host.
		hc := &http.Client{Transport: &client.Transport{Agent: a.c, Credential: "bn", Mode: client.ModeForward}, Timeout: 30 * time.Second}
		resp, err := hc.Get(redirect)
		if resp != nil {
			resp.Body.Close()
		}
		require.Error(t, err)
		assert.True(t, protocol.HasCode(err, protocol.CodeDenied), "%v", err)
		t.Logf("redirect followed: %v", err)
		assert.Contains(t, err.Error(), "forwards only to binance hosts")
		assert.Contains(t, err.Error(), "attacker.example")
		for _, r := range ex.Requests() {
			assert.NotEqual(t, "attacker.example", r.Host, "the exchange saw a request for attacker.example")
		}
	})

	t.Run("slow venue", func(t *testing.T) {
		start := time.Now()
		_, err := a.c.Forward(fwdCtx(t), protocol.ForwardArgs{Credential: "bn", TimeoutMS: 500,
			HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/__fake/slow?ms=10000"}})
		took := time.Since(start)
		require.Error(t, err)
		assert.Equal(t, protocol.CodeUpstream, protocol.CodeOf(err), "%v", err)
		assert.Contains(t, err.Error(), "500ms")
		t.Logf("slow venue, after %s: %v", took.Round(time.Millisecond), err)
		assert.Less(t, took, 5*time.Second, "a 500 ms timeout took %s", took)
	})

	t.Run("oversized response", func(t *testing.T) {
		_, err := a.c.Forward(fwdCtx(t), protocol.ForwardArgs{Credential: "bn",
			HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/__fake/big?bytes=2000000"}})
		require.Error(t, err)
		assert.Equal(t, protocol.CodeUpstream, protocol.CodeOf(err), "%v", err)
		assert.Contains(t, err.Error(), "larger than the 983040 bytes")
		t.Logf("2000000-byte answer: %v", err)

		res, err := a.c.Forward(fwdCtx(t), protocol.ForwardArgs{Credential: "bn",
			HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/__fake/big?bytes=100000"}})
		require.NoError(t, err)
		assert.Equal(t, 200, res.Status)
		assert.Equal(t, strings.Repeat("x", 100000), res.Body)
	})

	t.Run("unreachable venue", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := ln.Addr().String()
		ln.Close()
		_, err = a.c.Add(fwdCtx(t), protocol.AddArgs{Name: "bn-closed", Scheme: "binance", APIKey: bnKey, Secret: protocol.Secret(bnSecret),
			Meta: map[string]string{"connect_to": closed, "ca_file": ex.CAFile()}, Verify: protocol.VerifyOff})
		require.NoError(t, err)
		_, err = a.c.Forward(fwdCtx(t), protocol.ForwardArgs{Credential: "bn-closed", TimeoutMS: 5000,
			HTTPRequest: protocol.HTTPRequest{Method: "GET", URL: "https://api.binance.com/api/v3/account"}})
		require.Error(t, err)
		assert.Equal(t, protocol.CodeUpstream, protocol.CodeOf(err), "%v", err)
		assert.Contains(t, err.Error(), closed)
		t.Logf("closed port: %v", err)
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		_, err := a.c.Add(fwdCtx(t), protocol.AddArgs{Name: "bn-sysroots", Scheme: "binance", APIKey: bnKey, Secret: protocol.Secret(bnSecret),
			Meta: map[string]string{"connect_to": ex.Addr()}, Verify: protocol.VerifyOff})
		require.NoError(t, err)
		before := len(ex.Requests())
		_, err = a.c.Forward(fwdCtx(t), protocol.ForwardArgs{Credential: "bn-sysroots",
			HTTPRequest: protocol.HTTPRequest{Method: "POST", URL: "https://api.binance.com/api/v3/order",
				Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
				Body:    "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=30000"}})
		require.Error(t, err)
		assert.Equal(t, protocol.CodeUpstream, protocol.CodeOf(err), "%v", err)
		assert.Contains(t, err.Error(), "certificate")
		t.Logf("system roots: %v", err)
		assert.NotContains(t, err.Error(), "the request was sent", "a TLS refusal happens before anything is sent")
		assert.Len(t, ex.Requests(), before, "the exchange saw a request over an untrusted connection")
	})
}

// fwdCLI runs keyward against the agent on sock and returns its stdout,
// its stderr and its exit code.
func fwdCLI(t *testing.T, sock string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(keywardBin, args...)
	cmd.Env = append(os.Environ(), "KEYWARD_SOCK="+sock, raceQuiet)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("keyward %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// listed returns the credential called name as `keyward list --json`
// shows it, or nil.
func listed(t *testing.T, sock, name string) *protocol.CredentialInfo {
	t.Helper()
	out, errOut, code := fwdCLI(t, sock, "list", "--json")
	require.Equal(t, 0, code, "keyward list: %s", errOut)
	var l protocol.ListResult
	require.NoError(t, json.Unmarshal([]byte(out), &l), "keyward list --json: %s", out)
	for i := range l.Credentials {
		if l.Credentials[i].Name == name {
			return &l.Credentials[i]
		}
	}
	return nil
}

// TestForwardKeyVerify adds keys with `keyward add --verify`: the agent
// asks the venue (the fake) what each key may do, refuses a key that can
// withdraw unless told, and a key the venue refuses.
func TestForwardKeyVerify(t *testing.T) {
	ex := startFwdExchange(t)
	a := startFwdAgent(t)
	via := []string{"--meta", "connect_to=" + ex.Addr(), "--meta", "ca_file=" + ex.CAFile()}
	add := func(name, scheme, apiKey, secret string, extra ...string) (stdout, stderr string, code int) {
		t.Helper()
		args := []string{"add", name, "--scheme", scheme, "--api-key", apiKey, "--secret-file", a.writeSecret(t, name+".secret", secret)}
		args = append(append(args, via...), extra...)
		return fwdCLI(t, a.sock, args...)
	}

	t.Run("binance withdraw", func(t *testing.T) {
		key, secret := "fwdVerifyWithdraw"+fwdUpper(20), fwdFakeSecret("binance")
		ex.AddAccount("binance", venue.Account{APIKey: key, Secret: []byte(secret)}, fakeexchange.Permissions{Read: true, Trade: true, Withdraw: true})

		out, errOut, code := add("bn-withdraw", "binance", key, secret, "--verify")
		assert.Equal(t, 1, code, "stdout: %s\nstderr: %s", out, errOut)
		assert.Contains(t, errOut, "can withdraw")
		assert.Contains(t, errOut, "--allow-withdraw-permission")
		t.Logf("withdrawal key refused: %s", errOut)
		assert.Nil(t, listed(t, a.sock, "bn-withdraw"), "a key that can withdraw was kept")

		out, errOut, code = add("bn-withdraw", "binance", key, secret, "--verify", "--allow-withdraw-permission")
		require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
		cred := listed(t, a.sock, "bn-withdraw")
		require.NotNil(t, cred)
		assert.Equal(t, "yes", cred.Meta["verified"])
		assert.Equal(t, "true", cred.Meta["can_withdraw"])
		assert.Contains(t, cred.Meta["permissions"], "enableWithdrawals=true")
		assert.Contains(t, cred.Meta["permissions"], "enableSpotAndMarginTrading=true")
		_, err := time.Parse(time.RFC3339, cred.Meta["verified_at"])
		assert.NoError(t, err, "verified_at %q", cred.Meta["verified_at"])
	})

	t.Run("binance trade only", func(t *testing.T) {
		key, secret := "fwdVerifyTrade"+fwdUpper(20), fwdFakeSecret("binance")
		ex.AddAccount("binance", venue.Account{APIKey: key, Secret: []byte(secret)}, fakeexchange.Permissions{Read: true, Trade: true})
		out, errOut, code := add("bn-trade", "binance", key, secret, "--verify")
		require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
		cred := listed(t, a.sock, "bn-trade")
		require.NotNil(t, cred)
		assert.Equal(t, "yes", cred.Meta["verified"])
		assert.Equal(t, "false", cred.Meta["can_withdraw"])
		assert.Contains(t, cred.Meta["permissions"], "enableWithdrawals=false")
	})

	t.Run("bybit", func(t *testing.T) {
		key, secret := "fwdBybit"+fwdUpper(10), fwdFakeSecret("bybit")
		ex.AddAccount("bybit", venue.Account{APIKey: key, Secret: []byte(secret)}, fakeexchange.Permissions{Read: true, Trade: true})
		out, errOut, code := add("bybit", "bybit", key, secret, "--verify")
		require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
		cred := listed(t, a.sock, "bybit")
		require.NotNil(t, cred)
		assert.Equal(t, "yes", cred.Meta["verified"])
		assert.Equal(t, "false", cred.Meta["can_withdraw"])
		assert.NotEmpty(t, cred.Meta["permissions"])
	})

	t.Run("alpaca", func(t *testing.T) {
		key, secret := "PK"+fwdUpper(18), "fake-alpaca-secret-for-tests-only-"+fwdHex(4)
		ex.AddAccount("alpaca", venue.Account{APIKey: key, Secret: []byte(secret)}, fakeexchange.Permissions{Read: true, Trade: true})
		out, errOut, code := add("alpaca", "alpaca", key, secret, "--verify")
		require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
		cred := listed(t, a.sock, "alpaca")
		require.NotNil(t, cred)
		assert.Equal(t, "yes", cred.Meta["verified"])
		assert.NotEqual(t, "true", cred.Meta["can_withdraw"], "permissions: %s", cred.Meta["permissions"])
		assert.NotEmpty(t, cred.Meta["permissions"])
	})

	t.Run("wrong secret", func(t *testing.T) {
		key := "fwdVerifyWrong" + fwdUpper(20)
		ex.AddAccount("binance", venue.Account{APIKey: key, Secret: []byte(fwdFakeSecret("binance"))}, fakeexchange.Permissions{Read: true, Trade: true})
		since := len(ex.Requests())
		wrong := fwdFakeSecret("binance")
		out, errOut, code := add("bn-wrong", "binance", key, wrong, "--verify")
		assert.Equal(t, 1, code, "stdout: %s\nstderr: %s", out, errOut)
		assert.Contains(t, errOut, "refused the key")
		assert.Contains(t, errOut, "Signature for this request is not valid.", "the venue's words")
		t.Logf("wrong secret refused: %s", errOut)
		assert.NotContains(t, errOut+out, wrong)
		assert.Nil(t, listed(t, a.sock, "bn-wrong"))
		seen := seenSince(t, ex, since, "api.binance.com", "/sapi/v1/account/apiRestrictions")
		assert.False(t, seen.Verified)
	})
}

// TestForwardClockOffset: the venue's clock runs 30 s ahead of the
// agent's. The agent measures it from the venue's time endpoint after a
// forward and signs with the corrected clock from then on.
func TestForwardClockOffset(t *testing.T) {
	// An exchange and an agent of its own: the offset is the exchange's
	// for every venue, and the agent keeps a host's offset for a while.
	ex := startFwdExchange(t)
	a := startFwdAgent(t)
	key, secret := "fwdClockKey"+fwdUpper(20), fwdFakeSecret("binance")
	ex.AddAccount("binance", venue.Account{APIKey: key, Secret: []byte(secret)}, fakeexchange.Permissions{Read: true, Trade: true})
	a.add(t, ex, protocol.AddArgs{Name: "bn", Scheme: "binance", APIKey: key, Secret: protocol.Secret(secret)})
	const offset = 30 * time.Second
	ex.SetClockOffset(offset)

	order := func(i int) (*protocol.HTTPResponse, fakeexchange.Seen) {
		t.Helper()
		since := len(ex.Requests())
		res, err := a.c.Forward(fwdCtx(t), protocol.ForwardArgs{Credential: "bn", HTTPRequest: protocol.HTTPRequest{
			Method: "POST", URL: "https://api.binance.com/api/v3/order",
			Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			Body:    "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=30000&newClientOrderId=fwdClock" + string(rune('0'+i)),
		}})
		require.NoError(t, err)
		return res, seenSince(t, ex, since, "api.binance.com", "/api/v3/order")
	}

	// The first order is signed with the agent's own clock: the venue
	// refuses it as too old, unless the agent already knew better.
	res, seen := order(0)
	if res.Status != 200 {
		assert.Equal(t, 400, res.Status, "venue's answer: %s", res.Body)
		assert.Contains(t, res.Body, "-1021")
		assert.Contains(t, res.Body, "outside of the recvWindow")
		assert.False(t, seen.Verified)
		t.Logf("first order refused as expected: %s (%s)", res.Body, seen.Reason)
	} else {
		assert.True(t, seen.Verified, seen.Reason)
	}

	// The agent asks the venue's time endpoint after a forward, in the
	// background; status shows what it measured.
	var clock protocol.ClockOffset
	require.Eventually(t, func() bool {
		out, errOut, code := fwdCLI(t, a.sock, "status", "--json")
		if code != 0 {
			t.Logf("keyward status: %s", errOut)
			return false
		}
		var st protocol.StatusResult
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Logf("keyward status --json: %v: %s", err, out)
			return false
		}
		for _, c := range st.Clocks {
			if c.Host == "api.binance.com" && c.Source == "server_time" {
				clock = c
				return true
			}
		}
		return false
	}, 20*time.Second, 100*time.Millisecond, "keyward status never showed api.binance.com's server time")
	assert.InDelta(t, offset.Milliseconds(), clock.OffsetMS, 2000, "offset %+v", clock)
	assert.Less(t, clock.UncertaintyMS, int64(2000), "%+v", clock)

	// From now on the agent signs with the venue's clock.
	res, seen = order(1)
	assert.Equal(t, 200, res.Status, "venue's answer: %s", res.Body)
	assert.True(t, seen.Verified, "the venue still refuses the agent's timestamps: %s", seen.Reason)
	assert.Contains(t, res.Body, `"orderId"`)
}
