package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Binance's documented example key pair and signatures
// (Spot API, "SIGNED endpoint examples for POST /api/v3/order"). They are
// Binance's public examples, not keys to any account.
const (
	docAPIKey = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
	docSecret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
	docNow    = 1499827319559
	docQuery  = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
	docSig    = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
	docMixedQ = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
	docMixedB = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
	docMixSig = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
)

func testVenue(t *testing.T) *venue {
	v := newVenue(docAPIKey, []byte(docSecret), slog.New(slog.NewTextHandler(io.Discard, nil)))
	v.now = func() time.Time { return time.UnixMilli(docNow + 100) }
	v.symbols["LTCBTC"] = symbolInfo{"LTC", "BTC", "0.00100000"}
	return v
}

type exchange struct {
	method, target, body, key string
}

func (e exchange) do(t *testing.T, v *venue) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if e.body != "" {
		body = strings.NewReader(e.body)
	}
	req := httptest.NewRequest(e.method, "https://127.0.0.1"+e.target, body)
	if e.body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if e.key != "" {
		req.Header.Set("X-MBX-APIKEY", e.key)
	}
	rec := httptest.NewRecorder()
	v.routes().ServeHTTP(rec, req)
	var out map[string]any
	if strings.HasPrefix(rec.Body.String(), "{") {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	}
	return rec.Code, out
}

// TestBinanceDocExamples proves the verifier against Binance's own worked
// examples: all parameters in the query, all in the body, and split
// between them (the signature covers query then body, no separator).
func TestBinanceDocExamples(t *testing.T) {
	for _, tc := range []exchange{
		{"POST", "/api/v3/order?" + docQuery + "&signature=" + docSig, "", docAPIKey},
		{"POST", "/api/v3/order", docQuery + "&signature=" + docSig, docAPIKey},
		{"POST", "/api/v3/order?" + docMixedQ, docMixedB + "&signature=" + docMixSig, docAPIKey},
	} {
		code, out := tc.do(t, testVenue(t))
		assert.Equal(t, 200, code, "%+v: %v", tc, out)
		assert.Equal(t, "NEW", out["status"])
		assert.Equal(t, "LTCBTC", out["symbol"])
	}
}

func TestRefusals(t *testing.T) {
	tampered := strings.Replace(docQuery, "price=0.1", "price=0.2", 1)
	for _, tc := range []struct {
		name   string
		ex     exchange
		status int
		code   float64
	}{
		{"tampered parameter", exchange{"POST", "/api/v3/order?" + tampered + "&signature=" + docSig, "", docAPIKey}, 401, -1022},
		{"signature of another split", exchange{"POST", "/api/v3/order?" + docMixedQ, docMixedB + "&signature=" + docSig, docAPIKey}, 401, -1022},
		{"no signature", exchange{"POST", "/api/v3/order?" + docQuery, "", docAPIKey}, 400, -1102},
		{"no API key", exchange{"POST", "/api/v3/order?" + docQuery + "&signature=" + docSig, "", ""}, 401, -2014},
		{"another API key", exchange{"POST", "/api/v3/order?" + docQuery + "&signature=" + docSig, "", "someone-else"}, 401, -2015},
	} {
		code, out := tc.ex.do(t, testVenue(t))
		assert.Equal(t, tc.status, code, tc.name)
		assert.Equal(t, tc.code, out["code"], tc.name)
		assert.NotContains(t, out["msg"], docSecret)
	}

	v := testVenue(t)
	v.now = func() time.Time { return time.UnixMilli(docNow + 6000) }
	code, out := exchange{"POST", "/api/v3/order?" + docQuery + "&signature=" + docSig, "", docAPIKey}.do(t, v)
	assert.Equal(t, 400, code)
	assert.Equal(t, float64(-1021), out["code"], "a timestamp older than recvWindow is refused")

	code, out = exchange{"GET", "/api/v3/exchangeInfo", "", ""}.do(t, v)
	assert.Equal(t, 200, code, "public endpoints need no key")
	assert.NotEmpty(t, out["symbols"])
}

// TestOrderLifecycle places, lists and cancels an order with signatures
// made by crypto/hmac here, and checks the request log.
func TestOrderLifecycle(t *testing.T) {
	v := testVenue(t)
	code, placed := exchange{"POST", "/api/v3/order?" + docQuery + "&signature=" + docSig, "", docAPIKey}.do(t, v)
	require.Equal(t, 200, code, placed)
	id := int64(placed["orderId"].(float64))
	assert.Equal(t, int64(1001), id)

	q := "symbol=LTCBTC&timestamp=1499827319559"
	code, _ = exchange{"GET", "/api/v3/openOrders?" + q + "&signature=" + sign(docSecret, q), "", docAPIKey}.do(t, v)
	assert.Equal(t, 200, code)
	v.mu.Lock()
	assert.Len(t, v.orders, 1)
	v.mu.Unlock()

	q = "symbol=LTCBTC&orderId=1001&timestamp=1499827319559"
	code, cancelled := exchange{"DELETE", "/api/v3/order?" + q + "&signature=" + sign(docSecret, q), "", docAPIKey}.do(t, v)
	assert.Equal(t, 200, code, cancelled)
	assert.Equal(t, "CANCELED", cancelled["status"])
	code, again := exchange{"DELETE", "/api/v3/order?" + q + "&signature=" + sign(docSecret, q), "", docAPIKey}.do(t, v)
	assert.Equal(t, 400, code)
	assert.Equal(t, float64(-2011), again["code"])

	q = "timestamp=1499827319559"
	code, acct := exchange{"GET", "/api/v3/account?" + q + "&signature=" + sign(docSecret, q), "", docAPIKey}.do(t, v)
	assert.Equal(t, 200, code)
	assert.NotEmpty(t, acct["balances"])

	v.mu.Lock()
	defer v.mu.Unlock()
	require.Len(t, v.seen, 5)
	for _, s := range v.seen {
		assert.True(t, s.Verified, "%+v", s)
	}
}

func TestSelfSignedCertificate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "venue.pem")
	_, err := selfSigned(path)
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "PRIVATE KEY", "only the certificate is written")
	block, _ := pem.Decode(b)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	for _, host := range []string{"127.0.0.1", "localhost"} {
		_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: host})
		assert.NoError(t, err, host)
	}
}

// sign is the test's own HMAC-SHA256, hex.
func sign(secret, payload string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(payload))
	return hex.EncodeToString(mac.Sum(nil))
}
