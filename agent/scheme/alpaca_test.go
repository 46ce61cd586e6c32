package scheme

import (
	"errors"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Helpers shared by the alpaca, oanda and bearer (forward-only) tests are
// named fwd*.

const fwdSecret = "fake-secret-for-tests-only-000000000000"

func fwdInput(req Request, apiKey, secret string, meta map[string]string) Input {
	return Input{
		Request: req,
		APIKey:  apiKey,
		KeyType: KeyToken,
		Secret:  []byte(secret),
		Scratch: make([]byte, ScratchSize),
		Meta:    meta,
		Now:     time.UnixMilli(1_700_000_000_000),
	}
}

// fwdNoSecret fails if the error or any part of the request but want's
// header carries the secret.
func fwdNoSecret(t *testing.T, out Request, err error, secret, header string) {
	t.Helper()
	if err != nil {
		assert.NotContains(t, err.Error(), secret)
		return
	}
	assert.NotContains(t, out.URL, secret)
	for k, v := range out.Headers {
		if k != header {
			assert.NotContains(t, k+v, secret, k)
		}
	}
}

const (
	alpacaPaperKey = "PKFAKEFORTESTS000000"
	alpacaLiveKey  = "AKFAKEFORTESTS000000"
)

// TestAlpacaSign follows https://docs.alpaca.markets/docs/authentication:
// APCA-API-KEY-ID and APCA-API-SECRET-KEY on every request; the URL, body
// and the bot's other headers go as given.
func TestAlpacaSign(t *testing.T) {
	cases := []struct {
		name string
		req  Request
	}{
		{"documented account", Request{Method: "GET", URL: "https://paper-api.alpaca.markets/v2/account"}},
		{"order", Request{Method: "POST", URL: "https://paper-api.alpaca.markets/v2/orders", Headers: map[string]string{"Content-Type": "application/json"},
			Body: `{"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day"}`}},
		{"cancel", Request{Method: "DELETE", URL: "https://paper-api.alpaca.markets/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d"}},
		{"replace", Request{Method: "PATCH", URL: "https://paper-api.alpaca.markets/v2/orders/x", Body: `{"qty":"2"}`}},
		{"market data", Request{Method: "GET", URL: "https://data.alpaca.markets/v2/stocks/AAPL/bars?timeframe=1Day&limit=2", Headers: map[string]string{"Accept": "application/json"}}},
		{"exact-case own header overwritten", Request{Method: "GET", URL: "https://paper-api.alpaca.markets/v2/clock", Headers: map[string]string{"APCA-API-KEY-ID": "spoof", "APCA-API-SECRET-KEY": "guess"}}},
		{"port", Request{Method: "GET", URL: "https://paper-api.alpaca.markets:443/v2/account"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := fwdInput(c.req, alpacaPaperKey, fwdSecret, nil)
			before := maps.Clone(c.req.Headers)
			out, err := alpaca{}.Sign(in)
			require.NoError(t, err)
			assert.Equal(t, c.req.Method, out.Method)
			assert.Equal(t, c.req.URL, out.URL)
			assert.Equal(t, c.req.Body, out.Body)
			want := maps.Clone(c.req.Headers)
			if want == nil {
				want = map[string]string{}
			}
			want["APCA-API-KEY-ID"] = alpacaPaperKey
			want["APCA-API-SECRET-KEY"] = fwdSecret
			assert.Equal(t, want, out.Headers)
			assert.Equal(t, before, c.req.Headers, "the bot's headers are not changed")
			fwdNoSecret(t, out, nil, fwdSecret, "APCA-API-SECRET-KEY")
		})
	}
}

// TestAlpacaPinned: a paper key goes to the paper and data hosts only, a
// live key to the live and data hosts, by metadata or by key id prefix.
func TestAlpacaPinned(t *testing.T) {
	paperURL, liveURL, dataURL := "https://paper-api.alpaca.markets/v2/account", "https://api.alpaca.markets/v2/account", "https://data.alpaca.markets/v2/stocks/AAPL/trades/latest"
	cases := []struct {
		name   string
		apiKey string
		meta   map[string]string
		ok     []string
		refuse map[string]string
	}{
		{"PK prefix", alpacaPaperKey, nil, []string{paperURL, dataURL}, map[string]string{liveURL: "paper trading key"}},
		{"AK prefix", alpacaLiveKey, nil, []string{liveURL, dataURL}, map[string]string{paperURL: "live trading key"}},
		{"paper=true overrides AK", alpacaLiveKey, map[string]string{"paper": "true"}, []string{paperURL, dataURL}, map[string]string{liveURL: "paper trading key"}},
		{"paper=false overrides PK", alpacaPaperKey, map[string]string{"paper": "false"}, []string{liveURL, dataURL}, map[string]string{paperURL: "--meta paper=true"}},
		{"unknown prefix: both", "CKFAKEFORTESTS000000", nil, []string{paperURL, liveURL, dataURL}, nil},
		{"a --host grant passes", alpacaPaperKey, map[string]string{"hosts": "alpaca-proxy.example"}, []string{"https://alpaca-proxy.example/v2/account"}, map[string]string{liveURL: "paper"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, u := range c.ok {
				_, err := alpaca{}.Sign(fwdInput(Request{Method: "GET", URL: u}, c.apiKey, fwdSecret, c.meta))
				assert.NoError(t, err, u)
			}
			for u, want := range c.refuse {
				_, err := alpaca{}.Sign(fwdInput(Request{Method: "GET", URL: u}, c.apiKey, fwdSecret, c.meta))
				requireRefusal(t, err, "alpaca", want)
			}
		})
	}
	// A bad paper value is the credential's fault: a plain error.
	_, err := alpaca{}.Sign(fwdInput(Request{Method: "GET", URL: paperURL}, alpacaPaperKey, fwdSecret, map[string]string{"paper": "yes"}))
	require.Error(t, err)
	assert.False(t, errors.As(err, new(*RequestError)))
}

func TestAlpacaRefusals(t *testing.T) {
	acct := "https://paper-api.alpaca.markets/v2/account"
	cases := []struct {
		name    string
		method  string
		url     string
		headers map[string]string
		want    string
	}{
		{"http", "GET", "http://paper-api.alpaca.markets/v2/account", nil, "https"},
		{"foreign host", "GET", "https://alpaca.evil.example/v2/account", nil, "not one of the credential's hosts"},
		{"lookalike host", "GET", "https://paper-api.alpaca.markets.evil.example/v2/account", nil, "not one of the credential's hosts"},
		{"broker api", "GET", "https://broker-api.alpaca.markets/v1/accounts", nil, "not one of the credential's hosts"},
		{"user info", "GET", "https://u:p@paper-api.alpaca.markets/v2/account", nil, "user info"},
		{"fragment", "GET", acct + "#x", nil, "fragment"},
		{"raw space", "GET", acct + "?a=b c", nil, "a space"},
		{"no path", "GET", "https://paper-api.alpaca.markets", nil, "no path"},
		{"websocket", MethodWS, "wss://paper-api.alpaca.markets/stream", nil, "HTTP requests only"},
		{"method", "TRACE", acct, nil, "method"},
		{"lower-case method", "get", acct, nil, "method"},
		{"key header twin", "GET", acct, map[string]string{"apca-api-key-id": "spoof"}, `"apca-api-key-id", which differs from "APCA-API-KEY-ID" only in case`},
		{"secret header twin", "GET", acct, map[string]string{"Apca-Api-Secret-Key": "guess"}, `differs from "APCA-API-SECRET-KEY" only in case`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := alpaca{}.Sign(fwdInput(Request{Method: c.method, URL: c.url, Headers: c.headers}, alpacaPaperKey, fwdSecret, nil))
			requireRefusal(t, err, "alpaca", c.want)
			fwdNoSecret(t, out, err, fwdSecret, "")
		})
	}
}

// Faults of the agent are plain errors, never RequestErrors.
func TestAlpacaAgentFaults(t *testing.T) {
	req := Request{Method: "GET", URL: "https://paper-api.alpaca.markets/v2/account"}
	for name, mod := range map[string]func(*Input){
		"no secret":         func(in *Input) { in.Secret = nil },
		"newline in secret": func(in *Input) { in.Secret = []byte("abc\r\nX-Evil: 1") },
		"space in secret":   func(in *Input) { in.Secret = []byte("abc def") },
		"no API key":        func(in *Input) { in.APIKey = "" },
		"bad API key":       func(in *Input) { in.APIKey = "PK\nX" },
	} {
		in := fwdInput(req, alpacaPaperKey, fwdSecret, nil)
		mod(&in)
		_, err := alpaca{}.Sign(in)
		require.Error(t, err, name)
		assert.False(t, errors.As(err, new(*RequestError)), name)
		assert.NotContains(t, err.Error(), "abc", name)
	}
}

func TestAlpacaCheck(t *testing.T) {
	c, err := alpaca{}.Check(Key{APIKey: alpacaPaperKey, Secret: []byte(fwdSecret)})
	require.NoError(t, err)
	assert.Equal(t, Checked{KeyType: KeyToken}, c)
	_, err = alpaca{}.Check(Key{APIKey: "CKFAKEFORTESTS0000000000000000", Secret: []byte(fwdSecret), Meta: map[string]string{"paper": "false"}})
	require.NoError(t, err, "an unknown prefix and a longer id still pass")

	for name, k := range map[string]struct {
		key  Key
		want string
	}{
		"short key id":       {Key{APIKey: "PK123", Secret: []byte(fwdSecret)}, "5 characters"},
		"lower-case key id":  {Key{APIKey: "pkfakefortests000000", Secret: []byte(fwdSecret)}, "upper-case letters and digits"},
		"key id with dash":   {Key{APIKey: "PKFAKE-FORTESTS00000", Secret: []byte(fwdSecret)}, "'-'"},
		"secret as key id":   {Key{APIKey: "fake-secret-for-tests-only-00000000", Secret: []byte(fwdSecret)}, "API Key ID"},
		"key id as secret":   {Key{APIKey: alpacaPaperKey, Secret: []byte(alpacaPaperKey)}, "the secret is the key id"},
		"short secret":       {Key{APIKey: alpacaPaperKey, Secret: []byte("shortsecret")}, "20 to 128"},
		"secret with space":  {Key{APIKey: alpacaPaperKey, Secret: []byte("fake secret for tests only 0000")}, "space"},
		"secret with CRLF":   {Key{APIKey: alpacaPaperKey, Secret: []byte("fake-secret-for-tests\r\n")}, "byte 21"},
		"PEM":                {Key{APIKey: alpacaPaperKey, Secret: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}, "PEM"},
		"bad paper metadata": {Key{APIKey: alpacaPaperKey, Secret: []byte(fwdSecret), Meta: map[string]string{"paper": "1"}}, "paper=true"},
	} {
		_, err := alpaca{}.Check(k.key)
		requireRefusal(t, err, "alpaca", k.want)
		if len(k.key.Secret) > 8 {
			assert.NotContains(t, err.Error(), string(k.key.Secret), name)
		}
	}
	info := alpaca{}.Info()
	assert.True(t, info.ForwardOnly)
	assert.Equal(t, []string{"secret key"}, info.ClearSecrets)
	assert.Equal(t, []string{KeyToken}, info.KeyTypes)
	assert.Contains(t, info.Meta, "paper")
}

func FuzzAlpacaSign(f *testing.F) {
	f.Add("GET", "paper-api.alpaca.markets", "/v2/account", "", "", "")
	f.Add("POST", "paper-api.alpaca.markets", "/v2/orders", "", `{"symbol":"AAPL","qty":"1"}`, "Content-Type")
	f.Add("GET", "data.alpaca.markets", "/v2/stocks/AAPL/bars", "timeframe=1Day", "", "apca-api-secret-key")
	f.Add("GET", "api.alpaca.markets", "/v2/account", "", "", "")
	f.Fuzz(func(t *testing.T, method, host, path, query, body, header string) {
		u := "https://" + host + path
		if query != "" {
			u += "?" + query
		}
		var headers map[string]string
		if header != "" {
			headers = map[string]string{header: "bot-value"}
		}
		in := fwdInput(Request{Method: method, URL: u, Body: body, Headers: headers}, alpacaPaperKey, fwdSecret, nil)
		out, err := alpaca{}.Sign(in)
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "non-RequestError %v", err)
			require.NotContains(t, re.Msg, fwdSecret)
			return
		}
		require.Equal(t, u, out.URL)
		require.Equal(t, body, out.Body)
		require.Equal(t, method, out.Method)
		require.Equal(t, fwdSecret, out.Headers["APCA-API-SECRET-KEY"])
		require.Equal(t, alpacaPaperKey, out.Headers["APCA-API-KEY-ID"])
		secrets := 0
		for k, v := range out.Headers {
			if strings.EqualFold(k, "APCA-API-SECRET-KEY") || strings.EqualFold(k, "APCA-API-KEY-ID") {
				secrets++
			}
			if k != "APCA-API-SECRET-KEY" {
				require.NotContains(t, v, fwdSecret)
			}
		}
		require.Equal(t, 2, secrets, "one of each credential header, whatever the bot's case")
		base, _, _ := strings.Cut(u, "?")
		pu, err := url.Parse(base)
		require.NoError(t, err)
		require.NotEqual(t, "api.alpaca.markets", strings.ToLower(pu.Hostname()), "a paper key never goes to the live host")
	})
}
