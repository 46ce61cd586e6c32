package scheme

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type deribitVectors struct {
	Source       string `json:"source"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Timestamp    int64  `json:"timestamp"`
	Nonce        string `json:"nonce"`
	REST         []struct {
		Name              string `json:"name"`
		Method            string `json:"method"`
		URL               string `json:"url"`
		Body              string `json:"body"`
		StringToSign      string `json:"string_to_sign"`
		WantAuthorization string `json:"want_authorization"`
	} `json:"rest"`
	WS []struct {
		Name        string `json:"name"`
		URL         string `json:"url"`
		Message     string `json:"message"`
		Data        string `json:"data"`
		Signature   string `json:"signature"`
		WantMessage string `json:"want_message"`
	} `json:"ws"`
}

func deribitInput(req Request, secret string, now time.Time) Input {
	return Input{
		Request: req,
		APIKey:  "keyward-test-client",
		KeyType: KeyHMAC,
		Secret:  []byte(secret),
		Scratch: make([]byte, ScratchSize),
		Now:     now,
	}
}

func deribitHMAC(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// deribitVerifyREST parses the Authorization header and recomputes its
// signature with crypto/hmac.
func deribitVerifyREST(t testing.TB, secret string, out Request) (ts, nonce string) {
	t.Helper()
	auth, ok := strings.CutPrefix(out.Headers["Authorization"], "deri-hmac-sha256 ")
	require.True(t, ok, out.Headers)
	f := map[string]string{}
	for _, kv := range strings.Split(auth, ",") {
		k, v, ok := strings.Cut(kv, "=")
		require.True(t, ok)
		f[k] = v
	}
	rest := out.URL[strings.Index(out.URL, "://")+3:]
	uri := rest[strings.Index(rest, "/"):]
	want := deribitHMAC(secret, f["ts"]+"\n"+f["nonce"]+"\n"+out.Method+"\n"+uri+"\n"+out.Body+"\n")
	require.Equal(t, want, f["sig"])
	return f["ts"], f["nonce"]
}

func TestDeribitVectors(t *testing.T) {
	v := loadVectors[deribitVectors](t, "deribit")
	require.NotEmpty(t, v.REST)
	require.NotEmpty(t, v.WS)
	nonce, err := strconv.ParseUint(v.Nonce, 10, 64)
	require.NoError(t, err)
	for _, c := range v.REST {
		t.Run(c.Name, func(t *testing.T) {
			in := deribitInput(Request{Method: c.Method, URL: c.URL, Body: c.Body}, v.ClientSecret, time.UnixMilli(v.Timestamp))
			in.APIKey = v.ClientID
			in.Nonce = func(u time.Duration) uint64 { require.Equal(t, time.Millisecond, u); return nonce }
			out, err := deribit{}.Sign(in)
			require.NoError(t, err)
			assert.Equal(t, c.WantAuthorization, out.Headers["Authorization"])
			assert.Equal(t, c.URL, out.URL)
			assert.Equal(t, c.Body, out.Body)
			assert.Contains(t, c.WantAuthorization, deribitHMAC(v.ClientSecret, c.StringToSign))
			assert.True(t, allZero(in.Scratch))
		})
	}
	for _, c := range v.WS {
		t.Run(c.Name, func(t *testing.T) {
			in := deribitInput(Request{Method: MethodWS, URL: c.URL, Body: c.Message}, v.ClientSecret, time.UnixMilli(v.Timestamp))
			in.APIKey = v.ClientID
			in.Nonce = func(time.Duration) uint64 { return nonce }
			out, err := deribit{}.Sign(in)
			require.NoError(t, err)
			assert.Equal(t, c.WantMessage, out.Body)
			assert.Equal(t, MethodWS, out.Method)
			assert.Equal(t, c.URL, out.URL)
			deribitVerifyWS(t, v.ClientSecret, v.ClientID, out.Body)
			assert.Equal(t, deribitHMAC(v.ClientSecret, strconv.FormatInt(v.Timestamp, 10)+"\n"+v.Nonce+"\n"+c.Data), c.Signature)
		})
	}
}

// deribitVerifyWS decodes a signed public/auth message and checks it.
func deribitVerifyWS(t testing.TB, secret, clientID, msg string) {
	t.Helper()
	var m struct {
		Method string `json:"method"`
		Params struct {
			GrantType string      `json:"grant_type"`
			ClientID  string      `json:"client_id"`
			Timestamp json.Number `json:"timestamp"`
			Signature string      `json:"signature"`
			Nonce     string      `json:"nonce"`
			Data      string      `json:"data"`
		} `json:"params"`
	}
	require.NoError(t, json.Unmarshal([]byte(msg), &m), msg)
	require.Equal(t, "public/auth", m.Method)
	require.Equal(t, "client_signature", m.Params.GrantType)
	require.Equal(t, clientID, m.Params.ClientID)
	require.Equal(t, deribitHMAC(secret, m.Params.Timestamp.String()+"\n"+m.Params.Nonce+"\n"+m.Params.Data), m.Params.Signature)
}

// TestDeribitCCXT signs ccxt's requests again and compares them whole.
func TestDeribitCCXT(t *testing.T) {
	const secret = "keyward-fake-deribit-secret-0123456789abc"
	r := rand.New(rand.NewPCG(11, 13))
	paths := []string{"get_account_summary", "get_positions", "buy", "sell", "cancel", "get_open_orders_by_currency", "edit", "get_user_trades_by_currency"}
	var cases []ccxtCase
	for i := 0; i < 80; i++ {
		c := ccxtCase{Exchange: "deribit", Credentials: map[string]string{"apiKey": "keyward-test-client", "secret": secret},
			NowMS: 1700000000123 + int64(i)*7, Path: paths[r.IntN(len(paths))], API: "private", Method: "GET",
			Params: krakenRandParams(r, false, true)}
		if i%3 == 0 {
			c.Config = map[string]any{"urls": map[string]any{"api": map[string]any{"rest": "https://test.deribit.com"}}}
		}
		cases = append(cases, c)
	}
	res := ccxtSign(t, cases)
	for i, c := range cases {
		res := res[i]
		require.Empty(t, res.Error, "case %d", i)
		bot := Request{Method: res.Method, URL: res.URL, Body: res.Body, Headers: map[string]string{}}
		for k, v := range res.Headers {
			if k != "Authorization" {
				bot.Headers[k] = v
			}
		}
		if i%2 == 0 {
			bot.Headers["authorization"] = "Bearer stale" // replaced, whatever its case
		}
		in := deribitInput(bot, secret, time.UnixMilli(c.NowMS))
		out, err := deribit{}.Sign(in)
		require.NoError(t, err, "case %d %s", i, res.URL)
		assert.Equal(t, Request{Method: res.Method, URL: res.URL, Headers: res.Headers, Body: res.Body}, out, "case %d", i)
		ts, nonce := deribitVerifyREST(t, secret, out)
		assert.Equal(t, strconv.FormatInt(c.NowMS, 10), ts)
		assert.Equal(t, ts, nonce)
	}
}

func TestDeribitWSPlacement(t *testing.T) {
	const secret = "keyward-fake-deribit-secret"
	u := "wss://test.deribit.com/ws/api/v2"
	cases := []struct{ name, msg string }{
		{"empty params but grant", `{"method":"public/auth","params":{"grant_type":"client_signature"}}`},
		{"params before method", `{"params":{"data":"d","grant_type":"client_signature"},"method":"public/auth","id":3}`},
		{"escaped method", `{"method":"public\/auth","params":{"grant_type":"client_signature"}}`},
		{"bot's client_id overwritten", `{"method":"public/auth","params":{"client_id":"someone-else","grant_type":"client_signature","signature":"x"}}`},
		{"numeric nonce overwritten as string", `{"method":"public/auth","params":{"grant_type":"client_signature","nonce":5}}`},
		{"extra members kept", `{"method":"public/auth","params":{"grant_type":"client_signature","scope":"session:name trade:read"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := deribitInput(Request{Method: MethodWS, URL: u, Body: c.msg, Headers: map[string]string{"X": "y"}}, secret, time.UnixMilli(1700000000000))
			out, err := deribit{}.Sign(in)
			require.NoError(t, err)
			deribitVerifyWS(t, secret, "keyward-test-client", out.Body)
			assert.Equal(t, map[string]string{"X": "y"}, out.Headers)
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(out.Body), &m))
			assert.NotContains(t, out.Body, "someone-else")
			if strings.Contains(c.msg, "scope") {
				assert.Equal(t, "session:name trade:read", m["params"].(map[string]any)["scope"])
			}
		})
	}
}

func TestDeribitRefusals(t *testing.T) {
	const secret = "keyward-fake-deribit-secret"
	api := "https://www.deribit.com/api/v2/private/get_positions"
	ws := "wss://www.deribit.com/ws/api/v2"
	auth := func(params string) string { return `{"method":"public/auth","params":` + params + `}` }
	cases := []struct{ name, method, url, body, want string }{
		{"foreign host", "GET", "https://deribit.example/api/v2/private/x", "", "not one of the credential's hosts"},
		{"http", "GET", "http://www.deribit.com/api/v2/private/x", "", "https"},
		{"method", "DELETE", api, "", "GET or POST"},
		{"path", "GET", "https://www.deribit.com/api/v1/private/x", "", "/api/v2/"},
		{"raw space", "GET", api + "?a=b c", "", "a space"},
		{"ws over https", MethodWS, "https://www.deribit.com/ws/api/v2", auth(`{"grant_type":"client_signature"}`), "wss"},
		{"ws foreign host", MethodWS, "wss://evil.example/ws/api/v2", auth(`{"grant_type":"client_signature"}`), "not one of the credential's hosts"},
		{"ws not json", MethodWS, ws, `{"method":`, "not valid JSON"},
		{"ws array", MethodWS, ws, `[]`, "JSON object"},
		{"ws other method", MethodWS, ws, `{"method":"private/buy","params":{}}`, "public/auth"},
		{"ws no method", MethodWS, ws, `{"params":{"grant_type":"client_signature"}}`, "public/auth"},
		{"ws method twice", MethodWS, ws, `{"method":"public/auth","method":"public/auth","params":{"grant_type":"client_signature"}}`, "more than once"},
		{"ws no params", MethodWS, ws, `{"method":"public/auth"}`, "params"},
		{"ws params not object", MethodWS, ws, `{"method":"public/auth","params":[]}`, "params"},
		{"ws client_credentials", MethodWS, ws, auth(`{"grant_type":"client_credentials"}`), "client_signature"},
		{"ws no grant", MethodWS, ws, auth(`{}`), "client_signature"},
		{"ws client_secret", MethodWS, ws, auth(`{"grant_type":"client_signature","client_secret":"x"}`), "client_secret"},
		{"ws data not string", MethodWS, ws, auth(`{"grant_type":"client_signature","data":1}`), "data"},
		{"ws nonce twice", MethodWS, ws, auth(`{"grant_type":"client_signature","nonce":"a","nonce":"b"}`), "more than once"},
		{"ws trailing", MethodWS, ws, auth(`{"grant_type":"client_signature"}`) + "x", "after the JSON object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := deribit{}.Sign(deribitInput(Request{Method: c.method, URL: c.url, Body: c.body}, secret, time.UnixMilli(1)))
			requireRefusal(t, err, "deribit", c.want)
		})
	}
}

func TestDeribitAgentFaults(t *testing.T) {
	req := Request{Method: "GET", URL: "https://www.deribit.com/api/v2/private/get_positions"}
	for _, in := range []Input{
		deribitInput(req, "", time.UnixMilli(1)),
		func() Input { i := deribitInput(req, "s", time.UnixMilli(1)); i.Scratch = i.Scratch[:10]; return i }(),
		func() Input { i := deribitInput(req, "s", time.UnixMilli(1)); i.APIKey = "a,sig=x"; return i }(),
		func() Input { i := deribitInput(req, "s", time.UnixMilli(1)); i.APIKey = ""; return i }(),
	} {
		_, err := deribit{}.Sign(in)
		require.Error(t, err)
		assert.False(t, errors.As(err, new(*RequestError)))
	}
}

func TestDeribitCheck(t *testing.T) {
	ok := Key{APIKey: "fo7WAPRm4P", Secret: []byte("keyward-fake-deribit-secret-0123456789abc")}
	c, err := deribit{}.Check(ok)
	require.NoError(t, err)
	assert.Equal(t, KeyHMAC, c.KeyType)
	for _, k := range []struct {
		key  Key
		want string
	}{
		{Key{APIKey: "a,b", Secret: ok.Secret}, "Client Id"},
		{Key{APIKey: "a", Secret: []byte("short")}, "8 to 512"},
		{Key{APIKey: "a", Secret: []byte("has a space in it")}, "space"},
		{Key{APIKey: "a", Secret: []byte("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----")}, "PEM"},
	} {
		_, err := deribit{}.Check(k.key)
		var re *RequestError
		require.True(t, errors.As(err, &re), "%v", err)
		assert.Contains(t, re.Msg, k.want)
		assert.NotContains(t, re.Msg, string(k.key.Secret))
	}
}

func TestDeribitNoSecretInOutput(t *testing.T) {
	const secret = "SECRETSECRETSECRET"
	for _, req := range []Request{
		{Method: "POST", URL: "https://www.deribit.com/api/v2/private/buy", Body: secret},
		{Method: "GET", URL: "https://www.deribit.com/api/v2/private/buy?a=b c"},
		{Method: MethodWS, URL: "wss://www.deribit.com/ws/api/v2", Body: `{"method":"public/auth","params":{"grant_type":"client_signature"}}`},
		{Method: MethodWS, URL: "wss://www.deribit.com/ws/api/v2", Body: `{"method":"public/auth","params":{"grant_type":"client_credentials"}}`},
	} {
		out, err := deribit{}.Sign(deribitInput(req, secret, time.UnixMilli(1)))
		if err != nil {
			assert.NotContains(t, err.Error(), secret)
			continue
		}
		for k, v := range out.Headers {
			assert.NotContains(t, k+v, secret)
		}
		if req.Method == MethodWS {
			assert.NotContains(t, out.Body, secret)
		}
	}
}

func FuzzDeribitSign(f *testing.F) {
	f.Add("GET", "https://www.deribit.com/api/v2/private/get_account_summary?currency=BTC", "")
	f.Add("POST", "https://test.deribit.com/api/v2/private/buy", `{"jsonrpc":"2.0","method":"private/buy"}`)
	f.Add(MethodWS, "wss://www.deribit.com/ws/api/v2", `{"jsonrpc":"2.0","id":1,"method":"public/auth","params":{"grant_type":"client_signature","data":"x"}}`)
	f.Add(MethodWS, "wss://www.deribit.com/ws/api/v2", `{"method":"public/auth","params":{"grant_type":"client_signature","nonce":1,"timestamp":"x"}}`)
	f.Add(MethodWS, "wss://test.deribit.com/ws/api/v2", `{"method":"public\/auth","params":{ "grant_type" : "client_signature" , "data":"\u00e9"}}`)
	const secret = "keyward-fake-deribit-secret"
	f.Fuzz(func(t *testing.T, method, u, body string) {
		in := deribitInput(Request{Method: method, URL: u, Body: body}, secret, time.UnixMilli(1576074319000))
		out, err := deribit{}.Sign(in)
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "non-RequestError %v", err)
			return
		}
		require.True(t, allZero(in.Scratch))
		require.Equal(t, u, out.URL)
		if method == MethodWS {
			deribitVerifyWS(t, secret, "keyward-test-client", out.Body)
			return
		}
		require.Equal(t, body, out.Body)
		deribitVerifyREST(t, secret, out)
	})
}

func BenchmarkDeribitSign(b *testing.B) {
	in := deribitInput(Request{
		Method:  "GET",
		URL:     "https://www.deribit.com/api/v2/private/get_account_summary?currency=BTC&extended=true",
		Headers: map[string]string{"User-Agent": "bot/1"},
	}, "keyward-fake-deribit-secret", time.UnixMilli(1576074319000))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (deribit{}).Sign(in); err != nil {
			b.Fatal(err)
		}
	}
}
