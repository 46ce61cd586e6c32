package agent

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
	"github.com/keyward/keyward/protocol/agenttest"
)

// fakeBinance answers like Binance: a wrong API key is -2014, a signature
// that does not verify (checked with agenttest.VerifyBinance, not the
// agent's own HMAC) is -1022, and a good request gets a small JSON reply.
func fakeBinance(t *testing.T, apiKey, secret string) *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-MBX-APIKEY") != apiKey {
			http.Error(w, `{"code":-2014,"msg":"API-key format invalid."}`, http.StatusUnauthorized)
			return
		}
		signed := &protocol.HTTPRequest{URL: "https://" + r.Host + r.URL.RequestURI(), Body: string(body)}
		if agenttest.VerifyBinance(secret, signed) != nil {
			http.Error(w, `{"code":-1022,"msg":"Signature for this request is not valid."}`, http.StatusBadRequest)
			return
		}
		q, _ := url.ParseQuery(r.URL.RawQuery + "&" + string(body))
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"symbol":"`+q.Get("symbol")+`","method":"`+r.Method+`"}`)
	}))
}

func TestTransportSignsABotsRequests(t *testing.T) {
	const apiKey, secret = "transport-test-key", "transport-test-secret-not-real"
	srv := fakeBinance(t, apiKey, secret)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)

	a := newTestAgent(t)
	c, err := client.Dial(serve(t, a, ServerConfig{}))
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	_, err = c.Unlock(ctx, protocol.UnlockArgs{Passphrase: protocol.Secret(agenttest.Passphrase)})
	require.NoError(t, err)
	_, err = c.Add(ctx, protocol.AddArgs{Name: "main", Scheme: "binance", APIKey: apiKey, Secret: protocol.Secret(secret),
		Meta: map[string]string{"hosts": u.Hostname()}})
	require.NoError(t, err)

	bot := &http.Client{Transport: &client.Transport{Agent: c, Credential: "main", Base: srv.Client().Transport}}

	resp, err := bot.Get(srv.URL + "/api/v3/openOrders?symbol=BTCUSDT")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	assert.JSONEq(t, `{"ok":true,"symbol":"BTCUSDT","method":"GET"}`, string(b))

	req, _ := http.NewRequest("POST", srv.URL+"/api/v3/order", strings.NewReader("symbol=ETHUSDT&side=BUY&type=MARKET&quantity=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = bot.Do(req)
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	assert.JSONEq(t, `{"ok":true,"symbol":"ETHUSDT","method":"POST"}`, string(b))
	assert.Equal(t, srv.URL+"/api/v3/order", req.URL.String(), "the bot's own request is left as it was")

	// The same key with a wrong secret is refused by the venue: the check
	// above can fail.
	_, err = c.Add(ctx, protocol.AddArgs{Name: "wrong", Scheme: "binance", APIKey: apiKey, Secret: protocol.Secret("another-secret"),
		Meta: map[string]string{"hosts": u.Hostname()}})
	require.NoError(t, err)
	bad := &http.Client{Transport: &client.Transport{Agent: c, Credential: "wrong", Base: srv.Client().Transport}}
	resp, err = bad.Get(srv.URL + "/api/v3/account")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// Locked: the bot gets a typed error, and nothing is sent.
	require.NoError(t, c.Lock(ctx))
	_, err = bot.Get(srv.URL + "/api/v3/account")
	require.Error(t, err)
	assert.True(t, client.IsLocked(err), "%v", err)
}
