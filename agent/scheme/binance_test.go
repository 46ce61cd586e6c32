package scheme

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type binanceVectors struct {
	Source    string `json:"source"`
	APIKey    string `json:"api_key"`
	SecretKey string `json:"secret_key"`
	NowMS     int64  `json:"now_ms"`
	Cases     []struct {
		Name        string `json:"name"`
		Method      string `json:"method"`
		URL         string `json:"url"`
		Body        string `json:"body"`
		TotalParams string `json:"total_params"`
		Signature   string `json:"signature"`
		WantURL     string `json:"want_url"`
		WantBody    string `json:"want_body"`
	} `json:"cases"`
}

func loadBinanceVectors(t testing.TB) binanceVectors {
	raw, err := os.ReadFile("testdata/binance.json")
	require.NoError(t, err)
	var v binanceVectors
	require.NoError(t, json.Unmarshal(raw, &v))
	require.Len(t, v.Cases, 3)
	return v
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

// TestBinanceDocumentedExamples signs Binance's own examples and expects the
// docs' signatures and curl requests byte for byte.
func TestBinanceDocumentedExamples(t *testing.T) {
	v := loadBinanceVectors(t)
	s, ok := Lookup("binance")
	require.True(t, ok)
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			// The vector is self-consistent: the docs' signature is the HMAC of the docs' totalParams.
			m := hmac.New(sha256.New, []byte(v.SecretKey))
			m.Write([]byte(c.TotalParams))
			require.Equal(t, c.Signature, hex.EncodeToString(m.Sum(nil)))

			in := binanceInput(Request{Method: c.Method, URL: c.URL, Body: c.Body}, []byte(v.SecretKey), time.UnixMilli(v.NowMS))
			in.APIKey = v.APIKey
			out, err := s.Sign(in)
			require.NoError(t, err)
			assert.Equal(t, c.Method, out.Method)
			assert.Equal(t, c.WantURL, out.URL)
			assert.Equal(t, c.WantBody, out.Body)
			assert.Equal(t, v.APIKey, out.Headers["X-MBX-APIKEY"])
			if c.Body != "" {
				assert.Equal(t, "application/x-www-form-urlencoded", out.Headers["Content-Type"])
			}
			assert.True(t, allZero(in.Scratch), "scratch wiped")
		})
	}
}

// verifyBinance recomputes the signature of a signed request with
// crypto/hmac, independently of the code under test, and returns the
// signed query and body without the signature.
func verifyBinance(t testing.TB, secret []byte, out Request) (query, body string) {
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
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(query + body))
	require.Equal(t, hex.EncodeToString(m.Sum(nil)), sig)
	return query, body
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
		{"futures host", "GET", "https://fapi.binance.com/fapi/v1/order", "", nil, "not one of the credential's hosts"},
		{"user info", "GET", "https://u@api.binance.com/api/v3/order", "", nil, "user info"},
		{"fragment", "GET", order + "?a=b#x", "", nil, "fragment"},
		{"no path", "GET", "https://api.binance.com", "", nil, "no path"},
		{"space in URL", "GET", order + "?a=b c", "", nil, "a space"},
		{"method", "PATCH", order, "", nil, "method"},
		{"GET body", "GET", order, "a=b", nil, "GET"},
		{"json body", "POST", order, `{"a":1}`, map[string]string{"Content-Type": "application/json"}, "form-encoded"},
		{"timestamp in query", "GET", order + "?timestamp=1", "", nil, "agent sets timestamp"},
		{"timestamp in body", "POST", order, "a=1&timestamp=1", nil, "agent sets timestamp"},
		{"encoded timestamp name", "GET", order + "?%74imestamp=1", "", nil, "agent sets timestamp"},
		{"signature", "POST", order, "signature=abc", nil, "agent sets timestamp and signature"},
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
		{"comma", "GET", order + "?symbols=%5B%22A%22,%22B%22%5D", "", nil, "',' is %2C"},
		{"second =", "POST", order, "a=b=c", nil, "%3D"},
		{"raw non-ASCII in body", "POST", order, "symbol=１２３", nil, "%EF%BC%91"},
		{"raw space in body", "POST", order, "a=b c", nil, "%20"},
		{"bad escape", "POST", order, "a=%zz", nil, "two hex digits"},
		{"short escape", "POST", order, "a=%4", nil, "two hex digits"},
		{"json array", "POST", order, `orders=[{"a":1}]`, nil, "percent-encoded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := binanceInput(Request{Method: c.method, URL: c.url, Body: c.body, Headers: c.headers}, []byte("k"), time.UnixMilli(1))
			_, err := binance{}.Sign(in)
			var re *RequestError
			require.True(t, errors.As(err, &re), "want a RequestError, got %v", err)
			assert.Contains(t, re.Msg, c.want)
			assert.True(t, strings.HasPrefix(re.Msg, "binance: "), re.Msg)
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
}

// The secret never appears in a reply or an error.
func TestBinanceNoSecretInOutput(t *testing.T) {
	secret := []byte("SECRETSECRETSECRET")
	for _, body := range []string{"a=SECRETSECRETSECRET", "a=b c"} {
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
}

func FuzzBinanceSign(f *testing.F) {
	f.Add("symbol=LTCBTC&side=BUY", "quantity=1&price=0.1")
	f.Add("", "")
	f.Add("recvWindow=5000", "")
	f.Add("a=%E2%82%AC", "b=%zz")
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
		// The bot's bytes are sent as given, the agent's parameters after them.
		require.True(t, strings.HasPrefix(q, query), "query re-written: %q -> %q", query, q)
		require.True(t, strings.HasPrefix(b, body), "body re-written: %q -> %q", body, b)
		require.True(t, allZero(in.Scratch))
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
