package scheme

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Helpers shared by the okx, bybit and bitget tests are named okxFam*.

func okxFamInput(req Request, apiKey, keyType string, secret, pass []byte, now time.Time) Input {
	return Input{
		Request:    req,
		APIKey:     apiKey,
		KeyType:    keyType,
		Secret:     secret,
		Passphrase: pass,
		Scratch:    make([]byte, ScratchSize),
		Now:        now,
	}
}

func okxFamHMACB64(secret []byte, msg string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// okxFamValues are parameter values for generated requests: spaces,
// unicode, empty values, reserved characters, numbers as strings.
var okxFamValues = []string{
	"BTCUSDT", "BTC-USDT", "0.001", "10000", "", "a b", "héllo", "龙虾USDT", "x,y",
	"50%", "a&b=c", "+1", "$DEGEN", "~_-.", "Ünïcødé ✓", "1e-8", "true", "[1,2]",
	`quote"d`, "back\\slash", "tab\tnew\nline", "<&>", "emoji 🚀", "/path?q",
}

var okxFamNames = []string{
	"symbol", "category", "side", "orderType", "qty", "price", "clientOid", "instId",
	"ccy", "limit", "cursor", "after", "before", "tag", "note", "marginCoin",
	"productType", "orderLinkId", "timeInForce", "Zeta", "alpha", "state",
}

// okxFamParams returns a JSON object of n distinct names, in random order,
// with values drawn from okxFamValues; arrays appear when arrays is set.
func okxFamParams(r *rand.Rand, n int, arrays bool) json.RawMessage {
	names := append([]string(nil), okxFamNames...)
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < n && i < len(names); i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(names[i])
		b.Write(k)
		b.WriteByte(':')
		if arrays && r.IntN(6) == 0 {
			v, _ := json.Marshal([]string{okxFamValues[r.IntN(len(okxFamValues))], okxFamValues[r.IntN(len(okxFamValues))]})
			b.Write(v)
		} else {
			v, _ := json.Marshal(okxFamValues[r.IntN(len(okxFamValues))])
			b.Write(v)
		}
	}
	b.WriteByte('}')
	return json.RawMessage(b.String())
}

// okxFamStrip turns ccxt's signed request into the bot's unsigned one by
// dropping the headers the agent sets.
func okxFamStrip(res ccxtResult, drop ...string) Request {
	return Request{Method: res.Method, URL: res.URL, Body: res.Body, Headers: copyHeaders(res.Headers, 0, drop...)}
}

// okxFamCompare expects the scheme's request to be ccxt's, byte for byte.
func okxFamCompare(t *testing.T, name string, want ccxtResult, got Request) {
	t.Helper()
	assert.Equal(t, want.Method, got.Method, name)
	assert.Equal(t, want.URL, got.URL, name)
	assert.Equal(t, want.Body, got.Body, name)
	assert.Equal(t, want.Headers, got.Headers, name)
}

// okxFamNoSecret fails if s holds any of the secrets.
func okxFamNoSecret(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		if len(sec) < 6 {
			continue // too short to tell from ordinary text
		}
		assert.NotContains(t, s, sec)
	}
}

type okxVectors struct {
	Source     string `json:"source"`
	APIKey     string `json:"api_key"`
	SecretKey  string `json:"secret_key"`
	Passphrase string `json:"passphrase"`
	Now        string `json:"now"`
	Cases      []struct {
		Name   string `json:"name"`
		Method string `json:"method"`
		URL    string `json:"url"`
		Body   string `json:"body"`
		Plain  string `json:"plain"`
		Sign   string `json:"sign"`
		Source string `json:"source"`
	} `json:"cases"`
	WS struct {
		NowS  int64  `json:"now_s"`
		URL   string `json:"url"`
		Body  string `json:"body"`
		Plain string `json:"plain"`
		Sign  string `json:"sign"`
		Want  string `json:"want"`
	} `json:"ws"`
}

func loadOKXVectors(t testing.TB) okxVectors {
	v := loadVectors[okxVectors](t, "okx")
	require.NotEmpty(t, v.Cases)
	return v
}

// TestOKXDocumentedExamples signs OKX's documented examples (timestamp,
// paths, bodies, SecretKey) and expects the independently computed
// signatures of the documented strings to sign.
func TestOKXDocumentedExamples(t *testing.T) {
	v := loadOKXVectors(t)
	now, err := time.Parse(time.RFC3339Nano, v.Now)
	require.NoError(t, err)
	s, ok := Lookup("okx")
	require.True(t, ok)
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			require.Equal(t, c.Sign, okxFamHMACB64([]byte(v.SecretKey), c.Plain), "vector is self-consistent")
			in := okxFamInput(Request{Method: c.Method, URL: c.URL, Body: c.Body}, v.APIKey, KeyHMAC, []byte(v.SecretKey), []byte(v.Passphrase), now)
			out, err := s.Sign(in)
			require.NoError(t, err)
			assert.Equal(t, c.URL, out.URL)
			assert.Equal(t, c.Body, out.Body)
			want := map[string]string{
				"OK-ACCESS-KEY":        v.APIKey,
				"OK-ACCESS-SIGN":       c.Sign,
				"OK-ACCESS-TIMESTAMP":  "2020-12-08T09:08:57.715Z",
				"OK-ACCESS-PASSPHRASE": v.Passphrase,
			}
			if c.Method == "POST" {
				want["Content-Type"] = "application/json"
			}
			assert.Equal(t, want, out.Headers)
			assert.True(t, allZero(in.Scratch), "scratch wiped")
		})
	}
	t.Run("websocket login", func(t *testing.T) {
		require.Equal(t, v.WS.Sign, okxFamHMACB64([]byte(v.SecretKey), v.WS.Plain))
		in := okxFamInput(Request{Method: MethodWS, URL: v.WS.URL, Body: v.WS.Body}, v.APIKey, KeyHMAC, []byte(v.SecretKey), []byte(v.Passphrase), time.Unix(v.WS.NowS, 999_000_000))
		out, err := s.Sign(in)
		require.NoError(t, err)
		assert.Equal(t, MethodWS, out.Method)
		assert.Equal(t, v.WS.URL, out.URL)
		assert.Equal(t, v.WS.Want, out.Body)
		assert.True(t, json.Valid([]byte(out.Body)))
	})
}

// TestOKXCCXT is the differential test: ccxt's okx sign() and the scheme
// must produce the same request for generated GET and POST requests.
func TestOKXCCXT(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 0x0c5))
	secret := "ccxt-okx-test-secret-0123456789"
	pass := "Test-Pass#1"
	type gen struct {
		path, method string
		now          int64
	}
	gets := []string{"account/balance", "trade/orders-pending", "asset/bills", "account/positions", "trade/fills-history"}
	posts := []string{"trade/cancel-order", "asset/transfer", "account/set-leverage", "trade/amend-order", "trade/order"}
	var cases []ccxtCase
	var gens []gen
	for i := 0; i < 120; i++ {
		g := gen{method: "GET", path: gets[r.IntN(len(gets))], now: 1_600_000_000_000 + r.Int64N(200_000_000_000)}
		if i%2 == 1 {
			g.method = "POST"
			g.path = posts[r.IntN(len(posts))]
		}
		n := r.IntN(6)
		if i < 4 {
			n = 0
		}
		cases = append(cases, ccxtCase{
			Exchange:    "okx",
			Credentials: map[string]string{"apiKey": fmt.Sprintf("okx-key-%d", i), "secret": secret, "password": pass},
			NowMS:       g.now,
			UUID:        "0123456789abcdef",
			Path:        g.path, API: "private", Method: g.method,
			Params: okxFamParams(r, n, g.method == "GET"),
		})
		gens = append(gens, g)
	}
	res := ccxtSign(t, cases)
	compared := map[string]int{}
	for i, c := range res {
		name := fmt.Sprintf("case %d %s %s %s", i, cases[i].Method, cases[i].Path, cases[i].Params)
		require.Empty(t, c.Error, name)
		bot := okxFamStrip(c, "OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-TIMESTAMP", "OK-ACCESS-PASSPHRASE")
		want := c
		if i%5 == 0 {
			// The bot's own headers travel untouched: demo trading, a user agent.
			bot.Headers["x-simulated-trading"] = "1"
			want.Headers = copyHeaders(c.Headers, 1)
			want.Headers["x-simulated-trading"] = "1"
		}
		if i%3 == 0 {
			// Without a Content-Type, the agent adds ccxt's.
			bot.Headers = copyHeaders(bot.Headers, 0, "Content-Type")
		}
		in := okxFamInput(bot, cases[i].Credentials["apiKey"], KeyHMAC, []byte(secret), []byte(pass), time.UnixMilli(gens[i].now))
		out, err := okx{}.Sign(in)
		require.NoError(t, err, name)
		okxFamCompare(t, name, want, out)
		compared[gens[i].method]++
	}
	t.Logf("compared with ccxt: %v", compared)
	assert.GreaterOrEqual(t, compared["GET"]+compared["POST"], 100)
	assert.GreaterOrEqual(t, compared["GET"], 50)
	assert.GreaterOrEqual(t, compared["POST"], 50)
}

func TestOKXHeaders(t *testing.T) {
	in := okxFamInput(Request{
		Method: "POST",
		URL:    "https://aws.okx.com/api/v5/trade/order",
		Headers: map[string]string{
			"ok-access-key": "spoofed", "OK-ACCESS-SIGN": "x", "ok-access-timestamp": "1", "Ok-Access-Passphrase": "guess",
			"x-simulated-trading": "1", "content-type": "application/json; charset=utf-8", "User-Agent": "bot/1",
		},
		Body: `{"instId":"BTC-USDT"}`,
	}, "key", KeyHMAC, []byte("okx-secret"), []byte("pass"), time.UnixMilli(1))
	out, err := okx{}.Sign(in)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"OK-ACCESS-KEY": "key", "OK-ACCESS-SIGN": out.Headers["OK-ACCESS-SIGN"], "OK-ACCESS-TIMESTAMP": "1970-01-01T00:00:00.001Z",
		"OK-ACCESS-PASSPHRASE": "pass", "x-simulated-trading": "1", "content-type": "application/json; charset=utf-8", "User-Agent": "bot/1",
	}, out.Headers)
	assert.Equal(t, okxFamHMACB64([]byte("okx-secret"), `1970-01-01T00:00:00.001ZPOST/api/v5/trade/order{"instId":"BTC-USDT"}`), out.Headers["OK-ACCESS-SIGN"])
	assert.Equal(t, "spoofed", in.Request.Headers["ok-access-key"], "input untouched")
}

// The timestamp is UTC with exactly three decimals, whatever Now's zone and precision.
func TestOKXTimestamp(t *testing.T) {
	for now, want := range map[time.Time]string{
		time.Date(2020, 12, 8, 17, 8, 57, 715_999_999, time.FixedZone("X", 8*3600)): "2020-12-08T09:08:57.715Z",
		time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC):                                 "2024-01-02T03:04:05.000Z",
	} {
		out, err := okx{}.Sign(okxFamInput(Request{Method: "GET", URL: "https://www.okx.com/api/v5/account/balance"}, "k", KeyHMAC, []byte("okx-secret"), []byte("p"), now))
		require.NoError(t, err)
		assert.Equal(t, want, out.Headers["OK-ACCESS-TIMESTAMP"])
	}
}

func TestOKXWebSocket(t *testing.T) {
	secret, pass := []byte("okx-ws-secret"), []byte(`pa"ss\word`)
	now := time.Unix(1704876947, 0)
	sign := okxFamHMACB64(secret, "1704876947GET/users/self/verify")
	args := `[{"apiKey":"k","passphrase":"pa\"ss\\word","timestamp":"1704876947","sign":"` + sign + `"}]`
	for body, want := range map[string]string{
		`{"op":"login"}`:                  `{"op":"login","args":` + args + `}`,
		` { "op" : "login" , "args":[] }`: `{"op":"login","args":` + args + `}`,
		`{"args":null,"op":"login"}`:      `{"args":` + args + `,"op":"login"}`,
		`{"id":"1512","op":"login"}`:      `{"id":"1512","op":"login","args":` + args + `}`,
	} {
		for _, url := range []string{"wss://ws.okx.com:8443/ws/v5/private", "wss://wspap.okx.com:8443/ws/v5/business", "wss://wseeapap.okx.com:8443/ws/v5/private"} {
			out, err := okx{}.Sign(okxFamInput(Request{Method: MethodWS, URL: url, Body: body}, "k", KeyHMAC, secret, pass, now))
			require.NoError(t, err, body)
			assert.Equal(t, want, out.Body)
			assert.Equal(t, url, out.URL)
			var msg struct {
				Op   string              `json:"op"`
				Args []map[string]string `json:"args"`
			}
			require.NoError(t, json.Unmarshal([]byte(out.Body), &msg))
			assert.Equal(t, string(pass), msg.Args[0]["passphrase"])
		}
	}
}

func TestOKXRefusals(t *testing.T) {
	order := "https://www.okx.com/api/v5/trade/order"
	cases := []struct {
		name              string
		method, url, body string
		headers           map[string]string
		want              string
	}{
		{"http", "GET", "http://www.okx.com/api/v5/account/balance", "", nil, "https"},
		{"foreign host", "GET", "https://okx.evil.example/api/v5/account/balance", "", nil, "not one of the credential's hosts"},
		{"lookalike host", "GET", "https://www.okx.com.evil.example/api/v5/account/balance", "", nil, "not one of the credential's hosts"},
		{"ws scheme for REST", "GET", "wss://ws.okx.com:8443/ws/v5/private", "", nil, "https"},
		{"fragment", "GET", order + "#x", "", nil, "fragment"},
		{"raw space", "GET", order + "?a=b c", "", nil, "a space"},
		{"raw unicode", "GET", order + "?instId=é", "", nil, "percent-encode"},
		{"empty query", "GET", order + "?", "", nil, "empty query"},
		{"method", "DELETE", order, "", nil, "method"},
		{"GET body", "GET", order, `{"a":1}`, nil, "GET"},
		{"not JSON", "POST", order, "instId=BTC-USDT", nil, "not valid JSON"},
		{"truncated JSON", "POST", order, `{"instId":"BTC`, nil, "not valid JSON"},
		{"bad UTF-8", "POST", order, "{\"a\":\"\xff\"}", nil, "UTF-8"},
		{"form content type", "POST", order, `{"a":1}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "Content-Type must be application/json"},
		{"ws message to REST", "WS", "https://www.okx.com/api/v5/account/balance", `{"op":"login"}`, nil, "wss"},
		{"ws foreign host", "WS", "wss://ws.evil.example/ws/v5/private", `{"op":"login"}`, nil, "not one of the credential's hosts"},
		{"ws subscribe", "WS", "wss://ws.okx.com:8443/ws/v5/private", `{"op":"subscribe","args":[]}`, nil, `signs only "login"`},
		{"ws args filled", "WS", "wss://ws.okx.com:8443/ws/v5/private", `{"op":"login","args":[{"apiKey":"x"}]}`, nil, "already filled"},
		{"ws extra member", "WS", "wss://ws.okx.com:8443/ws/v5/private", `{"op":"login","sign":"x"}`, nil, `member "sign"`},
		{"ws not object", "WS", "wss://ws.okx.com:8443/ws/v5/private", `["login"]`, nil, "JSON object"},
		{"ws no op", "WS", "wss://ws.okx.com:8443/ws/v5/private", `{"id":"1"}`, nil, "no op"},
		{"ws duplicate op", "WS", "wss://ws.okx.com:8443/ws/v5/private", `{"op":"login","op":"login"}`, nil, "twice"},
		{"ws trailing text", "WS", "wss://ws.okx.com:8443/ws/v5/private", `{"op":"login"} x`, nil, "after the object"},
		{"ws broken", "WS", "wss://ws.okx.com:8443/ws/v5/private", `{"op":"login",`, nil, "does not parse"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := okxFamInput(Request{Method: c.method, URL: c.url, Body: c.body, Headers: c.headers}, "k", KeyHMAC, []byte("okx-secret"), []byte("p"), time.UnixMilli(1))
			_, err := okx{}.Sign(in)
			requireRefusal(t, err, "okx", c.want)
		})
	}
}

// Faults of the agent are plain errors, never RequestErrors.
func TestOKXAgentFaults(t *testing.T) {
	req := Request{Method: "GET", URL: "https://www.okx.com/api/v5/account/balance"}
	for name, mod := range map[string]func(*Input){
		"no secret":        func(in *Input) { in.Secret = nil },
		"short scratch":    func(in *Input) { in.Scratch = in.Scratch[:10] },
		"bad API key":      func(in *Input) { in.APIKey = "a\nb" },
		"no passphrase":    func(in *Input) { in.Passphrase = nil },
		"control in pass":  func(in *Input) { in.Passphrase = []byte("a\r\nX-Evil: 1") },
		"non-ASCII in pas": func(in *Input) { in.Passphrase = []byte("pässe") },
	} {
		in := okxFamInput(req, "k", KeyHMAC, []byte("okx-secret"), []byte("p"), time.UnixMilli(1))
		mod(&in)
		_, err := okx{}.Sign(in)
		require.Error(t, err, name)
		assert.False(t, errors.As(err, new(*RequestError)), name)
	}
}

func TestOKXCheck(t *testing.T) {
	good := []byte("22582BD0CFF14C41EDBF1AB98506286D")
	c, err := okx{}.Check(Key{APIKey: "k", Secret: good, Passphrase: []byte("My-Pass_1!")})
	require.NoError(t, err)
	assert.Equal(t, KeyHMAC, c.KeyType)
	assert.Nil(t, c.Secret)

	for name, k := range map[string]struct {
		key  Key
		want string
	}{
		"no passphrase":     {Key{Secret: good}, "passphrase is missing"},
		"passphrase w/ nl":  {Key{Secret: good, Passphrase: []byte("pass\n")}, "printable ASCII"},
		"short secret":      {Key{Secret: []byte("abc"), Passphrase: []byte("PASSPHRASE-XYZ")}, "8 to 512"},
		"secret with space": {Key{Secret: []byte("22582BD0 CFF14C41EDBF1AB98506286D"), Passphrase: []byte("PASSPHRASE-XYZ")}, "space"},
		"PEM":               {Key{Secret: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), Passphrase: []byte("PASSPHRASE-XYZ")}, "PEM"},
	} {
		_, err := okx{}.Check(k.key)
		var re *RequestError
		require.True(t, errors.As(err, &re), name)
		assert.Contains(t, re.Msg, k.want, name)
		okxFamNoSecret(t, re.Msg, string(k.key.Secret), string(k.key.Passphrase))
	}
	info := okx{}.Info()
	assert.Equal(t, PassphraseRequired, info.Passphrase)
	assert.Equal(t, []string{"passphrase"}, info.ClearSecrets)
	assert.True(t, info.WebSocket)
}

// No output or error carries the secret; the passphrase appears only
// where OKX wants it.
func TestOKXNoSecretInOutput(t *testing.T) {
	secret := "SECRETSECRETSECRET"
	for _, req := range []Request{
		{Method: "POST", URL: "https://www.okx.com/api/v5/trade/order", Body: `{"a":"SECRETSECRETSECRET"}`},
		{Method: "POST", URL: "https://www.okx.com/api/v5/trade/order", Body: `{"a":`},
		{Method: MethodWS, URL: "wss://ws.okx.com:8443/ws/v5/private", Body: `{"op":"login"}`},
		{Method: MethodWS, URL: "wss://ws.okx.com:8443/ws/v5/private", Body: `{"op":"PASSPHRASE"}`},
	} {
		out, err := okx{}.Sign(okxFamInput(req, "k", KeyHMAC, []byte(secret), []byte("PASSPHRASE"), time.UnixMilli(1)))
		if err != nil {
			okxFamNoSecret(t, err.Error(), secret)
			continue
		}
		for k, v := range out.Headers {
			okxFamNoSecret(t, k+v, secret)
		}
		okxFamNoSecret(t, out.URL, secret)
	}
}

func FuzzOKXSign(f *testing.F) {
	f.Add("GET", "/api/v5/account/balance", "ccy=BTC", "")
	f.Add("POST", "/api/v5/trade/order", "", `{"instId":"BTC-USDT","sz":"1"}`)
	f.Add("GET", "/api/v5/x", "a=%E2%82%AC&b=", "")
	f.Add("WS", "/ws/v5/private", "", `{"op":"login"}`)
	f.Add("WS", "/ws/v5/private", "", `{"id":"1","op":"login","args":[]}`)
	secret, pass := []byte("22582BD0CFF14C41EDBF1AB98506286D"), []byte("fuzz-pass")
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		url := "https://www.okx.com" + path
		if method == MethodWS {
			url = "wss://ws.okx.com:8443" + path
		}
		if query != "" {
			url += "?" + query
		}
		in := okxFamInput(Request{Method: method, URL: url, Body: body}, "k", KeyHMAC, secret, pass, time.UnixMilli(1607418537715))
		out, err := okx{}.Sign(in)
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "non-RequestError %v", err)
			return
		}
		require.True(t, allZero(in.Scratch))
		if method == MethodWS {
			var msg struct {
				Op   string              `json:"op"`
				Args []map[string]string `json:"args"`
			}
			require.NoError(t, json.Unmarshal([]byte(out.Body), &msg), out.Body)
			require.Equal(t, "login", msg.Op)
			require.Equal(t, okxFamHMACB64(secret, "1607418537GET/users/self/verify"), msg.Args[0]["sign"])
			return
		}
		require.Equal(t, url, out.URL)
		require.Equal(t, body, out.Body)
		hostPath, q, _ := strings.Cut(strings.TrimPrefix(url, "https://"), "?")
		p := hostPath[strings.IndexByte(hostPath, '/'):]
		if q != "" {
			p += "?" + q
		}
		require.Equal(t, okxFamHMACB64(secret, "2020-12-08T09:08:57.715Z"+method+p+body), out.Headers["OK-ACCESS-SIGN"])
	})
}

func BenchmarkOKXSign(b *testing.B) {
	in := okxFamInput(Request{
		Method:  "POST",
		URL:     "https://www.okx.com/api/v5/trade/order",
		Headers: map[string]string{"User-Agent": "bot/1"},
		Body:    `{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"2.15","sz":"2"}`,
	}, "k", KeyHMAC, []byte("22582BD0CFF14C41EDBF1AB98506286D"), []byte("pass"), time.UnixMilli(1607418537715))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (okx{}).Sign(in); err != nil {
			b.Fatal(err)
		}
	}
}
