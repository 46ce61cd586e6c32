package scheme

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type coinbaseVectors struct {
	APIKeyName string `json:"api_key_name"`
	EdKey      string `json:"ed25519_private_key"`
	Now        int64  `json:"now"`
	NonceUS    uint64 `json:"nonce_us"`
	EdDSA      []struct {
		Name              string `json:"name"`
		Method            string `json:"method"`
		URL               string `json:"url"`
		WantHeader        string `json:"want_header"`
		WantClaims        string `json:"want_claims"`
		WantAuthorization string `json:"want_authorization"`
	} `json:"jwt_eddsa"`
	ES256 []struct {
		Name       string `json:"name"`
		Method     string `json:"method"`
		URL        string `json:"url"`
		WantHeader string `json:"want_header"`
		WantClaims string `json:"want_claims"`
	} `json:"jwt_es256"`
	Exchange struct {
		APIKey     string `json:"api_key"`
		Secret     string `json:"secret"`
		Passphrase string `json:"passphrase"`
		Cases      []struct {
			Name     string `json:"name"`
			Method   string `json:"method"`
			URL      string `json:"url"`
			Body     string `json:"body"`
			Prehash  string `json:"prehash"`
			WantSign string `json:"want_sign"`
		} `json:"cases"`
	} `json:"exchange"`
}

func loadCoinbaseVectors(t testing.TB) coinbaseVectors {
	v := loadVectors[coinbaseVectors](t, "coinbase")
	require.NotEmpty(t, v.EdDSA)
	require.NotEmpty(t, v.ES256)
	require.NotEmpty(t, v.Exchange.Cases)
	return v
}

const coinbaseKeyName = "organizations/keyward-test-org/apiKeys/keyward-test-key"

// coinbaseTestKey is a fresh P-256 key as CDP issues it (SEC 1 PEM).
func coinbaseTestKey(t testing.TB) (*ecdsa.PrivateKey, []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	return k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func coinbaseCheck(t testing.TB, k Key) Checked {
	t.Helper()
	c, err := coinbase{}.Check(k)
	require.NoError(t, err)
	return c
}

func coinbaseInput(req Request, c Checked, now time.Time) Input {
	return Input{
		Request: req,
		APIKey:  coinbaseKeyName,
		KeyType: c.KeyType,
		Secret:  c.Secret,
		Scratch: make([]byte, ScratchSize),
		Now:     now,
	}
}

// coinbaseJWT splits a Bearer JWT, verifies its signature with pub and
// returns the decoded header and claims JSON.
func coinbaseJWT(t testing.TB, authorization string, pub any) (header, claims string) {
	t.Helper()
	tok, ok := strings.CutPrefix(authorization, "Bearer ")
	require.True(t, ok, authorization)
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		require.NoError(t, err)
		return b
	}
	sig := dec(parts[2])
	input := []byte(parts[0] + "." + parts[1])
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		require.Len(t, sig, 64)
		d := sha256.Sum256(input)
		require.True(t, ecdsa.Verify(k, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])), "ES256 signature verifies")
	case ed25519.PublicKey:
		require.True(t, ed25519.Verify(k, input, sig), "EdDSA signature verifies")
	default:
		t.Fatalf("key %T", pub)
	}
	return string(dec(parts[0])), string(dec(parts[1]))
}

func TestCoinbaseJWTVectors(t *testing.T) {
	v := loadCoinbaseVectors(t)
	ed := coinbaseCheck(t, Key{APIKey: v.APIKeyName, Secret: []byte(v.EdKey)})
	require.Equal(t, KeyEd25519, ed.KeyType)
	require.Len(t, ed.Secret, 64, "stored as seed || public key")
	edPub := ed25519.PrivateKey(ed.Secret).Public()
	for _, c := range v.EdDSA {
		t.Run(c.Name, func(t *testing.T) {
			in := coinbaseInput(Request{Method: c.Method, URL: c.URL, Headers: map[string]string{"authorization": "stale"}}, ed, time.Unix(v.Now, 0))
			in.Nonce = func(u time.Duration) uint64 { require.Equal(t, time.Microsecond, u); return v.NonceUS }
			out, err := coinbase{}.Sign(in)
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"Authorization": c.WantAuthorization}, out.Headers)
			h, cl := coinbaseJWT(t, out.Headers["Authorization"], edPub)
			assert.Equal(t, c.WantHeader, h)
			assert.Equal(t, c.WantClaims, cl)
			assert.Equal(t, c.URL, out.URL)
		})
	}
	key, pemKey := coinbaseTestKey(t)
	for _, form := range []string{"sec1", "pkcs8", "escaped newlines"} {
		secret := pemKey
		switch form {
		case "pkcs8":
			der, err := x509.MarshalPKCS8PrivateKey(key)
			require.NoError(t, err)
			secret = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		case "escaped newlines":
			secret = []byte(strings.ReplaceAll(string(pemKey), "\n", `\n`))
		}
		es := coinbaseCheck(t, Key{APIKey: v.APIKeyName, Secret: secret})
		require.Equal(t, KeyECDSAP256, es.KeyType)
		for _, c := range v.ES256 {
			t.Run(form+"/"+c.Name, func(t *testing.T) {
				in := coinbaseInput(Request{Method: c.Method, URL: c.URL}, es, time.Unix(v.Now, 0))
				in.Nonce = func(time.Duration) uint64 { return v.NonceUS }
				out, err := coinbase{}.Sign(in)
				require.NoError(t, err)
				h, cl := coinbaseJWT(t, out.Headers["Authorization"], &key.PublicKey)
				assert.Equal(t, c.WantHeader, h)
				assert.Equal(t, c.WantClaims, cl)
			})
		}
	}
}

func TestCoinbaseExchangeVectors(t *testing.T) {
	v := loadCoinbaseVectors(t)
	x := v.Exchange
	c := coinbaseCheck(t, Key{APIKey: x.APIKey, Secret: []byte(x.Secret), Passphrase: []byte(x.Passphrase)})
	require.Equal(t, KeyHMAC, c.KeyType)
	require.Len(t, c.Secret, 64)
	for _, tc := range x.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			in := coinbaseInput(Request{Method: tc.Method, URL: tc.URL, Body: tc.Body}, c, time.Unix(v.Now, 0).Add(999*time.Millisecond))
			in.APIKey = x.APIKey
			in.Passphrase = []byte(x.Passphrase)
			out, err := coinbase{}.Sign(in)
			require.NoError(t, err)
			want := map[string]string{
				"CB-ACCESS-KEY":        x.APIKey,
				"CB-ACCESS-SIGN":       tc.WantSign,
				"CB-ACCESS-TIMESTAMP":  strconv.FormatInt(v.Now, 10),
				"CB-ACCESS-PASSPHRASE": x.Passphrase,
			}
			if tc.Body != "" {
				want["Content-Type"] = "application/json"
			}
			assert.Equal(t, want, out.Headers)
			m := hmac.New(sha256.New, c.Secret)
			m.Write([]byte(tc.Prehash))
			assert.Equal(t, base64.StdEncoding.EncodeToString(m.Sum(nil)), tc.WantSign)
			assert.True(t, allZero(in.Scratch))
		})
	}
}

// coinbaseVerifyExchange recomputes CB-ACCESS-SIGN with crypto/hmac.
func coinbaseVerifyExchange(t testing.TB, secret []byte, out Request) {
	t.Helper()
	rest := out.URL[strings.Index(out.URL, "://")+3:]
	rp := rest[strings.Index(rest, "/"):]
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(out.Headers["CB-ACCESS-TIMESTAMP"] + out.Method + rp + out.Body))
	require.Equal(t, base64.StdEncoding.EncodeToString(m.Sum(nil)), out.Headers["CB-ACCESS-SIGN"])
}

func coinbaseRandParams(r *mrand.Rand) json.RawMessage {
	return krakenRandParams(r, false, true)
}

// TestCoinbaseCCXT compares with ccxt's coinbase (CDP keys, ES256 and
// EdDSA) and coinbaseexchange (HMAC): Exchange requests must match byte
// for byte; JWTs are decoded, both signatures verified with the public key,
// and their claims compared.
func TestCoinbaseCCXT(t *testing.T) {
	v := loadCoinbaseVectors(t)
	r := mrand.New(mrand.NewPCG(5, 8))
	ecKey, ecPEM := coinbaseTestKey(t)
	type ep struct {
		api    []string
		method string
		path   string
	}
	eps := []ep{{[]string{"v3", "private"}, "GET", "brokerage/accounts"}, {[]string{"v3", "private"}, "POST", "brokerage/orders"},
		{[]string{"v3", "private"}, "GET", "brokerage/orders/historical/batch"}, {[]string{"v3", "private"}, "POST", "brokerage/orders/batch_cancel"},
		{[]string{"v3", "private"}, "GET", "brokerage/orders/historical/{order_id}"}, {[]string{"v2", "private"}, "GET", "accounts"},
		{[]string{"v3", "private"}, "DELETE", "brokerage/portfolios/{portfolio_uuid}"}, {[]string{"v3", "private"}, "PUT", "brokerage/portfolios/{portfolio_uuid}"}}
	var cases []ccxtCase
	kinds := []string{}
	for i := 0; i < 120; i++ {
		e := eps[r.IntN(len(eps))]
		params := coinbaseRandParams(r)
		if strings.Contains(e.path, "{") {
			params = json.RawMessage(`{"order_id":"a-1","portfolio_uuid":"b-2"` + strings.TrimPrefix(string(params), "{")[0:0] + `}`)
		}
		c := ccxtCase{Exchange: "coinbase", NowMS: 1700000000123 + int64(i)*1000, Path: e.path, API: e.api, Method: e.method, Params: params}
		if i%2 == 0 {
			c.Credentials = map[string]string{"apiKey": coinbaseKeyName, "secret": string(ecPEM)}
			kinds = append(kinds, KeyECDSAP256)
		} else {
			c.Credentials = map[string]string{"apiKey": coinbaseKeyName, "secret": v.EdKey}
			kinds = append(kinds, KeyEd25519)
		}
		cases = append(cases, c)
	}
	exPaths := []ep{{nil, "GET", "accounts"}, {nil, "GET", "orders"}, {nil, "POST", "orders"}, {nil, "DELETE", "orders/{id}"}, {nil, "GET", "fills"}, {nil, "POST", "conversions"}}
	for i := 0; i < 60; i++ {
		e := exPaths[r.IntN(len(exPaths))]
		params := coinbaseRandParams(r)
		if e.path == "orders/{id}" {
			params = json.RawMessage(`{"id":"abc-1"}`)
		}
		c := ccxtCase{Exchange: "coinbaseexchange", NowMS: 1700000000123 + int64(i)*1000, Path: e.path, API: "private", Method: e.method, Params: params,
			Credentials: map[string]string{"apiKey": v.Exchange.APIKey, "secret": v.Exchange.Secret, "password": v.Exchange.Passphrase}}
		if i%3 == 0 {
			c.Config = map[string]any{"urls": map[string]any{"api": map[string]any{"private": "https://api-public.sandbox.exchange.coinbase.com"}}}
		}
		cases = append(cases, c)
		kinds = append(kinds, KeyHMAC)
	}
	res := ccxtSign(t, cases)

	ed := coinbaseCheck(t, Key{APIKey: coinbaseKeyName, Secret: []byte(v.EdKey)})
	es := coinbaseCheck(t, Key{APIKey: coinbaseKeyName, Secret: ecPEM})
	ex := coinbaseCheck(t, Key{APIKey: v.Exchange.APIKey, Secret: []byte(v.Exchange.Secret), Passphrase: []byte(v.Exchange.Passphrase)})
	edPub := ed25519.PrivateKey(ed.Secret).Public()
	for i, c := range cases {
		res := res[i]
		require.Empty(t, res.Error, "case %d %s %s", i, c.Exchange, c.Path)
		ccxtOut := Request{Method: res.Method, URL: res.URL, Headers: res.Headers, Body: res.Body}
		bot := Request{Method: res.Method, URL: res.URL, Body: res.Body, Headers: map[string]string{}}
		for k, val := range res.Headers {
			switch k {
			case "Authorization", "CB-ACCESS-KEY", "CB-ACCESS-SIGN", "CB-ACCESS-TIMESTAMP", "CB-ACCESS-PASSPHRASE":
			default:
				bot.Headers[k] = val
			}
		}
		var ck Checked
		switch kinds[i] {
		case KeyECDSAP256:
			ck = es
		case KeyEd25519:
			ck = ed
		default:
			ck = ex
		}
		in := coinbaseInput(bot, ck, time.UnixMilli(c.NowMS))
		if kinds[i] == KeyHMAC {
			in.APIKey = v.Exchange.APIKey
			in.Passphrase = []byte(v.Exchange.Passphrase)
		}
		out, err := coinbase{}.Sign(in)
		require.NoError(t, err, "case %d %s %s", i, bot.Method, bot.URL)
		if kinds[i] == KeyHMAC {
			assert.Equal(t, ccxtOut, out, "case %d", i)
			coinbaseVerifyExchange(t, ex.Secret, out)
			continue
		}
		// Everything but the JWT is byte-identical.
		assert.Equal(t, ccxtOut.Method, out.Method)
		assert.Equal(t, ccxtOut.URL, out.URL)
		assert.Equal(t, ccxtOut.Body, out.Body)
		assert.Equal(t, len(ccxtOut.Headers), len(out.Headers))
		for k, val := range ccxtOut.Headers {
			if k != "Authorization" {
				assert.Equal(t, val, out.Headers[k], k)
			}
		}
		var pub any = edPub
		if kinds[i] == KeyECDSAP256 {
			pub = &ecKey.PublicKey
		}
		ch, cc := coinbaseJWT(t, ccxtOut.Headers["Authorization"], pub)
		oh, oc := coinbaseJWT(t, out.Headers["Authorization"], pub)
		var chm, ohm, ccm, ocm map[string]any
		require.NoError(t, json.Unmarshal([]byte(ch), &chm))
		require.NoError(t, json.Unmarshal([]byte(oh), &ohm))
		require.NoError(t, json.Unmarshal([]byte(cc), &ccm))
		require.NoError(t, json.Unmarshal([]byte(oc), &ocm))
		// Headers: the same but for the nonce (ccxt's is 16 random bytes in hex).
		assert.Len(t, chm["nonce"], 32)
		assert.Len(t, ohm["nonce"], 32)
		delete(chm, "nonce")
		delete(ohm, "nonce")
		assert.Equal(t, chm, ohm, "case %d header", i)
		if kinds[i] == KeyEd25519 {
			assert.Equal(t, ccm, ocm, "case %d claims", i)
			continue
		}
		// ES256: ccxt still sends the legacy claims (iss "coinbase-cloud",
		// aud ["retail_rest_api_proxy"], iat); the docs' are iss "cdp" alone.
		assert.Equal(t, "coinbase-cloud", ccm["iss"])
		assert.Equal(t, []any{"retail_rest_api_proxy"}, ccm["aud"])
		assert.Equal(t, ccm["nbf"], ccm["iat"])
		assert.Equal(t, "cdp", ocm["iss"])
		for _, k := range []string{"iss", "aud", "iat"} {
			delete(ccm, k)
			delete(ocm, k)
		}
		assert.Equal(t, ccm, ocm, "case %d claims", i)
	}
}

func TestCoinbaseCheck(t *testing.T) {
	v := loadCoinbaseVectors(t)
	_, ecPEM := coinbaseTestKey(t)
	edRaw, _ := base64.StdEncoding.DecodeString(v.EdKey)
	badEd := append([]byte{}, edRaw...)
	badEd[40] ^= 1
	_, ed2, _ := ed25519.GenerateKey(rand.Reader)
	ed2PKCS8, _ := x509.MarshalPKCS8PrivateKey(ed2)
	rsaPEM := "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n"
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalECPrivateKey(p384)
	cases := []struct {
		name     string
		key      Key
		wantType string
		want     string
	}{
		{"ec pem", Key{APIKey: coinbaseKeyName, Secret: ecPEM}, KeyECDSAP256, ""},
		{"ed25519 base64", Key{APIKey: "d2efa49a-369c-43d7-a60e-ae26e28853c2", Secret: []byte(v.EdKey + "\n")}, KeyEd25519, ""},
		{"ed25519 pkcs8 pem", Key{APIKey: coinbaseKeyName, Secret: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ed2PKCS8})}, KeyEd25519, ""},
		{"exchange hmac", Key{APIKey: v.Exchange.APIKey, Secret: []byte(v.Exchange.Secret), Passphrase: []byte("p")}, KeyHMAC, ""},
		{"exchange without passphrase", Key{APIKey: v.Exchange.APIKey, Secret: []byte(v.Exchange.Secret)}, "", "passphrase"},
		{"exchange passphrase control byte", Key{APIKey: v.Exchange.APIKey, Secret: []byte(v.Exchange.Secret), Passphrase: []byte("a\nb")}, "", "control"},
		{"ed25519 with wrong public half", Key{APIKey: coinbaseKeyName, Secret: []byte(base64.StdEncoding.EncodeToString(badEd))}, "", "second half is the public key"},
		{"cdp key with passphrase", Key{APIKey: coinbaseKeyName, Secret: ecPEM, Passphrase: []byte("p")}, "", "no passphrase"},
		{"ed25519 with passphrase", Key{APIKey: coinbaseKeyName, Secret: []byte(v.EdKey), Passphrase: []byte("p")}, "", "no passphrase"},
		{"json key file", Key{APIKey: coinbaseKeyName, Secret: []byte(`{"name":"organizations/x","privateKey":"-----BEGIN EC PRIVATE KEY-----\n..."}`)}, "", "privateKey value"},
		{"pem as api key", Key{APIKey: "-----BEGIN EC PRIVATE KEY-----", Secret: ecPEM}, "", "key's name"},
		{"rsa pem", Key{APIKey: coinbaseKeyName, Secret: []byte(rsaPEM)}, "", "PKCS#1"},
		{"p384", Key{APIKey: coinbaseKeyName, Secret: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p384DER})}, "", "P-256"},
		{"public key", Key{APIKey: coinbaseKeyName, Secret: []byte("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n")}, "", "not a private key"},
		{"not base64", Key{APIKey: "k", Secret: []byte("not a coinbase secret at all!")}, "", "neither PEM nor base64"},
		{"too short", Key{APIKey: "k", Secret: []byte("c2hvcnQ="), Passphrase: []byte("p")}, "", "not base64 of a key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch, err := coinbase{}.Check(c.key)
			if c.want == "" {
				require.NoError(t, err)
				assert.Equal(t, c.wantType, ch.KeyType)
				return
			}
			var re *RequestError
			require.True(t, errors.As(err, &re), "%v", err)
			assert.Contains(t, re.Msg, c.want)
			assert.True(t, strings.HasPrefix(re.Msg, "coinbase: "), re.Msg)
			s := strings.TrimSpace(string(c.key.Secret))
			if len(s) > 40 {
				assert.NotContains(t, re.Msg, s[len(s)-30:])
			}
		})
	}
}

func TestCoinbaseRefusals(t *testing.T) {
	v := loadCoinbaseVectors(t)
	_, ecPEM := coinbaseTestKey(t)
	es := coinbaseCheck(t, Key{APIKey: coinbaseKeyName, Secret: ecPEM})
	ex := coinbaseCheck(t, Key{APIKey: "k", Secret: []byte(v.Exchange.Secret), Passphrase: []byte("p")})
	adv := "https://api.coinbase.com/api/v3/brokerage/orders"
	exch := "https://api.exchange.coinbase.com/orders"
	cases := []struct {
		name         string
		key          Checked
		method, url  string
		body, ctType string
		want         string
	}{
		{"foreign host", es, "GET", "https://api.coinbase.example/api/v3/x", "", "", "not one of the credential's hosts"},
		{"http", es, "GET", "http://api.coinbase.com/api/v3/x", "", "", "https"},
		{"cdp key to exchange", es, "GET", exch, "", "", "Coinbase Exchange"},
		{"hmac key to advanced", ex, "GET", adv, "", "", "takes CDP keys"},
		{"jwt method", es, "TRACE", adv, "", "", "method"},
		{"exchange method", ex, "PATCH", exch, "", "", "method"},
		{"exchange GET body", ex, "GET", exch, `{}`, "", "GET"},
		{"exchange form body", ex, "POST", exch, "a=b", formContentType, "JSON"},
		{"exchange bad json", ex, "POST", exch, `{"a":`, "", "not valid JSON"},
		{"websocket", es, MethodWS, "wss://advanced-trade-ws.coinbase.com", "", "", "WebSocket"},
		{"space in url", es, "GET", adv + "?a=b c", "", "", "a space"},
		{"fragment", ex, "GET", exch + "#x", "", "", "fragment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := Request{Method: c.method, URL: c.url, Body: c.body}
			if c.ctType != "" {
				req.Headers = map[string]string{"Content-Type": c.ctType}
			}
			in := coinbaseInput(req, c.key, time.Unix(1, 0))
			in.Passphrase = []byte("p")
			_, err := coinbase{}.Sign(in)
			requireRefusal(t, err, "coinbase", c.want)
		})
	}
}

func TestCoinbaseAgentFaults(t *testing.T) {
	v := loadCoinbaseVectors(t)
	ex := coinbaseCheck(t, Key{APIKey: "k", Secret: []byte(v.Exchange.Secret), Passphrase: []byte("p")})
	req := Request{Method: "GET", URL: "https://api.exchange.coinbase.com/accounts"}
	for _, f := range []func(*Input){
		func(in *Input) { in.Secret = nil },
		func(in *Input) { in.Passphrase = nil },
		func(in *Input) { in.Scratch = in.Scratch[:1] },
		func(in *Input) { in.KeyType = KeyRSA },
		func(in *Input) { in.APIKey = "" },
	} {
		in := coinbaseInput(req, ex, time.Unix(1, 0))
		in.Passphrase = []byte("p")
		f(&in)
		_, err := coinbase{}.Sign(in)
		require.Error(t, err)
		assert.False(t, errors.As(err, new(*RequestError)), "%v", err)
	}
}

func TestCoinbaseNoSecretInOutput(t *testing.T) {
	v := loadCoinbaseVectors(t)
	ed := coinbaseCheck(t, Key{APIKey: coinbaseKeyName, Secret: []byte(v.EdKey)})
	ex := coinbaseCheck(t, Key{APIKey: "k", Secret: []byte(v.Exchange.Secret), Passphrase: []byte("p")})
	for _, c := range []struct {
		key Checked
		req Request
	}{
		{ed, Request{Method: "POST", URL: "https://api.coinbase.com/api/v3/brokerage/orders", Body: `{"a":1}`}},
		{ed, Request{Method: "POST", URL: "https://api.exchange.coinbase.com/orders"}},
		{ex, Request{Method: "POST", URL: "https://api.exchange.coinbase.com/orders", Body: `{"a":1}`}},
		{ex, Request{Method: "POST", URL: "https://api.exchange.coinbase.com/orders", Body: `{"a":`}},
	} {
		in := coinbaseInput(c.req, c.key, time.Unix(1, 0))
		in.Passphrase = []byte("p")
		out, err := coinbase{}.Sign(in)
		text := ""
		if err != nil {
			text = err.Error()
		} else {
			for k, val := range out.Headers {
				text += k + val
			}
			text += out.URL + out.Body
		}
		for _, s := range []string{v.EdKey[:20], v.Exchange.Secret[:20], base64.RawURLEncoding.EncodeToString(ed.Secret)[:20], base64.StdEncoding.EncodeToString(ed.Secret)[:20], string(ed.Secret), string(ex.Secret)} {
			assert.NotContains(t, text, s)
		}
	}
}

func FuzzCoinbaseSign(f *testing.F) {
	f.Add(0, "GET", "https://api.coinbase.com/api/v3/brokerage/accounts?limit=1", "")
	f.Add(0, "POST", "https://api-sandbox.coinbase.com/api/v3/brokerage/orders", `{"a":"é"}`)
	f.Add(1, "GET", "https://api.exchange.coinbase.com/orders?status=open&a=%20", "")
	f.Add(1, "POST", "https://api-public.sandbox.exchange.coinbase.com/orders", `{"size":"1"}`)
	f.Add(1, "DELETE", "https://api.exchange.coinbase.com/orders/x?", "")
	seed := sha256.Sum256([]byte("keyward fake coinbase ed25519 key"))
	edKey := ed25519.NewKeyFromSeed(seed[:])
	exSecret := sha256.Sum256([]byte("keyward fake coinbase exchange secret"))
	f.Fuzz(func(t *testing.T, kind int, method, u, body string) {
		ck := Checked{KeyType: KeyEd25519, Secret: seed[:]}
		if kind%2 != 0 {
			ck = Checked{KeyType: KeyHMAC, Secret: exSecret[:]}
		}
		in := coinbaseInput(Request{Method: method, URL: u, Body: body}, ck, time.Unix(1700000000, 0))
		in.Passphrase = []byte("p")
		out, err := coinbase{}.Sign(in)
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "non-RequestError %v", err)
			return
		}
		require.True(t, allZero(in.Scratch))
		require.Equal(t, u, out.URL)
		require.Equal(t, body, out.Body)
		if ck.KeyType == KeyHMAC {
			coinbaseVerifyExchange(t, exSecret[:], out)
			return
		}
		_, claims := coinbaseJWT(t, out.Headers["Authorization"], edKey.Public())
		var m struct{ URIs []string }
		require.NoError(t, json.Unmarshal([]byte(claims), &m))
		require.Len(t, m.URIs, 1)
		require.True(t, strings.HasPrefix(m.URIs[0], method+" "))
	})
}

func BenchmarkCoinbaseSign(b *testing.B) {
	k, pemKey := coinbaseTestKey(b)
	_ = k
	seed := sha256.Sum256([]byte("keyward fake coinbase ed25519 key"))
	exSecret := sha256.Sum256([]byte("keyward fake coinbase exchange secret"))
	es := coinbaseCheck(b, Key{APIKey: coinbaseKeyName, Secret: pemKey})
	for _, c := range []struct {
		name string
		ck   Checked
		url  string
	}{
		{"ES256", es, "https://api.coinbase.com/api/v3/brokerage/orders"},
		{"EdDSA", Checked{KeyType: KeyEd25519, Secret: seed[:]}, "https://api.coinbase.com/api/v3/brokerage/orders"},
		{"Exchange", Checked{KeyType: KeyHMAC, Secret: exSecret[:]}, "https://api.exchange.coinbase.com/orders"},
	} {
		b.Run(c.name, func(b *testing.B) {
			in := coinbaseInput(Request{Method: "POST", URL: c.url, Body: `{"product_id":"BTC-USD","side":"BUY"}`}, c.ck, time.Unix(1700000000, 0))
			in.Passphrase = []byte("p")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (coinbase{}).Sign(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
