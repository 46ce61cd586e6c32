package scheme

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type kucoinVectors struct {
	Source     string                                 `json:"source"`
	SDKVector  struct{ Secret, Prehash, Sign string } `json:"sdk_vector"`
	APIKey     string                                 `json:"api_key"`
	Secret     string                                 `json:"secret"`
	Passphrase string                                 `json:"passphrase"`
	Cases      []struct {
		Name       string `json:"name"`
		KeyVersion string `json:"key_version"`
		Method     string `json:"method"`
		URL        string `json:"url"`
		Body       string `json:"body"`
		NowMS      int64  `json:"now_ms"`
		Prehash    string `json:"prehash"`
		Sign       string `json:"sign"`
		Passphrase string `json:"passphrase"`
	} `json:"cases"`
}

func kucoinInput(req Request, secret, passphrase []byte, version string, now time.Time) Input {
	in := genericTestInput(req, "fake-kucoin-key", secret, nil, now)
	in.Passphrase = passphrase
	if version != "" {
		in.Meta = map[string]string{"key_version": version}
	}
	return in
}

// verifyKuCoin recomputes a signed request's KC-API-SIGN and
// KC-API-PASSPHRASE with crypto/hmac, decoding the endpoint with net/url.
func verifyKuCoin(t testing.TB, secret, passphrase []byte, out Request) {
	t.Helper()
	u, err := url.Parse(out.URL)
	require.NoError(t, err)
	endpoint := u.Path
	if u.RawQuery != "" {
		q, err := url.QueryUnescape(u.RawQuery)
		require.NoError(t, err)
		endpoint += "?" + q
	}
	pre := out.Headers["KC-API-TIMESTAMP"] + out.Method + endpoint + out.Body
	require.Equal(t, base64.StdEncoding.EncodeToString(genericTestMAC(sha256.New, secret, pre)), out.Headers["KC-API-SIGN"], "prehash %q", pre)
	switch out.Headers["KC-API-KEY-VERSION"] {
	case "1":
		require.Equal(t, string(passphrase), out.Headers["KC-API-PASSPHRASE"])
	default:
		require.Equal(t, base64.StdEncoding.EncodeToString(genericTestMAC(sha256.New, secret, string(passphrase))), out.Headers["KC-API-PASSPHRASE"])
	}
}

// TestKuCoinDocumentedExamples checks the official Go SDK's vector of the
// signing primitive and signs independently computed requests.
func TestKuCoinDocumentedExamples(t *testing.T) {
	v := loadVectors[kucoinVectors](t, "kucoin")
	require.Len(t, v.Cases, 4)

	// Kucoin/kucoin-go-sdk signer_test.go: the HMAC-SHA256+base64 primitive.
	scratch := make([]byte, ScratchSize)
	var mac [32]byte
	got := base64.StdEncoding.EncodeToString(hmacSHA256(scratch, []byte(v.SDKVector.Secret), mac[:0], []byte(v.SDKVector.Prehash)))
	assert.Equal(t, v.SDKVector.Sign, got)
	assert.True(t, allZero(scratch))

	s, ok := Lookup("kucoin")
	require.True(t, ok)
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			require.Equal(t, c.Sign, base64.StdEncoding.EncodeToString(genericTestMAC(sha256.New, []byte(v.Secret), c.Prehash)), "vector self-consistent")
			in := kucoinInput(Request{Method: c.Method, URL: c.URL, Body: c.Body}, []byte(v.Secret), []byte(v.Passphrase), c.KeyVersion, time.UnixMilli(c.NowMS))
			in.APIKey = v.APIKey
			out, err := s.Sign(in)
			require.NoError(t, err)
			want := map[string]string{
				"KC-API-KEY":         v.APIKey,
				"KC-API-SIGN":        c.Sign,
				"KC-API-TIMESTAMP":   fmt.Sprint(c.NowMS),
				"KC-API-PASSPHRASE":  c.Passphrase,
				"KC-API-KEY-VERSION": c.KeyVersion,
			}
			if c.Body != "" {
				want["Content-Type"] = "application/json"
			}
			assert.Equal(t, want, out.Headers)
			assert.Equal(t, c.URL, out.URL)
			assert.Equal(t, c.Body, out.Body)
			assert.Equal(t, c.Method, out.Method)
			assert.True(t, allZero(in.Scratch), "scratch wiped")
		})
	}
}

// kucoinWireQuery percent-encodes the raw query ccxt builds (rawencode)
// the way a bot's HTTP client sends it: every byte a URL cannot carry, and
// '+' and '%' so that they keep their meaning.
func kucoinWireQuery(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c <= ' ' || c >= 0x7f || c == '+' || c == '%' || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

type kucoinEndpointCase struct {
	path, api, method string
	pathParam         string // the path's {param}, if any
}

var kucoinEndpoints = []kucoinEndpointCase{
	{"accounts", "private", "GET", ""},
	{"orders", "private", "GET", ""},
	{"orders", "private", "POST", ""},
	{"orders/{orderId}", "private", "DELETE", "orderId"},
	{"orders/multi-cancel", "private", "DELETE", ""},
	{"hf/orders/alter", "private", "POST", ""},
	{"margin/order", "private", "POST", ""},
	{"orders", "futuresPrivate", "GET", ""},
	{"orders", "futuresPrivate", "POST", ""},
	{"orders/{orderId}", "futuresPrivate", "DELETE", "orderId"},
	{"position", "futuresPrivate", "GET", ""},
	{"broker/nd/info", "broker", "GET", ""},
}

// kucoinRandomParams builds ccxt params for a KuCoin call: raw values for
// the query (ccxt sends them unencoded), anything for a JSON body.
func kucoinRandomParams(r *rand.Rand, e kucoinEndpointCase) json.RawMessage {
	var pairs [][2]string
	if e.pathParam != "" {
		pairs = append(pairs, [2]string{e.pathParam, `"5bd6e9286d99522a52e458de"`})
	}
	body := e.method == "POST" || e.path == "orders/multi-cancel"
	for i, n := 0, r.IntN(5); i < n; i++ {
		name := genericTestPick(r, []string{"symbol", "currency", "type", "clientOid", "size", "price", "remark", "tradeType", "startAt", "side"})
		if slicesContainsPair(pairs, name) {
			continue
		}
		var val string
		switch k := r.IntN(10); {
		case body && k == 0:
			val = fmt.Sprintf("[%s,%s]", genericTestString(genericTestPick(r, genericTestValues)), genericTestString(genericTestPick(r, genericTestUnsafe)))
		case body && k == 1:
			val = fmt.Sprintf(`{"a":%s,"n":%d}`, genericTestString(genericTestPick(r, genericTestValues, genericTestUnsafe)), r.IntN(1000))
		case body && k == 2:
			val = fmt.Sprint(r.IntN(100000))
		case body:
			val = genericTestString(genericTestPick(r, genericTestValues, genericTestUnsafe))
		case k == 0:
			val = fmt.Sprintf(`["%d","%d"]`, r.IntN(9), r.IntN(9)) // ccxt writes arrays as name[0]=…&name[1]=…
		default:
			val = genericTestString(genericTestPick(r, genericTestValues))
		}
		pairs = append(pairs, [2]string{name, val})
	}
	return genericTestObject(pairs...)
}

func slicesContainsPair(pairs [][2]string, name string) bool {
	for _, p := range pairs {
		if p[0] == name {
			return true
		}
	}
	return false
}

// TestKuCoinCCXT signs ccxt-generated requests for version 2, 3 and 1 keys
// and compares the whole request with ccxt's.
func TestKuCoinCCXT(t *testing.T) {
	secret := []byte("00000000-fake-kucoin-test-secret-0000")
	passphrase := []byte("fake-pass phrase!")
	r := rand.New(rand.NewPCG(1, 2))
	var cases []ccxtCase
	var versions []string
	for i := range 120 {
		version := "2"
		switch {
		case i%4 == 1:
			version = "3"
		case i%4 == 3 && i%8 == 3:
			version = "1"
		}
		e := kucoinEndpoints[r.IntN(len(kucoinEndpoints))]
		c := ccxtCase{
			Exchange:    "kucoin",
			Credentials: map[string]string{"apiKey": "fake-kucoin-key", "secret": string(secret), "password": string(passphrase)},
			NowMS:       1700000000000 + r.Int64N(1e9),
			Path:        e.path, API: e.api, Method: e.method,
			Params: kucoinRandomParams(r, e),
		}
		if version != "2" {
			c.Headers = map[string]string{"KC-API-KEY-VERSION": version}
		}
		cases = append(cases, c)
		versions = append(versions, version)
	}
	res := ccxtSign(t, cases)
	counts := map[string]int{}
	for i, c := range cases {
		want := res[i]
		require.Empty(t, want.Error, "case %d", i)
		// The bot's request: ccxt's, on the wire, without what the agent adds.
		base, rawQuery, hasQuery := strings.Cut(want.URL, "?")
		botURL := base
		if hasQuery {
			botURL += "?" + kucoinWireQuery(rawQuery)
		}
		botHeaders := maps.Clone(want.Headers)
		delete(botHeaders, "KC-API-KEY")
		delete(botHeaders, "KC-API-SIGN")
		delete(botHeaders, "KC-API-PASSPHRASE")
		// kept: KC-API-TIMESTAMP and KC-API-KEY-VERSION (overwritten), the partner headers (dropped)

		in := kucoinInput(Request{Method: want.Method, URL: botURL, Headers: botHeaders, Body: want.Body}, secret, passphrase, versions[i], time.UnixMilli(c.NowMS))
		out, err := kucoin{}.Sign(in)
		require.NoError(t, err, "case %d: %s %s", i, want.Method, botURL)
		assert.Equal(t, want.Method, out.Method)
		assert.Equal(t, botURL, out.URL, "case %d", i)
		assert.Equal(t, want.Body, out.Body)
		wantHeaders := maps.Clone(want.Headers)
		// Difference 1: the agent leaves out ccxt's broker (partner) headers,
		// whose signature covers a timestamp and key the bot does not choose.
		delete(wantHeaders, "KC-API-PARTNER")
		delete(wantHeaders, "KC-API-PARTNER-SIGN")
		delete(wantHeaders, "KC-API-PARTNER-VERIFY")
		if versions[i] == "3" {
			// Difference 2: ccxt sends a version 3 key's passphrase in clear;
			// KuCoin's docs and SDKs sign it as for version 2.
			require.Equal(t, string(passphrase), wantHeaders["KC-API-PASSPHRASE"], "ccxt's behaviour changed")
			wantHeaders["KC-API-PASSPHRASE"] = base64.StdEncoding.EncodeToString(genericTestMAC(sha256.New, secret, string(passphrase)))
		}
		assert.Equal(t, wantHeaders, out.Headers, "case %d: %s %s", i, want.Method, want.URL)
		verifyKuCoin(t, secret, passphrase, out)
		counts[versions[i]]++
	}
	t.Logf("key versions signed: %v", counts)
	assert.GreaterOrEqual(t, counts["2"], 50)
}

func TestKuCoinHeaders(t *testing.T) {
	secret, pass := []byte("fake-kucoin-secret-01"), []byte("pw")
	in := kucoinInput(Request{
		Method: "POST", URL: "https://api.kucoin.com/api/v1/orders",
		Headers: map[string]string{
			"kc-api-key": "spoof", "KC-API-TIMESTAMP": "1", "kc-api-sign": "x", "KC-API-PASSPHRASE": "clear!", "kc-api-key-version": "1",
			"KC-API-PARTNER": "ccxt", "kc-api-partner-sign": "stale", "KC-API-PARTNER-VERIFY": "true",
			"User-Agent": "bot/1", "content-type": "application/json; charset=utf-8",
		},
		Body: `{"symbol":"BTC-USDT"}`,
	}, secret, pass, "3", time.UnixMilli(1700000000123))
	before := maps.Clone(in.Request.Headers)
	out, err := kucoin{}.Sign(in)
	require.NoError(t, err)
	verifyKuCoin(t, secret, pass, out)
	assert.Equal(t, "1700000000123", out.Headers["KC-API-TIMESTAMP"])
	assert.Equal(t, "3", out.Headers["KC-API-KEY-VERSION"])
	assert.Equal(t, "fake-kucoin-key", out.Headers["KC-API-KEY"])
	assert.Len(t, out.Headers, 7, "%v", out.Headers)
	assert.Equal(t, "bot/1", out.Headers["User-Agent"])
	assert.Equal(t, "application/json; charset=utf-8", out.Headers["content-type"])
	assert.Equal(t, before, in.Request.Headers, "input headers untouched")

	// '+' in the query is a space, as KuCoin's server reads it; %2B is a '+'.
	for raw, endpoint := range map[string]string{
		"?a=x+y":         "/api/v1/orders?a=x y",
		"?a=x%2By":       "/api/v1/orders?a=x+y",
		"?a=%E2%82%AC&b": "/api/v1/orders?a=€&b",
		"?":              "/api/v1/orders",
		"":               "/api/v1/orders",
	} {
		ep, err := kucoinEndpoint("https://api.kucoin.com/api/v1/orders", strings.TrimPrefix(raw, "?"))
		require.NoError(t, err)
		assert.Equal(t, endpoint, ep, raw)
	}
}

func TestKuCoinRefusals(t *testing.T) {
	orders := "https://api.kucoin.com/api/v1/orders"
	cases := []struct {
		name, method, url, body string
		headers                 map[string]string
		want                    string
	}{
		{"foreign host", "GET", "https://evil.example/api/v1/orders", "", nil, "not one of the credential's hosts"},
		{"public-only host", "GET", "https://www.kucoin.com/api/v1/orders", "", nil, "not one of the credential's hosts"},
		{"http", "GET", "http://api.kucoin.com/api/v1/orders", "", nil, "https"},
		{"fragment", "GET", orders + "#x", "", nil, "fragment"},
		{"raw space", "GET", orders + "?a=b c", "", nil, "%20"},
		{"raw unicode", "GET", orders + "?a=é", "", nil, "%C3%A9"},
		{"bad escape in query", "GET", orders + "?a=%zz", "", nil, "two hex digits"},
		{"bad escape in path", "GET", "https://api.kucoin.com/api/v1/orders/%g1", "", nil, "does not parse"},
		{"method", "PATCH", orders, "", nil, "method"},
		{"lower-case method", "post", orders, "", nil, "upper case"},
		{"GET body", "GET", orders, `{"a":1}`, nil, "GET"},
		{"form body", "POST", orders, "a=1&b=2", nil, "not valid JSON"},
		{"form content type", "POST", orders, `{"a":1}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "application/json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := kucoin{}.Sign(kucoinInput(Request{Method: c.method, URL: c.url, Body: c.body, Headers: c.headers}, []byte("fake-kucoin-secret-01"), []byte("pw"), "", time.UnixMilli(1)))
			requireRefusal(t, err, "kucoin", c.want)
		})
	}
}

func TestKuCoinCheck(t *testing.T) {
	secret := []byte("5f3c2a1b-0000-4fake-8000-0123456789ab")
	for _, v := range []string{"", "1", "2", "3"} {
		meta := map[string]string{}
		if v != "" {
			meta["key_version"] = v
		}
		c, err := kucoin{}.Check(Key{APIKey: "5c2db93503aa674c74a31734", Secret: secret, Passphrase: []byte("my pass"), Meta: meta})
		require.NoError(t, err, v)
		assert.Equal(t, KeyHMAC, c.KeyType)
		assert.Nil(t, c.Secret)
	}
	cases := []struct {
		name   string
		key    Key
		want   string
		secret string
	}{
		{"no passphrase", Key{APIKey: "k", Secret: secret}, "--passphrase-file", ""},
		{"passphrase with newline", Key{APIKey: "k", Secret: secret, Passphrase: []byte("pw\n")}, "line ending", "pw"},
		{"long passphrase", Key{APIKey: "k", Secret: secret, Passphrase: make([]byte, 300)}, "at most 32", ""},
		{"bad key_version", Key{APIKey: "k", Secret: secret, Passphrase: []byte("pw"), Meta: map[string]string{"key_version": "4"}}, "1, 2 or 3", ""},
		{"short secret", Key{APIKey: "k", Secret: []byte("short"), Passphrase: []byte("pw")}, "8 to 512", "short"},
		{"pem secret", Key{APIKey: "k", Secret: []byte("-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----"), Passphrase: []byte("pw")}, "PEM", ""},
		{"secret with newline", Key{APIKey: "k", Secret: []byte("5f3c2a1b-0000-4fake\n"), Passphrase: []byte("pw")}, "control", "5f3c2a1b"},
		{"no api key", Key{Secret: secret, Passphrase: []byte("pw")}, "API key", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := kucoin{}.Check(c.key)
			requireRefusal(t, err, "kucoin", c.want)
			if c.secret != "" {
				assert.NotContains(t, err.Error(), c.secret)
			}
		})
	}
	info := kucoin{}.Info()
	assert.Equal(t, PassphraseRequired, info.Passphrase)
	assert.NotEmpty(t, info.Meta["key_version"])
	assert.Len(t, info.ClearSecrets, 1)
	assert.Contains(t, kucoin{}.Hosts(), "api-futures.kucoin.com")
	assert.Contains(t, kucoin{}.Hosts(), "openapi-sandbox.kucoin.com")
}

func TestKuCoinAgentFaults(t *testing.T) {
	req := Request{Method: "GET", URL: "https://api.kucoin.com/api/v1/accounts"}
	for name, in := range map[string]Input{
		"empty secret":     kucoinInput(req, nil, []byte("pw"), "", time.UnixMilli(1)),
		"empty passphrase": kucoinInput(req, []byte("s"), nil, "", time.UnixMilli(1)),
		"bad version":      kucoinInput(req, []byte("s"), []byte("pw"), "9", time.UnixMilli(1)),
		"short scratch": func() Input {
			in := kucoinInput(req, []byte("s"), []byte("pw"), "", time.UnixMilli(1))
			in.Scratch = in.Scratch[:63]
			return in
		}(),
		"bad api key": func() Input {
			in := kucoinInput(req, []byte("s"), []byte("pw"), "", time.UnixMilli(1))
			in.APIKey = "a\rb"
			return in
		}(),
	} {
		_, err := kucoin{}.Sign(in)
		require.Error(t, err, name)
		assert.False(t, errors.As(err, new(*RequestError)), name)
	}
}

// Neither the secret nor (for version 2 and 3 keys) the passphrase appears
// in a reply or an error.
func TestKuCoinNoSecretInOutput(t *testing.T) {
	secret, pass := []byte("SECRETSECRETSECRET"), []byte("PASSPHRASEPASS")
	for _, v := range []string{"2", "3"} {
		for _, u := range []string{"https://api.kucoin.com/api/v1/orders?a=SECRETSECRETSECRET", "https://api.kucoin.com/api/v1/orders?a=b c", "https://evil.example/x"} {
			out, err := kucoin{}.Sign(kucoinInput(Request{Method: "DELETE", URL: u}, secret, pass, v, time.UnixMilli(1)))
			if err != nil {
				assert.NotContains(t, err.Error(), string(secret))
				assert.NotContains(t, err.Error(), string(pass))
				continue
			}
			for k, val := range out.Headers {
				assert.NotContains(t, k+val, string(secret))
				assert.NotContains(t, k+val, string(pass))
			}
		}
	}
}

func FuzzKuCoinSign(f *testing.F) {
	f.Add("GET", "/api/v1/accounts", "currency=USDT&type=trade", "")
	f.Add("POST", "/api/v1/orders", "", `{"clientOid":"a b","size":"1"}`)
	f.Add("DELETE", "/api/v1/orders/multi-cancel", "a=x+y%2B%E2%82%AC", `{"symbol":"BTC-USDT"}`)
	f.Add("GET", "/api/v1/%zz", "a=%", "x")
	secret, pass := []byte("fake-kucoin-secret-01"), []byte("fake pass")
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		u := "https://api.kucoin.com" + path
		if query != "" {
			u += "?" + query
		}
		in := kucoinInput(Request{Method: method, URL: u, Body: body}, secret, pass, "2", time.UnixMilli(1700000000123))
		out, err := kucoin{}.Sign(in)
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "non-RequestError %v", err)
			return
		}
		require.True(t, allZero(in.Scratch))
		require.Equal(t, u, out.URL, "URL sent as given")
		require.Equal(t, body, out.Body)
		verifyKuCoin(t, secret, pass, out)
	})
}

func BenchmarkKuCoinSign(b *testing.B) {
	in := kucoinInput(Request{
		Method: "POST", URL: "https://api.kucoin.com/api/v1/hf/orders",
		Headers: map[string]string{"Content-Type": "application/json"},
		Body:    `{"clientOid":"5c52e11203aa677f33e493fb","side":"buy","symbol":"BTC-USDT","type":"limit","price":"65000","size":"0.001"}`,
	}, []byte("fake-kucoin-secret-01"), []byte("fake pass"), "2", time.UnixMilli(1700000000123))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (kucoin{}).Sign(in); err != nil {
			b.Fatal(err)
		}
	}
}
