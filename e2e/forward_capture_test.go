package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/fakeexchange"
	venue "github.com/keyward/keyward/internal/fakeexchange/verify"
	"github.com/keyward/keyward/protocol"
)

// recorder is a Unix-socket proxy between a bot and the agent that keeps
// every byte either side sends.
type recorder struct {
	path string
	mu   sync.Mutex
	up   bytes.Buffer // bot → agent
	down bytes.Buffer // agent → bot
}

func startRecorder(t *testing.T, agentSock string) *recorder {
	r := &recorder{path: filepath.Join(shortTempDir(t, "kw-rec-"), "rec.sock")}
	ln, err := net.Listen("unix", r.path)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			bot, err := ln.Accept()
			if err != nil {
				return
			}
			agent, err := net.Dial("unix", agentSock)
			if err != nil {
				bot.Close()
				return
			}
			go r.pipe(bot, agent, &r.up)
			go r.pipe(agent, bot, &r.down)
		}
	}()
	return r
}

func (r *recorder) pipe(from, to net.Conn, log *bytes.Buffer) {
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			r.mu.Lock()
			log.Write(buf[:n])
			r.mu.Unlock()
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *recorder) bytes() (up, down []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.up.Bytes()), bytes.Clone(r.down.Bytes())
}

// TestForwardedBotConnectionCarriesNoCredential forwards orders with
// credentials of several kinds (an HMAC signature, a clear passphrase, a
// secret key header, a bearer token) and captures every byte the bot's
// connection carries both ways: none of the secrets, in any encoding, and
// none of the authentication the venue received (signatures, key ids,
// tokens) is in it. A bot in forward mode holds nothing it could replay.
func TestForwardedBotConnectionCarriesNoCredential(t *testing.T) {
	dir := shortTempDir(t, "kw-cap-")
	sock, vaultPath := filepath.Join(dir, "agent.sock"), filepath.Join(dir, "vault")
	initVault(t, vaultPath, "capture-vault-passphrase")
	startAgent(t, sock, vaultPath)
	out, err := cli(t, sock, "capture-vault-passphrase\n", "unlock")
	require.NoError(t, err, out)

	ex, err := fakeexchange.Start(fakeexchange.Config{})
	require.NoError(t, err)
	defer ex.Close()
	via := map[string]string{"connect_to": ex.Addr(), "ca_file": ex.CAFile()}
	meta := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range via {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	creds := []struct {
		name, scheme, apiKey string
		secret, passphrase   string
		req                  protocol.HTTPRequest
	}{
		{"bn", "binance", "capture-binance-api-key-0001", "fake-binance-secret-for-capture-tests", "",
			protocol.HTTPRequest{Method: "POST", URL: "https://api.binance.com/api/v3/order",
				Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
				Body:    "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=30000"}},
		{"okx", "okx", "capture-okx-api-key-0001", "FAKEOKXSECRETFORCAPTURETESTS0001", "fake-okx-passphrase-capture",
			protocol.HTTPRequest{Method: "POST", URL: "https://www.okx.com/api/v5/trade/order",
				Headers: map[string]string{"Content-Type": "application/json"},
				Body:    `{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","sz":"0.01","px":"30000"}`}},
		{"alpaca", "alpaca", "PKCAPTURETEST0000001", "fake-alpaca-secret-for-capture-tests-01", "",
			protocol.HTTPRequest{Method: "POST", URL: "https://paper-api.alpaca.markets/v2/orders",
				Headers: map[string]string{"Content-Type": "application/json"},
				Body:    `{"symbol":"AAPL","qty":"1","side":"buy","type":"market","time_in_force":"day"}`}},
		{"oanda", "oanda", "101-004-7654321-001", "0123456789abcdef0123456789abcdef-fedcba9876543210fedcba9876543210", "",
			protocol.HTTPRequest{Method: "POST", URL: "https://api-fxpractice.oanda.com/v3/accounts/101-004-7654321-001/orders",
				Headers: map[string]string{"Content-Type": "application/json"},
				Body:    `{"order":{"units":"100","instrument":"EUR_USD","type":"MARKET"}}`}},
	}

	// The owner adds the keys on a connection of its own (add carries the
	// secrets, by design); the bot's connection goes through the recorder.
	owner, err := client.Dial(sock)
	require.NoError(t, err)
	defer owner.Close()
	for _, c := range creds {
		ex.AddAccount(c.scheme, venue.Account{APIKey: c.apiKey, Secret: []byte(c.secret), Passphrase: c.passphrase}, fakeexchange.Permissions{Read: true, Trade: true})
		args := protocol.AddArgs{Name: c.name, Scheme: c.scheme, APIKey: c.apiKey, Secret: protocol.Secret(c.secret), Meta: meta(nil)}
		if c.passphrase != "" {
			args.Passphrase = protocol.Secret(c.passphrase)
		}
		_, err := owner.Add(context.Background(), args)
		require.NoError(t, err, c.name)
	}

	rec := startRecorder(t, sock)
	bot, err := client.Dial(rec.path)
	require.NoError(t, err)
	defer bot.Close()
	for _, c := range creds {
		for i := range 3 {
			res, err := bot.Forward(context.Background(), protocol.ForwardArgs{Credential: c.name, HTTPRequest: c.req})
			require.NoError(t, err, "%s #%d", c.name, i)
			require.Less(t, res.Status, 300, "%s: %s", c.name, res.Body)
		}
	}
	// And through client.Transport, as a Go bot would, in auto mode: the
	// alpaca credential is forward-only, so Transport forwards.
	hc := &http.Client{Transport: &client.Transport{Agent: bot, Credential: "alpaca"}}
	resp, err := hc.Post("https://paper-api.alpaca.markets/v2/orders", "application/json",
		strings.NewReader(`{"symbol":"MSFT","qty":"2","side":"buy","type":"market","time_in_force":"day"}`))
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	bot.Close()

	// What the venue received: every request was authenticated.
	var needles []string
	for _, c := range creds {
		needles = append(needles, c.secret)
		if !strings.Contains(c.req.URL, c.apiKey) { // OANDA's account id is in the bot's own URL
			needles = append(needles, c.apiKey)
		}
		if c.passphrase != "" {
			needles = append(needles, c.passphrase)
		}
	}
	authHeaders := map[string]bool{
		"X-Mbx-Apikey": true, "Ok-Access-Key": true, "Ok-Access-Sign": true, "Ok-Access-Passphrase": true,
		"Ok-Access-Timestamp": false, "Apca-Api-Key-Id": true, "Apca-Api-Secret-Key": true, "Authorization": true,
	}
	seen := 0
	for _, s := range ex.Requests() {
		if !strings.HasPrefix(s.Path, "/v2/orders") && !strings.HasSuffix(s.Path, "/order") && !strings.HasSuffix(s.Path, "/orders") {
			continue // the agent's clock probes
		}
		seen++
		assert.True(t, s.Verified, "%s %s: %s", s.Host, s.Path, s.Reason)
		for name, vs := range s.Header {
			if authHeaders[name] {
				needles = append(needles, vs...)
			}
		}
		for _, raw := range []string{s.Query, s.Body} {
			if v, err := url.ParseQuery(raw); err == nil && v.Get("signature") != "" {
				needles = append(needles, v.Get("signature"))
			}
		}
	}
	require.Equal(t, len(creds)*3+1, seen, "every order reached the venue")

	up, down := rec.bytes()
	require.NotEmpty(t, up)
	require.NotEmpty(t, down)
	both := append(append([]byte{}, up...), down...)
	checked := 0
	for _, n := range needles {
		for _, form := range []string{n, hex.EncodeToString([]byte(n)), base64.StdEncoding.EncodeToString([]byte(n)), strings.TrimPrefix(n, "Bearer ")} {
			if len(form) < 12 {
				continue
			}
			checked++
			assert.False(t, bytes.Contains(both, []byte(form)), "the bot's connection carried %q", form)
		}
	}
	t.Logf("captured %d bytes up and %d down; checked %d needle forms from %d values (secrets, passphrases, key ids, signatures, tokens)",
		len(up), len(down), checked, len(needles))
	assert.Contains(t, string(down), `"status":200`, fmt.Sprintf("the capture holds the replies (%d bytes)", len(down)))
}
