package scheme

import (
	"errors"
	"maps"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const oandaAccount = "101-004-1234567-001"

// TestOandaSign follows https://developer.oanda.com/rest-live-v20/authentication/:
// "Authorization: Bearer <token>" on every request, REST and streaming.
func TestOandaSign(t *testing.T) {
	cases := []struct {
		name string
		req  Request
	}{
		{"documented accounts list", Request{Method: "GET", URL: "https://api-fxtrade.oanda.com/v3/accounts"}},
		{"account summary", Request{Method: "GET", URL: "https://api-fxpractice.oanda.com/v3/accounts/" + oandaAccount + "/summary"}},
		{"order", Request{Method: "POST", URL: "https://api-fxpractice.oanda.com/v3/accounts/" + oandaAccount + "/orders",
			Headers: map[string]string{"Content-Type": "application/json", "Accept-Datetime-Format": "UNIX"},
			Body:    `{"order":{"units":"100","instrument":"EUR_USD","type":"MARKET"}}`}},
		{"close trade", Request{Method: "PUT", URL: "https://api-fxpractice.oanda.com/v3/accounts/" + oandaAccount + "/trades/6397/close"}},
		{"pricing stream", Request{Method: "GET", URL: "https://stream-fxpractice.oanda.com/v3/accounts/" + oandaAccount + "/pricing/stream?instruments=EUR_USD%2CUSD_CAD"}},
		{"instruments", Request{Method: "GET", URL: "https://api-fxtrade.oanda.com/v3/instruments/EUR_USD/candles?count=5"}},
		{"exact-case own header overwritten", Request{Method: "GET", URL: "https://api-fxtrade.oanda.com/v3/accounts", Headers: map[string]string{"Authorization": "Bearer guess"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := maps.Clone(c.req.Headers)
			out, err := oanda{}.Sign(fwdInput(c.req, oandaAccount, fwdSecret, nil))
			require.NoError(t, err)
			assert.Equal(t, c.req.Method, out.Method)
			assert.Equal(t, c.req.URL, out.URL)
			assert.Equal(t, c.req.Body, out.Body)
			want := maps.Clone(c.req.Headers)
			if want == nil {
				want = map[string]string{}
			}
			want["Authorization"] = "Bearer " + fwdSecret
			assert.Equal(t, want, out.Headers)
			assert.Equal(t, before, c.req.Headers, "the bot's headers are not changed")
			fwdNoSecret(t, out, nil, fwdSecret, "Authorization")
		})
	}
}

// TestOandaPinned: environment=practice or live pins the hosts; the URL's
// account must be the credential's.
func TestOandaPinned(t *testing.T) {
	practice := "https://api-fxpractice.oanda.com/v3/accounts"
	live := "https://api-fxtrade.oanda.com/v3/accounts"
	liveStream := "https://stream-fxtrade.oanda.com/v3/accounts/" + oandaAccount + "/transactions/stream"
	for meta, c := range map[string]struct {
		ok     []string
		refuse []string
	}{
		"":         {ok: []string{practice, live, liveStream}},
		"practice": {ok: []string{practice}, refuse: []string{live, liveStream}},
		"live":     {ok: []string{live, liveStream}, refuse: []string{practice}},
	} {
		m := map[string]string{}
		if meta != "" {
			m["environment"] = meta
		}
		for _, u := range c.ok {
			_, err := oanda{}.Sign(fwdInput(Request{Method: "GET", URL: u}, oandaAccount, fwdSecret, m))
			assert.NoError(t, err, "%s %s", meta, u)
		}
		for _, u := range c.refuse {
			_, err := oanda{}.Sign(fwdInput(Request{Method: "GET", URL: u}, oandaAccount, fwdSecret, m))
			requireRefusal(t, err, "oanda", "the other environment")
		}
	}
	_, err := oanda{}.Sign(fwdInput(Request{Method: "GET", URL: live}, oandaAccount, fwdSecret, map[string]string{"environment": "demo"}))
	require.Error(t, err)
	assert.False(t, errors.As(err, new(*RequestError)), "bad metadata is the credential's fault")
}

func TestOandaRefusals(t *testing.T) {
	acct := "https://api-fxpractice.oanda.com/v3/accounts/" + oandaAccount
	cases := []struct {
		name    string
		method  string
		url     string
		headers map[string]string
		want    string
	}{
		{"http", "GET", "http://api-fxpractice.oanda.com/v3/accounts", nil, "https"},
		{"foreign host", "GET", "https://api.oanda.evil.example/v3/accounts", nil, "not one of the credential's hosts"},
		{"legacy host", "GET", "https://api-fxtrade.oanda.com.evil.example/v3/accounts", nil, "not one of the credential's hosts"},
		{"other account", "GET", "https://api-fxpractice.oanda.com/v3/accounts/101-004-7654321-002/summary", nil, `account "101-004-7654321-002"`},
		{"other account, upper-case path", "GET", "https://api-fxpractice.oanda.com/V3/Accounts/101-004-7654321-002/orders", nil, "add a credential for that account"},
		{"account by prefix", "GET", acct + "1/summary", nil, "add a credential for that account"},
		{"encoded account", "GET", "https://api-fxpractice.oanda.com/v3/accounts/101-004-1234567-00%31/summary", nil, "add a credential for that account"},
		{"dot-dot escape", "GET", acct + "/../101-004-7654321-002/summary", nil, "'..'"},
		{"encoded dot-dot", "GET", acct + "/%2e%2E/101-004-7654321-002/summary", nil, "'..'"},
		{"encoded slash", "GET", acct + "%2F..%2F101-004-7654321-002/summary", nil, "encoded '/'"},
		{"double slash", "GET", "https://api-fxpractice.oanda.com//v3/accounts/101-004-7654321-002/summary", nil, "empty segment"},
		{"bad escape", "GET", acct + "/%zz", nil, "does not parse"},
		{"websocket", MethodWS, "wss://stream-fxpractice.oanda.com/v3/x", nil, "HTTP requests only"},
		{"method", "OPTIONS", acct, nil, "method"},
		{"auth header twin", "GET", acct, map[string]string{"authorization": "Bearer guess"}, `differs from "Authorization" only in case`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := oanda{}.Sign(fwdInput(Request{Method: c.method, URL: c.url, Headers: c.headers}, oandaAccount, fwdSecret, nil))
			requireRefusal(t, err, "oanda", c.want)
			fwdNoSecret(t, out, err, fwdSecret, "")
		})
	}
}

func TestOandaAgentFaults(t *testing.T) {
	req := Request{Method: "GET", URL: "https://api-fxpractice.oanda.com/v3/accounts"}
	for name, mod := range map[string]func(*Input){
		"no secret":         func(in *Input) { in.Secret = nil },
		"newline in secret": func(in *Input) { in.Secret = []byte("abc\nX-Evil: 1") },
		"no account":        func(in *Input) { in.APIKey = "" },
		"bad account":       func(in *Input) { in.APIKey = "abc" },
	} {
		in := fwdInput(req, oandaAccount, fwdSecret, nil)
		mod(&in)
		_, err := oanda{}.Sign(in)
		require.Error(t, err, name)
		assert.False(t, errors.As(err, new(*RequestError)), name)
	}
}

func TestOandaCheck(t *testing.T) {
	for _, id := range []string{oandaAccount, "001-011-5838423-001", "123-45"} {
		c, err := oanda{}.Check(Key{APIKey: id, Secret: []byte(fwdSecret), Meta: map[string]string{"environment": "practice"}})
		require.NoError(t, err, id)
		assert.Equal(t, Checked{KeyType: KeyToken}, c)
	}
	for name, k := range map[string]struct {
		key  Key
		want string
	}{
		"token as account": {Key{APIKey: "fake0000000000000000000000000000-fake0000000000000000000000000000", Secret: []byte(fwdSecret)}, "give the token as the secret"},
		"letters":          {Key{APIKey: "my-account", Secret: []byte(fwdSecret)}, "account id"},
		"double dash":      {Key{APIKey: "101--004", Secret: []byte(fwdSecret)}, "account id"},
		"bearer prefix":    {Key{APIKey: oandaAccount, Secret: []byte("Bearer " + fwdSecret)}, `starts with "Bearer "`},
		"short token":      {Key{APIKey: oandaAccount, Secret: []byte("abc")}, "16 to 512"},
		"token with nl":    {Key{APIKey: oandaAccount, Secret: []byte(fwdSecret + "\n")}, "control"},
		"environment":      {Key{APIKey: oandaAccount, Secret: []byte(fwdSecret), Meta: map[string]string{"environment": "fxtrade"}}, "environment=live"},
	} {
		_, err := oanda{}.Check(k.key)
		requireRefusal(t, err, "oanda", k.want)
		assert.NotContains(t, err.Error(), fwdSecret, name)
	}
	info := oanda{}.Info()
	assert.True(t, info.ForwardOnly)
	assert.Equal(t, []string{"token"}, info.ClearSecrets)
	assert.Contains(t, info.Meta, "environment")
}

func FuzzOandaSign(f *testing.F) {
	f.Add("GET", "api-fxpractice.oanda.com", "/v3/accounts", "", "", "")
	f.Add("POST", "api-fxpractice.oanda.com", "/v3/accounts/101-004-1234567-001/orders", "", `{"order":{"units":"1"}}`, "Content-Type")
	f.Add("GET", "stream-fxtrade.oanda.com", "/v3/accounts/101-004-1234567-001/pricing/stream", "instruments=EUR_USD", "", "authorization")
	f.Add("GET", "api-fxtrade.oanda.com", "/v3/accounts/101-004-1234567-001/../101-004-9999999-001/summary", "", "", "")
	f.Fuzz(func(t *testing.T, method, host, path, query, body, header string) {
		u := "https://" + host + path
		if query != "" {
			u += "?" + query
		}
		var headers map[string]string
		if header != "" {
			headers = map[string]string{header: "bot-value"}
		}
		out, err := oanda{}.Sign(fwdInput(Request{Method: method, URL: u, Body: body, Headers: headers}, oandaAccount, fwdSecret, nil))
		if err != nil {
			var re *RequestError
			require.True(t, errors.As(err, &re), "non-RequestError %v", err)
			require.NotContains(t, re.Msg, fwdSecret)
			return
		}
		require.Equal(t, u, out.URL)
		require.Equal(t, body, out.Body)
		require.Equal(t, "Bearer "+fwdSecret, out.Headers["Authorization"])
		n := 0
		for k := range out.Headers {
			if strings.EqualFold(k, "Authorization") {
				n++
			}
		}
		require.Equal(t, 1, n)
		// Whatever the path, it names no account but the credential's once
		// a server resolves it.
		base, _, _ := strings.Cut(u, "?")
		pu, err := url.Parse(base)
		require.NoError(t, err)
		segs := strings.Split(strings.ToLower(pu.Path), "/")
		for i := 0; i+1 < len(segs); i++ {
			if segs[i] == "accounts" && i == 2 && segs[1] == "v3" {
				require.Equal(t, oandaAccount, segs[i+1])
			}
			require.NotEqual(t, "..", segs[i])
		}
	})
}
