package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/agent/peercred"
	"github.com/keyward/keyward/agent/peerid"
)

func load(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Parse([]byte(src), "test.toml")
	require.NoError(t, err)
	return p
}

func ident(uid uint32, unit, exe string, groups ...uint32) peerid.Identity {
	return peerid.Identity{Cred: peercred.Cred{UID: uid, GID: uid, PID: 1, Groups: groups}, Unit: unit, Exe: exe}
}

func TestExampleLoads(t *testing.T) {
	p, err := Load("testdata/example.toml")
	require.NoError(t, err)
	require.Len(t, p.Clients(), 2)
	assert.Equal(t, 90*24*time.Hour, p.Credential("binance-main").RotationPeriod)
}

func TestParseProblemsHaveLines(t *testing.T) {
	cases := []struct {
		name, src string
		line      int
		want      string
	}{
		{"syntax", "version = 1\nrate = 10/s\n", 2, ""},
		{"no version", "[[client]]\nname='a'\nuid=1\n[[client.grant]]\ncredentials=['x']\noperations=['list']\n", 0, "version = 1"},
		{"unknown key", "version = 1\n[[client]]\nname='a'\nuid=1\nuidd=2\n[[client.grant]]\ncredentials=['x']\noperations=['list']\n", 5, "unknown key"},
		{"bad rate", "version = 1\n[[client]]\nname='a'\nuid=1\nrate='fast'\n[[client.grant]]\ncredentials=['x']\noperations=['list']\n", 5, "COUNT/UNIT"},
		{"no identity", "version = 1\n[[client]]\nname='a'\nunit='x.service'\n[[client.grant]]\ncredentials=['x']\noperations=['list']\n", 2, "matches no one"},
		{"bad op", "version = 1\n[[client]]\nname='a'\nuid=1\n[[client.grant]]\ncredentials=['x']\noperations=['add']\n", 5, "administration is the owner's"},
		{"sign without endpoints", "version = 1\n[[client]]\nname='a'\nuid=1\n[[client.grant]]\ncredentials=['x']\noperations=['sign']\n", 5, "names no endpoints"},
		{"bad endpoint", "version = 1\n[[client]]\nname='a'\nuid=1\n[[client.grant]]\ncredentials=['x']\noperations=['sign']\nendpoints=['/api/v3/order']\n", 5, "METHOD /path"},
		{"partial wildcard", "version = 1\n[[client]]\nname='a'\nuid=1\n[[client.grant]]\ncredentials=['x']\noperations=['sign']\nendpoints=['GET /api/v3/ord*']\n", 5, "whole segment"},
		{"money not in catalogue", "version = 1\n[[client]]\nname='a'\nuid=1\n[[client.grant]]\ncredentials=['x']\noperations=['sign']\nendpoints=['GET /x']\nallow_money_movement=['POST /api/v3/order']\n", 5, "not a money-moving endpoint"},
		{"money wildcard", "version = 1\n[[client]]\nname='a'\nuid=1\n[[client.grant]]\ncredentials=['x']\noperations=['sign']\nendpoints=['GET /x']\nallow_money_movement=['POST /sapi/*/capital/withdraw/apply']\n", 5, "without wildcards"},
		{"bad quantity", "version = 1\n[[client]]\nname='a'\nuid=1\n[[client.grant]]\ncredentials=['x']\noperations=['sign']\nendpoints=['GET /x']\nmax_quantity='lots'\n", 5, "positive decimal"},
		{"no grants", "version = 1\n[[client]]\nname='a'\nuid=1\n", 2, "has no [[client.grant]]"},
		{"duplicate name", "version = 1\n[[client]]\nname='a'\nuid=1\n[[client.grant]]\ncredentials=['x']\noperations=['list']\n[[client]]\nname='a'\nuid=2\n[[client.grant]]\ncredentials=['x']\noperations=['list']\n", 8, "named twice"},
		{"unknown user", "version = 1\n[[client]]\nname='a'\nuser='no-such-user-kw'\n[[client.grant]]\ncredentials=['x']\noperations=['list']\n", 2, "no user"},
		{"relative exe", "version = 1\n[[client]]\nname='a'\nuid=1\nexe='python3'\n[[client.grant]]\ncredentials=['x']\noperations=['list']\n", 2, "absolute path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.src), "test.toml")
			var pe *Error
			require.True(t, errors.As(err, &pe), "want *Error, got %v", err)
			require.NotEmpty(t, pe.Problems)
			found := false
			for _, p := range pe.Problems {
				if (c.want == "" || strings.Contains(p.Msg, c.want)) && p.Line == c.line {
					found = true
				}
			}
			assert.True(t, found, "want line %d %q in %v", c.line, c.want, pe.Problems)
			assert.Contains(t, err.Error(), "test.toml")
		})
	}
}

const twoBots = `
version = 1
[[client]]
name = "grid"
uid = 1001
unit = "grid.service"
  [[client.grant]]
  credentials = ["binance-main"]
  operations = ["sign", "list"]
  endpoints = ["GET /api/v3/account", "POST /api/v3/order", "DELETE /api/v3/order"]
  symbols = ["BTCUSDT"]
  max_quantity = "0.5"
  max_notional = "20000"
[[client]]
name = "any-1001"
uid = 1001
  [[client.grant]]
  credentials = ["binance-main"]
  operations = ["list"]
[[client]]
name = "bots-group"
gid = 2000
  [[client.grant]]
  credentials = ["okx-*"]
  operations = ["sign"]
  endpoints = ["* /api/v5/**"]
`

func TestDecide(t *testing.T) {
	p := load(t, twoBots)
	order := "https://api.binance.com/api/v3/order"
	cases := []struct {
		name  string
		id    peerid.Identity
		req   Request
		allow bool
		rule  string
		why   string
	}{
		{"grid signs an order", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: order, Body: "symbol=BTCUSDT&side=BUY&quantity=0.1&price=30000"}, true, `client "grid" grant 1`, ""},
		{"other unit falls to the next client", ident(1001, "other.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: order, Body: "symbol=BTCUSDT"}, false, `client "any-1001"`, "does not grant sign"},
		{"other unit may list", ident(1001, "other.service", ""), Request{Op: OpList, Credential: "binance-main"}, true, `client "any-1001" grant 1`, ""},
		{"unknown uid", ident(1500, "", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "GET", URL: "https://api.binance.com/api/v3/account"}, false, "default deny", "no client"},
		{"endpoint not listed", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "GET", URL: "https://api.binance.com/api/v3/myTrades?symbol=BTCUSDT"}, false, `client "grid"`, "does not list GET /api/v3/myTrades"},
		{"symbol not allowed", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: order, Body: "symbol=DOGEUSDT&quantity=1&price=1"}, false, "grant 1", `symbol "DOGEUSDT"`},
		{"quantity too big", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: order + "?symbol=BTCUSDT&quantity=0.6&price=1"}, false, "grant 1", "above grant 1's max_quantity"},
		{"repeated quantity", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: order, Body: "symbol=BTCUSDT&quantity=0.1&price=1&quantity=1000"}, false, "grant 1", "quantity appears more than once"},
		{"quantity in query and body", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: order + "?quantity=1000", Body: "symbol=BTCUSDT&quantity=0.1&price=1"}, false, "grant 1", "quantity appears more than once"},
		{"notional too big", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: order, Body: "symbol=BTCUSDT&quantity=0.5&price=50000"}, false, "grant 1", "max_notional"},
		{"market order without price", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: order, Body: "symbol=BTCUSDT&type=MARKET&quantity=0.1"}, false, "grant 1", "no price"},
		{"quote-sized market order", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: order, Body: "symbol=BTCUSDT&type=MARKET&quoteOrderQty=100"}, true, "grant 1", ""},
		{"cancel is not an order placement", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "DELETE", URL: order + "?symbol=ETHUSDT&orderId=1"}, true, "grant 1", ""},
		{"credential not granted: same words as unknown", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-treasury", Scheme: "binance", Method: "GET", URL: "https://api.binance.com/api/v3/account"}, false, `client "grid"`, `no grant for credential "binance-treasury"`},
		{"supplementary group", ident(1700, "", "", 2000), Request{Op: OpSign, Credential: "okx-1", Scheme: "okx", Method: "POST", URL: "https://www.okx.com/api/v5/trade/order", Body: `{"instId":"BTC-USDT","sz":"1"}`}, true, `client "bots-group"`, ""},
		{"group's withdrawal refused by the catalogue", ident(1700, "", "", 2000), Request{Op: OpSign, Credential: "okx-1", Scheme: "okx", Method: "POST", URL: "https://www.okx.com/api/v5/asset/withdrawal", Body: `{"ccy":"BTC","amt":"1"}`}, false, "catalogue: okx withdrawal", "allow_money_movement"},
		{"withdrawal params on an order path (binance)", ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: order, Body: "coin=BTC&address=bc1qxyz&amount=1"}, false, "money-moving parameters", "replayed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _, _ := p.Decide(c.id, c.req)
			assert.Equal(t, c.allow, d.Allow, "%+v", d)
			assert.Contains(t, d.Rule, c.rule)
			if c.why != "" {
				assert.Contains(t, d.Reason, c.why)
			}
		})
	}
	// Unknown and not-granted credentials read the same to the client.
	d1, _, _ := p.Decide(ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "exists-elsewhere", Scheme: "binance", Method: "GET", URL: "https://api.binance.com/api/v3/account"})
	d2, _, _ := p.Decide(ident(1001, "grid.service", ""), Request{Op: OpSign, Credential: "no-such-thing", Scheme: "", Method: "GET", URL: "https://api.binance.com/api/v3/account"})
	assert.Equal(t, strings.ReplaceAll(d1.Reason, "exists-elsewhere", "X"), strings.ReplaceAll(d2.Reason, "no-such-thing", "X"))

	assert.True(t, p.Visible(ident(1001, "grid.service", ""), "binance-main"))
	assert.False(t, p.Visible(ident(1001, "grid.service", ""), "okx-1"))
	assert.False(t, p.Visible(ident(1500, "", ""), "binance-main"))
}

// concrete turns a catalogue pattern into a path it matches.
func concrete(e Endpoint) string {
	segs := make([]string, len(e.segs))
	for i, s := range e.segs {
		switch s {
		case "*":
			segs[i] = "v1"
		case "**":
			segs[i] = "apply"
		default:
			segs[i] = s
		}
	}
	return "/" + strings.Join(segs, "/")
}

// TestCatalogueRefusedEverywhere: every money-moving entry of every venue
// is refused without a policy and under a grant whose endpoints cover
// everything, and allowed once a grant names it.
func TestCatalogueRefusedEverywhere(t *testing.T) {
	venues := map[string]bool{}
	for _, e := range Catalogue() {
		venues[e.Scheme] = true
		req := Request{Op: OpSign, Credential: "c", Scheme: e.Scheme}
		if e.action != "" {
			req.Method, req.URL = "POST", "https://api.hyperliquid.xyz/exchange"
			req.Body = `{"action":{"type":"` + e.action + `"},"nonce":1}`
		} else {
			req.Method = e.ep.Method
			req.URL = "https://venue.example" + concrete(e.ep)
		}
		t.Run(e.Scheme+" "+e.ID, func(t *testing.T) {
			var none *Policy
			d, _, _ := none.Decide(ident(0, "", ""), req)
			assert.False(t, d.Allow, "allowed without a policy: %+v", d)
			assert.Contains(t, d.Rule, "catalogue")

			open := load(t, "version = 1\n[[client]]\nname='all'\nuid=7\n[[client.grant]]\ncredentials=['*']\noperations=['sign']\nendpoints=['* /**']\n")
			d, _, _ = open.Decide(ident(7, "", ""), req)
			assert.False(t, d.Allow, "allowed by a catch-all grant: %+v", d)

			named := load(t, "version = 1\n[[client]]\nname='all'\nuid=7\n[[client.grant]]\ncredentials=['*']\noperations=['sign']\nendpoints=['GET /nothing']\nallow_money_movement=['"+e.ID+"']\n")
			d, _, _ = named.Decide(ident(7, "", ""), req)
			assert.True(t, d.Allow, "refused although named: %+v", d)
		})
	}
	for _, v := range []string{"binance", "binance-ws", "bybit", "okx", "coinbase", "kraken", "kucoin", "gate", "bitget", "bitfinex", "deribit", "hyperliquid"} {
		assert.True(t, venues[v], "the catalogue has nothing for %s", v)
	}
}

func TestExactEndpointNamesMoney(t *testing.T) {
	p := load(t, "version = 1\n[[client]]\nname='t'\nuid=7\n[[client.grant]]\ncredentials=['*']\noperations=['sign']\nendpoints=['GET /x']\nallow_money_movement=['POST /sapi/v1/capital/withdraw/apply']\n")
	ok, _, _ := p.Decide(ident(7, "", ""), Request{Op: OpSign, Credential: "b", Scheme: "binance", Method: "POST", URL: "https://api.binance.com/sapi/v1/capital/withdraw/apply", Body: "coin=BTC&address=x&amount=1"})
	assert.True(t, ok.Allow, "%+v", ok)
	other, _, _ := p.Decide(ident(7, "", ""), Request{Op: OpSign, Credential: "b", Scheme: "binance", Method: "POST", URL: "https://api.binance.com/sapi/v1/asset/transfer", Body: "asset=BTC&amount=1&type=MAIN_UMFUTURE"})
	assert.False(t, other.Allow)
}

func TestParamSets(t *testing.T) {
	var none *Policy
	cases := []struct {
		scheme, method, url, body string
		refused                   bool
	}{
		{"binance", "POST", "https://api.binance.com/api/v3/order", "symbol=BTCUSDT&quantity=1", false},
		{"binance", "POST", "https://api.binance.com/api/v3/order", "asset=BTC&amount=1&type=1", true},
		{"binance", "GET", "https://api.binance.com/api/v3/account?toEmail=x%40y", "", true},
		// Names are read as widely as any venue might: escaped, after a
		// ';', in the query or the body, with or without a value.
		{"binance", "POST", "https://api.binance.com/api/v3/order", "symbol=BTCUSDT&addr%65ss=x", true},
		{"binance", "POST", "https://api.binance.com/api/v3/order", "symbol=BTCUSDT;address=x", true},
		{"binance", "POST", "https://api.binance.com/api/v3/order?coin=BTC", "symbol=BTCUSDT&amount=1", true},
		{"binance", "POST", "https://api.binance.com/api/v3/order", "symbol=BTCUSDT&withdrawOrderId", true},
		{"binance", "POST", "https://api.binance.com/api/v3/order", "symbol=BTCUSDT&amount=1&addressx=1", false},
		{"bybit", "POST", "https://api.bybit.com/v5/order/create", `{"symbol":"BTCUSDT","qty":"1"}`, false},
		{"bybit", "POST", "https://api.bybit.com/v5/order/create", `{"coin":"BTC","amount":"1","address":"x"}`, true},
		{"bybit", "POST", "https://api.bybit.com/v5/order/create", `{"fromAccountType":"UNIFIED","toAccountType":"FUND"}`, true},
		{"okx", "POST", "https://www.okx.com/api/v5/trade/order", `{"ccy":"BTC","amt":"1","toAddr":"x"}`, false}, // OKX signs the path
	}
	for _, c := range cases {
		d, _, _ := none.Decide(ident(0, "", ""), Request{Op: OpSign, Credential: "c", Scheme: c.scheme, Method: c.method, URL: c.url, Body: c.body})
		assert.Equal(t, !c.refused, d.Allow, "%s %s %s: %+v", c.scheme, c.url, c.body, d)
	}
}

func TestOrdersPerVenue(t *testing.T) {
	cases := []struct {
		scheme, method, url, body string
		symbol, qty, price        string
	}{
		{"bybit", "POST", "https://api.bybit.com/v5/order/create", `{"category":"spot","symbol":"BTCUSDT","qty":"0.1","price":"30000"}`, "BTCUSDT", "1/10", "30000"},
		{"okx", "POST", "https://www.okx.com/api/v5/trade/order", `{"instId":"BTC-USDT","sz":"2","px":"10"}`, "BTC-USDT", "2", "10"},
		{"coinbase", "POST", "https://api.coinbase.com/api/v3/brokerage/orders", `{"product_id":"BTC-USD","order_configuration":{"limit_limit_gtc":{"base_size":"0.01","limit_price":"50000"}}}`, "BTC-USD", "1/100", "50000"},
		{"kraken", "POST", "https://api.kraken.com/0/private/AddOrder", "nonce=1&pair=XBTUSD&volume=1.5&price=100", "XBTUSD", "3/2", "100"},
		{"kucoin", "POST", "https://api.kucoin.com/api/v1/orders", `{"symbol":"BTC-USDT","size":"3","price":"7"}`, "BTC-USDT", "3", "7"},
		{"gate", "POST", "https://api.gateio.ws/api/v4/spot/orders", `{"currency_pair":"BTC_USDT","amount":"4","price":"9"}`, "BTC_USDT", "4", "9"},
		{"bitget", "POST", "https://api.bitget.com/api/v2/spot/trade/place-order", `{"symbol":"BTCUSDT","size":"5","price":"3"}`, "BTCUSDT", "5", "3"},
		{"bitfinex", "POST", "https://api.bitfinex.com/v2/auth/w/order/submit", `{"symbol":"tBTCUSD","amount":"-0.5","price":"100"}`, "tBTCUSD", "1/2", "100"},
		{"deribit", "GET", "https://www.deribit.com/api/v2/private/buy?instrument_name=BTC-PERPETUAL&amount=10&price=5", "", "BTC-PERPETUAL", "10", "5"},
		{"hyperliquid", "POST", "https://api.hyperliquid.xyz/exchange", `{"action":{"type":"order","orders":[{"a":0,"b":true,"p":"100","s":"0.25","r":false,"t":{"limit":{"tif":"Gtc"}}}],"grouping":"na"},"nonce":1}`, "0", "1/4", "100"},
		{"binance", "POST", "https://fapi.binance.com/fapi/v1/batchOrders", "batchOrders=" + `[{"symbol":"BTCUSDT","quantity":"1","price":"2"}]`, "BTCUSDT", "1", "2"},
		{"binance-ws", "WS", "wss://ws-api.binance.com/ws-api/v3", `{"id":"1","method":"order.place","params":{"symbol":"BTCUSDT","quantity":"0.5","price":"4"}}`, "BTCUSDT", "1/2", "4"},
	}
	for _, c := range cases {
		t.Run(c.scheme, func(t *testing.T) {
			r := Request{Scheme: c.scheme, Method: c.method, URL: c.url, Body: c.body}
			orders, ok, err := ordersOf(c.scheme, c.method, parseRequest(r), c.body)
			require.NoError(t, err)
			require.True(t, ok)
			require.Len(t, orders, 1)
			assert.Equal(t, c.symbol, orders[0].Symbol)
			assert.Equal(t, c.qty, orders[0].Quantity.RatString())
			assert.Equal(t, c.price, orders[0].Price.RatString())
		})
	}
	// Not an order: a binance-ws account request.
	_, ok, _ := ordersOf("binance-ws", "WS", parseRequest(Request{URL: "wss://ws-api.binance.com/ws-api/v3", Body: `{"method":"account.status","params":{}}`}), `{"method":"account.status","params":{}}`)
	assert.False(t, ok)
}

func TestLimiter(t *testing.T) {
	p := load(t, "version = 1\n[[client]]\nname='b'\nuid=7\nrate='2/s'\nburst=2\n[[client.grant]]\ncredentials=['*']\noperations=['sign']\nendpoints=['GET /**']\n[[credential]]\nname='shared'\nrate='1/s'\nburst=3\n")
	l := NewLimiter()
	c := p.Match(ident(7, "", ""))
	require.NotNil(t, c)
	now := time.Unix(1000, 0)
	assert.True(t, l.Allow(p, c, c.grants[0], "own", now).Allow)
	assert.True(t, l.Allow(p, c, c.grants[0], "own", now).Allow)
	d := l.Allow(p, c, c.grants[0], "own", now)
	assert.False(t, d.Allow)
	assert.Contains(t, d.Reason, `client "b"'s rate 2/s`)
	assert.InDelta(t, 500*time.Millisecond, d.RetryAfter, float64(time.Millisecond))
	assert.True(t, l.Allow(p, c, c.grants[0], "own", now.Add(500*time.Millisecond)).Allow, "refilled")

	// The credential's bucket is shared by every client.
	l = NewLimiter()
	now = now.Add(time.Hour)
	for i := range 3 {
		assert.True(t, l.Allow(p, nil, nil, "shared", now.Add(time.Duration(i)*time.Second/1000)).Allow)
	}
	d = l.Allow(p, nil, nil, "shared", now.Add(3*time.Millisecond))
	assert.False(t, d.Allow)
	assert.Contains(t, d.Reason, "all clients")
}

func TestHolderReloadAndWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.toml")
	good := "version = 1\n[[client]]\nname='a'\nuid=7\n[[client.grant]]\ncredentials=['x']\noperations=['list']\n"
	require.NoError(t, os.WriteFile(path, []byte(good), 0o600))
	h, err := NewHolder(path, nil)
	require.NoError(t, err)
	first := h.Policy()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Watch(ctx)
	time.Sleep(100 * time.Millisecond) // the watcher is set up

	// A broken file is refused, with its line, and the old policy stays.
	require.NoError(t, os.WriteFile(path, []byte(good+"bogus = [\n"), 0o600))
	require.Eventually(t, func() bool { return h.Err() != nil }, 5*time.Second, 20*time.Millisecond)
	assert.Same(t, first, h.Policy())
	assert.Contains(t, h.Err().Error(), "line")

	// A good file replaces it, atomically, by rename as editors do.
	tmp := filepath.Join(dir, ".policy.toml.new")
	require.NoError(t, os.WriteFile(tmp, []byte(strings.Replace(good, "uid=7", "uid=8", 1)), 0o600))
	require.NoError(t, os.Rename(tmp, path))
	require.Eventually(t, func() bool { return h.Err() == nil && h.Policy() != first }, 5*time.Second, 20*time.Millisecond)
	assert.NotNil(t, h.Policy().Match(ident(8, "", "")))
	assert.Nil(t, h.Policy().Match(ident(7, "", "")))

	_, err = NewHolder(filepath.Join(dir, "missing.toml"), nil)
	assert.Error(t, err)
}

func FuzzParse(f *testing.F) {
	raw, err := os.ReadFile("testdata/example.toml")
	require.NoError(f, err)
	f.Add(string(raw))
	f.Add(twoBots)
	f.Add("version = 1\n")
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse([]byte(src), "fuzz.toml")
		if err != nil {
			var pe *Error
			require.True(t, errors.As(err, &pe), "%T %v", err, err)
			return
		}
		// A policy that parses decides without panicking.
		p.Decide(ident(1, "x.service", "/bin/x"), Request{Op: OpSign, Credential: "c", Scheme: "binance", Method: "POST", URL: "https://api.binance.com/api/v3/order", Body: "symbol=A&quantity=1&price=1"})
	})
}

func BenchmarkDecide(b *testing.B) {
	p, err := Load("testdata/example.toml")
	require.NoError(b, err)
	id := ident(1001, "grid-bot.service", "")
	req := Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: "https://api.binance.com/api/v3/order", Body: "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.1&price=30000"}
	b.ReportAllocs()
	for b.Loop() {
		if d, _, _ := p.Decide(id, req); !d.Allow {
			b.Fatal(d.Reason)
		}
	}
}

// BenchmarkDecideNoPolicy is the signing path without a policy file: the
// money-moving catalogue alone.
func BenchmarkDecideNoPolicy(b *testing.B) {
	var p *Policy
	req := Request{Op: OpSign, Credential: "binance-main", Scheme: "binance", Method: "POST", URL: "https://api.binance.com/api/v3/order", Body: "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=0.1&price=30000"}
	b.ReportAllocs()
	for b.Loop() {
		if d, _, _ := p.Decide(ident(1001, "", ""), req); !d.Allow {
			b.Fatal(d.Reason)
		}
	}
}
