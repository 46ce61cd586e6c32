package fakeexchange

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/internal/fakeexchange/verify"
)

// Test credentials: obviously fake, never a real venue's.
const (
	binanceKey    = "fake-binance-key-for-tests-only"
	binanceSecret = "fake-secret-for-tests-only"
	alpacaKey     = "FAKEALPACAKEYFORTESTS"
	alpacaSecret  = "fake-alpaca-secret-for-tests-only"
)

func start(t *testing.T, cfg Config) *Exchange {
	t.Helper()
	x, err := Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, x.Close()) })
	return x
}

// client trusts the exchange's CA and dials every host to its address, as
// the agent's forwarder does in an end-to-end test. It never follows
// redirects, so a test sees them.
func client(t *testing.T, x *Exchange, h2 bool) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(x.CAPEM()))
	var d net.Dialer
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(h2)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, x.Addr())
		},
		Protocols: protocols,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type answer struct {
	status int
	header http.Header
	body   []byte
	proto  string
}

// json decodes the body into a generic value.
func (a answer) json(t *testing.T) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(a.body, &v), "body: %s", a.body)
	return v
}

func (a answer) object(t *testing.T) map[string]any {
	t.Helper()
	m, ok := a.json(t).(map[string]any)
	require.True(t, ok, "body is not an object: %s", a.body)
	return m
}

func do(t *testing.T, c *http.Client, method, rawURL string, header http.Header, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	require.NoError(t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header, b, resp.Proto}
}

// host is venue's first host; a venue package verify does not know fails
// the test (it would otherwise pass by skipping).
func host(t *testing.T, venue string) string {
	t.Helper()
	v, ok := verify.Lookup(venue)
	if !ok {
		t.Fatalf("verify has no venue %q", venue)
	}
	require.NotEmpty(t, v.Hosts)
	return v.Hosts[0]
}

// need fails the test if package verify does not know venue.
func need(t *testing.T, venue string) {
	t.Helper()
	if _, ok := verify.Lookup(venue); !ok {
		t.Fatalf("verify has no venue %q", venue)
	}
}

// binanceQuery signs params as Binance documents: HMAC-SHA256 of the query
// string, hex, appended as the signature parameter.
func binanceQuery(params url.Values, secret string, now time.Time) string {
	params.Set("timestamp", strconv.FormatInt(now.UnixMilli(), 10))
	q := params.Encode()
	mac := hmac.New(sha256.New, []byte(secret))
	io.WriteString(mac, q)
	return q + "&signature=" + hex.EncodeToString(mac.Sum(nil))
}

func binanceHeader() http.Header { return http.Header{"X-Mbx-Apikey": {binanceKey}} }

func alpacaHeader(key, secret string) http.Header {
	return http.Header{"Apca-Api-Key-Id": {key}, "Apca-Api-Secret-Key": {secret}}
}

func addBinance(x *Exchange, p Permissions) {
	x.AddAccount("binance", verify.Account{APIKey: binanceKey, Secret: []byte(binanceSecret)}, p)
}

func addAlpaca(x *Exchange, p Permissions) {
	x.AddAccount("alpaca", verify.Account{APIKey: alpacaKey, Secret: []byte(alpacaSecret)}, p)
}

func TestCertificateCoversVenueHostsOnly(t *testing.T) {
	x := start(t, Config{ExtraHosts: []string{"Bench.Internal.Test"}})
	pem, err := os.ReadFile(x.CAFile())
	require.NoError(t, err)
	assert.Equal(t, x.CAPEM(), pem)
	assert.Contains(t, x.Hosts(), "bench.internal.test")

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	handshake := func(serverName string) error {
		conn, err := tls.Dial("tcp", x.Addr(), &tls.Config{RootCAs: pool, ServerName: serverName})
		if err == nil {
			conn.Close()
		}
		return err
	}
	names := append(x.Hosts(), "localhost", "127.0.0.1")
	for _, v := range verify.Venues() {
		names = append(names, v.Hosts...)
	}
	for _, name := range names {
		assert.NoError(t, handshake(name), "host %s", name)
	}
	err = handshake("attacker.example")
	require.Error(t, err)
	var hostErr x509.HostnameError
	assert.ErrorAs(t, err, &hostErr)
	assert.NotContains(t, x.Hosts(), "attacker.example")

	// A client that does not trust the fake's CA refuses it.
	_, err = tls.Dial("tcp", x.Addr(), &tls.Config{ServerName: "api.binance.com"})
	var unknown x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &unknown)

	require.NoError(t, x.Close())
	_, err = os.Stat(x.CAFile())
	assert.True(t, errors.Is(err, os.ErrNotExist), "Close removes the CA file: %v", err)
}

func TestListensOnLoopbackOnly(t *testing.T) {
	x := start(t, Config{})
	host, _, err := net.SplitHostPort(x.Addr())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
}

func TestRoutesByHost(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	x := start(t, Config{Now: func() time.Time { return now }, ExtraHosts: []string{"bench.internal.test"}})
	c := client(t, x, false)

	tests := []struct {
		venue, host, path string // host "" is the venue's first
		check             func(t *testing.T, a answer)
	}{
		{"binance", "api.binance.com", "/api/v3/time", func(t *testing.T, a answer) {
			assert.Equal(t, float64(now.UnixMilli()), a.object(t)["serverTime"])
		}},
		{"binance", "fapi.binance.com", "/fapi/v1/time", func(t *testing.T, a answer) {
			assert.Equal(t, float64(now.UnixMilli()), a.object(t)["serverTime"])
		}},
		{"bybit", "", "/v5/market/time", func(t *testing.T, a answer) {
			m := a.object(t)
			assert.Equal(t, float64(0), m["retCode"])
			assert.Equal(t, strconv.FormatInt(now.Unix(), 10), m["result"].(map[string]any)["timeSecond"])
		}},
		{"okx", "", "/api/v5/public/time", func(t *testing.T, a answer) {
			assert.Equal(t, strconv.FormatInt(now.UnixMilli(), 10), a.object(t)["data"].([]any)[0].(map[string]any)["ts"])
		}},
		{"coinbase", "api.coinbase.com", "/api/v3/brokerage/time", func(t *testing.T, a answer) {
			assert.Equal(t, strconv.FormatInt(now.Unix(), 10), a.object(t)["epochSeconds"])
		}},
		{"coinbase", "api.exchange.coinbase.com", "/time", func(t *testing.T, a answer) {
			assert.InDelta(t, float64(now.Unix()), a.object(t)["epoch"], 0.001)
		}},
		{"kraken", "api.kraken.com", "/0/public/Time", func(t *testing.T, a answer) {
			m := a.object(t)
			assert.Equal(t, []any{}, m["error"])
			assert.Equal(t, float64(now.Unix()), m["result"].(map[string]any)["unixtime"])
			assert.Equal(t, "Sun, 01 Mar 26 12:00:00 +0000", m["result"].(map[string]any)["rfc1123"])
		}},
		{"kucoin", "", "/api/v1/timestamp", func(t *testing.T, a answer) {
			assert.Equal(t, float64(now.UnixMilli()), a.object(t)["data"])
		}},
		{"gate", "", "/api/v4/spot/time", func(t *testing.T, a answer) {
			assert.Equal(t, float64(now.UnixMilli()), a.object(t)["server_time"])
		}},
		{"bitget", "", "/api/v2/public/time", func(t *testing.T, a answer) {
			assert.Equal(t, strconv.FormatInt(now.UnixMilli(), 10), a.object(t)["data"].(map[string]any)["serverTime"])
		}},
		{"deribit", "", "/api/v2/public/get_time", func(t *testing.T, a answer) {
			assert.Equal(t, float64(now.UnixMilli()), a.object(t)["result"])
		}},
		// The same path on another venue's host is that venue's 404.
		{"bybit", "", "/api/v3/time", func(t *testing.T, a answer) {
			assert.Equal(t, http.StatusNotFound, a.status)
			assert.Equal(t, float64(10017), a.object(t)["retCode"])
		}},
		{"binance", "api.binance.com", "/v5/market/time", func(t *testing.T, a answer) {
			assert.Equal(t, http.StatusNotFound, a.status)
			assert.Contains(t, a.object(t), "code")
		}},
		// An extra host serves nothing until it is mapped.
		{"binance", "bench.internal.test", "/api/v3/time", func(t *testing.T, a answer) {
			assert.Equal(t, http.StatusMisdirectedRequest, a.status)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.venue+tc.host+tc.path, func(t *testing.T) {
			h := tc.host
			if h == "" {
				h = host(t, tc.venue)
			}
			need(t, tc.venue)
			a := do(t, c, "GET", "https://"+h+tc.path, nil, "")
			tc.check(t, a)
			assert.NotEmpty(t, a.header.Get("Date"))
		})
	}

	x.MapHost("bench.internal.test", "binance")
	a := do(t, c, "GET", "https://bench.internal.test/api/v3/time", nil, "")
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	assert.Equal(t, float64(now.UnixMilli()), a.object(t)["serverTime"])

	assert.Panics(t, func() { x.MapHost("x.test", "no-such-venue") })

	t.Run("hyperliquid info", func(t *testing.T) {
		a := do(t, c, "POST", "https://"+host(t, "hyperliquid")+"/info", http.Header{"Content-Type": {"application/json"}}, `{"type":"meta"}`)
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		assert.NotEmpty(t, a.object(t)["universe"])
	})
	assert.Empty(t, x.Requests(), "public endpoints are not recorded")
}

func TestRefusalsInTheVenuesShape(t *testing.T) {
	x := start(t, Config{})
	addBinance(x, Permissions{Read: true, Trade: true})
	addAlpaca(x, Permissions{Read: true, Trade: true})
	c := client(t, x, false)
	now := time.Now()
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	bad := strings.Repeat("0", 64)
	withJSON := func(h http.Header) http.Header { h.Set("Content-Type", "application/json"); return h }

	tests := []struct {
		name, venue string
		method, url string // url's host "VENUE" is the venue's first host
		header      http.Header
		body        string
		status      int
		want        any    // a subset of the JSON body, or the whole text body
		key, reason string // expected in Requests(), when not ""
	}{
		{"binance no key", "binance", "GET", "https://api.binance.com/api/v3/account?timestamp=1&signature=" + bad, nil, "",
			401, map[string]any{"code": float64(-2014), "msg": "API-key format invalid."}, "", "no API key"},
		{"binance unknown key", "binance", "GET", "https://api.binance.com/api/v3/account?timestamp=1&signature=" + bad,
			http.Header{"X-Mbx-Apikey": {"fake-unknown-key"}}, "",
			401, map[string]any{"code": float64(-2015), "msg": "Invalid API-key, IP, or permissions for action."}, "fake-unknown-key", "unknown API key"},
		{"binance bad signature", "binance", "GET", "https://api.binance.com/api/v3/account?timestamp=" + ms + "&signature=" + bad,
			binanceHeader(), "", 400, map[string]any{"code": float64(-1022), "msg": "Signature for this request is not valid."}, binanceKey, "verify: "},
		{"binance missing signature", "binance", "GET", "https://api.binance.com/api/v3/account?timestamp=" + ms,
			binanceHeader(), "", 400, map[string]any{"code": float64(-1022)}, binanceKey, "signature"},
		{"binance futures bad signature", "binance", "POST", "https://fapi.binance.com/fapi/v1/order",
			http.Header{"X-Mbx-Apikey": {binanceKey}, "Content-Type": {"application/x-www-form-urlencoded"}},
			"symbol=BTCUSDT&timestamp=" + ms + "&signature=" + bad, 400, map[string]any{"code": float64(-1022)}, binanceKey, "verify: "},
		{"alpaca unknown key", "alpaca", "POST", "https://api.alpaca.markets/v2/orders", withJSON(alpacaHeader("FAKEUNKNOWNKEY", alpacaSecret)), `{}`,
			401, map[string]any{"code": float64(40110000), "message": "request is not authorized"}, "FAKEUNKNOWNKEY", "unknown API key"},
		{"alpaca wrong secret", "alpaca", "GET", "https://paper-api.alpaca.markets/v2/account", alpacaHeader(alpacaKey, "fake-wrong-secret"), "",
			401, map[string]any{"code": float64(40110000)}, alpacaKey, "verify: "},
		{"oanda no token", "oanda", "GET", "https://VENUE/v3/accounts", nil, "",
			401, map[string]any{"errorMessage": "Insufficient authorization to perform request."}, "", "no API key"},
		{"oanda unknown token", "oanda", "GET", "https://VENUE/v3/accounts", http.Header{"Authorization": {"Bearer fake-unknown-token"}}, "",
			401, map[string]any{"errorMessage": "Insufficient authorization to perform request."}, "", "unknown API key"},
		{"bybit unknown key", "bybit", "GET", "https://VENUE/v5/user/query-api",
			http.Header{"X-Bapi-Api-Key": {"fake-unknown"}, "X-Bapi-Sign": {bad}, "X-Bapi-Timestamp": {ms}, "X-Bapi-Recv-Window": {"5000"}}, "",
			200, map[string]any{"retCode": float64(10003), "retMsg": "API key is invalid."}, "fake-unknown", "unknown API key"},
		{"okx unknown key", "okx", "POST", "https://VENUE/api/v5/trade/order",
			withJSON(http.Header{"Ok-Access-Key": {"fake-unknown"}, "Ok-Access-Sign": {"AAAA"}, "Ok-Access-Timestamp": {now.UTC().Format("2006-01-02T15:04:05.000Z")}, "Ok-Access-Passphrase": {"fake"}}), `{}`,
			401, map[string]any{"code": "50111"}, "fake-unknown", "unknown API key"},
		{"kraken unknown key", "kraken", "POST", "https://api.kraken.com/0/private/Balance",
			http.Header{"Api-Key": {"fake-unknown"}, "Api-Sign": {"AAAA"}, "Content-Type": {"application/x-www-form-urlencoded"}}, "nonce=1",
			200, map[string]any{"error": []any{"EAPI:Invalid key"}}, "fake-unknown", "unknown API key"},
		{"kucoin unknown key", "kucoin", "POST", "https://VENUE/api/v1/orders",
			withJSON(http.Header{"Kc-Api-Key": {"fake-unknown"}, "Kc-Api-Sign": {"AAAA"}, "Kc-Api-Timestamp": {ms}, "Kc-Api-Passphrase": {"AAAA"}, "Kc-Api-Key-Version": {"2"}}), `{}`,
			401, map[string]any{"code": "400003"}, "fake-unknown", "unknown API key"},
		{"coinbase exchange unknown key", "coinbase", "POST", "https://api.exchange.coinbase.com/orders",
			withJSON(http.Header{"Cb-Access-Key": {"fake-unknown"}, "Cb-Access-Sign": {"AAAA"}, "Cb-Access-Timestamp": {strconv.FormatInt(now.Unix(), 10)}, "Cb-Access-Passphrase": {"fake"}}), `{}`,
			401, map[string]any{"message": "Invalid API Key"}, "fake-unknown", "unknown API key"},
		{"coinbase advanced garbled JWT", "coinbase", "GET", "https://api.coinbase.com/api/v3/brokerage/key_permissions",
			http.Header{"Authorization": {"Bearer not.a.jwt"}}, "", 401, "Unauthorized\n", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url
			if strings.Contains(u, "//VENUE/") {
				u = strings.Replace(u, "VENUE", host(t, tc.venue), 1)
			}
			need(t, tc.venue)
			x.Reset()
			a := do(t, c, tc.method, u, tc.header, tc.body)
			assert.Equal(t, tc.status, a.status, "body: %s", a.body)
			switch want := tc.want.(type) {
			case string:
				assert.Equal(t, want, string(a.body))
			case map[string]any:
				got := a.object(t)
				for k, v := range want {
					assert.Equal(t, v, got[k], "field %s in %s", k, a.body)
				}
			}

			seen := x.Requests()
			require.Len(t, seen, 1, "every request to a signed endpoint is recorded")
			s := seen[0]
			assert.Equal(t, tc.venue, s.Venue)
			assert.False(t, s.Verified)
			assert.NotEmpty(t, s.Reason)
			assert.Contains(t, s.Reason, tc.reason)
			assert.Equal(t, tc.status, s.Status)
			if tc.key != "" {
				assert.Equal(t, tc.key, s.APIKey)
			}
			parsed, err := url.Parse(u)
			require.NoError(t, err)
			assert.Equal(t, parsed.Hostname(), s.Host)
			assert.Equal(t, parsed.EscapedPath(), s.Path)
			assert.Equal(t, parsed.RawQuery, s.Query)
			assert.Equal(t, tc.body, s.Body)
			assert.Equal(t, tc.method, s.Method)
		})
	}
}

func TestSignedRequestsAreAnsweredAndRecorded(t *testing.T) {
	x := start(t, Config{})
	addBinance(x, Permissions{Read: true, Trade: true})
	addAlpaca(x, Permissions{Read: true, Trade: true})
	c := client(t, x, false)

	q := binanceQuery(url.Values{"symbol": {"BTCUSDT"}, "side": {"BUY"}, "type": {"LIMIT"}, "quantity": {"0.001"}, "price": {"50000"}, "timeInForce": {"GTC"}}, binanceSecret, time.Now())
	a := do(t, c, "POST", "https://api.binance.com/api/v3/order?"+q, binanceHeader(), "")
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	order := a.object(t)
	assert.Equal(t, "BTCUSDT", order["symbol"])
	assert.Equal(t, "NEW", order["status"])
	assert.Equal(t, "0.001", order["origQty"])
	assert.NotZero(t, order["orderId"])

	a2 := do(t, c, "POST", "https://api.binance.com/api/v3/order?"+binanceQuery(url.Values{"symbol": {"BTCUSDT"}}, binanceSecret, time.Now()), binanceHeader(), "")
	require.Equal(t, http.StatusOK, a2.status, "%s", a2.body)
	assert.NotEqual(t, order["orderId"], a2.object(t)["orderId"], "each order gets its own id")

	a = do(t, c, "POST", "https://paper-api.alpaca.markets/v2/orders", alpacaHeader(alpacaKey, alpacaSecret),
		`{"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day"}`)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	assert.Equal(t, "accepted", a.object(t)["status"])
	assert.Equal(t, "AAPL", a.object(t)["symbol"])

	a = do(t, c, "GET", "https://api.alpaca.markets/v2/clock", alpacaHeader(alpacaKey, alpacaSecret), "")
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	ts, err := time.Parse(time.RFC3339Nano, a.object(t)["timestamp"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), ts, 5*time.Second)

	seen := x.Requests()
	require.Len(t, seen, 4)
	for _, s := range seen {
		assert.True(t, s.Verified, "%+v", s)
		assert.Empty(t, s.Reason)
		assert.Equal(t, http.StatusOK, s.Status)
		assert.Equal(t, "HTTP/1.1", s.Proto)
	}
	assert.Equal(t, Seen{
		Venue: "binance", Method: "POST", Host: "api.binance.com", Path: "/api/v3/order", Query: q,
		Header: seen[0].Header, APIKey: binanceKey, Verified: true, Status: 200, Proto: "HTTP/1.1",
	}, seen[0])
	assert.Equal(t, binanceKey, seen[0].Header.Get("X-Mbx-Apikey"))
	assert.Equal(t, "alpaca", seen[2].Venue)
	assert.Equal(t, alpacaKey, seen[2].APIKey)
	assert.Contains(t, seen[2].Body, `"AAPL"`)

	x.Reset()
	assert.Empty(t, x.Requests())
}

func TestClockOffset(t *testing.T) {
	x := start(t, Config{})
	addBinance(x, Permissions{Read: true})
	c := client(t, x, false)
	serverTime := func() time.Time {
		a := do(t, c, "GET", "https://api.binance.com/api/v3/time", nil, "")
		require.Equal(t, http.StatusOK, a.status)
		return time.UnixMilli(int64(a.object(t)["serverTime"].(float64)))
	}
	assert.WithinDuration(t, time.Now(), serverTime(), 2*time.Second)

	x.SetClockOffset(time.Hour)
	assert.WithinDuration(t, time.Now().Add(time.Hour), serverTime(), 2*time.Second)
	a := do(t, c, "GET", "https://api.binance.com/api/v3/time", nil, "")
	date, err := http.ParseTime(a.header.Get("Date"))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), date, 2*time.Second, "the Date header is the exchange's clock")

	// A request signed by the local clock is an hour stale on the exchange.
	q := binanceQuery(url.Values{}, binanceSecret, time.Now())
	a = do(t, c, "GET", "https://api.binance.com/api/v3/account?"+q, binanceHeader(), "")
	assert.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
	assert.Equal(t, float64(-1021), a.object(t)["code"], "%s", a.body)

	// Signed by the exchange's clock, it passes.
	q = binanceQuery(url.Values{}, binanceSecret, serverTime())
	a = do(t, c, "GET", "https://api.binance.com/api/v3/account?"+q, binanceHeader(), "")
	assert.Equal(t, http.StatusOK, a.status, "%s", a.body)

	x.SetClockOffset(-90 * time.Second)
	assert.WithinDuration(t, time.Now().Add(-90*time.Second), serverTime(), 2*time.Second)
}

func TestPermissionEndpoints(t *testing.T) {
	for _, p := range []Permissions{
		{Read: true},
		{Read: true, Trade: true},
		{Read: true, Trade: true, Withdraw: true, Transfer: true},
	} {
		t.Run("", func(t *testing.T) {
			x := start(t, Config{})
			addBinance(x, p)
			addAlpaca(x, p)
			c := client(t, x, false)

			a := do(t, c, "GET", "https://api.binance.com/sapi/v1/account/apiRestrictions?"+binanceQuery(url.Values{}, binanceSecret, time.Now()), binanceHeader(), "")
			require.Equal(t, http.StatusOK, a.status, "%s", a.body)
			m := a.object(t)
			assert.Equal(t, true, m["enableReading"])
			assert.Equal(t, p.Trade, m["enableSpotAndMarginTrading"])
			assert.Equal(t, p.Withdraw, m["enableWithdrawals"])
			assert.Equal(t, p.Transfer, m["enableInternalTransfer"])
			assert.Equal(t, p.Transfer, m["permitsUniversalTransfer"])
			assert.Equal(t, false, m["enableFutures"])
			assert.Equal(t, false, m["ipRestrict"])
			assert.NotZero(t, m["createTime"])

			a = do(t, c, "GET", "https://api.binance.com/api/v3/account?"+binanceQuery(url.Values{}, binanceSecret, time.Now()), binanceHeader(), "")
			require.Equal(t, http.StatusOK, a.status, "%s", a.body)
			assert.Equal(t, p.Trade, a.object(t)["canTrade"])
			assert.Equal(t, p.Withdraw, a.object(t)["canWithdraw"])

			a = do(t, c, "GET", "https://api.alpaca.markets/v2/account", alpacaHeader(alpacaKey, alpacaSecret), "")
			require.Equal(t, http.StatusOK, a.status, "%s", a.body)
			m = a.object(t)
			assert.Equal(t, "ACTIVE", m["status"])
			assert.Equal(t, false, m["trading_blocked"])
			assert.Equal(t, !p.Transfer, m["transfers_blocked"])
			assert.NotEmpty(t, m["account_number"])
		})
	}
}

func TestPermissionReplies(t *testing.T) {
	// The venues whose signers these tests do not carry: their permission
	// replies, checked through the handlers directly.
	p := Permissions{Read: true, Trade: true, Withdraw: true}
	c := &call{x: &Exchange{}, acct: &account{Account: verify.Account{APIKey: "fake-key"}, perms: p, created: time.Now()}, now: time.Now()}

	var bybit struct {
		Result struct {
			ReadOnly    int                 `json:"readOnly"`
			Permissions map[string][]string `json:"permissions"`
		} `json:"result"`
	}
	roundTrip(t, bybitQueryAPI(c), &bybit)
	assert.Equal(t, 0, bybit.Result.ReadOnly)
	assert.Equal(t, []string{"SpotTrade"}, bybit.Result.Permissions["Spot"])
	assert.Equal(t, []string{"Withdraw"}, bybit.Result.Permissions["Wallet"])

	var okx struct {
		Data []struct {
			Perm string `json:"perm"`
		} `json:"data"`
	}
	roundTrip(t, okxConfig(c), &okx)
	assert.Equal(t, "read_only,trade,withdraw", okx.Data[0].Perm)

	var coinbase map[string]any
	roundTrip(t, coinbaseKeyPermissions(c), &coinbase)
	assert.Equal(t, map[string]any{"can_view": true, "can_trade": true, "can_transfer": true,
		"portfolio_uuid": coinbase["portfolio_uuid"], "portfolio_type": "DEFAULT"}, coinbase)

	var kucoin struct {
		Data struct {
			Permission string `json:"permission"`
		} `json:"data"`
	}
	roundTrip(t, kucoinAPIKey(c), &kucoin)
	assert.Equal(t, "General,Spot,Withdrawal", kucoin.Data.Permission)

	c.acct.perms = Permissions{Read: true}
	roundTrip(t, bybitQueryAPI(c), &bybit)
	assert.Equal(t, 1, bybit.Result.ReadOnly)
	assert.Empty(t, bybit.Result.Permissions["Spot"])
	roundTrip(t, okxConfig(c), &okx)
	assert.Equal(t, "read_only", okx.Data[0].Perm)
}

func roundTrip(t *testing.T, r reply, v any) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status)
	b, err := json.Marshal(r.body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v))
}

func TestKnobs(t *testing.T) {
	var logs syncBuffer
	x := start(t, Config{Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	c := client(t, x, false)

	t.Run("redirect", func(t *testing.T) {
		a := do(t, c, "GET", "https://api.binance.com/__fake/redirect?to="+url.QueryEscape("https://attacker.example/steal"), nil, "")
		assert.Equal(t, http.StatusFound, a.status)
		assert.Equal(t, "https://attacker.example/steal", a.header.Get("Location"))
		a = do(t, c, "GET", "https://fapi.binance.com/__fake/redirect?status=307&to=/0/public/Time", nil, "")
		assert.Equal(t, http.StatusTemporaryRedirect, a.status)
		assert.Equal(t, "/0/public/Time", a.header.Get("Location"))
		a = do(t, c, "GET", "https://fapi.binance.com/__fake/redirect?status=200&to=/", nil, "")
		assert.Equal(t, http.StatusBadRequest, a.status)
	})
	t.Run("slow", func(t *testing.T) {
		began := time.Now()
		a := do(t, c, "GET", "https://api.binance.com/__fake/slow?ms=150", nil, "")
		assert.Equal(t, http.StatusOK, a.status)
		assert.GreaterOrEqual(t, time.Since(began), 150*time.Millisecond)

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", "https://api.binance.com/__fake/slow?ms=60000", nil)
		require.NoError(t, err)
		_, err = c.Do(req)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Eventually(t, func() bool { return strings.Contains(logs.String(), "slow request abandoned") },
			5*time.Second, 10*time.Millisecond, "the handler stops when the client goes")
	})
	t.Run("big", func(t *testing.T) {
		a := do(t, c, "GET", "https://"+host(t, "binance")+"/__fake/big?bytes=3000001", nil, "")
		assert.Equal(t, http.StatusOK, a.status)
		assert.Len(t, a.body, 3000001)
		assert.Equal(t, "3000001", a.header.Get("Content-Length"))
	})
	assert.Empty(t, x.Requests())
}

func TestHTTP2WhenAsked(t *testing.T) {
	x := start(t, Config{})
	addAlpaca(x, Permissions{Read: true})
	a := do(t, client(t, x, true), "GET", "https://api.alpaca.markets/v2/account", alpacaHeader(alpacaKey, alpacaSecret), "")
	assert.Equal(t, http.StatusOK, a.status, "%s", a.body)
	assert.Equal(t, "HTTP/2.0", a.proto)
	a = do(t, client(t, x, false), "GET", "https://api.alpaca.markets/v2/account", alpacaHeader(alpacaKey, alpacaSecret), "")
	assert.Equal(t, "HTTP/1.1", a.proto)

	seen := x.Requests()
	require.Len(t, seen, 2)
	assert.Equal(t, "HTTP/2.0", seen[0].Proto)
	assert.Equal(t, "api.alpaca.markets", seen[0].Host)
	assert.Equal(t, "HTTP/1.1", seen[1].Proto)
}

func TestBodyLimit(t *testing.T) {
	x := start(t, Config{})
	addAlpaca(x, Permissions{Read: true, Trade: true})
	c := client(t, x, false)
	body := `{"symbol":"` + strings.Repeat("A", maxBody) + `"}`
	a := do(t, c, "POST", "https://api.alpaca.markets/v2/orders", alpacaHeader(alpacaKey, alpacaSecret), body)
	assert.Equal(t, http.StatusUnprocessableEntity, a.status)
	seen := x.Requests()
	require.Len(t, seen, 1)
	assert.False(t, seen[0].Verified)
	assert.Equal(t, "body over 1 MiB", seen[0].Reason)
}

// syncBuffer is a bytes.Buffer the server's goroutines may log to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestNonceMustIncreasePerKey(t *testing.T) {
	need(t, "binance")
	x := start(t, Config{})
	// A venue whose nonce is whatever X-Nonce says, so that the test is of
	// the exchange's bookkeeping, not of a signature. The name only files
	// the accounts.
	v := verify.Venue{
		Name: "binance",
		Key: func(r *verify.Request) (string, error) {
			if k := r.Header.Get("X-Key"); k != "" {
				return k, nil
			}
			return "", errors.New("missing header X-Key")
		},
		Verify: func(r *verify.Request, a verify.Account) (verify.Verdict, error) {
			n, err := strconv.ParseUint(r.Header.Get("X-Nonce"), 10, 64)
			return verify.Verdict{APIKey: a.APIKey, Nonce: n}, err
		},
	}
	x.AddAccount("binance", verify.Account{APIKey: "fake-key-a"}, Permissions{Read: true})
	x.AddAccount("binance", verify.Account{APIKey: "fake-key-b"}, Permissions{Read: true})
	serve := func(key string, nonce int) (int, string) {
		r := httptest.NewRequest("POST", "https://api.kraken.com/0/private/Balance", strings.NewReader("nonce="+strconv.Itoa(nonce)))
		r.Header.Set("X-Key", key)
		r.Header.Set("X-Nonce", strconv.Itoa(nonce))
		w := httptest.NewRecorder()
		x.serveSigned(v, krakenError, krakenBalance, w, r)
		return w.Code, w.Body.String()
	}

	for _, step := range []struct {
		key   string
		nonce int
		ok    bool
	}{
		{"fake-key-a", 5, true},
		{"fake-key-a", 5, false}, // a replay
		{"fake-key-a", 4, false},
		{"fake-key-a", 6, true},
		{"fake-key-b", 1, true}, // each key has its own nonce
		{"fake-key-b", 1, false},
	} {
		status, body := serve(step.key, step.nonce)
		assert.Equal(t, http.StatusOK, status, "Kraken answers a refusal with 200")
		if step.ok {
			assert.Contains(t, body, `"error":[]`, "%s nonce %d", step.key, step.nonce)
		} else {
			assert.JSONEq(t, `{"error":["EAPI:Invalid nonce"]}`, body, "%s nonce %d", step.key, step.nonce)
		}
	}
	seen := x.Requests()
	require.Len(t, seen, 6)
	assert.Equal(t, []bool{true, false, false, true, true, false},
		[]bool{seen[0].Verified, seen[1].Verified, seen[2].Verified, seen[3].Verified, seen[4].Verified, seen[5].Verified})
	assert.Equal(t, "nonce 5 is not above the last accepted, 5", seen[1].Reason)
	assert.Equal(t, "nonce 4 is not above the last accepted, 5", seen[2].Reason)
}

// krakenSign signs as Kraken documents: API-Sign is the base64
// HMAC-SHA512, keyed with the base64-decoded secret, of the URI path
// followed by the SHA-256 of the nonce and the POST data.
func krakenSign(t *testing.T, path, nonce, form, secretB64 string) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(secretB64)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(nonce + form))
	mac := hmac.New(sha512.New, key)
	io.WriteString(mac, path)
	mac.Write(sum[:])
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestKrakenNonceReplayRefused(t *testing.T) {
	need(t, "kraken")
	x := start(t, Config{})
	secret := base64.StdEncoding.EncodeToString([]byte("fake-secret-for-tests-only-kraken"))
	x.AddAccount("kraken", verify.Account{APIKey: "fake-kraken-key", Secret: []byte(secret)}, Permissions{Read: true, Trade: true})
	c := client(t, x, false)
	post := func(nonce string) answer {
		form := "nonce=" + nonce
		return do(t, c, "POST", "https://api.kraken.com/0/private/Balance", http.Header{
			"Api-Key":      {"fake-kraken-key"},
			"Api-Sign":     {krakenSign(t, "/0/private/Balance", nonce, form, secret)},
			"Content-Type": {"application/x-www-form-urlencoded"},
		}, form)
	}
	nonce := strconv.FormatInt(time.Now().UnixMilli(), 10)
	a := post(nonce)
	require.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, []any{}, a.object(t)["error"], "%s", a.body)
	a = post(nonce)
	assert.Equal(t, map[string]any{"error": []any{"EAPI:Invalid nonce"}}, a.object(t))

	seen := x.Requests()
	require.Len(t, seen, 2)
	assert.True(t, seen[0].Verified)
	assert.False(t, seen[1].Verified)
	assert.Contains(t, seen[1].Reason, "nonce")
}

func bybitHeader(key, secret, query string, now time.Time) http.Header {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	io.WriteString(mac, ts+key+"5000"+query)
	return http.Header{
		"X-Bapi-Api-Key": {key}, "X-Bapi-Timestamp": {ts}, "X-Bapi-Recv-Window": {"5000"},
		"X-Bapi-Sign": {hex.EncodeToString(mac.Sum(nil))},
	}
}

func TestBybitQueryAPI(t *testing.T) {
	h := host(t, "bybit")
	x := start(t, Config{})
	x.AddAccount("bybit", verify.Account{APIKey: "FAKEBYBITKEY", Secret: []byte("fake-secret-for-tests-only")}, Permissions{Read: true, Trade: true, Transfer: true})
	c := client(t, x, false)

	a := do(t, c, "GET", "https://"+h+"/v5/user/query-api", bybitHeader("FAKEBYBITKEY", "fake-secret-for-tests-only", "", time.Now()), "")
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	m := a.object(t)
	require.Equal(t, float64(0), m["retCode"], "%s", a.body)
	result := m["result"].(map[string]any)
	assert.Equal(t, float64(0), result["readOnly"])
	perms := result["permissions"].(map[string]any)
	assert.Equal(t, []any{"SpotTrade"}, perms["Spot"])
	assert.Equal(t, []any{"AccountTransfer", "SubMemberTransfer"}, perms["Wallet"])

	a = do(t, c, "GET", "https://"+h+"/v5/user/query-api", bybitHeader("FAKEBYBITKEY", "fake-wrong-secret", "", time.Now()), "")
	assert.Equal(t, http.StatusOK, a.status)
	assert.Equal(t, float64(10004), a.object(t)["retCode"], "%s", a.body)

	x.SetClockOffset(-time.Minute)
	a = do(t, c, "GET", "https://"+h+"/v5/user/query-api", bybitHeader("FAKEBYBITKEY", "fake-secret-for-tests-only", "", time.Now()), "")
	assert.Equal(t, float64(10002), a.object(t)["retCode"], "a timestamp ahead of the exchange's clock: %s", a.body)
}

func TestOanda(t *testing.T) {
	h := host(t, "oanda")
	x := start(t, Config{})
	const account, token = "101-004-1234567-001", "fake-oanda-token-for-tests-only"
	x.AddAccount("oanda", verify.Account{APIKey: account, Secret: []byte(token)}, Permissions{Read: true, Trade: true})
	c := client(t, x, true)
	auth := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}

	a := do(t, c, "GET", "https://"+h+"/v3/accounts", auth, "")
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	assert.JSONEq(t, `{"accounts":[{"id":"`+account+`","tags":[]}]}`, string(a.body))

	a = do(t, c, "POST", "https://"+h+"/v3/accounts/"+account+"/orders", auth,
		`{"order":{"units":"100","instrument":"EUR_USD","timeInForce":"FOK","type":"MARKET","positionFill":"DEFAULT"}}`)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	tx := a.object(t)["orderCreateTransaction"].(map[string]any)
	assert.Equal(t, "MARKET_ORDER", tx["type"])
	assert.Equal(t, account, tx["accountID"])
	assert.Equal(t, "EUR_USD", tx["instrument"])

	a = do(t, c, "POST", "https://"+h+"/v3/accounts/101-004-7654321-001/orders", auth, `{"order":{}}`)
	assert.Equal(t, http.StatusForbidden, a.status, "another account's path: %s", a.body)
	assert.Contains(t, a.object(t), "errorMessage")

	seen := x.Requests()
	require.Len(t, seen, 3)
	assert.Equal(t, account, seen[0].APIKey, "the account id, not the token")
	assert.True(t, seen[0].Verified)
	assert.True(t, seen[1].Verified)
	assert.False(t, seen[2].Verified)
	for _, s := range seen {
		assert.Equal(t, "HTTP/2.0", s.Proto)
	}
}

func TestBearerOnAMappedHost(t *testing.T) {
	need(t, "bearer")
	x := start(t, Config{ExtraHosts: []string{"api.example.test", "other.example.test"}})
	x.AddAccount("bearer", verify.Account{
		APIKey: "fake-bearer-label", Secret: []byte("fake-token-for-tests-only"),
		Meta: map[string]string{"hosts": "api.example.test", "header": "X-Api-Token", "prefix": ""},
	}, Permissions{Read: true})
	x.MapHost("other.example.test", "bearer")
	c := client(t, x, false)

	a := do(t, c, "GET", "https://api.example.test/v1/things?x=1", http.Header{"X-Api-Token": {"fake-token-for-tests-only"}}, "")
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	assert.JSONEq(t, `{"ok":true,"path":"/v1/things"}`, string(a.body))

	a = do(t, c, "GET", "https://api.example.test/v1/things", http.Header{"X-Api-Token": {"fake-wrong-token"}}, "")
	assert.Equal(t, http.StatusUnauthorized, a.status)
	// A host mapped to bearer with no account of its own knows no key.
	a = do(t, c, "GET", "https://other.example.test/v1/things", http.Header{"X-Api-Token": {"fake-token-for-tests-only"}}, "")
	assert.Equal(t, http.StatusUnauthorized, a.status)
	assert.JSONEq(t, `{"error":"invalid API key"}`, string(a.body))

	seen := x.Requests()
	require.Len(t, seen, 3)
	assert.True(t, seen[0].Verified)
	assert.Equal(t, "fake-bearer-label", seen[0].APIKey)
	assert.Equal(t, "x=1", seen[0].Query)
	assert.False(t, seen[1].Verified)
	assert.Equal(t, "unknown API key", seen[2].Reason)
}
