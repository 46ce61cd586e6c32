package scheme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
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
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// binanceKey is one test credential of binance.json.
type binanceKey struct {
	Source string `json:"source"`
	APIKey string `json:"api_key"`
	Secret string `json:"secret"`
}

type binanceVectors struct {
	Note  string                `json:"note"`
	Keys  map[string]binanceKey `json:"keys"`
	Cases []struct {
		Name        string `json:"name"`
		Source      string `json:"source"`
		Key         string `json:"key"`
		NowMS       int64  `json:"now_ms"`
		Method      string `json:"method"`
		URL         string `json:"url"`
		Body        string `json:"body"`
		TotalParams string `json:"total_params"`
		Signature   string `json:"signature"`
		WantURL     string `json:"want_url"`
		WantBody    string `json:"want_body"`
	} `json:"cases"`
	PayloadOnly []struct {
		Name                string `json:"name"`
		Source              string `json:"source"`
		Key                 string `json:"key"`
		NowMS               int64  `json:"now_ms"`
		Method              string `json:"method"`
		URL                 string `json:"url"`
		TotalParams         string `json:"total_params"`
		DocSignature        string `json:"doc_signature"`
		DocSignatureEncoded string `json:"doc_signature_encoded"`
	} `json:"payload_only"`
}

func loadBinanceVectors(t testing.TB) binanceVectors {
	v := loadVectors[binanceVectors](t, "binance")
	require.Len(t, v.Cases, 7)
	require.Len(t, v.PayloadOnly, 3)
	return v
}

// binanceCred is a checked test credential: what the agent stores and
// lends to Sign, and the public half to verify with.
type binanceCred struct {
	apiKey  string
	keyType string
	secret  []byte
	pub     crypto.PublicKey // nil for HMAC
	raw     []byte           // as given to Check
}

func binanceCredFrom(t testing.TB, k binanceKey) binanceCred {
	t.Helper()
	c, err := binance{}.Check(Key{APIKey: k.APIKey, Secret: []byte(k.Secret)})
	require.NoError(t, err)
	cred := binanceCred{apiKey: k.APIKey, keyType: c.KeyType, secret: c.Secret, raw: []byte(k.Secret)}
	if cred.secret == nil {
		cred.secret = []byte(k.Secret)
	}
	switch c.KeyType {
	case KeyRSA:
		pk, err := x509.ParsePKCS8PrivateKey(c.Secret)
		require.NoError(t, err)
		cred.pub = pk.(*rsa.PrivateKey).Public()
	case KeyEd25519:
		cred.pub = ed25519.PrivateKey(c.Secret).Public()
	}
	return cred
}

func (c binanceCred) input(req Request, now time.Time) Input {
	return Input{
		Request: req,
		APIKey:  c.apiKey,
		KeyType: c.keyType,
		Secret:  c.secret,
		Scratch: make([]byte, ScratchSize),
		Now:     now,
	}
}

func binanceInput(req Request, secret []byte, now time.Time) Input {
	return Input{
		Request: req,
		APIKey:  "test-api-key",
		Secret:  secret,
		Scratch: make([]byte, ScratchSize),
		Now:     now,
	}
}

// binanceVerifySig checks sig (as the venue receives it: hex, or base64)
// over payload with the credential's key, independently of the code under
// test.
func binanceVerifySig(t testing.TB, c binanceCred, payload []byte, sig string) {
	t.Helper()
	switch c.keyType {
	case KeyRSA, KeyEd25519:
		raw, err := base64.StdEncoding.DecodeString(sig)
		require.NoError(t, err, "signature %q is not base64", sig)
		if c.keyType == KeyRSA {
			d := sha256.Sum256(payload)
			require.NoError(t, rsa.VerifyPKCS1v15(c.pub.(*rsa.PublicKey), crypto.SHA256, d[:], raw), "RSA signature does not verify over %q", payload)
		} else {
			require.True(t, ed25519.Verify(c.pub.(ed25519.PublicKey), payload, raw), "Ed25519 signature does not verify over %q", payload)
		}
	default:
		m := hmac.New(sha256.New, c.secret)
		m.Write(payload)
		require.Equal(t, hex.EncodeToString(m.Sum(nil)), sig)
	}
}

// verifyBinanceKey splits a signed request into its query and body
// without the signature, checks the signature over query+body with the
// credential's key, and returns them.
func verifyBinanceKey(t testing.TB, c binanceCred, out Request) (query, body string) {
	t.Helper()
	_, query, _ = strings.Cut(out.URL, "?")
	body = out.Body
	target := &query
	if body != "" {
		target = &body
	}
	i := strings.LastIndex(*target, "signature=")
	require.GreaterOrEqual(t, i, 0, "no signature in %q", *target)
	sig := (*target)[i+len("signature="):]
	*target = strings.TrimSuffix((*target)[:i], "&")
	if c.keyType == KeyRSA || c.keyType == KeyEd25519 {
		require.NotContains(t, sig, "+", "base64 signature not percent-encoded")
		dec, err := url.QueryUnescape(sig)
		require.NoError(t, err)
		require.Equal(t, binancePercentEncode(dec), sig, "signature encoded other than as Binance documents")
		sig = dec
	}
	binanceVerifySig(t, c, []byte(query+body), sig)
	return query, body
}

// verifyBinance is verifyBinanceKey for an HMAC secret.
func verifyBinance(t testing.TB, secret []byte, out Request) (query, body string) {
	t.Helper()
	return verifyBinanceKey(t, binanceCred{keyType: KeyHMAC, secret: secret}, out)
}

// TestBinanceDocumentedExamples signs Binance's own examples (docs and the
// official connector's tests) with the three key types and expects the
// published signatures and requests byte for byte.
func TestBinanceDocumentedExamples(t *testing.T) {
	v := loadBinanceVectors(t)
	s, ok := Lookup("binance")
	require.True(t, ok)
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			require.NotEmpty(t, c.Source)
			cred := binanceCredFrom(t, v.Keys[c.Key])
			require.Equal(t, c.Key, cred.keyType)
			// The vector is self-consistent: its signature verifies over its totalParams.
			binanceVerifySig(t, cred, []byte(c.TotalParams), c.Signature)

			in := cred.input(Request{Method: c.Method, URL: c.URL, Body: c.Body}, time.UnixMilli(c.NowMS))
			out, err := s.Sign(in)
			require.NoError(t, err)
			assert.Equal(t, c.Method, out.Method)
			assert.Equal(t, c.WantURL, out.URL)
			assert.Equal(t, c.WantBody, out.Body)
			assert.Equal(t, cred.apiKey, out.Headers["X-MBX-APIKEY"])
			if c.Body != "" {
				assert.Equal(t, "application/x-www-form-urlencoded", out.Headers["Content-Type"])
			}
			assert.True(t, allZero(in.Scratch), "scratch wiped")
		})
	}
}

// TestBinanceDocumentedPayloads covers the docs' RSA and Ed25519 examples,
// whose private keys Binance does not publish: the payload the agent signs
// must be the docs' payload byte for byte (the agent's signature, made with
// another key, verifies over it), and the docs' percent-encoding of their
// base64 signature must be the agent's.
func TestBinanceDocumentedPayloads(t *testing.T) {
	v := loadBinanceVectors(t)
	for _, c := range v.PayloadOnly {
		t.Run(c.Name, func(t *testing.T) {
			require.NotEmpty(t, c.Source)
			assert.Equal(t, c.DocSignatureEncoded, binancePercentEncode(c.DocSignature))
			cred := binanceCredFrom(t, v.Keys[c.Key])
			out, err := binance{}.Sign(cred.input(Request{Method: c.Method, URL: c.URL}, time.UnixMilli(c.NowMS)))
			require.NoError(t, err)
			q, b := verifyBinanceKey(t, cred, out)
			assert.Equal(t, c.TotalParams, q+b)
		})
	}
}

func TestBinancePlacement(t *testing.T) {
	now := time.UnixMilli(1700000000123)
	secret := []byte("s3cr3t")
	base := "https://testnet.binance.vision/api/v3/order"
	cases := []struct {
		name              string
		method, url, body string
		wantQuery         string // signed query without the signature
		wantBody          string // signed body without the signature
	}{
		{"no params", "GET", "https://api.binance.com/api/v3/account", "",
			"recvWindow=5000&timestamp=1700000000123", ""},
		{"empty query", "GET", "https://api.binance.com/api/v3/account?", "",
			"recvWindow=5000&timestamp=1700000000123", ""},
		{"query only", "GET", base + "?symbol=BTCUSDT", "",
			"symbol=BTCUSDT&recvWindow=5000&timestamp=1700000000123", ""},
		{"bot's recvWindow kept", "GET", base + "?recvWindow=2500.5&symbol=BTCUSDT", "",
			"recvWindow=2500.5&symbol=BTCUSDT&timestamp=1700000000123", ""},
		{"body only", "POST", base, "symbol=BTCUSDT&side=BUY",
			"", "symbol=BTCUSDT&side=BUY&recvWindow=5000&timestamp=1700000000123"},
		{"mixed: agent params go in the body", "DELETE", base + "?symbol=BTCUSDT", "orderId=7",
			"symbol=BTCUSDT", "orderId=7&recvWindow=5000&timestamp=1700000000123"},
		{"recvWindow in query, body present", "POST", base + "?recvWindow=100", "a=b",
			"recvWindow=100", "a=b&timestamp=1700000000123"},
		{"encoded non-ASCII kept as sent", "GET", base + "?symbol=%EF%BC%91%EF%BC%92%EF%BC%93&x=%2b", "",
			"symbol=%EF%BC%91%EF%BC%92%EF%BC%93&x=%2b&recvWindow=5000&timestamp=1700000000123", ""},
		// A bot's timestamp (ccxt always sends one, first) is overwritten in
		// place and nothing else is added.
		{"timestamp first, as ccxt", "GET", base + "?timestamp=1&symbol=BTCUSDT", "",
			"timestamp=1700000000123&symbol=BTCUSDT", ""},
		{"timestamp last", "GET", base + "?symbol=BTCUSDT&timestamp=99999999999999", "",
			"symbol=BTCUSDT&timestamp=1700000000123", ""},
		{"empty timestamp", "GET", base + "?timestamp=&a=1", "",
			"timestamp=1700000000123&a=1", ""},
		{"timestamp in body", "POST", base, "timestamp=5&symbol=BTCUSDT&recvWindow=10000",
			"", "timestamp=1700000000123&symbol=BTCUSDT&recvWindow=10000"},
		{"timestamp in query, body present", "POST", base + "?timestamp=5&a=1", "b=2",
			"timestamp=1700000000123&a=1", "b=2"},
		{"timestamp in body, query present", "PUT", base + "?a=1", "timestamp=5&b=2",
			"a=1", "timestamp=1700000000123&b=2"},
		{"encoded timestamp name overwritten", "GET", base + "?%74imestamp=1", "",
			"%74imestamp=1700000000123", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := binance{}.Sign(binanceInput(Request{Method: c.method, URL: c.url, Body: c.body}, secret, now))
			require.NoError(t, err)
			q, b := verifyBinance(t, secret, out)
			assert.Equal(t, c.wantQuery, q)
			assert.Equal(t, c.wantBody, b)
			base, _, _ := strings.Cut(c.url, "?")
			assert.True(t, strings.HasPrefix(out.URL, base))
		})
	}
}

// TestBinanceEncodingDecision pins the encoding the agent accepts (see the
// binance type's doc): what ccxt's urlencode and rawencode send and Binance
// verifies, kept byte for byte.
func TestBinanceEncodingDecision(t *testing.T) {
	now := time.UnixMilli(1700000000123)
	secret := []byte("s3cr3t")
	order := "https://fapi.binance.com/fapi/v1/batchOrders"
	accepted := []struct{ name, method, url, body string }{
		{"batchOrders JSON, rawencode", "POST", order, `timestamp=1&batchOrders=[{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","quantity":"0.001","price":"10000","timeInForce":"GTC","newClientOrderId":"x-xcKtGhcuAAAA"}]`},
		{"raw commas in a query (Binance's docs write symbols this way)", "GET", `https://api.binance.com/api/v3/ticker?symbols=["BTCUSDT","BNBUSDT"]`, ""},
		{"percent-encoded commas", "GET", "https://api.binance.com/api/v3/ticker?symbols=%5B%22A%22%2C%22B%22%5D", ""},
		{"lower-case escapes", "POST", order, "a=%2b%2f"},
		{"raw space in a body, rawencode", "POST", "https://api.binance.com/sapi/v1/capital/withdraw/apply", "timestamp=1&coin=USDT&name=my wallet"},
		{"raw '@' and ':' , rawencode", "GET", "https://api.binance.com/sapi/v1/sub-account/assets?timestamp=1&email=a@b.example&x=1:2", ""},
		{"raw '=' inside a value", "POST", order, "a=b=c"},
		{"array, urlencode", "GET", "https://api.binance.com/sapi/v1/x?timestamp=1&a%5B0%5D=1&a%5B1%5D=2", ""},
		{"array repeat, asset/dust", "POST", "https://api.binance.com/sapi/v1/asset/dust", "timestamp=1&asset=BTC&asset=ETH"},
		{"empty value", "GET", "https://api.binance.com/api/v3/x?a=&timestamp=1", ""},
	}
	for _, c := range accepted {
		t.Run(c.name, func(t *testing.T) {
			out, err := binance{}.Sign(binanceInput(Request{Method: c.method, URL: c.url, Body: c.body}, secret, now))
			require.NoError(t, err)
			q, b := verifyBinance(t, secret, out)
			_, inQuery, _ := strings.Cut(c.url, "?")
			if strings.Contains(c.url+c.body, "timestamp=1") {
				assert.Equal(t, strings.Replace(inQuery+c.body, "timestamp=1", "timestamp=1700000000123", 1), q+b)
			} else {
				assert.True(t, strings.HasPrefix(q+b, inQuery+c.body), "bot's bytes re-written")
			}
		})
	}
}

func TestBinanceHeaders(t *testing.T) {
	in := binanceInput(Request{
		Method:  "POST",
		URL:     "https://api.binance.com/api/v3/order",
		Headers: map[string]string{"x-mbx-apikey": "spoofed", "User-Agent": "bot/1", "content-type": "application/x-www-form-urlencoded; charset=utf-8"},
		Body:    "symbol=BTCUSDT",
	}, []byte("k"), time.UnixMilli(1))
	before := map[string]string{}
	for k, v := range in.Request.Headers {
		before[k] = v
	}
	out, err := binance{}.Sign(in)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"X-MBX-APIKEY": "test-api-key",
		"User-Agent":   "bot/1",
		"content-type": "application/x-www-form-urlencoded; charset=utf-8",
	}, out.Headers)
	assert.Equal(t, before, in.Request.Headers, "input headers untouched")
}

// The futures and other documented hosts sign exactly like Spot.
func TestBinanceHosts(t *testing.T) {
	secret := []byte("s3cr3t")
	for _, h := range (binance{}).Hosts() {
		out, err := binance{}.Sign(binanceInput(Request{Method: "GET", URL: "https://" + h + "/x/v1/order?timestamp=1&symbol=BTCUSDT"}, secret, time.UnixMilli(42)))
		require.NoError(t, err, h)
		q, _ := verifyBinance(t, secret, out)
		assert.Equal(t, "timestamp=42&symbol=BTCUSDT", q, h)
	}
	for _, h := range []string{"fapi.binance.com", "dapi.binance.com", "testnet.binancefuture.com", "api-gcp.binance.com", "api4.binance.com", "testnet.binance.vision", "demo-api.binance.com"} {
		assert.Contains(t, (binance{}).Hosts(), h)
	}
}

func TestBinanceRefusals(t *testing.T) {
	order := "https://api.binance.com/api/v3/order"
	cases := []struct {
		name              string
		method, url, body string
		headers           map[string]string
		want              string // in the message
	}{
		{"http", "GET", "http://api.binance.com/api/v3/order", "", nil, "https"},
		{"foreign host", "GET", "https://evil.example/api/v3/order", "", nil, "not one of the credential's hosts"},
		{"look-alike host", "GET", "https://fapi.binance.com.evil.example/fapi/v1/order", "", nil, "not one of the credential's hosts"},
		{"ws host", "GET", "https://ws-api.binance.com/ws-api/v3", "", nil, "not one of the credential's hosts"},
		{"user info", "GET", "https://u@api.binance.com/api/v3/order", "", nil, "user info"},
		{"fragment", "GET", order + "?a=b#x", "", nil, "fragment"},
		{"no path", "GET", "https://api.binance.com", "", nil, "no path"},
		{"space in URL", "GET", order + "?a=b c", "", nil, "a space"},
		{"method", "PATCH", order, "", nil, "method"},
		{"GET body", "GET", order, "a=b", nil, "GET"},
		{"json body", "POST", order, `{"a":1}`, map[string]string{"Content-Type": "application/json"}, "form-encoded"},
		{"timestamp twice", "GET", order + "?timestamp=1&timestamp=2", "", nil, "more than once"},
		{"timestamp in query and body", "POST", order + "?timestamp=1", "timestamp=2", nil, "more than once"},
		{"signature", "POST", order, "signature=abc", nil, "agent sets the signature"},
		{"timestamp in other case", "GET", order + "?TimeStamp=1", "", nil, "lower case"},
		{"encoded signature name", "GET", order + "?%73ignature=abc", "", nil, "agent sets the signature"},
		{"recvWindow too big", "GET", order + "?recvWindow=60001", "", nil, "at most 60000"},
		{"recvWindow fraction over max", "GET", order + "?recvWindow=60000.001", "", nil, "at most 60000"},
		{"recvWindow zero", "GET", order + "?recvWindow=0", "", nil, "greater than 0"},
		{"recvWindow text", "GET", order + "?recvWindow=soon", "", nil, "recvWindow"},
		{"recvWindow negative", "GET", order + "?recvWindow=-1", "", nil, "recvWindow"},
		{"recvWindow four decimals", "GET", order + "?recvWindow=1.0001", "", nil, "recvWindow"},
		{"recvWindow twice", "POST", order + "?recvWindow=1", "recvWindow=2", nil, "more than once"},
		{"empty param", "GET", order + "?a=1&&b=2", "", nil, "empty parameter"},
		{"trailing &", "POST", order, "a=1&", nil, "empty parameter"},
		{"no =", "GET", order + "?flag", "", nil, "no '='"},
		{"empty name", "GET", order + "?=1", "", nil, "empty name"},
		{"plus", "POST", order, "a=1+2", nil, "%2B"},
		{"plus in query", "GET", order + "?a=1+2", "", nil, "reads as a space"},
		{"raw non-ASCII in body", "POST", order, "symbol=１２３", nil, "%EF%BC%91"},
		{"raw control byte in body", "POST", order, "a=b\tc", nil, "control byte"},
		{"bad escape", "POST", order, "a=%zz", nil, "two hex digits"},
		{"short escape", "POST", order, "a=%4", nil, "two hex digits"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := binanceInput(Request{Method: c.method, URL: c.url, Body: c.body, Headers: c.headers}, []byte("k"), time.UnixMilli(1))
			_, err := binance{}.Sign(in)
			requireRefusal(t, err, "binance", c.want)
		})
	}
}

// Faults of the caller (the agent), not of the bot, are plain errors.
func TestBinanceAgentFaults(t *testing.T) {
	req := Request{Method: "GET", URL: "https://api.binance.com/api/v3/account"}
	in := binanceInput(req, nil, time.UnixMilli(1))
	_, err := binance{}.Sign(in)
	require.Error(t, err)
	assert.False(t, errors.As(err, new(*RequestError)))

	in = binanceInput(req, []byte("k"), time.UnixMilli(1))
	in.Scratch = in.Scratch[:100]
	_, err = binance{}.Sign(in)
	require.Error(t, err)
	assert.False(t, errors.As(err, new(*RequestError)))

	in = binanceInput(req, []byte("k"), time.UnixMilli(1))
	in.APIKey = "a\nb"
	_, err = binance{}.Sign(in)
	require.Error(t, err)

	for _, kt := range []string{KeyECDSAP256, "nonsense"} {
		in = binanceInput(req, []byte("k"), time.UnixMilli(1))
		in.KeyType = kt
		_, err = binance{}.Sign(in)
		require.Error(t, err, kt)
		assert.False(t, errors.As(err, new(*RequestError)))
	}
	// A stored RSA key that does not parse is the agent's fault too.
	in = binanceInput(req, []byte("not DER"), time.UnixMilli(1))
	in.KeyType = KeyRSA
	_, err = binance{}.Sign(in)
	require.Error(t, err)
	assert.False(t, errors.As(err, new(*RequestError)))
	assert.NotContains(t, err.Error(), "not DER")
}

// binanceTestPEMs makes key files of every form for Check tests.
func binanceTestPEMs(t testing.TB) map[string][]byte {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	pub, err := x509.MarshalPKIXPublicKey(ek.Public())
	require.NoError(t, err)
	ecDER, err := x509.MarshalECPrivateKey(ec)
	require.NoError(t, err)
	return map[string][]byte{
		"rsa-pkcs8":  p8(rk),
		"rsa-pkcs1":  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}),
		"rsa-1024":   p8(small),
		"ed25519":    p8(ek),
		"ec-pkcs8":   p8(ec),
		"ec-sec1":    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}),
		"public":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"encrypted":  pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"bad-pkcs8":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not a key at all")}),
		"truncated":  []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"),
		"two-blocks": append(p8(ek), p8(ek)...),
	}
}

func TestBinanceCheck(t *testing.T) {
	pems := binanceTestPEMs(t)
	for _, s := range []Scheme{binance{}, binanceWS{}} {
		name := s.Name()
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, []string{KeyHMAC, KeyRSA, KeyEd25519}, s.Info().KeyTypes)
			good := map[string]string{
				"rsa-pkcs8": KeyRSA,
				"ed25519":   KeyEd25519,
			}
			for form, want := range good {
				c, err := s.Check(Key{APIKey: "k", Secret: pems[form]})
				require.NoError(t, err, form)
				assert.Equal(t, want, c.KeyType, form)
				if want == KeyEd25519 {
					assert.Len(t, c.Secret, ed25519.PrivateKeySize, "stored as seed || public key")
				} else {
					_, err := x509.ParsePKCS8PrivateKey(c.Secret)
					assert.NoError(t, err, "stored as PKCS#8 DER")
				}
			}
			c, err := s.Check(Key{APIKey: "k", Secret: []byte("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j")})
			require.NoError(t, err)
			assert.Equal(t, KeyHMAC, c.KeyType)
			assert.Nil(t, c.Secret)

			bad := map[string]string{
				"rsa-pkcs1":  "openssl pkcs8 -topk8 -nocrypt",
				"rsa-1024":   "at least 2048",
				"ec-pkcs8":   "ecdsa-p256 key",
				"ec-sec1":    "PKCS#8",
				"public":     "not a private key",
				"encrypted":  "encrypted",
				"bad-pkcs8":  "does not parse",
				"truncated":  "not valid PEM",
				"two-blocks": "more than one PEM block",
			}
			for form, want := range bad {
				_, err := s.Check(Key{APIKey: "k", Secret: pems[form]})
				var re *RequestError
				require.True(t, errors.As(err, &re), "%s: %v", form, err)
				assert.Contains(t, re.Msg, want, form)
				assert.True(t, strings.HasPrefix(re.Msg, name+": "), re.Msg)
				body := strings.Join(strings.Split(string(pems[form]), "\n")[1:2], "")
				if len(body) > 8 {
					assert.NotContains(t, re.Msg, body[:8], "message quotes the key")
				}
			}
			for _, secret := range []string{"short", "has space inside the secret", strings.Repeat("x", 513), "tab\tinside-secret"} {
				_, err := s.Check(Key{APIKey: "k", Secret: []byte(secret)})
				var re *RequestError
				require.True(t, errors.As(err, &re), secret)
				assert.NotContains(t, re.Msg, secret)
			}
		})
	}
}

// The secret never appears in a reply or an error, for every key type.
func TestBinanceNoSecretInOutput(t *testing.T) {
	v := loadBinanceVectors(t)
	secret := []byte("SECRETSECRETSECRET")
	for _, body := range []string{"a=SECRETSECRETSECRET", "a=b c", "a=\x01"} {
		out, err := binance{}.Sign(binanceInput(Request{Method: "POST", URL: "https://api.binance.com/api/v3/order", Body: body}, secret, time.UnixMilli(1)))
		if err != nil {
			assert.NotContains(t, err.Error(), "SECRETSECRETSECRET")
			continue
		}
		for k, v := range out.Headers {
			assert.NotContains(t, k+v, string(secret))
		}
		assert.NotContains(t, out.URL, string(secret))
	}
	for _, kt := range []string{"rsa", "ed25519"} {
		cred := binanceCredFrom(t, v.Keys[kt])
		for _, body := range []string{"a=1", "a=+"} {
			out, err := binance{}.Sign(cred.input(Request{Method: "POST", URL: "https://api.binance.com/api/v3/order", Body: body}, time.UnixMilli(1)))
			text := fmt.Sprint(out, err)
			assert.NotContains(t, text, base64.StdEncoding.EncodeToString(cred.secret)[:16])
			assert.NotContains(t, text, hex.EncodeToString(cred.secret)[:16])
			assert.NotContains(t, text, strings.Split(string(cred.raw), "\n")[1][:16])
		}
	}
}

// binanceCCXTStrip turns ccxt's signed request into the bot's unsigned
// one: drop the signature parameter (always last) and the key header, keep
// everything else, timestamp included (the agent overwrites it with the
// same frozen time).
func binanceCCXTStrip(t testing.TB, r ccxtResult) Request {
	t.Helper()
	out := Request{Method: r.Method, URL: r.URL, Body: r.Body, Headers: map[string]string{}}
	cut := func(s string) string {
		i := strings.LastIndex(s, "&signature=")
		require.GreaterOrEqual(t, i, 0, "no signature in %q", s)
		return s[:i]
	}
	if r.Body != "" {
		out.Body = cut(r.Body)
	} else {
		out.URL = cut(r.URL)
	}
	for k, v := range r.Headers {
		if !strings.EqualFold(k, "X-MBX-APIKEY") {
			out.Headers[k] = v
		}
	}
	return out
}

// binanceRandParams generates ccxt params (a JSON object text, key order
// kept) with spaces, unicode, empty values, arrays and nested JSON.
func binanceRandParams(r *mrand.Rand, n int) string {
	values := []any{"BTCUSDT", "a b", "１２３", "€uro", "", "x&y=z", "0.00100000", 7, 1.5, true,
		"é/?#[]@!$'()*,;", "-_.~", []any{"a", "b"}, []any{1, 2, 3}, "quote\"d", "tab\there", "emoji 😀"}
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		v, _ := json.Marshal(values[r.IntN(len(values))])
		fmt.Fprintf(&b, "%q:%s", fmt.Sprintf("p%d%s", i, []string{"", "Name", "_x"}[r.IntN(3)]), v)
	}
	b.WriteString("}")
	return b.String()
}

// TestBinanceCCXT is the differential test against ccxt 4.5.84's sign():
// ≥ 50 generated requests per key type over Spot, margin (sapi), USDⓈ-M and
// COIN-M futures, GET/POST/PUT/DELETE, urlencode, rawencode (batchOrders,
// sub-account, withdraw) and array-repeat (asset/dust) encodings, each
// compared whole (method, URL, body, every header).
func TestBinanceCCXT(t *testing.T) {
	v := loadBinanceVectors(t)
	r := mrand.New(mrand.NewPCG(3, 3))
	type ep struct{ api, path, method string }
	endpoints := []ep{
		{"private", "order", "GET"}, {"private", "order", "POST"}, {"private", "order", "DELETE"},
		{"private", "account", "GET"}, {"private", "openOrders", "DELETE"}, {"private", "order/cancelReplace", "POST"},
		{"sapi", "margin/order", "POST"}, {"sapi", "capital/config/getall", "GET"}, {"sapi", "asset/dust", "POST"},
		{"sapi", "sub-account/list", "GET"}, {"sapi", "capital/withdraw/apply", "POST"},
		{"fapiPrivate", "order", "POST"}, {"fapiPrivate", "order", "PUT"}, {"fapiPrivate", "order", "DELETE"},
		{"fapiPrivate", "batchOrders", "POST"}, {"fapiPrivate", "batchOrders", "PUT"},
		{"fapiPrivateV2", "account", "GET"}, {"dapiPrivate", "order", "POST"}, {"dapiPrivate", "batchOrders", "POST"},
		{"dapiPrivate", "positionRisk", "GET"},
	}
	type gen struct {
		c    ccxtCase
		cred binanceCred
	}
	var gens []gen
	for _, kt := range []string{"hmac", "rsa", "ed25519"} {
		k := v.Keys[kt]
		cred := binanceCredFrom(t, k)
		for i := 0; i < 60; i++ {
			e := endpoints[i%len(endpoints)]
			params := binanceRandParams(r, 1+r.IntN(5))
			switch e.path {
			case "batchOrders":
				if e.method != "DELETE" {
					params = `{"batchOrders":[{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","quantity":"0.001","price":"10000","timeInForce":"GTC"},{"symbol":"ETHUSDT","side":"SELL","type":"MARKET","quantity":"1"}]}`
				}
			case "capital/withdraw/apply":
				params = `{"coin":"USDT","address":"TXyz","amount":"10.5","name":"my wallet"}`
			case "sub-account/list":
				params = `{"email":"a@b.example","isFreeze":"false"}`
			case "asset/dust":
				params = `{"asset":["BTC","ETH","BNB"]}`
			}
			c := ccxtCase{
				Exchange:    "binance",
				Credentials: map[string]string{"apiKey": k.APIKey, "secret": k.Secret},
				NowMS:       1700000000000 + int64(i),
				UUID:        "keywardTestUuid22chars",
				Path:        e.path, API: e.api, Method: e.method,
				Params: json.RawMessage(params),
			}
			if i%7 == 3 {
				c.Options = map[string]any{"recvWindow": 10000}
			}
			gens = append(gens, gen{c, cred})
		}
	}
	cases := make([]ccxtCase, len(gens))
	for i, g := range gens {
		cases[i] = g.c
	}
	res := ccxtSign(t, cases)
	per := map[string]int{}
	for i, g := range gens {
		rr := res[i]
		name := fmt.Sprintf("%d_%s_%s_%s_%s", i, g.cred.keyType, g.c.API, g.c.Method, g.c.Path)
		t.Run(name, func(t *testing.T) {
			require.Empty(t, rr.Error)
			bot := binanceCCXTStrip(t, ccxtResult{URL: rr.URL, Method: rr.Method, Body: rr.Body, Headers: rr.Headers})
			out, err := binance{}.Sign(g.cred.input(bot, time.UnixMilli(g.c.NowMS)))
			require.NoError(t, err, "ccxt sent %s %s body %q", rr.Method, rr.URL, rr.Body)
			assert.Equal(t, rr.Method, out.Method)
			assert.Equal(t, rr.URL, out.URL)
			assert.Equal(t, rr.Body, out.Body)
			assert.Equal(t, rr.Headers, out.Headers)
			verifyBinanceKey(t, g.cred, out)
			per[g.cred.keyType]++
		})
	}
	for _, kt := range []string{KeyHMAC, KeyRSA, KeyEd25519} {
		assert.GreaterOrEqual(t, per[kt], 50, kt)
	}
}

// TestBinanceCCXTDifferences pins where ccxt and Binance's docs disagree:
// ccxt's rawencode sends raw non-ASCII bytes and raw '+' for some
// endpoints; Binance requires non-ASCII percent-encoded and decodes '+' as a
// space, so the agent refuses what ccxt would send.
func TestBinanceCCXTDifferences(t *testing.T) {
	v := loadBinanceVectors(t)
	k := v.Keys["hmac"]
	res := ccxtSign(t, []ccxtCase{{
		Exchange: "binance", Credentials: map[string]string{"apiKey": k.APIKey, "secret": k.Secret},
		NowMS: 1700000000000, Path: "sub-account/virtualSubAccount", API: "sapi", Method: "POST",
		Params: json.RawMessage(`{"subAccountString":"名字"}`),
	}, {
		Exchange: "binance", Credentials: map[string]string{"apiKey": k.APIKey, "secret": k.Secret},
		NowMS: 1700000000000, Path: "capital/withdraw/apply", API: "sapi", Method: "POST",
		Params: json.RawMessage(`{"coin":"USDT","name":"a+b"}`),
	}})
	cred := binanceCredFrom(t, k)
	for i, want := range []string{"non-ASCII", "raw '+'"} {
		require.Empty(t, res[i].Error)
		bot := binanceCCXTStrip(t, res[i])
		_, err := binance{}.Sign(cred.input(bot, time.UnixMilli(1700000000000)))
		var re *RequestError
		require.True(t, errors.As(err, &re), "ccxt sent %q", res[i].Body)
		assert.Contains(t, re.Msg, want)
	}
}

func FuzzBinanceSign(f *testing.F) {
	f.Add("symbol=LTCBTC&side=BUY", "quantity=1&price=0.1")
	f.Add("", "")
	f.Add("recvWindow=5000", "")
	f.Add("a=%E2%82%AC", "b=%zz")
	f.Add("timestamp=1&a=1", "")
	f.Add("", `timestamp=1&batchOrders=[{"a":"b c"}]`)
	f.Add("a=1", "timestamp=&b=2")
	f.Add("timestamp=", "")
	secret := []byte("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j")
	f.Fuzz(func(t *testing.T, query, body string) {
		url := "https://api.binance.com/api/v3/order"
		if query != "" {
			url += "?" + query
		}
		in := binanceInput(Request{Method: "POST", URL: url, Body: body}, secret, time.UnixMilli(1499827319559))
		out, err := binance{}.Sign(in)
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "non-RequestError %v", err)
			return
		}
		q, b := verifyBinance(t, secret, out)
		require.True(t, allZero(in.Scratch))
		if !strings.Contains(strings.ToLower(query+body), "timestamp") && !strings.Contains(query+body, "%") {
			// The bot's bytes are sent as given, the agent's parameters after them.
			require.True(t, strings.HasPrefix(q, query), "query re-written: %q -> %q", query, q)
			require.True(t, strings.HasPrefix(b, body), "body re-written: %q -> %q", body, b)
		}
		require.Contains(t, q+b, "timestamp=1499827319559")
	})
}

func BenchmarkBinanceSign(b *testing.B) {
	secret := []byte("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j")
	in := binanceInput(Request{
		Method:  "POST",
		URL:     "https://api.binance.com/api/v3/order?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
		Headers: map[string]string{"User-Agent": "bot/1"},
		Body:    "quantity=1&price=0.1&recvWindow=5000",
	}, secret, time.UnixMilli(1499827319559))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (binance{}).Sign(in); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkBinanceKey(b *testing.B, kt string) {
	v := loadBinanceVectors(b)
	cred := binanceCredFrom(b, v.Keys[kt])
	in := cred.input(Request{
		Method:  "POST",
		URL:     "https://api.binance.com/api/v3/order?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
		Headers: map[string]string{"User-Agent": "bot/1"},
		Body:    "quantity=1&price=0.1&recvWindow=5000",
	}, time.UnixMilli(1499827319559))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (binance{}).Sign(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBinanceSignRSA(b *testing.B)     { benchmarkBinanceKey(b, "rsa") }
func BenchmarkBinanceSignEd25519(b *testing.B) { benchmarkBinanceKey(b, "ed25519") }

// TestEd25519SeedFromOlderVaultsStillSigns: vaults written before the
// 64-byte form hold the 32-byte seed; both sign identically.
func TestEd25519SeedFromOlderVaultsStillSigns(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	msg := []byte("symbol=BTCUSDT&timestamp=1")
	full, err := signEd25519(priv, msg)
	require.NoError(t, err)
	seedOnly, err := signEd25519(priv.Seed(), msg)
	require.NoError(t, err)
	assert.Equal(t, full, seedOnly)
	assert.True(t, ed25519.Verify(priv.Public().(ed25519.PublicKey), msg, full))
	_, err = signEd25519(priv[:40], msg)
	assert.ErrorContains(t, err, "40 bytes")
}
