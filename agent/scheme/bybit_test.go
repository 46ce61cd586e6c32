package scheme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type bybitVectors struct {
	Source        string `json:"source"`
	APIKey        string `json:"api_key"`
	HMACSecret    string `json:"hmac_secret"`
	RSAPrivateKey string `json:"rsa_private_key"`
	Cases         []struct {
		Name     string `json:"name"`
		Method   string `json:"method"`
		URL      string `json:"url"`
		Body     string `json:"body"`
		NowMS    int64  `json:"now_ms"`
		Plain    string `json:"plain"`
		HMACSign string `json:"hmac_sign"`
		RSASign  string `json:"rsa_sign"`
	} `json:"cases"`
	WS struct {
		NowMS    int64  `json:"now_ms"`
		URL      string `json:"url"`
		Body     string `json:"body"`
		Plain    string `json:"plain"`
		HMACSign string `json:"hmac_sign"`
		RSASign  string `json:"rsa_sign"`
		WantHMAC string `json:"want_hmac"`
	} `json:"ws"`
}

func loadBybitVectors(t testing.TB) bybitVectors {
	v := loadVectors[bybitVectors](t, "bybit")
	require.NotEmpty(t, v.Cases)
	return v
}

// okxFamRSAKey turns the vectors' PEM test key into the stored PKCS#8 DER
// through the scheme's Check, and returns its public half.
func okxFamRSAKey(t testing.TB, s Scheme, pemText string, pass []byte) ([]byte, *rsa.PublicKey) {
	t.Helper()
	c, err := s.Check(Key{APIKey: "k", Secret: []byte(pemText), Passphrase: pass})
	require.NoError(t, err)
	require.Equal(t, KeyRSA, c.KeyType)
	k, err := x509.ParsePKCS8PrivateKey(c.Secret)
	require.NoError(t, err)
	return c.Secret, &k.(*rsa.PrivateKey).PublicKey
}

func okxFamVerifyRSA(t testing.TB, pub *rsa.PublicKey, msg, sigB64 string) {
	t.Helper()
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	require.NoError(t, err)
	d := sha256.Sum256([]byte(msg))
	require.NoError(t, rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig), "RSA signature over %q", msg)
}

func bybitHMACHex(secret []byte, msg string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// TestBybitDocumentedExamples signs the v5 guide's GET and POST examples
// and the official RSA sample's requests, with both key types, and expects
// the independently computed signatures of the documented strings.
func TestBybitDocumentedExamples(t *testing.T) {
	v := loadBybitVectors(t)
	s, ok := Lookup("bybit")
	require.True(t, ok)
	der, pub := okxFamRSAKey(t, s, v.RSAPrivateKey, nil)
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			require.Equal(t, c.HMACSign, bybitHMACHex([]byte(v.HMACSecret), c.Plain), "vector is self-consistent")
			okxFamVerifyRSA(t, pub, c.Plain, c.RSASign)
			for _, kt := range []struct {
				typ    string
				secret []byte
				want   string
			}{{KeyHMAC, []byte(v.HMACSecret), c.HMACSign}, {KeyRSA, der, c.RSASign}} {
				in := okxFamInput(Request{Method: c.Method, URL: c.URL, Body: c.Body}, v.APIKey, kt.typ, kt.secret, nil, time.UnixMilli(c.NowMS))
				out, err := s.Sign(in)
				require.NoError(t, err)
				assert.Equal(t, c.URL, out.URL)
				assert.Equal(t, c.Body, out.Body)
				want := map[string]string{
					"X-BAPI-API-KEY":     v.APIKey,
					"X-BAPI-TIMESTAMP":   fmt.Sprint(c.NowMS),
					"X-BAPI-RECV-WINDOW": "5000",
					"X-BAPI-SIGN":        kt.want,
				}
				if c.Method == "POST" {
					want["Content-Type"] = "application/json"
				}
				assert.Equal(t, want, out.Headers, kt.typ)
				assert.True(t, allZero(in.Scratch), "scratch wiped")
			}
		})
	}
	t.Run("websocket auth", func(t *testing.T) {
		require.Equal(t, v.WS.HMACSign, bybitHMACHex([]byte(v.HMACSecret), v.WS.Plain))
		okxFamVerifyRSA(t, pub, v.WS.Plain, v.WS.RSASign)
		in := okxFamInput(Request{Method: MethodWS, URL: v.WS.URL, Body: v.WS.Body}, v.APIKey, KeyHMAC, []byte(v.HMACSecret), nil, time.UnixMilli(v.WS.NowMS))
		out, err := s.Sign(in)
		require.NoError(t, err)
		assert.Equal(t, v.WS.WantHMAC, out.Body)
		assert.Equal(t, v.WS.URL, out.URL)

		in.KeyType, in.Secret = KeyRSA, der
		out, err = s.Sign(in)
		require.NoError(t, err)
		assert.Equal(t, `{"req_id":"10001","op":"auth","args":["XXXXXXXXXX",1662350400000,"`+v.WS.RSASign+`"]}`, out.Body)
	})
}

// bybitRawSafe reports whether ccxt's raw (unencoded) query can be sent as
// is: printable ASCII, no space, no '#'.
func bybitRawSafe(u string) bool {
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// TestBybitCCXT is the differential test against ccxt's bybit sign(), for
// HMAC and RSA keys (RSA PKCS#1 v1.5 is deterministic, so both compare
// byte for byte). ccxt puts GET parameters in the URL unencoded; those
// with a space, a '#' or non-ASCII text cannot be sent as signed, and the
// scheme refuses them (asking for percent-encoding) instead.
func TestBybitCCXT(t *testing.T) {
	v := loadBybitVectors(t)
	der, _ := okxFamRSAKey(t, bybit{}, v.RSAPrivateKey, nil)
	r := mrand.New(mrand.NewPCG(5, 0xb1b))
	hmacSecret := "ccxtBybitTestSecret0123456789ab"
	gets := []string{"v5/order/realtime", "v5/account/wallet-balance", "v5/position/list", "v5/execution/list", "v5/asset/transfer/query-account-coins-balance"}
	posts := []string{"v5/order/create", "v5/order/cancel", "v5/position/set-leverage", "v5/asset/transfer/inter-transfer", "v5/order/amend"}
	hostnames := []string{"", "bytick.com", "bybit.nl", "bybit.eu"}
	var cases []ccxtCase
	var rsaCase []bool
	for i := 0; i < 240; i++ {
		useRSA := i%2 == 1
		secret := hmacSecret
		if useRSA {
			secret = v.RSAPrivateKey
		}
		method, path := "GET", gets[r.IntN(len(gets))]
		if i%4 >= 2 {
			method, path = "POST", posts[r.IntN(len(posts))]
		}
		c := ccxtCase{
			Exchange:    "bybit",
			Credentials: map[string]string{"apiKey": fmt.Sprintf("bybit-key-%d", i), "secret": secret},
			NowMS:       1_600_000_000_000 + r.Int64N(200_000_000_000),
			Path:        path, API: "private", Method: method,
		}
		if h := hostnames[r.IntN(len(hostnames))]; h != "" {
			c.Config = map[string]any{"hostname": h}
		}
		if r.IntN(3) == 0 {
			c.Options = map[string]any{"recvWindow": 1000 + r.IntN(59000)}
		}
		n := r.IntN(6)
		if method == "GET" && r.IntN(3) > 0 {
			c.Params = bybitSafeParams(r, n)
		} else {
			c.Params = okxFamParams(r, n, true)
		}
		cases = append(cases, c)
		rsaCase = append(rsaCase, useRSA)
	}
	res := ccxtSign(t, cases)
	compared := map[string]int{}
	refused := 0
	for i, c := range res {
		name := fmt.Sprintf("case %d %s %s %s", i, cases[i].Method, cases[i].Path, cases[i].Params)
		require.Empty(t, c.Error, name)
		bot := okxFamStrip(c, "X-BAPI-API-KEY", "X-BAPI-TIMESTAMP", "X-BAPI-SIGN")
		if i%3 == 0 && c.Headers["X-BAPI-RECV-WINDOW"] == "5000" {
			// Without the header, the agent sends Bybit's default, as ccxt does.
			bot.Headers = copyHeaders(bot.Headers, 0, "X-BAPI-RECV-WINDOW")
		}
		in := okxFamInput(bot, cases[i].Credentials["apiKey"], KeyHMAC, []byte(hmacSecret), nil, time.UnixMilli(cases[i].NowMS))
		kind := "hmac"
		if rsaCase[i] {
			in.KeyType, in.Secret, kind = KeyRSA, der, "rsa"
		}
		out, err := bybit{}.Sign(in)
		if !bybitRawSafe(c.URL) {
			var re *RequestError
			require.True(t, errors.As(err, &re), "%s: want a refusal, got %v", name, err)
			assert.Contains(t, re.Msg, "percent-encode", name)
			refused++
			continue
		}
		require.NoError(t, err, name)
		okxFamCompare(t, name, c, out)
		compared[kind+" "+cases[i].Method]++
	}
	t.Logf("compared with ccxt: %v; refused (unencoded GET query): %d", compared, refused)
	assert.GreaterOrEqual(t, compared["hmac GET"]+compared["hmac POST"], 50)
	assert.GreaterOrEqual(t, compared["rsa GET"]+compared["rsa POST"], 50)
	assert.GreaterOrEqual(t, compared["hmac GET"], 20)
	assert.GreaterOrEqual(t, compared["rsa GET"], 20)
}

// bybitSafeParams are parameters whose values ccxt's raw query can carry.
func bybitSafeParams(r *mrand.Rand, n int) json.RawMessage {
	var safe []string
	for _, v := range okxFamValues {
		if bybitRawSafe(v) {
			safe = append(safe, v)
		}
	}
	names := append([]string(nil), okxFamNames...)
	r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	m := "{"
	for i := 0; i < n; i++ {
		if i > 0 {
			m += ","
		}
		k, _ := json.Marshal(names[i])
		val, _ := json.Marshal(safe[r.IntN(len(safe))])
		m += string(k) + ":" + string(val)
	}
	return json.RawMessage(m + "}")
}

func TestBybitHeaders(t *testing.T) {
	in := okxFamInput(Request{
		Method: "POST",
		URL:    "https://api.bybit.com/v5/order/create",
		Headers: map[string]string{
			"x-bapi-api-key": "spoofed", "X-BAPI-SIGN": "x", "x-bapi-timestamp": "1",
			"x-bapi-recv-window": "20000", "X-BAPI-SIGN-TYPE": "2", "Referer": "broker-1", "cdn-request-id": "abc",
		},
		Body: `{"category":"spot"}`,
	}, "key", KeyHMAC, []byte("bybit-secret"), nil, time.UnixMilli(1700000000000))
	out, err := bybit{}.Sign(in)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"X-BAPI-API-KEY": "key", "X-BAPI-TIMESTAMP": "1700000000000", "x-bapi-recv-window": "20000",
		"X-BAPI-SIGN":      bybitHMACHex([]byte("bybit-secret"), `1700000000000key20000{"category":"spot"}`),
		"X-BAPI-SIGN-TYPE": "2", "Referer": "broker-1", "cdn-request-id": "abc", "Content-Type": "application/json",
	}, out.Headers)
	assert.Equal(t, "spoofed", in.Request.Headers["x-bapi-api-key"], "input untouched")

	// A GET is signed over its query as sent, '?' or not, with no Content-Type added.
	for url, q := range map[string]string{
		"https://api-demo.bybit.com/v5/account/wallet-balance":                           "",
		"https://api-demo.bybit.com/v5/account/wallet-balance?":                          "",
		"https://api-testnet.bybit.com/v5/order/realtime?cursor=a%3A1&x=%E2%82%AC&b=[1]": "cursor=a%3A1&x=%E2%82%AC&b=[1]",
	} {
		out, err := bybit{}.Sign(okxFamInput(Request{Method: "GET", URL: url}, "key", KeyHMAC, []byte("bybit-secret"), nil, time.UnixMilli(1)))
		require.NoError(t, err)
		assert.Equal(t, url, out.URL)
		assert.Equal(t, bybitHMACHex([]byte("bybit-secret"), "1key5000"+q), out.Headers["X-BAPI-SIGN"])
		assert.NotContains(t, out.Headers, "Content-Type")
	}
}

func TestBybitWebSocket(t *testing.T) {
	secret := []byte("bybit-ws-secret")
	now := time.UnixMilli(1700000000123)
	sig := bybitHMACHex(secret, "GET/realtime1700000010123")
	args := `["key",1700000010123,"` + sig + `"]`
	for body, want := range map[string]string{
		`{"op":"auth"}`:                        `{"op":"auth","args":` + args + `}`,
		`{"op": "auth", "args": []}`:           `{"op":"auth","args":` + args + `}`,
		`{"req_id":"abc","op":"auth"}`:         `{"req_id":"abc","op":"auth","args":` + args + `}`,
		`{"op":"auth","args":null,"req_id":1}`: `{"op":"auth","args":` + args + `,"req_id":1}`,
	} {
		for _, url := range []string{"wss://stream.bybit.com/v5/private", "wss://stream-testnet.bybit.com/v5/trade", "wss://stream-demo.bybit.com/v5/private?max_active_time=1m"} {
			out, err := bybit{}.Sign(okxFamInput(Request{Method: MethodWS, URL: url, Body: body}, "key", KeyHMAC, secret, nil, now))
			require.NoError(t, err, body)
			assert.Equal(t, want, out.Body)
			assert.Equal(t, url, out.URL)
			assert.Equal(t, MethodWS, out.Method)
		}
	}
}

func TestBybitRefusals(t *testing.T) {
	order := "https://api.bybit.com/v5/order/create"
	cases := []struct {
		name              string
		method, url, body string
		headers           map[string]string
		want              string
	}{
		{"http", "GET", "http://api.bybit.com/v5/order/realtime", "", nil, "https"},
		{"foreign host", "GET", "https://api.bybit.evil.example/v5/order/realtime", "", nil, "not one of the credential's hosts"},
		{"ws host for REST", "GET", "wss://stream.bybit.com/v5/private", "", nil, "https"},
		{"user info", "GET", "https://u@api.bybit.com/v5/order/realtime", "", nil, "user info"},
		{"fragment", "GET", "https://api.bybit.com/v5/order/realtime?a=1#x", "", nil, "fragment"},
		{"raw space", "GET", "https://api.bybit.com/v5/order/realtime?a=b c", "", nil, "a space"},
		{"raw unicode", "GET", "https://api.bybit.com/v5/order/realtime?s=龙虾", "", nil, "percent-encode"},
		{"method", "DELETE", order, "", nil, "method"},
		{"GET body", "GET", "https://api.bybit.com/v5/order/realtime", `{"a":1}`, nil, "GET"},
		{"POST query", "POST", order + "?category=spot", `{}`, nil, "JSON body alone"},
		{"form body", "POST", order, "category=spot", nil, "not valid JSON"},
		{"form content type", "POST", order, `{}`, map[string]string{"content-type": "application/x-www-form-urlencoded"}, "Content-Type must be application/json"},
		{"recv window text", "GET", "https://api.bybit.com/v5/x", "", map[string]string{"X-BAPI-RECV-WINDOW": "soon"}, "whole number"},
		{"recv window zero", "GET", "https://api.bybit.com/v5/x", "", map[string]string{"X-BAPI-RECV-WINDOW": "0"}, "greater than 0"},
		{"recv window negative", "GET", "https://api.bybit.com/v5/x", "", map[string]string{"X-BAPI-RECV-WINDOW": "-5"}, "whole number"},
		{"recv window empty", "GET", "https://api.bybit.com/v5/x", "", map[string]string{"X-BAPI-RECV-WINDOW": ""}, "whole number"},
		{"recv window twice", "GET", "https://api.bybit.com/v5/x", "", map[string]string{"X-BAPI-RECV-WINDOW": "5000", "x-bapi-recv-window": "6000"}, "more than once"},
		{"ws subscribe", "WS", "wss://stream.bybit.com/v5/private", `{"op":"subscribe","args":["order"]}`, nil, `signs only "auth"`},
		{"ws args filled", "WS", "wss://stream.bybit.com/v5/private", `{"op":"auth","args":["k",1,"s"]}`, nil, "already filled"},
		{"ws foreign host", "WS", "wss://stream.evil.example/v5/private", `{"op":"auth"}`, nil, "not one of the credential's hosts"},
		{"ws https", "WS", "https://stream.bybit.com/v5/private", `{"op":"auth"}`, nil, "wss"},
		{"ws extra member", "WS", "wss://stream.bybit.com/v5/private", `{"op":"auth","expires":1}`, nil, `member "expires"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := okxFamInput(Request{Method: c.method, URL: c.url, Body: c.body, Headers: c.headers}, "k", KeyHMAC, []byte("bybit-secret"), nil, time.UnixMilli(1))
			_, err := bybit{}.Sign(in)
			requireRefusal(t, err, "bybit", c.want)
		})
	}
}

func TestBybitAgentFaults(t *testing.T) {
	req := Request{Method: "GET", URL: "https://api.bybit.com/v5/account/wallet-balance"}
	for name, mod := range map[string]func(*Input){
		"no secret":      func(in *Input) { in.Secret = nil },
		"short scratch":  func(in *Input) { in.Scratch = in.Scratch[:10] },
		"bad API key":    func(in *Input) { in.APIKey = "a\nb" },
		"unknown type":   func(in *Input) { in.KeyType = KeyEd25519 },
		"RSA, not a DER": func(in *Input) { in.KeyType = KeyRSA },
		"empty API key":  func(in *Input) { in.APIKey = "" },
		"no scratch (ws)": func(in *Input) {
			in.Scratch = nil
			in.Request = Request{Method: MethodWS, URL: "wss://stream.bybit.com/v5/private", Body: `{"op":"auth"}`}
		},
	} {
		in := okxFamInput(req, "k", KeyHMAC, []byte("bybit-secret"), nil, time.UnixMilli(1))
		mod(&in)
		_, err := bybit{}.Sign(in)
		require.Error(t, err, name)
		assert.False(t, errors.As(err, new(*RequestError)), name)
		okxFamNoSecret(t, err.Error(), "bybit-secret")
	}
}

// okxFamKeyForms returns PEM texts of the key forms owners bring.
func okxFamKeyForms(t testing.TB) map[string][]byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	small8, err := x509.MarshalPKCS8PrivateKey(small)
	require.NoError(t, err)
	ec8, err := x509.MarshalPKCS8PrivateKey(ec)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	enc := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }
	return map[string][]byte{
		"pkcs8":     enc("PRIVATE KEY", p8),
		"pkcs1":     enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k)),
		"small":     enc("PRIVATE KEY", small8),
		"ec":        enc("PRIVATE KEY", ec8),
		"public":    enc("PUBLIC KEY", pub),
		"encrypted": enc("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}),
		"two":       append(enc("PRIVATE KEY", p8), enc("PRIVATE KEY", p8)...),
		"garbled":   []byte("-----BEGIN PRIVATE KEY-----\nnot base64 !!\n-----END PRIVATE KEY-----\n"),
	}
}

// okxFamCheckKeys runs the key forms through a scheme's Check: PKCS#8 and
// PKCS#1 RSA keys are taken (stored as PKCS#8 DER that signs), the rest
// refused with a hint that never quotes the key.
func okxFamCheckKeys(t *testing.T, s Scheme, pass []byte) {
	forms := okxFamKeyForms(t)
	for _, name := range []string{"pkcs8", "pkcs1"} {
		c, err := s.Check(Key{APIKey: "k", Secret: forms[name], Passphrase: pass})
		require.NoError(t, err, name)
		assert.Equal(t, KeyRSA, c.KeyType, name)
		_, err = x509.ParsePKCS8PrivateKey(c.Secret)
		require.NoError(t, err, name)
	}
	for name, want := range map[string]string{
		"small":     "2048",
		"ec":        "ecdsa-p256 key",
		"public":    "not a private key",
		"encrypted": "encrypted",
		"two":       "more than one PEM block",
		"garbled":   "not valid PEM",
	} {
		_, err := s.Check(Key{APIKey: "k", Secret: forms[name], Passphrase: pass})
		var re *RequestError
		require.True(t, errors.As(err, &re), name)
		assert.Contains(t, re.Msg, want, name)
		assert.True(t, strings.HasPrefix(re.Msg, s.Name()+": "), re.Msg)
		body := strings.Split(string(forms[name]), "\n")
		if len(body) > 2 {
			okxFamNoSecret(t, re.Msg, body[1])
		}
	}
}

func TestBybitCheck(t *testing.T) {
	c, err := bybit{}.Check(Key{APIKey: "k", Secret: []byte("ccxtBybitTestSecret0123456789ab")})
	require.NoError(t, err)
	assert.Equal(t, KeyHMAC, c.KeyType)
	for name, k := range map[string]struct {
		secret, want string
	}{
		"short":     {"abc", "8 to 512"},
		"space":     {"abcd efgh", "space"},
		"non-ASCII": {"abcdéfghij", "non-ASCII"},
	} {
		_, err := bybit{}.Check(Key{Secret: []byte(k.secret)})
		var re *RequestError
		require.True(t, errors.As(err, &re), name)
		assert.Contains(t, re.Msg, k.want, name)
	}
	okxFamCheckKeys(t, bybit{}, nil)
	info := bybit{}.Info()
	assert.Equal(t, []string{KeyHMAC, KeyRSA}, info.KeyTypes)
	assert.Equal(t, PassphraseNone, info.Passphrase)
	assert.True(t, info.WebSocket)
}

func TestBybitNoSecretInOutput(t *testing.T) {
	secret := "SECRETSECRETSECRET"
	for _, req := range []Request{
		{Method: "POST", URL: "https://api.bybit.com/v5/order/create", Body: `{"a":"SECRETSECRETSECRET"}`},
		{Method: "POST", URL: "https://api.bybit.com/v5/order/create", Body: `{"a":`},
		{Method: "GET", URL: "https://api.bybit.com/v5/x?a=b c"},
		{Method: MethodWS, URL: "wss://stream.bybit.com/v5/private", Body: `{"op":"auth"}`},
	} {
		out, err := bybit{}.Sign(okxFamInput(req, "k", KeyHMAC, []byte(secret), nil, time.UnixMilli(1)))
		if err != nil {
			okxFamNoSecret(t, err.Error(), secret)
			continue
		}
		for k, v := range out.Headers {
			okxFamNoSecret(t, k+v, secret)
		}
		okxFamNoSecret(t, out.URL, secret)
		if req.Method == MethodWS {
			okxFamNoSecret(t, out.Body, secret)
		}
	}
}

func FuzzBybitSign(f *testing.F) {
	f.Add("GET", "category=option&symbol=BTC-29JUL22-25000-C", "", "")
	f.Add("POST", "", `{"category": "option"}`, "10000")
	f.Add("GET", "a=%E2%82%AC&b=", "", "0")
	f.Add("WS", "", `{"req_id":"1","op":"auth"}`, "")
	secret := []byte("YYYYYYYYYY")
	f.Fuzz(func(t *testing.T, method, query, body, recv string) {
		url := "https://api.bybit.com/v5/order/x"
		if method == MethodWS {
			url = "wss://stream.bybit.com/v5/private"
		}
		if query != "" {
			url += "?" + query
		}
		var headers map[string]string
		if recv != "" {
			headers = map[string]string{"X-BAPI-RECV-WINDOW": recv}
		}
		in := okxFamInput(Request{Method: method, URL: url, Body: body, Headers: headers}, "XXXXXXXXXX", KeyHMAC, secret, nil, time.UnixMilli(1658384314791))
		out, err := bybit{}.Sign(in)
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "non-RequestError %v", err)
			return
		}
		require.True(t, allZero(in.Scratch))
		if method == MethodWS {
			var msg struct {
				Op   string `json:"op"`
				Args []any  `json:"args"`
			}
			require.NoError(t, json.Unmarshal([]byte(out.Body), &msg), out.Body)
			require.Equal(t, bybitHMACHex(secret, "GET/realtime1658384324791"), msg.Args[2])
			return
		}
		require.Equal(t, url, out.URL)
		require.Equal(t, body, out.Body)
		if recv == "" {
			recv = "5000"
		}
		payload := query
		if method == "POST" {
			payload = body
		}
		require.Equal(t, bybitHMACHex(secret, "1658384314791XXXXXXXXXX"+recv+payload), out.Headers["X-BAPI-SIGN"])
	})
}

func BenchmarkBybitSign(b *testing.B) {
	in := okxFamInput(Request{
		Method:  "POST",
		URL:     "https://api.bybit.com/v5/order/create",
		Headers: map[string]string{"User-Agent": "bot/1"},
		Body:    `{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"10000"}`,
	}, "XXXXXXXXXX", KeyHMAC, []byte("YYYYYYYYYY"), nil, time.UnixMilli(1658384314791))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (bybit{}).Sign(in); err != nil {
			b.Fatal(err)
		}
	}
}
