package scheme

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type bitfinexVectors struct {
	Source string `json:"source"`
	APIKey string `json:"api_key"`
	Secret string `json:"secret"`
	Cases  []struct {
		Name      string `json:"name"`
		URL       string `json:"url"`
		Body      string `json:"body"`
		NowMS     int64  `json:"now_ms"`
		NonceUnit string `json:"nonce_unit"`
		Nonce     string `json:"nonce"`
		Payload   string `json:"payload"`
		Signature string `json:"signature"`
	} `json:"cases"`
}

// verifyBitfinex recomputes bfx-signature with crypto/hmac.
func verifyBitfinex(t testing.TB, secret []byte, out Request) {
	t.Helper()
	path := strings.TrimPrefix(out.URL, "https://api.bitfinex.com")
	payload := "/api" + path + out.Headers["bfx-nonce"] + out.Body
	require.Equal(t, hex.EncodeToString(genericTestMAC(sha512.New384, secret, payload)), out.Headers["bfx-signature"], "payload %q", payload)
}

// TestBitfinexVectors signs independently computed vectors (Bitfinex
// publishes none with a signature).
func TestBitfinexVectors(t *testing.T) {
	v := loadVectors[bitfinexVectors](t, "bitfinex")
	require.Len(t, v.Cases, 3)
	s, ok := Lookup("bitfinex")
	require.True(t, ok)
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			require.Equal(t, c.Signature, hex.EncodeToString(genericTestMAC(sha512.New384, []byte(v.Secret), c.Payload)), "vector self-consistent")
			in := genericTestInput(Request{Method: "POST", URL: c.URL, Body: c.Body}, v.APIKey, []byte(v.Secret), map[string]string{"nonce_unit": c.NonceUnit}, time.UnixMilli(c.NowMS))
			out, err := s.Sign(in)
			require.NoError(t, err)
			assert.Equal(t, map[string]string{
				"bfx-nonce": c.Nonce, "bfx-apikey": v.APIKey, "bfx-signature": c.Signature, "Content-Type": "application/json",
			}, out.Headers)
			assert.Equal(t, c.URL, out.URL)
			assert.Equal(t, c.Body, out.Body)
			assert.True(t, allZero(in.Scratch), "scratch wiped")
		})
	}
}

var bitfinexEndpoints = []struct{ path, param string }{
	{"auth/r/wallets", ""},
	{"auth/w/order/submit", ""},
	{"auth/w/order/update", ""},
	{"auth/w/order/cancel", ""},
	{"auth/w/order/multi", ""},
	{"auth/r/orders/{symbol}", "symbol"},
	{"auth/r/orders/{symbol}/hist", "symbol"},
	{"auth/r/trades/{symbol}/hist", "symbol"},
	{"auth/r/ledgers/{currency}/hist", "currency"},
	{"auth/r/positions", ""},
	{"auth/w/deposit/address", ""},
	{"auth/r/info/user", ""},
}

// TestBitfinexCCXT signs ccxt-generated requests and compares the whole
// request with ccxt's.
func TestBitfinexCCXT(t *testing.T) {
	secret := []byte("fake0000bitfinex0000test0000secret0000abcdef0123")
	r := rand.New(rand.NewPCG(7, 8))
	var cases []ccxtCase
	for range 70 {
		e := bitfinexEndpoints[r.IntN(len(bitfinexEndpoints))]
		var pairs [][2]string
		if e.param != "" {
			pairs = append(pairs, [2]string{e.param, `"tBTCUSD"`})
		}
		for i, n := 0, r.IntN(6); i < n; i++ {
			name := genericTestPick(r, []string{"type", "symbol", "amount", "price", "flags", "meta", "cid", "limit", "start", "ops", "id"})
			if slicesContainsPair(pairs, name) {
				continue
			}
			var val string
			switch r.IntN(6) {
			case 0:
				val = fmt.Sprint(r.IntN(1 << 20))
			case 1:
				val = fmt.Sprintf(`[["oc",{"id":[%d,%d]}],["on",{"type":%s}]]`, r.IntN(99), r.IntN(99), genericTestString(genericTestPick(r, genericTestValues)))
			case 2:
				val = fmt.Sprintf(`{"aff_code":%s,"nested":{"b":true,"n":null}}`, genericTestString(genericTestPick(r, genericTestValues, genericTestUnsafe)))
			default:
				val = genericTestString(genericTestPick(r, genericTestValues, genericTestUnsafe))
			}
			pairs = append(pairs, [2]string{name, val})
		}
		cases = append(cases, ccxtCase{
			Exchange:    "bitfinex",
			Credentials: map[string]string{"apiKey": "fake-bitfinex-key", "secret": string(secret)},
			NowMS:       1700000000000 + r.Int64N(1e9),
			Path:        e.path, API: "private", Method: "POST",
			Params: genericTestObject(pairs...),
		})
	}
	res := ccxtSign(t, cases)
	for i, c := range cases {
		want := res[i]
		require.Empty(t, want.Error, "case %d", i)
		bot := Request{Method: want.Method, URL: want.URL, Body: want.Body, Headers: maps.Clone(want.Headers)}
		delete(bot.Headers, "bfx-apikey")
		delete(bot.Headers, "bfx-signature")
		// kept: bfx-nonce (overwritten) and Content-Type.
		in := genericTestInput(bot, "fake-bitfinex-key", secret, nil, time.UnixMilli(c.NowMS))
		out, err := bitfinex{}.Sign(in)
		require.NoError(t, err, "case %d: %s %s", i, want.URL, want.Body)
		assert.Equal(t, Request{Method: want.Method, URL: want.URL, Headers: want.Headers, Body: want.Body}, out, "case %d", i)
		verifyBitfinex(t, secret, out)
	}
}

// Nonces come from the credential's history, strictly increasing, in the
// unit the credential says; a bot's bfx-nonce is overwritten.
func TestBitfinexNonces(t *testing.T) {
	secret := []byte("fake-bitfinex-secret")
	last := uint64(0)
	var units []time.Duration
	next := func(unit time.Duration) uint64 {
		units = append(units, unit)
		last++
		return 1700000000123000 + last
	}
	req := Request{Method: "POST", URL: "https://api.bitfinex.com/v2/auth/r/wallets", Body: "{}", Headers: map[string]string{"BFX-NONCE": "99999999999999999", "bfx-apikey": "spoof"}}
	var prev string
	for i := range 5 {
		in := genericTestInput(req, "k", secret, map[string]string{"nonce_unit": "us"}, time.UnixMilli(1)) // the clock is behind: the history wins
		in.Nonce = next
		out, err := bitfinex{}.Sign(in)
		require.NoError(t, err)
		verifyBitfinex(t, secret, out)
		assert.Equal(t, fmt.Sprint(1700000000123000+i+1), out.Headers["bfx-nonce"])
		assert.Greater(t, out.Headers["bfx-nonce"], prev)
		prev = out.Headers["bfx-nonce"]
		assert.Len(t, out.Headers, 4, "%v", out.Headers)
		assert.Equal(t, "k", out.Headers["bfx-apikey"])
	}
	for _, u := range units {
		assert.Equal(t, time.Microsecond, u)
	}
	out, err := bitfinex{}.Sign(genericTestInput(req, "k", secret, nil, time.UnixMilli(1700000000123)))
	require.NoError(t, err)
	assert.Equal(t, "1700000000123", out.Headers["bfx-nonce"], "ccxt's unit, milliseconds, by default")
}

func TestBitfinexRefusals(t *testing.T) {
	wallets := "https://api.bitfinex.com/v2/auth/r/wallets"
	cases := []struct {
		name, method, url, body string
		headers                 map[string]string
		want                    string
	}{
		{"foreign host", "POST", "https://evil.example/v2/auth/r/wallets", "{}", nil, "not one of the credential's hosts"},
		{"public host", "POST", "https://api-pub.bitfinex.com/v2/auth/r/wallets", "{}", nil, "not one of the credential's hosts"},
		{"http", "POST", "http://api.bitfinex.com/v2/auth/r/wallets", "{}", nil, "https"},
		{"GET", "GET", wallets, "", nil, "POST"},
		{"query", "POST", wallets + "?limit=1", "{}", nil, "query string"},
		{"empty query", "POST", wallets + "?", "{}", nil, "query string"},
		{"public path", "POST", "https://api.bitfinex.com/v2/tickers", "{}", nil, "/v2/auth/"},
		{"v1 path", "POST", "https://api.bitfinex.com/v1/balances", "{}", nil, "/v2/auth/"},
		{"empty body", "POST", wallets, "", nil, "send {}"},
		{"array body", "POST", wallets, "[]", nil, "JSON object"},
		{"bad JSON", "POST", wallets, `{"a":}`, nil, "JSON object"},
		{"form body", "POST", wallets, "a=1", nil, "JSON object"},
		{"wrong content type", "POST", wallets, "{}", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "application/json"},
		{"fragment", "POST", wallets + "#x", "{}", nil, "fragment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := bitfinex{}.Sign(genericTestInput(Request{Method: c.method, URL: c.url, Body: c.body, Headers: c.headers}, "k", []byte("fake-bitfinex-secret"), nil, time.UnixMilli(1)))
			requireRefusal(t, err, "bitfinex", c.want)
		})
	}
}

func TestBitfinexCheck(t *testing.T) {
	secret := []byte("fake0000bitfinex0000test0000secret0000abcdef0123")
	for _, unit := range []string{"", "ms", "us"} {
		c, err := bitfinex{}.Check(Key{APIKey: "k", Secret: secret, Meta: map[string]string{"nonce_unit": unit}})
		require.NoError(t, err)
		assert.Equal(t, KeyHMAC, c.KeyType)
	}
	for _, k := range []struct {
		name string
		key  Key
		want string
	}{
		{"bad nonce unit", Key{APIKey: "k", Secret: secret, Meta: map[string]string{"nonce_unit": "ns"}}, "ms or us"},
		{"short secret", Key{APIKey: "k", Secret: []byte("Zq9x7w")}, "8 to 512"},
		{"pem", Key{APIKey: "k", Secret: []byte("-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----")}, "PEM"},
		{"no api key", Key{Secret: secret}, "API key"},
	} {
		_, err := bitfinex{}.Check(k.key)
		requireRefusal(t, err, "bitfinex", k.want)
		assert.NotContains(t, err.Error(), string(k.key.Secret))
	}
	assert.Equal(t, []string{"api.bitfinex.com"}, bitfinex{}.Hosts())
	assert.NotEmpty(t, bitfinex{}.Info().Meta["nonce_unit"])
}

func TestBitfinexAgentFaults(t *testing.T) {
	req := Request{Method: "POST", URL: "https://api.bitfinex.com/v2/auth/r/wallets", Body: "{}"}
	short := genericTestInput(req, "k", []byte("s"), nil, time.UnixMilli(1))
	short.Scratch = short.Scratch[:200]
	for name, in := range map[string]Input{
		"empty secret":   genericTestInput(req, "k", nil, nil, time.UnixMilli(1)),
		"short scratch":  short,
		"bad api key":    genericTestInput(req, "a\x00b", []byte("s"), nil, time.UnixMilli(1)),
		"bad nonce unit": genericTestInput(req, "k", []byte("s"), map[string]string{"nonce_unit": "s"}, time.UnixMilli(1)),
	} {
		_, err := bitfinex{}.Sign(in)
		require.Error(t, err, name)
		assert.False(t, errors.As(err, new(*RequestError)), name)
	}
}

func TestBitfinexNoSecretInOutput(t *testing.T) {
	secret := []byte("SECRETSECRETSECRET")
	for _, body := range []string{`{"a":"SECRETSECRETSECRET"}`, "x", ""} {
		out, err := bitfinex{}.Sign(genericTestInput(Request{Method: "POST", URL: "https://api.bitfinex.com/v2/auth/r/wallets", Body: body}, "k", secret, nil, time.UnixMilli(1)))
		if err != nil {
			assert.NotContains(t, err.Error(), string(secret))
			continue
		}
		for k, v := range out.Headers {
			assert.NotContains(t, k+v, string(secret))
		}
	}
}

func FuzzBitfinexSign(f *testing.F) {
	f.Add("/v2/auth/r/wallets", "{}")
	f.Add("/v2/auth/w/order/submit", `{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","amount":"0.1","price":"1e4","meta":{"aff_code":"é"}}`)
	f.Add("/v2/auth/r/orders/tBTCUSD/hist", " {\"limit\": 25} ")
	f.Add("/v2/auth/x", "{")
	secret := []byte("fake-bitfinex-secret")
	f.Fuzz(func(t *testing.T, path, body string) {
		u := "https://api.bitfinex.com" + path
		in := genericTestInput(Request{Method: "POST", URL: u, Body: body}, "k", secret, nil, time.UnixMilli(1700000000123))
		out, err := bitfinex{}.Sign(in)
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "non-RequestError %v", err)
			return
		}
		require.True(t, allZero(in.Scratch))
		require.Equal(t, u, out.URL)
		require.Equal(t, body, out.Body)
		require.Equal(t, "1700000000123", out.Headers["bfx-nonce"])
		verifyBitfinex(t, secret, out)
	})
}

func BenchmarkBitfinexSign(b *testing.B) {
	in := genericTestInput(Request{
		Method: "POST", URL: "https://api.bitfinex.com/v2/auth/w/order/submit",
		Headers: map[string]string{"Content-Type": "application/json"},
		Body:    `{"type":"EXCHANGE LIMIT","symbol":"tBTCUSD","amount":"0.001","price":"65000","cid":1700000000123}`,
	}, "fake-bitfinex-key", []byte("fake0000bitfinex0000test0000secret0000abcdef0123"), nil, time.UnixMilli(1700000000123))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (bitfinex{}).Sign(in); err != nil {
			b.Fatal(err)
		}
	}
}
